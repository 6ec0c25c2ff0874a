"""σ_eps facts (docs/theory.md §1) and the polynomial-activation checks (docs/theory.md §5)."""

import numpy as np
import pytest

from crn2sbml.errors import ActivationError
from crn2sbml.nn.activations import (
    PolynomialActivation,
    power_activation,
    saturating_activation,
    smoothed_relu,
    smoothed_relu_activation,
)

U = np.linspace(-30, 30, 2001)


@pytest.mark.parametrize("eps", [1e-3, 0.05, 1.0])
def test_smoothed_relu_identities(eps):
    s = smoothed_relu(U, eps)
    assert np.all(s > 0)
    np.testing.assert_allclose(s - smoothed_relu(-U, eps), U, atol=1e-12)
    np.testing.assert_allclose(s * smoothed_relu(-U, eps), eps, rtol=1e-12)
    gap = np.abs(s - np.maximum(U, 0))
    assert gap.max() == pytest.approx(np.sqrt(eps), rel=1e-12)
    assert U[np.argmax(gap)] == pytest.approx(0.0, abs=1e-9)
    # it is the positive root of eps + u y - y^2
    np.testing.assert_allclose(eps + U * s - s**2, 0, atol=1e-10 * (1 + U**2).max())


def test_stable_form_for_very_negative_u():
    u = np.array([-1e8, -1e5])
    np.testing.assert_allclose(smoothed_relu(u, 0.01), 0.01 / np.abs(u), rtol=1e-8)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_power_family_roots_and_derivative(k):
    act = power_activation(0.05, k)
    y = act(U)
    assert np.all(y > 0)
    np.testing.assert_allclose(act.f(y, U), 0, atol=1e-9)
    h = 1e-6
    fd = (act(U + h) - act(U - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(U), fd, rtol=1e-5, atol=1e-8)
    if k == 2:
        np.testing.assert_allclose(act(U), smoothed_relu(U, 0.05), rtol=1e-12)
        # numeric solver agrees with the closed form
        np.testing.assert_allclose(act._solve(U), smoothed_relu(U, 0.05), rtol=1e-10)


def test_saturating_activation_is_valid_and_sublinear():
    act = saturating_activation(0.05, 0.1)
    y = act(np.array([100.0, 400.0]))
    assert y[1] / y[0] < 2.2  # grows like sqrt(u)


def test_unrealisable_and_multi_root_polynomials_are_rejected():
    with pytest.raises(ActivationError, match="no factor y"):
        PolynomialActivation(((0, 0.1, 1.0), (2, -1.0, 0.0)))
    with pytest.raises(ActivationError, match="f\\(0; u\\)"):
        PolynomialActivation(((1, 0.0, 1.0), (2, -1.0, 0.0)))
    # 0.1 - 3y + 3y^2 - y^3 has sign pattern + - + -  (three changes)
    with pytest.raises(ActivationError, match="sign changes"):
        PolynomialActivation(((0, 0.1, 0.0), (1, -3.0, 1.0), (2, 3.0, 0.0), (3, -1.0, 0.0)))
    assert smoothed_relu_activation(0.1).is_smoothed_relu()


@pytest.mark.parametrize("k", [2, 3, 4])
def test_rate_bound_is_the_slowest_linearised_rate(k):
    act = power_activation(0.05, k)
    u = np.linspace(-50, 50, 100001)
    rates = -act.dfdy(act(u), u)
    assert act.rate_bound() <= rates.min() * (1 + 1e-9)
    assert act.rate_bound() == pytest.approx(rates.min(), rel=1e-3)
    if k == 2:
        assert act.rate_bound() == pytest.approx(2 * np.sqrt(0.05))


@pytest.mark.parametrize("name", ["smoothed_relu", "power3", "power4", "saturating"])
def test_module_level_polynomials_are_the_methods(name):
    from crn2sbml.nn.activations import make_activation, polynomial_dfdu, polynomial_dfdy, polynomial_f

    act = make_activation(name, 0.05)
    y = np.linspace(0.01, 5, 37)
    u = np.linspace(-4, 4, 37)
    np.testing.assert_array_equal(polynomial_f(act.terms, y, u), act.f(y, u))
    np.testing.assert_array_equal(polynomial_dfdy(act.terms, y, u), act.dfdy(y, u))
    np.testing.assert_array_equal(polynomial_dfdu(act.terms, y, u), act.dfdu(y, u))
    # coefficients as arrays (how the JAX simulator passes them) give the same values
    powers = tuple(p for p, _, _ in act.terms)
    a = np.array([t[1] for t in act.terms])
    b = np.array([t[2] for t in act.terms])
    np.testing.assert_allclose(polynomial_f(zip(powers, a, b, strict=True), y, u), act.f(y, u), rtol=1e-14)
    h = 1e-6
    np.testing.assert_allclose(act.dfdy(y, u), (act.f(y + h, u) - act.f(y - h, u)) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(act.dfdu(y, u), (act.f(y, u + h) - act.f(y, u - h)) / (2 * h), rtol=1e-6, atol=1e-8)


def test_closed_form_only_for_the_smoothed_relu():
    np.testing.assert_array_equal(smoothed_relu_activation(0.05).closed_form(U), smoothed_relu(U, 0.05))
    with pytest.raises(ActivationError, match="no closed-form root"):
        power_activation(0.05, 3).closed_form(U)


def test_eps_is_the_one_name_of_the_inflow():
    act = saturating_activation(0.07)
    assert act.eps == 0.07
    assert not hasattr(act, "constant_term")
