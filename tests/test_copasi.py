"""The COPASI backend (real COPASI, no mocks): same fixed point as the forward pass and libRoadRunner, and a
``.cps`` file that COPASI loads back with a ready time course."""

import locale

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import SimulationError
from crn2sbml.export.copasi import to_cps
from crn2sbml.export.sbml import to_sbml
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.simulate.copasi import (
    CopasiSimulator,
    copasi_module,
)
from tests.conftest import RANDOM_CASES, STEADY_STATE_RTOL, random_network

COPASI = copasi_module()  # a bare `import COPASI` would switch the whole test session's locale to "C" (ASCII)

BACKEND_RTOL = 1e-7
"""COPASI vs libRoadRunner on the same elementary SBML."""

MAX_RELATIVE_ERRORS: dict[str, tuple[float, float]] = {}
"""(vs forward pass, vs roadrunner) per case, for the report."""


def _n_datamodels() -> int:
    return COPASI.CRootContainer.getDatamodelList().size()


@pytest.fixture
def datamodels_are_released():
    before = _n_datamodels()
    yield
    assert _n_datamodels() == before


@pytest.mark.parametrize("seed,shape,eps", RANDOM_CASES)
def test_copasi_settles_to_forward_pass_and_agrees_with_roadrunner(seed, shape, eps, rng, datamodels_are_released):
    net = random_network(seed, shape, eps)
    compiled = compile_network(net)
    sbml = to_sbml(compiled)
    x = rng.uniform(0, 2, size=(4, net.n_inputs))
    x[0] = 0.0  # all inputs off
    with CopasiSimulator.from_compiled(compiled, sbml=sbml) as sim:
        result = sim.settle(x).require_converged()
    assert result.backend == "copasi" and result.encoding == "elementary"
    expected = net.forward(x)
    rel_forward = np.max(np.abs(result.outputs - expected) / expected)
    np.testing.assert_allclose(result.states, np.concatenate(net.activations(x), axis=1), rtol=STEADY_STATE_RTOL)
    rr = roadrunner_simulator(compiled, encoding="elementary", sbml=sbml).settle(x).require_converged()
    rel_rr = np.max(np.abs(result.states - rr.states) / rr.states)
    MAX_RELATIVE_ERRORS[f"{shape} eps={eps}"] = (rel_forward, rel_rr)
    assert rel_forward < STEADY_STATE_RTOL
    assert rel_rr < BACKEND_RTOL


def test_every_initial_state_reaches_the_same_fixed_point(rng, datamodels_are_released):
    net = random_network(21, (4, 6, 3), 0.05)
    compiled = compile_network(net, time_scale=2.0)
    x = rng.uniform(0, 1, size=(2, 4))
    n = len(compiled.neuron_species)
    expected = np.concatenate(net.activations(x), axis=1)
    with CopasiSimulator.from_compiled(compiled) as sim:
        for y0 in (np.zeros(n), rng.uniform(0, 1, size=(2, n)), np.full(n, 1e3)):
            result = sim.settle(x, initial_state=y0).require_converged()
            np.testing.assert_allclose(result.states, expected, rtol=STEADY_STATE_RTOL)
        with pytest.raises(SimulationError, match="initial state"):
            sim.settle(x, initial_state=np.full(n, -1.0))
        with pytest.raises(SimulationError, match="inputs"):
            sim.settle(np.ones((1, 3)))


def test_close_releases_the_datamodel():
    compiled = compile_network(random_network(23, (2, 2), 0.1))
    before = _n_datamodels()
    sim = CopasiSimulator.from_compiled(compiled)
    assert _n_datamodels() == before + 1
    sim.close()
    sim.close()
    assert _n_datamodels() == before
    with pytest.raises(SimulationError, match="closed"):
        sim.settle(np.ones((1, 2)))


def test_bad_models_are_refused(datamodels_are_released):
    with pytest.raises(SimulationError, match="could not import"):
        CopasiSimulator("<sbml>not a model", ["x1"], ["y1"], ["y1"], rate_bound=0.6)
    compiled = compile_network(random_network(24, (2, 2), 0.1))
    with pytest.raises(SimulationError, match="not in the SBML model"):
        CopasiSimulator(to_sbml(compiled), ["x1", "x9"], ["y1", "y2"], ["y1"], rate_bound=0.6)
    with pytest.raises(SimulationError, match="not boundary"):
        CopasiSimulator(to_sbml(compiled), ["y1"], ["y2"], ["y2"], rate_bound=0.6)


def test_copasi_leaves_the_locale_alone(tmp_path):
    """COPASI sets LC_ALL=C on import and on every SBML/CPS import; the backend must give the locale back."""
    before = locale.setlocale(locale.LC_ALL, None), locale.getpreferredencoding(False)
    compiled = compile_network(random_network(34, (2, 2), 0.1))
    with CopasiSimulator.from_compiled(compiled) as sim:
        sim.settle(np.ones((1, 2)))
    to_cps(compiled, to_sbml(compiled))
    assert (locale.setlocale(locale.LC_ALL, None), locale.getpreferredencoding(False)) == before
