"""Figures for the validation report (matplotlib, non-interactive Agg backend, PNG bytes out)."""

from __future__ import annotations

import io

import numpy as np


def _figure(width: float = 9.0, height: float = 4.0, ncols: int = 2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(1, ncols, figsize=(width, height))


def _png(plt, fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def agreement_figure(title: str, network_out: np.ndarray, crn_out: np.ndarray, labels: np.ndarray,
                     n_classes: int) -> bytes:
    """Left: CRN vs network output concentrations (every output of every sample). Right: CRN confusion matrix."""
    plt, fig, (ax1, ax2) = _figure()
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
    return _png(plt, fig)
