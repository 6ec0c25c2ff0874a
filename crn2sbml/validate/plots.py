"""Figures for the validation report (matplotlib, non-interactive Agg backend, PNG bytes out)."""

from __future__ import annotations

import io

import numpy as np


def new_figure(width: float = 9.0, height: float = 4.0, ncols: int = 2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(1, ncols, figsize=(width, height))


def to_png(plt, fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def agreement_figure(title: str, network_out: np.ndarray, crn_out: np.ndarray, labels: np.ndarray,
                     n_classes: int) -> bytes:
    """Left: CRN vs network output concentrations (every output of every sample). Right: CRN confusion matrix."""
    plt, fig, (ax1, ax2) = new_figure()
    ax1.scatter(network_out.ravel(), crn_out.ravel(), s=6, alpha=0.5)
    lim = [0, max(network_out.max(), crn_out.max()) * 1.05]
    ax1.plot(lim, lim, "k--", lw=0.8)
    ax1.set_xlabel("network output σ_eps")
    ax1.set_ylabel("CRN steady-state concentration")
    diff = np.abs(crn_out - network_out).max()
    ax1.set_title(f"{title}: max |CRN − network| = {diff:.1e}")
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    for true, pred in zip(labels, crn_out.argmax(axis=1), strict=True):
        confusion[true, pred] += 1
    ax2.imshow(confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(confusion):
        if v:
            ax2.text(j, i, str(v), ha="center", va="center", fontsize=7,
                     color="white" if v > confusion.max() / 2 else "black")
    ax2.set_xlabel("CRN predicted class")
    ax2.set_ylabel("true class")
    ax2.set_title(f"CRN confusion matrix (accuracy {np.mean(crn_out.argmax(1) == labels):.3f})")
    return to_png(plt, fig)


def convergence_figure(title: str, times: np.ndarray, trajectory: np.ndarray, fixed: np.ndarray,
                       measured: np.ndarray, predicted: np.ndarray, bound: float) -> bytes:
    """Left: relative distance of each output species to its fixed point, from zero (log scale).
    Right: measured decay rate per neuron vs the linearisation, with the 2 sqrt(eps) bound."""
    plt, fig, (ax1, ax2) = new_figure()
    dist = np.abs(trajectory - fixed) / fixed
    for j in range(dist.shape[1]):
        ax1.semilogy(times, np.maximum(dist[:, j], 1e-16), lw=1)
    ax1.semilogy(times, np.exp(-bound * times), "k--", lw=1, label="exp(−bound·t)")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("|y − y*| / y*  (outputs, from y = 0)")
    ax1.set_title(f"{title}: convergence")
    ax1.legend()
    ax2.scatter(predicted, measured, s=10)
    lim = [0, max(predicted.max(), measured.max()) * 1.05]
    ax2.plot(lim, lim, "k--", lw=0.8, label="measured = predicted")
    ax2.axhline(bound, color="r", lw=0.8, label=f"slowest possible rate {bound:.3g} (2√eps for σ_eps)")
    ax2.set_xlabel("predicted rate −∂f/∂y(y*) (1/s)")
    ax2.set_ylabel("measured decay rate (1/s)")
    ax2.set_title(f"per-neuron rates (min ratio to bound {np.min(measured / bound):.2f})")
    ax2.legend()
    return to_png(plt, fig)


def settle_time_figure(rows: list[dict]) -> bytes:
    """Settle time vs depth, one line per eps, with the single-neuron reference time."""
    plt, fig, (ax1, ax2) = new_figure()
    eps_values = sorted({r["eps"] for r in rows})
    for eps in eps_values:
        sel = [r for r in rows if r["eps"] == eps]
        line, = ax1.plot([r["depth"] for r in sel], [r["settle_time"] for r in sel], "o-", label=f"eps={eps:g}")
        ax1.axhline(sel[0]["single_neuron_reference"], color=line.get_color(), ls=":", lw=0.8)
    ax1.set_yscale("log")
    ax1.set_xlabel("depth (layers)")
    ax1.set_ylabel("time to 1e-6 relative error (s)")
    ax1.set_title("settle time vs depth (dotted: ln(1e6)/(2√eps))")
    ax1.legend(fontsize=7)
    for depth in sorted({r["depth"] for r in rows}):
        sel = [r for r in rows if r["depth"] == depth]
        ax2.loglog([1 / np.sqrt(r["eps"]) for r in sel], [r["settle_time"] for r in sel], "o-", label=f"depth {depth}")
    ax2.set_xlabel("1/√eps")
    ax2.set_ylabel("settle time (s)")
    ax2.set_title("settle time vs 1/√eps")
    ax2.legend(fontsize=7)
    return to_png(plt, fig)


def eps_tradeoff_figure(rows: list[dict]) -> bytes:
    plt, fig, (ax1, ax2) = new_figure()
    eps = np.array([r["eps"] for r in rows])
    ax1.loglog(eps, [r["max_gap_to_relu"] for r in rows], "o", label="measured max |σ_eps − ReLU|")
    ax1.loglog(eps, np.sqrt(eps), "k--", label="√eps")
    ax1.set_xlabel("eps")
    ax1.set_title("accuracy cost: distance to ReLU")
    ax1.legend()
    ax2.loglog(eps, [r["slowest_rate"] for r in rows], "o", label="measured slowest rate (u = 0)")
    ax2.loglog(eps, 2 * np.sqrt(eps), "k--", label="2√eps")
    ax2.set_xlabel("eps")
    ax2.set_ylabel("1/s")
    ax2.set_title("speed cost: slowest relaxation rate")
    ax2.legend()
    return to_png(plt, fig)
