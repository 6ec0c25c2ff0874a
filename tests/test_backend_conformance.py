"""Every registered simulator backend passes the same checks (real solvers, no mocks).

Parametrised over ``crn2sbml.simulate.BACKENDS``: a new backend is tested here by adding its registry entry.
Per backend: bad inputs, initial states and tolerances are refused with the same error types and words;
valid inputs settle to the numpy forward pass (1e-6 relative) for the smoothed ReLU and for the ``power3``
activation, in every SBML encoding the backend loads; zero, random and large initial states reach the same
fixed point; a tiny ``max_time`` is reported as ``converged=False`` and ``require_converged()`` raises; the
relaxation time comes from the activation's own ``rate_bound()``; ``progress`` counts every sample once.

Each backend runs all of its cases in one call of :func:`_probe`, which returns plain data. A backend whose
``capabilities.process_safe`` is false (jax) runs it in a spawned worker process, as in
``tests/test_jax_batch.py``: XLA's JIT next to libRoadRunner's crashed the test process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError, SimulationError, SimulatorInputError
from crn2sbml.nn.activations import power_activation
from crn2sbml.nn.random import random_network
from crn2sbml.simulate import (
    AUTO_JAX_MIN_WORK,
    BACKENDS,
    Capabilities,
    StoppingRule,
    UnknownBackendError,
    backend_names,
    choose_backend,
    make_simulator,
)
from crn2sbml.simulate.base import AbstractSimulator
from tests.conftest import STEADY_STATE_RTOL

BACKEND_NAMES = tuple(BACKENDS)
N_INPUTS = 3

STOCHASTIC_RTOL = 0.05
"""Forward pass vs a stochastic backend's estimate (a deterministic backend must meet STEADY_STATE_RTOL)."""

TINY_MAX_TIME = 0.01
"""Seconds: far below one relaxation time (>= 1 s here), so no sample can settle."""

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


def _networks() -> dict[str, CompiledNetwork]:
    """The activations under test; power3 at time scale 2 so the relaxation time's ``c`` is exercised too."""
    relu = random_network(61, (N_INPUTS, 4, 2), 0.1)
    cubic = random_network(31, (N_INPUTS, 5, 2), activation=power_activation(0.05, 3))
    return {"smoothed_relu": compile_network(relu), "power3": compile_network(cubic, time_scale=2.0)}


def _inputs() -> np.ndarray:
    x = np.random.default_rng(7).uniform(0, 2, size=(4, N_INPUTS))
    x[0] = 0.0  # every input off
    return x


# ---- run once per backend, in this process or in the worker (module level: pickled by reference) ----
def _outcome(call: Callable[[], object]) -> dict:
    """What ``call()`` did, as plain data that crosses a process boundary."""
    try:
        result = call()
    except Exception as exc:  # the tests compare types: every exception must come back, not only ours
        return {"error": type(exc).__name__, "input_error": isinstance(exc, InputError),
                "simulator_input_error": isinstance(exc, SimulatorInputError),
                "simulation_error": isinstance(exc, SimulationError), "message": str(exc)}
    if result is None:
        return {}
    return {"outputs": np.asarray(result.outputs), "states": np.asarray(result.states),
            "converged": np.asarray(result.converged), "residual": np.asarray(result.residual),
            "settle_time": np.asarray(result.settle_time), "backend": result.backend,
            "encoding": result.encoding}


def _probe(name: str, networks: dict[str, CompiledNetwork], x: np.ndarray) -> dict[str, object]:
    backend = BACKENDS[name]
    caps = backend.capabilities
    relu = networks["smoothed_relu"]
    out: dict[str, object] = {"capabilities": caps}
    with backend(relu) as sim:
        for case, (bad, _) in BAD_INPUTS.items():
            out[case] = _outcome(lambda bad=bad: sim.settle(bad))
        out["one 1-D sample"] = _outcome(lambda: sim.settle(x[1]))
        out["no samples"] = _outcome(lambda: sim.settle(np.empty((0, N_INPUTS))))
        out["negative initial state"] = _outcome(
            lambda: sim.settle(x[:1], initial_state=-np.ones(len(relu.neuron_species))))
        n = len(relu.neuron_species)
        starts = np.stack([np.zeros(n), np.random.default_rng(3).uniform(0, 1, n), np.full(n, 1e3)])
        out["initial states"] = _outcome(lambda: sim.settle(np.repeat(x[1:2], 3, axis=0), initial_state=starts))
        counts: list[int] = []
        out["progress"] = (_outcome(lambda: sim.settle(x, progress=counts.append)), counts)
    for tolerance in BAD_TOLERANCES:
        out[f"tolerance {tolerance}"] = _outcome(lambda t=tolerance: backend(relu, tolerance=t))
    for case, compiled in networks.items():
        for encoding in caps.encodings or (None,):
            def settle(compiled=compiled, encoding=encoding, case=case):
                with backend(compiled, encoding=encoding) as sim:
                    out[f"relax_time {case}"] = sim.relax_time
                    return sim.settle(x)

            out[f"settle {case} {encoding}"] = _outcome(settle)
    with backend(relu, max_time=TINY_MAX_TIME) as sim:
        result = sim.settle(x)
        out["tiny max_time"] = _outcome(lambda: result)
        out["tiny max_time require"] = _outcome(result.require_converged)
    return out


@pytest.fixture(scope="module")
def networks() -> dict[str, CompiledNetwork]:
    return _networks()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return _inputs()


@pytest.fixture(scope="module")
def worker() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def outcomes(networks, x, worker) -> dict[str, dict[str, object]]:
    results = {}
    for name in BACKEND_NAMES:
        if BACKENDS[name].capabilities.process_safe:
            results[name] = _probe(name, networks, x)
        else:
            results[name] = worker.submit(_probe, name, networks, x).result()
    return results


def _rtol(name: str) -> float:
    return STOCHASTIC_RTOL if BACKENDS[name].capabilities.stochastic else STEADY_STATE_RTOL


# ---- the registry ----
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_backend_declares_its_capabilities(name):
    cls = BACKENDS[name].load()
    assert issubclass(cls, AbstractSimulator) and cls.name == name
    assert "capabilities" in vars(cls) and isinstance(cls.capabilities, Capabilities)
    assert set(cls.capabilities.encodings) <= {"lumped", "elementary"}
    with pytest.raises(AttributeError):
        cls.capabilities.batch = not cls.capabilities.batch  # frozen


def test_unknown_backend_lists_the_choices(networks):
    with pytest.raises(UnknownBackendError, match="roadrunner, jax, copasi, scipy, auto") as info:
        make_simulator("tellurium", networks["smoothed_relu"])
    assert isinstance(info.value, InputError)
    assert backend_names() == (*BACKEND_NAMES, "auto")


def test_auto_picks_by_work_and_says_why(networks):
    compiled = networks["smoothed_relu"]
    n_reactions = len(compiled.crn.reactions)
    small = choose_backend(compiled, 10)
    assert small.name == "roadrunner" and f"10 samples x {n_reactions} reactions" in small.reason
    many = AUTO_JAX_MIN_WORK // n_reactions + 1
    assert choose_backend(compiled, many).name == "jax"
    # an SBML encoding asks for an SBML backend, whatever the size
    assert choose_backend(compiled, many, encoding="elementary").name == "roadrunner"
    sim = make_simulator("auto", compiled, n_samples=10)
    assert sim.name == "roadrunner"


def test_sbml_options_are_refused_by_backends_that_read_no_sbml(networks):
    for name in BACKEND_NAMES:
        cls = BACKENDS[name].load()
        if not cls.capabilities.reads_sbml:
            with pytest.raises(InputError, match="reads no SBML"):
                cls.resolve_encoding(None, "lumped")
        else:
            assert cls.resolve_encoding(None, None) == cls.capabilities.encodings[0]
            with pytest.raises(InputError, match="cannot load"):
                cls.resolve_encoding(None, "antimony")


def test_relaxation_time_is_the_activations_own(networks):
    """power3's slowest rate is 0.72 x the smoothed ReLU's 2 sqrt(eps) at eps 0.05: its relaxation time is longer."""
    cubic = networks["power3"]
    rule = StoppingRule.for_compiled(cubic)
    bound = cubic.network.activation.rate_bound()
    assert rule.relax_time == pytest.approx(1 / (bound * cubic.time_scale))
    assert 2 * np.sqrt(cubic.eps) / bound == pytest.approx(1 / 0.7226, rel=1e-3)
    assert rule.max_time == pytest.approx(2000 * rule.relax_time)


def test_settle_in_subprocess_matches_and_keeps_error_types(networks, x, monkeypatch):
    from crn2sbml.simulate import registry, settle_in_subprocess

    monkeypatch.setattr(registry, "SUBPROCESS_FIRST_PIECE", 3)  # 4 samples: two pieces, stacked in order
    compiled = networks["smoothed_relu"]
    counts: list[int] = []
    result = settle_in_subprocess("scipy", compiled, x, progress=counts.append).require_converged()
    assert counts == [3, 1]
    np.testing.assert_allclose(result.outputs, compiled.network.forward(x), rtol=STEADY_STATE_RTOL)
    with pytest.raises(SimulatorInputError, match="scipy inputs: "):  # checked here, before a worker starts
        settle_in_subprocess("scipy", compiled, -x)
    with pytest.raises(InputError, match="tolerance must be finite and > 0"):  # raised in the worker
        settle_in_subprocess("scipy", compiled, x, tolerance=-1.0)
    assert settle_in_subprocess("scipy", compiled, x[:0]).outputs.shape == (0, 2)


# ---- every backend alike ----
@pytest.mark.parametrize("name", BACKEND_NAMES)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_refused_alike(name, case, outcomes):
    outcome = outcomes[name][case]
    assert outcome.get("error") == "SimulatorInputError", outcome
    assert outcome["input_error"] and outcome["simulator_input_error"]
    assert outcome["message"].startswith(f"{name} inputs: ") and BAD_INPUTS[case][1] in outcome["message"]


def test_every_backend_gives_the_same_messages(outcomes):
    """Same rule, same words: only the backend's name in front differs."""
    for case in BAD_INPUTS:
        bodies = {outcomes[b][case]["message"].removeprefix(f"{b} inputs: ") for b in BACKEND_NAMES}
        assert len(bodies) == 1, (case, bodies)


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_bad_initial_state_and_tolerance_are_refused_alike(name, outcomes):
    state = outcomes[name]["negative initial state"]
    assert state.get("error") == "SimulationError" and "initial state" in state["message"]
    for tolerance in BAD_TOLERANCES:
        outcome = outcomes[name][f"tolerance {tolerance}"]
        assert outcome.get("error") == "InputError", outcome
        assert "tolerance must be finite and > 0" in outcome["message"]


@pytest.mark.parametrize("name", BACKEND_NAMES)
@pytest.mark.parametrize("case", ["smoothed_relu", "power3"])
def test_settles_to_the_forward_pass_in_every_encoding(name, case, outcomes, networks, x):
    net = networks[case].network
    caps = outcomes[name]["capabilities"]
    for encoding in caps.encodings or (None,):
        outcome = outcomes[name][f"settle {case} {encoding}"]
        assert "error" not in outcome, outcome
        assert outcome["backend"] == name and outcome["converged"].all()
        if encoding is not None:
            assert outcome["encoding"] == encoding
        np.testing.assert_allclose(outcome["outputs"], net.forward(x), rtol=_rtol(name), atol=0)
        np.testing.assert_allclose(outcome["states"], np.concatenate(net.activations(x), axis=1),
                                   rtol=_rtol(name), atol=0)
    compiled = networks[case]
    assert outcomes[name][f"relax_time {case}"] == pytest.approx(
        1 / (compiled.network.activation.rate_bound() * compiled.time_scale))


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_one_sample_and_no_samples(name, outcomes, networks, x):
    net = networks["smoothed_relu"].network
    one = outcomes[name]["one 1-D sample"]
    np.testing.assert_allclose(one["outputs"], net.forward(x[1:2]), rtol=_rtol(name))
    assert outcomes[name]["no samples"]["outputs"].shape == (0, net.shape[-1])
    assert outcomes[name]["no samples"]["states"].shape == (0, sum(net.shape[1:]))


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_initial_state_reaches_the_same_fixed_point(name, outcomes, networks, x):
    if not outcomes[name]["capabilities"].initial_states:
        pytest.skip(f"{name} does not take initial states")
    outcome = outcomes[name]["initial states"]
    assert "error" not in outcome, outcome
    assert outcome["converged"].all()
    hidden = np.concatenate(networks["smoothed_relu"].network.activations(x[1:2]), axis=1)[0]
    for final in outcome["states"]:  # from zero, random and 1e3 starts
        np.testing.assert_allclose(final, hidden, rtol=_rtol(name))


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_progress_counts_every_sample_once(name, outcomes, x):
    result, counts = outcomes[name]["progress"]
    assert "error" not in result and sum(counts) == len(x) and all(c > 0 for c in counts)


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_non_convergence_is_reported(name, outcomes, x):
    outcome = outcomes[name]["tiny max_time"]
    assert "error" not in outcome, outcome
    assert not outcome["converged"].any()
    assert np.all(outcome["residual"] > 0)
    np.testing.assert_allclose(outcome["settle_time"], TINY_MAX_TIME, rtol=1e-12)
    raised = outcomes[name]["tiny max_time require"]
    assert raised.get("error") == "SimulationError" and "did not settle" in raised["message"]
    assert raised["message"].startswith(f"{name}: {len(x)} sample(s)")


# ---- the command line ----
@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, x):
    from crn2sbml.cli import main
    from crn2sbml.io import save_weights

    root = tmp_path_factory.mktemp("cli")
    save_weights(root / "w.npz", random_network(61, (N_INPUTS, 4, 2), 0.1))
    assert main(["compile", str(root / "w.npz"), "--out", str(root / "m")]) == 0
    np.save(root / "x.npy", x)
    return root


@pytest.mark.parametrize("name", backend_names())
def test_cli_simulate_runs_the_chosen_backend_and_says_which(name, model_folder, x, capsys):
    from crn2sbml.cli import main

    out = model_folder / f"{name}.csv"
    code = main(["simulate", str(model_folder / "m"), "--inputs", str(model_folder / "x.npy"), "--out", str(out),
                 "--backend", name, "-q"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    ran = "roadrunner" if name == "auto" else name  # 4 samples: far below the jax threshold
    assert f"with the {ran} backend" in printed
    assert ("(auto: 4 samples x" in printed) == (name == "auto")
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    net = random_network(61, (N_INPUTS, 4, 2), 0.1)
    np.testing.assert_allclose(table[:, :2], net.forward(x), rtol=_rtol(ran))
    assert np.all(table[:, 4] == 1)


def test_cli_refuses_an_encoding_the_backend_cannot_load(model_folder, capsys):
    from crn2sbml.cli import main

    code = main(["simulate", str(model_folder / "m"), "--inputs", str(model_folder / "x.npy"), "--out",
                 str(model_folder / "never.csv"), "--backend", "jax", "--encoding", "lumped", "-q"])
    assert code == 1 and "reads no SBML" in capsys.readouterr().err
    assert not (model_folder / "never.csv").exists()
