"""The simulator interface every backend implements, and the one settling loop they all run.

A backend settles a compiled network for many input vectors: it clamps the input species, integrates the
ODE from a non-negative initial state and stops when the *relative rate of change*
``max_i |dy_i/dt| / |y_i|`` falls to ``tolerance`` (units 1/time) or below. ``steadyState()`` root finders
are not used: they can land on the negative root of ``eps + u·y - y²``.

The loop (:meth:`AbstractSimulator.settle`, a template method) is written once, here: integrate in chunks,
the first two relaxation times long and each next one 1.5 times longer, until every sample meets the
tolerance or ``max_time`` (default 2000 relaxation times) is reached. It works on arrays of samples with a
per-sample "still active" mask, so a batch backend (JAX) settles a whole slice at once and a backend that
integrates one sample at a time (:class:`AbstractSingleSampleSimulator`) is the n = 1 case. A backend only
says how to start a batch (clamp the inputs, set the initial state), advance it from ``t0`` to ``t1`` and
read ``(y, dy/dt)`` of the neurons.

The relaxation time is the activation's own: every neuron relaxes at least at rate
``rate_bound · c`` near its fixed point (:meth:`PolynomialActivation.rate_bound
<crn2sbml.nn.activations.PolynomialActivation.rate_bound>`, ``2·sqrt(eps)`` for the smoothed ReLU), so
the relative error left at the stop is at most about ``tolerance / (rate_bound · c)``.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from crn2sbml.errors import InputError, SimulationError, SimulatorInputError
from crn2sbml.validate.inputs import check_inputs, check_options

if TYPE_CHECKING:
    from typing import Self

    from crn2sbml.compiler import CompiledNetwork
    from crn2sbml.nn.activations import PolynomialActivation

DEFAULT_TOLERANCE = 1e-10
"""Default stopping threshold on max relative rate of change (1/s)."""

FIRST_CHUNK_RELAXATION_TIMES = 2.0
"""Length of the first integration chunk, in slowest relaxation times."""

CHUNK_GROWTH = 1.5
"""Each chunk is this much longer than the one before: few checks early, few chunks late."""

MAX_RELAXATION_TIMES = 2000.0
"""Default ``max_time`` in slowest relaxation times: a sample still moving then is reported unconverged."""

Progress = Callable[[int], object]
"""``progress(k)``: ``k`` more samples finished (settled or given up)."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; declared once per backend class as ``capabilities``.

    ``batch``: integrates many samples as one state (a slice at a time), not sample by sample;
    ``gpu``: runs on an accelerator when one is present; ``stochastic``: results are random draws (a
    stochastic simulation), not the deterministic ODE's fixed point; ``initial_states``: honours
    ``settle(..., initial_state=...)``; ``encodings``: the SBML encodings it can load (``"lumped"``,
    ``"elementary"``; the first is its default) — empty when it builds its ODE from the compiled network
    and reads no SBML; ``process_safe``: may share a process with the other backends (``False`` for JAX:
    libRoadRunner models built after XLA compilations in the same process crashed, so run it in a spawned
    worker, see :func:`crn2sbml.simulate.settle_in_subprocess`).
    """

    batch: bool
    gpu: bool
    stochastic: bool
    initial_states: bool
    encodings: tuple[str, ...]
    process_safe: bool

    @property
    def reads_sbml(self) -> bool:
        return bool(self.encodings)


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

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("outputs", "states", "residual", "settle_time"):
            arr = np.array(getattr(self, name), dtype=float)  # a private, read-only copy
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
            arrays[name] = arr
        n = arrays["states"].shape[0] if arrays["states"].ndim == 2 else -1
        shapes_ok = (n >= 0 and arrays["outputs"].ndim == 2 and arrays["outputs"].shape[0] == n
                     and arrays["outputs"].shape[1] <= arrays["states"].shape[1]
                     and arrays["residual"].shape == (n,) and arrays["settle_time"].shape == (n,))
        if not shapes_ok:
            raise SimulationError(
                "steady states: inconsistent shapes " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
        if np.any(np.isnan(arrays["residual"])) or np.any(arrays["residual"] < 0):
            raise SimulationError("steady states: residuals must be >= 0 (not NaN)")
        if not (np.all(np.isfinite(arrays["settle_time"])) and np.all(arrays["settle_time"] >= 0)):
            raise SimulationError("steady states: settle times must be finite and >= 0")
        if not (np.isfinite(self.tolerance) and self.tolerance > 0 and self.backend and self.encoding):
            raise SimulationError("steady states: need a finite tolerance > 0 and the backend and encoding names")

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
        if not parts:
            raise SimulationError("no steady states to stack")
        first = parts[0]
        if any((p.backend, p.encoding, p.tolerance) != (first.backend, first.encoding, first.tolerance) for p in parts):
            raise SimulationError("cannot stack steady states from different backends, encodings or tolerances")
        return SteadyStates(
            np.concatenate([p.outputs for p in parts]), np.concatenate([p.states for p in parts]),
            np.concatenate([p.residual for p in parts]), np.concatenate([p.settle_time for p in parts]),
            first.backend, first.encoding, first.tolerance,
        )


def relaxation_time(rate_bound: float, time_scale: float = 1.0) -> float:
    """``1 / (rate_bound · c)`` s: the slowest neuron's relaxation time near its fixed point.

    ``rate_bound`` is the activation's slowest relaxation rate at time scale 1
    (``PolynomialActivation.rate_bound()``; ``2 sqrt(eps)`` for the smoothed ReLU, less for the power
    activations), ``time_scale`` the factor ``c`` on every rate constant.
    """
    if isinstance(rate_bound, bool) or not (isinstance(rate_bound, (int, float, np.floating))
                                            and math.isfinite(rate_bound) and rate_bound > 0):
        raise InputError(f"rate bound must be finite and > 0, got {rate_bound!r}")
    return 1.0 / (float(rate_bound) * float(time_scale))


def activation_relaxation_time(activation: PolynomialActivation, time_scale: float = 1.0) -> float:
    """:func:`relaxation_time` of ``activation`` (its own ``rate_bound()``) at time scale ``time_scale``."""
    return relaxation_time(activation.rate_bound(), time_scale)


def relative_rate(y: np.ndarray, dydt: np.ndarray) -> np.ndarray:
    """The stopping criterion ``max_i |dy_i/dt| / |y_i|`` along the last axis."""
    return np.max(np.abs(dydt) / np.maximum(np.abs(y), 1e-300), axis=-1)


@dataclass(frozen=True)
class StoppingRule:
    """When the settling loop stops: ``residual <= tolerance`` (1/s) or ``t >= max_time`` (s).

    ``relax_time`` (s) sets the chunk lengths (the first is ``FIRST_CHUNK_RELAXATION_TIMES`` of it).
    """

    tolerance: float
    relax_time: float
    max_time: float

    @classmethod
    def from_rate_bound(cls, rate_bound: float, time_scale: float = 1.0, *,
                        tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None,
                        where: str = "simulator") -> StoppingRule:
        """The rule for an activation with slowest rate ``rate_bound`` at time scale ``time_scale``; InputError
        for a bad tolerance, time scale, rate bound or ``max_time``."""
        check_options(tolerance=tolerance, max_time=max_time, time_scale=time_scale, where=where)
        try:
            relax = relaxation_time(rate_bound, time_scale)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        return cls(float(tolerance), relax, float(max_time) if max_time is not None else MAX_RELAXATION_TIMES * relax)

    @classmethod
    def for_compiled(cls, compiled: CompiledNetwork, *, tolerance: float = DEFAULT_TOLERANCE,
                     max_time: float | None = None, where: str = "simulator") -> StoppingRule:
        """The rule for ``compiled``: its activation's ``rate_bound()`` and its time scale."""
        return cls.from_rate_bound(compiled.network.activation.rate_bound(), compiled.time_scale,
                                   tolerance=tolerance, max_time=max_time, where=where)


def check_simulator_inputs(inputs: np.ndarray, n_inputs: int, backend: str) -> np.ndarray:
    """``inputs`` as a float ``(n_samples, n_inputs)`` array, or SimulatorInputError (the same rules, words
    and type for every backend; only the backend's name in front differs)."""
    try:
        return check_inputs(inputs, n_inputs, where=f"{backend} inputs")
    except InputError as exc:
        raise SimulatorInputError(str(exc)) from None


class AbstractSimulator(abc.ABC):
    """Settles one compiled network for many inputs. Concrete backends: roadrunner, copasi, scipy, jax.

    :meth:`settle` is the one entry point and owns the settling loop; a backend implements
    :meth:`_start`, :meth:`_advance` and :meth:`_read` on a batch of ``m`` samples (``m <= batch_size``),
    declares :attr:`capabilities` and builds itself from a compiled network with :meth:`from_compiled`.
    Subclasses set ``self.stopping`` (a :class:`StoppingRule`) and ``self.encoding`` when they are built.
    """

    name: ClassVar[str] = "abstract"
    capabilities: ClassVar[Capabilities]
    stopping: StoppingRule
    encoding: str

    # ---- what a backend provides ----
    @classmethod
    @abc.abstractmethod
    def from_compiled(cls, compiled: CompiledNetwork, *, sbml: str | None = None, encoding: str | None = None,
                      tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None, **options) -> Self:
        """This backend on ``compiled`` (``sbml``: SBML text to load instead of exporting it; ``encoding``:
        one of ``capabilities.encodings``, ``None`` for the first)."""

    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """Input species (features per sample)."""

    @property
    @abc.abstractmethod
    def n_neurons(self) -> int:
        """Neuron species, in layer order (the columns of ``SteadyStates.states``)."""

    @property
    @abc.abstractmethod
    def output_columns(self) -> np.ndarray:
        """Indices of the output species among the neuron columns."""

    @property
    def batch_size(self) -> int:
        """Samples handed to one :meth:`_start` (1 unless the backend is a batch backend)."""
        return 1

    @abc.abstractmethod
    def _start(self, x: np.ndarray, y0: np.ndarray | None) -> object:
        """Begin settling ``x`` ``(m, n_inputs)`` from ``y0`` ``(m, n_neurons)`` (``None``: the model's own
        initial state) at ``t = 0``: clamp the inputs, set the neurons. Returns a handle for the run."""

    @abc.abstractmethod
    def _advance(self, run: object, t0: float, t1: float, active: np.ndarray) -> None:
        """Integrate the run from ``t0`` to ``t1`` s. ``active`` ``(m,)``: samples not yet settled; a batch
        backend may freeze the others (their stored state is not read again)."""

    @abc.abstractmethod
    def _read(self, run: object) -> tuple[np.ndarray, np.ndarray]:
        """Neuron concentrations and their rates of change now, each ``(m, n_neurons)``."""

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """Around one :meth:`settle` call (a backend may set up process state here)."""
        yield

    # ---- shared ----
    @property
    def tolerance(self) -> float:
        return self.stopping.tolerance

    @property
    def relax_time(self) -> float:
        return self.stopping.relax_time

    @property
    def max_time(self) -> float:
        return self.stopping.max_time

    def check_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """``inputs`` as a float ``(n_samples, n_inputs)`` array, or SimulatorInputError."""
        return check_simulator_inputs(inputs, self.n_inputs, self.name)

    def settle(self, inputs: np.ndarray, initial_state: np.ndarray | None = None,
               progress: Progress | None = None) -> SteadyStates:
        """Steady states for ``inputs`` of shape ``(n_samples, n_inputs)`` (finite, >= 0; SimulatorInputError
        otherwise), in input order.

        ``initial_state`` (``(n_neurons,)`` or ``(n_samples, n_neurons)``, non-negative) replaces the
        model's initial concentrations of the neuron species. ``progress(k)`` is called as samples finish.
        """
        x = self.check_inputs(inputs)
        y0 = initial_states(initial_state, x.shape[0], self.n_neurons)
        n = x.shape[0]
        states = np.empty((n, self.n_neurons))
        residual = np.empty(n)
        times = np.empty(n)
        step = max(1, self.batch_size)
        with self._session():
            for lo in range(0, n, step):
                part = slice(lo, min(n, lo + step))
                states[part], residual[part], times[part] = self._settle_batch(
                    x[part], None if y0 is None else y0[part], progress)
        return SteadyStates(states[:, self.output_columns], states, residual, times, self.name, self.encoding,
                            self.tolerance)

    def _settle_batch(self, x: np.ndarray, y0: np.ndarray | None,
                      progress: Progress | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The settling loop on one batch: ``(states, residual, settle_time)`` of its ``m`` samples.

        A sample's state, residual and time are recorded at the end of every chunk it is active in, so what
        is returned for it is the state at its own stop, whatever a batch backend does with it afterwards.
        """
        m = x.shape[0]
        rule = self.stopping
        states = np.empty((m, self.n_neurons))
        residual = np.full(m, np.inf)
        times = np.zeros(m)
        active = np.ones(m, dtype=bool)
        run = self._start(x, y0)
        t, dt = 0.0, FIRST_CHUNK_RELAXATION_TIMES * rule.relax_time
        while True:
            # the last chunk ends exactly at max_time (no rounding past it, no chunk longer than max_time)
            t_next = min(t + dt, rule.max_time)
            self._advance(run, t, t_next, active)
            t = t_next
            y, dydt = self._read(run)
            if not np.all(np.isfinite(y[active])):
                raise SimulationError(f"{self.name}: integration produced non-finite concentrations at t = {t:g} s")
            res = relative_rate(y, dydt)
            states[active], residual[active], times[active] = y[active], res[active], t
            done = active & (res <= rule.tolerance)
            active &= ~done
            if not active.any() or t >= rule.max_time:
                if progress is not None:
                    progress(int(done.sum() + active.sum()))
                return states, residual, times
            if progress is not None and done.any():
                progress(int(done.sum()))
            dt *= CHUNK_GROWTH

    def close(self) -> None:
        """Release what the backend holds outside Python's memory (nothing, unless a backend says so)."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def refuse_options(cls, options: dict[str, Any]) -> None:
        """InputError naming options this backend does not take (``from_compiled``'s ``**options``)."""
        if options:
            raise InputError(f"the {cls.name} backend takes no option(s) {', '.join(sorted(options))}")

    @classmethod
    def resolve_encoding(cls, sbml: str | None, encoding: str | None) -> str | None:
        """The SBML encoding to load (``None`` for a backend that reads no SBML); InputError if this backend
        cannot load what was asked for."""
        supported = cls.capabilities.encodings
        if not supported:
            if sbml is not None or encoding is not None:
                raise InputError(f"the {cls.name} backend builds its ODE from the compiled network and reads no "
                                 "SBML: leave out sbml and encoding (they apply to the SBML backends)")
            return None
        if encoding is None:
            return supported[0]
        if encoding not in supported:
            raise InputError(f"the {cls.name} backend cannot load the {encoding!r} encoding; choose one of "
                             f"{', '.join(supported)}")
        return encoding


class AbstractSingleSampleSimulator(AbstractSimulator):
    """A backend that integrates one sample at a time (libRoadRunner, COPASI, scipy): the loop's n = 1 case.

    It implements :meth:`_start_one`, :meth:`_advance_one` and :meth:`_read_one` on its one current sample.
    """

    @abc.abstractmethod
    def _start_one(self, x: np.ndarray, y0: np.ndarray | None) -> None:
        """Reset to ``t = 0`` with inputs ``x`` ``(n_inputs,)`` clamped and neurons at ``y0`` ``(n_neurons,)``
        (``None``: the model's initial state)."""

    @abc.abstractmethod
    def _advance_one(self, t0: float, t1: float) -> None:
        """Integrate the current sample from ``t0`` to ``t1`` s."""

    @abc.abstractmethod
    def _read_one(self) -> tuple[np.ndarray, np.ndarray]:
        """The current sample's neuron concentrations and rates, each ``(n_neurons,)``."""

    def _start(self, x: np.ndarray, y0: np.ndarray | None) -> None:
        self._start_one(x[0], None if y0 is None else y0[0])

    def _advance(self, run: object, t0: float, t1: float, active: np.ndarray) -> None:
        self._advance_one(t0, t1)

    def _read(self, run: object) -> tuple[np.ndarray, np.ndarray]:
        y, dydt = self._read_one()
        return y[None, :], dydt[None, :]


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
