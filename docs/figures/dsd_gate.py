"""Draw docs/figures/dsd_gate.png: the gate and fuel of a weight reaction and of a self-limitation reaction.

Every domain, strand and pairing is taken from crn2sbml.dsd.scheme.translate on a compiled one-input neuron,
so the figure shows the design crn2sbml writes to dsd.pil, not a hand-drawn copy of it.

    .venv/bin/python docs/figures/dsd_gate.py
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from crn2sbml.compiler import compile_network  # noqa: E402
from crn2sbml.dsd.scheme import TOEHOLD, DsdComplex, DsdDesign, translate  # noqa: E402
from crn2sbml.io import write_atomic  # noqa: E402
from crn2sbml.nn.activations import smoothed_relu_activation  # noqa: E402
from crn2sbml.nn.network import FeedForwardNetwork, Layer  # noqa: E402

OUT = Path(__file__).resolve().with_suffix(".png")
BOTTOM_Y, TOP_Y, SIGNAL_Y = 0.0, 0.42, 2.35
TAIL_DX, TAIL_DY = 3.0, 0.8  # the dangling third domain of a top strand, drawn up from its t


def colour(domain: str) -> str:
    name = domain.rstrip("*")
    if name == TOEHOLD:
        return "#d62728"
    if name.endswith("x1"):
        return "#1f77b4" if name.startswith(("s_", "h_")) else "#7f7f7f"  # x1's domains; w<k>x1 is a waste tail
    if name.endswith("y1"):
        return "#2ca02c"
    if name[0] in "uv":
        return "#9467bd"
    return "#7f7f7f"


def positions(bottom: tuple[str, ...], design: DsdDesign) -> np.ndarray:
    """Left edge (in nucleotides) of every bottom-strand domain, plus the right end."""
    return np.concatenate([[0.0], np.cumsum([design.domains[d.rstrip("*")] for d in bottom])])


def strand(ax, xs: list[float], domains: tuple[str, ...], y: float, *, label_above: bool = True,
           arrow: bool = True) -> None:
    """A horizontal strand 5' -> 3' left to right over the edges ``xs``; a half arrow marks the 3' end."""
    for (a, b), d in zip(zip(xs, xs[1:], strict=False), domains, strict=True):
        ax.plot([a + 0.4, b - 0.4], [y, y], color=colour(d), lw=4, solid_capstyle="butt")
        ax.text((a + b) / 2, y + (0.12 if label_above else -0.17), d, ha="center",
                va="bottom" if label_above else "top", fontsize=8)
    if arrow:
        hook(ax, xs[-1] - 0.4, y, -1.8, 0.16, colour(domains[-1]))


def hook(ax, x: float, y: float, dx: float, dy: float, color: str) -> None:
    """The half arrow that marks a strand's 3' end."""
    ax.plot([x, x + dx], [y, y + dy], color=color, lw=2)


def gate_panel(ax, gate: DsdComplex, fuel: DsdComplex, design: DsdDesign, title: str) -> None:
    tops, bottom = gate.strands[:-1], tuple(reversed(gate.strands[-1]))  # bottom read 3' -> 5', left to right
    n_reactants = len(design_reaction(design, gate).reactants)
    x = positions(bottom, design)
    # bottom strand: 3' at the left, so its domains read t* r1* t* ... left to right
    strand(ax, list(x), bottom, BOTTOM_Y, label_above=False, arrow=False)
    hook(ax, x[0] + 0.4, BOTTOM_Y, 1.8, 0.16, colour(bottom[0]))
    ax.text(x[0] - 1.5, BOTTOM_Y, "3'", ha="right", va="center", fontsize=8)
    ax.text(x[-1] + 1.5, BOTTOM_Y, "5'", ha="left", va="center", fontsize=8)
    # top strands: (a, t, tail) pairs a with a* and t with the t* to its right; the tail dangles
    for i, top in enumerate(tops):
        a, b = x[1 + 2 * i], x[3 + 2 * i]
        for k in np.arange(a + 1.5, b - 0.5, 3.0):  # base pairs
            ax.plot([k, k], [BOTTOM_Y + 0.05, TOP_Y - 0.05], color="#bbbbbb", lw=0.6)
        strand(ax, [a, x[2 + 2 * i], b], top[:2], TOP_Y, arrow=False)
        tip = (b - 0.4 + TAIL_DX, TOP_Y + TAIL_DY)
        ax.plot([b - 0.4, tip[0]], [TOP_Y + 0.03, tip[1]], color=colour(top[2]), lw=4, solid_capstyle="butt")
        hook(ax, tip[0], tip[1], -1.6, -0.12, colour(top[2]))
        ax.text(tip[0] + 0.8, tip[1], top[2], ha="left", va="center", fontsize=8)
    # the open toehold
    ax.annotate("open toehold", xy=((x[0] + x[1]) / 2, BOTTOM_Y - 0.45), xytext=((x[0] + x[1]) / 2, -1.25),
                ha="center", fontsize=9, color="#d62728", arrowprops={"arrowstyle": "->", "color": "#d62728"})
    # reactant signals, each above the toehold and recognition domain it binds
    for j, reactant in enumerate(design_reaction(design, gate).reactants):
        signal = next(s for s in design.signals if s.name == reactant).strands[0]  # (h, t, s)
        a, b, c = x[2 * j], x[2 * j + 1], x[2 * j + 2]
        left = a - design.domains[signal[0]]
        y = SIGNAL_Y + 0.55 * j
        strand(ax, [left, a, b, c], signal, y)
        ax.text(left - 1.0, y, f"{'①②'[j]} {reactant}", ha="right", va="center", fontsize=9, fontweight="bold")
        ax.annotate("", xy=((b + c) / 2, TOP_Y + 0.35), xytext=((b + c) / 2, y - 0.05),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "ls": "--"})
    # the fuel, above the toehold before the spacer: it displaces the spacer and every product strand
    start = 2 * n_reactants
    fx = list(x[start:])
    y = SIGNAL_Y + 0.55 * n_reactants
    strand(ax, fx, fuel.strands[0], y)
    ax.text(fx[0] - 1.0, y, f"{'①②③'[n_reactants]} fuel {fuel.name}", ha="right", va="center", fontsize=9,
            fontweight="bold")
    ax.annotate("", xy=(fx[0] + 3, TOP_Y + 0.35), xytext=(fx[0] + 3, y - 0.05),
                arrowprops={"arrowstyle": "->", "color": "#555555", "ls": "--"})
    ax.set_title(f"{title}: gate {gate.name} ({len(gate.strands)} strands) and fuel {fuel.name}", fontsize=11,
                 loc="left")
    ax.set_xlim(x[0] - 30, x[-1] + 24)
    ax.set_ylim(-1.5, SIGNAL_Y + 0.55 * n_reactants + 0.6)
    ax.axis("off")


def design_reaction(design: DsdDesign, gate: DsdComplex):
    return next(r for r in design.formal if r.id == gate.reaction)


def figure() -> bytes:
    # one neuron y1 with input x1: its CRN has a weight reaction x1 + y1 -> x1 + 2 y1 and the limit 2 y1 -> y1
    neuron = FeedForwardNetwork((Layer(np.array([[1.5]]), np.array([-0.3])),), smoothed_relu_activation(0.05))
    design = translate(compile_network(neuron).crn)
    panels = {"y1_w_x1": "Weight reaction x1 + y1 → x1 + 2 y1 (rate |w|)",
              "y1_limit": "Self-limitation 2 y1 → y1 (rate 1)"}
    fig, axes = plt.subplots(2, 1, figsize=(13, 8.4), gridspec_kw={"height_ratios": [1.25, 1.1]})
    for ax, (reaction, title) in zip(axes, panels.items(), strict=True):
        k = next(i for i, g in enumerate(design.gates) if g.reaction == reaction)
        gate_panel(ax, design.gates[k], design.fuels[k], design, title)
    fig.text(0.01, 0.01, "Domains from crn2sbml.dsd.scheme (toehold t = 6 nt, others 15 nt; lengths to scale). "
             "Each reactant binds the open toehold and displaces the top strand beside it (a waste s t w), opening "
             "the next toehold;\nthe fuel then displaces the spacer u t v and releases every product strand h t s "
             "(the signals), leaving the gate fully double-stranded.\nHalf arrows mark 3' ends. Red: toehold; "
             "blue: x1; green: y1; purple: gate spacer; grey: waste tails.", fontsize=8.5, va="bottom")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


if __name__ == "__main__":
    print(f"wrote {write_atomic(OUT, figure())}")
