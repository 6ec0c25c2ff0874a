"""Training, datasets and the exact folding of preprocessing into the first layer."""

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
