"""Bounded-activation training on the zoo: accuracy and lab feasibility with and without the bounds.

Three parts, all written to ``validation/bounded/results.json`` and printed as the markdown tables of
docs/dsd.md §1:

1. ``bound5``: each zoo dataset trained with its zoo spec as shipped and with ``max_activation`` 5 (and
   ``max_weight_sum`` 10 or 5; crn2sbml.nn.train.TrainConfig), each network checked with
   crn2sbml.export.units.feasibility at the lab setting of the docs table (α = 1 nM, q_max = 1e6 /M/s,
   gates and fuels 1 µM) at inputs 1 (model units) and at every test sample (largest gate use).
2. ``recipe``: the settings of the shipped ``iris-bounded`` (eps 0.5, bound 1.5, Σ|w| + |b| <= 3) on every
   dataset, checked at α = 10, 20 and 30 nM.
3. ``shipped``: ``models/iris-bounded`` itself: its bounds on the data, and its physical SBML at α = 20 nM
   settled in libRoadRunner for the test sample that uses the most gates (measured vs predicted settle time).

    .venv/bin/python validation/bounded/run.py

Takes about four minutes on two cores.
"""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.export.units import SETTLE_PRECISION, to_physical_sbml
from crn2sbml.io import load_weights, write_json
from crn2sbml.nn.train import accuracy, largest_activation, train, weight_sums
from crn2sbml.zoo import LAB_UNITS, MODELS, ZOO, ZooSpec, dataset_for, lab_feasibility

HERE = Path(__file__).resolve().parent
DATASETS = ("xor", "iris", "wine", "breast-cancer", "digits")
BOUND5 = ({}, {"max_activation": 5.0}, {"max_activation": 5.0, "max_weight_sum": 10.0},
          {"max_activation": 5.0, "max_weight_sum": 5.0})
SHIPPED = "iris-bounded"
RECIPE = {"eps": ZOO[SHIPPED].eps, "max_activation": ZOO[SHIPPED].max_activation,
          "max_weight_sum": ZOO[SHIPPED].max_weight_sum}
RECIPE_SCALES = (10.0, 20.0, 30.0)


def trained(spec: ZooSpec):
    data = dataset_for(spec)
    result = train(data.x_train, data.y_train, spec.config(), progress=False)
    net = result.network
    row = {"model": spec.name, "shape": net.shape_text(), "eps": spec.eps, "max_activation": spec.max_activation,
           "max_weight_sum": spec.max_weight_sum, "test_accuracy": accuracy(net, data.x_test, data.y_test),
           "train_accuracy": accuracy(net, data.x_train, data.y_train),
           "largest_activation_train": result.largest_activation,
           "largest_activation_test": largest_activation(net, data.x_test),
           "rescaled_neurons": len(result.rescaled),
           "smallest_rescale_factor": min((f for _, _, f in result.rescaled), default=1.0),
           "largest_weight_sum": max(float(s.max()) for s in weight_sums(net)), "best_epoch": result.best_epoch}
    return compile_network(net), data, row


def feasibility_row(report: dict) -> dict:
    one, worst = report["at_inputs_one"], report["worst_test_sample"]
    return {"alpha_nM": report["units"]["scale"], "feasible": report["feasible"], "sigma_hat": one["sigma_hat"],
            "kappa_per_s": one["kappa_per_s"], "settle_time_hours": one["settle_time_hours"],
            "largest_output_nM_at_inputs_one": max(one["output_molar"]) / 1e-9,
            "gate_use_at_inputs_one": one["max_gate_fraction"],
            "gate_use_worst_test_sample": report["max_gate_fraction_test_split"],
            "leak_delta_eps": max(one["leak_delta_eps"].values()),
            "leak_over_tolerance": max(one["leak_delta_eps"].values()) / (0.1 * one["eps"]),
            "violated": sorted({v.split(":")[0] for v in one["violations"] + worst["violations"]})}


def bound5() -> list[dict]:
    rows = []
    for name in DATASETS:
        for setting in BOUND5:
            compiled, data, row = trained(replace(ZOO[name], **setting))
            rows.append({**row, **feasibility_row(lab_feasibility(compiled, data.x_test, LAB_UNITS))})
            print(bound5_table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def recipe() -> list[dict]:
    rows = []
    for name in DATASETS:
        compiled, data, row = trained(replace(ZOO[name], **RECIPE))
        row["at"] = [feasibility_row(lab_feasibility(compiled, data.x_test, replace(LAB_UNITS, scale=scale)))
                     for scale in RECIPE_SCALES]
        rows.append(row)
        print(recipe_table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def shipped() -> dict:
    """The shipped model's bounds on its data, and its physical model settled in libRoadRunner."""
    import roadrunner

    spec = ZOO[SHIPPED]
    data = dataset_for(spec)
    compiled = compile_network(load_weights(MODELS / SHIPPED / "weights.npz"))
    units = spec.lab_units()
    report = lab_feasibility(compiled, data.x_test, units)
    worst = report["worst_test_sample"]["index"]
    x = data.x_test[worst]
    rr = roadrunner.RoadRunner(to_physical_sbml(compiled, units, x))
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-10, 1e-12
    horizon = 4 * 3600 * report["at_inputs_one"]["settle_time_hours"]
    result = rr.simulate(0, horizon, 4001, selections=["time"] + [f"[{s}]" for s in compiled.output_species])
    target = compiled.network.forward(x[None])[0] * units.scale  # nM: α·y*
    distance = np.max(np.abs(result[:, 1:] - target) / target, axis=1)
    inside = np.flatnonzero(distance >= SETTLE_PRECISION)
    settled = float(result[inside[-1] + 1, 0]) if inside.size else 0.0  # the last time it was still outside
    return {"model": SHIPPED, "alpha_nM": units.scale, "test_sample": worst,
            "largest_activation_train": largest_activation(compiled.network, data.x_train),
            "largest_activation_test": largest_activation(compiled.network, data.x_test),
            "largest_weight_sum": max(float(s.max()) for s in weight_sums(compiled.network)),
            "feasible": report["feasible"],
            "predicted_settle_seconds": 3600 * report["at_inputs_one"]["settle_time_hours"],
            "simulated_settle_seconds": settled, "settle_precision": SETTLE_PRECISION,
            "steady_state_nM": result[-1, 1:].tolist(), "alpha_times_network_nM": target.tolist()}


def _bounds(row: dict) -> str:
    parts = [f"{label} {row[key]:g}" for key, label in (("max_activation", "B"), ("max_weight_sum", "S"))
             if row[key] is not None]
    return ", ".join(parts) or "none"


def bound5_table(rows: list[dict]) -> str:
    lines = ["| model | bounds | test acc. | largest value, train / test | σ̂ | κ (/s) | settle (h) | "
             "gate use / supply, inputs 1 / worst test sample | Δeps from leak | violated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {_bounds(r)} | {r['test_accuracy']:.3f} | {r['largest_activation_train']:.3g} "
                     f"/ {r['largest_activation_test']:.3g} | {r['sigma_hat']:.3g} | {r['kappa_per_s']:.2e} | "
                     f"{r['settle_time_hours']:.3g} | {r['gate_use_at_inputs_one']:.2g} / "
                     f"{r['gate_use_worst_test_sample']:.2g} | {r['leak_delta_eps']:.3g} | "
                     f"{', '.join(r['violated']) or 'none'} |")
    return "\n".join(lines)


def recipe_table(rows: list[dict]) -> str:
    head = " | ".join(f"α = {a:g} nM: gate use (inputs 1 / worst), leak / tolerance" for a in RECIPE_SCALES)
    lines = [f"| model | test acc. | largest value, train / test | {head} |", "|---|---|---|" + "---|" * 3]
    for r in rows:
        cells = " | ".join(f"{a['gate_use_at_inputs_one']:.2f} / {a['gate_use_worst_test_sample']:.2f}, "
                           f"{a['leak_over_tolerance']:.2f}{' ✓' if a['feasible'] else ''}" for a in r["at"])
        lines.append(f"| {r['model']} | {r['test_accuracy']:.3f} | {r['largest_activation_train']:.3g} / "
                     f"{r['largest_activation_test']:.3g} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    results = {"machine": f"{platform.machine()} / Python {platform.python_version()}",
               "units": {"q_max": LAB_UNITS.q_max, "gate_concentration": LAB_UNITS.gate_concentration,
                         "fuel_concentration": LAB_UNITS.fuel, "leak_rate": LAB_UNITS.leak_rate},
               "bound5": bound5(), "recipe": recipe(), "shipped": shipped()}
    results["seconds"] = time.perf_counter() - started
    write_json(HERE / "results.json", results)
    print(bound5_table(results["bound5"]), recipe_table(results["recipe"]), sep="\n\n")
    s = results["shipped"]
    print(f"\n{SHIPPED} at α = {s['alpha_nM']:g} nM, test sample {s['test_sample']}: feasible {s['feasible']}; "
          f"settles to {s['settle_precision']:g} in {s['simulated_settle_seconds']:.0f} s (libRoadRunner, physical "
          f"SBML), predicted bound {s['predicted_settle_seconds']:.0f} s; largest value train "
          f"{s['largest_activation_train']:.4g}, test {s['largest_activation_test']:.4g}")


if __name__ == "__main__":
    main()
