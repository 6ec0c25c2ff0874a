"""Claims of docs/theory.md §2-§3 measured on shipped models and random networks (each check is a library function)."""

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.io import load_weights
from crn2sbml.validate import theory
from crn2sbml.zoo import MODELS, ZOO, dataset_for
from tests.conftest import STEADY_STATE_RTOL, random_network


def _zoo(name):
    return load_weights(MODELS / name / "weights.npz"), dataset_for(ZOO[name])


@pytest.mark.parametrize("name", ["iris", "iris-power3"])
def test_thousand_initial_states_reach_one_fixed_point(name):
    net, data = _zoo(name)
    result = theory.uniqueness(compile_network(net), data.x_test[:4], n_starts=1000)
    assert result.n_starts == 1000
    assert result.passed(STEADY_STATE_RTOL), result


@pytest.mark.parametrize("name", ["wine", "iris-power3", "wine-saturating"])
def test_decay_rates_match_linearisation_and_exceed_bound(name):
    net, data = _zoo(name)
    rates = theory.decay_rates(compile_network(net), data.x_test[0])
    assert rates.max_relative_error_vs_predicted < 1e-3
    assert rates.min_ratio_to_bound >= 1 - 1e-3
    if net.activation.is_smoothed_relu():
        assert rates.bound == pytest.approx(2 * np.sqrt(net.eps))


def test_decay_rates_scale_with_time_scale():
    net = random_network(51, (3, 4, 2), 0.05)
    x = np.full(3, 0.5)
    slow = theory.decay_rates(compile_network(net, 1.0), x).measured
    fast = theory.decay_rates(compile_network(net, 3.0), x).measured
    np.testing.assert_allclose(fast, 3 * slow, rtol=1e-3)


def test_sensitivities_match_analytic_gradient():
    net, data = _zoo("iris")
    result = theory.sensitivities(net, data.x_test[:1], n_parameters=8)
    assert result.max_relative_error < 1e-5, result


def test_sensitivities_of_polynomial_activation():
    net = random_network(52, (3, 3, 2), 0.05)
    from crn2sbml.nn.activations import power_activation
    from crn2sbml.nn.network import FeedForwardNetwork

    cubic = FeedForwardNetwork(net.layers, power_activation(0.05, 3))
    result = theory.sensitivities(cubic, np.full((1, 3), 0.7), n_parameters=6)
    assert result.max_relative_error < 1e-5, result


def test_eps_tradeoff_is_sqrt_eps_and_two_sqrt_eps():
    for row in theory.eps_tradeoff((1e-3, 0.1, 1.0)):
        assert row["max_gap_to_relu"] == pytest.approx(row["sqrt_eps"], rel=1e-6)
        assert row["slowest_rate"] == pytest.approx(row["two_sqrt_eps"], rel=1e-3)


def test_settle_time_grows_as_eps_shrinks():
    rows = theory.settle_times(depths=(1, 3), eps_values=(1e-2, 1.0), n_samples=3)
    by = {(r["eps"], r["depth"]): r["settle_time"] for r in rows}
    for depth in (1, 3):
        assert by[(1e-2, depth)] > 3 * by[(1.0, depth)]
    assert all(r["settle_time"] > 0 for r in rows)


def test_chain_rule_gradient_matches_jax_autodiff():
    """The gradient the sensitivity check compares against, checked against JAX autodiff of the forward pass."""
    import jax
    import jax.numpy as jnp

    from crn2sbml.nn.activations import power_activation
    from crn2sbml.nn.network import FeedForwardNetwork
    from crn2sbml.nn.train import jax_activation

    base = random_network(53, (3, 4, 3, 2), 0.05)
    x = np.array([0.3, 1.2, 0.7])

    def forward(params, act):
        h = jnp.asarray(x)
        for w, b in params:
            h = act(w @ h + b)
        return h

    for net in (base, FeedForwardNetwork(base.layers, power_activation(0.05, 3))):
        with jax.enable_x64(True):
            params = [(jnp.asarray(layer.weights), jnp.asarray(layer.bias)) for layer in net.layers]
            auto = jax.jacrev(forward)(params, jax_activation(net.activation))
        for (dw, db), (aw, ab) in zip(theory.analytic_gradients(net, x), auto, strict=True):
            np.testing.assert_allclose(dw, np.asarray(aw), rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(db, np.asarray(ab), rtol=1e-8, atol=1e-12)
