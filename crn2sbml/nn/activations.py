"""Activations realised by one species: the positive root ``y*(u)`` of a polynomial ``f(y; u)``.

``f(y; u) = sum_p (a_p + b_p·u) · y^p``.  Mass action can realise ``dy/dt = f(y; u)`` when every term
that can be negative carries a factor ``y`` (docs/theory.md §5): ``a_p < 0`` or ``b_p != 0`` only for ``p >= 1``.
The fixed point is a valid activation when ``f(0; u) > 0``, ``f`` has exactly one positive root for every
``u`` (certified by Descartes' rule of signs: exactly one sign change in the coefficient sequence, for every
``u``) and ``∂f/∂y < 0`` there (checked numerically on a grid of ``u``).

The smoothed ReLU is ``eps + u·y - y²`` with the closed form ``σ_eps(u) = (u + sqrt(u² + 4 eps)) / 2``.

This module is the one definition of ``f``, ``∂f/∂y``, ``∂f/∂u``, the root ``y*(u)`` and the slowest rate.
The polynomial evaluations (:func:`polynomial_f`, :func:`polynomial_dfdy`, :func:`polynomial_dfdu` and the
methods that call them) use only ``+``, ``*`` and ``**``, so they accept numpy arrays, jax arrays and jax
tracers alike (inside ``jax.jit`` and ``jax.grad``); :func:`smoothed_relu` takes the array namespace as
``xp``. Training (:mod:`crn2sbml.nn.train`) and the JAX simulator evaluate the activation through these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from crn2sbml.errors import ActivationError
from crn2sbml.validate.inputs import check_activation_powers

Term = tuple[int, float, float]
"""``(power p, constant coefficient a_p, u coefficient b_p)``."""

Array = Any
"""A numpy array, a jax array or tracer, or a float: whatever supports ``+``, ``*`` and ``**``."""


def polynomial_f(terms: Iterable[tuple[int, Any, Any]], y: Array, u: Array) -> Array:
    """``f(y; u) = sum_p (a_p + b_p u) y^p`` elementwise, for ``terms`` of ``(p, a_p, b_p)``.

    ``a_p``/``b_p`` may be floats or 0-d arrays (the JAX simulator passes them as traced arguments, so one
    compiled solver serves every network of a shape). The expression is kept exactly as training has always
    written it: the zoo's weights are reproduced bit for bit from their seeds.
    """
    return sum((a + b * u) * y**p for p, a, b in terms)


def polynomial_dfdy(terms: Iterable[tuple[int, Any, Any]], y: Array, u: Array) -> Array:
    """``∂f/∂y = sum_{p >= 1} p (a_p + b_p u) y^(p-1)`` elementwise (see :func:`polynomial_f`)."""
    return sum(p * (a + b * u) * y ** (p - 1) for p, a, b in terms if p > 0)


def polynomial_dfdu(terms: Iterable[tuple[int, Any, Any]], y: Array, u: Array) -> Array:
    """``∂f/∂u = sum_p b_p y^p`` elementwise (see :func:`polynomial_f`); ``f`` is affine in ``u``, so ``u`` is
    unused, and taken only so the three evaluations share one signature."""
    del u
    return sum(b * y**p for p, _, b in terms)


@dataclass(frozen=True)
class PolynomialActivation:
    """``f(y; u) = sum (a_p + b_p u) y^p``, checked on construction (see module docstring)."""

    terms: tuple[Term, ...]
    name: str = "polynomial"

    def __post_init__(self) -> None:
        # before anything else: the root checks below allocate arrays of the degree's size
        check_activation_powers([p for p, _, _ in self.terms], where=self.name)
        powers = [p for p, _, _ in self.terms]
        if len(set(powers)) != len(powers):
            raise ActivationError(f"{self.name}: each power of y may appear only once, got {powers}")
        if sorted(powers) != powers:
            raise ActivationError(f"{self.name}: terms must be sorted by power, got {powers}")
        for p, a, b in self.terms:
            if p < 0 or not (np.isfinite(a) and np.isfinite(b)):
                raise ActivationError(f"{self.name}: bad term (power {p}, {a}, {b})")
            if p == 0 and b != 0:
                raise ActivationError(
                    f"{self.name}: not realisable by mass action: the term {b}·u has no factor y, and "
                    "u takes either sign, so it would need a negative rate constant"
                )
            if p == 0 and a < 0:
                raise ActivationError(
                    f"{self.name}: not realisable by mass action: the negative constant term {a} has no factor y"
                )
        if self.eps <= 0:
            raise ActivationError(
                f"{self.name}: f(0; u) = {self.eps} must be > 0 so that y stays positive"
            )
        self._check_descartes()
        self._check_roots_numerically()

    @property
    def eps(self) -> float:
        """The inflow rate ``f(0; u)`` (the constant term ``a_0``); for the smoothed ReLU this is eps."""
        return sum(a for p, a, _ in self.terms if p == 0)

    @property
    def degree(self) -> int:
        return max(p for p, _, _ in self.terms)

    def coefficients(self, u: float) -> list[tuple[int, float]]:
        return [(p, a + b * u) for p, a, b in self.terms]

    def _sign_changes(self, u: float) -> int:
        signs = [np.sign(c) for _, c in self.coefficients(u) if c != 0]
        return sum(1 for s, t in zip(signs, signs[1:], strict=False) if s != t)

    def _check_descartes(self) -> None:
        # The coefficients are affine in u, so the sign pattern only changes at u = -a_p/b_p: checking each
        # breakpoint, points between them and both far ends covers every u.
        breaks = sorted({-a / b for _, a, b in self.terms if b != 0})
        probes = [-1e9, 1e9, *breaks]
        probes += [x + d for x in breaks for d in (-1e-6 * max(1, abs(x)), 1e-6 * max(1, abs(x)))]
        for u in probes:
            changes = self._sign_changes(u)
            if changes != 1:
                raise ActivationError(
                    f"{self.name}: Descartes' rule does not certify exactly one positive root: the coefficients "
                    f"of f(y; u={u:.4g}) have {changes} sign changes (need exactly 1 for every u)"
                )

    def _check_roots_numerically(self) -> None:
        for u in np.linspace(-20, 20, 41):
            poly = np.zeros(self.degree + 1)
            for p, c in self.coefficients(float(u)):
                poly[self.degree - p] = c
            roots = np.roots(poly)
            positive = [r.real for r in roots if abs(r.imag) < 1e-9 * max(1, abs(r)) and r.real > 0]
            if len(positive) != 1:
                raise ActivationError(f"{self.name}: f(y; u={u:g}) has {len(positive)} positive roots, need 1")
            if self.dfdy(np.array(positive), np.array(u))[0] >= 0:
                raise ActivationError(f"{self.name}: the positive root at u={u:g} is not stable (∂f/∂y >= 0)")

    # ---- evaluation: elementwise over any shape, numpy or jax (see the module docstring) ----
    def f(self, y: Array, u: Array) -> Array:
        """``f(y; u)``: :func:`polynomial_f` of this activation's terms."""
        return polynomial_f(self.terms, y, u)

    def dfdy(self, y: Array, u: Array) -> Array:
        """``∂f/∂y``: :func:`polynomial_dfdy` of this activation's terms."""
        return polynomial_dfdy(self.terms, y, u)

    def dfdu(self, y: Array, u: Array) -> Array:
        """``∂f/∂u``: :func:`polynomial_dfdu` of this activation's terms."""
        return polynomial_dfdu(self.terms, y, u)

    def closed_form(self, u: Array, xp: ModuleType = np) -> Array:
        """``y*(u)`` in the array namespace ``xp`` (``numpy`` or ``jax.numpy``) where a closed form exists:
        the smoothed ReLU. Other activations raise :class:`ActivationError`; solve them numerically
        (:meth:`__call__` for numpy)."""
        if not self.is_smoothed_relu():
            raise ActivationError(f"{self.name}: f(y; u) = {self.describe()} has no closed-form root")
        return smoothed_relu(u, self.eps, xp=xp)

    def rate_bound(self) -> float:
        """The slowest possible relaxation rate ``min_u -∂f/∂y(y*(u); u)`` (1/s at time scale 1).

        ``f`` is affine in ``u``, so every ``y > 0`` is the fixed point of exactly one ``u = -A(y)/B(y)``
        (``A``, ``B`` the u-free and u-coefficient polynomials); the bound is the minimum over ``y`` on a
        dense log grid. For the smoothed ReLU it is ``2 sqrt(eps)``, at ``u = 0``.
        """
        if self.is_smoothed_relu():
            return float(2.0 * np.sqrt(self.eps))
        y = np.logspace(-8, 8, 200001)
        a = sum(a_p * y**p for p, a_p, _ in self.terms)
        b = sum(b_p * y**p for p, _, b_p in self.terms)
        u = -a / b
        return float(np.min(-self.dfdy(y, u)))

    def is_smoothed_relu(self) -> bool:
        return [(p, b) for p, _, b in self.terms] == [(0, 0.0), (1, 1.0), (2, 0.0)] and [
            a for _, a, _ in self.terms
        ][1:] == [0.0, -1.0]

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """The fixed point ``y*(u) > 0``, elementwise."""
        u = np.asarray(u, dtype=float)
        if self.is_smoothed_relu():
            return smoothed_relu(u, self.eps)
        return self._solve(u)

    def derivative(self, u: np.ndarray) -> np.ndarray:
        """``dy*/du = -f_u / f_y`` at the fixed point (implicit function theorem)."""
        y = self(u)
        return -self.dfdu(y, u) / self.dfdy(y, u)

    def _solve(self, u: np.ndarray) -> np.ndarray:
        # f(0) > 0 and f -> -inf with one positive root: bracket it by doubling, bisect, then polish with
        # Newton. Written here rather than calling scipy's scalar root finders to stay vectorised.
        lo = np.zeros_like(u)
        hi = np.ones_like(u)
        for _ in range(200):
            up = self.f(hi, u) > 0
            if not up.any():
                break
            hi = np.where(up, hi * 2, hi)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            pos = self.f(mid, u) > 0
            lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
        y = 0.5 * (lo + hi)
        for _ in range(3):
            step = self.f(y, u) / self.dfdy(y, u)
            y = np.where(np.isfinite(step), y - step, y)
        return y

    def to_arrays(self) -> dict[str, np.ndarray]:
        arr = np.array(self.terms, dtype=float)
        return {"activation_terms": arr}

    def describe(self) -> str:
        """Human-readable form, e.g. ``0.05 + u·y - y^2``."""
        parts = []
        for p, a, b in self.terms:
            mono = "" if p == 0 else ("y" if p == 1 else f"y^{p}")
            for coef, symbol in ((a, ""), (b, "u")):
                if coef:
                    factors = [f"{abs(coef):g}"] if abs(coef) != 1 or not (symbol or mono) else []
                    parts.append(("- " if coef < 0 else "+ ") + "·".join(factors + [x for x in (symbol, mono) if x]))
        text = " ".join(parts)
        return text[2:] if text.startswith("+ ") else "-" + text[2:]


def smoothed_relu(u: Array, eps: float, xp: ModuleType = np) -> Array:
    """``σ_eps(u) = (u + sqrt(u² + 4 eps)) / 2``, written stably for very negative ``u``.

    ``xp`` is the array namespace: ``numpy`` (the default; ``u`` is converted to float64) or ``jax.numpy``
    (``u`` keeps its dtype, so 32-bit training stays 32-bit).
    """
    if xp is np:
        u = np.asarray(u, dtype=float)
    root = xp.sqrt(u * u + 4.0 * eps)
    # For u << 0, u + root cancels; σ(u) = eps / σ(-u) = 2 eps / (root + |u|) is exact and stable. |u| (not -u)
    # keeps the unused branch finite too: where() evaluates both, and root - u can round to 0 for large u > 0
    # (under jax.grad an inf there would turn the selected branch's gradient into NaN).
    return xp.where(u >= 0, 0.5 * (u + root), 2.0 * eps / (root + xp.abs(u)))


def smoothed_relu_activation(eps: float) -> PolynomialActivation:
    """``f = eps + u·y - y²`` (docs/theory.md §1)."""
    return power_activation(eps, 2)


def power_activation(eps: float, k: int) -> PolynomialActivation:
    """``f = eps + u·y - y^k`` (k >= 2); large-u growth ``y ≈ u^(1/(k-1))``."""
    if k < 2:
        raise ActivationError(f"power activation needs k >= 2, got {k}")
    name = "smoothed_relu" if k == 2 else f"power{k}"
    return PolynomialActivation(((0, float(eps), 0.0), (1, 0.0, 1.0), (k, -1.0, 0.0)), name=name)


def saturating_activation(eps: float, gamma: float = 0.1) -> PolynomialActivation:
    """``f = eps + u·y - y² - gamma·y³``: ReLU-like near 0, grows only like sqrt(u/gamma) for large u.

    Justification: in a deep cascade the smoothed ReLU lets concentrations grow linearly with the input
    drive; the cubic sink caps them, which keeps a wet-lab implementation inside a plausible concentration
    range while the coefficient sequence (+, ±, -, -) still has exactly one sign change for every u.
    """
    return PolynomialActivation(
        ((0, float(eps), 0.0), (1, 0.0, 1.0), (2, -1.0, 0.0), (3, -float(gamma), 0.0)), name="saturating"
    )


def activation_from_arrays(terms: np.ndarray, name: str = "polynomial") -> PolynomialActivation:
    terms = np.asarray(terms, dtype=float)
    if terms.ndim != 2 or terms.shape[1] != 3:
        raise ActivationError(f"activation_terms must have shape (n, 3), got {terms.shape}")
    if not np.all(terms[:, 0] == np.round(terms[:, 0])):
        raise ActivationError("activation_terms: powers must be integers")
    check_activation_powers(terms[:, 0], where="activation_terms")  # before int(): a power may be inf or 1e300
    tuples = tuple((int(p), float(a), float(b)) for p, a, b in terms)
    act = PolynomialActivation(tuples, name=name)
    if act.is_smoothed_relu():
        return PolynomialActivation(tuples, name="smoothed_relu")
    return act


ACTIVATIONS = ("smoothed_relu", "power3", "power4", "saturating")


def make_activation(name: str, eps: float) -> PolynomialActivation:
    """One of :data:`ACTIVATIONS` with inflow ``eps``."""
    if not (np.isfinite(eps) and eps > 0):
        raise ActivationError(f"eps must be finite and > 0, got {eps}")
    if name == "smoothed_relu":
        return smoothed_relu_activation(eps)
    if name in ("power3", "power4"):
        return power_activation(eps, int(name[-1]))
    if name == "saturating":
        return saturating_activation(eps)
    raise ActivationError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
