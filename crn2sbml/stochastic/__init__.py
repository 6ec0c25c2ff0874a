"""Finite molecule numbers and imprecise rate constants: exact SSA (rebop, libRoadRunner gillespie), the chemical
Langevin equation (JAX/diffrax), the engine registry, the linear-noise approximation, closed-form fixed points
under rate error, and Dask ensembles (docs/robustness.md)."""

from crn2sbml.stochastic.cle import ChemicalLangevin
from crn2sbml.stochastic.engines import ENGINES, choose_engine, engine_names, get_engine, make_engine
from crn2sbml.stochastic.ssa import (
    CONVENTIONS,
    RebopSSA,
    RoadRunnerSSA,
    Trajectory,
    birth_death_stationary,
    propensity,
    stochastic_sbml,
)

__all__ = ["CONVENTIONS", "ENGINES", "ChemicalLangevin", "RebopSSA", "RoadRunnerSSA", "Trajectory",
           "birth_death_stationary", "choose_engine", "engine_names", "get_engine", "make_engine", "propensity",
           "stochastic_sbml"]
