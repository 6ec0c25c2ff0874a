"""``crn2sbml report``: regenerate ``validation/`` — per zoo model the test-set agreement in libRoadRunner and
COPASI, the theory checks and their figures, plus the sweeps over depth and eps and a summary README.

An application (it reads the zoo), so it sits beside :mod:`crn2sbml.zoo`, above :mod:`crn2sbml.validate`, whose
checks it runs. ``models/`` and ``validation/`` default to the source checkout's (:func:`crn2sbml.zoo.checkout_folder`).
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.io import load_weights, write_atomic, write_json
from crn2sbml.simulate.copasi import CopasiSimulator
from crn2sbml.validate import theory
from crn2sbml.validate.plots import convergence_figure, eps_tradeoff_figure, settle_time_figure
from crn2sbml.zoo import MODELS, VALIDATION, ZOO, checkout_folder, dataset_for, validate_model

log = logging.getLogger(__name__)

N_STARTS = 1000
N_SENSITIVITIES = 12


def model_report(name: str, out_root: Path = VALIDATION, models: Path = MODELS) -> dict:
    """Every check on the zoo model ``models/<name>``; writes ``<out_root>/<name>/{report.json, agreement.png,
    convergence.png}``."""
    folder, out = models / name, out_root / name
    network = load_weights(folder / "weights.npz")
    compiled = compile_network(network)
    data = dataset_for(ZOO[name])
    sbml = (folder / "model.xml").read_text()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    agreement, rr_states = validate_model(folder, data, out)
    timings["roadrunner_test_set"] = time.perf_counter() - t

    t = time.perf_counter()
    with CopasiSimulator.from_compiled(compiled, sbml=sbml) as copasi:
        cp_states = copasi.settle(data.x_test)
    timings["copasi_test_set"] = time.perf_counter() - t
    reference = network.forward(data.x_test)
    copasi_result = {
        "n_samples": len(data.x_test),
        "all_converged": bool(cp_states.converged.all()),
        "max_rel_diff_copasi_vs_roadrunner": float((np.abs(cp_states.outputs - rr_states.outputs)
                                                    / rr_states.outputs).max()),
        "max_rel_diff_copasi_vs_network": float((np.abs(cp_states.outputs - reference) / reference).max()),
        "same_class_as_network": int(np.sum(cp_states.outputs.argmax(1) == reference.argmax(1))),
    }

    t = time.perf_counter()
    unique = theory.uniqueness(compiled, data.x_test[:5], n_starts=N_STARTS)
    timings["uniqueness"] = time.perf_counter() - t
    t = time.perf_counter()
    rates = theory.decay_rates(compiled, data.x_test[0])
    sens = theory.sensitivities(network, data.x_test[0], n_parameters=N_SENSITIVITIES)
    timings["rates_and_sensitivities"] = time.perf_counter() - t

    from crn2sbml.simulate import roadrunner_simulator

    fixed = network.forward(data.x_test[:1])[0]
    horizon = 15.0 / rates.bound
    times = np.linspace(0, horizon, 301)
    n_neurons = len(compiled.neuron_species)
    traj = roadrunner_simulator(compiled).trajectory(data.x_test[0], np.zeros(n_neurons), times)
    write_atomic(out / "convergence.png", convergence_figure(
        name, times, traj[:, -network.n_outputs:], fixed, rates.measured, rates.predicted, rates.bound))

    report = {
        "model": name,
        "shape": network.shape_text(),
        "activation": network.activation.describe(),
        "eps": network.eps,
        "reactions": len(compiled.crn.reactions),
        "roadrunner": agreement.to_dict(),
        "copasi": copasi_result,
        "uniqueness": unique.__dict__ | {"passed": unique.passed()},
        "decay_rates": rates.to_dict(),
        "sensitivities": sens.to_dict(),
        "timings_seconds": timings,
    }
    report["passed"] = bool(
        agreement.all_agree and agreement.all_converged and copasi_result["all_converged"]
        and copasi_result["same_class_as_network"] == len(data.x_test)
        and copasi_result["max_rel_diff_copasi_vs_roadrunner"] < 1e-6
        and unique.passed() and rates.min_ratio_to_bound >= 1 - 1e-3 and sens.max_relative_error < 1e-4
    )
    write_json(out / "report.json", report)
    return report


def sweeps(out_root: Path = VALIDATION) -> dict:
    settle = theory.settle_times()
    trade = theory.eps_tradeoff()
    write_json(out_root / "settle_time.json", settle)
    write_json(out_root / "eps_tradeoff.json", trade)
    write_atomic(out_root / "settle_time.png", settle_time_figure(settle))
    write_atomic(out_root / "eps_tradeoff.png", eps_tradeoff_figure(trade))
    return {"settle_times": settle, "eps_tradeoff": trade}


def summary_markdown(reports: list[dict], sweep: dict, seconds: float) -> str:
    lines = [
        "# Validation report",
        "",
        "Regenerate with `make report` (or `.venv/bin/crn2sbml report`). Generated on "
        f"{platform.machine()} / Python {platform.python_version()} in {seconds:.0f} s.",
        "",
        "Per zoo model: every test sample settled in libRoadRunner and in COPASI from the shipped `model.xml`;",
        f"{N_STARTS} random initial states (zero, 1e4, log-uniform in [1e-6, 1e4]) settled to one point; per-neuron",
        "decay rates measured after a 0.1 % kick vs the slowest possible rate (2√eps for σ_eps); finite-difference",
        f"sensitivities of the CRN steady state to {N_SENSITIVITIES} random weights/biases vs the chain-rule gradient.",
        "",
        "| model | activation | net acc. | CRN acc. | agree | max rel. CRN−net | COPASI−roadrunner | "
        "starts → one point (spread) | min rate / bound | max sens. error | passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        rr, cp, un = r["roadrunner"], r["copasi"], r["uniqueness"]
        lines.append(
            f"| [{r['model']}]({r['model']}/report.json) | {r['activation']} | {rr['network_accuracy']:.4f} | "
            f"{rr['crn_accuracy']:.4f} | {rr['agreeing_samples']}/{rr['n_samples']} | "
            f"{rr['max_rel_difference']:.1e} | {cp['max_rel_diff_copasi_vs_roadrunner']:.1e} | "
            f"{un['n_starts']} ({un['max_relative_spread']:.0e}) | {r['decay_rates']['min_ratio_to_bound']:.3f} | "
            f"{r['sensitivities']['max_relative_error']:.1e} | {'yes' if r['passed'] else '**no**'} |"
        )
    lines += ["", "Figures per model: `<model>/agreement.png` (CRN vs network outputs, confusion matrix) and",
              "`<model>/convergence.png` (distance to the fixed point over time; measured vs predicted rates).", "",
              "## Settle time vs depth and eps", "", "![settle time](settle_time.png)", "",
              "| eps | depth | settle time (s) | ln(1e6)/(2√eps) |", "|---|---|---|---|"]
    for row in sweep["settle_times"]:
        lines.append(f"| {row['eps']:g} | {row['depth']} | {row['settle_time']:.1f} | "
                     f"{row['single_neuron_reference']:.1f} |")
    lines += ["", "## The eps trade-off", "", "![eps trade-off](eps_tradeoff.png)", "",
              "| eps | max abs(σ_eps − ReLU) | √eps | slowest rate | 2√eps |", "|---|---|---|---|---|"]
    for row in sweep["eps_tradeoff"]:
        lines.append(f"| {row['eps']:g} | {row['max_gap_to_relu']:.6g} | {row['sqrt_eps']:.6g} | "
                     f"{row['slowest_rate']:.6g} | {row['two_sqrt_eps']:.6g} |")
    return "\n".join(lines) + "\n"


def build_report(names: list[str] | None = None, out_root: str | Path | None = None,
                 progress: Callable[[str], object] | None = None, *, models: str | Path | None = None) -> list[dict]:
    """Check ``names`` (default: every zoo model) from ``models`` and write the evidence and README to
    ``out_root``; both default to the source checkout's folders. ``progress(name)`` runs after each model."""
    models_dir = checkout_folder(models, MODELS, "--models")
    out_root = checkout_folder(out_root, VALIDATION, "--validation")
    started = time.perf_counter()
    reports = []
    for name in names or list(ZOO):
        log.info("validating %s", name)
        reports.append(model_report(name, out_root, models_dir))
        if progress is not None:
            progress(name)
    sweep = sweeps(out_root)
    write_atomic(out_root / "README.md", summary_markdown(reports, sweep, time.perf_counter() - started))
    return reports
