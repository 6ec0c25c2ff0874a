"""The batched jax/diffrax backend settles to the forward pass and agrees with libRoadRunner (real solvers).

Every jax computation here runs in one spawned worker process (compiled solvers are reused across tests
there), libRoadRunner in the pytest process. With both in the pytest process, a *later* test file crashed
reproducibly inside the RoadRunner constructor (segfault in libRoadRunner's JIT code, a jump-table dispatch
with an out-of-range index) once this module's XLA compilations had grown the address space by ~1 GiB and
~700 mappings; no test of this module failed. Keeping XLA's JIT out of the pytest process avoids it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError, SimulationError
from crn2sbml.nn.activations import power_activation
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.simulate.base import DEFAULT_TOLERANCE, SteadyStates
from tests.conftest import ENCODING_RTOL, RANDOM_CASES, STEADY_STATE_RTOL, random_network

Worker = Callable[..., object]


# ---- run in the worker process (module-level so that they pickle by reference) ----
def _settle(compiled: CompiledNetwork, x: np.ndarray, initial_state: np.ndarray | None = None,
            **options) -> SteadyStates:
    from crn2sbml.simulate.jax_batch import JaxBatchSimulator

    return JaxBatchSimulator(compiled, **options).settle(x, initial_state=initial_state)


def _settle_sliced_and_reuse(compiled: CompiledNetwork, x: np.ndarray, other: CompiledNetwork,
                             x_other: np.ndarray) -> dict:
    """Slices of 4 with a progress callback, then another network of the same shape on the same solver."""
    import jax

    from crn2sbml.simulate.jax_batch import JaxBatchSimulator

    counts: list[int] = []
    sim = JaxBatchSimulator(compiled, batch_size=4)
    sliced = sim.settle(x, progress=counts.append)
    other_sim = JaxBatchSimulator(other, batch_size=4)
    compiled_before = sim._chunk._cache_size()
    other_result = other_sim.settle(x_other)
    return {"sliced": sliced, "counts": counts, "same_solver": other_sim._chunk is sim._chunk,
            "recompiled": sim._chunk._cache_size() != compiled_before, "other": other_result,
            "platform": sim.platform, "default_backend": jax.default_backend()}


def _bad_arguments(compiled: CompiledNetwork) -> dict[str, str]:
    from crn2sbml.simulate.jax_batch import JaxBatchSimulator

    errors = {}
    sim = JaxBatchSimulator(compiled)
    for key, call in {
        "negative initial state": lambda: sim.settle(np.ones((1, 2)), initial_state=np.array([-1.0, 0.0])),
        "wrong width": lambda: sim.settle(np.ones((1, 3))),
        "unknown solver": lambda: JaxBatchSimulator(compiled, solver="euler"),
    }.items():
        try:
            call()
        except (SimulationError, InputError) as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
    errors["empty shape"] = str(sim.settle(np.empty((0, 2))).outputs.shape)
    return errors


@pytest.fixture(scope="module")
def jax_worker() -> Iterator[Worker]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield lambda fn, *args, **kwargs: pool.submit(fn, *args, **kwargs).result()


def _inputs(rng: np.random.Generator, n_inputs: int, n: int = 6) -> np.ndarray:
    x = rng.uniform(0, 2, size=(n, n_inputs))
    x[0] = 0.0  # all inputs off
    return x


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("seed,shape,eps", RANDOM_CASES)  # 1 to 4 layers, eps 1 down to 1e-3
def test_batch_settles_to_forward_pass_and_matches_roadrunner(seed, shape, eps, rng, jax_worker):
    net = random_network(seed, shape, eps)
    compiled = compile_network(net)
    x = _inputs(rng, net.n_inputs)
    result = jax_worker(_settle, compiled, x).require_converged()
    assert result.backend == "jax" and result.encoding == "layered-ode"
    assert result.residual.shape == (len(x),) and np.all(result.residual <= DEFAULT_TOLERANCE)
    assert np.all(result.settle_time > 0)
    assert _max_rel(result.outputs, net.forward(x)) < STEADY_STATE_RTOL
    np.testing.assert_allclose(result.states, np.concatenate(net.activations(x), axis=1), rtol=STEADY_STATE_RTOL)
    reference = roadrunner_simulator(compiled).settle(x).require_converged()
    np.testing.assert_allclose(result.states, reference.states, rtol=ENCODING_RTOL)


@pytest.mark.parametrize("solver", ["tsit5", "dopri5", "dopri8"])
def test_stiff_network_settles_with_every_solver(solver, rng, jax_worker):
    # Large weights and eps = 1e-4: stiffness ratio ~600. Without the step cap at ~2.5/λ_max, Tsit5 leaves the
    # stiff neurons jittering at λ_max·rtol ≈ 1e-9 and a sample never meets the 1e-10 tolerance.
    net = random_network(40, (8, 16, 4), 1e-4, scale=3.0)
    x = rng.uniform(0, 1, size=(32, 8))
    result = jax_worker(_settle, compile_network(net), x, solver=solver).require_converged()
    assert _max_rel(result.outputs, net.forward(x)) < STEADY_STATE_RTOL


def test_every_initial_state_reaches_the_same_fixed_point(rng, jax_worker):
    net = random_network(21, (4, 6, 3), 0.05)
    x = np.repeat(rng.uniform(0, 1, size=(1, 4)), 3, axis=0)
    n = sum(net.shape[1:])
    starts = np.stack([np.zeros(n), rng.uniform(0, 1, n), np.full(n, 1e3)])  # one per sample, one batch
    result = jax_worker(_settle, compile_network(net), x, starts).require_converged()
    hidden = np.concatenate(net.activations(x[:1]), axis=1)[0]
    for final in result.states:
        np.testing.assert_allclose(final, hidden, rtol=STEADY_STATE_RTOL)
        np.testing.assert_allclose(final, result.states[0], rtol=ENCODING_RTOL)


def test_polynomial_activation(rng, jax_worker):
    base = random_network(31, (3, 5, 2), 0.05)
    net = FeedForwardNetwork(base.layers, power_activation(0.05, 3))
    compiled = compile_network(net)
    x = _inputs(rng, 3, n=5)
    result = jax_worker(_settle, compiled, x).require_converged()
    assert _max_rel(result.outputs, net.forward(x)) < STEADY_STATE_RTOL
    reference = roadrunner_simulator(compiled).settle(x).require_converged()
    np.testing.assert_allclose(result.states, reference.states, rtol=ENCODING_RTOL)


def test_slices_progress_and_compile_cache(rng, jax_worker):
    net = random_network(2, (3, 4, 2), 0.1)
    other = random_network(99, (3, 4, 2), 0.2)
    x, x_other = rng.uniform(0, 1, size=(11, 3)), rng.uniform(0, 1, size=(8, 3))
    whole = jax_worker(_settle, compile_network(net), x).require_converged()
    out = jax_worker(_settle_sliced_and_reuse, compile_network(net), x, compile_network(other), x_other)
    assert sum(out["counts"]) == len(x) and all(c > 0 for c in out["counts"])
    np.testing.assert_allclose(out["sliced"].require_converged().outputs, whole.outputs, rtol=ENCODING_RTOL)
    # another network of the same shape reuses the compiled chunk solver: no new compilation
    assert out["same_solver"] and not out["recompiled"]
    assert _max_rel(out["other"].require_converged().outputs, other.forward(x_other)) < STEADY_STATE_RTOL
    assert out["platform"] == out["default_backend"]


def test_time_scale_keeps_fixed_point_and_speeds_up(rng, jax_worker):
    net = random_network(22, (3, 4, 2), 0.05)
    x = rng.uniform(0, 1, size=(2, 3))
    slow = jax_worker(_settle, compile_network(net, 1.0), x).require_converged()
    fast = jax_worker(_settle, compile_network(net, 10.0), x).require_converged()
    np.testing.assert_allclose(slow.outputs, fast.outputs, rtol=ENCODING_RTOL)
    assert np.all(fast.settle_time < slow.settle_time / 5)


def test_unsettled_samples_are_reported(jax_worker):
    compiled = compile_network(random_network(23, (2, 2), 0.1))
    result = jax_worker(_settle, compiled, np.ones((3, 2)), max_time=1.0)
    assert not np.any(result.converged)
    assert np.all(result.residual > DEFAULT_TOLERANCE) and np.all(result.settle_time == pytest.approx(1.0))
    with pytest.raises(SimulationError, match="did not settle"):
        result.require_converged()


def test_bad_arguments_are_refused(jax_worker):
    errors = jax_worker(_bad_arguments, compile_network(random_network(23, (2, 2), 0.1)))
    assert errors["negative initial state"].startswith("SimulationError") and "initial state" in errors[
        "negative initial state"]
    assert "InputError" in errors["wrong width"] or "NetworkError" in errors["wrong width"]
    assert "unknown solver" in errors["unknown solver"]
    assert errors["empty shape"] == "(0, 2)"
