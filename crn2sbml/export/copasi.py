"""COPASI ``.cps`` files that open ready to run: a time course on the first sample, one parameter set per
sample, and a parameter-set scan that settles every sample and writes the outputs to a report.

COPASI imports the SBML unchanged (species and reactions keep their SBML names). Two things are repaired in
the file COPASI writes, both checked, never guessed:

* **Precision.** COPASI 4.48 writes each reaction's local rate constant (``<Constant value=…>``) with 6
  significant digits (``37.6505`` for ``37.6504525221766``), and reloading takes those; its model parameter
  set "Initial State" holds the same constants at full double precision (17 significant digits). Every
  ``Constant`` is set to that full-precision value, after checking that the two agree to the 6 digits.
* **Size.** A parameter set COPASI creates from the model holds every rate constant; the per-sample sets are
  cut down to the initial species values (what differs between samples), so a 1,262-reaction model does not
  carry thousands of copies of its rate constants.
"""

from __future__ import annotations

import math
import os
import secrets
import tempfile
from collections.abc import Sequence

import numpy as np
from lxml import etree

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import ExportError
from crn2sbml.export.omex import check_samples, settle_duration

CPS_STEPS = 200
"""Output intervals of the time course."""
REPORT_FILE = "steady_states.tsv"
"""Where COPASI writes the scan's report, relative to the ``.cps`` file."""
_NS = {"c": "http://www.copasi.org/static/schema"}
_SAMPLE_SET = "sample {i}"


def to_cps(compiled: CompiledNetwork, sbml: str, samples: Sequence[Sequence[float]] | np.ndarray | None = None,
           *, steps: int = CPS_STEPS) -> bytes:
    """The ``.cps`` file (bytes) for ``sbml`` (the elementary SBML of ``compiled``) and ``samples``
    (``(n, n_inputs)``, default the all-zero input); see the module docstring for what it holds."""
    from crn2sbml.copasi_session import copasi_locale

    x = check_samples(compiled, samples)
    with copasi_locale():  # COPASI calls (basico's too) may set LC_ALL=C and leave it so
        return repair_cps(_build(compiled, sbml, x, steps))


def _build(compiled: CompiledNetwork, sbml: str, x: np.ndarray, steps: int) -> bytes:
    from crn2sbml.copasi_session import (
        configure_time_course,
        copasi_locale,
        copasi_module,
        import_sbml,
        messages,
        metabolites,
    )

    copasi = copasi_module()
    datamodel = import_sbml(sbml)
    try:
        model = datamodel.getModel()
        metabs = metabolites(model)
        inputs = [metabs[s] for s in compiled.input_species]
        names: list[str] = []
        for i, row in reversed(list(enumerate(x, start=1))):  # sample 1 last: it stays the model's state
            for metab, value in zip(inputs, row, strict=True):
                metab.setInitialConcentration(float(value))
            model.updateInitialValues(copasi.CCore.Framework_Concentration)
            names.insert(0, _SAMPLE_SET.format(i=i))
            parameter_set = copasi.CModelParameterSet(names[0])
            model.getModelParameterSets().addAndOwn(parameter_set)
            parameter_set.createFromModel()
        task = configure_time_course(datamodel, settle_duration(compiled), steps, time_series=True)
        task.setScheduled(True)
        task.setUpdateModel(False)
        copasi.COutputAssistant.createDefaultOutput(0, task, datamodel, True)  # concentration plot
        outputs = [f"[{metabs[s].getObjectName()}]" for s in compiled.output_species]
        _scan_over_samples(datamodel, names, outputs)
        return _save(datamodel, copasi_locale, messages)
    finally:
        copasi.CRootContainer.removeDatamodel(datamodel)


def _scan_over_samples(datamodel, names: list[str], outputs: list[str]) -> None:
    import basico

    # Output "during" the subtask: with "after", COPASI 4.48 ran the scan but wrote no rows. Each sample's
    # block of rows in the report ends with its settled state.
    basico.set_scan_settings(model=datamodel, subtask="Time-Course", output_specification=["during"],
                             scan_items=[{"type": "parameter_set", "parameter_sets": names,
                                          "num_steps": len(names)}])
    header = [basico.wrap_copasi_string(label) for label in ("Time", *outputs)]
    basico.add_report("steady states", task=basico.T.SCAN, header=header, body=["Time", *outputs],
                      model=datamodel)
    basico.assign_report("steady states", task=basico.T.SCAN, filename=REPORT_FILE, append=False,
                         confirm_overwrite=False, model=datamodel)


def _save(datamodel, copasi_locale, messages) -> bytes:
    tmp = os.path.join(tempfile.gettempdir(), f"crn2sbml-{os.getpid()}-{secrets.token_hex(4)}.cps")
    try:
        with copasi_locale():
            saved = datamodel.saveModel(tmp, True)
        if not saved:
            raise ExportError(f"COPASI could not save the model: {messages() or 'unknown error'}")
        with open(tmp, "rb") as handle:
            return handle.read()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def repair_cps(cps: bytes) -> bytes:
    """Full-precision rate constants and trimmed per-sample parameter sets (module docstring)."""
    try:
        root = etree.fromstring(cps, parser=etree.XMLParser(resolve_entities=False, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise ExportError(f"COPASI wrote a .cps that does not parse: {exc}") from exc
    full = _full_precision_constants(root)
    for reaction in root.iterfind(".//c:ListOfReactions/c:Reaction", _NS):
        for constant in reaction.iterfind("c:ListOfConstants/c:Constant", _NS):
            key = (reaction.get("name"), constant.get("name"))
            if key not in full:
                raise ExportError(f"COPASI's parameter set has no full-precision value for {key}")
            rounded, exact = float(constant.get("value")), float(full[key])
            if not math.isclose(rounded, exact, rel_tol=1e-5):
                raise ExportError(f"{key}: COPASI wrote {rounded} but its parameter set says {exact}")
            constant.set("value", repr(exact))
    for report in root.iterfind(".//c:ListOfReports/c:Report", _NS):
        report.set("precision", "17")  # the default of 6 digits would hide the agreement with the network
    for parameter_set in root.iterfind(".//c:ModelParameterSet", _NS):
        if parameter_set.get("name", "").startswith("sample "):
            for group in parameter_set.iterfind("c:ModelParameterGroup", _NS):
                if group.get("cn") == "String=Kinetic Parameters":
                    for child in list(group):
                        group.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _full_precision_constants(root) -> dict[tuple[str, str], str]:
    """``(reaction name, parameter name) -> value`` from the "Initial State" parameter set (17 digits)."""
    values: dict[tuple[str, str], str] = {}
    for parameter_set in root.iterfind(".//c:ModelParameterSet", _NS):
        if parameter_set.get("name") != "Initial State":
            continue
        for parameter in parameter_set.iterfind(".//c:ModelParameter[@type='ReactionParameter']", _NS):
            reaction, name = _reaction_and_parameter(parameter.get("cn", ""))
            values[(reaction, name)] = parameter.get("value")
    if not values:
        raise ExportError("COPASI wrote no 'Initial State' parameter set to take full-precision constants from")
    return values


def _reaction_and_parameter(cn: str) -> tuple[str, str]:
    """``…,Vector=Reactions[NAME],ParameterGroup=Parameters,Parameter=k1`` -> ``(NAME, "k1")``; COPASI escapes
    ``]`` and ``,`` inside names with a backslash."""
    start = cn.index("Vector=Reactions[") + len("Vector=Reactions[")
    name, i = [], start
    while cn[i] != "]":
        if cn[i] == "\\":
            i += 1
        name.append(cn[i])
        i += 1
    return "".join(name), cn.rsplit("Parameter=", 1)[1]
