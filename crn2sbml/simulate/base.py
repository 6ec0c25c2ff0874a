"""The simulator interface every backend implements, and the shared stopping rule.

A backend settles a compiled network for many input vectors: it clamps the input species, integrates the
ODE from a non-negative initial state and stops when the *relative rate of change*
``max_i |dy_i/dt| / |y_i|`` falls below ``tolerance`` (units 1/time). Near the fixed point each neuron
relaxes at rate >= ``2·sqrt(eps)·c`` (SPEC §2), so the remaining relative error is at most about
``tolerance / (2·sqrt(eps)·c)``. ``steadyState()`` root finders are not used: they can land on the
negative root of ``eps + u·y - y²``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from crn2sbml.errors import SimulationError

DEFAULT_TOLERANCE = 1e-10
"""Default stopping threshold on max relative rate of change (1/s)."""


@dataclass(frozen=True, eq=False)
class SteadyStates:
    """Settled states for ``n`` samples.

    ``outputs``: ``(n, n_outputs)`` output-species concentrations; ``states``: ``(n, n_neurons)`` every
    neuron species in layer order; ``residual``: ``(n,)`` max relative rate of change at the stop;
    ``settle_time``: ``(n,)`` simulated time (s) at the stop; ``backend``/``encoding`` name what ran.
    """

    outputs: np.ndarray
    states: np.ndarray
    residual: np.ndarray
    settle_time: np.ndarray
    backend: str
    encoding: str
    tolerance: float

    @property
    def converged(self) -> np.ndarray:
        return self.residual <= self.tolerance

    def require_converged(self) -> SteadyStates:
        if not np.all(self.converged):
            bad = np.nonzero(~self.converged)[0]
            raise SimulationError(
                f"{self.backend}: {bad.size} sample(s) did not settle (first: sample {bad[0]}, residual "
                f"{self.residual[bad[0]]:.3g} > {self.tolerance:.3g} at t = {self.settle_time[bad[0]]:.3g} s)"
            )
        return self

    @staticmethod
    def stack(parts: list[SteadyStates]) -> SteadyStates:
        first = parts[0]
        return SteadyStates(
            np.concatenate([p.outputs for p in parts]), np.concatenate([p.states for p in parts]),
            np.concatenate([p.residual for p in parts]), np.concatenate([p.settle_time for p in parts]),
            first.backend, first.encoding, first.tolerance,
        )


def relaxation_time(eps: float, time_scale: float) -> float:
    """``1 / (2 sqrt(eps) c)`` s: the slowest smoothed-ReLU neuron's relaxation time, which sets the first
    integration chunk of every backend."""
    return 1.0 / (2.0 * float(np.sqrt(eps)) * time_scale)


def relative_rate(y: np.ndarray, dydt: np.ndarray) -> np.ndarray:
    """The stopping criterion ``max_i |dy_i/dt| / |y_i|`` along the last axis."""
    return np.max(np.abs(dydt) / np.maximum(np.abs(y), 1e-300), axis=-1)


class AbstractSimulator(abc.ABC):
    """Settles one compiled network for many inputs. Concrete backends: roadrunner, scipy, copasi, jax."""

    name: str = "abstract"

    @abc.abstractmethod
    def settle(self, inputs: np.ndarray, initial_state: np.ndarray | None = None) -> SteadyStates:
        """Steady states for ``inputs`` of shape ``(n_samples, n_inputs)``.

        ``initial_state`` (``(n_neurons,)`` or ``(n_samples, n_neurons)``, non-negative) replaces the
        model's initial concentrations of the neuron species.
        """


def initial_states(initial_state: np.ndarray | None, n_samples: int, n_neurons: int) -> np.ndarray | None:
    if initial_state is None:
        return None
    y0 = np.asarray(initial_state, dtype=float)
    y0 = np.broadcast_to(y0, (n_samples, n_neurons)) if y0.ndim == 1 else y0
    if y0.shape != (n_samples, n_neurons) or np.any(y0 < 0) or not np.all(np.isfinite(y0)):
        raise SimulationError(f"initial state must be finite, >= 0 and of shape ({n_samples}, {n_neurons})")
    return y0
