"""Robustness figures (matplotlib Agg, PNG bytes out; the caller writes them with crn2sbml.io.write_atomic)."""

from __future__ import annotations

import numpy as np

from crn2sbml.validate.plots import new_figure, to_png


def ensemble_figure(title: str, rows: list[dict]) -> bytes:
    """Accuracy (or agreement) and mean output error against Ω, one line per rate CV (∞ drawn at the right)."""
    plt, fig, (ax1, ax2) = new_figure(9.0, 3.8)
    finite = sorted({r["omega"] for r in rows if r["omega"] is not None})
    x_inf = (finite[-1] * 10) if finite else 1.0
    for cv in sorted({r["rate_cv"] for r in rows}):
        sel = sorted((r for r in rows if r["rate_cv"] == cv), key=lambda r: r["omega"] or np.inf)
        xs = [r["omega"] if r["omega"] is not None else x_inf for r in sel]
        key = "accuracy" if "accuracy" in sel[0] else "agreement"
        ax1.plot(xs, [r[key] for r in sel], "o-", label=f"rate CV {cv:g}")
        ax2.plot(xs, [r["mean_abs_error"] for r in sel], "o-", label=f"rate CV {cv:g}")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("Ω, molecules per unit concentration (rightmost: Ω = ∞)")
        ax.legend(fontsize=8)
    ax1.set_ylabel("accuracy")
    ax2.set_ylabel("mean |readout − network output|")
    ax2.set_yscale("log")
    ax1.set_title(title)
    return to_png(plt, fig)


def omega_figure(per_model: dict[str, dict]) -> bytes:
    """Left: accuracy / deterministic accuracy vs Ω (CLE lines, LNA dashed, exact SSA subset crosses).
    Right: mean |readout − network output| of the CLE and the SSA, and as the LNA predicts it (dashed)."""
    plt, fig, (ax1, ax2) = new_figure(11.0, 4.4)
    for i, (name, data) in enumerate(per_model.items()):
        color, det = f"C{i}", data["deterministic_accuracy"]
        cle, lna, ssa = data["cle"], data["lna"], data["ssa"]
        ax1.plot(cle["omegas"], np.array(cle["accuracy"]) / det, "o-", color=color, ms=3, label=f"{name} (CLE)")
        ax1.plot(lna["omegas"], np.array(lna["accuracy"]) / det, "--", color=color, lw=0.8)
        if ssa["omegas"]:
            ax1.plot(ssa["omegas"], np.array(ssa["accuracy"]) / np.array(ssa["deterministic_accuracy_subset"]),
                     "x", color=color, ms=7)
            ax2.plot(ssa["omegas"], ssa["mean_abs_error"], "x", color=color, ms=7)
        ax2.plot(cle["omegas"], cle["mean_abs_error"], "o-", color=color, ms=3, label=name)
        ax2.plot(lna["omegas"], lna["mean_abs_error"], "--", color=color, lw=0.8)
    ax1.axhline(0.99, color="k", lw=0.6, ls=":")
    ax1.set_ylabel("accuracy / deterministic accuracy")
    ax1.set_title("CLE (lines), LNA (dashed), exact SSA subset (x)", fontsize=9)
    ax2.set_ylabel("mean |readout − network output|")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("Ω, molecules per unit concentration")
    ax2.set_yscale("log")
    ax1.legend(fontsize=6)
    ax2.legend(fontsize=6)
    return to_png(plt, fig)


def rate_cv_figure(per_model: dict[str, dict]) -> bytes:
    """Per zoo model: accuracy and output error against the rate constants' coefficient of variation."""
    plt, fig, (ax1, ax2) = new_figure(10.0, 4.0)
    for name, data in per_model.items():
        cvs = data["rate_cv"]
        ax1.plot(cvs, data["accuracy"], "o-", label=name)
        ax2.plot(cvs, data["mean_abs_error"], "o-", label=name)
    ax1.set_xlabel("rate constant coefficient of variation")
    ax2.set_xlabel("rate constant coefficient of variation")
    ax1.set_ylabel("accuracy (mean over perturbations)")
    ax2.set_ylabel("mean |output − network output|")
    ax1.legend(fontsize=7)
    return to_png(plt, fig)
