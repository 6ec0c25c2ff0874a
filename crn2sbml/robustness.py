"""``crn2sbml robustness``: the ensemble grid for one model folder, written atomically to an output folder.

``engine`` is a name of :data:`crn2sbml.stochastic.engines.ENGINES` or ``auto`` (exact SSA where one run is
affordable, the chemical Langevin equation beyond); ``summary.json`` records which engine ran each setting and,
for ``auto``, why."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from crn2sbml.errors import InputError
from crn2sbml.io import commit_folder
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.stochastic.engines import check_engine_name
from crn2sbml.stochastic.ensemble import local_client, result_table, run_ensemble, summarise
from crn2sbml.stochastic.readout import settings_grid
from crn2sbml.validate.robustness_plots import ensemble_figure


def parse_list(text: str, what: str) -> list[float]:
    """``"10,100,1000"`` -> ``[10.0, 100.0, 1000.0]``; InputError naming ``what`` otherwise."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise InputError(f"{what}: no values in {text!r}")
    return values


def samples_for(folder: Path, compiled, n_samples: int, inputs: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``n_samples`` rows of ``inputs`` (CSV/.npy), or of the zoo dataset's test split when the folder
    is a zoo model (labels too), else an InputError asking for --inputs."""
    from crn2sbml.io import load_samples

    if inputs is not None:
        x = compiled.network.check_inputs(load_samples(inputs, names=compiled.input_species), where=str(inputs))
        return x[:n_samples], None
    from crn2sbml.zoo import ZOO, dataset_for

    name = folder.resolve().name
    if name not in ZOO:
        raise InputError(f"{folder} is not a zoo model: pass --inputs FILE with the samples to run")
    data = dataset_for(ZOO[name])
    if compiled.network.n_inputs != data.x_test.shape[1]:
        raise InputError(f"{folder}: the network takes {compiled.network.n_inputs} inputs, the {name} dataset has "
                         f"{data.x_test.shape[1]}: pass --inputs")
    return data.x_test[:n_samples], data.y_test[:n_samples]


def run_robustness(model: Path, out: Path, volumes: list[float], rate_cvs: list[float], *, replicates: int = 1,
                   samples: int = 10, seed: int = 0, workers: int = 2, scheduler: str | None = None,
                   inputs: Path | None = None, progress: bool = True, in_process: bool = False,
                   engine: str = "auto") -> dict:
    """Run the grid and write ``summary.json``, ``tasks.csv`` and ``robustness.png`` into ``out``."""
    from tqdm import tqdm

    if isinstance(samples, bool) or samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    opened = open_model_folder(model)
    compiled = opened.compiled
    x, labels = samples_for(Path(model), compiled, samples, inputs)
    settings = settings_grid(volumes, rate_cvs)
    check_engine_name(engine)  # before the cluster starts
    n_tasks = len(x) * len(settings) * replicates
    started = time.perf_counter()
    with tqdm(total=n_tasks, desc="robustness", unit="task", disable=not progress) as bar:
        if in_process:
            result = run_ensemble(compiled, x, settings, replicates=replicates, base_seed=seed, labels=labels,
                                  progress=bar.update, engine=engine)
        else:
            with local_client(workers, scheduler) as client:
                result = run_ensemble(compiled, x, settings, replicates=replicates, base_seed=seed, labels=labels,
                                      client=client, progress=bar.update, engine=engine)
    seconds = time.perf_counter() - started
    rows = summarise(result)
    summary = {
        "model": str(model), "shape": compiled.network.shape_text(), "n_samples": len(x), "replicates": replicates,
        "base_seed": seed, "n_tasks": n_tasks, "seconds": seconds, "engine": engine,
        "engine_reasons": result.meta.get("engine_reasons", {}),
        "cluster": scheduler or ("in-process" if in_process else f"LocalCluster({workers} processes x 1 thread)"),
        "machine": platform.platform(),
        "readout": {"burn_in": result.readout.burn_in, "window": result.readout.window, "step": result.readout.step},
        "deterministic_accuracy": (None if labels is None
                                   else float(np.mean(result.reference.argmax(-1) == labels))),
        "settings": rows,
    }
    header, table = result_table(result)
    # every name in the header is ours and every cell a number: no quoting or formula neutralising needed
    csv_text = ",".join(header) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in table)
    commit_folder(out, {"summary.json": json.dumps(summary, indent=2) + "\n", "tasks.csv": csv_text,
                        "robustness.png": ensemble_figure(Path(model).name, rows)})
    return summary
