"""The generic mass-action ODE of the compiled CRN equals the neuron equations, and its Jacobian is right."""

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.kinetics import MassActionODE
from tests.conftest import RANDOM_CASES, random_network


@pytest.mark.parametrize("seed,shape,eps", RANDOM_CASES)
def test_generic_ode_is_eps_plus_u_y_minus_y_squared(seed, shape, eps, rng):
    net = random_network(seed, shape, eps)
    compiled = compile_network(net, time_scale=1.7)
    ode = MassActionODE.from_crn(compiled.crn)
    index = compiled.crn.index()
    x = rng.uniform(0, 2, size=net.n_inputs)
    state = rng.uniform(0, 3, size=len(compiled.crn.species))
    for s, v in zip(compiled.input_species, x, strict=True):
        state[index[s]] = v
    rhs = ode.rhs(state)
    previous = x
    for layer, ids in zip(net.layers, compiled.layer_species, strict=True):
        y = np.array([state[index[s]] for s in ids])
        u = layer.weights @ previous + layer.bias
        expected = 1.7 * (eps + u * y - y**2)
        np.testing.assert_allclose([rhs[index[s]] for s in ids], expected, rtol=1e-12, atol=1e-12)
        previous = y
    assert np.all(rhs[[index[s] for s in compiled.input_species]] == 0)


def test_jacobian_matches_finite_differences(rng):
    net = random_network(7, (3, 4, 2), 0.1)
    ode = MassActionODE.from_crn(compile_network(net).crn)
    x = rng.uniform(0.1, 2, size=len(ode.crn.species))
    jac = ode.jacobian(x).toarray()
    h = 1e-6
    fd = np.column_stack([(ode.rhs(x + h * e) - ode.rhs(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-8)
