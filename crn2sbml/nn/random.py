"""Random feed-forward networks for tests, benchmarks and theory sweeps: the one builder they all share.

Weights are Gaussian with standard deviation ``scale / sqrt(n_in)`` (so ``u`` stays of order 1 whatever the
width), biases Gaussian with standard deviation 0.5, and a ``zero_fraction`` of each is set to exactly zero so
that every reaction type (positive, negative and missing weights and biases) appears. The same ``seed`` gives
the same network on every machine (numpy's PCG64 stream).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from crn2sbml import defaults
from crn2sbml.errors import NetworkError
from crn2sbml.nn.activations import PolynomialActivation
from crn2sbml.nn.network import FeedForwardNetwork


def random_network(seed: int, shape: Sequence[int], eps: float | None = None, zero_fraction: float = 0.2,
                   scale: float = 1.0, activation: PolynomialActivation | None = None) -> FeedForwardNetwork:
    """A random network of ``shape`` = ``(n_inputs, n_1, ..., n_outputs)``.

    The activation is ``activation`` if given, else the smoothed ReLU with ``eps`` (default
    :data:`crn2sbml.defaults.EPS`); giving both is allowed only when they agree on eps.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise NetworkError(f"seed must be a non-negative integer, got {seed!r}")
    sizes = tuple(shape)
    if len(sizes) < 2 or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1
                                 for n in sizes):
        raise NetworkError(f"shape must be at least two positive integers (inputs, ..., outputs), got {shape!r}")
    if not 0.0 <= zero_fraction <= 1.0:
        raise NetworkError(f"zero_fraction must be in [0, 1], got {zero_fraction}")
    if not (math.isfinite(scale) and scale >= 0):
        raise NetworkError(f"scale must be finite and >= 0, got {scale}")
    if activation is not None and eps is not None and eps != activation.eps:
        raise NetworkError(f"eps {eps} contradicts the activation's eps {activation.eps}")
    rng = np.random.default_rng(int(seed))
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        # draw order (weights, weight mask, bias, bias mask) is part of the contract: fixed seeds in the tests
        w = rng.normal(scale=scale / np.sqrt(n_in), size=(n_out, n_in))
        w[rng.random(w.shape) < zero_fraction] = 0.0
        b = rng.normal(scale=0.5, size=n_out)
        b[rng.random(n_out) < zero_fraction] = 0.0
        layers.append((w, b))
    if activation is not None:
        return FeedForwardNetwork.from_arrays(layers, activation=activation)
    return FeedForwardNetwork.from_arrays(layers, eps=defaults.EPS if eps is None else eps)
