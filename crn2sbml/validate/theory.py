"""Measurements of the paper's claims (docs/theory.md §2-§3) on a compiled network, each returning a small result.

All simulations run in libRoadRunner on the lumped SBML encoding (the same ODE as the elementary model);
the references are independent: the closed-form/solved activation, the network's forward pass and the
chain-rule gradient.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.nn.activations import smoothed_relu, smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.simulate import roadrunner_simulator


# ------------------------------------------------------------------ uniqueness and global attraction
@dataclass(frozen=True)
class UniquenessResult:
    n_starts: int
    n_inputs_tested: int
    max_relative_spread: float  # max over neurons of (max - min)/fixed point across all starts
    max_relative_error_vs_forward: float
    all_converged: bool
    initial_state_range: tuple[float, float]

    def passed(self, rtol: float = 1e-6) -> bool:
        return self.all_converged and self.max_relative_spread < rtol and self.max_relative_error_vs_forward < rtol


def uniqueness(compiled: CompiledNetwork, inputs: np.ndarray, n_starts: int = 1000, seed: int = 0,
               progress=None) -> UniquenessResult:
    """Settle from ``n_starts`` non-negative initial states spread over the input rows: zero, ``1e4`` in every
    species, and log-uniform random states in ``[1e-6, 1e4]``. All must reach the forward pass."""
    rng = np.random.default_rng(seed)
    n = len(compiled.neuron_species)
    starts = 10.0 ** rng.uniform(-6, 4, size=(n_starts, n))
    starts[0] = 0.0
    starts[1] = 1e4
    inputs = np.atleast_2d(inputs)
    rows = np.arange(n_starts) % len(inputs)
    sim = roadrunner_simulator(compiled)
    result = sim.settle(inputs[rows], initial_state=starts, progress=progress)
    expected = np.concatenate(compiled.network.activations(inputs), axis=1)[rows]
    spread = 0.0
    for i in range(len(inputs)):
        finals = result.states[rows == i]
        spread = max(spread, float(((finals.max(0) - finals.min(0)) / expected[rows == i][0]).max()))
    return UniquenessResult(n_starts, len(inputs), spread,
                            float((np.abs(result.states - expected) / expected).max()),
                            bool(result.converged.all()), (0.0, 1e4))


# ------------------------------------------------------------------ exponential convergence
@dataclass(frozen=True)
class DecayRates:
    """Per neuron (layer order): measured rate, predicted ``-∂f/∂y(y*)·c`` and the activation's slowest possible
    rate ``c · min_u -∂f/∂y`` (``2 sqrt(eps)·c`` for the smoothed ReLU)."""

    measured: np.ndarray
    predicted: np.ndarray
    bound: float

    @property
    def min_ratio_to_bound(self) -> float:
        return float((self.measured / self.bound).min())

    @property
    def max_relative_error_vs_predicted(self) -> float:
        return float((np.abs(self.measured - self.predicted) / self.predicted).max())

    def to_dict(self) -> dict:
        return {"min_ratio_to_bound": self.min_ratio_to_bound, "bound": self.bound,
                "max_relative_error_vs_predicted": self.max_relative_error_vs_predicted,
                "n_neurons": int(self.measured.size)}


def decay_rates(compiled: CompiledNetwork, x: np.ndarray, relative_kick: float = 1e-3) -> DecayRates:
    """Kick one layer at a time off its fixed point and fit the exponential decay of each neuron.

    A layer's neurons do not interact and their inputs sit at the fixed point, so each kicked neuron relaxes
    exactly like one Riccati equation: the log of its distance to ``y*`` falls with slope ``-∂f/∂y(y*)·c``.
    """
    net, c = compiled.network, compiled.time_scale
    x = np.asarray(x, dtype=float).reshape(1, -1)
    fixed = np.concatenate(net.activations(x), axis=1)[0]
    u = np.concatenate(net.pre_activations(x), axis=1)[0]
    predicted = -net.activation.dfdy(fixed, u) * c
    sim = roadrunner_simulator(compiled)
    measured = np.empty_like(fixed)
    start = 0
    for layer in compiled.layer_species:
        cols = slice(start, start + len(layer))
        y0 = fixed.copy()
        y0[cols] *= 1 + relative_kick
        horizon = 12.0 / predicted[cols].min()
        times = np.linspace(0, horizon, 121)
        traj = sim.trajectory(x[0], y0, times)
        for j in range(cols.start, cols.stop):
            dist = np.abs(traj[:, j] - fixed[j]) / fixed[j]
            window = (dist < 0.5 * relative_kick) & (dist > 1e-4 * relative_kick)
            if window.sum() < 3:  # too fast for the grid: use the first points
                window = np.arange(len(times)) < 4
            slope = np.polyfit(times[window], np.log(dist[window]), 1)[0]
            measured[j] = -slope
        start = cols.stop
    return DecayRates(measured, predicted, net.activation.rate_bound() * c)


# ------------------------------------------------------------------ settle time vs depth and eps
def settle_times(depths=(1, 2, 3, 4, 5), eps_values=(1e-3, 1e-2, 1e-1, 1.0), width: int = 6, n_samples: int = 5,
                 rtol: float = 1e-6, seed: int = 0) -> list[dict]:
    """Time for every output to come within ``rtol`` of the forward pass, from zero, on random networks.

    Compared with the single-neuron reference time ``ln(1/rtol) / (2 sqrt(eps))``: the time the slowest
    possible neuron (u = 0) needs to shrink a relative error of order 1 to ``rtol``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for eps in eps_values:
        for depth in depths:
            layers = []
            n_in = width
            for _ in range(depth):
                weights = rng.normal(scale=1 / np.sqrt(n_in), size=(width, n_in))
                layers.append((weights, rng.normal(scale=0.5, size=width)))
            net = FeedForwardNetwork.from_arrays(layers, eps=eps)
            compiled = compile_network(net)
            sim = roadrunner_simulator(compiled)
            x = rng.uniform(0, 1, size=(n_samples, width))
            expected = net.forward(x)
            bound = np.log(1 / rtol) / (2 * np.sqrt(eps))
            times = np.linspace(0, 4 * depth * bound, 1601)
            worst = 0.0
            for i in range(n_samples):
                traj = sim.trajectory(x[i], np.zeros(len(compiled.neuron_species)), times)
                err = np.abs(traj[:, -width:] - expected[i]) / expected[i]
                ok = np.nonzero(err.max(1) > rtol)[0]
                t_settle = times[min(ok[-1] + 1, len(times) - 1)] if ok.size else 0.0
                worst = max(worst, float(t_settle))
            rows.append({"eps": eps, "depth": depth, "settle_time": worst, "single_neuron_reference": float(bound),
                         "ratio_to_reference": worst / bound})
    return rows


# ------------------------------------------------------------------ smoothness: sensitivities
@dataclass(frozen=True)
class SensitivityResult:
    n_parameters: int
    max_relative_error: float
    max_abs_error: float

    def to_dict(self) -> dict:
        return asdict(self)


def analytic_gradients(network: FeedForwardNetwork, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``d outputs / d (W_l, b_l)`` at one sample ``x`` ``(n_inputs,)`` by the chain rule: shapes
    ``(n_out, *W_l.shape)`` and ``(n_out, n_l)``.

    With ``s_l = act'(u_l)`` (implicit function theorem for polynomial activations), the output's Jacobian
    with respect to ``u_l`` is ``G_L = diag(s_L)`` and ``G_l = G_{l+1} W_{l+1} diag(s_l)``; then
    ``d out / d W_l[j, i] = G_l[:, j] h_{l-1}[i]`` and ``d out / d b_l[j] = G_l[:, j]``. Written in numpy
    rather than with JAX: XLA's JIT in the same process as libRoadRunner's crashed later model builds.
    """
    x = np.asarray(x, dtype=float).reshape(1, -1)
    us = [u[0] for u in network.pre_activations(x)]
    hs = [x[0], *(a[0] for a in network.activations(x))]
    slopes = [network.activation.derivative(u) for u in us]
    grads: list[tuple[np.ndarray, np.ndarray]] = []
    g = np.diag(slopes[-1])
    for layer in range(len(network.layers) - 1, -1, -1):
        grads.append((g[:, :, None] * hs[layer][None, None, :], g.copy()))
        if layer:
            g = (g @ network.layers[layer].weights) * slopes[layer - 1][None, :]
    return grads[::-1]


def _replace(network: FeedForwardNetwork, layer: int, kind: str, index: tuple, value: float) -> FeedForwardNetwork:
    w, b = network.layers[layer].weights.copy(), network.layers[layer].bias.copy()
    (w if kind == "W" else b)[index] = value
    layers = list(network.layers)
    layers[layer] = Layer(w, b)
    return FeedForwardNetwork(tuple(layers), network.activation)


def sensitivities(network: FeedForwardNetwork, x: np.ndarray, n_parameters: int = 12, step: float = 1e-4,
                  seed: int = 0) -> SensitivityResult:
    """Central finite differences of the CRN's steady state (each perturbed network recompiled and settled in
    libRoadRunner) vs the chain-rule gradient, for ``n_parameters`` randomly chosen weights and biases."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float).reshape(-1)
    grads = analytic_gradients(network, x)
    choices = []
    for _ in range(n_parameters):
        layer = int(rng.integers(len(network.layers)))
        kind = "W" if rng.random() < 0.7 else "b"
        shape = network.layers[layer].weights.shape if kind == "W" else network.layers[layer].bias.shape
        choices.append((layer, kind, tuple(int(rng.integers(n)) for n in shape)))
    rel, absolute = 0.0, 0.0
    tolerance = 1e-13  # tight settling so the finite difference is not swamped by settling error
    sources = [x, *(a[0] for a in network.activations(x))]
    for layer, kind, index in choices:
        base = (network.layers[layer].weights if kind == "W" else network.layers[layer].bias)[index]
        # the step moves u by about `step`: a weight's step is divided by the concentration it multiplies
        h = step / max(1.0, abs(sources[layer][index[1]])) if kind == "W" else step
        outs = []
        for sign in (+1, -1):
            perturbed = _replace(network, layer, kind, index, base + sign * h)
            sim = roadrunner_simulator(compile_network(perturbed), tolerance=tolerance)
            outs.append(sim.settle(x[None, :]).outputs[0])
        fd = (outs[0] - outs[1]) / (2 * h)
        column: tuple[Any, ...] = (slice(None), *index)  # every output's derivative by this parameter
        exact = grads[layer][0 if kind == "W" else 1][column]
        err = np.abs(fd - exact)
        absolute = max(absolute, float(err.max()))
        rel = max(rel, float((err / np.maximum(np.abs(exact), 1e-3)).max()))
    return SensitivityResult(n_parameters, rel, absolute)


# ------------------------------------------------------------------ the eps trade-off
def eps_tradeoff(eps_values=(1e-4, 1e-3, 1e-2, 1e-1, 1.0)) -> list[dict]:
    """Measured ``max_u |σ_eps(u) - ReLU(u)|`` (dense grid) and the CRN's slowest decay rate (one neuron at u = 0,
    simulated), next to the predictions ``sqrt(eps)`` and ``2 sqrt(eps)``."""
    u = np.linspace(-5, 5, 200001)
    rows = []
    for eps in eps_values:
        gap = float(np.max(np.abs(smoothed_relu(u, eps) - np.maximum(u, 0))))
        net = FeedForwardNetwork((Layer(np.zeros((1, 1)), np.zeros(1)),), smoothed_relu_activation(eps))
        rate = decay_rates(compile_network(net), np.zeros(1)).measured[0]
        rows.append({"eps": eps, "max_gap_to_relu": gap, "sqrt_eps": float(np.sqrt(eps)),
                     "slowest_rate": float(rate), "two_sqrt_eps": float(2 * np.sqrt(eps))})
    return rows
