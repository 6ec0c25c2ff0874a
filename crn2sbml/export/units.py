"""Physical units: the dimensionless CRN as a lab would run it, and whether the lab can run it.

The compiled network is dimensionless. Choose a concentration scale ``α`` (molar per model concentration
unit) and a time scale ``κ`` (1/s per model rate unit). A reaction of total order ``n`` with model rate
constant ``k`` then gets the physical rate constant ``k·κ·α^(1-n)``:

* inflow ``-> Y`` (order 0): ``eps·α·κ`` M/s
* bias ``Y -> 2Y`` / ``Y ->`` (order 1): ``|b|·κ`` /s
* weight ``X + Y -> X + 2Y`` / ``X + Y -> X`` and self-limitation ``2Y -> Y`` (order 2): ``|w|·κ/α``, ``κ/α`` /M/s
* inputs: ``α·x`` M

Substituting ``y = α·ỹ`` and ``t = t̃/κ`` turns the physical ODE back into the model ODE exactly, so the
physical steady state is exactly ``α·y*``, reached ``1/κ`` times more slowly in seconds.

**Rate limits** of a strand-displacement implementation (the idealisation of Soloveichik, Seelig & Winfree,
PNAS 107:5393, 2010: every formal reaction runs through gates held at concentration ``C_gate`` and fuels at
``C_fuel``, and no step is faster than the maximal bimolecular rate ``q_max``): a bimolecular formal rate
constant must be ``<= q_max``, a unimolecular one ``<= q_max·C_gate`` (its gate is the hidden second reactant)
and a zeroth-order one ``<= q_max·C_gate·C_fuel``. The largest feasible ``κ`` is the smallest of these bounds
divided by the matching model-unit rate constant. The often-quoted sufficient bound ``κ <= q_max·α/σ̂`` with
``σ̂ = max over neurons of Σ|w| + 1`` is reported as well: it always satisfies the bimolecular limit (every
bimolecular constant is ``|w|·κ/α <= σ̂·κ/α``) but is looser than needed, by ``σ̂ / max(1, max|w|)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import libsbml
import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.crn import Reaction, ReactionNetwork, Species
from crn2sbml.errors import ExportError, InputError

CONCENTRATION_UNITS: dict[str, tuple[float, int]] = {"M": (1.0, 0), "mM": (1e-3, -3), "uM": (1e-6, -6),
                                                        "µM": (1e-6, -6), "nM": (1e-9, -9), "pM": (1e-12, -12)}
"""Unit name -> (molar per unit, decimal scale libSBML gives the mole)."""

SETTLE_PRECISION = 1e-3
"""Relative distance to the fixed point at which the predicted settle time is quoted."""

LEAK_TOLERANCE = 0.1
"""A leak is flagged when it adds more than this fraction of eps to some neuron's inflow."""


@dataclass(frozen=True)
class PhysicalUnits:
    """How a model unit maps onto the lab.

    ``unit``: the concentration unit the SBML is written in (``M``, ``mM``, ``uM``, ``nM``, ``pM``);
    ``scale``: model concentration units per one ``unit`` — ``α = scale × unit`` (default 1: one model unit
    is 1 nM); ``q_max``: the largest bimolecular rate constant the chemistry offers (/M/s; toehold-mediated
    strand displacement saturates near 1e6–1e7 /M/s); ``gate_concentration`` / ``fuel_concentration``: M;
    ``leak_rate``: the rate constant (/M/s) at which a gate and its fuel react without any input (an
    assumption to replace with a measured value for real sequences); ``kappa``: the time scale (1/s per model
    rate unit), ``None`` for the largest one every rate limit allows.
    """

    unit: str = "nM"
    scale: float = 1.0
    q_max: float = 1e6
    gate_concentration: float = 1e-6
    fuel_concentration: float | None = None
    leak_rate: float = 1.0
    kappa: float | None = None

    def __post_init__(self) -> None:
        if self.unit not in CONCENTRATION_UNITS:
            raise InputError(f"unknown concentration unit {self.unit!r}; choose one of "
                             f"{', '.join(CONCENTRATION_UNITS)}")
        for name in ("scale", "q_max", "gate_concentration"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"physical units: {name} must be a finite number > 0, got {value!r}")
        for name in ("fuel_concentration", "kappa"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"physical units: {name} must be a finite number > 0, got {value!r}")
        if not (math.isfinite(self.leak_rate) and self.leak_rate >= 0):
            raise InputError(f"physical units: leak_rate must be finite and >= 0, got {self.leak_rate!r}")

    @property
    def alpha(self) -> float:
        """``α``: molar per model concentration unit."""
        return self.scale * CONCENTRATION_UNITS[self.unit][0]

    @property
    def fuel(self) -> float:
        return self.gate_concentration if self.fuel_concentration is None else self.fuel_concentration


def rate_limit(order: int, units: PhysicalUnits) -> float | None:
    """The largest physical rate constant of a formal reaction of ``order`` (M^(1-order)/s), ``None`` when the
    gate architecture has no implementation for that order (three or more reactants)."""
    if order == 0:
        return units.q_max * units.gate_concentration * units.fuel
    if order == 1:
        return units.q_max * units.gate_concentration
    if order == 2:
        return units.q_max
    return None


def max_kappa(compiled: CompiledNetwork, units: PhysicalUnits) -> float:
    """The largest ``κ`` at which every physical rate constant stays within :func:`rate_limit`."""
    bounds = []
    for r in compiled.crn.reactions:
        limit = rate_limit(r.order, units)
        if limit is not None:
            # k·κ·α^(1-n) <= limit  <=>  κ <= limit / (k·α^(1-n))
            bounds.append(limit / (r.rate_constant * units.alpha ** (1 - r.order)))
    if not bounds:
        raise InputError("no reaction has an implementable order: cannot choose a time scale")
    return min(bounds)


def sigma_hat(compiled: CompiledNetwork) -> float:
    """``max over neurons of Σ|w| + 1`` (the self-limitation's constant counts as the 1)."""
    return max(float(np.abs(layer.weights).sum(axis=1).max()) + 1.0 for layer in compiled.network.layers)


def physical_kappa(compiled: CompiledNetwork, units: PhysicalUnits) -> float:
    return units.kappa if units.kappa is not None else max_kappa(compiled, units)


def physical_rate_constant(reaction: Reaction, kappa: float, alpha: float) -> float:
    """``k·κ·α^(1-n)``: the rate constant in (``alpha``'s unit)^(1-n)/s."""
    return reaction.rate_constant * kappa * alpha ** (1 - reaction.order)


def physical_network(compiled: CompiledNetwork, units: PhysicalUnits,
                     inputs: np.ndarray | None = None) -> CompiledNetwork:
    """``compiled`` with every rate constant and input concentration in the SBML's unit (``units.unit``) and
    seconds. Its ``time_scale`` is the physical one (``c·κ``), so simulators size their steps in seconds."""
    kappa = physical_kappa(compiled, units)
    x = np.zeros(len(compiled.input_species)) if inputs is None else compiled.network.check_inputs(
        np.asarray(inputs, dtype=float).reshape(1, -1), where="physical inputs")[0]
    given = dict(zip(compiled.input_species, x, strict=True))
    species = tuple(Species(s.id, float(units.scale * given[s.id]) if s.id in given else s.initial_concentration,
                            s.boundary, s.role) for s in compiled.crn.species)
    reactions = tuple(Reaction(r.id, r.reactants, r.products, physical_rate_constant(r, kappa, units.scale),
                               note=r.note) for r in compiled.crn.reactions)
    crn = ReactionNetwork(species, reactions, name=f"{compiled.crn.name}_physical")
    return CompiledNetwork(crn, compiled.network, compiled.input_species, compiled.layer_species,
                           compiled.time_scale * kappa)


def _rescale_moles(doc: libsbml.SBMLDocument, unit: str) -> None:
    """Make every mole in the unit definitions a ``unit``-mole (nanomole for nM, ...): concentrations are
    then in ``unit``, rate constants in ``unit``^(1-n)/s, and libSBML's unit checks still balance."""
    scale = CONCENTRATION_UNITS[unit][1]
    model = doc.getModel()
    for ud in model.getListOfUnitDefinitions():
        for u in ud.getListOfUnits():
            if u.getKind() == libsbml.UNIT_KIND_MOLE and u.setScale(scale) != libsbml.LIBSBML_OPERATION_SUCCESS:
                raise ExportError(f"libSBML refused the scale of unit {ud.getId()}")
    substance = f"{unit.replace('µ', 'u')}_mole"
    ud = model.createUnitDefinition()
    part = ud.createUnit()
    if (ud.setId(substance) | part.setKind(libsbml.UNIT_KIND_MOLE) | part.setExponent(1) | part.setScale(scale)
            | part.setMultiplier(1.0)):
        raise ExportError("libSBML refused the substance unit")
    if model.setSubstanceUnits(substance) | model.setExtentUnits(substance):
        raise ExportError("libSBML refused the model's substance units")
    for s in model.getListOfSpecies():
        if s.setSubstanceUnits(substance):
            raise ExportError(f"libSBML refused the units of species {s.getId()}")


def to_physical_sbml(compiled: CompiledNetwork, units: PhysicalUnits, inputs: np.ndarray | None = None) -> str:
    """Elementary SBML in ``units.unit`` and seconds: rate constants ``k·κ·α^(1-n)``, inputs ``α·x``.

    Built by :func:`crn2sbml.export.sbml.to_sbml` on the rescaled network, then with every mole of its unit
    definitions rescaled to the chosen unit (so an nM model carries numbers of order one, which the
    integrator's absolute tolerance expects). ``inputs`` (model units, default zero) become the initial
    concentrations of the clamped input species.
    """
    from crn2sbml.export.sbml import to_sbml

    phys = physical_network(compiled, units, inputs)
    doc = libsbml.readSBMLFromString(to_sbml(phys))
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR):
        raise ExportError("libSBML could not re-read the SBML it wrote")
    _rescale_moles(doc, units.unit)
    kappa = phys.time_scale / compiled.time_scale
    note = (f'<p xmlns="http://www.w3.org/1999/xhtml">Physical units: one model concentration unit is '
            f"{units.alpha!r} M ({units.scale!r} {units.unit}); one model time unit is 1/{kappa!r} s. "
            f"Species are in {units.unit}, time in seconds; the steady state is {units.scale!r} {units.unit} "
            "times the network's output.</p>")
    if doc.getModel().appendNotes(note) != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ExportError("libSBML refused the physical-units note")
    text = libsbml.writeSBMLToString(doc)
    if not text:
        raise ExportError("libSBML could not serialise the physical model")
    return text


# ------------------------------------------------------------------------------------------- feasibility
@dataclass(frozen=True)
class RateCheck:
    reaction: str
    order: int
    rate_constant: float
    unit: str
    limit: float | None
    ratio: float | None
    """``rate_constant / limit``: above 1 is a violation; ``None`` when no limit applies."""


@dataclass(frozen=True)
class Feasibility:
    """What a lab needs to know before ordering DNA: scales, speed, rates vs limits, gate use, leak."""

    shape: str
    unit: str
    alpha_molar: float
    kappa_per_s: float
    kappa_max_per_s: float
    kappa_sigma_hat_per_s: float
    sigma_hat: float
    q_max: float
    gate_concentration: float
    fuel_concentration: float
    relaxation_time_s: float
    settle_time_hours: float
    settle_precision: float
    output_molar: list[float]
    inputs_model_units: list[float]
    rates: list[RateCheck]
    gate_consumption_molar: dict[str, float]
    max_gate_fraction: float
    leak_rate: float
    leak_delta_eps: dict[str, float]
    eps: float
    violations: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.violations

    def to_json(self) -> str:
        data = asdict(self)
        data["feasible"] = self.feasible
        return json.dumps(data, indent=2, allow_nan=False) + "\n"

    def to_text(self) -> str:
        worst = max((r for r in self.rates if r.ratio is not None), key=lambda r: r.ratio, default=None)
        lines = [
            f"Feasibility of the {self.shape} network in {self.unit} (alpha = {self.alpha_molar:.3g} M per model unit)",
            f"  time scale kappa      {self.kappa_per_s:.4g} /s per model rate unit (largest allowed "
            f"{self.kappa_max_per_s:.4g}; q_max*alpha/sigma_hat {self.kappa_sigma_hat_per_s:.4g}, sigma_hat "
            f"{self.sigma_hat:.4g})",
            f"  slowest relaxation    {self.relaxation_time_s:.4g} s",
            f"  predicted settle time {self.settle_time_hours:.3g} h (to {self.settle_precision:g} relative, "
            "layer after layer)",
            f"  outputs               {', '.join(f'{v:.3g}' for v in self.output_molar)} M at inputs "
            f"{', '.join(f'{v:g}' for v in self.inputs_model_units)} (model units)",
        ]
        if worst is not None:
            lines.append(f"  tightest rate         {worst.reaction}: {worst.rate_constant:.4g} {worst.unit} = "
                         f"{worst.ratio:.3f} of its limit")
        lines.append(f"  gates used            up to {self.max_gate_fraction:.3g} times the "
                     f"{self.gate_concentration:.3g} M supplied per reaction, over the settle time")
        lines.append(f"  leak                  up to {max(self.leak_delta_eps.values(), default=0.0):.3g} added to eps "
                     f"= {self.eps:g} (k_leak {self.leak_rate:g} /M/s)")
        lines.append("  violated limits: " + ("; ".join(self.violations) if self.violations else "none"))
        return "\n".join(lines) + "\n"


_ORDER_UNITS = {0: "M/s", 1: "/s", 2: "/M/s", 3: "/M^2/s"}


def _steady_flux(compiled: CompiledNetwork, x: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """Model-unit flux of every reaction at the steady state for input ``x``, and the outputs."""
    conc = dict(zip(compiled.input_species, x, strict=True))
    for ids, values in zip(compiled.layer_species, compiled.network.activations(x.reshape(1, -1)), strict=True):
        conc.update(zip(ids, values[0], strict=True))
    flux = {r.id: r.rate_constant * math.prod(conc[s] ** n for s, n in r.reactants) for r in compiled.crn.reactions}
    outputs = np.array([conc[s] for s in compiled.output_species])
    return flux, outputs


def feasibility(compiled: CompiledNetwork, units: PhysicalUnits, inputs: np.ndarray | None = None) -> Feasibility:
    """The feasibility report for running ``compiled`` at ``units`` (inputs in model units, default all ones).

    Gate consumption is an estimate: each firing of a formal reaction uses up one gate complex and one fuel
    strand, and at the steady state every reaction keeps firing (production and removal balance, they do
    not stop), so the gates one reaction uses while the network settles is its steady-state flux times the
    settle time. The transient from zero is not added; it is slower than the steady flux for most reactions.
    A leak — a gate and its fuel releasing products with no input, at ``k_leak·C_gate·C_fuel`` — adds
    ``Δeps = k_leak·C_gate·C_fuel/(α·κ)`` (model units) to the inflow of each neuron for every gate that
    produces it.
    """
    x = np.ones(len(compiled.input_species)) if inputs is None else compiled.network.check_inputs(
        np.asarray(inputs, dtype=float).reshape(1, -1), where="feasibility inputs")[0]
    alpha, kappa = units.alpha, physical_kappa(compiled, units)
    kmax = max_kappa(compiled, units)
    sh = sigma_hat(compiled)
    violations: list[str] = []
    rates = []
    for r in compiled.crn.reactions:
        k = physical_rate_constant(r, kappa, alpha)
        limit = rate_limit(r.order, units)
        ratio = None if limit is None else k / limit
        rates.append(RateCheck(r.id, r.order, k, _ORDER_UNITS.get(r.order, f"M^{1 - r.order}/s"), limit, ratio))
        if limit is None:
            violations.append(f"order: {r.id} has {r.order} reactants; the gate scheme implements at most 2")
        elif ratio is not None and ratio > 1 + 1e-12:
            name = {0: "q_max*C_gate*C_fuel", 1: "q_max*C_gate", 2: "q_max"}[r.order]
            violations.append(f"{name}: {r.id} needs {k:.4g} {_ORDER_UNITS[r.order]} > limit {limit:.4g}")
    rate = compiled.network.activation.rate_bound() * compiled.time_scale * kappa  # 1/s
    depth = len(compiled.network.layers)
    settle_s = depth * math.log(1.0 / SETTLE_PRECISION) / rate
    flux, outputs = _steady_flux(compiled, x)
    used = {rid: f * alpha * kappa * settle_s for rid, f in flux.items()}  # M of gates per reaction
    max_fraction = max(used.values(), default=0.0) / units.gate_concentration
    if max_fraction > 1:
        violations.append(f"gate_concentration: {max(used, key=used.get)} would use {max_fraction:.3g} times "
                          f"its {units.gate_concentration:.3g} M of gates before the network settles")
    per_gate = units.leak_rate * units.gate_concentration * units.fuel / (alpha * kappa)
    delta = {}
    for sp in compiled.neuron_species:
        producing = sum(1 for r in compiled.crn.reactions if dict(r.products).get(sp, 0) > 0)
        delta[sp] = producing * per_gate
    eps = compiled.network.eps
    worst_leak = max(delta.values(), default=0.0)
    if worst_leak > LEAK_TOLERANCE * eps:
        violations.append(f"leak: up to {worst_leak:.3g} added to eps = {eps:g} (over {LEAK_TOLERANCE:g}·eps)")
    return Feasibility(
        shape=compiled.network.shape_text(), unit=units.unit, alpha_molar=alpha, kappa_per_s=kappa,
        kappa_max_per_s=kmax, kappa_sigma_hat_per_s=units.q_max * alpha / sh, sigma_hat=sh, q_max=units.q_max,
        gate_concentration=units.gate_concentration, fuel_concentration=units.fuel, relaxation_time_s=1.0 / rate,
        settle_time_hours=settle_s / 3600.0, settle_precision=SETTLE_PRECISION,
        output_molar=[float(v * alpha) for v in outputs], inputs_model_units=[float(v) for v in x], rates=rates,
        gate_consumption_molar=used, max_gate_fraction=max_fraction, leak_rate=units.leak_rate,
        leak_delta_eps=delta, eps=eps, violations=violations)


__all__ = ["CONCENTRATION_UNITS", "Feasibility", "PhysicalUnits", "RateCheck", "feasibility", "max_kappa",
           "physical_network", "rate_limit", "sigma_hat", "to_physical_sbml"]
