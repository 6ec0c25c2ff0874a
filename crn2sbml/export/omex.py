"""SED-ML that settles the network on given samples, and a COMBINE/OMEX archive bundling it with the SBML.

The SED-ML (Level 1 Version 4) holds, for every sample ``i``, a model ``sample_i``, a task running one uniform
time course on it, and a report ``steady_states`` with, per sample and output species, the concentration over
the course (its last row is the settled value) beside a column holding the network's expected output.

Each sample's model is its own SBML file in the archive, ``samples/sample_{i}.xml``: ``model.xml`` with the
input species' initial concentrations set to the sample's features (exact doubles, set with libSBML). SED-ML
model changes would express the same thing, but Tellurium applies each change by recompiling the model
(measured: about 1 s per input species for a 1,400-reaction network, 5 minutes for 3 samples of 100 inputs);
separate files cost one load per sample in every executor.

The duration is ``relaxation_times`` slowest relaxation times of the activation (its own rate bound, see
``PolynomialActivation.rate_bound``), so every neuron has settled to well below 1e-8 of its value.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import libsedml
import numpy as np

from crn2sbml import __version__
from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import ExportError, InputError

SBML_LANGUAGE = "urn:sedml:language:sbml.level-3.version-2"
CVODE = "KISAO:0000019"
RELATIVE_TOLERANCE = "KISAO:0000209"
ABSOLUTE_TOLERANCE = "KISAO:0000211"
SETTLE_RELAXATION_TIMES = 40.0
"""Time courses last this many slowest relaxation times: the remaining error is far below 1e-8."""
SETTLE_POINTS = 4
"""Output intervals of each time course: the report needs only the last row, a few more show the approach."""
MAX_ARCHIVE_SAMPLES = 100
"""Samples one archive may carry: each is a separate model load in the SED-ML executor."""

PAPER_DOI = "10.1098/rsif.2021.0031"


def settle_duration(compiled: CompiledNetwork, relaxation_times: float = SETTLE_RELAXATION_TIMES) -> float:
    """Seconds in which every neuron of ``compiled`` settles: ``relaxation_times / (rate bound · c)``."""
    return relaxation_times / (compiled.network.activation.rate_bound() * compiled.time_scale)


def _species_target(species: str) -> str:
    return f"/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='{species}']"


def _check(code: int, what: str) -> None:
    if code != libsedml.LIBSEDML_OPERATION_SUCCESS:
        raise ExportError(f"libSEDML failed to {what} (code {code})")


def check_samples(compiled: CompiledNetwork, samples: Any, where: str = "samples") -> np.ndarray:
    """``samples`` as a ``(n, n_inputs)`` array of finite non-negative concentrations, or an InputError;
    ``None`` is the one all-zero input."""
    if samples is None:
        samples = np.zeros((1, len(compiled.input_species)))
    x = compiled.network.check_inputs(np.atleast_2d(np.asarray(samples, dtype=float)), where=where)
    if len(x) > MAX_ARCHIVE_SAMPLES:
        raise InputError(f"{where}: {len(x)} samples; an archive carries at most {MAX_ARCHIVE_SAMPLES} "
                         "(each is one model load in the executor): pass a subset")
    return x


def sample_file(i: int) -> str:
    """Archive path of sample ``i``'s SBML (1-based)."""
    return f"samples/sample_{i}.xml"


def sample_sbml(sbml: str, input_species: Sequence[str], row: Sequence[float]) -> str:
    """``sbml`` with the input species' initial concentrations set to ``row``."""
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if model is None:
        raise ExportError("the SBML to put samples into has no model")
    for species, value in zip(input_species, row, strict=True):
        target = model.getSpecies(species)
        if target is None or target.setInitialConcentration(float(value)) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise ExportError(f"cannot set the initial concentration of input species {species!r}")
    return libsbml.writeSBMLToString(doc)


def to_sedml(compiled: CompiledNetwork, samples: Sequence[Sequence[float]] | np.ndarray | None = None,
             relaxation_times: float = SETTLE_RELAXATION_TIMES, points: int = SETTLE_POINTS) -> str:
    """SED-ML L1V4 settling ``samples/sample_{i}.xml`` for every row ``i`` of ``samples`` (default: one
    all-zero input); the files are what :func:`to_omex` puts beside it.

    Report ``steady_states``: for sample ``i`` and output species ``y``, columns ``s{i}_{y}`` (the simulated
    concentration) and ``s{i}_{y}_expected`` (the network's forward pass), plus ``time``.
    """
    x = check_samples(compiled, samples)
    expected = compiled.network.forward(x)
    duration = settle_duration(compiled, relaxation_times)
    doc = libsedml.SedDocument(1, 4)
    sim = doc.createUniformTimeCourse()
    _check(sim.setId("settle") | sim.setName(f"settle: {relaxation_times:g} slowest relaxation times"), "set sim")
    _check(sim.setInitialTime(0.0) | sim.setOutputStartTime(0.0) | sim.setOutputEndTime(duration), "set times")
    _check(sim.setNumberOfSteps(int(points)), "set number of steps")
    algorithm = sim.createAlgorithm()
    _check(algorithm.setKisaoID(CVODE), "set algorithm")
    # executors' default tolerances (CVODE rtol 1e-6) leave ~1e-7 of error; these reach the forward pass to 1e-8
    for kisao, value in ((RELATIVE_TOLERANCE, 1e-12), (ABSOLUTE_TOLERANCE, 1e-14)):
        parameter = algorithm.createAlgorithmParameter()
        _check(parameter.setKisaoID(kisao) | parameter.setValue(repr(value)), "set algorithm parameter")
    report = doc.createReport()
    _check(report.setId("steady_states") | report.setName("outputs and expected network outputs"), "set report")
    plot = doc.createPlot2D()
    _check(plot.setId("outputs") | plot.setName("outputs settling to the forward pass"), "set plot")
    for i, (row, want) in enumerate(zip(x, expected, strict=True), start=1):
        _sample_model_and_task(doc, i, row)
        time_dg = _data_generator(doc, f"s{i}_time", f"task_s{i}", None)
        if i == 1:
            _dataset(report, "time", time_dg)
        for species, value in zip(compiled.output_species, want, strict=True):
            dg = _data_generator(doc, f"s{i}_{species}", f"task_s{i}", _species_target(species))
            _dataset(report, f"s{i}_{species}", dg)
            _dataset(report, f"s{i}_{species}_expected",
                     _data_generator(doc, f"s{i}_{species}_expected", f"task_s{i}", _species_target(species),
                                     constant=float(value)))
            curve = plot.createCurve()
            _check(curve.setId(f"curve_s{i}_{species}") | curve.setXDataReference(time_dg)
                   | curve.setYDataReference(dg), "set curve")
    text = libsedml.writeSedMLToString(doc)
    if not text:
        raise ExportError("libSEDML could not serialise the document")
    return text


def _sample_model_and_task(doc, i: int, row: np.ndarray) -> None:
    model = doc.createModel()
    _check(model.setId(f"sample_{i}") | model.setSource(sample_file(i)) | model.setLanguage(SBML_LANGUAGE),
           "set model")
    _check(model.setName(f"sample {i}: " + " ".join(f"{v:.6g}" for v in row[:8]) + (" …" if len(row) > 8 else "")),
           "set model name")
    task = doc.createTask()
    _check(task.setId(f"task_s{i}") | task.setModelReference(f"sample_{i}") | task.setSimulationReference("settle"),
           "set task")


def _data_generator(doc, name: str, task: str, target: str | None, constant: float | None = None) -> str:
    """A data generator ``dg_{name}``; with ``constant`` its math is ``0·v + constant`` (a column of that value
    as long as the time course, which every executor evaluates)."""
    dg = doc.createDataGenerator()
    _check(dg.setId(f"dg_{name}"), "set data generator id")
    var = dg.createVariable()
    _check(var.setId(f"v_{name}") | var.setTaskReference(task), "set variable")
    _check(var.setSymbol("urn:sedml:symbol:time") if target is None else var.setTarget(target), "set target")
    formula = f"v_{name}" if constant is None else f"0 * v_{name} + {constant!r}"
    math = libsedml.parseL3Formula(formula)
    if math is None:
        raise ExportError(f"libSEDML could not parse {formula!r}")
    _check(dg.setMath(math), "set data generator math")
    return f"dg_{name}"


def _dataset(report, label: str, data_generator: str) -> None:
    ds = report.createDataSet()
    _check(ds.setId(f"ds_{label}") | ds.setLabel(label) | ds.setDataReference(data_generator), "set data set")


def check_sedml(text: str) -> None:
    """Raise ExportError unless libSEDML reads ``text`` with zero errors."""
    doc = libsedml.readSedMLFromString(text)
    errors = [doc.getError(i).getMessage().strip() for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsedml.LIBSEDML_SEV_ERROR]
    if errors:
        raise ExportError(f"libSEDML reports {len(errors)} error(s) in the SED-ML: {errors[0]}")


def to_omex(compiled: CompiledNetwork, sbml: str, samples: Sequence[Sequence[float]] | np.ndarray | None = None,
            *, description: str = "", creator: str = "crn2sbml", created: dt.datetime | None = None) -> bytes:
    """A COMBINE archive: ``model.xml`` (the given SBML), ``samples/sample_{i}.xml`` (it with sample ``i``'s
    inputs), ``simulation.sedml`` (master, see :func:`to_sedml`), ``expected.csv`` (samples and the network's
    outputs) and OMEX metadata (creator, description, creation date, the weights hash, the paper's DOI)."""
    import libcombine

    x = check_samples(compiled, samples)
    sedml = to_sedml(compiled, x)
    check_sedml(sedml)
    created = created or dt.datetime.now(dt.UTC)
    net = compiled.network
    about = description or (f"crn2sbml {__version__}: feed-forward network {net.shape_text()} "
                            f"({net.activation.name}, eps {net.eps:g}) compiled to a mass-action reaction network; "
                            f"the SED-ML settles it on {len(x)} sample(s) and reports the outputs beside the "
                            f"network's. Weights SHA-256 {compiled.weights_hash}.")
    files = {"model.xml": (sbml, "http://identifiers.org/combine.specifications/sbml", False),
             "simulation.sedml": (sedml, "http://identifiers.org/combine.specifications/sed-ml",
                                  True),
             "expected.csv": (_expected_csv(compiled, x), "http://purl.org/NET/mediatypes/text/csv", False)}
    for i, row in enumerate(x, start=1):
        files[sample_file(i)] = (sample_sbml(sbml, compiled.input_species, row),
                                 "http://identifiers.org/combine.specifications/sbml", False)
    with tempfile.TemporaryDirectory() as tmp:
        archive = libcombine.CombineArchive()
        for name, (content, fmt, master) in files.items():
            path = os.path.join(tmp, name.replace("/", "_"))
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content)
            if not archive.addFile(path, f"./{name}", fmt, master):
                raise ExportError(f"libCombine could not add {name} to the archive")
        archive.addMetadata(".", _metadata(about, creator, created, compiled.weights_hash))
        out = os.path.join(tmp, "model.omex")
        if not archive.writeToFile(out):
            raise ExportError("libCombine could not write the archive")
        archive.cleanUp()
        with open(out, "rb") as handle:
            return handle.read()


def _metadata(description: str, creator: str, created: dt.datetime, weights_hash: str):
    import libcombine

    meta = libcombine.OmexDescription()
    meta.setAbout(".")
    meta.setDescription(f"{description} Construction: Anderson, Joshi and Deshpande, J. R. Soc. Interface "
                        f"(2021), doi:{PAPER_DOI}. Weights SHA-256: {weights_hash}")
    vcard = libcombine.VCard()
    vcard.setFamilyName(creator)  # libCombine drops a creator that has no name
    vcard.setOrganization("crn2sbml")
    meta.addCreator(vcard)
    stamp = libcombine.Date()
    stamp.setDateAsString(created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    meta.setCreated(stamp)
    return meta


def _expected_csv(compiled: CompiledNetwork, x: np.ndarray) -> str:
    buffer = io.StringIO()
    header = ["sample", *compiled.input_species, *(f"{s}_expected" for s in compiled.output_species)]
    buffer.write(",".join(header) + "\n")
    for i, (row, out) in enumerate(zip(x, compiled.network.forward(x), strict=True), start=1):
        buffer.write(",".join([str(i), *(repr(float(v)) for v in row), *(repr(float(v)) for v in out)]) + "\n")
    return buffer.getvalue()
