"""crn2sbml benchmark suite (not part of the tests): ``make bench`` or ``.venv/bin/python benchmarks/run.py``.

Prints, per network shape, the time and peak memory of every stage from weights to settled samples, per
backend, and a comparison with what a user would otherwise do (a Tellurium loop, COPASI through basico) on
the digits test split. Each shape runs in a fresh process so peak memory is per shape; "peak MB" is that
process's maximum resident set size after the stage (cumulative within the shape). Results are also written
to ``benchmarks/results.json``.

Options: ``--quick`` (small shapes only), ``--shapes 64-16-10 784-64-10``, ``--copasi-limit SECONDS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crn2sbml import defaults

HERE = Path(__file__).resolve().parent
SHAPES = ("2-2-1", "64-16-10", "784-32-10", "784-64-10")
BATCH = {"2-2-1": 1000, "64-16-10": 1000, "784-32-10": 200, "784-64-10": 200}
JAX_BATCH = {"2-2-1": 10000, "64-16-10": 10000, "784-32-10": 10000, "784-64-10": 10000}
EPS = defaults.EPS


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    import libsbml
    import roadrunner

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "libroadrunner": roadrunner.__version__, "libsbml": libsbml.getLibSBMLDottedVersion()}
    for module in ("jax", "COPASI", "basico", "tellurium"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - a missing optional version string is not worth failing over
            versions[module] = "?"
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def random_network(shape: str, seed: int = 0):
    """A dense random network (no zero weights: benchmark the full reaction count) of ``shape`` like "64-16-10"."""
    from crn2sbml.nn.random import random_network as build

    return build(seed, tuple(int(n) for n in shape.split("-")), EPS, zero_fraction=0.0)


VALIDATION_LIMIT = 180.0
"""Seconds allowed for libSBML's full consistency check (it is superlinear: minutes at 50k reactions)."""


def _check_with_limit(path: Path, limit: float) -> str:
    """Run crn2sbml's libSBML check in a child process, so a slow check can be cut off at ``limit`` s."""
    code = ("import sys; from crn2sbml.validate.sbml_check import check_sbml; "
            "print(check_sbml(open(sys.argv[1]).read()).summary())")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return f"> {limit:.0f} s limit, not finished"
    return proc.stdout.strip() or proc.stderr.strip()[-200:]


def shape_worker(shape: str) -> list[dict]:
    """All stages for one shape, in this (fresh) process."""
    from crn2sbml.compiler import compile_network
    from crn2sbml.export.sbml import to_sbml
    from crn2sbml.io import load_weights, save_weights
    from crn2sbml.simulate import roadrunner_simulator

    rows: list[dict] = []

    def record(stage: str, started: float, **extra) -> None:
        rows.append({"shape": shape, "stage": stage, "seconds": time.perf_counter() - started,
                     "peak_mb": peak_mb(), **extra})

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CRN2SBML_CACHE"] = str(Path(tmp) / "cache")  # cold cache: honest first loads
        weights = Path(tmp) / "w.npz"
        save_weights(weights, random_network(shape))
        t = time.perf_counter()
        network = load_weights(weights)
        compiled = compile_network(network)
        record("compile (weights file -> reaction network)", t, reactions=len(compiled.crn.reactions))
        t = time.perf_counter()
        sbml = to_sbml(compiled)
        record("elementary SBML export (libSBML)", t, megabytes=len(sbml) / 1e6)
        sbml_path = Path(tmp) / "model.xml"
        sbml_path.write_text(sbml)
        t = time.perf_counter()
        check = _check_with_limit(sbml_path, VALIDATION_LIMIT)
        record("libSBML full consistency check", t, result=check)
        del sbml
        t = time.perf_counter()
        sim = roadrunner_simulator(compiled, encoding="lumped")
        record("roadrunner load, lumped encoding (cold)", t)
        x = rng.uniform(0, 1, size=(max(BATCH[shape], JAX_BATCH[shape]), network.n_inputs))
        t = time.perf_counter()
        first = sim.settle(x[:1])
        record("first settle (roadrunner)", t, residual=float(first.residual[0]))
        user_path = ("compile (weights file -> reaction network)", "roadrunner load, lumped encoding (cold)",
                     "first settle (roadrunner)")
        rows.append({"shape": shape, "stage": "weights file -> loaded model settled one sample",
                     "seconds": sum(r["seconds"] for r in rows if r["stage"] in user_path), "peak_mb": peak_mb(),
                     "sum_of": "compile + lumped load + first settle"})
        t = time.perf_counter()
        roadrunner_simulator(compiled, encoding="lumped")
        record("roadrunner load, lumped encoding (cached)", t)
        n = BATCH[shape]
        t = time.perf_counter()
        serial = sim.settle(x[:n])
        record(f"roadrunner batch of {n}, 1 process", t, samples_per_s=n / (time.perf_counter() - t))
        t = time.perf_counter()
        parallel = sim.settle_parallel(x[:n])
        seconds = time.perf_counter() - t
        record(f"roadrunner batch of {n}, {os.cpu_count()} worker processes", t, samples_per_s=n / seconds,
               max_rel_diff_vs_serial=float(np.max(np.abs(parallel.outputs - serial.outputs) / serial.outputs)))
        if shape in ("2-2-1", "64-16-10"):
            t = time.perf_counter()
            elementary = roadrunner_simulator(compiled, encoding="elementary", sbml=to_sbml(compiled))
            record("roadrunner load, elementary encoding (cold)", t)
            t = time.perf_counter()
            el = elementary.settle(x[:100])
            record("roadrunner 100 samples, elementary encoding", t, samples_per_s=100 / (time.perf_counter() - t),
                   max_rel_diff_vs_lumped=float(np.max(np.abs(el.outputs - serial.outputs[:100])
                                                       / serial.outputs[:100])))
        # JAX last: libRoadRunner models built after XLA compilations in one process have crashed
        ref = network.forward(x)
        try:
            from crn2sbml.simulate.jax_batch import JaxBatchSimulator
        except ImportError:
            JaxBatchSimulator = None  # noqa: N806
        if JaxBatchSimulator is not None:
            m = JAX_BATCH[shape]
            t = time.perf_counter()
            jsim = JaxBatchSimulator(compiled)
            warm = jsim.settle(x[:m])
            record(f"jax batch of {m} incl. compilation ({jsim.platform})", t)
            t = time.perf_counter()
            result = jsim.settle(x[:m])
            seconds = time.perf_counter() - t
            record(f"jax batch of {m} after compilation ({jsim.platform})", t, samples_per_s=m / seconds,
                   max_rel_err_vs_forward=float(np.max(np.abs(result.outputs - ref[:m]) / ref[:m])))
            del warm
    return rows


def digits_worker(method: str, copasi_limit: float) -> dict:
    """One way of settling the digits test split (360 samples, 64-16-10), model load included, run in a fresh
    process with the library defaults a user would have."""
    from crn2sbml.compiler import compile_network
    from crn2sbml.export.sbml import to_sbml
    from crn2sbml.io import load_weights
    from crn2sbml.zoo import MODELS, ZOO, dataset_for

    network = load_weights(MODELS / "digits" / "weights.npz")
    compiled = compile_network(network)
    x = dataset_for(ZOO["digits"]).x_test
    ref = network.forward(x)
    sbml = to_sbml(compiled)
    horizon = 20.0 / (2 * np.sqrt(network.eps))  # 20 relaxation times of the slowest possible neuron
    outs = np.full_like(ref, np.nan)
    done = len(x)
    t = time.perf_counter()
    if method.startswith("crn2sbml"):
        from crn2sbml.simulate import roadrunner_simulator

        sim = roadrunner_simulator(compiled, encoding="lumped")
        outs = sim.settle(x).outputs if method == "crn2sbml-serial" else sim.settle_parallel(x).outputs
    elif method == "tellurium":
        import tellurium as te

        r = te.loadSBMLModel(sbml)
        for i, sample in enumerate(x):
            r.reset()
            for j, value in enumerate(sample):
                r[f"x{j + 1}"] = float(value)
            r.simulate(0, horizon, 50)
            outs[i] = [r[s] for s in compiled.output_species]
    elif method == "copasi":
        import basico

        from crn2sbml.simulate.copasi import copasi_locale

        names = {sp.id: sp.role for sp in compiled.crn.species}  # COPASI shows SBML names
        done = 0
        with copasi_locale():
            model = basico.load_model_from_string(sbml)
            for i, sample in enumerate(x):
                if time.perf_counter() - t > copasi_limit:
                    break
                for j, value in enumerate(sample):
                    basico.set_species(names[f"x{j + 1}"], initial_concentration=float(value), model=model)
                tc = basico.run_time_course(duration=horizon, intervals=10, model=model)
                outs[i] = [tc[names[s]].iloc[-1] for s in compiled.output_species]
                done += 1
    seconds = time.perf_counter() - t
    err = np.abs(outs[:done] - ref[:done]) / ref[:done]
    return {"method": method, "seconds": seconds, "samples": done, "of": len(x),
            "max_rel_err": float(err.max()) if done else None}


DIGITS_METHODS = {
    "crn2sbml": "crn2sbml: lumped SBML, LLJIT, worker processes, cold cache",
    "crn2sbml-serial": "crn2sbml: same, one process, compiled model from the cache",
    "tellurium": "Tellurium loop: te.loadSBMLModel; per sample reset, set inputs, simulate",
    "copasi": "COPASI via basico: load; per sample set_species, run_time_course",
}


def digits_comparison(copasi_limit: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for method in DIGITS_METHODS:
            env = dict(os.environ, CRN2SBML_CACHE=cache)
            proc = subprocess.run([sys.executable, __file__, "--digits-worker", method,
                                   "--copasi-limit", str(copasi_limit)], capture_output=True, text=True,
                                  env=env, check=False)
            if proc.returncode != 0:
                rows.append({"method": method, "error": proc.stderr[-500:]})
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--quick", action="store_true", help="only 2-2-1 and 64-16-10")
    parser.add_argument("--copasi-limit", type=float, default=120.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--digits-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        json.dump(shape_worker(args.worker), sys.stdout)
        return 0
    if args.digits_worker:
        print(json.dumps(digits_worker(args.digits_worker, args.copasi_limit)))
        return 0
    shapes = ["2-2-1", "64-16-10"] if args.quick else args.shapes
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['platform']}", flush=True)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    rows = []
    print()
    print(f"{'shape':<11} {'stage':<58} {'time (s)':>9} {'peak MB':>8}  notes", flush=True)
    for shape in shapes:
        proc = subprocess.run([sys.executable, __file__, "--worker", shape], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            print(f"{shape}: failed\n{proc.stderr[-2000:]}", flush=True)
            continue
        for row in json.loads(proc.stdout):
            rows.append(row)
            notes = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                              if k not in ("shape", "stage", "seconds", "peak_mb"))
            print(f"{row['shape']:<11} {row['stage']:<58} {row['seconds']:>9.3f} {row['peak_mb']:>8.0f}  {notes}",
                  flush=True)
    comparison = digits_comparison(args.copasi_limit)
    ours = comparison[0]["seconds"]
    print()
    print("digits test split (360 samples, 64-16-10), model load included, each in a fresh process:")
    for row in comparison:
        label = DIGITS_METHODS[row["method"]]
        if "error" in row:
            print(f"  {label:<76} failed: {row['error']}")
            continue
        if row["samples"] == row["of"]:
            print(f"  {label:<76} {row['seconds']:8.2f} s  {row['seconds'] / ours:7.1f}x crn2sbml  "
                  f"max rel err {row['max_rel_err']:.1e}")
        else:
            estimate = row["seconds"] / max(row["samples"], 1) * row["of"]
            print(f"  {label:<76} > {args.copasi_limit:.0f} s limit ({row['samples']}/{row['of']} samples; "
                  f"extrapolated {estimate:.0f} s = {estimate / ours:.0f}x crn2sbml)")
    (HERE / "results.json").write_text(json.dumps({"machine": info, "stages": rows, "digits": comparison},
                                                  indent=2) + "\n")
    print(f"\nwrote {HERE / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
