"""Neural network -> reaction network constructions (see ``compiler/README.md`` for the math)."""

from crn2sbml.compiler.feedforward import CompiledNetwork, compile_network

__all__ = ["CompiledNetwork", "compile_network"]
