"""Exact stochastic simulation (Gillespie SSA) of a compiled network with finitely many molecules.

``omega`` (Ω) is the number of molecules per unit concentration: a species at concentration ``c`` holds about
``Ω·c`` molecules, so Ω = N_A · V · (concentration unit). With counts ``n`` the propensity of a mass-action
reaction with rate constant ``k`` (in the concentration units of :mod:`crn2sbml.crn`) is

* ``-> Y``:            ``k·Ω``                  (order 0)
* ``Y -> ...``:        ``k·n_Y``                (order 1)
* ``X + Y -> ...``:    ``k·n_X·n_Y / Ω``        (order 2, two different species)
* ``2Y -> Y``:         ``k·n_Y·(n_Y − 1) / Ω``  (order 2, the same species twice: ordered pairs of distinct
  molecules, so that ``propensity / Ω → k·y²`` as Ω → ∞ with the ODE's rate constant unchanged)

and in general ``k · Ω^(1−order) · Π_s n_s!/(n_s − m_s)!``. This is the ``"exact"`` convention. The
``"squared"`` convention ``k · Ω^(1−order) · Π_s n_s^m_s`` (``k·n_Y²/Ω`` for ``2Y -> Y``) is what a
concentration kinetic law evaluated on counts gives — libRoadRunner's gillespie integrator on the unmodified
SBML does exactly that — and it is kept only to show the difference: it is not the chemical master equation.

Inputs are clamped boundary species holding ``round(Ω·x)`` molecules (a real implementation has an integer
number of input molecules too); catalysts are never consumed, so their counts stay fixed.

Two engines: :class:`RebopSSA` (rebop, Rust; the throughput path) and :class:`RoadRunnerSSA` (libRoadRunner's
gillespie integrator on the SBML with compartment volume Ω and, for the exact convention, kinetic laws with
the falling factorial). Both take explicit seeds and rate factors; both return :class:`Trajectory` objects.
They are registered, with the chemical Langevin equation, in :mod:`crn2sbml.stochastic.engines`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from crn2sbml.errors import InputError, SimulationError

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork
    from crn2sbml.crn import Reaction

Convention = Literal["exact", "squared"]
CONVENTIONS: tuple[str, ...] = ("exact", "squared")

MAX_OMEGA = 1e7
"""Ω above which an exact SSA of a zoo model would take hours per run (12 s at Ω = 1,000 for iris): refused."""


def check_omega(omega: float, where: str = "omega") -> float:
    """Ω as a float, or InputError for a non-finite, non-positive or absurdly large value."""
    if isinstance(omega, bool) or not isinstance(omega, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: molecules per unit concentration must be a number, got {omega!r}")
    value = float(omega)
    if not (math.isfinite(value) and 0 < value <= MAX_OMEGA):
        raise InputError(f"{where}: molecules per unit concentration must be in (0, {MAX_OMEGA:g}], got {omega!r}")
    return value


def check_convention(convention: str) -> Convention:
    if convention not in CONVENTIONS:
        raise InputError(f"unknown propensity convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    return convention  # type: ignore[return-value]


def check_rate_factors(rate_factors: np.ndarray | None, n_reactions: int) -> np.ndarray:
    """One finite positive factor per reaction (all 1 for ``None``), or InputError."""
    factors = np.ones(n_reactions) if rate_factors is None else np.asarray(rate_factors, dtype=float)
    if factors.shape != (n_reactions,) or not np.all(np.isfinite(factors) & (factors > 0)):
        raise InputError(f"rate_factors must be {n_reactions} finite positive numbers, one per reaction")
    return factors


def input_counts(x: np.ndarray, omega: float) -> np.ndarray:
    """Molecules of each clamped input species: ``round(Ω·x)`` (integers, as in a real implementation)."""
    return np.rint(np.asarray(x, dtype=float) * check_omega(omega)).astype(np.int64)


def count_rate_constant(reaction: Reaction, omega: float, rate_constant: float | None = None) -> float:
    """The stochastic rate constant ``k·Ω^(1−order)``: multiplied by the falling factorials of the reactant
    counts it is the propensity (module docstring)."""
    k = reaction.rate_constant if rate_constant is None else float(rate_constant)
    return k * omega ** (1 - reaction.order)


def propensity(reaction: Reaction, counts: dict[str, int], omega: float, convention: Convention = "exact",
               rate_constant: float | None = None) -> float:
    """Propensity (events per unit time) of ``reaction`` at molecule ``counts`` under ``convention``."""
    value = count_rate_constant(reaction, omega, rate_constant)
    for species, m in reaction.reactants:
        n = counts.get(species, 0)
        for i in range(m):
            value *= max(n - i, 0) if convention == "exact" else n
    return value


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Molecule counts of the neuron species on a regular time grid.

    ``times``: ``(n_points,)``; ``counts``: ``(n_points, n_neurons)`` in the compiled network's neuron order
    (integers from an SSA, the real-valued ``Ω·y`` from the chemical Langevin equation); ``omega``: Ω;
    ``seed``: the seed the run used; ``engine``: the engine's name (:mod:`crn2sbml.stochastic.engines`).
    """

    times: np.ndarray
    counts: np.ndarray
    species: tuple[str, ...]
    omega: float
    seed: int
    engine: str

    @property
    def concentrations(self) -> np.ndarray:
        """``counts / Ω``: comparable with the deterministic fixed point."""
        return self.counts / self.omega

    def window_mean(self, start: float, stop: float | None = None) -> np.ndarray:
        """Time average of ``counts/Ω`` over the grid points in ``[start, stop]`` (default: to the end)."""
        stop = float(self.times[-1]) if stop is None else stop
        keep = (self.times >= start - 1e-12) & (self.times <= stop + 1e-12)
        if not keep.any():
            raise InputError(f"no time point of the trajectory lies in [{start:g}, {stop:g}]")
        return self.concentrations[keep].mean(axis=0)


def check_grid(t_end: float, n_points: int) -> tuple[float, int]:
    """``(t_end, n_points)`` of a recording grid from 0, or InputError."""
    if not (math.isfinite(t_end) and t_end > 0):
        raise InputError(f"simulation end time must be finite and > 0, got {t_end!r}")
    if int(n_points) < 2:
        raise InputError(f"need at least 2 time points, got {n_points!r}")
    return float(t_end), int(n_points)


def check_seed(seed: int) -> int:
    """A run's seed: an integer in ``[0, 2^63)``, or InputError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise InputError(f"seed must be an integer in [0, 2^63), got {seed!r}")
    return int(seed)


class RebopSSA:
    """Exact SSA of ``compiled`` at Ω with rebop (Gillespie's direct method in Rust).

    ``rate_factors`` (one positive factor per reaction, default all 1) multiplies the rate constants: a
    perturbed implementation. One instance runs any number of inputs and seeds.
    """

    engine = "rebop"

    def __init__(self, compiled: CompiledNetwork, omega: float, convention: str = "exact",
                 rate_factors: np.ndarray | None = None) -> None:
        import rebop

        self.compiled = compiled
        self.omega = check_omega(omega)
        self.convention = check_convention(convention)
        reactions = compiled.crn.reactions
        factors = check_rate_factors(rate_factors, len(reactions))
        self._system = rebop.Gillespie()
        for reaction, factor in zip(reactions, factors, strict=True):
            reactants = [s for s, m in reaction.reactants for _ in range(m)]
            products = [s for s, m in reaction.products for _ in range(m)]
            k = count_rate_constant(reaction, self.omega, reaction.rate_constant * factor)
            repeated = any(m > 1 for _, m in reaction.reactants)
            if self.convention == "squared" and repeated:
                # rebop's numeric rate is the falling factorial (k·n(n−1) for 2Y); the squared convention
                # needs its expression form, which multiplies the counts as written
                self._system.add_reaction(f"{k!r} * " + " * ".join(reactants), reactants, products)
            else:
                self._system.add_reaction(k, reactants, products)

    def run(self, x: np.ndarray, t_end: float, n_points: int, seed: int,
            initial_counts: np.ndarray | None = None) -> Trajectory:
        """One trajectory for input ``x`` (``(n_inputs,)`` concentrations) from ``initial_counts`` (default no
        neuron molecules) to ``t_end``, recorded at ``n_points`` equally spaced times from 0."""
        t_end, n_points = check_grid(t_end, n_points)
        compiled = self.compiled
        x = compiled.network.check_inputs(x)
        if x.shape[0] != 1:
            raise InputError(f"run() takes one input vector, got {x.shape[0]}")
        init = dict(zip(compiled.input_species, (int(n) for n in input_counts(x[0], self.omega)), strict=True))
        neurons = compiled.neuron_species
        if initial_counts is not None:
            start = np.asarray(initial_counts)
            if start.shape != (len(neurons),) or np.any(start < 0):
                raise InputError(f"initial_counts must be {len(neurons)} non-negative integers")
            init.update(zip(neurons, (int(n) for n in start), strict=True))
        data = self._system.run(init, t_end, n_points - 1, rng=check_seed(seed), var_names=list(neurons))
        counts = np.stack([np.asarray(data[s].values) for s in neurons], axis=1).astype(np.int64)
        return Trajectory(np.asarray(data["time"].values, dtype=float), counts, neurons, self.omega, int(seed),
                          self.engine)


def stochastic_sbml(sbml: str, omega: float, convention: str = "exact",
                    rate_factors: dict[str, float] | None = None) -> str:
    """The elementary SBML of a compiled model, made ready for a stochastic simulator at Ω.

    The compartment ``cell`` gets volume Ω, so that a species' amount equals ``Ω·concentration``, i.e. its
    molecule count when concentrations are in units of 1/Ω; every kinetic law stays ``cell·k·Π reactants``
    with concentrations, which on counts is ``k·Ω^(1−order)·Π n``. For the exact convention each reactant
    ``S`` of stoichiometry ``m > 1`` becomes the falling factorial ``S·(S − 1/cell)·…`` in concentrations,
    i.e. ``n(n−1)…/Ω^m`` in counts. Rate constants are unchanged, except that ``rate_factors`` (reaction id ->
    positive factor) multiplies them: a perturbed implementation.
    """
    import libsbml

    omega = check_omega(omega)
    convention = check_convention(convention)
    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel() if doc is not None else None
    if model is None or doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL) or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR):
        raise SimulationError("stochastic_sbml: the SBML could not be read")
    compartment = model.getCompartment("cell")
    if compartment is None or model.getNumCompartments() != 1:
        raise SimulationError("stochastic_sbml: expected crn2sbml's single compartment 'cell'")
    compartment.setSize(omega)
    factors = dict(rate_factors or {})
    unknown = sorted(set(factors) - {r.getId() for r in model.getListOfReactions()})
    if unknown:
        raise InputError(f"stochastic_sbml: rate factors for reactions not in the model: {unknown[:5]}")
    bad = sorted(r for r, f in factors.items() if not (math.isfinite(f) and f > 0))
    if bad:
        raise InputError(f"stochastic_sbml: rate factors must be finite and > 0 (reactions {bad[:5]})")
    for reaction in model.getListOfReactions():
        law = reaction.getKineticLaw()
        if law is None or law.getLocalParameter("k") is None:
            raise SimulationError(f"stochastic_sbml: reaction {reaction.getId()!r} is not elementary mass action "
                                  "(load the elementary encoding, model.xml)")
        if reaction.getId() in factors:
            k = law.getLocalParameter("k")
            k.setValue(k.getValue() * factors[reaction.getId()])
        terms = ["cell", "k"]
        for ref in reaction.getListOfReactants():
            species, m = ref.getSpecies(), int(round(ref.getStoichiometry()))
            if convention == "exact":
                terms += [species] + [f"({species} - {i}/cell)" for i in range(1, m)]
            else:
                terms += [species] * m
        ast = libsbml.parseL3Formula(" * ".join(terms))
        if ast is None or law.setMath(ast) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise SimulationError(f"stochastic_sbml: could not rewrite the kinetic law of {reaction.getId()!r}")
    return libsbml.writeSBMLToString(doc)


class RoadRunnerSSA:
    """libRoadRunner's gillespie integrator on ``stochastic_sbml(sbml, Ω, convention)``.

    Settings used: ``variable_step_size`` off (a regular output grid, like rebop's), ``seed`` set before every
    run, ``nonnegative`` left off (counts cannot go negative in an SSA). ``rate_factors`` as for
    :class:`RebopSSA` (written into the SBML's rate constants). Slower than rebop (33 s against 12 s
    for one 60 s run of iris at Ω = 1,000) but it is the mission's toolchain, run on the SBML itself.
    """

    engine = "roadrunner"

    def __init__(self, compiled: CompiledNetwork, omega: float, convention: str = "exact",
                 rate_factors: np.ndarray | None = None, sbml: str | None = None) -> None:
        from crn2sbml.export.sbml import to_sbml
        from crn2sbml.simulate.roadrunner import load_roadrunner

        self.compiled = compiled
        self.omega = check_omega(omega)
        self.convention = check_convention(convention)
        factors = check_rate_factors(rate_factors, len(compiled.crn.reactions))
        by_id = {r.id: float(f) for r, f in zip(compiled.crn.reactions, factors, strict=True) if f != 1.0}
        text = stochastic_sbml(sbml if sbml is not None else to_sbml(compiled), self.omega, self.convention,
                               by_id)
        # through crn2sbml's loader: the text is checked SBML, and every model in the process uses the same JIT
        # backend (models from two backends in one process crashed libRoadRunner)
        self._rr = load_roadrunner(text)
        self._rr.setIntegrator("gillespie")
        self._rr.getIntegrator().setValue("variable_step_size", False)

    def run(self, x: np.ndarray, t_end: float, n_points: int, seed: int,
            initial_counts: np.ndarray | None = None) -> Trajectory:
        """As :meth:`RebopSSA.run` (amounts in a compartment of volume Ω are molecule counts)."""
        t_end, n_points = check_grid(t_end, n_points)
        compiled = self.compiled
        x = compiled.network.check_inputs(x)
        if x.shape[0] != 1:
            raise InputError(f"run() takes one input vector, got {x.shape[0]}")
        rr = self._rr
        rr.resetAll()
        neurons = compiled.neuron_species
        start = np.zeros(len(neurons), dtype=np.int64) if initial_counts is None else np.asarray(initial_counts)
        if start.shape != (len(neurons),) or np.any(start < 0):
            raise InputError(f"initial_counts must be {len(neurons)} non-negative integers")
        # init(S) is the amount; setting it (not the concentration) keeps counts integral to the last bit
        for species, n in zip(compiled.input_species, input_counts(x[0], self.omega), strict=True):
            rr.setValue(f"init({species})", float(n))
        for species, n in zip(neurons, start, strict=True):
            rr.setValue(f"init({species})", float(n))
        rr.reset()
        rr.getIntegrator().setValue("seed", check_seed(seed))
        try:
            result = rr.simulate(0.0, t_end, n_points, selections=["time", *neurons])
        except Exception as exc:
            raise SimulationError(f"libRoadRunner gillespie run failed: {exc}") from exc
        data = np.asarray(result)
        return Trajectory(data[:, 0].copy(), np.rint(data[:, 1:]).astype(np.int64), neurons, self.omega, int(seed),
                          self.engine)


def birth_death_stationary(compiled: CompiledNetwork, x: np.ndarray, omega: float,
                           convention: str = "exact", n_max: int | None = None) -> np.ndarray:
    """The exact stationary distribution of the molecule count of a one-neuron network's only neuron.

    Every reaction changes the neuron by ±1, so its count is a birth–death chain with birth rate ``λ(n)`` and
    death rate ``μ(n)`` (sums of the propensities); detailed balance ``π(n+1)·μ(n+1) = π(n)·λ(n)`` gives the
    stationary law directly. States below the last ``n`` with ``μ(n) = 0`` are transient (under the exact
    convention ``2Y -> Y`` cannot fire from one molecule) and get probability 0. Returns ``π`` on
    ``0..n_max`` (default: 20 standard deviations above the deterministic count, at least 50).
    """
    omega = check_omega(omega)
    convention = check_convention(convention)
    if len(compiled.neuron_species) != 1:
        raise InputError("birth_death_stationary needs a network with exactly one neuron")
    (neuron,) = compiled.neuron_species
    counts = dict(zip(compiled.input_species, (int(n) for n in input_counts(x, omega)), strict=True))
    y_det = float(compiled.network.forward(np.asarray(x, dtype=float))[0, 0])
    if n_max is None:
        n_max = int(omega * y_det + 20 * math.sqrt(omega * y_det + 1) + 50)
    birth = np.zeros(n_max + 1)
    death = np.zeros(n_max + 1)
    for n in range(n_max + 1):
        counts[neuron] = n
        for reaction in compiled.crn.reactions:
            change = reaction.net_change().get(neuron, 0)
            if change == 0:
                continue
            if abs(change) != 1:
                raise InputError(f"reaction {reaction.id!r} changes the neuron by {change}, not ±1")
            a = propensity(reaction, counts, omega, convention)
            if change > 0:
                birth[n] += a
            else:
                death[n] += a
    start = max((n for n in range(1, n_max + 1) if death[n] == 0), default=0)
    log_pi = np.full(n_max + 1, -np.inf)
    log_pi[start] = 0.0
    for n in range(start, n_max):
        log_pi[n + 1] = log_pi[n] + math.log(birth[n]) - math.log(death[n + 1])
    pi = np.exp(log_pi - log_pi.max())
    return pi / pi.sum()
