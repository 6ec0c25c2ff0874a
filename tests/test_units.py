"""Physical units: exact rescaling, unit-clean SBML, and a feasibility report that names what it violates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.units import (
    PhysicalUnits,
    feasibility,
    max_kappa,
    physical_network,
    rate_limit,
    sigma_hat,
    to_physical_sbml,
)
from crn2sbml.nn.activations import smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.validate.sbml_check import check_sbml


def _network() -> FeedForwardNetwork:
    # both signs of weight and bias, two layers
    return FeedForwardNetwork((Layer(np.array([[1.5, -0.7], [-2.0, 0.4]]), np.array([0.3, -0.2])),
                               Layer(np.array([[0.8, -1.1]]), np.array([0.1]))), smoothed_relu_activation(0.05))


@pytest.mark.parametrize("unit, scale", [("nM", 1.0), ("nM", 20.0), ("uM", 0.5)])
def test_physical_sbml_settles_at_alpha_times_output(unit: str, scale: float) -> None:
    compiled = compile_network(_network())
    units = PhysicalUnits(unit=unit, scale=scale)
    text = to_physical_sbml(compiled, units)
    check = check_sbml(text)
    assert check.is_perfect(), check.errors + check.warnings
    phys = physical_network(compiled, units)
    x = np.array([[1.0, 0.5], [0.0, 2.0], [3.0, 0.0]])
    # stop at a relative rate 1e-10 of the slowest physical relaxation rate 2·sqrt(eps)·κ (1/s): the error
    # left is then ~1e-10 relative
    rate = compiled.network.activation.rate_bound() * phys.time_scale
    sim = roadrunner_simulator(phys, encoding="elementary", sbml=text, tolerance=1e-10 * rate)
    settled = sim.settle(x * scale).require_converged()  # inputs in the SBML's unit: α·x
    expected = compiled.network.forward(x) * scale
    assert np.max(np.abs(settled.outputs / expected - 1)) < 1e-8


def test_rate_constants_rescale_by_order() -> None:
    compiled = compile_network(_network())
    units = PhysicalUnits(unit="nM", kappa=1e-3)
    phys = physical_network(compiled, units, inputs=np.array([2.0, 3.0]))
    by_id = {r.id: r for r in phys.crn.reactions}
    for r in compiled.crn.reactions:
        # numbers in nM with scale 1: k·κ·1^(1-n), i.e. k·κ; in molar the report's figure is k·κ·α^(1-n)
        assert by_id[r.id].rate_constant == pytest.approx(r.rate_constant * 1e-3, rel=1e-15)
    assert {s.id: s.initial_concentration for s in phys.crn.species if s.boundary} == {"x1": 2.0, "x2": 3.0}
    report = feasibility(compiled, units)
    molar = {c.reaction: c.rate_constant for c in report.rates}
    assert molar["y1_inflow"] == pytest.approx(0.05 * 1e-9 * 1e-3)          # eps·α·κ  M/s
    assert molar["y1_limit"] == pytest.approx(1e-3 / 1e-9)                  # κ/α      /M/s
    assert molar["h1_1_w_x2"] == pytest.approx(0.7 * 1e-3 / 1e-9)           # |w|·κ/α  /M/s
    assert molar["h1_2_bias"] == pytest.approx(0.2 * 1e-3)                  # |b|·κ    /s


def test_default_kappa_is_the_largest_allowed_and_sigma_hat_is_sufficient() -> None:
    compiled = compile_network(_network())
    units = PhysicalUnits(unit="nM", q_max=1e6)
    report = feasibility(compiled, units)
    assert report.kappa_per_s == pytest.approx(max_kappa(compiled, units))
    assert max(r.ratio for r in report.rates if r.ratio is not None) == pytest.approx(1.0)
    # every bimolecular constant at κ = q_max·α/σ̂ is within q_max, and that κ is never above the largest
    assert sigma_hat(compiled) == pytest.approx(2.0 + 0.4 + 1)  # neuron h1_2 has the largest Σ|w|
    at_sigma = feasibility(compiled, PhysicalUnits(unit="nM", kappa=report.kappa_sigma_hat_per_s))
    assert all(r.ratio <= 1 + 1e-12 for r in at_sigma.rates if r.order == 2)
    assert report.kappa_sigma_hat_per_s <= report.kappa_per_s * (1 + 1e-12)


def test_report_names_a_violated_q_max() -> None:
    compiled = compile_network(_network())
    units = PhysicalUnits(unit="nM", q_max=1e6)
    too_fast = PhysicalUnits(unit="nM", q_max=1e6, kappa=10 * max_kappa(compiled, units))
    report = feasibility(compiled, too_fast)
    assert not report.feasible
    assert any(v.startswith("q_max: h1_2_w_x1") for v in report.violations), report.violations
    data = json.loads(report.to_json())
    assert data["feasible"] is False and data["violations"] == report.violations
    assert "q_max: h1_2_w_x1" in report.to_text()


def test_leak_and_gate_estimates() -> None:
    compiled = compile_network(_network())
    units = PhysicalUnits(unit="uM", gate_concentration=1e-5, leak_rate=0.0)
    report = feasibility(compiled, units, inputs=np.array([1.0, 1.0]))
    assert set(report.leak_delta_eps.values()) == {0.0}
    # settle time: depth · ln(1000) / (2·sqrt(eps)·κ)
    assert report.settle_time_hours == pytest.approx(2 * np.log(1e3) / (2 * np.sqrt(0.05) * report.kappa_per_s)
                                                     / 3600)
    leaky = feasibility(compiled, PhysicalUnits(unit="nM", leak_rate=1.0))
    assert any(v.startswith("leak:") for v in leaky.violations)
    assert rate_limit(3, units) is None


def test_bad_units_are_refused() -> None:
    with pytest.raises(InputError, match="unknown concentration unit"):
        PhysicalUnits(unit="furlong")
    with pytest.raises(InputError, match="q_max"):
        PhysicalUnits(q_max=-1)
