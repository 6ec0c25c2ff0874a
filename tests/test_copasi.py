"""The COPASI backend (real COPASI, no mocks): same fixed point as the forward pass and libRoadRunner, and a
``.cps`` file that COPASI loads back with a ready time course."""

import locale

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError, SimulationError
from crn2sbml.export.sbml import to_sbml
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.simulate.copasi import (
    ABSOLUTE_TOLERANCE,
    RELATIVE_TOLERANCE,
    CopasiSimulator,
    copasi_locale,
    copasi_module,
    write_cps,
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
        CopasiSimulator("<sbml>not a model", ["x1"], ["y1"], ["y1"], eps=0.1)
    compiled = compile_network(random_network(24, (2, 2), 0.1))
    with pytest.raises(SimulationError, match="not in the SBML model"):
        CopasiSimulator(to_sbml(compiled), ["x1", "x9"], ["y1", "y2"], ["y1"], eps=0.1)
    with pytest.raises(SimulationError, match="not boundary"):
        CopasiSimulator(to_sbml(compiled), ["y1"], ["y2"], ["y2"], eps=0.1)


def _load_cps(path):
    datamodel = COPASI.CRootContainer.addDatamodel()
    with copasi_locale():
        loaded = datamodel.loadModel(str(path))
    assert loaded, COPASI.CCopasiMessage.getAllMessageText()
    return datamodel


def test_write_cps_round_trips_through_copasi(tmp_path, datamodels_are_released):
    net = random_network(31, (3, 4, 2), 0.05)
    compiled = compile_network(net)
    path = tmp_path / "model.cps"
    path.write_text("an older file that must be replaced")
    x = np.array([0.5, 1.5, 0.25])
    assert write_cps(to_sbml(compiled), path, input_values=x, duration=123.5) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.cps"]  # no temporary file left behind
    datamodel = _load_cps(path)
    try:
        model = datamodel.getModel()
        names = sorted(r.getObjectName() for r in model.getReactions())
        assert names == sorted(r.note for r in compiled.crn.reactions)
        by_name = {m.getObjectName(): m for m in model.getMetabolites()}
        roles = {s.id: s.role for s in compiled.crn.species}
        for sid, value in zip(compiled.input_species, x, strict=True):
            assert by_name[roles[sid]].getStatus() == COPASI.CModelEntity.Status_FIXED
            assert by_name[roles[sid]].getInitialConcentration() == pytest.approx(value, rel=1e-12)
        task = datamodel.getTask("Time-Course")
        assert task.isScheduled()
        assert task.getProblem().getDuration() == pytest.approx(123.5)
        assert task.getProblem().getStepNumber() == 500
        method = task.getMethod()
        assert method.getParameter("Relative Tolerance").getDblValue() == RELATIVE_TOLERANCE
        assert method.getParameter("Absolute Tolerance").getDblValue() == ABSOLUTE_TOLERANCE
        assert datamodel.getPlotDefinitionList().size() == 1
    finally:
        COPASI.CRootContainer.removeDatamodel(datamodel)


def test_default_cps_duration_reaches_the_forward_pass(tmp_path, datamodels_are_released):
    """Pressing Run on the saved task (default duration: 20 relaxation times from the SBML notes) lands on f(x)."""
    net = random_network(32, (3, 5, 2), 0.1)
    compiled = compile_network(net, time_scale=3.0)
    x = {"x1": 0.2, "x2": 1.1, "x3": 0.6}
    path = write_cps(to_sbml(compiled), tmp_path / "run.cps", input_values=x)
    datamodel = _load_cps(path)
    try:
        task = datamodel.getTask("Time-Course")
        assert task.getProblem().getDuration() == pytest.approx(20 / (2 * np.sqrt(0.1) * 3.0))
        task.getProblem().setTimeSeriesRequested(False)
        assert task.process(True), task.getProcessError()
        by_name = {m.getObjectName(): m for m in datamodel.getModel().getMetabolites()}
        roles = {s.id: s.role for s in compiled.crn.species}
        y = np.array([by_name[roles[s]].getConcentration() for s in compiled.output_species])
        np.testing.assert_allclose(y, net.forward(np.array([[0.2, 1.1, 0.6]]))[0], rtol=1e-5)
    finally:
        COPASI.CRootContainer.removeDatamodel(datamodel)


def test_write_cps_refuses_bad_arguments(tmp_path, datamodels_are_released):
    sbml = to_sbml(compile_network(random_network(33, (2, 2), 0.1)))
    with pytest.raises(InputError, match="not boundary"):
        write_cps(sbml, tmp_path / "a.cps", input_values={"y1": 1.0})
    with pytest.raises(InputError, match="2 boundary species"):
        write_cps(sbml, tmp_path / "a.cps", input_values=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=">= 0"):
        write_cps(sbml, tmp_path / "a.cps", input_values=[1.0, -2.0])
    with pytest.raises(InputError, match="duration"):
        write_cps(sbml, tmp_path / "a.cps", duration=-1.0)
    with pytest.raises(SimulationError, match="could not save"):
        write_cps(sbml, tmp_path / "missing" / "a.cps", duration=1.0)
    assert list(tmp_path.iterdir()) == []


def test_copasi_leaves_the_locale_alone(tmp_path):
    """COPASI sets LC_ALL=C on import and on every SBML/CPS import; the backend must give the locale back."""
    before = locale.setlocale(locale.LC_ALL, None), locale.getpreferredencoding(False)
    compiled = compile_network(random_network(34, (2, 2), 0.1))
    with CopasiSimulator.from_compiled(compiled) as sim:
        sim.settle(np.ones((1, 2)))
    write_cps(to_sbml(compiled), tmp_path / "l.cps", duration=1.0)
    assert (locale.setlocale(locale.LC_ALL, None), locale.getpreferredencoding(False)) == before
