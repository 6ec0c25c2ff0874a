"""Stochastic readout throughput: exact SSA tasks on a Dask LocalCluster of 1 and 2 worker processes (with a
projection to N workers), and the chemical Langevin equation batched in one process (CPU, or GPU when JAX sees
one).

    .venv/bin/python benchmarks/ensemble.py [--tasks-per-worker 12] [--omega 30] [--cle-batch 512]
    .venv/bin/python benchmarks/ensemble.py --cle-only --cle-batch 65536 --out ensemble-gpu.json   # on a GPU

The task is one readout of the iris zoo model (burn-in and window of crn2sbml.stochastic.readout.Readout) at Ω
molecules per unit concentration. SSA: rebop; cluster start-up is timed separately and left out of the
throughput; projection: N workers × the 1-worker rate × the measured 2-worker parallel efficiency (optimistic
for N beyond one machine: it ignores scheduler overhead, ~1 ms per task, negligible against tasks of
~0.1–10 s). CLE: ``--cle-batch`` readouts (the test samples repeated, distinct seeds) in one call, twice: the
first call includes XLA's compilation, the second is the throughput. The CLE's cost does not depend on Ω; the
SSA's grows in proportion to it. Results go to benchmarks/ensemble.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from crn2sbml.io import write_json
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.stochastic.cle import ChemicalLangevin
from crn2sbml.stochastic.ensemble import local_client, run_ensemble
from crn2sbml.stochastic.readout import Readout, Setting
from crn2sbml.zoo import MODELS, ZOO, dataset_for


def ssa_throughput(compiled, x: np.ndarray, omega: float, tasks_per_worker: int) -> dict:
    rows = []
    for workers in (1, 2):
        n = tasks_per_worker * workers
        samples = x[np.arange(n) % len(x)]
        started = time.perf_counter()
        with local_client(workers) as client:
            startup = time.perf_counter() - started
            t0 = time.perf_counter()
            run_ensemble(compiled, samples, [Setting(omega, 0.0)], base_seed=0, client=client, engine="rebop")
            seconds = time.perf_counter() - t0
        rows.append({"workers": workers, "tasks": n, "seconds": seconds, "tasks_per_s": n / seconds,
                     "startup_s": startup})
        print(f"SSA, {workers} worker(s): {n} tasks in {seconds:.2f} s = {n / seconds:.2f} tasks/s "
              f"(cluster start {startup:.1f} s)", flush=True)
    efficiency = rows[1]["tasks_per_s"] / (2 * rows[0]["tasks_per_s"])
    projection = {str(n): n * rows[0]["tasks_per_s"] * min(1.0, efficiency) for n in (8, 32, 128)}
    print(f"SSA 2-worker efficiency {efficiency:.2f}; projected tasks/s: {projection}")
    return {"runs": rows, "efficiency_2_workers": efficiency, "projected_tasks_per_s": projection}


def cle_throughput(compiled, x: np.ndarray, omega: float, batch: int) -> dict:
    import jax

    samples = x[np.arange(batch) % len(x)]
    seeds = np.arange(batch)
    readout = Readout.for_compiled(compiled)
    cle = ChemicalLangevin(compiled, omega)
    t0 = time.perf_counter()
    cle.readouts(samples, seeds, readout)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    cle.readouts(samples, seeds + batch, readout)
    seconds = time.perf_counter() - t0
    device = str(jax.devices()[0])
    print(f"CLE on {device}: {batch} readouts in {seconds:.2f} s = {batch / seconds:.1f} readouts/s "
          f"(first call, with compilation: {first:.1f} s)", flush=True)
    return {"batch": batch, "seconds": seconds, "readouts_per_s": batch / seconds, "first_call_s": first,
            "platform": jax.default_backend(), "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks-per-worker", type=int, default=12)
    parser.add_argument("--omega", type=float, default=30.0)
    parser.add_argument("--cle-batch", type=int, default=512, help="CLE readouts per call")
    parser.add_argument("--cle-only", action="store_true", help="skip the SSA part (e.g. on a GPU machine)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("ensemble.json"))
    args = parser.parse_args()
    compiled = open_model_folder(MODELS / "iris").compiled
    x = dataset_for(ZOO["iris"]).x_test
    result: dict = {"model": "iris", "omega": args.omega, "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
                    "python": platform.python_version()}
    if not args.cle_only:
        result.update(ssa_throughput(compiled, x, args.omega, args.tasks_per_worker))
    result["cle"] = cle_throughput(compiled, x, args.omega, args.cle_batch)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
