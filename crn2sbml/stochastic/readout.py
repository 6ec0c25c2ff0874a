"""The readout of a stochastic or perturbed implementation, and one grid task (sample × setting × replicate).

Readout (what a lab measures): start with no neuron molecules, wait a burn-in of
:data:`BURN_IN_RELAXATION_TIMES` slowest relaxation times per layer (the cascade settles layer after layer),
then average ``counts/Ω`` of each output species over a window of :data:`WINDOW_RELAXATION_TIMES` relaxation
times (recorded every :data:`POINTS_PER_RELAXATION_TIME`-th of one). The class is the argmax of that average.
A time average rather than one snapshot: it cuts the variance by about ``2τ/W`` for a window ``W`` much longer
than the relaxation time ``τ`` (:func:`crn2sbml.stochastic.lna.lna_window_covariance` computes it exactly).

A :class:`Setting` is one implementation condition: Ω molecules per unit concentration (``None``: the
deterministic limit) and a coefficient of variation of the rate constants (0: exact rates). Every task draws its
randomness from ``SeedSequence(base_seed, spawn_key=(sample, setting, replicate))``: the first child gives the
rate factors, the second the engine's seed (the SSA's seed, or the CLE's key), so a task's result does not depend
on where, in which order or in which batch it ran, and a task run by two engines is the same perturbed
implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import InputError
from crn2sbml.stochastic.engines import get_engine
from crn2sbml.stochastic.perturb import check_cv, lognormal_factors, perturbed_outputs
from crn2sbml.stochastic.ssa import check_omega

BURN_IN_RELAXATION_TIMES = 5.0
"""Burn-in per layer, in slowest relaxation times (e^-5 ≈ 0.7 % of the initial distance left per layer)."""

WINDOW_RELAXATION_TIMES = 5.0
"""Length of the averaging window, in slowest relaxation times."""

POINTS_PER_RELAXATION_TIME = 10
"""Recording points per relaxation time (the window average is over these points)."""


@dataclass(frozen=True)
class Readout:
    """Burn-in and window (time units of the model) and the recording step."""

    burn_in: float
    window: float
    step: float

    @classmethod
    def for_compiled(cls, compiled: CompiledNetwork) -> Readout:
        tau = 1.0 / (compiled.network.activation.rate_bound() * compiled.time_scale)
        n_layers = len(compiled.layer_species)
        return cls(BURN_IN_RELAXATION_TIMES * tau * n_layers, WINDOW_RELAXATION_TIMES * tau,
                   tau / POINTS_PER_RELAXATION_TIME)

    @property
    def t_end(self) -> float:
        return self.burn_in + self.window

    @property
    def n_points(self) -> int:
        return int(math.ceil(self.t_end / self.step)) + 1


@dataclass(frozen=True)
class Setting:
    """Ω (``None`` = deterministic limit) and the rate constants' coefficient of variation."""

    omega: float | None
    rate_cv: float

    def __post_init__(self) -> None:
        if self.omega is not None:
            object.__setattr__(self, "omega", check_omega(self.omega))
        object.__setattr__(self, "rate_cv", check_cv(self.rate_cv))

    @property
    def label(self) -> str:
        omega = "inf" if self.omega is None else f"{self.omega:g}"
        return f"omega={omega} cv={self.rate_cv:g}"


def settings_grid(volumes: list[float], rate_cvs: list[float]) -> list[Setting]:
    """Every (Ω, cv) with Ω in ``volumes`` or ∞ and cv in ``{0} ∪ rate_cvs``, except (∞, 0) — that is the
    deterministic network, computed once, not a task. Ω ascending, ∞ last; cv ascending."""
    omegas: list[float | None] = [*sorted({check_omega(v, "volume") for v in volumes}), None]
    cvs = sorted({0.0, *(check_cv(c) for c in rate_cvs)})
    return [Setting(o, c) for o in omegas for c in cvs if not (o is None and c == 0.0)]


def task_seeds(base_seed: int, sample: int, setting: int, replicate: int) -> tuple[np.random.Generator, int]:
    """The task's rate-factor generator and SSA seed (module docstring)."""
    if isinstance(base_seed, bool) or not isinstance(base_seed, (int, np.integer)) or base_seed < 0:
        raise InputError(f"base seed must be a non-negative integer, got {base_seed!r}")
    sequence = np.random.SeedSequence(int(base_seed), spawn_key=(int(sample), int(setting), int(replicate)))
    rates, ssa = sequence.spawn(2)
    return np.random.default_rng(rates), int(ssa.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_task(compiled: CompiledNetwork, x: np.ndarray, setting: Setting, base_seed: int, sample: int,
             setting_index: int, replicate: int, readout: Readout | None = None,
             engine: str = "rebop") -> np.ndarray:
    """The readout ``(n_outputs,)`` of one implementation of ``compiled`` for input row ``x``, run by ``engine``
    (a name in :data:`~crn2sbml.stochastic.engines.ENGINES`)."""
    rng, ssa_seed = task_seeds(base_seed, sample, setting_index, replicate)
    factors = None
    if setting.rate_cv > 0:
        factors = lognormal_factors(rng, 1, len(compiled.crn.reactions), setting.rate_cv)[0]
    if setting.omega is None:
        return perturbed_outputs(compiled, x, factors)[0, 0]
    readout = readout or Readout.for_compiled(compiled)
    trajectory = get_engine(engine)(compiled, setting.omega, rate_factors=factors).run(
        x, readout.t_end, readout.n_points, seed=ssa_seed)
    n_out = compiled.network.n_outputs
    return trajectory.window_mean(readout.burn_in)[-n_out:]


def run_tasks_batched(compiled: CompiledNetwork, x: np.ndarray, setting: Setting, base_seed: int,
                      setting_index: int, replicates: int, readout: Readout, engine: str = "cle") -> np.ndarray:
    """The readouts ``(n_samples, replicates, n_outputs)`` of every task of one setting with a batched engine,
    in one call: the same seeds and rate factors as :func:`run_task` gives each task."""
    if setting.omega is None:
        raise InputError("batched runs are for a finite Ω; the deterministic setting needs no engine")
    entry = get_engine(engine)
    if not entry.batched:
        raise InputError(f"engine {engine!r} runs one trajectory at a time; use run_task")
    rows = [(i, r) for i in range(x.shape[0]) for r in range(int(replicates))]
    seeds, factors = [], []
    for i, r in rows:
        rng, seed = task_seeds(base_seed, i, setting_index, r)
        seeds.append(seed)
        if setting.rate_cv > 0:
            factors.append(lognormal_factors(rng, 1, len(compiled.crn.reactions), setting.rate_cv)[0])
    sim = entry(compiled, setting.omega)
    out = sim.readouts(x[[i for i, _ in rows]], seeds, readout, rate_factors=np.array(factors) if factors else None)
    n_out = compiled.network.n_outputs
    return out[:, -n_out:].reshape(x.shape[0], int(replicates), n_out)
