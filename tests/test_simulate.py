"""The central claim: the CRN's steady state (read back from the written SBML) equals the forward pass."""

import libsbml
import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import SimulationError
from crn2sbml.export.folder import model_folder_files
from crn2sbml.io import commit_folder
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.simulate.scipy_reference import ScipySimulator
from tests.conftest import ENCODING_RTOL, RANDOM_CASES, STEADY_STATE_RTOL, random_network

MAX_RELATIVE_ERRORS: dict[str, float] = {}


@pytest.mark.parametrize("seed,shape,eps", RANDOM_CASES)
def test_written_sbml_settles_to_forward_pass(seed, shape, eps, tmp_path, rng):
    net = random_network(seed, shape, eps)
    compiled = compile_network(net)
    written = commit_folder(tmp_path / "model", model_folder_files(compiled))
    sbml = written["model.xml"].read_text()
    doc = libsbml.readSBMLFromString(sbml)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    x = rng.uniform(0, 2, size=(6, net.n_inputs))
    x[0] = 0.0  # all inputs off
    result = roadrunner_simulator(compiled, encoding="elementary", sbml=sbml).settle(x).require_converged()
    expected = net.forward(x)
    rel = np.max(np.abs(result.outputs - expected) / expected)
    MAX_RELATIVE_ERRORS[f"{shape} eps={eps}"] = rel
    assert rel < STEADY_STATE_RTOL
    hidden = np.concatenate(net.activations(x), axis=1)
    np.testing.assert_allclose(result.states, hidden, rtol=STEADY_STATE_RTOL)


@pytest.mark.parametrize("seed,shape,eps", RANDOM_CASES[:3])
def test_scipy_reference_agrees_with_roadrunner(seed, shape, eps, rng):
    compiled = compile_network(random_network(seed, shape, eps))
    x = rng.uniform(0, 1, size=(3, compiled.network.n_inputs))
    ref = ScipySimulator(compiled).settle(x).require_converged()
    for encoding in ("elementary", "lumped"):
        rr = roadrunner_simulator(compiled, encoding=encoding).settle(x).require_converged()
        np.testing.assert_allclose(rr.outputs, ref.outputs, rtol=ENCODING_RTOL)


def test_every_initial_state_reaches_the_same_fixed_point(rng):
    net = random_network(21, (4, 6, 3), 0.05)
    compiled = compile_network(net)
    sim = roadrunner_simulator(compiled)
    x = rng.uniform(0, 1, size=(1, 4))
    n = len(compiled.neuron_species)
    starts = [np.zeros(n), rng.uniform(0, 1, n), np.full(n, 1e3)]
    finals = [sim.settle(x, initial_state=y0).require_converged().states[0] for y0 in starts]
    for final in finals:
        np.testing.assert_allclose(final, np.concatenate(net.activations(x), axis=1)[0], rtol=STEADY_STATE_RTOL)


def test_time_scale_keeps_fixed_point_and_speeds_up(rng):
    net = random_network(22, (3, 4, 2), 0.05)
    x = rng.uniform(0, 1, size=(2, 3))
    slow = roadrunner_simulator(compile_network(net, 1.0)).settle(x).require_converged()
    fast = roadrunner_simulator(compile_network(net, 10.0)).settle(x).require_converged()
    np.testing.assert_allclose(slow.outputs, fast.outputs, rtol=ENCODING_RTOL)
    assert np.all(fast.settle_time < slow.settle_time / 5)


def test_bad_initial_state_is_refused():
    compiled = compile_network(random_network(23, (2, 2), 0.1))
    with pytest.raises(SimulationError, match="initial state"):
        roadrunner_simulator(compiled).settle(np.ones((1, 2)), initial_state=np.array([-1.0, 0.0]))


def test_compiled_model_cache_round_trip(tmp_path, monkeypatch, rng, caplog):
    import logging

    from crn2sbml.simulate import roadrunner as rr_backend

    monkeypatch.setenv("CRN2SBML_CACHE", str(tmp_path / "cache"))
    compiled = compile_network(random_network(24, (3, 4, 2), 0.05))
    x = rng.uniform(0, 1, size=(3, 3))
    first = roadrunner_simulator(compiled).settle(x)
    entries = list((tmp_path / "cache").glob("roadrunner-*.rrstate"))
    assert len(entries) == 1
    with caplog.at_level(logging.INFO, logger="crn2sbml.simulate.roadrunner"):
        second = roadrunner_simulator(compiled).settle(x)
    assert "loaded compiled model from cache" in caplog.text
    np.testing.assert_array_equal(first.outputs, second.outputs)
    entries[0].write_bytes(b"damaged")  # a damaged entry is replaced, not trusted
    third = roadrunner_simulator(compiled).settle(x)
    np.testing.assert_array_equal(first.outputs, third.outputs)
    assert entries[0].read_bytes() != b"damaged"
    monkeypatch.setenv("CRN2SBML_CACHE", "off")
    assert rr_backend.cache_dir() is None


def test_parallel_settling_matches_serial_in_order(rng):
    net = random_network(25, (4, 6, 3), 0.05)
    sim = roadrunner_simulator(compile_network(net))
    x = rng.uniform(0, 1, size=(40, 4))
    done = []
    parallel = sim.settle_parallel(x, workers=2, chunk=8, progress=done.append, min_samples=0).require_converged()
    serial = sim.settle(x)
    np.testing.assert_allclose(parallel.outputs, serial.outputs, rtol=ENCODING_RTOL)
    np.testing.assert_allclose(parallel.outputs, net.forward(x), rtol=STEADY_STATE_RTOL)
    assert sum(done) == 40


def test_sbml_backends_take_the_activations_rate_bound():
    from crn2sbml.errors import InputError
    from crn2sbml.export.sbml import to_sbml
    from crn2sbml.simulate.roadrunner import RoadRunnerSimulator

    compiled = compile_network(random_network(26, (2, 2), 0.1))
    species = (compiled.input_species, compiled.neuron_species, compiled.output_species)
    sbml = to_sbml(compiled)
    sim = RoadRunnerSimulator(sbml, *species, rate_bound=0.5, time_scale=2.0)
    assert sim.relax_time == pytest.approx(1.0) and sim.max_time == pytest.approx(2000.0)
    with pytest.raises(InputError, match="rate bound must be finite and > 0"):
        RoadRunnerSimulator(sbml, *species, rate_bound=0.0)
    with pytest.raises(TypeError):
        RoadRunnerSimulator(sbml, *species)  # no default: only the activation knows its slowest rate
