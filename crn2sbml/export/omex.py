"""SED-ML (a ready time course with the inputs set) and a COMBINE/OMEX archive bundling it with the SBML.

Tellurium, COPASI and other SED-ML tools can run the archive as it is: one uniform time course long enough to
settle (``relaxation_times`` times ``1 / (2 sqrt(eps) c)``), with the input species set by model changes and
one curve per output species.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import libsedml

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import ExportError, InputError

SBML_LANGUAGE = "urn:sedml:language:sbml.level-3.version-2"
CVODE = "KISAO:0000019"


def _species_target(species: str, attribute: str | None = None) -> str:
    path = f"/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='{species}']"
    return f"{path}/@{attribute}" if attribute else path


def _check(code: int, what: str) -> None:
    if code != libsedml.LIBSEDML_OPERATION_SUCCESS:
        raise ExportError(f"libSEDML failed to {what} (code {code})")


def to_sedml(compiled: CompiledNetwork, inputs: Sequence[float] | None = None, relaxation_times: float = 40.0,
             points: int = 400, model_file: str = "model.xml") -> str:
    """SED-ML L1V4: a uniform time course of ``model_file`` with the inputs set to ``inputs`` (feature order)."""
    if inputs is not None:
        if len(inputs) != len(compiled.input_species):
            raise InputError(f"expected {len(compiled.input_species)} input values, got {len(inputs)}")
        if any(not (v >= 0 and v < float("inf")) for v in inputs):
            raise InputError("input concentrations must be finite and >= 0")
    duration = relaxation_times / (compiled.network.activation.rate_bound() * compiled.time_scale)
    doc = libsedml.SedDocument(1, 4)
    model = doc.createModel()
    _check(model.setId("model"), "set model id")
    _check(model.setSource(model_file), "set model source")
    _check(model.setLanguage(SBML_LANGUAGE), "set model language")
    for species, value in zip(compiled.input_species, inputs or (), strict=False):
        change = model.createChangeAttribute()
        _check(change.setTarget(_species_target(species, "initialConcentration")), "set change target")
        _check(change.setNewValue(repr(float(value))), "set change value")
    sim = doc.createUniformTimeCourse()
    _check(sim.setId("settle"), "set simulation id")
    _check(sim.setInitialTime(0.0) | sim.setOutputStartTime(0.0) | sim.setOutputEndTime(duration), "set times")
    _check(sim.setNumberOfSteps(points), "set number of steps")
    algorithm = sim.createAlgorithm()
    _check(algorithm.setKisaoID(CVODE), "set algorithm")
    task = doc.createTask()
    _check(task.setId("task") | task.setModelReference("model") | task.setSimulationReference("settle"), "set task")
    _data_generator(doc, "time", None)
    plot = doc.createPlot2D()
    _check(plot.setId("outputs"), "set plot id")
    _check(plot.setName("outputs settling to the forward pass"), "set plot name")
    for species in compiled.output_species:
        _data_generator(doc, species, _species_target(species))
        curve = plot.createCurve()
        _check(curve.setId(f"curve_{species}") | curve.setXDataReference("dg_time")
               | curve.setYDataReference(f"dg_{species}"), "set curve")
    text = libsedml.writeSedMLToString(doc)
    if not text:
        raise ExportError("libSEDML could not serialise the document")
    return text


def _data_generator(doc, name: str, target: str | None) -> None:
    dg = doc.createDataGenerator()
    _check(dg.setId(f"dg_{name}"), "set data generator id")
    var = dg.createVariable()
    _check(var.setId(f"v_{name}") | var.setTaskReference("task"), "set variable")
    if target is None:
        _check(var.setSymbol("urn:sedml:symbol:time"), "set time symbol")
    else:
        _check(var.setTarget(target), "set variable target")
    _check(dg.setMath(libsedml.parseL3Formula(f"v_{name}")), "set data generator math")


def to_omex(compiled: CompiledNetwork, sbml: str, inputs: Sequence[float] | None = None) -> bytes:
    """A COMBINE archive holding ``model.xml`` (the given SBML) and ``simulation.sedml`` (the master file)."""
    import libcombine

    sedml = to_sedml(compiled, inputs)
    with tempfile.TemporaryDirectory() as tmp:
        archive = libcombine.CombineArchive()
        for name, content, fmt, master in (
            ("model.xml", sbml, "http://identifiers.org/combine.specifications/sbml", False),
            ("simulation.sedml", sedml, "http://identifiers.org/combine.specifications/sed-ml",
             True),
        ):
            path = os.path.join(tmp, name)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content)
            if not archive.addFile(path, f"./{name}", fmt, master):
                raise ExportError(f"libCombine could not add {name} to the archive")
        out = os.path.join(tmp, "model.omex")
        if not archive.writeToFile(out):
            raise ExportError("libCombine could not write the archive")
        archive.cleanUp()
        with open(out, "rb") as handle:
            return handle.read()
