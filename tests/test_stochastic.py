"""Exact SSA (rebop and libRoadRunner gillespie), propensity conventions, LNA, and rate-perturbed fixed points.

Statistical tests use batch means over long stationary trajectories (batches much longer than the relaxation
time, so batch means are nearly independent) and a z-test at 4.5 sigma; every seed is fixed, so they are
deterministic, and the tolerance only guards against a seed that happens to sit in a tail.
"""

from __future__ import annotations

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.stochastic.engines import make_engine
from crn2sbml.stochastic.lna import lna_covariance, lna_matrices, smoothed_relu_jacobian
from crn2sbml.stochastic.perturb import lognormal_factors, perturbed_fixed_point
from crn2sbml.stochastic.readout import Setting, settings_grid, task_seeds
from crn2sbml.stochastic.ssa import (
    RebopSSA,
    RoadRunnerSSA,
    birth_death_stationary,
    input_counts,
    stochastic_sbml,
)

Z = 4.5


def one_neuron(eps: float = 0.1) -> FeedForwardNetwork:
    return FeedForwardNetwork.from_arrays([(np.array([[1.0]]), np.array([-0.5]))], eps=eps)


def net_221() -> FeedForwardNetwork:
    return FeedForwardNetwork.from_arrays([(np.array([[1.0, -0.5], [0.7, 0.4]]), np.array([0.2, -0.1])),
                                           (np.array([[1.2, -0.8]]), np.array([0.3]))], eps=0.1)


def batch_stats(values: np.ndarray, n_batches: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and second central moment per column, with standard errors from batch means."""
    batches = np.array_split(values, n_batches)
    means = np.array([b.mean(axis=0) for b in batches])
    grand = values.mean(axis=0)
    second = np.array([((b - grand) ** 2).mean(axis=0) for b in batches])
    return grand, means.std(axis=0, ddof=1) / np.sqrt(n_batches), second.mean(axis=0), \
        second.std(axis=0, ddof=1) / np.sqrt(n_batches)


def stationary(engine: str, compiled, x, omega, t_end, seed, convention="exact", burn=20.0) -> np.ndarray:
    n_points = int(t_end / 0.5) + 1  # 0.5 time units between records: ~0.4 relaxation times
    trajectory = make_engine(engine, compiled, omega, convention=convention).run(x, t_end, n_points, seed=seed)
    return trajectory.concentrations[trajectory.times >= burn]


def test_propensity_convention_changes_the_stationary_mean_and_ssa_matches_the_exact_chain():
    """At Ω = 5 the exact (n(n−1)) and squared (n²) conventions give stationary means 2.1 vs 1.5 molecules;
    rebop's exact SSA matches the exact birth–death chain and not the squared one."""
    compiled = compile_network(one_neuron())
    x, omega = np.array([0.8]), 5.0
    n = np.arange(400)
    exact = birth_death_stationary(compiled, x, omega, "exact", n_max=399)
    squared = birth_death_stationary(compiled, x, omega, "squared", n_max=399)
    m_exact, m_squared = (n * exact).sum() / omega, (n * squared).sum() / omega
    assert m_exact - m_squared > 0.05
    for convention, target in (("exact", exact), ("squared", squared)):
        y = stationary("rebop", compiled, x, omega, 20000.0, seed=11, convention=convention)[:, 0]
        mean, se, var, var_se = batch_stats(y)
        m = (n * target).sum() / omega
        v = (n * n * target).sum() / omega**2 - m * m
        assert abs(mean - m) < Z * se, (convention, mean, m, se)
        assert abs(var - v) < Z * var_se, (convention, var, v, var_se)
        other = m_squared if convention == "exact" else m_exact
        assert abs(mean - other) > 5 * se  # and the other convention is clearly rejected


def test_roadrunner_gillespie_on_plain_sbml_uses_the_squared_convention():
    """libRoadRunner evaluates ``cell·k·Y²`` on counts/Ω: the n² propensity. stochastic_sbml(convention=
    "exact") rewrites it to the falling factorial; both match their birth–death chains."""
    compiled = compile_network(one_neuron())
    x, omega = np.array([0.8]), 5.0
    n = np.arange(400)
    for convention in ("exact", "squared"):
        target = birth_death_stationary(compiled, x, omega, convention, n_max=399)
        y = stationary("roadrunner", compiled, x, omega, 20000.0, seed=5, convention=convention)[:, 0]
        mean, se, _, _ = batch_stats(y)
        assert abs(mean - (n * target).sum() / omega) < Z * se, convention
    # the falling factorial (y1 − 1/cell) is the only subtraction in any kinetic law
    assert "<minus/>" not in stochastic_sbml(compile_sbml(compiled), 5.0, "squared")
    assert stochastic_sbml(compile_sbml(compiled), 5.0, "exact").count("<minus/>") == 1


def test_stochastic_sbml_writes_rate_factors_into_the_rate_constants():
    import libsbml

    compiled = compile_network(net_221())
    reactions = compiled.crn.reactions
    factors = {reactions[0].id: 1.5, reactions[3].id: 0.25}
    model = libsbml.readSBMLFromString(stochastic_sbml(compile_sbml(compiled), 20.0, "exact", factors)).getModel()
    for reaction in reactions:
        k = model.getReaction(reaction.id).getKineticLaw().getLocalParameter("k").getValue()
        assert np.isclose(k, reaction.rate_constant * factors.get(reaction.id, 1.0), rtol=1e-14, atol=0)
    with pytest.raises(InputError, match="not in the model"):
        stochastic_sbml(compile_sbml(compiled), 20.0, "exact", {"nope": 2.0})
    with pytest.raises(InputError, match="finite and > 0"):
        stochastic_sbml(compile_sbml(compiled), 20.0, "exact", {reactions[0].id: -1.0})
    with pytest.raises(InputError):
        RoadRunnerSSA(compiled, 20.0, rate_factors=np.ones(2))


def compile_sbml(compiled) -> str:
    from crn2sbml.export.sbml import to_sbml

    return to_sbml(compiled)


@pytest.mark.parametrize("factory,omega,x", [(one_neuron, 10.0, np.array([0.8])),
                                             (net_221, 20.0, np.array([0.6, 0.5]))])
def test_rebop_and_roadrunner_agree_in_mean_and_variance(factory, omega, x):
    compiled = compile_network(factory())
    a = stationary("rebop", compiled, x, omega, 8000.0, seed=1)
    b = stationary("roadrunner", compiled, x, omega, 8000.0, seed=2)
    ma, sa, va, vsa = batch_stats(a)
    mb, sb, vb, vsb = batch_stats(b)
    assert np.all(np.abs(ma - mb) < Z * np.hypot(sa, sb)), (ma, mb)
    assert np.all(np.abs(va - vb) < Z * np.hypot(vsa, vsb)), (va, vb)


def test_seeds_reproduce_runs_and_differ_between_seeds():
    compiled = compile_network(net_221())
    x = np.array([0.6, 0.5])
    for engine in ("rebop", "roadrunner"):
        sim = make_engine(engine, compiled, 20.0)
        first, again, other = (sim.run(x, 20.0, 41, seed=s).counts for s in (3, 3, 4))
        assert np.array_equal(first, again) and not np.array_equal(first, other), engine


def test_lna_jacobian_closed_form_and_variance_match_ssa_at_moderate_omega():
    compiled = compile_network(net_221())
    x = np.array([0.6, 0.5])
    y, jac, diffusion = lna_matrices(compiled, x)
    assert np.allclose(jac, smoothed_relu_jacobian(compiled, x), rtol=1e-12, atol=1e-12)
    assert np.allclose(jac, np.tril(jac)) and np.allclose(diffusion, np.diag(np.diag(diffusion)))
    assert np.allclose(y, np.concatenate(compiled.network.activations(x), axis=1)[0])
    omega = 200.0
    cov = lna_covariance(compiled, x, omega)
    _, _, var, var_se = batch_stats(stationary("rebop", compiled, x, omega, 4000.0, seed=7))
    # LNA is exact to leading order in 1/Ω: allow the statistical error plus a 5 % O(1/Ω) correction
    assert np.all(np.abs(var - np.diag(cov)) < Z * var_se + 0.05 * np.diag(cov)), (var, np.diag(cov))


def test_lna_at_exact_inputs_scales_as_one_over_omega_and_rounding_moves_the_fixed_point():
    compiled = compile_network(net_221())
    x = np.array([0.64, 0.57])  # at Ω = 10: 6.4 and 5.7 molecules, rounded to 6 and 6
    exact = [lna_covariance(compiled, x, omega, round_inputs=False) * omega for omega in (10.0, 1e3)]
    assert np.allclose(exact[0], exact[1], rtol=1e-12)
    assert np.allclose(lna_covariance(compiled, x, 1e3, round_inputs=False) * 1e3,
                       lna_covariance(compiled, x, 1e3) * 1e3, rtol=1e-12)  # 640 and 570 molecules: no rounding
    rounded = lna_covariance(compiled, x, 10.0) * 10.0
    assert np.allclose(rounded, lna_covariance(compiled, np.array([0.6, 0.6]), 1e4, round_inputs=False) * 1e4,
                       rtol=1e-12)
    assert not np.allclose(rounded, exact[0], rtol=1e-3)


def test_closed_form_perturbed_fixed_point_matches_roadrunner_settle_of_perturbed_sbml():
    import libsbml

    from crn2sbml.notebook import set_inputs
    from crn2sbml.simulate.roadrunner import load_roadrunner

    compiled = compile_network(FeedForwardNetwork.from_arrays(
        [(np.array([[1.0, -0.5, 0.3], [0.7, 0.4, -1.1]]), np.array([0.2, -0.1])),
         (np.array([[1.2, -0.8], [-0.4, 0.9]]), np.array([0.3, 0.0]))], eps=0.05))
    factors = lognormal_factors(np.random.default_rng(3), 2, len(compiled.crn.reactions), 0.4)
    x = np.array([[0.6, 0.5, 0.2], [1.5, 0.1, 0.9]])
    closed = perturbed_fixed_point(compiled, x, factors)
    for p in range(factors.shape[0]):
        doc = libsbml.readSBMLFromString(compile_sbml(compiled))
        for reaction, factor in zip(compiled.crn.reactions, factors[p], strict=True):
            k = doc.getModel().getReaction(reaction.id).getKineticLaw().getLocalParameter("k")
            k.setValue(reaction.rate_constant * factor)
        rr = load_roadrunner(libsbml.writeSBMLToString(doc))  # checked SBML, the suite's one JIT backend
        rr.getIntegrator().setValue("relative_tolerance", 1e-12)
        rr.getIntegrator().setValue("absolute_tolerance", 1e-14)
        for i, row in enumerate(x):
            set_inputs(rr, compiled.input_species, row)
            rr.simulate(0.0, 400.0, 2)
            settled = np.array([rr.getValue(f"[{s}]") for s in compiled.neuron_species])
            assert np.allclose(closed[p, i], settled, rtol=1e-7), (closed[p, i], settled)
    # and the perturbation really moved the fixed point (the check above is not vacuous)
    assert not np.allclose(closed[0], np.concatenate(compiled.network.activations(x), axis=1), rtol=1e-3)


def test_unperturbed_closed_form_is_the_network_for_polynomial_activations():
    from crn2sbml.nn.activations import make_activation

    for name in ("smoothed_relu", "power3", "saturating"):
        net = FeedForwardNetwork.from_arrays([(np.array([[1.0, -2.0], [0.5, 0.5]]), np.array([0.1, -0.3])),
                                              (np.array([[1.0, 1.0]]), np.array([0.0]))],
                                             activation=make_activation(name, 0.05))
        x = np.array([[0.2, 0.4], [2.0, 0.1]])
        fixed = perturbed_fixed_point(compile_network(net, time_scale=3.0), x)[0]
        assert np.allclose(fixed, np.concatenate(net.activations(x), axis=1), rtol=1e-10), name


def test_lognormal_factors_have_mean_one_and_the_requested_cv():
    f = lognormal_factors(np.random.default_rng(0), 2000, 50, 0.3)
    assert abs(f.mean() - 1) < 0.01 and abs(f.std() / f.mean() - 0.3) < 0.01


def test_settings_grid_and_task_seeds():
    grid = settings_grid([100, 10], [0.3])
    assert [(s.omega, s.rate_cv) for s in grid] == [(10, 0), (10, 0.3), (100, 0), (100, 0.3), (None, 0.3)]
    rng_a, seed_a = task_seeds(1, 2, 3, 4)
    rng_b, seed_b = task_seeds(1, 2, 3, 4)
    assert seed_a == seed_b and rng_a.random() == rng_b.random()
    assert task_seeds(1, 2, 3, 5)[1] != seed_a and 0 <= seed_a < 2**63


def test_bad_arguments_raise_typed_errors():
    compiled = compile_network(one_neuron())
    for bad in (0, -1, float("nan"), float("inf"), True):
        with pytest.raises(InputError):
            RebopSSA(compiled, bad)
    with pytest.raises(InputError):
        RebopSSA(compiled, 10, convention="n2")
    with pytest.raises(InputError):
        RebopSSA(compiled, 10).run(np.array([0.5]), 10.0, 11, seed=-1)
    with pytest.raises(InputError):
        RoadRunnerSSA(compiled, 10).run(np.array([-0.5]), 10.0, 11, seed=1)
    with pytest.raises(InputError):
        Setting(10, -0.1)
    with pytest.raises(InputError):
        make_engine("gillespy", compiled, 10)
    assert list(input_counts(np.array([0.04, 0.26]), 10)) == [0, 3]
