"""The stochastic engines by name: ``ENGINES``, ``make_engine(name, compiled, omega, ...)`` and the ``auto`` choice.

Every engine is built as ``ENGINES[name](compiled, omega, convention=..., rate_factors=...)`` and runs one
trajectory with ``run(x, t_end, n_points, seed) -> Trajectory``; a *batched* engine also has
``readouts(x, seeds, readout, rate_factors=None)``, many trajectories in one call. The class is imported only
when the engine is used (the CLE's jax, libRoadRunner's LLVM).

| engine | exact | meant for Ω | batched | cost of one readout |
|---|---|---|---|---|
| ``rebop`` | yes (Gillespie) | up to ~10³ | no | ∝ Ω × reactions fired × reactions in the network |
| ``roadrunner`` | yes (Gillespie) | up to ~10² | no | as rebop, ~3x slower; runs on the SBML itself |
| ``cle`` | no (Langevin, 1/Ω expansion) | ~10² and up | yes (GPU when present) | independent of Ω |

``auto`` (:func:`choose_engine`): rebop where one run is estimated to take at most
:data:`AUTO_SSA_MAX_SECONDS`, the CLE beyond. The estimate is ``Ω · t_end · a* · R / REBOP_EVENT_RATE`` with
``a*`` the summed propensity per unit volume at the fixed point (so about ``Ω·t_end·a*`` reactions fire) and
``R`` the number of reactions: rebop's time per event grows with the network (measured on the 2-core
development machine, zoo models from 62 to 1,262 reactions: 0.7–2.9 × 10⁻⁸ s per event and reaction lightly
loaded, up to 5 × 10⁻⁸ with other jobs running). :data:`REBOP_EVENT_RATE` = 5 × 10⁷ puts the estimate within
a factor of about 3 of the measured time, enough to pick an engine; validation/robustness/run.py prints the
estimate next to the measured time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml.errors import InputError
from crn2sbml.stochastic.ssa import check_omega

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork
    from crn2sbml.stochastic.readout import Readout

AUTO = "auto"

AUTO_SSA_MAX_SECONDS = 2.0
"""``auto`` runs the exact SSA where one readout is estimated to take at most this long."""

REBOP_EVENT_RATE = 5e7
"""``events × reactions`` rebop gets through per second (module docstring)."""


class UnknownEngineError(InputError):
    """An engine name that is not registered; the message lists the choices."""


@dataclass(frozen=True)
class Engine:
    """One registered stochastic engine and what it is for."""

    name: str
    module: str
    class_name: str
    exact: bool
    batched: bool
    omega_range: tuple[float, float]
    summary: str

    def load(self) -> type:
        """The engine class (imports its module, not the library behind it)."""
        return getattr(importlib.import_module(self.module), self.class_name)

    def __call__(self, compiled: CompiledNetwork, omega: float, *, convention: str = "exact",
                 rate_factors: np.ndarray | None = None, **options: Any) -> Any:
        return self.load()(compiled, omega, convention, rate_factors=rate_factors, **options)


ENGINES: dict[str, Engine] = {
    entry.name: entry
    for entry in (
        Engine("rebop", "crn2sbml.stochastic.ssa", "RebopSSA", exact=True, batched=False,
               omega_range=(1.0, 1e3), summary="exact SSA (Gillespie's direct method, Rust); the exact reference"),
        Engine("roadrunner", "crn2sbml.stochastic.ssa", "RoadRunnerSSA", exact=True, batched=False,
               omega_range=(1.0, 1e2), summary="exact SSA by libRoadRunner's gillespie integrator on the SBML "
                                               "itself; the cross-check"),
        Engine("cle", "crn2sbml.stochastic.cle", "ChemicalLangevin", exact=False, batched=True,
               omega_range=(1e2, 1e7), summary="chemical Langevin equation (JAX/diffrax, batched, GPU when "
                                               "present); cost independent of Ω"),
    )
}
"""Every engine by name (``auto`` is not one: it resolves to one of these)."""


def engine_names() -> tuple[str, ...]:
    """The names :func:`make_engine` accepts: the registered engines and ``auto``."""
    return (*ENGINES, AUTO)


def get_engine(name: str) -> Engine:
    """The registered engine ``name``; UnknownEngineError (an InputError) listing the choices otherwise."""
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise UnknownEngineError(f"unknown stochastic engine {name!r}; choose one of "
                                 f"{', '.join(engine_names())}") from None


def check_engine_name(name: str) -> str:
    """``name`` when it is ``auto`` or a registered engine, so that a bad name fails before any work starts;
    UnknownEngineError otherwise."""
    if name != AUTO:
        get_engine(name)
    return name


@dataclass(frozen=True)
class EngineChoice:
    """The engine ``auto`` picked and why, in words fit for a log line."""

    name: str
    reason: str
    ssa_seconds: float


def ssa_seconds_per_run(compiled: CompiledNetwork, x: np.ndarray, omega: float, t_end: float) -> float:
    """Estimated rebop seconds for one run of length ``t_end`` at Ω, averaged over the rows of ``x`` (the
    rule is in the module docstring)."""
    from crn2sbml.stochastic.cle import total_propensity
    from crn2sbml.stochastic.lna import effective_inputs

    omega = check_omega(omega)
    x = compiled.network.check_inputs(x)
    events = omega * t_end * float(np.mean(total_propensity(compiled, effective_inputs(x, omega))))
    return events * len(compiled.crn.reactions) / REBOP_EVENT_RATE


def choose_engine(compiled: CompiledNetwork, x: np.ndarray, omega: float, readout: Readout,
                  max_seconds: float = AUTO_SSA_MAX_SECONDS) -> EngineChoice:
    """What ``auto`` runs at Ω for the samples ``x`` with ``readout`` (module docstring)."""
    seconds = ssa_seconds_per_run(compiled, x, omega, readout.t_end)
    if seconds <= max_seconds:
        return EngineChoice("rebop", f"exact SSA: about {seconds:.2g} s per run at Ω = {omega:g} "
                                     f"(<= {max_seconds:g} s)", seconds)
    return EngineChoice("cle", f"chemical Langevin: the exact SSA would take about {seconds:.2g} s per run at "
                               f"Ω = {omega:g} (> {max_seconds:g} s)", seconds)


def make_engine(name: str, compiled: CompiledNetwork, omega: float, *, convention: str = "exact",
                rate_factors: np.ndarray | None = None, x: np.ndarray | None = None,
                readout: Readout | None = None, **options: Any) -> Any:
    """Engine ``name`` (one of :func:`engine_names`) on ``compiled`` at Ω. ``auto`` needs the samples ``x`` and
    the ``readout`` it will run, to estimate the cost of the exact SSA."""
    if name == AUTO:
        if x is None or readout is None:
            raise InputError("the auto engine needs the samples (x) and the readout to estimate the SSA's cost")
        name = choose_engine(compiled, x, omega, readout).name
    return get_engine(name)(compiled, omega, convention=convention, rate_factors=rate_factors, **options)
