"""Ensembles of stochastic / perturbed implementations: the samples × settings × replicates grid on Dask.

:func:`run_ensemble` runs every task of the grid with a stochastic engine (:mod:`crn2sbml.stochastic.engines`;
``auto`` picks per Ω). Tasks of a one-at-a-time engine (the exact SSAs, :func:`crn2sbml.stochastic.readout.run_task`)
run either in this process (``client=None``) or on a dask.distributed cluster: a
:class:`~distributed.LocalCluster` of processes with one thread each (:func:`local_client`) or an existing
scheduler (``tcp://host:port``). The settings of a batched engine (the CLE) run here, all samples × replicates
of a setting in one call (:func:`~crn2sbml.stochastic.readout.run_tasks_batched`), while the cluster works on
the rest. Each task's randomness comes from its own SeedSequence, so the result is bit-for-bit the same whatever
the number of workers, the order tasks finish in or the batch they ran in (tests compare a 2-worker cluster with
a single-process run, and a CLE batch with its tasks run one by one).
:func:`summarise` turns the readouts into accuracy and output error per setting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError, SimulationError
from crn2sbml.stochastic.engines import AUTO, check_engine_name, choose_engine, get_engine
from crn2sbml.stochastic.readout import Readout, Setting, run_task, run_tasks_batched

Progress = Callable[[int], object]


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """``outputs[i, s, r]``: readout of sample ``i`` under ``settings[s]``, replicate ``r``; ``reference``: the
    deterministic network's outputs ``(n_samples, n_outputs)``; ``labels``: true classes (or ``None``)."""

    outputs: np.ndarray
    settings: tuple[Setting, ...]
    reference: np.ndarray
    labels: np.ndarray | None
    base_seed: int
    readout: Readout
    engines: tuple[str | None, ...] = ()
    meta: dict = field(default_factory=dict)


def _check_grid(x: np.ndarray, settings: list[Setting], replicates: int) -> None:
    if not settings:
        raise InputError("no settings to run")
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 1:
        raise InputError(f"replicates must be an integer >= 1, got {replicates!r}")
    if x.shape[0] < 1:
        raise InputError("no samples to run")


def resolve_engines(compiled: CompiledNetwork, x: np.ndarray, settings: list[Setting], readout: Readout,
                    engine: str) -> tuple[list[str | None], dict[str, str]]:
    """The engine of every setting (``None`` for Ω = ∞) and, for ``auto``, the reason per Ω."""
    check_engine_name(engine)
    names: list[str | None] = []
    reasons: dict[str, str] = {}
    for setting in settings:
        if setting.omega is None:
            names.append(None)
        elif engine == AUTO:
            choice = choose_engine(compiled, x, setting.omega, readout)
            reasons[f"{setting.omega:g}"] = choice.reason
            names.append(choice.name)
        else:
            names.append(engine)
    return names, reasons


def run_ensemble(compiled: CompiledNetwork, x: np.ndarray, settings: list[Setting], *, replicates: int = 1,
                 base_seed: int = 0, labels: np.ndarray | None = None, client: object | None = None,
                 readout: Readout | None = None, progress: Progress | None = None,
                 engine: str = "rebop") -> EnsembleResult:
    """Every (sample, setting, replicate) task with ``engine`` (a name of
    :data:`~crn2sbml.stochastic.engines.ENGINES`, or ``auto``); one-at-a-time tasks on ``client`` (a
    ``distributed.Client``) or in this process, batched settings in this process.

    ``progress(k)`` is called as tasks complete (in completion order on a cluster; per setting when batched).
    """
    x = compiled.network.check_inputs(x)
    _check_grid(x, settings, replicates)
    readout = readout or Readout.for_compiled(compiled)
    names, reasons = resolve_engines(compiled, x, settings, readout, engine)
    batched = [s for s, name in enumerate(names) if name is not None and get_engine(name).batched]
    n_out = compiled.network.n_outputs
    reps = int(replicates)
    outputs = np.full((x.shape[0], len(settings), reps, n_out), np.nan)
    grid = [(i, s, r) for i in range(x.shape[0]) for s in range(len(settings)) for r in range(reps)
            if s not in batched]

    def run_batched() -> None:
        for s in batched:
            outputs[:, s] = run_tasks_batched(compiled, x, settings[s], base_seed, s, reps, readout,
                                              names[s] or "cle")
            if progress is not None:
                progress(x.shape[0] * reps)

    if client is None:
        run_batched()
        for i, s, r in grid:
            outputs[i, s, r] = run_task(compiled, x[i], settings[s], base_seed, i, s, r, readout,
                                        names[s] or "rebop")
            if progress is not None:
                progress(1)
    else:
        from distributed import as_completed

        # one copy of the network per worker, not one per task; hash=False gives this call its own key, so a
        # later call scattering the same network cannot have its copy released when this call's reference goes
        shared = client.scatter(compiled, broadcast=True, hash=False)  # type: ignore[attr-defined]
        futures = {}
        for i, s, r in grid:
            future = client.submit(run_task, shared, x[i], settings[s], base_seed, i, s, r, readout,  # type: ignore[attr-defined]
                                   names[s] or "rebop", pure=False)
            futures[future] = (i, s, r)
        try:
            run_batched()  # here, while the cluster works on the tasks
            for future in as_completed(futures):
                i, s, r = futures[future]
                try:
                    outputs[i, s, r] = future.result()
                except Exception as exc:
                    raise SimulationError(f"ensemble task (sample {i}, {settings[s].label}, replicate {r}) "
                                          f"failed: {exc}") from exc
                if progress is not None:
                    progress(1)
        finally:
            client.cancel(list(futures))  # type: ignore[attr-defined]
    reference = compiled.network.forward(x)
    return EnsembleResult(outputs, tuple(settings), reference, None if labels is None else np.asarray(labels),
                          int(base_seed), readout, tuple(names), {"engine_reasons": reasons})


@contextlib.contextmanager
def local_client(workers: int = 2, scheduler: str | None = None) -> Iterator[object]:
    """A ``distributed.Client``: on ``scheduler`` (``tcp://host:port``) if given, else on a fresh LocalCluster of
    ``workers`` processes with one thread each (SSA runs hold the GIL in Rust; processes, not threads)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")
    # dashboard on a free port (":0"): the default 8787 clashes with any other cluster on the machine
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def summarise(result: EnsembleResult) -> list[dict]:
    """Per setting: accuracy (if labels), agreement with the deterministic network's class, and output error
    (mean and max of ``|readout − network output|`` over outputs, samples and replicates)."""
    rows = []
    reference_class = result.reference.argmax(-1)
    for s, setting in enumerate(result.settings):
        out = result.outputs[:, s]  # (n_samples, n_replicates, n_out)
        predicted = out.argmax(-1)
        error = np.abs(out - result.reference[:, None, :])
        row = {"omega": setting.omega, "rate_cv": setting.rate_cv, "label": setting.label,
               "engine": result.engines[s] if result.engines else None,
               "agreement": float(np.mean(predicted == reference_class[:, None])),
               "mean_abs_error": float(error.mean()), "max_abs_error": float(error.max()),
               "n_samples": int(out.shape[0]), "replicates": int(out.shape[1])}
        if result.labels is not None:
            row["accuracy"] = float(np.mean(predicted == result.labels[:, None]))
        rows.append(row)
    return rows


def result_table(result: EnsembleResult) -> tuple[list[str], np.ndarray]:
    """One row per task for a CSV: sample, setting index, Ω (inf for the limit), cv, replicate, outputs,
    reference outputs, label (−1 if none)."""
    n_out = result.reference.shape[1]
    header = ["sample", "setting", "omega", "rate_cv", "replicate", *(f"out{j + 1}" for j in range(n_out)),
              *(f"reference{j + 1}" for j in range(n_out)), "label"]
    rows = []
    n_samples, n_settings, n_reps, _ = result.outputs.shape
    for i in range(n_samples):
        for s in range(n_settings):
            setting = result.settings[s]
            for r in range(n_reps):
                rows.append([i, s, np.inf if setting.omega is None else setting.omega, setting.rate_cv, r,
                             *result.outputs[i, s, r], *result.reference[i],
                             -1 if result.labels is None else result.labels[i]])
    return header, np.asarray(rows, dtype=float)
