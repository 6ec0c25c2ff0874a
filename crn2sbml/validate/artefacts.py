"""Each exported artefact loaded and settled by the tool that consumes it, for comparison with the forward pass.

| artefact     | consumer                                                      | function                   |
|--------------|---------------------------------------------------------------|----------------------------|
| ``model.xml``  | libRoadRunner; COPASI (SBML import)                         | :func:`settle_sbml`        |
| ``model.ant``  | libantimony (Antimony -> SBML), then libRoadRunner          | :func:`settle_antimony`    |
| ``model.cps``  | COPASI loads the file and runs its own scan over the samples | :func:`run_cps_scan`       |
| ``model.omex`` | COPASI opens the archive and runs the imported time course  | :func:`run_omex_in_copasi` |
| ``model.omex`` | Tellurium's COMBINE executor, in a child process             | :func:`run_omex_in_tellurium` |
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import SimulationError


def settle_sbml(compiled: CompiledNetwork, sbml: str, x: np.ndarray, consumer: str = "roadrunner") -> np.ndarray:
    """Output concentrations ``(n, n_outputs)`` of SBML text settled on inputs ``x`` in ``consumer``
    (``roadrunner`` or ``copasi``), with the stopping rule of :mod:`crn2sbml.simulate.base`."""
    if consumer == "roadrunner":
        from crn2sbml.simulate import roadrunner_simulator

        return roadrunner_simulator(compiled, encoding="elementary", sbml=sbml).settle(x).require_converged().outputs
    if consumer == "copasi":
        from crn2sbml.simulate.copasi import CopasiSimulator

        with CopasiSimulator.from_compiled(compiled, sbml=sbml) as sim:
            return sim.settle(x).require_converged().outputs
    raise SimulationError(f"unknown SBML consumer {consumer!r}; choose roadrunner or copasi")


def antimony_to_sbml(text: str) -> str:
    """libantimony's SBML for Antimony ``text`` (libantimony keeps global state: cleared before each load)."""
    import antimony

    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise SimulationError(f"libantimony could not read the model: {antimony.getLastError().strip()}")
    sbml = antimony.getSBMLString(antimony.getMainModuleName())
    if not sbml:
        raise SimulationError(f"libantimony produced no SBML: {antimony.getLastError().strip()}")
    return sbml


def settle_antimony(compiled: CompiledNetwork, text: str, x: np.ndarray) -> np.ndarray:
    """``model.ant`` read by libantimony and settled in libRoadRunner: outputs ``(n, n_outputs)``."""
    return settle_sbml(compiled, antimony_to_sbml(text), x, "roadrunner")


def run_cps_scan(cps: bytes, n_outputs: int) -> np.ndarray:
    """Load a ``.cps`` written by :func:`crn2sbml.export.copasi.to_cps` in COPASI, run its scan over the
    per-sample parameter sets and return the last report row of each sample: ``(n_samples, n_outputs)``."""
    from crn2sbml.export.copasi import REPORT_FILE

    with _in_copasi(cps, "model.cps", _load_cps) as (datamodel, folder):
        _run_task(datamodel, "Scan").restore()  # restore() closes the report file
        return _last_rows((folder / REPORT_FILE).read_text(encoding="utf-8"), n_outputs)


def run_omex_in_copasi(omex: bytes, output_names: list[str]) -> np.ndarray:
    """Open a COMBINE archive in COPASI and run the time course it imports (COPASI 4.48 imports the first
    model and task of the SED-ML: sample 1). Returns the outputs at the end, ``(n_outputs,)``, in the order of
    ``output_names`` (the SBML names of the output species)."""
    with _in_copasi(omex, "model.omex", _open_omex) as (datamodel, _):
        _run_task(datamodel, "Time-Course")
        by_name = {m.getObjectName(): m.getConcentration() for m in datamodel.getModel().getMetabolites()}
    missing = [n for n in output_names if n not in by_name]
    if missing:
        raise SimulationError(f"COPASI's model has no species named {missing[:3]}")
    return np.array([by_name[n] for n in output_names])


@contextlib.contextmanager
def _in_copasi(data: bytes, name: str, opener: Callable[[Any, str], bool]) -> Iterator[tuple[Any, Path]]:
    """A COPASI datamodel holding ``data`` (written to ``name`` in a scratch folder and opened with
    ``opener(datamodel, path)``), removed afterwards; the process locale is restored, as COPASI sets LC_ALL=C."""
    from crn2sbml.copasi_session import copasi_locale, copasi_module, messages

    copasi = copasi_module()
    with copasi_locale(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        datamodel = copasi.CRootContainer.addDatamodel()
        try:
            if not opener(datamodel, str(path)):
                raise SimulationError(f"COPASI could not open {name}: {messages()}")
            yield datamodel, Path(tmp)
        finally:
            copasi.CRootContainer.removeDatamodel(datamodel)


def _load_cps(datamodel: Any, path: str) -> bool:
    return bool(datamodel.loadModel(path))


def _open_omex(datamodel: Any, path: str) -> bool:
    return bool(datamodel.openCombineArchive(path, None, True))


def _run_task(datamodel: Any, name: str) -> Any:
    from crn2sbml.copasi_session import copasi_module, messages

    task = datamodel.getTask(name)
    if not (task.initializeRaw(copasi_module().CCopasiTask.OUTPUT_UI) and task.processRaw(True)):
        raise SimulationError(f"COPASI's {name} task failed: {task.getProcessError() or messages()}")
    return task


def _last_rows(report: str, n_outputs: int) -> np.ndarray:
    """The last numeric row of each block of a COPASI scan report (blocks are separated by blank lines)."""
    blocks, current = [], []
    for line in report.splitlines()[1:]:  # the first line is the header
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    rows = [[float(v) for v in block[-1].split("\t") if v.strip()] for block in blocks]
    if not rows or any(len(row) != n_outputs + 1 for row in rows):
        raise SimulationError(f"unexpected COPASI report layout ({len(rows)} blocks)")
    return np.array(rows)[:, 1:]


_TELLURIUM_SCRIPT = """
import json, sys
import roadrunner
import tellurium as te
args = json.loads(sys.stdin.read())
# LLJIT compiles each sample's model several times faster than the default MCJIT; the results are the same
roadrunner.Config.setValue(roadrunner.Config.LLVM_BACKEND, roadrunner.Config.LLJIT)
results = te.executeCombineArchive(args["path"], printPython=False, saveOutputs=False)
dg = next(iter(results.values()))["dataGenerators"]
out = {kind: [[float(dg[f"dg_s{i}_{s}{suffix}"][-1, 0]) for s in args["outputs"]] for i in range(1, args["n"] + 1)]
       for kind, suffix in (("simulated", ""), ("expected", "_expected"))}
print("@@RESULT@@" + json.dumps(out))
"""


def run_omex_in_tellurium(omex: bytes, output_species: list[str], n_samples: int,
                          timeout: float = 600) -> tuple[np.ndarray, np.ndarray]:
    """Execute a COMBINE archive with Tellurium's executor in a child process (importing Tellurium changes
    libRoadRunner's global state); return the settled outputs and the reported expected outputs, both
    ``(n_samples, n_outputs)``."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.omex"
        path.write_bytes(omex)
        proc = subprocess.run([sys.executable, "-c", _TELLURIUM_SCRIPT], capture_output=True, text=True,
                              input=json.dumps({"path": str(path), "outputs": output_species, "n": n_samples}),
                              timeout=timeout, check=False)
    if proc.returncode != 0 or "@@RESULT@@" not in proc.stdout:
        raise SimulationError(f"Tellurium could not execute the archive: {proc.stderr.strip()[-500:]}")
    result = json.loads(proc.stdout.rsplit("@@RESULT@@", 1)[1])
    return np.array(result["simulated"]), np.array(result["expected"])
