"""The chemical Langevin equation against independent references, and the stochastic engine registry.

References: rebop's exact SSA and the exact birth–death law of one neuron (Ω = 100 and 1,000), the
linear-noise approximation's Lyapunov covariance (Ω = 10⁵), the network's forward pass (Ω = 10⁷). CLE
statistics are over 4,096 independent replicates at t = 40 (over 30 relaxation times of these networks); SSA
statistics are batch means of one long trajectory (as in test_stochastic.py). Tolerances: 4.5 standard errors,
plus, for variances, the Euler–Maruyama bias the CLE docstring states (a stationary variance inflated by up to
``1/(1 − θ/2)``, θ = ``DEFAULT_THETA``). Every seed is fixed, so the tests are deterministic.

Every jax computation runs in one spawned worker process (see tests/test_jax_batch.py: libRoadRunner models
built after XLA compilations in the same process crashed the suite); the SSA runs here meanwhile.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.crn import parse_text
from crn2sbml.errors import InputError
from crn2sbml.nn.activations import make_activation
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.stochastic.cle import DEFAULT_THETA, ChemicalLangevin, reaction_groups, total_propensity
from crn2sbml.stochastic.engines import (
    ENGINES,
    UnknownEngineError,
    choose_engine,
    make_engine,
    ssa_seconds_per_run,
)
from crn2sbml.stochastic.lna import effective_inputs, lna_covariance
from crn2sbml.stochastic.readout import Readout, Setting, run_task
from crn2sbml.stochastic.ssa import RebopSSA, birth_death_stationary, propensity
from tests.test_stochastic import Z, batch_stats, net_221, one_neuron

Submit = Callable[..., Future]

REPLICATES = 4096
T_END = 40.0
EM_VARIANCE_BIAS = DEFAULT_THETA / 2
X_221 = np.array([0.6, 0.5])
X_NEURON = np.array([0.8])


def saturating_221() -> FeedForwardNetwork:
    """2-2-1 with the saturating activation: reactions that take 0, 1, 2 and 3 molecules of their target."""
    layers = [(np.array([[1.0, -0.5], [0.7, 0.4]]), np.array([0.2, -0.1])), (np.array([[1.2, -0.8]]), np.array([0.3]))]
    return FeedForwardNetwork.from_arrays(layers, activation=make_activation("saturating", 0.1))


# ---- run in the worker process ----
def _final_states(compiled: CompiledNetwork, x: np.ndarray, omega: float, seed0: int) -> np.ndarray:
    """``(REPLICATES, n_neurons)``: the state at T_END of independent replicates."""
    seeds = seed0 + np.arange(REPLICATES)
    _, y = ChemicalLangevin(compiled, omega, chunk=REPLICATES).run_batch(np.tile(x, (REPLICATES, 1)), T_END, 3,
                                                                         seeds)
    return y[:, -1]


def _batch_layouts(compiled: CompiledNetwork, omega: float) -> dict[str, np.ndarray]:
    """One batch of mixed inputs and seeds, again, reversed, with half replaced, and one row alone."""
    inputs = np.array([[0.6, 0.5], [1.5, 0.1], [0.0, 2.0]])
    x = inputs[np.arange(REPLICATES) % 3]
    seeds = 10**12 + np.arange(REPLICATES)
    cle = ChemicalLangevin(compiled, omega, chunk=REPLICATES)
    half = REPLICATES // 2
    other_x, other_seeds = x.copy(), seeds.copy()
    other_x[:half], other_seeds[:half] = inputs[0], 7 + np.arange(half)
    return {
        "first": cle.run_batch(x, T_END, 3, seeds)[1],
        "again": cle.run_batch(x, T_END, 3, seeds)[1],
        "reversed": cle.run_batch(x[::-1], T_END, 3, seeds[::-1])[1][::-1],
        "other_half": cle.run_batch(other_x, T_END, 3, other_seeds)[1],
        "alone": cle.run(x[5], T_END, 3, int(seeds[5])).concentrations,
    }


def _ensemble_and_tasks(compiled: CompiledNetwork, x: np.ndarray, readout: Readout) -> tuple[np.ndarray, list]:
    from crn2sbml.stochastic.ensemble import run_ensemble

    settings = [Setting(300.0, 0.3)]
    result = run_ensemble(compiled, x, settings, replicates=2, base_seed=5, readout=readout, engine="cle")
    one_by_one = [run_task(compiled, x[i], settings[0], 5, i, 0, r, readout, engine="cle")
                  for i in range(x.shape[0]) for r in range(2)]
    return result.outputs[:, 0], one_by_one


@pytest.fixture(scope="module")
def submit() -> Iterator[Submit]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool.submit


def ssa_stationary(compiled: CompiledNetwork, x: np.ndarray, omega: float, seed: int) -> tuple:
    trajectory = RebopSSA(compiled, omega).run(x, 4000.0, 8001, seed=seed)
    return batch_stats(trajectory.concentrations[trajectory.times >= 20.0])


def cle_stats(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, its standard error, variance and its standard error (Gaussian) over independent replicates."""
    n = y.shape[0]
    var = y.var(axis=0, ddof=1)
    return y.mean(axis=0), y.std(axis=0, ddof=1) / np.sqrt(n), var, var * np.sqrt(2.0 / (n - 1))


@pytest.mark.parametrize("factory,x", [(one_neuron, X_NEURON), (net_221, X_221)], ids=["neuron", "2-2-1"])
def test_cle_matches_rebop_ssa_in_stationary_mean_and_variance(submit, factory, x):
    compiled = compile_network(factory())
    futures = {omega: submit(_final_states, compiled, x, omega, 1) for omega in (100.0, 1000.0)}
    for omega, future in futures.items():
        m_ssa, se_ssa, v_ssa, vse_ssa = ssa_stationary(compiled, x, omega, seed=3)
        m, se, v, vse = cle_stats(future.result())
        assert np.all(np.abs(m - m_ssa) < Z * np.hypot(se, se_ssa)), (omega, m, m_ssa)
        assert np.all(np.abs(v - v_ssa) < Z * np.hypot(vse, vse_ssa) + EM_VARIANCE_BIAS * v_ssa), (omega, v, v_ssa)
        if factory is one_neuron:  # and the exact law of the birth–death chain, with the CLE's own error only
            n = np.arange(int(30 * omega))
            pi = birth_death_stationary(compiled, x, omega, n_max=len(n) - 1)
            mean, var = (n * pi).sum() / omega, (n * n * pi).sum() / omega**2 - ((n * pi).sum() / omega) ** 2
            assert abs(m[0] - mean) < Z * se[0] and abs(v[0] - var) < Z * vse[0] + EM_VARIANCE_BIAS * var


@pytest.mark.parametrize("factory", [net_221, saturating_221], ids=["smoothed-relu", "saturating"])
def test_cle_covariance_matches_lna_and_huge_omega_gives_the_fixed_point(submit, factory):
    compiled = compile_network(factory())
    large, huge = submit(_final_states, compiled, X_221, 1e5, 2), submit(_final_states, compiled, X_221, 1e7, 3)
    c = lna_covariance(compiled, X_221, 1e5) * 1e5
    y = large.result()
    cov = np.cov(y, rowvar=False) * 1e5
    scale = np.sqrt(np.outer(np.diag(c), np.diag(c)))
    se = np.sqrt((scale**2 + c**2) / REPLICATES)
    assert np.all(np.abs(cov - c) < Z * se + EM_VARIANCE_BIAS * scale), (cov, c)
    # Ω = 10⁷: the mean is the forward pass (at the inputs the CLE sees) within the LNA's standard error
    y = huge.result()
    fixed = np.concatenate(compiled.network.activations(effective_inputs(X_221, 1e7)), axis=1)[0]
    se = np.sqrt(np.diag(lna_covariance(compiled, X_221, 1e7)) / REPLICATES)
    assert np.all(np.abs(y.mean(axis=0) - fixed) < Z * se + 1e-6), (y.mean(axis=0), fixed)
    assert np.all(np.abs(y - fixed) < 6 * np.sqrt(np.diag(lna_covariance(compiled, X_221, 1e7))))


def test_seeds_reproduce_runs_and_results_do_not_depend_on_the_batch(submit):
    compiled = compile_network(net_221())
    runs = submit(_batch_layouts, compiled, 200.0).result()
    first = runs["first"]
    assert np.array_equal(first, runs["again"]) and np.array_equal(first, runs["reversed"])
    half = REPLICATES // 2
    assert np.array_equal(first[half:], runs["other_half"][half:])
    assert not np.array_equal(first[:half], runs["other_half"][:half])
    assert np.array_equal(first[5], runs["alone"])
    assert len({first[i, -1, 0] for i in (0, 3, 6)}) == 3  # same input, different seeds: different runs


def test_batched_ensemble_gives_each_task_its_own_seed_and_rate_factors(submit):
    compiled = compile_network(net_221())
    x = np.array([[0.6, 0.5], [1.5, 0.1], [0.0, 2.0]])
    readout = Readout(burn_in=10.0, window=5.0, step=0.25)
    batched, tasks = submit(_ensemble_and_tasks, compiled, x, readout).result()
    assert np.array_equal(batched.reshape(len(tasks), -1), np.array(tasks))
    assert not np.array_equal(batched[:, 0], batched[:, 1])


def test_engine_registry_and_auto_choice():
    compiled = compile_network(net_221())
    readout = Readout.for_compiled(compiled)
    assert set(ENGINES) == {"rebop", "roadrunner", "cle"}
    for name, entry in ENGINES.items():
        cls = entry.load()
        assert cls.engine == name and hasattr(cls, "readouts") == entry.batched and hasattr(cls, "run")
        assert entry.omega_range[0] < entry.omega_range[1]
    assert [e.name for e in ENGINES.values() if e.exact] == ["rebop", "roadrunner"]
    # the cost estimate's reaction count: summed propensities, computed independently from the reaction list
    x = effective_inputs(X_221, 1e3)
    y = np.concatenate(compiled.network.activations(x), axis=1)[0]
    counts = {**dict(zip(compiled.input_species, 1e3 * x, strict=True)),
              **dict(zip(compiled.neuron_species, 1e3 * y, strict=True))}
    direct = sum(propensity(r, counts, 1e3, "squared") for r in compiled.crn.reactions) / 1e3
    assert np.isclose(total_propensity(compiled, x[None])[0], direct, rtol=1e-12)
    assert np.isclose(ssa_seconds_per_run(compiled, X_221[None], 1e4, 10.0),
                      10 * ssa_seconds_per_run(compiled, X_221[None], 1e3, 10.0), rtol=1e-12)
    assert choose_engine(compiled, X_221[None], 10.0, readout).name == "rebop"
    big = choose_engine(compiled, X_221[None], 1e6, readout)
    assert big.name == "cle" and "exact SSA would take" in big.reason
    assert isinstance(make_engine("auto", compiled, 10.0, x=X_221[None], readout=readout), RebopSSA)
    assert isinstance(make_engine("auto", compiled, 1e6, x=X_221[None], readout=readout), ChemicalLangevin)
    with pytest.raises(InputError):
        make_engine("auto", compiled, 10.0)
    with pytest.raises(UnknownEngineError, match="rebop, roadrunner, cle, auto"):
        make_engine("tau-leaping", compiled, 10.0)


def test_bad_arguments_raise_typed_errors_before_any_work():
    compiled = compile_network(net_221())
    for bad in (0, -1.0, float("nan"), float("inf"), True, "100", 1e9):
        with pytest.raises(InputError):
            ChemicalLangevin(compiled, bad)  # type: ignore[arg-type]
    for kwargs in ({"theta": 0.0}, {"theta": 2.0}, {"chunk": 0}, {"convention": "n2"},
                   {"rate_factors": np.ones(3)}, {"rate_factors": -np.ones(len(compiled.crn.reactions))}):
        with pytest.raises(InputError):
            ChemicalLangevin(compiled, 100.0, **kwargs)  # type: ignore[arg-type]
    cle = ChemicalLangevin(compiled, 100.0)
    with pytest.raises(InputError, match="one seed per input row"):
        cle.run_batch(np.ones((2, 2)), 10.0, 3, [1])
    with pytest.raises(InputError):
        cle.run_batch(np.ones((1, 2)), 10.0, 3, [-1])
    with pytest.raises(InputError):
        cle.run_batch(np.ones((1, 3)), 10.0, 3, [1])
    with pytest.raises(InputError):
        cle.run_batch(np.ones((1, 2)), -1.0, 3, [1])
    with pytest.raises(InputError):
        cle.run(np.ones(2), 10.0, 3, 1, initial_counts=np.zeros(3))
    # a reaction that changes two neurons has no one-Brownian-motion-per-neuron form: refused by name
    crn = parse_text("species x1 = 1 clamped\nspecies y1 = 0\nspecies y2 = 0\nr1: y1 -> y2  k=1.0\n")
    fake = SimpleNamespace(crn=crn, neuron_species=("y1", "y2"), input_species=("x1",))
    with pytest.raises(InputError, match="r1"):
        reaction_groups(fake)  # type: ignore[arg-type]
