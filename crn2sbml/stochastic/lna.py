"""Linear-noise approximation (LNA) of a compiled network around its fixed point.

For Ω molecules per unit concentration the SSA's ``counts/Ω`` fluctuate around the deterministic fixed point
``y*`` with covariance ``C/Ω + O(Ω^-2)``... to leading order, where ``C`` solves the Lyapunov equation

    J C + C Jᵀ + D = 0,   D = S diag(v(y*)) Sᵀ,

``J`` the Jacobian of the neuron ODE at ``y*``, ``S`` the net stoichiometry of the neurons and ``v`` the
reaction fluxes. For the smoothed ReLU ``J`` is lower block-triangular (a neuron's own rate
``∂f/∂y = u − 2y* = −sqrt(u² + 4 eps)`` on the diagonal, ``w_i·y*`` to each upstream neuron) — see
:func:`smoothed_relu_jacobian`, checked against the generic mass-action Jacobian in the tests — and ``D`` is
diagonal, one entry per neuron: the sum of the fluxes of the reactions that change it (each by ±1).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError, SimulationError
from crn2sbml.stochastic.ssa import check_omega, input_counts


def _state(compiled: CompiledNetwork, x: np.ndarray) -> np.ndarray:
    """All species' concentrations at the fixed point (inputs, then the network's forward pass)."""
    values = dict(zip(compiled.input_species, x, strict=True))
    for ids, layer in zip(compiled.layer_species, compiled.network.activations(x), strict=True):
        values.update(zip(ids, layer[0], strict=True))
    return np.array([values[s] for s in compiled.crn.species_ids], dtype=float)


def effective_inputs(x: np.ndarray, omega: float | None) -> np.ndarray:
    """The inputs an SSA at Ω really sees, ``round(Ω·x)/Ω``; ``x`` itself for ``omega=None`` (Ω → ∞)."""
    x = np.asarray(x, dtype=float)
    return x if omega is None else input_counts(x, omega) / check_omega(omega)


def lna_matrices(compiled: CompiledNetwork, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y*, J, D)`` for input ``x``: the neuron fixed point, Jacobian and diffusion matrix (Ω = 1)."""
    x = compiled.network.check_inputs(x)
    if x.shape[0] != 1:
        raise InputError(f"one input vector at a time, got {x.shape[0]}")
    state = _state(compiled, x[0])
    index = compiled.crn.index()
    neuron_pos = {s: i for i, s in enumerate(compiled.neuron_species)}
    n = len(neuron_pos)
    jac = np.zeros((n, n))
    diffusion = np.zeros((n, n))
    # built from the reaction list directly (mass action: flux k·Π x^m, d flux/dx_s = m·flux/x_s), so the LNA
    # does not lean on the ODE code it is meant to check
    for reaction in compiled.crn.reactions:
        flux = reaction.rate_constant * math.prod(state[index[s]] ** m for s, m in reaction.reactants)
        change = [(neuron_pos[s], c) for s, c in reaction.net_change().items() if s in neuron_pos]
        for a, ca in change:
            for b, cb in change:
                diffusion[a, b] += ca * cb * flux
        for s, m in reaction.reactants:
            if s not in neuron_pos:
                continue
            dflux = reaction.rate_constant * m * state[index[s]] ** (m - 1) * math.prod(
                state[index[t]] ** k for t, k in reaction.reactants if t != s)
            for a, ca in change:
                jac[a, neuron_pos[s]] += ca * dflux
    neurons = [index[s] for s in compiled.neuron_species]
    return state[neurons], jac, diffusion


def smoothed_relu_jacobian(compiled: CompiledNetwork, x: np.ndarray) -> np.ndarray:
    """The closed-form neuron Jacobian of a smoothed-ReLU network at its fixed point (module docstring)."""
    network = compiled.network
    if not network.activation.is_smoothed_relu():
        raise InputError(f"closed-form Jacobian is for the smoothed ReLU, not {network.activation.name}")
    x = network.check_inputs(x)
    us = network.pre_activations(x)
    ys = network.activations(x)
    n = len(compiled.neuron_species)
    jac = np.zeros((n, n))
    offset, prev = 0, None
    scale = compiled.time_scale
    for layer, u, y in zip(network.layers, us, ys, strict=True):
        size = layer.n_out
        block = slice(offset, offset + size)
        jac[block, block] = np.diag(scale * (u[0] - 2.0 * y[0]))
        if prev is not None:
            jac[block, prev] = scale * layer.weights * y[0][:, None]
        prev, offset = block, offset + size
    return jac


def lna_covariance(compiled: CompiledNetwork, x: np.ndarray, omega: float, round_inputs: bool = True) -> np.ndarray:
    """Stationary covariance of ``counts/Ω`` of the neurons (in neuron order) at Ω, to leading order, around the
    fixed point at the inputs an SSA sees (``round(Ω·x)/Ω``), or at ``x`` itself with ``round_inputs=False``
    (then the covariance is exactly ``C/Ω`` with ``C`` independent of Ω)."""
    omega = check_omega(omega)
    _, jac, diffusion = lna_matrices(compiled, effective_inputs(x, omega if round_inputs else None))
    cov = scipy.linalg.solve_continuous_lyapunov(jac, -diffusion / omega)
    if not np.all(np.isfinite(cov)):
        raise SimulationError("the Lyapunov equation has no finite solution (Jacobian not stable)")
    return 0.5 * (cov + cov.T)


def lna_window_covariance(compiled: CompiledNetwork, x: np.ndarray, omega: float, window: float,
                          round_inputs: bool = True) -> np.ndarray:
    """Covariance of the *time average* of ``counts/Ω`` over a window of length ``window`` (stationary state).

    With ``Cov(y(t+τ), y(t)) = e^{Jτ} C`` the average over ``[0, W]`` has covariance
    ``(M C + C Mᵀ)/W²`` with ``M = ∫₀^W (W − τ) e^{Jτ} dτ = J⁻²(e^{JW} − I) − W J⁻¹``. ``round_inputs``
    as for :func:`lna_covariance`.
    """
    if not (np.isfinite(window) and window > 0):
        raise InputError(f"window must be finite and > 0, got {window!r}")
    omega = check_omega(omega)
    _, jac, _ = lna_matrices(compiled, effective_inputs(x, omega if round_inputs else None))
    cov = lna_covariance(compiled, x, omega, round_inputs)
    inv = np.linalg.inv(jac)
    m = inv @ inv @ (scipy.linalg.expm(jac * window) - np.eye(len(jac))) - window * inv
    out = (m @ cov + cov @ m.T) / window**2
    return 0.5 * (out + out.T)


def output_std(compiled: CompiledNetwork, x: np.ndarray, omega: float, window: float | None = None) -> np.ndarray:
    """LNA standard deviation of each output's readout at Ω: a point readout, or a window average."""
    x = compiled.network.check_inputs(x)
    n_out = compiled.network.n_outputs
    out = np.empty((x.shape[0], n_out))
    for i, row in enumerate(x):
        cov = (lna_covariance(compiled, row, omega) if window is None
               else lna_window_covariance(compiled, row, omega, window))
        out[i] = np.sqrt(np.clip(np.diag(cov)[-n_out:], 0.0, None))
    return out
