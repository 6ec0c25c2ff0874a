"""The DNA design's kinetics: concentrations that set each formal rate constant, checked against peppercorn.

References independent of crn2sbml.dsd.concentrations: peppercorn's own condensed rates and toehold model,
each gate's enumerated network integrated in libRoadRunner (its firing rate fitted), and the whole
enumerated single-neuron network against the network's forward pass.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.dsd import dsd_files
from crn2sbml.dsd.concentrations import (
    FUEL_RATES,
    REACTANT_RATE,
    TOEHOLD_KD,
    StepRates,
    effective_rate_constant,
    gate_for_rate,
    kinetic_design,
)
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import translate
from crn2sbml.errors import InputError
from crn2sbml.export.units import PhysicalUnits
from crn2sbml.nn.activations import smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.validate.dsd_kinetics import NeuronNetworkRun, gate_rate

ALPHA = 1e-12
"""1 pM per model unit: the largest gate is then C/α = 3e6 times the signal scale (docs/dsd.md §4)."""
GOOD_GATE_SCALE = 3e-6
SMALL_GATE_SCALE = 1e-8
STATED_ERROR = 0.10
"""docs/dsd.md §4: the stated error of α·y* for an active neuron (z >= 1) at α = 1 pM, C = 3 µM."""


def _neuron(w: float, b: float):
    return compile_network(FeedForwardNetwork((Layer(np.array([[w]]), np.array([b])),),
                                              smoothed_relu_activation(0.05)))


def _condensed_rates(compiled, reaction: str) -> list[tuple[list[str], float]]:
    """peppercorn's condensed reactions of one gate alone: (reactant names, rate constant /M/s)."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        from peppercornenumerator import Enumerator
        from peppercornenumerator.input import read_pil
        from peppercornenumerator.objects import clear_memory

        clear_memory()
        complexes, reactions = read_pil(to_pil(translate(compiled.crn, [reaction])))
        named = list(complexes.values())
        enum = Enumerator(named, reactions, named_complexes=named)
        enum.enumerate()
        enum.condense()
        return [([str(m) for m in r.reactants], float(r.rate_constant[0])) for r in enum.condensed_reactions]
    finally:
        sys.setrecursionlimit(saved)


def test_step_rates_are_peppercorns() -> None:
    # every reactant step (forward and back) runs at q_r; a fuel with m toeholds at q_f(m); K_d from its model
    from peppercornenumerator.ratemodel import bimolecular_binding_rate, opening_rate

    assert opening_rate(6) / bimolecular_binding_rate(6) == pytest.approx(TOEHOLD_KD, rel=1e-3)
    cases = [(_neuron(1.5, 0.3), "y1_w_x1", 5), (_neuron(1.5, 0.3), "y1_bias", 4), (_neuron(1.5, -0.3), "y1_limit", 3)]
    for compiled, reaction, toeholds in cases:
        fuel = translate(compiled.crn, [reaction]).fuels[0].name
        rates = _condensed_rates(compiled, reaction)
        for reactants, k in rates:
            expected = FUEL_RATES[toeholds] if fuel in reactants else REACTANT_RATE
            assert k == pytest.approx(expected, rel=1e-4), (reaction, reactants)
        assert any(fuel in r for r, _ in rates)


def test_gate_concentration_inverts_the_rate_law() -> None:
    rates = StepRates()
    rng = np.random.default_rng(3)
    for _ in range(200):
        order = int(rng.integers(0, 3))
        k, w = 10.0 ** rng.uniform(-8, 7), 10.0 ** rng.uniform(-11, -6)
        first, last, toeholds, excess = max(0, order - 1), bool(rng.integers(0, 2)), int(rng.integers(3, 6)), 2.0
        g = gate_for_rate(k, order, toeholds, first, w, last, rates, excess)
        f = g if order == 0 else excess * g
        assert effective_rate_constant(order, g, f, toeholds, first, w, last, rates) == pytest.approx(k, rel=1e-9)
    # closed forms: no competing helper -> [G] = k·W/q_r; inflow -> [G] = [F] = sqrt(k/q_f)
    assert gate_for_rate(5.0, 2, 3, 1, 1e-9, False, rates, 1.0) == pytest.approx(5.0 * 1e-9 / REACTANT_RATE)
    assert gate_for_rate(1e-15, 0, 3, 0, 1e-9, False, rates, 1.0) == pytest.approx(math.sqrt(1e-15 / FUEL_RATES[3]))


def test_design_puts_the_largest_gate_at_the_gate_scale() -> None:
    design = translate(_neuron(1.5, -0.3).crn)
    kd = kinetic_design(design, ALPHA, GOOD_GATE_SCALE)
    assert max(g.gate_molar for g in kd.gates) == pytest.approx(GOOD_GATE_SCALE, rel=1e-8)
    assert kd.kappa == pytest.approx(REACTANT_RATE * ALPHA)
    assert {h.name for h in kd.helpers} == {"H_x1", "H_y1"}
    with pytest.raises(InputError, match="gate scale"):
        kinetic_design(design, ALPHA, 1e-16)
    units = PhysicalUnits(unit="pM", gate_concentration=GOOD_GATE_SCALE)
    files = dsd_files(_neuron(1.5, -0.3), units)
    assert "H_y1 = s_y1 t w" in files["dsd.pil"] and "@initial" in files["dsd.pil"]
    import json

    data = json.loads(files["dsd.json"])
    assert max(c["concentration_M"] for c in data["gate_complexes"].values()) == pytest.approx(GOOD_GATE_SCALE)
    assert data["kinetics"]["kappa_per_s"] == pytest.approx(kd.kappa)


@pytest.mark.parametrize("w, b", [(1.5, -0.3), (-0.7, 0.3)])
def test_each_gate_fires_at_its_rate_constant(w: float, b: float) -> None:
    # each gate alone, enumerated by peppercorn, reactants clamped: the fitted firing rate over the product of
    # reactant levels is what the rate law predicts for that gate's concentrations, its own fuel and helpers
    # setting the toehold occupancy
    compiled = _neuron(w, b)
    kd = kinetic_design(translate(compiled.crn), ALPHA, SMALL_GATE_SCALE)
    for gate in kd.gates:
        measured = gate_rate(compiled, kd, gate.reaction, {"x1": ALPHA, "y1": 1.2 * ALPHA})
        assert measured.ratio == pytest.approx(1.0, abs=0.05), measured
        # the design's own toehold equilibrium (the whole neuron's strands) differs from the lone gate's
        assert measured.measured * (1 + measured.own_occupancy) == pytest.approx(measured.designed, rel=0.1)


@pytest.fixture(scope="module")
def active_neuron() -> NeuronNetworkRun:
    return NeuronNetworkRun(_neuron(1.5, -0.3), [1.0], ALPHA)


def test_single_neuron_settles_at_alpha_y_star(active_neuron: NeuronNetworkRun) -> None:
    settled = active_neuron.settle(GOOD_GATE_SCALE)
    assert settled.expected[0] == pytest.approx(0.5 * (1.2 + math.sqrt(1.2 ** 2 + 4 * 0.05)))  # closed form
    assert settled.relative_error(0) < STATED_ERROR, settled


def test_other_signs_settle_too() -> None:
    # weight < 0, bias > 0, active (z = 1.06 at x = 0.2): same design rule, same bound
    settled = NeuronNetworkRun(_neuron(-0.7, 1.2), [0.2], ALPHA).settle(GOOD_GATE_SCALE)
    assert settled.relative_error(0) < STATED_ERROR, settled


def test_error_grows_when_the_gates_are_too_small(active_neuron: NeuronNetworkRun) -> None:
    good = active_neuron.settle(GOOD_GATE_SCALE)
    small = active_neuron.settle(SMALL_GATE_SCALE)
    # depletion: the bias gate (Y -> 0) is used up, so Y overshoots
    assert small.gate_spent["G3"] > 2 * good.gate_spent["G3"]
    assert small.signed_error(0)[0] > max(STATED_ERROR, 2 * good.relative_error(0))
