"""Simulator backends behind one interface (:class:`~crn2sbml.simulate.base.AbstractSimulator`)."""

from __future__ import annotations

from datetime import UTC, datetime

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError
from crn2sbml.simulate.base import DEFAULT_TOLERANCE, AbstractSimulator, SteadyStates

ENCODINGS = ("lumped", "elementary")
CACHE_STABLE_DATE = datetime(2021, 1, 1, tzinfo=UTC)
"""Created date written into SBML that crn2sbml builds only to simulate (never shipped)."""


def roadrunner_simulator(compiled: CompiledNetwork, encoding: str = "lumped", sbml: str | None = None,
                         tolerance: float = DEFAULT_TOLERANCE) -> AbstractSimulator:
    """libRoadRunner on the chosen SBML encoding of ``compiled`` (or on the given SBML text)."""
    from crn2sbml.export.sbml import to_lumped_sbml, to_sbml
    from crn2sbml.simulate.roadrunner import RoadRunnerSimulator

    if encoding not in ENCODINGS:
        raise InputError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if sbml is None:
        # a fixed history date keeps the text, and so the compiled-model cache key, the same from run to run
        writer = to_lumped_sbml if encoding == "lumped" else to_sbml
        sbml = writer(compiled, created=CACHE_STABLE_DATE)
    return RoadRunnerSimulator(sbml, compiled.input_species, compiled.neuron_species, compiled.output_species,
                               eps=compiled.eps, time_scale=compiled.time_scale, encoding=encoding,
                               tolerance=tolerance)


__all__ = ["AbstractSimulator", "SteadyStates", "DEFAULT_TOLERANCE", "ENCODINGS", "roadrunner_simulator"]
