"""The backends by name: ``BACKENDS``, ``make_simulator(name, compiled, ...)`` and the ``auto`` choice.

A backend plugs in with one :class:`Backend` entry in :data:`BACKENDS`: its name and where its class lives.
The class is imported only when the backend is used (jax and COPASI are slow or intrusive to import) and
supplies everything else — ``capabilities``, ``from_compiled`` — so nothing here repeats it.

``auto`` (:func:`choose_backend`): libRoadRunner unless the work, ``samples × reactions``, exceeds
:data:`AUTO_JAX_MIN_WORK` (2×10⁶) and jax is installed, then the JAX batch backend. Measured on this project's
2-core machine (docs/performance.md): libRoadRunner settles about 5×10⁵ reaction·samples per second on one
core (400 samples/s at 1,262 reactions, 9.9 at 51,038), so 2×10⁶ is about 4 s of CVODE work; the JAX backend
costs about that much before its first result (import, XLA compilation, the worker process) and is then
~10x faster on large sample sets (3,000 samples/s at 64-16-10, 1,800 at 784-64-10). An explicit SBML
encoding or SBML text picks libRoadRunner, since the JAX backend reads no SBML.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml.errors import InputError
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSimulator,
    Capabilities,
    SteadyStates,
    check_simulator_inputs,
    initial_states,
)

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork

log = logging.getLogger(__name__)

AUTO = "auto"

AUTO_JAX_MIN_WORK = 2_000_000
"""``auto`` picks jax above this many ``samples × reactions`` (see the module docstring)."""

SUBPROCESS_FIRST_PIECE = 2048
"""Samples in the first task sent to a worker process; later tasks hold the backend's own ``batch_size``
(2048 for jax on a CPU, 65,536 on a GPU), so progress comes back per slice without shrinking a GPU batch."""


class UnknownBackendError(InputError):
    """A backend name that is not registered; the message lists the choices."""


@dataclass(frozen=True)
class Backend:
    """One registered backend: calling it builds the simulator, ``BACKENDS[name](compiled, sbml=...,
    encoding=..., tolerance=..., **options)``, through the class's ``from_compiled``."""

    name: str
    module: str
    class_name: str
    summary: str

    def load(self) -> type[AbstractSimulator]:
        """The simulator class (imports its module, not the engine behind it)."""
        cls = getattr(importlib.import_module(self.module), self.class_name)
        if not (isinstance(cls, type) and issubclass(cls, AbstractSimulator)):
            raise TypeError(f"{self.module}.{self.class_name} is not an AbstractSimulator")
        return cls

    @property
    def capabilities(self) -> Capabilities:
        return self.load().capabilities

    def __call__(self, compiled: CompiledNetwork, *, sbml: str | None = None, encoding: str | None = None,
                 tolerance: float = DEFAULT_TOLERANCE, **options: Any) -> AbstractSimulator:
        return self.load().from_compiled(compiled, sbml=sbml, encoding=encoding, tolerance=tolerance, **options)


BACKENDS: dict[str, Backend] = {
    entry.name: entry
    for entry in (
        Backend("roadrunner", "crn2sbml.simulate.roadrunner", "RoadRunnerSimulator",
                "libRoadRunner (CVODE) on the lumped or elementary SBML; the default for up to a few thousand "
                "samples"),
        Backend("jax", "crn2sbml.simulate.jax_batch", "JaxBatchSimulator",
                "JAX/diffrax, every sample of a slice at once, on a GPU when present; large sample sets"),
        Backend("copasi", "crn2sbml.simulate.copasi", "CopasiSimulator",
                "COPASI (LSODA) on the elementary SBML; an independent cross-check"),
        Backend("scipy", "crn2sbml.simulate.scipy_reference", "ScipySimulator",
                "scipy BDF on the compiled reaction list, no SBML; the slow reference"),
    )
}
"""Every backend by name (``auto`` is not one: it resolves to one of these)."""


def backend_names() -> tuple[str, ...]:
    """The names accepted by :func:`make_simulator` (the registered backends and ``auto``)."""
    return (*BACKENDS, AUTO)


def get_backend(name: str) -> Backend:
    """The registered backend ``name``; UnknownBackendError (an InputError) listing the choices otherwise."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise UnknownBackendError(f"unknown simulator backend {name!r}; choose one of "
                                  f"{', '.join(backend_names())}") from None


@dataclass(frozen=True)
class BackendChoice:
    """The backend ``auto`` picked and why, in words fit for a log line."""

    name: str
    reason: str


def _jax_installed() -> bool:
    return all(importlib.util.find_spec(module) is not None for module in ("jax", "diffrax", "optimistix"))


def choose_backend(compiled: CompiledNetwork, n_samples: int, *, sbml: str | None = None,
                   encoding: str | None = None) -> BackendChoice:
    """What ``auto`` runs for ``n_samples`` samples of ``compiled`` (the rule is in the module docstring)."""
    if sbml is not None or encoding is not None:
        return BackendChoice("roadrunner", "an SBML model or encoding was given and the jax backend reads no SBML")
    n_reactions = len(compiled.crn.reactions)
    work = n_samples * n_reactions
    sizes = f"{n_samples:,} samples x {n_reactions:,} reactions = {work:,}"
    if work <= AUTO_JAX_MIN_WORK:
        return BackendChoice("roadrunner", f"{sizes} <= {AUTO_JAX_MIN_WORK:,}: libRoadRunner is done in about "
                                           "the time the jax backend needs to start")
    if not _jax_installed():
        return BackendChoice("roadrunner", f"{sizes} > {AUTO_JAX_MIN_WORK:,}, but jax/diffrax are not installed")
    return BackendChoice("jax", f"{sizes} > {AUTO_JAX_MIN_WORK:,}: the batched jax backend is ~10x faster on "
                                "large sample sets")


def make_simulator(name: str, compiled: CompiledNetwork, *, n_samples: int = 1, sbml: str | None = None,
                   encoding: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
                   **options: Any) -> AbstractSimulator:
    """Backend ``name`` (one of :func:`backend_names`) on ``compiled``.

    ``auto`` picks with :func:`choose_backend` for ``n_samples`` samples and logs what it picked and why
    (call :func:`choose_backend` yourself to show it). ``sbml``/``encoding``: the SBML to load (SBML
    backends only); ``options`` go to the backend's ``from_compiled`` (e.g. ``max_time``, jax's ``solver``).
    A backend whose ``capabilities.process_safe`` is false is built in this process all the same: see
    :func:`settle_in_subprocess` for running it apart.
    """
    if name == AUTO:
        choice = choose_backend(compiled, n_samples, sbml=sbml, encoding=encoding)
        log.info("auto backend: %s (%s)", choice.name, choice.reason)
        name = choice.name
    return get_backend(name)(compiled, sbml=sbml, encoding=encoding, tolerance=tolerance, **options)


# ---- running a backend in a spawned worker process ----
_WORKER_SPEC: tuple | None = None
_WORKER_SIMULATOR: AbstractSimulator | None = None


def _init_worker(spec: tuple) -> None:
    """Only stores the spec: an error while building the simulator must come back as that error, from the
    first task, not as a broken pool."""
    global _WORKER_SPEC, _WORKER_SIMULATOR
    _WORKER_SPEC, _WORKER_SIMULATOR = spec, None


def _settle_piece(x: np.ndarray, y0: np.ndarray | None) -> tuple[SteadyStates, int]:
    """In the worker: build the simulator on the first piece (later pieces reuse it and its compiled code);
    returns the result and the simulator's ``batch_size`` (how many samples to send next)."""
    global _WORKER_SIMULATOR
    if _WORKER_SIMULATOR is None:
        if _WORKER_SPEC is None:
            raise RuntimeError("worker process not initialised")
        name, compiled, sbml, encoding, tolerance, options = _WORKER_SPEC
        _WORKER_SIMULATOR = get_backend(name)(compiled, sbml=sbml, encoding=encoding, tolerance=tolerance,
                                              **options)
    return _WORKER_SIMULATOR.settle(x, initial_state=y0), _WORKER_SIMULATOR.batch_size


def settle_in_subprocess(name: str, compiled: CompiledNetwork, inputs: np.ndarray, *,
                         initial_state: np.ndarray | None = None, sbml: str | None = None,
                         encoding: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
                         progress: Callable[[int], object] | None = None, **options: Any) -> SteadyStates:
    """:meth:`~AbstractSimulator.settle` with backend ``name``, run in one spawned worker process.

    For backends that must not share a process with libRoadRunner (``capabilities.process_safe`` false: the
    JAX backend's XLA compilations were followed by crashes inside libRoadRunner's JIT). Inputs and the
    initial state are checked here first, with the backend's own rules and words; the samples go to the
    worker a slice at a time (:data:`SUBPROCESS_FIRST_PIECE`, then the backend's ``batch_size``), so
    ``progress(k)`` is called per slice; results come back in input order and errors with their own types.
    Costs a process start and, for jax, its import and compilation (a few seconds): worth it for many samples.
    """
    backend = get_backend(name)
    x = check_simulator_inputs(inputs, compiled.network.n_inputs, backend.name)
    y0 = initial_states(initial_state, x.shape[0], len(compiled.neuron_species))
    spec = (backend.name, compiled, sbml, encoding, tolerance, options)
    parts: list[SteadyStates] = []
    # spawn, not fork: this process may hold libRoadRunner's LLVM threads, which fork would copy broken
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(spec,)) as pool:
        start, piece = 0, SUBPROCESS_FIRST_PIECE
        while not parts or start < x.shape[0]:  # one piece at least: no samples still come back shaped
            stop = start + piece
            part, batch_size = pool.submit(_settle_piece, x[start:stop],
                                           None if y0 is None else y0[start:stop]).result()
            parts.append(part)
            piece = max(batch_size, SUBPROCESS_FIRST_PIECE)
            start = stop
            if progress is not None:
                progress(len(part.residual))
    return SteadyStates.stack(parts)
