"""Whole-network DSD verification of a 2-2-1 network (15 formal reactions): too slow for CI on 2 cores.

    .venv/bin/python benchmarks/dsd.py

Prints the design's size, peppercorn's enumeration time and crnverifier's verdicts for each neuron's module
alone and then for the whole network. Measured on 2 shared cores: modules 13–62 s each, integrated hybrid
passes, bisimulation fails (the 2Y -> Y gate); the whole network exceeds peppercorn's default limit of
10,000 complexes after several minutes.
"""

from __future__ import annotations

import time

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.dsd.scheme import translate
from crn2sbml.dsd.verify import VerificationError, neuron_modules, verify_design
from crn2sbml.nn.activations import smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer


def network_221() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.2, -0.8], [-0.6, 1.4]]), np.array([0.2, -0.3])),
                               Layer(np.array([[1.0, -1.0]]), np.array([0.1]))), smoothed_relu_activation(0.05))


def main() -> None:
    compiled = compile_network(network_221())
    design = translate(compiled.crn)
    print(f"2-2-1: {len(design.formal)} formal reactions, {len(design.strands())} strands, "
          f"{design.nucleotides()} nt")
    for name, ids in neuron_modules(compiled.crn, compiled.neuron_species).items():
        v = verify_design(translate(compiled.crn, ids), f"neuron {name}")
        print(f"  {v.module}: {v.results} {v.enumerated_reactions} reactions, enumerate {v.enumerate_seconds:.1f} s")
    started = time.perf_counter()
    try:
        v = verify_design(translate(compiled.crn), "network", methods=("integrated-hybrid",))
    except VerificationError as exc:  # measured: peppercorn's 10,000-complex limit, the gates' cross-talk
        print(f"  whole network: not enumerated after {time.perf_counter() - started:.0f} s: {exc}")
        return
    print(f"  whole network: {v.results} {v.enumerated_species} species, {v.enumerated_reactions} reactions, "
          f"enumerate {v.enumerate_seconds:.1f} s, verify {v.verify_seconds:.1f} s "
          f"(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
