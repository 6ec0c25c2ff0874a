"""Feed-forward networks whose every layer uses a mass-action-realisable activation (default σ_eps)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from crn2sbml import defaults
from crn2sbml.errors import NetworkError
from crn2sbml.nn.activations import PolynomialActivation, smoothed_relu_activation
from crn2sbml.validate.inputs import check_inputs, check_network


@dataclass(frozen=True, eq=False)
class Layer:
    """``y = act(W x + b)`` with ``W`` of shape ``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``."""

    weights: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=float)
        b = np.array(self.bias, dtype=float).reshape(-1)
        if w.ndim != 2:
            raise NetworkError(f"weights must be a 2-D matrix (n_out, n_in), got shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise NetworkError(f"bias shape {b.shape} does not match weights shape {w.shape} (need ({w.shape[0]},))")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise NetworkError("weights and biases must be finite (found NaN or inf)")
        w.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])


@dataclass(frozen=True, eq=False)
class FeedForwardNetwork:
    """Layers applied in order, each followed by ``activation`` (the output layer too: docs/theory.md §3).

    Inputs are non-negative concentrations of shape ``(n_inputs,)`` or ``(n_samples, n_inputs)``.
    """

    layers: tuple[Layer, ...]
    activation: PolynomialActivation = field(default_factory=lambda: smoothed_relu_activation(defaults.EPS))

    def __post_init__(self) -> None:
        if not self.layers:
            raise NetworkError("a network needs at least one layer")
        object.__setattr__(self, "layers", tuple(self.layers))
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:], strict=False), start=1):
            if b.n_in != a.n_out:
                raise NetworkError(
                    f"layer {i + 1} expects {b.n_in} inputs but layer {i} has {a.n_out} outputs "
                    f"(W{i} {a.weights.shape}, W{i + 1} {b.weights.shape})"
                )
        # sizes and magnitudes are checked once here, so every way of building a network (weights files,
        # importers, training, the API) meets the same limits before anything is compiled or simulated
        check_network([(layer.weights, layer.bias) for layer in self.layers], self.activation.terms)

    @classmethod
    def from_arrays(cls, arrays: list[tuple[np.ndarray, np.ndarray]], eps: float = defaults.EPS,
                    activation: PolynomialActivation | None = None) -> FeedForwardNetwork:
        if activation is None:
            if not (np.isfinite(eps) and eps > 0):
                raise NetworkError(f"eps must be finite and > 0, got {eps}")
            activation = smoothed_relu_activation(eps)
        return cls(tuple(Layer(w, b) for w, b in arrays), activation)

    @property
    def eps(self) -> float:
        return self.activation.eps

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    def shape_text(self) -> str:
        return "-".join(str(n) for n in self.shape)

    def check_inputs(self, x: np.ndarray, where: str = "inputs") -> np.ndarray:
        """Return ``x`` as a float array of shape ``(n_samples, n_inputs)`` or raise InputError (see
        :func:`crn2sbml.validate.inputs.check_inputs`)."""
        return check_inputs(x, self.n_inputs, where)

    def pre_activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Per layer, ``u = W h + b`` for each sample: list of ``(n_samples, n_l)`` arrays."""
        h = self.check_inputs(x)
        us = []
        for layer in self.layers:
            u = h @ layer.weights.T + layer.bias
            us.append(u)
            h = self.activation(u)
        return us

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Per layer, the neuron values (the CRN's steady-state concentrations)."""
        return [self.activation(u) for u in self.pre_activations(x)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs of shape ``(n_samples, n_outputs)`` (a 1-D input gives one row)."""
        return self.activations(x)[-1]

    def weights_hash(self) -> str:
        """SHA-256 of the weights, biases and activation: identifies the network in manifests and SBML notes."""
        digest = hashlib.sha256()
        for layer in self.layers:
            for arr in (layer.weights, layer.bias):
                digest.update(str(arr.shape).encode())
                digest.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
        digest.update(np.asarray(self.activation.terms, dtype="<f8").tobytes())
        return digest.hexdigest()
