"""The jitted CLE integrator of :mod:`crn2sbml.stochastic.cle`, imported only when a CLE runs, so that importing
:mod:`crn2sbml.stochastic` does not start jax, diffrax and XLA. Everything here is float32 (see cle.py).

Every sum is written out term by term in a fixed order (no ``dot``, no ``sum`` over an axis): XLA on the CPU
picks the kernel of a dot or a reduction by the batch size, which changed the last bits of a trajectory with the
number of trajectories around it; elementwise operations do not depend on it, so a trajectory's result does not
depend on its batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import diffrax
import jax
import jax.numpy as jnp
import lineax  # type: ignore[import-untyped]  # lineax (a diffrax dependency) ships no py.typed

DTYPE = jnp.float32


def _falling(y: jax.Array, m: int, h: jax.Array) -> jax.Array:
    """``Π_{i<m} max(y − i·h, 0)`` (the clipped falling factorial, ``h = 1/Ω``)."""
    out = jnp.ones_like(y)
    for i in range(m):
        out = out * jnp.maximum(y - i * h, 0.0)
    return out


@functools.lru_cache(maxsize=32)
def cle_solver(orders: tuple[int, ...], changes: tuple[int, ...], catalysed: tuple[int, ...],
               catalysts: tuple[int, ...], n_neurons: int, n_save: int, batched_coupling: bool) -> Callable:
    """``solve(const, coupling, key_data, dt, substeps, start, h, inv_omega) -> ys (B, n_save, N)``, compiled
    once per network structure and batch size: Ω, inputs, keys and steps are traced arguments.

    Group ``g`` (target stoichiometry ``orders[g]``, change ``changes[g]``) has propensities
    ``ff(y)·(const[g] + Σ_j coupling[c, :, j]·max(y_j, 0))`` with ``c`` its index in ``catalysed`` and ``j`` over
    ``catalysts`` (the neurons that catalyse anything). ``const`` ``(B, G, N)``; ``coupling`` ``(Gc, N, N)``
    (``(B, Gc, N, N)`` if ``batched_coupling``); ``key_data`` ``(B, 2)`` uint32 threefry keys; ``dt`` ``(B,)``
    the step; ``substeps`` ``(B,)`` steps per record; records ``start, start+1, …`` (``n_save`` of them) are
    returned; ``h``: ``1/Ω`` in the falling factorials (0 for the squared convention); ``inv_omega``: ``1/Ω``.
    """
    distinct = sorted(set(orders))

    def one(const, coupling, key_data, dt, substeps, start, h, inv_omega):
        def propensities(y):
            yc = jnp.maximum(y, 0.0)
            factor = {m: _falling(y, m, h) for m in distinct}
            out = []
            for g, m in enumerate(orders):
                base = const[g]
                if g in catalysed:
                    c = catalysed.index(g)
                    for j in catalysts:
                        base = base + coupling[c, :, j] * yc[j]
                out.append(factor[m] * base)
            return out

        def weighted(y, power):
            terms = propensities(y)
            total = changes[0] ** power * terms[0]
            for d, term in zip(changes[1:], terms[1:], strict=True):
                total = total + d ** power * term
            return total

        def drift(_s, y, _args):
            return dt * weighted(y, 1)

        def diffusion(_s, y, _args):
            return lineax.DiagonalLinearOperator(jnp.sqrt(dt * inv_omega * weighted(y, 2)))

        key = jax.random.wrap_key_data(key_data, impl="threefry2x32")
        brownian = diffrax.UnsafeBrownianPath(shape=jax.ShapeDtypeStruct((n_neurons,), DTYPE), key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, brownian))
        ts = (start + jnp.arange(n_save, dtype=DTYPE)) * substeps.astype(DTYPE)
        sol = diffrax.diffeqsolve(terms, diffrax.Euler(), jnp.zeros((), DTYPE), ts[-1], jnp.ones((), DTYPE),
                                  jnp.zeros(n_neurons, DTYPE), saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.ConstantStepSize(), max_steps=None, throw=False,
                                  adjoint=diffrax.ForwardMode())
        return sol.ys

    in_axes = (0, 0 if batched_coupling else None, 0, 0, 0, None, None, None)
    return jax.jit(jax.vmap(one, in_axes=in_axes))
