"""Does the DNA network settle at α·y*? Enumerate the design's strand-displacement reactions with peppercorn,
export its SBML, and integrate it in libRoadRunner at the concentrations of :mod:`crn2sbml.dsd.concentrations`.

* **Network.** peppercorn's *detailed* network (every toehold binding, branch migration and release, with
  peppercorn's rate constants): it keeps the toehold-bound states, so strands that occupy other gates'
  toeholds slow them, as they would in the tube. The condensed network assumes every unimolecular step is
  infinitely fast next to binding and drops those states; it is kept for comparison.
* **Waste tails merged.** Every reactant waste ``s_R t ·`` of species ``R`` gets one tail domain
  (:func:`crn2sbml.dsd.verify.merge_waste_tails`). The tails are dangling and complementary to nothing, so
  states that differ only in which tail a gate holds react alike: the merged network is an exact lumping of the
  one as written, about four times smaller for a neuron.
* **SBML.** peppercorn's own writer (``write_sbml``; concentrations in M, one litre, mass action), then libSBML
  clamps the inputs (boundary, constant). Its local parameters' units are declared from the last reaction's
  order (a bug in peppercorn 1.1.1): values are right, the unit labels are not used here.
* **Readout.** The output's *free* signal strand: every rate law of the derivation is written in the free
  concentration, so the free strand is what settles at ``α·y*``. The copies held in gate intermediates
  (about ``[G]/W`` per free one) are reported as well.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.dsd.concentrations import (
    GateKinetics,
    KineticDesign,
    effective_rate_constant,
    kinetic_design,
    toehold_equilibrium,
)
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import DsdComplex, DsdDesign, translate
from crn2sbml.dsd.verify import complex_meaning, merge_waste_tails, peppercorn_session
from crn2sbml.errors import SimulationError
from crn2sbml.export.units import PhysicalUnits, feasibility

MAX_COMPLEX_SIZE = 10
"""peppercorn's limit on strands per complex (its default; every gate of the scheme has at most 8)."""


@dataclass(frozen=True)
class EnumeratedNetwork:
    """peppercorn's network of a design as SBML, inputs clamped, and what each complex holds."""

    sbml: str
    species: int
    reactions: int
    seconds: float
    condensed: bool
    inputs: tuple[str, ...]
    held: dict[str, dict[str, int]]
    """Complex -> signal -> copies bound in it as a reactant (recognition domain paired)."""
    spacers: dict[str, str]
    """Gate name -> the complex of its spacer strand ``u t v``, released once each time its fuel fires."""


def _merged_helpers(design: DsdDesign, kinetics: KineticDesign) -> tuple[DsdDesign, tuple[DsdComplex, ...]]:
    merged, wastes = merge_waste_tails(design)
    species = dict(kinetics.helper_species)
    present = {s.name for s in design.signals}
    helpers = []
    for h in kinetics.helpers:
        s = species[h.name]
        # a species that is no reactant here needs no helper (and its tail domain may not exist here)
        strand = wastes.get(s, h.strands[0])
        if s in present and all(d in merged.domains for d in strand):
            helpers.append(DsdComplex(h.name, " ".join(strand), (strand,), "helper", h.reaction))
    return merged, tuple(helpers)


def _held_signals(cx: Any, signals: dict[str, str], fuel_starts: set[tuple[str, ...]]) -> dict[str, int]:
    """Signal copies held in a multi-strand complex (a reactant in a gate; a spent gate holds none), by
    :func:`crn2sbml.dsd.verify.complex_meaning`; a free strand holds none."""
    if not any(str(d) == "+" for d in cx.sequence):
        return {}
    return dict(Counter(complex_meaning(cx, signals, fuel_starts)))


def enumerate_network(design: DsdDesign, kinetics: KineticDesign, inputs: dict[str, float],
                      condensed: bool = False) -> EnumeratedNetwork:
    """Enumerate ``design`` (waste tails merged, helpers added) at ``kinetics``' concentrations, ``inputs``
    (signal name -> M) clamped; peppercorn's SBML of the detailed (or ``condensed``) network."""
    import libsbml

    merged, helpers = _merged_helpers(design, kinetics)
    nanomolar = {name: molar / 1e-9 for name, molar in (kinetics.concentrations() | inputs).items()}
    text = to_pil(merged, nanomolar, "nM", extra=helpers)
    started = time.perf_counter()
    with peppercorn_session():
        # imported here: peppercorn takes a second to import and raises the recursion limit for the process
        from peppercornenumerator import Enumerator
        from peppercornenumerator.input import read_pil
        from peppercornenumerator.objects import clear_memory
        from peppercornenumerator.output import write_sbml

        clear_memory()  # complexes are process-wide singletons by name: a second design reuses G1, F1, ...
        complexes, reactions = read_pil(text)
        named = list(complexes.values())
        enum = Enumerator(named, reactions, named_complexes=named)
        enum.max_complex_size = max(MAX_COMPLEX_SIZE, *(len(c.strands) for c in design.complexes))
        enum.enumerate()
        if condensed:
            enum.condense()
        sbml = write_sbml(enum, condensed=condensed)
        signals = {s.strands[0][2]: s.name for s in design.signals}
        pool = [m.representative for m in enum.resting_macrostates] if condensed else list(enum.complexes)
        fuel_starts = {f.strands[0][:2] for f in design.fuels}
        held = {cx.name: h for cx in pool if (h := _held_signals(cx, signals, fuel_starts))}
        spacer_kernels = {g.name: f"u{g.name[1:]} t v{g.name[1:]}" for g in design.gates}
        by_kernel = {" ".join(cx.kernel_string.split()): cx.name for cx in pool}
    seconds = time.perf_counter() - started
    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) or model is None:
        raise SimulationError("libSBML could not read peppercorn's SBML")
    for name in inputs:
        species = model.getSpecies(name)
        if species is None:
            raise SimulationError(f"input {name} is not a species of peppercorn's network")
        if species.setBoundaryCondition(True) or species.setConstant(True):
            raise SimulationError(f"libSBML refused to clamp input {name}")
    spacers = {g: by_kernel[k] for g, k in spacer_kernels.items() if k in by_kernel}
    return EnumeratedNetwork(libsbml.writeSBMLToString(doc), model.getNumSpecies(), model.getNumReactions(),
                             seconds, condensed, tuple(inputs), held, spacers)


class DnaSimulator:
    """One compiled RoadRunner for an enumerated network; concentrations are set per run without recompiling
    (``setValue('init(...)')`` recompiles the model on every call)."""

    def __init__(self, network: EnumeratedNetwork, relative_tolerance: float = 1e-7) -> None:
        from crn2sbml.simulate.roadrunner import load_roadrunner

        self.network = network
        self.rr = load_roadrunner(network.sbml)
        self.rr.integrator.setValue("relative_tolerance", relative_tolerance)
        self.rr.integrator.setValue("maximum_num_steps", 1_000_000)
        self.floating = list(self.rr.model.getFloatingSpeciesIds())
        self.boundary = list(self.rr.model.getBoundarySpeciesIds())

    def run(self, concentrations: dict[str, float], inputs: dict[str, float], times: Sequence[float],
            species: Sequence[str], scale: float) -> dict[str, np.ndarray]:
        """Concentrations (M) of ``species`` at ``times`` (s) from gates, fuels and helpers at
        ``concentrations``, everything else at 0, inputs clamped; ``scale`` (M) sets the absolute tolerance."""
        rr = self.rr
        rr.resetAll()
        rr.integrator.setValue("absolute_tolerance", scale * 1e-7)
        init = np.zeros(len(self.floating))
        for name, value in concentrations.items():
            if name in self.floating:
                init[self.floating.index(name)] = value
        rr.model.setFloatingSpeciesInitConcentrations(init)
        rr.reset()
        if self.boundary:
            rr.model.setBoundarySpeciesConcentrations(np.array([inputs[b] for b in self.boundary]))
        try:
            result = rr.simulate(times=[0.0, *times], selections=[f"[{s}]" for s in species])
        except RuntimeError as exc:
            raise SimulationError(f"libRoadRunner failed on the DNA network: {exc}") from exc
        data = np.asarray(result)[1:]
        return {s: data[:, j] for j, s in enumerate(species)}


@dataclass(frozen=True)
class Settled:
    """One run of the DNA network: where the outputs are at the predicted settle time (and later)."""

    gate_scale: float
    alpha: float
    kappa: float
    helper_molar: float
    largest_gate: float
    toehold_occupancy: float
    buffer_ratio: float
    settle_s: float
    multiples: list[float]
    expected: list[float]
    """``y*`` of each output (model units)."""
    free: list[list[float]]
    """Per multiple of the settle time: each output's free strand / α."""
    held: list[list[float]]
    """Per multiple: copies held in gate intermediates / α."""
    gate_spent: dict[str, float] = field(default_factory=dict)
    """Fraction of each gate spent by the settle time."""

    def relative_error(self, multiple_index: int = 0) -> float:
        """Largest over outputs of ``|free − y*| / y*`` at one multiple of the settle time."""
        return max(abs(f - e) / e for f, e in zip(self.free[multiple_index], self.expected, strict=True))

    def signed_error(self, multiple_index: int = 0) -> list[float]:
        return [(f - e) / e for f, e in zip(self.free[multiple_index], self.expected, strict=True)]


def predicted_settle_seconds(compiled: CompiledNetwork, kinetics: KineticDesign) -> float:
    """The formal network's settle time at ``κ`` (:func:`crn2sbml.export.units.feasibility`) times the DNA
    network's slowdown ``(1 + buffer)(1 + O)``."""
    units = PhysicalUnits(unit="M", scale=kinetics.alpha, gate_concentration=kinetics.gate_scale,
                          kappa=kinetics.kappa)
    return feasibility(compiled, units).settle_time_hours * 3600.0 * kinetics.slowdown()


class NeuronNetworkRun:
    """Enumerate a compiled network's design once; settle it at any gate scale ``C`` (same ``α``, inputs)."""

    def __init__(self, compiled: CompiledNetwork, x: Sequence[float], alpha: float, condensed: bool = False,
                 reference_gate_scale: float = 1e-7) -> None:
        self.compiled = compiled
        self.design = translate(compiled.crn)
        self.alpha = alpha
        self.x = np.asarray(x, dtype=float)
        names = self.design.species_names
        self.inputs = {names[s]: alpha * float(v) for s, v in zip(compiled.input_species, self.x, strict=True)}
        self.outputs = [names[s] for s in compiled.output_species]
        self.expected = [float(v) for v in compiled.network.activations(self.x.reshape(1, -1))[-1][0]]
        reference = kinetic_design(self.design, alpha, reference_gate_scale)
        self.network = enumerate_network(self.design, reference, self.inputs, condensed)
        self.simulator = DnaSimulator(self.network)

    def settle(self, gate_scale: float, multiples: Sequence[float] = (1.0, 2.0), kappa: float | None = None
               ) -> Settled:
        kinetics = kinetic_design(self.design, self.alpha, gate_scale, kappa)
        t_settle = predicted_settle_seconds(self.compiled, kinetics)
        holders = [c for c, h in self.network.held.items() if any(o in h for o in self.outputs)]
        spacers = self.network.spacers
        species = self.outputs + holders + list(spacers.values())
        data = self.simulator.run(kinetics.concentrations(), self.inputs, [m * t_settle for m in multiples],
                                  species, self.alpha)
        free = [[float(data[o][i]) / self.alpha for o in self.outputs] for i in range(len(multiples))]
        held = [[sum(self.network.held[c].get(o, 0) * float(data[c][i]) for c in holders) / self.alpha
                 for o in self.outputs] for i in range(len(multiples))]
        gates = {g.gate: g for g in kinetics.gates}
        spent = {g: float(data[s][0]) / gates[g].gate_molar for g, s in spacers.items() if g in gates}
        return Settled(gate_scale, self.alpha, kinetics.kappa, kinetics.helper_molar,
                       max(g.gate_molar for g in kinetics.gates), kinetics.toehold_occupancy(),
                       kinetics.buffer_ratio(), t_settle, list(multiples), self.expected, free, held, spent)


# ------------------------------------------------------------------------------------- one gate at a time
@dataclass(frozen=True)
class GateRate:
    """The rate constant one gate shows in its own enumerated network, next to what the rate law predicts."""

    reaction: str
    text: str
    designed: float
    """The physical rate constant the gate was designed for (in the whole design's toehold equilibrium)."""
    predicted: float
    """:func:`~crn2sbml.dsd.concentrations.effective_rate_constant` for this gate alone: its own fuel and helpers
    set the toehold equilibrium, and ``1/(1 + O)`` is included."""
    measured: float
    own_occupancy: float
    species: int

    @property
    def ratio(self) -> float:
        """``measured / predicted``: 1 when the derivation holds."""
        return self.measured / self.predicted


def gate_rate(compiled: CompiledNetwork, kinetics: KineticDesign, reaction: str,
              levels: dict[str, float], spent_fraction: float = 0.01) -> GateRate:
    """Enumerate the gate of ``reaction`` alone, its reactants clamped at ``levels`` (signal -> M) and its
    gate, fuel and helpers at ``kinetics``' concentrations; fit the firing rate (its spacer's release, one
    per firing) over the second half of the time it takes to spend ``spent_fraction`` of the gate."""
    gate: GateKinetics = next(g for g in kinetics.gates if g.reaction == reaction)
    design = translate(compiled.crn, [reaction])
    formal = design.formal[0]
    clamped = {s: levels[s] for s in set(formal.reactants)}
    network = enumerate_network(replace(design, inputs=tuple(clamped)), kinetics, clamped)
    simulator = DnaSimulator(network, relative_tolerance=1e-9)
    helpers = {h.name for h in _merged_helpers(design, kinetics)[1]}
    w = kinetics.helper_molar
    concentrations = {gate.gate: gate.gate_molar, gate.fuel: gate.fuel_molar} | {h: w for h in helpers}
    strands = [(gate.fuel_molar, gate.fuel_toeholds)] + [(w, 1)] * len(helpers)
    free = toehold_equilibrium(gate.gate_molar, strands, kinetics.rates)
    occupancy = gate.gate_molar / free - 1.0
    predicted = effective_rate_constant(gate.order, gate.gate_molar, gate.fuel_molar, gate.fuel_toeholds,
                                        len(gate.first_helpers), w, gate.last_helper in helpers, kinetics.rates,
                                        free) / (1.0 + occupancy)
    product = math.prod(levels[s] for s in formal.reactants)
    horizon = spent_fraction * gate.gate_molar / (predicted * product)
    spacer = network.spacers[gate.gate]
    data = simulator.run(concentrations, clamped, [0.5 * horizon, horizon], [spacer],
                         min(levels.values(), default=gate.gate_molar))
    slope = (data[spacer][1] - data[spacer][0]) / (0.5 * horizon)
    return GateRate(reaction, gate.text, gate.rate_constant, predicted, float(slope / product), occupancy,
                    network.species)


__all__ = ["DnaSimulator", "EnumeratedNetwork", "GateRate", "NeuronNetworkRun", "Settled", "enumerate_network",
           "gate_rate", "predicted_settle_seconds"]
