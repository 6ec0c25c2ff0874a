"""The jitted pieces of the JAX batch backend (:mod:`crn2sbml.simulate.jax_batch`): the layered vector field
and one integration chunk per call.

Kept apart from the simulator class so that importing the backend (to read its capabilities, or to register
it) does not import jax, diffrax and XLA: the simulator imports this module when it is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import optimistix as optx

from crn2sbml.nn.activations import polynomial_dfdy, polynomial_f

SOLVER_CLASSES: dict[str, type[diffrax.AbstractSolver]] = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
}

Params = dict[str, Any]
"""``{"w": (W_2, ..., W_L), "b": (b_2, ..., b_L), "a": (P,), "bu": (P,), "c": ()}`` as jax arrays."""


# ---------------------------------------------------------------------------------------------------------
# The vector field (pure jax, shapes are per slice: B samples, n_l neurons in layer l, P activation terms)
# ---------------------------------------------------------------------------------------------------------
def _pre_activations(params: Params, u1: jax.Array, ys: tuple[jax.Array, ...]) -> list[jax.Array]:
    """``u`` per layer: ``u1`` ``(B, n_1)`` for the clamped first layer, ``y_{l-1} W_l^T + b_l`` after it."""
    us = [u1]
    for y_prev, w, b in zip(ys[:-1], params["w"], params["b"], strict=True):
        us.append(y_prev @ w.T + b)
    return us


def _f(powers: tuple[int, ...], params: Params, y: jax.Array, u: jax.Array) -> jax.Array:
    """``f(y; u) = sum_p (a_p + b_p u) y^p`` elementwise, ``y``/``u`` of shape ``(B, n)`` (the activation's own
    polynomial, evaluated on jax arrays)."""
    return polynomial_f(zip(powers, params["a"], params["bu"], strict=True), y, u)


def _dfdy(powers: tuple[int, ...], params: Params, y: jax.Array, u: jax.Array) -> jax.Array:
    """``∂f/∂y = sum_p p (a_p + b_p u) y^(p-1)``, shape ``(B, n)``."""
    return polynomial_dfdy(zip(powers, params["a"], params["bu"], strict=True), y, u)


def _rates(powers: tuple[int, ...], params: Params, u1: jax.Array, ys: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    """``dy/dt = c f(y; u)`` per layer (no mask): a tuple of ``(B, n_l)``."""
    us = _pre_activations(params, u1, ys)
    return tuple(params["c"] * _f(powers, params, y, u) for y, u in zip(ys, us, strict=True))


@functools.lru_cache(maxsize=64)
def chunk_solver(sizes: tuple[int, ...], powers: tuple[int, ...], solver_name: str, rtol: float, atol: float,
                  max_steps: int) -> Callable:
    """The jitted integration of one chunk, compiled once per (shape, solver, tolerances) and slice size.

    Returns ``chunk(params, u1, ys, mask, t0, t1, dtmax) -> (ys, rates, lam, ok, n_steps)`` with
    ``u1`` ``(B, n_1)``, ``ys`` a tuple of ``(B, n_l)``, ``mask`` ``(B,)`` (1 = integrate, 0 = frozen),
    ``rates`` the unmasked ``dy/dt`` at ``t1`` (like ``ys``; the settling loop turns them into the relative
    rate), ``lam`` ``(B,)`` the largest ``c |∂f/∂y|`` at ``t1`` (the Jacobian is triangular: these are its
    eigenvalues), ``ok`` whether diffrax succeeded.
    """
    del sizes  # part of the cache key only: jax.jit retraces per shape anyway
    solver = SOLVER_CLASSES[solver_name]()

    def vector_field(_t, ys, args):
        params, u1, mask = args
        return tuple(r * mask[:, None] for r in _rates(powers, params, u1, ys))

    term = diffrax.ODETerm(vector_field)

    def chunk(params, u1, ys, mask, t0, t1, dtmax):
        controller = diffrax.PIDController(rtol=rtol, atol=atol, norm=optx.max_norm, dtmax=dtmax)
        sol = diffrax.diffeqsolve(term, solver, t0, t1, None, ys, (params, u1, mask),
                                  stepsize_controller=controller, max_steps=max_steps, throw=False,
                                  adjoint=diffrax.ForwardMode())
        ys1 = jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys)
        rates = _rates(powers, params, u1, ys1)
        us = _pre_activations(params, u1, ys1)
        lam = jnp.max(jnp.concatenate(
            [params["c"] * jnp.abs(_dfdy(powers, params, y, u)) for y, u in zip(ys1, us, strict=True)], axis=1), axis=1)
        ok = sol.result == diffrax.RESULTS.successful
        return ys1, rates, lam, ok, sol.stats["num_steps"]

    return jax.jit(chunk)
