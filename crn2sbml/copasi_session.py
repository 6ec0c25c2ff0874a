"""COPASI session helpers shared by the COPASI exporter (``export/copasi.py``), backend (``simulate/copasi.py``)
and artefact checks (``validate/artefacts.py``).

They sit below all three layers so that the exporter and the checks need not reach into the simulator's private
names: importing the ``COPASI`` module without damaging the process locale, importing SBML text into a fresh
datamodel, reading COPASI's message queue, looking species up by SBML id and configuring the ``Time-Course``
task. Nothing here settles anything; the stopping rule lives in :mod:`crn2sbml.simulate.base`.
"""

from __future__ import annotations

import contextlib
import locale
from collections.abc import Iterator
from typing import Any

from crn2sbml.errors import ModelFileError, SimulationError
from crn2sbml.validate.inputs import check_sbml_text

RELATIVE_TOLERANCE = 1e-12
"""LSODA relative tolerance (dimensionless)."""

ABSOLUTE_TOLERANCE = 1e-14
"""LSODA absolute tolerance; COPASI scales it per species so it acts on concentrations (mol/L)."""

MAX_INTERNAL_STEPS = 100_000
"""LSODA internal steps allowed per integration chunk."""


@contextlib.contextmanager
def copasi_locale() -> Iterator[None]:
    """Run COPASI calls with ``LC_NUMERIC=C`` and give the caller's locale back afterwards.

    Importing COPASI, ``importSBMLFromString`` and ``loadModel`` call ``setlocale(LC_ALL, "C")`` and leave it
    so: Python's preferred encoding then drops to ASCII for the rest of the process and every ``open()`` /
    ``read_text()`` without an explicit encoding fails on UTF-8 files. ``setlocale`` is process-global, so do
    not run COPASI calls concurrently with locale-dependent work in other threads.
    """
    # Only the two categories that matter are touched, and only when they differ: setlocale frees the previous
    # locale names, which other threads of the process (LLVM, JAX, tqdm) may be reading.
    saved = {category: locale.setlocale(category, None) for category in (locale.LC_CTYPE, locale.LC_NUMERIC)}
    try:
        if saved[locale.LC_NUMERIC] != "C":
            locale.setlocale(locale.LC_NUMERIC, "C")
        yield
    finally:
        for category, value in saved.items():
            if locale.setlocale(category, None) != value:
                locale.setlocale(category, value)


def copasi_module() -> Any:
    """The ``COPASI`` Python module, imported without letting it change the process locale."""
    try:
        with copasi_locale():
            import COPASI
    except ImportError as exc:  # pragma: no cover - python-copasi is a dependency
        raise SimulationError("the copasi backend needs python-copasi (pip install python-copasi)") from exc
    return COPASI


def messages() -> str:
    """COPASI's pending messages (errors and warnings) as one line; clears COPASI's message queue."""
    text = copasi_module().CCopasiMessage.getAllMessageText(True)
    return " ".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith(">"))


def remove_datamodel(datamodel: Any) -> None:
    """Drop ``datamodel`` from COPASI's global root container (every datamodel added there must be removed)."""
    copasi_module().CRootContainer.removeDatamodel(datamodel)


def import_sbml(sbml: str) -> Any:
    """A new COPASI datamodel holding ``sbml``; removed again (and SimulationError raised) if import fails.

    The text must pass :func:`~crn2sbml.validate.inputs.check_sbml_text` first (ModelFileError, which is a
    SimulationError, otherwise): COPASI's SBML reader must never see DTDs, entities or SBML packages that
    load other files. The caller owns the datamodel and removes it with :func:`remove_datamodel`.
    """
    try:
        sbml = check_sbml_text(sbml, where="SBML model")
    except ModelFileError as exc:
        raise type(exc)(f"COPASI could not import the SBML model: {exc}") from exc
    copasi = copasi_module()
    copasi.CCopasiMessage.clearDeque()
    datamodel = copasi.CRootContainer.addDatamodel()
    try:
        with copasi_locale():
            ok = datamodel.importSBMLFromString(sbml)
    except Exception as exc:  # SWIG turns COPASI exceptions into RuntimeError and friends
        remove_datamodel(datamodel)
        raise SimulationError(f"COPASI could not import the SBML model: {exc} {messages()}".strip()) from exc
    if not ok or datamodel.getModel() is None:
        detail = messages()
        remove_datamodel(datamodel)
        raise SimulationError(f"COPASI could not import the SBML model: {detail or 'no model'}")
    copasi.CCopasiMessage.clearDeque()  # unit warnings (default area/length unit) are expected
    return datamodel


def metabolites(model: Any) -> dict[str, Any]:
    """COPASI species (``CMetab``) of an imported model by SBML id."""
    return {m.getSBMLId(): m for m in model.getMetabolites()}


def configure_time_course(datamodel: Any, duration: float, steps: int, time_series: bool) -> Any:
    """The ``Time-Course`` task: deterministic LSODA at tight tolerances, ``steps`` intervals over ``duration`` s."""
    copasi = copasi_module()
    task = datamodel.getTask("Time-Course")
    if task is None:
        raise SimulationError("COPASI datamodel has no Time-Course task")
    if not task.setMethodType(copasi.CTaskEnum.Method_deterministic):
        raise SimulationError("COPASI refused the deterministic (LSODA) method")
    method = task.getMethod()
    for name, value in (("Relative Tolerance", RELATIVE_TOLERANCE), ("Absolute Tolerance", ABSOLUTE_TOLERANCE)):
        parameter = method.getParameter(name)
        if parameter is None or not parameter.setDblValue(value):
            raise SimulationError(f"COPASI LSODA has no settable parameter {name!r}")
    steps_parameter = method.getParameter("Max Internal Steps")
    if steps_parameter is None or not steps_parameter.setIntValue(MAX_INTERNAL_STEPS):
        raise SimulationError("COPASI LSODA has no settable parameter 'Max Internal Steps'")
    problem = task.getProblem()
    problem.setStepNumber(int(steps))
    problem.setDuration(float(duration))
    problem.setTimeSeriesRequested(time_series)
    return task


__all__ = ["ABSOLUTE_TOLERANCE", "MAX_INTERNAL_STEPS", "RELATIVE_TOLERANCE", "configure_time_course",
           "copasi_locale", "copasi_module", "import_sbml", "messages", "metabolites", "remove_datamodel"]
