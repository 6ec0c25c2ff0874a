"""Simulator backends behind one interface (:class:`~crn2sbml.simulate.base.AbstractSimulator`).

``BACKENDS`` names them (roadrunner, jax, copasi, scipy); ``make_simulator(name, compiled, ...)`` builds one,
``auto`` included (:func:`choose_backend`); ``roadrunner_simulator`` is the libRoadRunner shortcut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSimulator,
    AbstractSingleSampleSimulator,
    Capabilities,
    SteadyStates,
    StoppingRule,
    activation_relaxation_time,
    relaxation_time,
)
from crn2sbml.simulate.registry import (
    AUTO,
    AUTO_JAX_MIN_WORK,
    BACKENDS,
    Backend,
    BackendChoice,
    UnknownBackendError,
    backend_names,
    choose_backend,
    get_backend,
    make_simulator,
    settle_in_subprocess,
)

if TYPE_CHECKING:
    from crn2sbml.simulate.roadrunner import RoadRunnerSimulator

ENCODINGS = ("lumped", "elementary")
"""The SBML encodings crn2sbml writes (``capabilities.encodings`` says which a backend loads)."""


def roadrunner_simulator(compiled: CompiledNetwork, encoding: str = "lumped", sbml: str | None = None,
                         tolerance: float = DEFAULT_TOLERANCE) -> RoadRunnerSimulator:
    """libRoadRunner on the chosen SBML encoding of ``compiled`` (or on the given SBML text)."""
    from crn2sbml.simulate.roadrunner import RoadRunnerSimulator

    if encoding not in ENCODINGS:
        raise InputError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    return RoadRunnerSimulator.from_compiled(compiled, sbml=sbml, encoding=encoding, tolerance=tolerance)


__all__ = [
    "AUTO", "AUTO_JAX_MIN_WORK", "BACKENDS", "DEFAULT_TOLERANCE", "ENCODINGS", "AbstractSimulator",
    "AbstractSingleSampleSimulator", "Backend", "BackendChoice", "Capabilities", "SteadyStates", "StoppingRule",
    "UnknownBackendError", "activation_relaxation_time", "backend_names", "choose_backend", "get_backend",
    "make_simulator", "relaxation_time", "roadrunner_simulator", "settle_in_subprocess",
]
