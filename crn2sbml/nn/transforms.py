"""Exact transforms of a trained network and its inputs, so that the compiled CRN takes raw concentrations.

* :class:`Standardiser`: the ``(x - mean) / scale`` learned on a training split, folded into the first layer
  after training (docs/theory.md §4) so the network takes the raw features.
* :func:`dual_rail` / :func:`dual_rail_network`: signed features as pairs of non-negative concentrations, with
  the first layer rewritten to match (docs/theory.md §4). Mass action cannot hold a negative concentration.

Both rewrite only the first layer; the forward pass is unchanged to rounding (tested to 1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crn2sbml.nn.network import FeedForwardNetwork, Layer


def dual_rail(x: np.ndarray) -> np.ndarray:
    """Signed features as pairs of non-negative ones: column ``2i`` is ``max(x_i, 0)``, ``2i+1`` is ``max(-x_i, 0)``.

    A first layer trained on ``x`` becomes exact on the dual-rail inputs with weights ``[w, -w]``
    (see :func:`dual_rail_network`).
    """
    x = np.asarray(x, dtype=float)
    out = np.empty((x.shape[0], 2 * x.shape[1]))
    out[:, 0::2] = np.maximum(x, 0)
    out[:, 1::2] = np.maximum(-x, 0)
    return out


def dual_rail_network(network: FeedForwardNetwork) -> FeedForwardNetwork:
    """The same network taking dual-rail inputs: ``W' = [w, -w]`` per feature (docs/theory.md §4)."""
    first = network.layers[0]
    w = np.empty((first.n_out, 2 * first.n_in))
    w[:, 0::2] = first.weights
    w[:, 1::2] = -first.weights
    return FeedForwardNetwork((Layer(w, first.bias), *network.layers[1:]), network.activation)


@dataclass(frozen=True, eq=False)
class Standardiser:
    """``x' = (x - mean) / scale``, learned on a training split."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        scale = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(scale > 1e-12, scale, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale

    def fold_into(self, network: FeedForwardNetwork) -> FeedForwardNetwork:
        """The network that takes raw ``x``: ``W' = W diag(1/s)``, ``b' = b - W (m/s)`` (docs/theory.md §4)."""
        first = network.layers[0]
        w = first.weights / self.scale
        b = first.bias - first.weights @ (self.mean / self.scale)
        return FeedForwardNetwork((Layer(w, b), *network.layers[1:]), network.activation)
