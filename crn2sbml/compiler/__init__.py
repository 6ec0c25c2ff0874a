"""Neural network -> reaction network constructions (see docs/theory.md for the math)."""

from crn2sbml.compiler.feedforward import CompiledNetwork, Monomial, compile_network, neuron_monomials

__all__ = ["CompiledNetwork", "Monomial", "compile_network", "neuron_monomials"]
