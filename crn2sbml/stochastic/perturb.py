"""Rate-constant error: the deterministic fixed point of a network whose every rate constant is off.

A lab realises each rate constant only to within ±20–50 %. :func:`lognormal_factors` draws one positive
factor per reaction (log-normal with mean 1 and coefficient of variation ``cv``); :func:`perturbed_fixed_point`
settles the perturbed network without integrating anything: each neuron's ODE stays a polynomial in its own
concentration whose coefficients depend only on upstream species,

    dy/dt = Σ_p c_p · y^p,   c_p = Σ_{reactions r of power p} ±k_r·f_r · (catalyst r's concentration, or 1),

so layer by layer the fixed point is the positive root of that polynomial — for the smoothed ReLU
``eps' + u'·y − k'_lim·y²`` it is ``(u' + sqrt(u'² + 4 eps' k'_lim)) / (2 k'_lim)`` — vectorised over
perturbations and samples with numpy. Positive factors keep every coefficient's sign, so Descartes' rule still
certifies exactly one positive root (the activation's own check).
"""

from __future__ import annotations

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError

MAX_CV = 10.0
"""Coefficients of variation above this (1000 % rate error) are refused as a typo."""


def check_cv(cv: float, where: str = "rate cv") -> float:
    value = float(cv)
    if not (np.isfinite(value) and 0 <= value <= MAX_CV):
        raise InputError(f"{where}: coefficient of variation must be in [0, {MAX_CV:g}], got {cv!r}")
    return value


def lognormal_factors(rng: np.random.Generator, n_perturbations: int, n_reactions: int, cv: float) -> np.ndarray:
    """``(n_perturbations, n_reactions)`` factors ``exp(N(−s²/2, s²))`` with ``s² = ln(1 + cv²)``: mean 1, CV ``cv``."""
    cv = check_cv(cv)
    s2 = np.log1p(cv * cv)
    return np.exp(rng.normal(-0.5 * s2, np.sqrt(s2), size=(int(n_perturbations), int(n_reactions))))


def _positive_root(coef: np.ndarray) -> np.ndarray:
    """Positive root of ``Σ_p coef[..., p] y^p`` (exactly one, ``coef[..., 0] > 0``), elementwise."""
    degree = coef.shape[-1] - 1
    c = [coef[..., p] for p in range(degree + 1)]
    if degree == 2 and not np.any(c[1] * 0 != 0):
        # c0 + c1 y + c2 y² with c0 > 0 > c2: the closed form, written without cancellation for c1 < 0
        disc = np.sqrt(c[1] * c[1] - 4.0 * c[0] * c[2])
        with np.errstate(divide="ignore", invalid="ignore"):
            big = (c[1] + disc) / (-2.0 * c[2])
            small = 2.0 * c[0] / (disc - c[1])
        return np.where(c[1] >= 0, big, small)

    def f(y: np.ndarray) -> np.ndarray:
        return sum(c[p] * y**p for p in range(degree + 1))

    def df(y: np.ndarray) -> np.ndarray:
        return sum(p * c[p] * y ** (p - 1) for p in range(1, degree + 1))

    # bracket by doubling, bisect, polish with Newton (f > 0 below the root, < 0 above it)
    lo, hi = np.zeros_like(c[0]), np.ones_like(c[0])
    for _ in range(200):
        up = f(hi) > 0
        if not up.any():
            break
        hi = np.where(up, hi * 2.0, hi)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        pos = f(mid) > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    y = 0.5 * (lo + hi)
    for _ in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f(y) / df(y)
        y = np.where(np.isfinite(step), y - step, y)
    return y


def perturbed_fixed_point(compiled: CompiledNetwork, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
    """Neuron fixed points ``(n_perturbations, n_samples, n_neurons)`` for rate factors ``(n_perturbations,
    n_reactions)`` (default: one unperturbed network) and inputs ``x`` ``(n_samples, n_inputs)``."""
    x = compiled.network.check_inputs(x)
    reactions = compiled.crn.reactions
    f = np.ones((1, len(reactions))) if factors is None else np.atleast_2d(np.asarray(factors, dtype=float))
    if f.shape[1] != len(reactions) or not np.all(np.isfinite(f) & (f > 0)):
        raise InputError(f"factors must be finite positive numbers of shape (n, {len(reactions)}), got {f.shape}")
    n_pert, n_samples = f.shape[0], x.shape[0]
    degree = compiled.network.activation.degree
    reaction_index = {r.id: j for j, r in enumerate(reactions)}
    by_species: dict[str, list] = {}
    for r in reactions:
        for species, change in r.net_change().items():
            by_species.setdefault(species, []).append((r, change))
    upstream = {s: np.broadcast_to(x[:, i], (n_pert, n_samples)) for i, s in enumerate(compiled.input_species)}
    out = []
    for ids in compiled.layer_species:
        layer_values = []
        for species in ids:
            coef = np.zeros((n_pert, n_samples, degree + 1))
            for r, change in by_species[species]:
                power = dict(r.reactants).get(species, 0)
                term = change * r.rate_constant * f[:, reaction_index[r.id]][:, None]
                for catalyst in r.catalysts():
                    term = term * upstream[catalyst]
                coef[..., power] += np.broadcast_to(term, (n_pert, n_samples))
            layer_values.append(_positive_root(coef))
        # a layer's species are catalysts only of the next layer: the values enter as soon as the layer is done
        upstream.update(zip(ids, layer_values, strict=True))
        out.extend(layer_values)
    return np.stack(out, axis=-1)


def perturbed_outputs(compiled: CompiledNetwork, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
    """Output fixed points ``(n_perturbations, n_samples, n_outputs)``."""
    return perturbed_fixed_point(compiled, x, factors)[..., -compiled.network.n_outputs:]
