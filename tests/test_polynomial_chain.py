"""Other activations (docs/theory.md §5) through compile, export and simulation, against the solved forward pass."""

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.export.sbml import to_sbml
from crn2sbml.kinetics import MassActionODE
from crn2sbml.nn.activations import ACTIVATIONS, make_activation
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.simulate.scipy_reference import ScipySimulator
from crn2sbml.validate.sbml_check import check_sbml
from tests.conftest import ENCODING_RTOL, STEADY_STATE_RTOL, random_network


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_polynomial_network_steady_state_equals_forward(name, rng):
    base = random_network(61, (4, 5, 3), 0.05)
    net = FeedForwardNetwork(base.layers, make_activation(name, 0.05))
    compiled = compile_network(net, time_scale=2.0)
    sbml = to_sbml(compiled)
    assert check_sbml(sbml).is_perfect()
    x = rng.uniform(0, 2, size=(4, 4))
    expected = net.forward(x)
    elementary = roadrunner_simulator(compiled, encoding="elementary", sbml=sbml).settle(x).require_converged()
    lumped = roadrunner_simulator(compiled, encoding="lumped").settle(x).require_converged()
    np.testing.assert_allclose(elementary.outputs, expected, rtol=STEADY_STATE_RTOL)
    np.testing.assert_allclose(lumped.outputs, elementary.outputs, rtol=ENCODING_RTOL)
    reference = ScipySimulator(compiled).settle(x[:2]).require_converged()
    np.testing.assert_allclose(reference.outputs, elementary.outputs[:2], rtol=ENCODING_RTOL)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_each_monomial_is_one_reaction(name, rng):
    net = FeedForwardNetwork(random_network(62, (3, 2), 0.1, zero_fraction=0.0).layers, make_activation(name, 0.1))
    compiled = compile_network(net)
    act = net.activation
    n_const = sum(1 for _, a, _ in act.terms if a)
    n_u = sum(1 for _, _, b in act.terms if b)
    per_neuron = n_const + n_u * (net.n_inputs + 1)  # weights + bias for each u-monomial
    biases = int(np.count_nonzero(net.layers[0].bias))
    assert len(compiled.crn.reactions) == 2 * per_neuron - n_u * (2 - biases)
    assert max(r.order for r in compiled.crn.reactions) == act.degree
    # the generic mass-action ODE is c·f(y; u) neuron by neuron
    ode = MassActionODE.from_crn(compiled.crn)
    state = rng.uniform(0.1, 2, size=len(compiled.crn.species))
    x, y = state[:3], state[3:]
    u = net.layers[0].weights @ x + net.layers[0].bias
    np.testing.assert_allclose(ode.rhs(state)[3:], act.f(y, u), rtol=1e-12)
