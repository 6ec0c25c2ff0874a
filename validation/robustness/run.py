"""Regenerate validation/robustness/: accuracy vs Ω (exact SSA on a subset, LNA on every test sample) and vs
rate-constant error (closed-form perturbed fixed points) for every zoo model.

    .venv/bin/python validation/robustness/run.py [--budget SECONDS] [--workers N]

SSA subset: for each model and Ω the first n test samples, n = budget / (measured seconds of one run at that Ω),
capped at 20, and Ω skipped when fewer than 3 samples fit (one SSA run costs ∝ Ω; digits at Ω = 100 takes ~6 min).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from crn2sbml.io import write_atomic, write_json
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.stochastic.ensemble import local_client, run_ensemble
from crn2sbml.stochastic.lna import effective_inputs, lna_window_covariance
from crn2sbml.stochastic.perturb import lognormal_factors, perturbed_outputs
from crn2sbml.stochastic.readout import Readout, Setting
from crn2sbml.stochastic.ssa import RebopSSA
from crn2sbml.validate.robustness_plots import omega_figure, rate_cv_figure
from crn2sbml.zoo import MODELS, VALIDATION, ZOO, dataset_for

OMEGAS_SSA = (10, 30, 100, 300, 1000)
OMEGAS_LNA = (10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000)
RATE_CVS = (0.05, 0.1, 0.2, 0.3, 0.5)
PERTURBATIONS = 200
LNA_DRAWS = 200
MAX_SSA_SAMPLES = 20
MIN_SSA_SAMPLES = 3
SEED = 20240611


def omega_for(omegas: list[float], accuracy: list[float], target: float) -> float | None:
    """Smallest Ω of the grid from which on every accuracy is >= target (None if none)."""
    for i, omega in enumerate(omegas):
        if all(a >= target for a in accuracy[i:]):
            return float(omega)
    return None


def lna_accuracy(compiled, x: np.ndarray, y: np.ndarray, readout: Readout, rng: np.random.Generator) -> dict:
    """Accuracy of a Gaussian readout N(y*(round(Ωx)/Ω), window covariance) per Ω, every test sample."""
    n_out = compiled.network.n_outputs
    acc, mean_std = [], []
    for omega in OMEGAS_LNA:
        correct, stds = 0, []
        for row, label in zip(x, y, strict=True):
            mean = compiled.network.forward(effective_inputs(row, omega))[0]
            cov = lna_window_covariance(compiled, row, omega, readout.window)[-n_out:, -n_out:]
            draws = rng.multivariate_normal(mean, cov, size=LNA_DRAWS, method="eigh")
            correct += int(np.sum(draws.argmax(-1) == label))
            stds.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
        acc.append(correct / (len(x) * LNA_DRAWS))
        mean_std.append(float(np.mean(stds)))
    return {"omegas": list(OMEGAS_LNA), "accuracy": acc, "mean_std": mean_std}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=25.0, help="SSA CPU seconds per model and Ω")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    out = VALIDATION / "robustness"
    omega_data: dict[str, dict] = {}
    cv_data: dict[str, dict] = {}
    started = time.perf_counter()
    with local_client(args.workers) as client:
        for name in args.only or list(ZOO):
            compiled = open_model_folder(MODELS / name).compiled
            data = dataset_for(ZOO[name])
            x, y = data.x_test, data.y_test
            readout = Readout.for_compiled(compiled)
            det = float(np.mean(compiled.network.forward(x).argmax(-1) == y))
            rng = np.random.default_rng(SEED)
            # rate error: PERTURBATIONS implementations x every test sample, closed form
            cv_rows = {"rate_cv": list(RATE_CVS), "accuracy": [], "accuracy_std": [], "mean_abs_error": []}
            reference = compiled.network.forward(x)
            for cv in RATE_CVS:
                factors = lognormal_factors(rng, PERTURBATIONS, len(compiled.crn.reactions), cv)
                outs = perturbed_outputs(compiled, x, factors)
                per = np.mean(outs.argmax(-1) == y[None], axis=1)
                cv_rows["accuracy"].append(float(per.mean()))
                cv_rows["accuracy_std"].append(float(per.std()))
                cv_rows["mean_abs_error"].append(float(np.mean(np.abs(outs - reference[None]))))
            cv_data[name] = {"deterministic_accuracy": det, **cv_rows}
            lna = lna_accuracy(compiled, x, y, readout, rng)
            # SSA: time one run at Ω = 10, size each Ω's subset to the budget
            t0 = time.perf_counter()
            RebopSSA(compiled, 10).run(x[0], readout.t_end, readout.n_points, seed=0)
            cost10 = time.perf_counter() - t0
            ssa = {"omegas": [], "n_samples": [], "accuracy": [], "deterministic_accuracy_subset": [],
                   "mean_abs_error": [], "seconds": []}
            for omega in OMEGAS_SSA:
                n = int(min(MAX_SSA_SAMPLES, len(x), args.budget / (cost10 * omega / 10)))
                if n < MIN_SSA_SAMPLES:
                    continue
                t1 = time.perf_counter()
                result = run_ensemble(compiled, x[:n], [Setting(omega, 0.0)], base_seed=SEED, labels=y[:n],
                                      client=client, readout=readout)
                outs = result.outputs[:, 0, 0]
                ssa["omegas"].append(omega)
                ssa["n_samples"].append(n)
                ssa["accuracy"].append(float(np.mean(outs.argmax(-1) == y[:n])))
                ssa["deterministic_accuracy_subset"].append(float(np.mean(reference[:n].argmax(-1) == y[:n])))
                ssa["mean_abs_error"].append(float(np.mean(np.abs(outs - reference[:n]))))
                ssa["seconds"].append(time.perf_counter() - t1)
                print(f"{name}: SSA Ω={omega} n={n} acc={ssa['accuracy'][-1]:.3f} "
                      f"({ssa['seconds'][-1]:.1f} s)", flush=True)
            # the subset's deterministic accuracy is the SSA's reference (same samples)
            ssa_target = [0.99 * d for d in ssa["deterministic_accuracy_subset"]]
            ssa_omega99 = next((o for i, o in enumerate(ssa["omegas"])
                                if all(a >= t for a, t in zip(ssa["accuracy"][i:], ssa_target[i:], strict=True))),
                               None)
            omega_data[name] = {
                "deterministic_accuracy": det, "n_test": len(x), "readout": vars(readout),
                "ssa_seconds_per_run_at_omega_10": cost10,
                "ssa": {**ssa, "deterministic_accuracy": (ssa["deterministic_accuracy_subset"] or [det])[0],
                        "omega_99": ssa_omega99},
                "lna": {**lna, "omega_99": omega_for(lna["omegas"], lna["accuracy"], 0.99 * det)},
            }
            print(f"{name}: det {det:.3f}, Ω99 LNA {omega_data[name]['lna']['omega_99']}, SSA {ssa_omega99}; "
                  f"acc at 30 % rate CV {cv_rows['accuracy'][RATE_CVS.index(0.3)]:.3f}", flush=True)
    meta = {"machine": platform.platform(), "workers": args.workers, "budget_s": args.budget,
            "seconds": time.perf_counter() - started, "seed": SEED, "perturbations": PERTURBATIONS,
            "lna_draws": LNA_DRAWS}
    write_json(out / "omega.json", {"meta": meta, "models": omega_data})
    write_json(out / "rate_cv.json", {"meta": meta, "models": cv_data})
    write_atomic(out / "omega.png", omega_figure(omega_data))
    write_atomic(out / "rate_cv.png", rate_cv_figure(cv_data))
    print(json.dumps({n: {"omega99_lna": d["lna"]["omega_99"], "omega99_ssa": d["ssa"]["omega_99"],
                          "acc_cv30": cv_data[n]["accuracy"][RATE_CVS.index(0.3)]} for n, d in omega_data.items()},
                     indent=1))


if __name__ == "__main__":
    main()
