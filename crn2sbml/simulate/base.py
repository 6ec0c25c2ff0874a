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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crn2sbml.errors import InputError, SimulationError, SimulatorInputError
from crn2sbml.validate.inputs import check_inputs

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
    """Settles one compiled network for many inputs. Concrete backends: roadrunner, scipy, copasi, jax.

    :meth:`settle` is the one entry point: it checks the inputs and the initial state the same way for every
    backend (:func:`crn2sbml.validate.inputs.check_inputs`) and only then calls the backend's :meth:`_settle`.
    """

    name: str = "abstract"

    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """Input species (features per sample)."""

    @property
    @abc.abstractmethod
    def n_neurons(self) -> int:
        """Neuron species, in layer order (the columns of ``SteadyStates.states``)."""

    def settle(self, inputs: np.ndarray, initial_state: np.ndarray | None = None,
               progress: Callable[[int], object] | None = None) -> SteadyStates:
        """Steady states for ``inputs`` of shape ``(n_samples, n_inputs)`` (finite, >= 0; InputError otherwise).

        ``initial_state`` (``(n_neurons,)`` or ``(n_samples, n_neurons)``, non-negative) replaces the
        model's initial concentrations of the neuron species. ``progress(k)`` is called as samples finish.
        """
        x = self.check_inputs(inputs)
        y0 = initial_states(initial_state, x.shape[0], self.n_neurons)
        return self._settle(x, y0, progress)

    def check_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """``inputs`` as a float ``(n_samples, n_inputs)`` array, or SimulatorInputError (the same rules and
        type for every backend)."""
        try:
            return check_inputs(inputs, self.n_inputs, where=f"{self.name} inputs")
        except InputError as exc:
            raise SimulatorInputError(str(exc)) from None

    @abc.abstractmethod
    def _settle(self, x: np.ndarray, y0: np.ndarray | None,
                progress: Callable[[int], object] | None) -> SteadyStates:
        """Settle checked inputs ``x`` ``(n, n_inputs)`` from ``y0`` ``(n, n_neurons)`` (``None``: the model's
        initial state)."""


def initial_states(initial_state: np.ndarray | None, n_samples: int, n_neurons: int) -> np.ndarray | None:
    """``initial_state`` as ``(n_samples, n_neurons)`` (a 1-D state is used for every sample), or
    SimulationError unless it is numeric, finite, >= 0 and of a matching shape."""
    if initial_state is None:
        return None
    expected = f"initial state must be finite, >= 0 and of shape ({n_neurons},) or ({n_samples}, {n_neurons})"
    try:
        y0 = np.asarray(initial_state, dtype=float)
    except (TypeError, ValueError):
        raise SimulationError(f"{expected}; it is not a numeric array") from None
    if y0.shape not in ((n_neurons,), (n_samples, n_neurons)):
        raise SimulationError(f"{expected}, got shape {y0.shape}")
    if not np.all(np.isfinite(y0)) or np.any(y0 < 0):
        raise SimulationError(f"{expected}; it has a negative or non-finite value")
    return np.broadcast_to(y0, (n_samples, n_neurons))
