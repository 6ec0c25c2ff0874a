"""Finite molecule numbers and imprecise rate constants: exact SSA (rebop, libRoadRunner gillespie), the
linear-noise approximation, closed-form fixed points under rate error, and Dask ensembles (docs/robustness.md)."""

from crn2sbml.stochastic.ssa import (
    CONVENTIONS,
    RebopSSA,
    RoadRunnerSSA,
    Trajectory,
    birth_death_stationary,
    make_ssa,
    propensity,
    stochastic_sbml,
)

__all__ = ["CONVENTIONS", "RebopSSA", "RoadRunnerSSA", "Trajectory", "birth_death_stationary", "make_ssa",
           "propensity", "stochastic_sbml"]
