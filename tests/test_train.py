"""Training, datasets and the exact folding of preprocessing into the first layer."""

from dataclasses import replace

import numpy as np
import pytest

from crn2sbml.errors import InputError
from crn2sbml.nn.activations import power_activation
from crn2sbml.nn.datasets import DATASETS, check_labelled, load_dataset
from crn2sbml.nn.train import TrainConfig, accuracy, jax_activation, train
from crn2sbml.nn.transforms import Standardiser, dual_rail, dual_rail_network
from tests.conftest import random_network


def test_training_is_reproducible_and_learns_xor():
    data = load_dataset("xor", seed=3)
    config = TrainConfig(hidden=(8,), epochs=150, seed=7, batch_size=32)
    a = train(data.x_train, data.y_train, config, progress=False)
    b = train(data.x_train, data.y_train, config, progress=False)
    assert a.network.weights_hash() == b.network.weights_hash()
    assert accuracy(a.network, data.x_test, data.y_test) >= 0.9
    c = train(data.x_train, data.y_train, TrainConfig(hidden=(8,), epochs=150, seed=8), progress=False)
    assert c.network.weights_hash() != a.network.weights_hash()


def test_early_stopping_stops_before_the_epoch_budget():
    data = load_dataset("iris")
    result = train(data.x_train, data.y_train, TrainConfig(hidden=(8,), epochs=2000, patience=5,
                                                             learning_rate=5e-2), progress=False)
    assert len(result.history) < 2000
    assert len(result.history) - 1 - result.best_epoch == 5


def test_regression_with_mse():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(300, 2))
    y = x[:, :1] + x[:, 1:]
    result = train(x, y, TrainConfig(hidden=(8,), epochs=200, task="regression", learning_rate=1e-2),
                   progress=False)
    assert np.mean((result.network.forward(x) - y) ** 2) < 0.01


def test_jax_activation_matches_numpy_and_has_implicit_gradient():
    import jax

    jax.config.update("jax_enable_x64", True)
    act = power_activation(0.05, 3)
    f = jax_activation(act)
    u = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(np.asarray(f(u)), act(u), rtol=1e-10)
    grads = np.asarray(jax.vmap(jax.grad(f))(u))
    np.testing.assert_allclose(grads, act.derivative(u), rtol=1e-8)


def test_standardisation_folds_exactly(rng):
    net = random_network(41, (5, 4, 3), 0.05)
    x = rng.uniform(0, 10, size=(50, 5))
    s = Standardiser.fit(x)
    np.testing.assert_allclose(s.fold_into(net).forward(x), _signed_forward(net, s(x)), rtol=1e-12)


def test_dual_rail_is_exact(rng):
    net = random_network(42, (3, 4, 2), 0.05)
    x = rng.normal(size=(20, 3))
    np.testing.assert_allclose(dual_rail_network(net).forward(dual_rail(x)), _signed_forward(net, x), rtol=1e-12)


def _signed_forward(net, x):
    # forward pass without the non-negativity check on inputs
    h = x
    for layer in net.layers:
        h = net.activation(h @ layer.weights.T + layer.bias)
    return h


@pytest.mark.parametrize("name", DATASETS)
def test_datasets_are_non_negative_and_split(name):
    data = load_dataset(name)
    assert data.x_train.min() >= 0 and data.x_test.min() >= 0
    assert len(data.x_test) > 0 and set(np.unique(data.y_test)) <= set(range(data.n_classes))
    if name == "digits":
        assert data.x_test.shape == (360, 64)


def test_bad_training_data_is_refused():
    x = np.ones((4, 2))
    with pytest.raises(InputError, match="3 labels for 4 samples"):
        check_labelled(x, np.zeros(3, dtype=int))
    with pytest.raises(InputError, match="non-empty"):
        check_labelled(np.ones((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(InputError, match="non-finite value nan at sample 1, feature 0"):
        check_labelled(np.array([[1.0, 1.0], [np.nan, 1.0]]), np.zeros(2, dtype=int))
    with pytest.raises(InputError, match="concentrations must be >= 0, got -1.0 at sample 0, feature 1 .*dual-rail"):
        check_labelled(np.array([[1.0, -1.0]]), np.zeros(1, dtype=int))
    with pytest.raises(InputError, match="numeric"):
        check_labelled(np.array([["a", "b"]]), np.zeros(1, dtype=int))
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("mnist-from-the-internet")


def test_training_ignores_the_global_x64_switch():
    import jax

    data = load_dataset("iris")
    config = TrainConfig(hidden=(4,), epochs=20, seed=1)
    before = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", False)
        a = train(data.x_train, data.y_train, config, progress=False).network.weights_hash()
        jax.config.update("jax_enable_x64", True)
        b = train(data.x_train, data.y_train, config, progress=False).network.weights_hash()
    finally:
        jax.config.update("jax_enable_x64", before)
    assert a == b


@pytest.mark.parametrize("name", ["smoothed_relu", "power3", "saturating"])
def test_activation_evaluates_in_jax_and_differentiates(name):
    """f and ∂f/∂y are written once (crn2sbml.nn.activations) and run on jax arrays, under jit and grad."""
    import jax
    import jax.numpy as jnp

    from crn2sbml.nn.activations import make_activation

    act = make_activation(name, 0.05)
    y = np.linspace(0.01, 4, 33)
    u = np.linspace(-3, 3, 33)
    with jax.enable_x64(True):
        f = jax.jit(act.f)(jnp.asarray(y), jnp.asarray(u))
        dfdy = jax.vmap(jax.grad(act.f, argnums=0))(jnp.asarray(y), jnp.asarray(u))
        dfdu = jax.vmap(jax.grad(act.f, argnums=1))(jnp.asarray(y), jnp.asarray(u))
    np.testing.assert_allclose(np.asarray(f), act.f(y, u), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(dfdy), act.dfdy(y, u), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(dfdu), act.dfdu(y, u), rtol=1e-12)


def test_jax_smoothed_relu_keeps_float32_and_the_trained_bits():
    """The zoo's weights are reproduced from seeds: the jax σ_eps must stay the same float32 operations."""
    import jax
    import jax.numpy as jnp

    from crn2sbml.nn.activations import smoothed_relu, smoothed_relu_activation

    eps = 0.05
    with jax.enable_x64(False):
        u = jnp.asarray(np.random.default_rng(0).normal(scale=3, size=500), dtype=jnp.float32)
        got = jax_activation(smoothed_relu_activation(eps))(u)
        root = jnp.sqrt(u * u + 4.0 * eps)
        expected = jnp.where(u >= 0, 0.5 * (u + root), 2.0 * eps / (root - u))  # the form training always used
        assert got.dtype == jnp.float32 and smoothed_relu(u, eps, xp=jnp).dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
        grad = jax.vmap(jax.grad(jax_activation(smoothed_relu_activation(eps))))(u)
        assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(np.asarray(got), smoothed_relu(np.asarray(u, dtype=float), eps), rtol=1e-6)


# ---- networks a lab can afford: bounded activations and weight sums (docs/dsd.md §1) ----
def _sigma(u, eps):
    # σ_eps written out from its defining quadratic y² - u·y - eps = 0, not through crn2sbml's activation code
    return (u + np.sqrt(u * u + 4.0 * eps)) / 2.0


def _largest_value(layers, eps, x):
    """Largest neuron value (hidden or output) of the raw ``(W, b)`` arrays over the samples ``x``."""
    h, top = np.asarray(x, dtype=float), -np.inf
    for w, b in layers:
        h = _sigma(h @ w.T + b, eps)
        top = max(top, float(h.max()))
    return top


def _arrays(network):
    return [(layer.weights, layer.bias) for layer in network.layers]


def test_bounded_training_keeps_every_neuron_and_weight_sum_below_the_bounds():
    data = load_dataset("iris")
    base = TrainConfig(hidden=(6,), epochs=60, seed=2)
    free = train(data.x_train, data.y_train, base, progress=False).network
    bounded = train(data.x_train, data.y_train, replace(base, max_activation=3.0, max_weight_sum=6.0),
                    progress=False)
    eps = base.eps
    # the same data and seed without the bounds exceed both, so the checks below can fail
    assert _largest_value(_arrays(free), eps, data.x_train) > 3.0
    assert max((np.abs(w).sum(axis=1) + np.abs(b)).max() for w, b in _arrays(free)) > 6.0
    assert _largest_value(_arrays(bounded.network), eps, data.x_train) <= 3.0
    for w, b in _arrays(bounded.network):
        assert (np.abs(w).sum(axis=1) + np.abs(b)).max() <= 6.0
    assert bounded.largest_activation == pytest.approx(_largest_value(_arrays(bounded.network), eps, data.x_train))
    assert accuracy(bounded.network, data.x_test, data.y_test) >= 0.7  # still a classifier (chance is 1/3)


def test_enforce_bound_scales_only_the_neurons_above_it_and_lands_on_it(rng):
    from crn2sbml.nn.train import enforce_bound

    net = random_network(5, (3, 6, 4), 0.05)
    x = rng.uniform(0, 4, size=(200, 3))
    values = [_sigma(u, 0.05) for u in net.pre_activations(x)]
    bound = float(np.median(np.concatenate([v.max(axis=0) for v in values])))  # about half the neurons above
    fixed, changed = enforce_bound(net, x, bound)
    assert _largest_value(_arrays(fixed), 0.05, x) <= bound
    first_over = set(np.flatnonzero(values[0].max(axis=0) > bound))
    assert {j for layer, j, _ in changed if layer == 0} == first_over and first_over
    for j in range(6):  # first layer: untouched neurons keep their weights, scaled ones reach the bound exactly
        if j in first_over:
            assert _sigma(x @ fixed.layers[0].weights[j] + fixed.layers[0].bias[j], 0.05).max() == pytest.approx(
                bound, rel=1e-5)
        else:
            np.testing.assert_array_equal(fixed.layers[0].weights[j], net.layers[0].weights[j])
    assert all(0 < factor < 1 for _, _, factor in changed)


def test_enforce_bound_with_a_polynomial_activation_checked_by_brentq(rng):
    from scipy.optimize import brentq

    from crn2sbml.nn.network import FeedForwardNetwork
    from crn2sbml.nn.train import enforce_bound

    act = power_activation(0.05, 3)  # y* solves 0.05 + u·y - y³ = 0
    base = random_network(6, (2, 3, 2), 0.05)
    net = FeedForwardNetwork(base.layers, act)
    x = rng.uniform(0, 3, size=(40, 2))
    fixed, changed = enforce_bound(net, x, 1.2)
    assert changed
    h = x
    for layer in fixed.layers:
        u = h @ layer.weights.T + layer.bias
        h = np.vectorize(lambda v: brentq(lambda y: 0.05 + v * y - y**3, 1e-12, 100.0, xtol=1e-14))(u)
        assert h.max() <= 1.2


@pytest.mark.parametrize("field", ["max_activation", "max_weight_sum"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), True, "5"])
def test_bad_bounds_are_refused(field, value):
    data = load_dataset("iris")
    with pytest.raises(InputError, match=f"training options: {field} must be a finite number > 0"):
        train(data.x_train, data.y_train, TrainConfig(hidden=(4,), epochs=2, **{field: value}), progress=False)


def test_a_bound_below_the_resting_value_is_refused():
    # a neuron with input 0 sits at σ_eps(0) = sqrt(eps) = 0.2236 for eps 0.05: no scaling brings it lower
    data = load_dataset("iris")
    with pytest.raises(InputError, match=r"max_activation 0.2 must exceed 0.2236"):
        train(data.x_train, data.y_train, TrainConfig(hidden=(4,), max_activation=0.2), progress=False)
    with pytest.raises(InputError, match="activation_penalty"):
        train(data.x_train, data.y_train, TrainConfig(activation_penalty=float("nan")), progress=False)


def test_cli_train_max_activation(tmp_path, capsys):
    import json

    from crn2sbml.cli import main
    from crn2sbml.io import load_weights

    out = tmp_path / "bounded"
    assert main(["train", "--dataset", "iris", "--hidden", "6", "--epochs", "60", "--seed", "2",
                 "--max-activation", "3", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "on the training data" in printed and "bound 3" in printed
    metrics = json.loads((out / "training.json").read_text())
    network = load_weights(out / "weights.npz")
    data = load_dataset("iris", seed=2)  # the CLI splits with its --seed
    largest = _largest_value(_arrays(network), network.eps, data.x_train)
    assert largest <= 3.0
    assert metrics["largest_activation_train"] == pytest.approx(largest)
    assert metrics["largest_activation_test"] == pytest.approx(_largest_value(_arrays(network), network.eps,
                                                                              data.x_test))
    for bad in ("0", "nan", "-2"):
        assert main(["train", "--dataset", "iris", "--max-activation", bad, "--out", str(tmp_path / "x")]) == 1
        assert "max_activation must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
