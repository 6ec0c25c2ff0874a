"""The compiler's single network -> ODE step, CompiledNetwork's checks, the shared random-network builder and
the one table of defaults."""

from __future__ import annotations

import dataclasses
import inspect
import io

import numpy as np
import pytest

from crn2sbml import defaults
from crn2sbml.compiler import CompiledNetwork, compile_network, neuron_monomials
from crn2sbml.crn import ReactionNetwork, Species
from crn2sbml.errors import NetworkError
from crn2sbml.kinetics import MassActionODE
from crn2sbml.nn.activations import PolynomialActivation, make_activation
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.nn.random import random_network
from tests import conftest

ACTIVATIONS = [make_activation(name, 0.07) for name in ("smoothed_relu", "power3", "power4", "saturating")] + [
    PolynomialActivation(((0, 0.05, 0.0), (1, 0.0, 1.0), (2, 0.0, 1.0), (3, -1.0, 0.0)), name="two_u_powers")]


# ---------------------------------------------------------------- monomials: the one expansion
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: a.name)
def test_monomials_sum_to_the_activation(activation, rng):
    net = random_network(3, (4, 5, 3), activation=activation)
    compiled = compile_network(net)
    monos = compiled.monomials()
    assert list(monos) == list(compiled.neuron_species)  # layer order
    x = rng.uniform(0, 2, size=net.n_inputs)
    values = dict(zip(compiled.input_species, x, strict=True))  # concentration of every species so far
    upstream = x
    for layer, ids in zip(net.layers, compiled.layer_species, strict=True):
        u = layer.weights @ upstream + layer.bias
        y = rng.uniform(0.1, 2, size=len(ids))  # any state, not only the fixed point
        values.update(zip(ids, y, strict=True))
        for j, sp in enumerate(ids):
            total = sum(m.coefficient * y[j] ** m.power * (values[m.catalyst] if m.catalyst else 1.0)
                        for m in monos[sp])
            assert total == pytest.approx(float(activation.f(y[j], u[j])), rel=1e-12, abs=1e-12)
            assert all(m.coefficient != 0 for m in monos[sp])
        upstream = y


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: a.name)
def test_one_reaction_per_monomial_with_rate_c_times_coefficient(activation):
    compiled = compile_network(random_network(4, (3, 6, 2), activation=activation), time_scale=3.0)
    monos = [m for ms in compiled.monomials().values() for m in ms]
    assert len(monos) == len(compiled.crn.reactions)
    for m, r in zip(monos, compiled.crn.reactions, strict=True):
        assert r.rate_constant == abs(m.coefficient) * 3.0
        assert r.catalysts() == ((m.catalyst,) if m.catalyst else ())
        assert sum(n for s, n in r.reactants if s != m.catalyst) == m.power


def test_neuron_monomials_refuses_mismatched_species():
    net = random_network(1, (2, 3), 0.1)
    with pytest.raises(NetworkError, match="layers of species"):
        neuron_monomials(net, ("x1", "x2"), ())
    with pytest.raises(NetworkError, match="given 2 species"):
        neuron_monomials(net, ("x1", "x2"), (("a", "b"),))


# ---------------------------------------------------------------- CompiledNetwork checks itself
def _compiled() -> CompiledNetwork:
    return compile_network(random_network(5, (2, 3, 2), 0.1))


@pytest.mark.parametrize("change,message", [
    ({"time_scale": 0.0}, "time scale must be finite and > 0"),
    ({"time_scale": float("inf")}, "time scale must be finite and > 0"),
    ({"time_scale": float("nan")}, "time scale must be finite and > 0"),
    ({"time_scale": True}, "time scale must be a number"),
    ({"input_species": ("x1",)}, "do not match the network's shape"),
    ({"layer_species": (("h1_1", "h1_2", "h1_3"),)}, "do not match the network's shape"),
    ({"layer_species": (("h1_1", "h1_2", "zz"), ("y1", "y2"))}, r"species \['zz'\] are not in the reaction"),
    ({"layer_species": (("h1_1", "h1_2", "h1_3"), ("y1", "y1"))}, "more than one input or neuron"),
    ({"input_species": ("x1", "h1_1")}, "more than one input or neuron"),
    ({"layer_species": (("x1", "h1_2", "h1_3"), ("y1", "y2"))}, "more than one input or neuron"),
])
def test_compiled_network_is_checked_on_construction(change, message):
    with pytest.raises(NetworkError, match=message):
        dataclasses.replace(_compiled(), **change)


def test_compiled_network_roles_of_species_are_checked():
    good = _compiled()
    unclamped = ReactionNetwork(tuple(dataclasses.replace(s, boundary=False) if s.id == "x1" else s
                                      for s in good.crn.species), (), name=good.crn.name)
    with pytest.raises(NetworkError, match="input species must be clamped"):
        dataclasses.replace(good, crn=unclamped)
    clamped = ReactionNetwork((*good.crn.species[:-1], Species("y2", boundary=True)), (), name=good.crn.name)
    with pytest.raises(NetworkError, match="neuron species must not be clamped"):
        dataclasses.replace(good, crn=clamped)
    with pytest.raises(NetworkError, match="must be a ReactionNetwork"):
        dataclasses.replace(good, crn="not a network")


def test_compiled_network_copies_lists_into_tuples():
    good = _compiled()
    again = CompiledNetwork(good.crn, good.network, list(good.input_species),
                            [list(layer) for layer in good.layer_species], np.float64(2.0))
    assert again.input_species == good.input_species and again.layer_species == good.layer_species
    assert type(again.time_scale) is float


def test_kinetics_calls_the_reaction_network_crn():
    compiled = _compiled()
    ode = MassActionODE.from_crn(compiled.crn)
    assert ode.crn is compiled.crn


# ---------------------------------------------------------------- the shared random-network builder
def test_random_network_is_reproducible_and_has_every_sign():
    a, b = random_network(8, (6, 10, 3), 0.2), random_network(8, (6, 10, 3), 0.2)
    assert a.weights_hash() == b.weights_hash() and a.eps == 0.2 and a.shape == (6, 10, 3)
    w = np.concatenate([layer.weights.ravel() for layer in a.layers])
    assert (w > 0).any() and (w < 0).any() and (w == 0).any()
    assert random_network(9, (6, 10, 3), 0.2).weights_hash() != a.weights_hash()
    assert not (random_network(8, (6, 10, 3), zero_fraction=0.0).layers[0].weights == 0).any()
    assert random_network(8, (2, 2)).eps == defaults.EPS
    assert conftest.random_network is random_network  # the tests use this builder


def test_random_network_with_an_activation():
    act = make_activation("power3", 0.3)
    assert random_network(1, (2, 3), activation=act).activation is act
    assert random_network(1, (2, 3), 0.3, activation=act).activation is act
    with pytest.raises(NetworkError, match="contradicts"):
        random_network(1, (2, 3), 0.1, activation=act)


@pytest.mark.parametrize("kwargs,message", [
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"shape": (3,)}, "shape"), ({"shape": (3, 0)}, "shape"),
    ({"zero_fraction": 1.5}, "zero_fraction"), ({"scale": float("nan")}, "scale"),
])
def test_random_network_refuses_bad_arguments(kwargs, message):
    args = {"seed": 0, "shape": (2, 2), "eps": 0.1, **kwargs}
    with pytest.raises(NetworkError, match=message):
        random_network(**args)


# ---------------------------------------------------------------- one table of defaults
def test_every_entry_point_uses_the_defaults(tmp_path):
    from crn2sbml.cli import build_parser
    from crn2sbml.io import load_weights
    from crn2sbml.nn.importers import from_safetensors, from_sklearn, import_onnx
    from crn2sbml.nn.train import TrainConfig

    config = TrainConfig()
    assert (config.eps, config.epochs, config.batch_size, config.learning_rate, config.hidden) == (
        defaults.EPS, defaults.EPOCHS, defaults.BATCH_SIZE, defaults.LEARNING_RATE, defaults.HIDDEN)
    assert FeedForwardNetwork.from_arrays([(np.ones((1, 1)), np.zeros(1))]).eps == defaults.EPS
    for importer in (from_sklearn, import_onnx, from_safetensors):
        assert inspect.signature(importer).parameters["eps"].default == defaults.EPS
    train = build_parser().parse_args(["train", "--dataset", "xor", "--out", "o"])
    assert (train.eps, train.epochs, train.batch_size, train.lr, train.hidden, train.activation) == (
        defaults.EPS, defaults.EPOCHS, defaults.BATCH_SIZE, defaults.LEARNING_RATE, list(defaults.HIDDEN),
        defaults.ACTIVATION)
    assert build_parser().parse_args(["import", "m.onnx", "--out", "o"]).eps == defaults.EPS
    assert build_parser().parse_args(["compile", "w.npz", "--out", "o"]).time_scale == defaults.TIME_SCALE
    buffer = io.BytesIO()
    np.savez(buffer, W1=np.ones((1, 2)), b1=np.zeros(1))  # a weights file without eps
    (tmp_path / "w.npz").write_bytes(buffer.getvalue())
    assert load_weights(tmp_path / "w.npz").eps == defaults.EPS
