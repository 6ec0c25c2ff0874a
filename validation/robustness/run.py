"""Regenerate validation/robustness/: accuracy vs Ω for every zoo model — chemical Langevin equation (CLE) on every
test sample, exact SSA on a subset at small Ω as the cross-check, linear-noise approximation (LNA) on every test
sample — and accuracy vs rate-constant error (closed-form perturbed fixed points).

    .venv/bin/python validation/robustness/run.py [--replicates 3] [--min-trials 200] [--ssa-budget 20]
        [--workers 2] [--only NAME ...] [--out DIR] [--rate-cv-only]

CLE: independent runs of every test sample at every Ω of OMEGAS_CLE (engine ``cle`` of
crn2sbml.stochastic.engines, in this process): ``--replicates`` per sample, more for small test sets so that
every accuracy rests on at least ``--min-trials`` readouts (a 99 % criterion on 90 readouts would mean "no
miss at all"). SSA (engine ``rebop``, on a Dask LocalCluster): for each model and
Ω of OMEGAS_SSA the first n test samples, n = ``--ssa-budget`` seconds / the registry's estimate of one run,
at most 20; an Ω is skipped when fewer than 3 fit, except the smallest, which always gets 3 (digits: an
exact SSA run costs ~10–20 s there). LNA: a Gaussian readout (window covariance) per sample, at the
inputs an SSA sees (round(Ω·x)/Ω) and at the exact inputs, and the mean |readout − network output| it predicts.
Prints the machine and the time of every part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from crn2sbml.io import write_atomic, write_json
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.stochastic.engines import ssa_seconds_per_run
from crn2sbml.stochastic.ensemble import local_client, run_ensemble
from crn2sbml.stochastic.lna import effective_inputs, lna_window_covariance
from crn2sbml.stochastic.perturb import lognormal_factors, perturbed_outputs
from crn2sbml.stochastic.readout import Readout, Setting
from crn2sbml.validate.robustness_plots import omega_figure, rate_cv_figure
from crn2sbml.zoo import MODELS, VALIDATION, ZOO, dataset_for

OMEGAS_CLE = (10, 30, 100, 300, 1000, 3000, 10000)
OMEGAS_SSA = (10, 30, 100)
OMEGAS_LNA = (10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000)
RATE_CVS = (0.05, 0.1, 0.2, 0.3, 0.5)
PERTURBATIONS = 200
LNA_DRAWS = 200
MAX_SSA_SAMPLES = 20
MIN_SSA_SAMPLES = 3
SEED = 20240611


def omega_for(omegas, accuracy, target: float) -> float | None:
    """Smallest Ω of the grid from which on every accuracy is >= target (None if none)."""
    for i, omega in enumerate(omegas):
        if all(a >= t for a, t in zip(accuracy[i:], np.broadcast_to(target, len(accuracy))[i:], strict=True)):
            return float(omega)
    return None


def rate_cv_rows(compiled, x: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy and output error of PERTURBATIONS perturbed implementations per rate CV (closed form)."""
    rng = np.random.default_rng(SEED)
    reference = compiled.network.forward(x)
    rows: dict[str, list] = {"rate_cv": list(RATE_CVS), "accuracy": [], "accuracy_std": [], "mean_abs_error": []}
    for cv in RATE_CVS:
        outs = perturbed_outputs(compiled, x, lognormal_factors(rng, PERTURBATIONS, len(compiled.crn.reactions), cv))
        per = np.mean(outs.argmax(-1) == y[None], axis=1)
        rows["accuracy"].append(float(per.mean()))
        rows["accuracy_std"].append(float(per.std()))
        rows["mean_abs_error"].append(float(np.mean(np.abs(outs - reference[None]))))
    return rows


def expected_abs(bias: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``E|bias + std·Z|`` for a standard normal ``Z``: the mean |readout − network output| the LNA predicts."""
    from scipy.stats import norm

    std = np.maximum(std, 1e-300)
    return std * np.sqrt(2 / np.pi) * np.exp(-0.5 * (bias / std) ** 2) + bias * (1 - 2 * norm.cdf(-bias / std))


def lna_curves(compiled, x: np.ndarray, y: np.ndarray, readout: Readout) -> dict:
    """Accuracy of a Gaussian readout N(y*, window covariance) per Ω: at the rounded inputs an SSA sees, and at
    the exact inputs (pure molecular noise: covariance C/Ω around the network's own output)."""
    rng = np.random.default_rng(SEED + 1)
    n_out = compiled.network.n_outputs
    exact_mean = compiled.network.forward(x)
    exact_cov = [lna_window_covariance(compiled, row, 1.0, readout.window, round_inputs=False)[-n_out:, -n_out:]
                 for row in x]  # C/Ω at Ω = 1; scaled below
    out: dict[str, list] = {"omegas": list(OMEGAS_LNA), "accuracy": [], "accuracy_exact_inputs": [],
                            "mean_std": [], "mean_abs_error": [], "rounding_only_accuracy": []}
    for omega in OMEGAS_LNA:
        x_eff = effective_inputs(x, omega)
        rounded_mean = compiled.network.forward(x_eff)
        correct = correct_exact = 0
        stds, abs_errors = [], []
        for i, label in enumerate(y):
            # where rounding changes nothing (e.g. digits' integer pixels) the rounded case is the exact one
            cov = (exact_cov[i] / omega if np.array_equal(x_eff[i], x[i])
                   else lna_window_covariance(compiled, x[i], omega, readout.window)[-n_out:, -n_out:])
            draws = rng.multivariate_normal(rounded_mean[i], cov, size=LNA_DRAWS, method="eigh")
            correct += int(np.sum(draws.argmax(-1) == label))
            draws = rng.multivariate_normal(exact_mean[i], exact_cov[i] / omega, size=LNA_DRAWS, method="eigh")
            correct_exact += int(np.sum(draws.argmax(-1) == label))
            stds.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
            abs_errors.append(expected_abs(rounded_mean[i] - exact_mean[i], stds[-1]))
        out["accuracy"].append(correct / (len(x) * LNA_DRAWS))
        out["accuracy_exact_inputs"].append(correct_exact / (len(x) * LNA_DRAWS))
        out["mean_std"].append(float(np.mean(stds)))
        out["mean_abs_error"].append(float(np.mean(abs_errors)))
        out["rounding_only_accuracy"].append(float(np.mean(rounded_mean.argmax(-1) == y)))
    return out


def cle_curves(compiled, x: np.ndarray, y: np.ndarray, readout: Readout, replicates: int) -> tuple[dict, np.ndarray]:
    """CLE readouts of every test sample x replicates at every Ω of OMEGAS_CLE: accuracy and output error."""
    reference = compiled.network.forward(x)
    settings = [Setting(float(omega), 0.0) for omega in OMEGAS_CLE]
    started = time.perf_counter()
    outputs = run_ensemble(compiled, x, settings, replicates=replicates, base_seed=SEED, readout=readout,
                           engine="cle").outputs  # (n, S, R, n_out)
    seconds = time.perf_counter() - started
    correct = outputs.argmax(-1) == y[:, None, None]
    error = np.abs(outputs - reference[:, None, None, :])
    # error = bias + spread: the replicates' mean against the network at the inputs the CLE sees (rounded), and
    # the spread over replicates (the LNA predicts the spread; the bias is the next order in 1/Ω)
    rounded = np.stack([compiled.network.forward(effective_inputs(x, omega)) for omega in OMEGAS_CLE], axis=1)
    bias = np.abs(outputs.mean(axis=2) - rounded).mean(axis=(0, 2))
    spread = outputs.std(axis=2, ddof=1).mean(axis=(0, 2))
    return {"omegas": list(OMEGAS_CLE), "replicates": replicates, "n_samples": len(x),
            "accuracy": correct.mean(axis=(0, 2)).tolist(),
            "accuracy_std_over_replicates": correct.mean(axis=0).std(axis=1).tolist(),
            "mean_abs_error": error.mean(axis=(0, 2, 3)).tolist(),
            "mean_abs_bias_vs_rounded_inputs": bias.tolist(), "mean_std_over_replicates": spread.tolist(),
            "seconds": seconds,
            "runs_per_second": outputs.shape[0] * outputs.shape[1] * outputs.shape[2] / seconds}, outputs


def ssa_subset(compiled, x: np.ndarray, y: np.ndarray, readout: Readout, client, budget: float,
               cle_outputs: np.ndarray) -> dict:
    """Exact SSA on the first n samples per Ω of OMEGAS_SSA, next to the CLE on the same samples."""
    reference = compiled.network.forward(x)
    rows: dict[str, list] = {key: [] for key in (
        "omegas", "n_samples", "accuracy", "cle_accuracy_same_samples", "deterministic_accuracy_subset",
        "mean_abs_error", "cle_mean_abs_error_same_samples", "estimated_seconds_per_run", "seconds_per_run")}
    for omega in OMEGAS_SSA:
        estimate = ssa_seconds_per_run(compiled, x[:MAX_SSA_SAMPLES], omega, readout.t_end)
        n = int(min(MAX_SSA_SAMPLES, len(x), budget / estimate))
        if n < MIN_SSA_SAMPLES:
            if omega != OMEGAS_SSA[0]:
                continue
            n = MIN_SSA_SAMPLES  # every model gets its cross-check at the smallest Ω
        started = time.perf_counter()
        outs = run_ensemble(compiled, x[:n], [Setting(float(omega), 0.0)], base_seed=SEED, labels=y[:n],
                            client=client, readout=readout, engine="rebop").outputs[:, 0, 0]
        seconds = time.perf_counter() - started
        cle = cle_outputs[:n, OMEGAS_CLE.index(omega)]  # (n, R, n_out), same samples
        rows["omegas"].append(omega)
        rows["n_samples"].append(n)
        rows["accuracy"].append(float(np.mean(outs.argmax(-1) == y[:n])))
        rows["cle_accuracy_same_samples"].append(float(np.mean(cle.argmax(-1) == y[:n, None])))
        rows["deterministic_accuracy_subset"].append(float(np.mean(reference[:n].argmax(-1) == y[:n])))
        rows["mean_abs_error"].append(float(np.mean(np.abs(outs - reference[:n]))))
        rows["cle_mean_abs_error_same_samples"].append(float(np.mean(np.abs(cle - reference[:n, None]))))
        rows["estimated_seconds_per_run"].append(estimate)
        # n runs on w workers take ceil(n / w) rounds of one run each
        rows["seconds_per_run"].append(seconds / -(-n // len(client.scheduler_info()["workers"])))
    target = [0.99 * d for d in rows["deterministic_accuracy_subset"]]
    rows["omega_99"] = omega_for(rows["omegas"], rows["accuracy"], np.array(target)) if target else None
    return rows


def write_rate_cv(out: Path, names: list[str], machine: str) -> None:
    """rate_cv.json and rate_cv.png for ``names`` (closed form: seconds for the whole zoo)."""
    started = time.perf_counter()
    cv_data = {}
    for name in names:
        compiled = open_model_folder(MODELS / name).compiled
        data = dataset_for(ZOO[name])
        det = float(np.mean(compiled.network.forward(data.x_test).argmax(-1) == data.y_test))
        cv_data[name] = {"deterministic_accuracy": det, **rate_cv_rows(compiled, data.x_test, data.y_test)}
    meta = {"machine": machine, "seconds": time.perf_counter() - started, "seed": SEED,
            "perturbations": PERTURBATIONS}
    write_json(out / "rate_cv.json", {"meta": meta, "models": cv_data})
    write_atomic(out / "rate_cv.png", rate_cv_figure(cv_data))
    print(f"rate_cv: {len(names)} models in {meta['seconds']:.1f} s; " + ", ".join(
        f"{n} {d['accuracy'][RATE_CVS.index(0.3)]:.3f}" for n, d in cv_data.items()) + " at 30 % rate CV")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=3, help="CLE runs per test sample and Ω")
    parser.add_argument("--min-trials", type=int, default=200, help="CLE readouts per Ω at least (samples x reps)")
    parser.add_argument("--ssa-budget", type=float, default=20.0, help="estimated SSA CPU seconds per model and Ω")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="these models only (then nothing is written unless --out)")
    parser.add_argument("--out", type=Path, help="output folder (default validation/robustness)")
    parser.add_argument("--rate-cv-only", action="store_true", help="only rate_cv.json/.png (closed form, seconds)")
    args = parser.parse_args()
    out = args.out or VALIDATION / "robustness"
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs"
    print(f"machine: {machine}", flush=True)
    names = args.only or list(ZOO)
    write = not (args.only and args.out is None)
    if write:
        write_rate_cv(out, names, machine)
    if args.rate_cv_only:
        return
    omega_data: dict[str, dict] = {}
    timings: dict[str, dict] = {}
    started = time.perf_counter()
    with local_client(args.workers) as client:
        for name in names:
            compiled = open_model_folder(MODELS / name).compiled
            data = dataset_for(ZOO[name])
            x, y = data.x_test, data.y_test
            readout = Readout.for_compiled(compiled)
            det = float(np.mean(compiled.network.forward(x).argmax(-1) == y))
            t1 = time.perf_counter()
            lna = lna_curves(compiled, x, y, readout)
            t2 = time.perf_counter()
            replicates = max(args.replicates, -(-args.min_trials // len(x)))
            cle, cle_outputs = cle_curves(compiled, x, y, readout, replicates)
            t3 = time.perf_counter()
            ssa = ssa_subset(compiled, x, y, readout, client, args.ssa_budget, cle_outputs)
            t4 = time.perf_counter()
            timings[name] = {"lna_s": t2 - t1, "cle_s": t3 - t2, "ssa_s": t4 - t3}
            target = 0.99 * det
            omega_data[name] = {
                "deterministic_accuracy": det, "n_test": len(x), "readout": vars(readout),
                "cle": {**cle, "omega_99": omega_for(cle["omegas"], cle["accuracy"], target)},
                "ssa": ssa,
                "lna": {**lna, "omega_99": omega_for(lna["omegas"], lna["accuracy"], target),
                        "omega_99_exact_inputs": omega_for(lna["omegas"], lna["accuracy_exact_inputs"], target),
                        "omega_99_rounding_only": omega_for(lna["omegas"], lna["rounding_only_accuracy"], target)},
            }
            print(f"{name}: det {det:.3f}; Ω99 CLE {omega_data[name]['cle']['omega_99']}, SSA {ssa['omega_99']}, "
                  f"LNA {omega_data[name]['lna']['omega_99']} (exact inputs "
                  f"{omega_data[name]['lna']['omega_99_exact_inputs']}); CLE {cle['runs_per_second']:.1f} runs/s; "
                  + ", ".join(f"{k} {v:.1f}" for k, v in timings[name].items()), flush=True)
    meta = {"machine": machine, "workers": args.workers, "ssa_budget_s": args.ssa_budget,
            "cle_replicates": args.replicates, "cle_min_trials": args.min_trials,
            "seconds": time.perf_counter() - started, "timings": timings, "seed": SEED, "lna_draws": LNA_DRAWS}
    if write:
        write_json(out / "omega.json", {"meta": meta, "models": omega_data})
        write_atomic(out / "omega.png", omega_figure(omega_data))
    else:
        print("partial run (--only) without --out: nothing written")
    print(json.dumps({n: {"det": d["deterministic_accuracy"], "omega99_cle": d["cle"]["omega_99"],
                          "omega99_ssa": d["ssa"]["omega_99"], "omega99_lna": d["lna"]["omega_99"],
                          "omega99_lna_exact_inputs": d["lna"]["omega_99_exact_inputs"]}
                      for n, d in omega_data.items()}, indent=1))
    print(f"total {meta['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
