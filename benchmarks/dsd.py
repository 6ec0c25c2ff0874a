"""DSD verification costs: peppercorn enumeration and crnverifier verdicts, module by module and whole networks.

    .venv/bin/python benchmarks/dsd.py [--all-whole]

For a single neuron (w = 1.5, b = -0.3), the 2-2-1 network of tests/test_dsd.py (15 formal reactions) and
models/xor (2-8-2, 62 formal reactions): each neuron's module alone, then the whole network where it has at
most WHOLE_NETWORK_LIMIT formal reactions (--all-whole: xor's too; it did not finish in 10 minutes). Per
run: enumeration time, condensed species and reactions, and each method's verdict and time
(crn2sbml.dsd.verify.default_methods; `*` marks the informative ones). A few minutes on two cores; the
machine is printed with the numbers.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.dsd.scheme import translate
from crn2sbml.dsd.verify import REQUIRED, WHOLE_NETWORK_LIMIT, VerificationError, neuron_modules, verify_design
from crn2sbml.io import load_weights
from crn2sbml.nn.activations import smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer

MODELS = Path(__file__).resolve().parent.parent / "models"


def network_221() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.2, -0.8], [-0.6, 1.4]]), np.array([0.2, -0.3])),
                               Layer(np.array([[1.0, -1.0]]), np.array([0.1]))), smoothed_relu_activation(0.05))


def neuron() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.5]]), np.array([-0.3])),), smoothed_relu_activation(0.05))


def run(compiled: CompiledNetwork, ids: list[str] | None, module: str) -> None:
    design = translate(compiled.crn, ids)
    started = time.perf_counter()
    try:
        v = verify_design(design, module)
    except VerificationError as exc:
        print(f"  {module:<10} {len(design.formal):>3} formal: not enumerated after "
              f"{time.perf_counter() - started:.0f} s: {exc}")
        return
    verdicts = "  ".join(f"{m}{'' if m in REQUIRED else '*'} {'pass' if ok else 'FAIL'} {v.seconds[m]:.2f}s"
                         for m, ok in v.results.items())
    print(f"  {module:<10} {v.formal_reactions:>3} formal  enumerate {v.enumerate_seconds:6.1f} s  "
          f"{v.enumerated_species:>4} species {v.enumerated_reactions:>4} reactions  "
          f"{'PASSED' if v.passed else 'FAILED'}  {verdicts}")


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"Python {platform.python_version()}")
    for name, compiled in (("single neuron", compile_network(neuron())), ("2-2-1", compile_network(network_221())),
                           ("xor 2-8-2", compile_network(load_weights(MODELS / "xor" / "weights.npz")))):
        design = translate(compiled.crn)
        print(f"{name}: {len(design.formal)} formal reactions, {len(design.strands())} strands, "
              f"{design.nucleotides()} nt")
        modules = neuron_modules(compiled.crn, compiled.neuron_species)
        if len(modules) > 1:
            for n, ids in modules.items():
                run(compiled, ids, n)
        if len(design.formal) <= WHOLE_NETWORK_LIMIT or "--all-whole" in sys.argv:
            run(compiled, None, "whole")
        else:
            print(f"  whole network not enumerated: {len(design.formal)} formal reactions > {WHOLE_NETWORK_LIMIT}")


if __name__ == "__main__":
    main()
