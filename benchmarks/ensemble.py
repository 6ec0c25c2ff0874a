"""Ensemble throughput (tasks/s) on a Dask LocalCluster of 1 and 2 worker processes, and a projection to N.

    .venv/bin/python benchmarks/ensemble.py [--tasks-per-worker 12] [--omega 30]

The task is one exact SSA readout of the iris zoo model (rebop, Ω molecules per unit concentration). Cluster
start-up is timed separately and left out of the throughput. Projection: N workers × the 1-worker rate × the
measured 2-worker parallel efficiency (optimistic for N beyond one machine: it ignores scheduler overhead,
~1 ms per task, negligible against tasks of ~0.1–10 s). Results go to benchmarks/ensemble.json.
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
from crn2sbml.stochastic.ensemble import local_client, run_ensemble
from crn2sbml.stochastic.readout import Setting
from crn2sbml.zoo import MODELS, ZOO, dataset_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks-per-worker", type=int, default=12)
    parser.add_argument("--omega", type=float, default=30.0)
    args = parser.parse_args()
    compiled = open_model_folder(MODELS / "iris").compiled
    x = dataset_for(ZOO["iris"]).x_test
    rows = []
    for workers in (1, 2):
        n = args.tasks_per_worker * workers
        samples = x[np.arange(n) % len(x)]
        started = time.perf_counter()
        with local_client(workers) as client:
            startup = time.perf_counter() - started
            t0 = time.perf_counter()
            run_ensemble(compiled, samples, [Setting(args.omega, 0.0)], base_seed=0, client=client)
            seconds = time.perf_counter() - t0
        rows.append({"workers": workers, "tasks": n, "seconds": seconds, "tasks_per_s": n / seconds,
                     "startup_s": startup})
        print(f"{workers} worker(s): {n} tasks in {seconds:.2f} s = {n / seconds:.2f} tasks/s "
              f"(cluster start {startup:.1f} s)", flush=True)
    efficiency = rows[1]["tasks_per_s"] / (2 * rows[0]["tasks_per_s"])
    projection = {str(n): n * rows[0]["tasks_per_s"] * min(1.0, efficiency) for n in (8, 32, 128)}
    print(f"2-worker efficiency {efficiency:.2f}; projected tasks/s: {projection}")
    write_json(Path(__file__).with_name("ensemble.json"), {
        "model": "iris", "omega": args.omega, "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(), "runs": rows, "efficiency_2_workers": efficiency,
        "projected_tasks_per_s": projection})


if __name__ == "__main__":
    main()
