"""The DNA network's kinetics: does peppercorn's enumerated network settle at α·y* in libRoadRunner?

For each case the design (crn2sbml.dsd.concentrations: κ = q_r·α, the largest gate at C) is enumerated once
with peppercorn (detailed network, waste tails merged), exported with peppercorn's SBML writer, loaded in
libRoadRunner, and integrated from the gate scale C's concentrations to 1 and 2 times the predicted settle
time. Written to ``validation/dsd/kinetics.json`` and ``kinetics.png``; the tables of docs/dsd.md §4 are
printed.

* single neurons, every sign of weight and bias, at α = 1 pM, C from 10 nM to 100 µM;
* the first of them at α = 1 nM, 100 pM and 10 pM too (the trend in α), and its condensed network;
* a 1-1-1 chain at α = 1 pM. The 2-2-1 network of benchmarks/dsd.py enumerates (3,120 species, 11,487
  reactions with the waste tails merged, 18 s) but one libRoadRunner integration of it took about 10 minutes on
  two cores: ``--with-221`` adds one point.

    .venv/bin/python validation/dsd/run.py

Takes about three minutes on two cores (without ``--with-221``).
"""

from __future__ import annotations

import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.io import write_atomic, write_json
from crn2sbml.nn.activations import smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.validate.dsd_kinetics import NeuronNetworkRun

HERE = Path(__file__).resolve().parent
EPS = 0.05
GATE_SCALES = (1e-8, 3e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4)
ALPHA = 1e-12
ALPHAS = (1e-9, 1e-10, 1e-11, 1e-12)
MULTIPLES = (1.0, 2.0)
NEURONS = {  # name: (w, b, x)
    "w+ b-": (1.5, -0.3, 1.0),
    "w+ b+": (1.5, 0.3, 1.0),
    "w- b+": (-0.7, 1.2, 0.2),
    "w- b- (inactive)": (-0.7, -0.3, 0.2),
}


def neuron(w: float, b: float) -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[w]]), np.array([b])),), smoothed_relu_activation(EPS))


def chain() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.5]]), np.array([-0.3])), Layer(np.array([[0.8]]), np.array([0.2]))),
                              smoothed_relu_activation(EPS))


def network_221() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.2, -0.8], [-0.6, 1.4]]), np.array([0.2, -0.3])),
                               Layer(np.array([[1.0, -1.0]]), np.array([0.1]))), smoothed_relu_activation(EPS))


def sweep(name: str, network: FeedForwardNetwork, x: list[float], alpha: float, scales=GATE_SCALES,
          condensed: bool = False) -> dict:
    started = time.perf_counter()
    run = NeuronNetworkRun(compile_network(network), x, alpha, condensed=condensed)
    setup = time.perf_counter() - started
    points = []
    for c in scales:
        t0 = time.perf_counter()
        try:
            s = run.settle(c, MULTIPLES)
        except InputError as exc:  # the gates that need no helper exceed C: no design at this scale
            points.append({"gate_scale_M": c, "infeasible": str(exc)})
            continue
        points.append({
            "gate_scale_M": c, "kappa_per_s": s.kappa, "helper_M": s.helper_molar,
            "toehold_occupancy": s.toehold_occupancy, "buffer_ratio": s.buffer_ratio,
            "settle_days": s.settle_s / 86400.0, "expected": s.expected,
            "free": s.free, "held": s.held, "signed_error": [s.signed_error(i) for i in range(len(MULTIPLES))],
            "relative_error": [s.relative_error(i) for i in range(len(MULTIPLES))],
            "gate_spent_at_settle": s.gate_spent, "seconds": time.perf_counter() - t0})
    row = {"case": name, "alpha_M": alpha, "inputs": x, "condensed": condensed,
           "species": run.network.species, "reactions": run.network.reactions,
           "enumerate_s": run.network.seconds, "setup_s": setup, "points": points}
    best = min((p for p in points if "relative_error" in p), key=lambda p: p["relative_error"][0], default=None)
    print(f"{name:>18} alpha {alpha:.0e} M ({'condensed' if condensed else 'detailed'}, {run.network.species} species, "
          f"{run.network.reactions} reactions, setup {setup:.1f} s)")
    for p in points:
        if "infeasible" in p:
            print(f"    C {p['gate_scale_M']:.0e}  infeasible")
            continue
        errs = "  ".join(f"{e[0]:+.3f}" for e in p["signed_error"])
        print(f"    C {p['gate_scale_M']:.0e}  error at 1x, 2x settle {errs}  occupancy {p['toehold_occupancy']:.2f}  "
              f"settle {p['settle_days']:.3g} d  inflow gate spent {p['gate_spent_at_settle'].get('G1', 0):.2f}")
    if best is not None:
        print(f"    best C {best['gate_scale_M']:.0e}: error {best['relative_error'][0]:.3f} at 1x, "
              f"{best['relative_error'][1]:.3f} at 2x")
    return row


def figure(results: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, rows, title in ((axes[0], [r for r in results if r["case"] == "w+ b-" and not r["condensed"]],
                             "neuron w = 1.5, b = -0.3, x = 1: the scale α"),
                            (axes[1], [r for r in results if r["alpha_M"] == ALPHA and
                                       (r["case"] != "w+ b-" or r["condensed"])],
                             f"α = {ALPHA * 1e12:g} pM: other neurons, a chain, the condensed network")):
        for r in rows:
            pts = [p for p in r["points"] if "relative_error" in p]
            label = (f"α = {r['alpha_M']:.0e} M" if ax is axes[0] else
                     r["case"] + (" (condensed)" if r["condensed"] else ""))
            line, = ax.loglog([p["gate_scale_M"] for p in pts], [max(p["relative_error"][0], 1e-4) for p in pts],
                              "o-", label=label)
            ax.loglog([p["gate_scale_M"] for p in pts], [max(p["relative_error"][1], 1e-4) for p in pts], ":",
                      color=line.get_color())
        ax.set_xlabel("gate scale C (largest gate, M)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("|free output − α·y*| / α·y*")
    fig.suptitle("relative error of the DNA network's output: solid at the predicted settle time, dotted at twice it",
                 fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def main() -> None:
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"machine: {machine}")
    started = time.perf_counter()
    results = []
    for alpha in ALPHAS:
        w, b, x = NEURONS["w+ b-"]
        results.append(sweep("w+ b-", neuron(w, b), [x], alpha))
    w, b, x = NEURONS["w+ b-"]
    results.append(sweep("w+ b-", neuron(w, b), [x], ALPHA, condensed=True))
    for name, (w, b, x) in NEURONS.items():
        if name != "w+ b-":
            results.append(sweep(name, neuron(w, b), [x], ALPHA))
    results.append(sweep("1-1-1 chain", chain(), [1.0], ALPHA, scales=GATE_SCALES[:7]))
    if "--with-221" in sys.argv:
        results.append(sweep("2-2-1", network_221(), [1.0, 0.3], ALPHA, scales=(1e-6,)))
    total = time.perf_counter() - started
    write_json(HERE / "kinetics.json", {"machine": machine, "seconds": total, "eps": EPS,
                                        "multiples_of_settle_time": list(MULTIPLES), "results": results})
    write_atomic(HERE / "kinetics.png", figure(results))
    print(f"wrote {HERE / 'kinetics.json'} and kinetics.png in {total:.0f} s")


if __name__ == "__main__":
    main()
