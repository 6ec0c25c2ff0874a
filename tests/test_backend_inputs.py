"""Every simulator backend checks its inputs by the same rules, with the same error type, before it runs.

The checks live in one place (``AbstractSimulator.settle`` calls ``crn2sbml.validate.inputs.check_inputs``
and then the backend's ``_settle``); this file proves the four backends agree: negative, NaN, infinite and
wrongly shaped inputs are refused with ``SimulatorInputError`` (an InputError), bad settling options with
InputError, and valid inputs settle to the forward pass. The jax backend runs in a spawned worker process,
as in ``tests/test_jax_batch.py`` (XLA's JIT next to libRoadRunner's crashed the test process).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError, SimulatorInputError
from tests.conftest import STEADY_STATE_RTOL, random_network

BACKENDS = ("roadrunner", "copasi", "scipy", "jax")
N_INPUTS = 3

BAD_INPUTS: dict[str, tuple[object, str]] = {
    # case: (inputs, phrase every backend's message must contain)
    "negative": (np.array([[0.5, -1.0, 0.2]]), "must be >= 0"),
    "tiny negative": (np.array([[0.0, 0.0, -1e-300]]), "must be >= 0"),
    "NaN": (np.array([[0.5, np.nan, 0.2]]), "non-finite"),
    "inf": (np.array([[np.inf, 0.1, 0.2]]), "non-finite"),
    "too wide": (np.ones((2, N_INPUTS + 1)), f"expected {N_INPUTS} features"),
    "too narrow 1-D": (np.ones(N_INPUTS - 1), f"expected {N_INPUTS} features"),
    "3-D": (np.ones((1, 1, N_INPUTS)), f"expected {N_INPUTS} features"),
    "text": ([["a", "b", "c"]], "not a numeric array"),
    "ragged": ([[1.0, 2.0, 3.0], [1.0]], "not a numeric array"),
}

BAD_TOLERANCES = (0.0, -1.0, float("nan"), float("inf"))


def _simulator(backend: str, compiled: CompiledNetwork, **options):
    if backend == "roadrunner":
        from crn2sbml.simulate import roadrunner_simulator

        return roadrunner_simulator(compiled, encoding="elementary", **options)
    if backend == "copasi":
        from crn2sbml.simulate.copasi import CopasiSimulator

        return CopasiSimulator.from_compiled(compiled, **options)
    if backend == "scipy":
        from crn2sbml.simulate.scipy_reference import ScipySimulator

        return ScipySimulator(compiled, **options)
    from crn2sbml.simulate.jax_batch import JaxBatchSimulator

    return JaxBatchSimulator(compiled, **options)


def _outcome(call) -> dict:
    """What ``call()`` did, as plain data that crosses a process boundary."""
    try:
        result = call()
    except Exception as exc:  # the test compares types: every exception must come back, not only ours
        return {"error": type(exc).__name__, "input_error": isinstance(exc, InputError),
                "simulator_input_error": isinstance(exc, SimulatorInputError), "message": str(exc)}
    return {"outputs": np.asarray(result.outputs), "converged": np.asarray(result.converged)}


def _probe(backend: str, compiled: CompiledNetwork, valid: np.ndarray) -> dict[str, dict]:
    """Run every case on one backend (module level: it is pickled to the jax worker by reference)."""
    sim = _simulator(backend, compiled)
    outcomes = {name: _outcome(lambda x=x: sim.settle(x)) for name, (x, _) in BAD_INPUTS.items()}
    outcomes["valid"] = _outcome(lambda: sim.settle(valid))
    outcomes["one 1-D sample"] = _outcome(lambda: sim.settle(valid[1]))
    outcomes["no samples"] = _outcome(lambda: sim.settle(np.empty((0, N_INPUTS))))
    outcomes["negative initial state"] = _outcome(
        lambda: sim.settle(valid[:1], initial_state=-np.ones(len(compiled.neuron_species))))
    for tolerance in BAD_TOLERANCES:
        outcomes[f"tolerance {tolerance}"] = _outcome(lambda t=tolerance: _simulator(backend, compiled, tolerance=t))
    close = getattr(sim, "close", None)
    if close is not None:
        close()
    return outcomes


@pytest.fixture(scope="module")
def compiled() -> CompiledNetwork:
    return compile_network(random_network(61, (N_INPUTS, 4, 2), 0.1))


@pytest.fixture(scope="module")
def valid() -> np.ndarray:
    x = np.random.default_rng(7).uniform(0, 2, size=(3, N_INPUTS))
    x[0] = 0.0  # every input off
    return x


@pytest.fixture(scope="module")
def jax_worker() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def outcomes(compiled, valid, jax_worker) -> dict[str, dict[str, dict]]:
    results = {}
    for backend in BACKENDS:
        if backend == "jax":
            results[backend] = jax_worker.submit(_probe, backend, compiled, valid).result()
        else:
            results[backend] = _probe(backend, compiled, valid)
    return results


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_refused_alike(backend, case, outcomes):
    outcome = outcomes[backend][case]
    phrase = BAD_INPUTS[case][1]
    assert outcome.get("error") == "SimulatorInputError", outcome
    assert outcome["input_error"] and outcome["simulator_input_error"]
    assert outcome["message"].startswith(f"{backend} inputs: ") and phrase in outcome["message"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_valid_inputs_settle_to_the_forward_pass(backend, outcomes, compiled, valid):
    expected = compiled.network.forward(valid)
    for case, rows in (("valid", valid), ("one 1-D sample", valid[1:2])):
        outcome = outcomes[backend][case]
        assert "error" not in outcome, outcome
        assert outcome["converged"].all()
        np.testing.assert_allclose(outcome["outputs"], compiled.network.forward(rows), rtol=STEADY_STATE_RTOL)
    assert outcomes[backend]["valid"]["outputs"].shape == expected.shape
    assert outcomes[backend]["no samples"]["outputs"].shape == (0, expected.shape[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_initial_state_and_tolerance_are_refused_alike(backend, outcomes):
    state = outcomes[backend]["negative initial state"]
    assert state.get("error") == "SimulationError" and "initial state" in state["message"]
    for tolerance in BAD_TOLERANCES:
        outcome = outcomes[backend][f"tolerance {tolerance}"]
        assert outcome.get("error") == "InputError", outcome
        assert "tolerance must be finite and > 0" in outcome["message"]


def test_every_backend_gives_the_same_messages(outcomes):
    """Same rule, same words: only the backend's name in front differs."""
    for case in BAD_INPUTS:
        bodies = {outcomes[b][case]["message"].removeprefix(f"{b} inputs: ") for b in BACKENDS}
        assert len(bodies) == 1, (case, bodies)
