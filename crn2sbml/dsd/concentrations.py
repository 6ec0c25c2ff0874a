"""Gate, fuel and helper concentrations that set each formal reaction's rate constant.

In a strand-displacement implementation the toehold steps all run at about one rate; a formal rate constant
is set by how much gate, fuel and helper strand is put in (Soloveichik, Seelig & Winfree, PNAS 107:5393,
2010). For the three-domain gates of :mod:`crn2sbml.dsd.scheme`, peppercorn's condensed network has exactly
these steps (6-nt toehold, 15-nt domains):

* reactant step ``i``: ``G_(i-1) + R_i <-> G_i + W_i`` at ``q_r`` both ways. The displaced waste
  ``W_i = s_Ri t w`` binds the toehold it freed and displaces ``R_i`` again; any free ``s_R t ·`` strand does,
  whatever its tail, so one helper per species serves every gate;
* fuel step: ``G_n + F -> products`` at ``q_f`` (irreversible: the fuel leaves no toehold open).

Supply the first gate's waste ``s_R t w`` as a *helper* at ``W`` for every species ``R`` that is the first of
two reactants. With ``W`` well above ``[R]`` the bound intermediates are in pre-equilibrium,
``[G_i]/[G_(i-1)] = [R_i]/W``, and the last one in quasi-steady state between its fuel and the reverse step:

    n = 0:  k = q_f·[G]·[F]
    n >= 1: k = q_r·[G] / Π_(i<n) W · φ,   φ = q_f[F] / (q_f[F] + q_r·W_n)

(``W_n`` is 0 when the last reactant has no helper). Bimolecular formal constants above ``q_r`` are reached by
``[G] > W``; the price is that gates then hold ``[G]/W`` copies of ``R`` for each free one (the *buffer*
ratio), which slows the network by ``1 + buffer`` without moving its steady state.

**Toehold occupancy.** An open gate toehold binds the ``t`` of any free strand with ``K_d = k_open/k_bind``
(8.2e-7 M for 6 nt in peppercorn's model). Every unspent gate has exactly one open toehold; with fuels and
helpers around, a binding equilibrium (:func:`toehold_equilibrium`) leaves ``t`` of the ``T`` gate toeholds
free and a strand with ``m`` toeholds unbound a fraction ``f(m) = 1/(1 + m·t/K_d)``. The fraction ``t/T`` slows
every step alike — it delays the network, ``O = T/t - 1``, and goes into the settle time. The rest does not
cancel: the pre-equilibrium sees the helper at ``W·f(1)``, and the fuel competes at ``[F]·f(m_F)``: both
replace ``W`` and ``[F]`` above (this matters for the fuel-limited first-order gates: a fuel with more
toeholds is held more). The gates set ``t`` and ``t`` sets the gates: both are iterated to a fixed point.

**Choosing the scales.** ``κ`` defaults to ``q_r·α``: the self-limitation gate ``2Y -> Y`` (model rate 1)
then sits at ``[G] = W`` (buffer ratio 1), where the gates' margin over their own consumption is largest
(docs/dsd.md §4). Given a rate, ``[G]`` solves a quadratic (``[F] = fuel_excess·[G]``; inflow ``[G] = [F]``).
Given ``κ``, the helper concentration is the largest that keeps every gate at or below the
gate scale ``C``: the largest gate is at ``C``.

Left out, and measured in ``crn2sbml.validate.dsd_kinetics``: gates and fuels are used up (one of each per
firing, and the steady state keeps firing; the inflow gate, whose rate ``q_f·[G]·[F]`` admits no helper, runs
out first), wastes add to the helpers, and at high concentrations toehold binding is no longer slow next to
branch migration (peppercorn's condensed rates assume it is).

Pure functions: nothing here runs peppercorn or a simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from crn2sbml.dsd.scheme import TOEHOLD, DsdComplex, DsdDesign, FormalReaction
from crn2sbml.errors import InputError

REACTANT_RATE = 870_967.0
"""``q_r`` (/M/s): peppercorn 1.1.1's condensed rate of every reactant step, forward and reverse (the 6-nt toehold
binds at 1.8e6 /M/s; the displaced strand then leaves before the invader in 15 walks of 31).
tests/test_dsd_kinetics.py measures it again."""

FUEL_RATES: Mapping[int, float] = {3: 2.27527e6, 4: 2.33207e6, 5: 2.35989e6}
"""``q_f`` (/M/s) by the number of toeholds on the fuel: peppercorn's condensed fuel step (a fuel that binds with
an inner toehold can slide over, so a longer fuel is slightly faster)."""

TOEHOLD_KD = 8.23e-7
"""``K_d`` (M) of a bare 6-nt toehold in peppercorn's rate model: opening 1.48 /s over binding 1.8e6 /M/s."""

TOEHOLD_ITERATIONS = 100

FUEL_EXCESS = 1.0
"""Fuel per gate (``[F] = fuel_excess·[G]``): one of each is spent per firing, so 1 never runs out first."""


@dataclass(frozen=True)
class StepRates:
    """The rate constants of the derivation: ``reactant`` and ``fuel_by_toeholds`` in /M/s, ``toehold_kd`` in M."""

    reactant: float = REACTANT_RATE
    fuel_by_toeholds: tuple[tuple[int, float], ...] = tuple(FUEL_RATES.items())
    toehold_kd: float = TOEHOLD_KD

    def __post_init__(self) -> None:
        values = [self.reactant, self.toehold_kd] + [v for _, v in self.fuel_by_toeholds]
        if not self.fuel_by_toeholds or not all(math.isfinite(v) and v > 0 for v in values):
            raise InputError(f"DSD kinetics: step rates must be finite and > 0, got {self!r}")

    def fuel(self, toeholds: int) -> float:
        """``q_f`` for a fuel with ``toeholds`` toeholds: its entry, else the nearest one."""
        table = dict(self.fuel_by_toeholds)
        return table[min(table, key=lambda k: (abs(k - toeholds), -k))]


@dataclass(frozen=True)
class GateKinetics:
    """How one formal reaction's rate constant is set: its gate, fuel and helpers and their concentrations."""

    reaction: str
    text: str
    order: int
    rate_constant: float
    """Physical rate constant ``k_model·κ·α^(1-n)`` (M^(1-n)/s)."""
    gate: str
    fuel: str
    gate_molar: float
    fuel_molar: float
    fuel_toeholds: int
    first_helpers: tuple[str, ...]
    """Helpers of the reactants before the last (pre-equilibrium)."""
    last_helper: str | None
    """The last reactant's helper, competing with the fuel (``None``: that reactant has none)."""
    formula: str


@dataclass(frozen=True)
class KineticDesign:
    """Concentrations of every gate, fuel and helper of a design, and the scales they were chosen for."""

    alpha: float
    kappa: float
    gate_scale: float
    helper_molar: float
    fuel_excess: float
    rates: StepRates
    gates: tuple[GateKinetics, ...]
    helpers: tuple[DsdComplex, ...]
    """One helper complex per species that is the first of two reactants somewhere (kind ``helper``)."""
    helper_species: tuple[tuple[str, str], ...]
    """(helper complex, species it serves)."""
    open_toeholds: float = 0.0
    """Free open gate toeholds (M) at binding equilibrium (:func:`toehold_equilibrium`)."""

    def concentrations(self) -> dict[str, float]:
        """Complex name -> molar, for every gate, fuel and helper."""
        out = {h.name: self.helper_molar for h in self.helpers}
        for g in self.gates:
            out[g.gate] = g.gate_molar
            out[g.fuel] = g.fuel_molar
        return out

    def total_gate(self) -> float:
        return sum(g.gate_molar for g in self.gates)

    def toehold_occupancy(self) -> float:
        """``O``: strands sitting on gate toeholds per free open toehold (``T/t - 1`` at equilibrium)."""
        return self.total_gate() / self.open_toeholds - 1.0 if self.open_toeholds > 0 else 0.0

    def buffer_ratio(self) -> float:
        """Largest over species of the copies held in gates per free copy: Σ ``[G]/W`` over the gates where
        the species is the first of two reactants."""
        held: dict[str, float] = {}
        species = dict(self.helper_species)
        for g in self.gates:
            for h in g.first_helpers:
                held[species[h]] = held.get(species[h], 0.0) + g.gate_molar / self.helper_molar
        return max(held.values(), default=0.0)

    def slowdown(self) -> float:
        """``(1 + buffer)·(1 + O)``: how much longer than ``1/κ`` the DNA network's time unit is."""
        return (1.0 + self.buffer_ratio()) * (1.0 + self.toehold_occupancy())

    def to_json(self) -> dict:
        return {
            "alpha_molar": self.alpha, "kappa_per_s": self.kappa, "gate_scale_molar": self.gate_scale,
            "largest_gate_molar": max((g.gate_molar for g in self.gates), default=0.0),
            "helper_molar": self.helper_molar, "fuel_excess": self.fuel_excess,
            "step_rates": {"reactant_per_M_s": self.rates.reactant,
                           "fuel_per_M_s_by_toeholds": {str(k): v for k, v in self.rates.fuel_by_toeholds},
                           "toehold_kd_M": self.rates.toehold_kd},
            "toehold_occupancy": self.toehold_occupancy(), "buffer_ratio": self.buffer_ratio(),
            "slowdown": self.slowdown(),
            "reactions": [asdict(g) for g in self.gates],
            "helpers": {h.name: {"kernel": h.kernel, "species": s, "concentration_M": self.helper_molar}
                        for h, (_, s) in zip(self.helpers, self.helper_species, strict=True)},
        }


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InputError(f"DSD kinetics: {name} must be a finite number > 0, got {value!r}")


def physical_rate(reaction: FormalReaction, kappa: float, alpha: float) -> float:
    """``k_model·κ·α^(1-n)`` in M^(1-n)/s (as :func:`crn2sbml.export.units.physical_rate_constant`, in molar)."""
    return reaction.rate_constant * kappa * alpha ** (1 - reaction.order)


def toehold_equilibrium(total_gate: float, strands: list[tuple[float, int]], rates: StepRates) -> float:
    """Free open gate toeholds (M) at binding equilibrium: ``total_gate`` open toeholds (one per unspent gate),
    ``strands`` as (molar, toeholds), each toehold pair at ``K_d``. Solves ``t·(1 + Σ m·c/(K_d + m·t)) = T``
    (its left side grows with ``t``) by bisection."""
    if total_gate <= 0:
        return 0.0
    kd = rates.toehold_kd
    conc = np.array([c for c, _ in strands], dtype=float)
    toeholds = np.array([m for _, m in strands], dtype=float)
    lo, hi = 0.0, total_gate
    for _ in range(200):
        t = 0.5 * (lo + hi)
        if t * (1.0 + float(np.sum(toeholds * conc / (kd + toeholds * t)))) > total_gate:
            hi = t
        else:
            lo = t
        if hi - lo <= 1e-13 * total_gate:
            break
    return 0.5 * (lo + hi)


def free_fraction(toeholds: int, open_toeholds: float, rates: StepRates) -> float:
    """Fraction of a strand with ``toeholds`` toeholds bound to no gate, ``open_toeholds`` M being free."""
    return 1.0 / (1.0 + toeholds * open_toeholds / rates.toehold_kd)


def effective_rate_constant(order: int, gate: float, fuel: float, fuel_toeholds: int, first_helpers: int,
                            helper: float, last_has_helper: bool, rates: StepRates,
                            open_toeholds: float = 0.0) -> float:
    """The formal rate constant (M^(1-n)/s, in the free signal concentrations and before the common factor
    ``1/(1 + O)``) of a gate at ``gate`` M with its fuel at ``fuel`` M: ``first_helpers`` reactants in
    pre-equilibrium with helpers at ``helper`` M, the last one competing with its helper when
    ``last_has_helper``; fuel and helpers count only while off the ``open_toeholds`` (M) of other gates."""
    q_f = rates.fuel(fuel_toeholds)
    fuel_free = fuel * free_fraction(fuel_toeholds, open_toeholds, rates)
    if order == 0:
        return q_f * gate * fuel_free
    w_free = helper * free_fraction(1, open_toeholds, rates)
    capture = q_f * fuel_free / (q_f * fuel_free + rates.reactant * (w_free if last_has_helper else 0.0))
    return rates.reactant * gate / w_free ** first_helpers * capture


def gate_for_rate(rate: float, order: int, fuel_toeholds: int, first_helpers: int, helper: float,
                  last_has_helper: bool, rates: StepRates, fuel_excess: float, open_toeholds: float = 0.0) -> float:
    """The gate concentration (M) at which :func:`effective_rate_constant` equals ``rate``, the fuel being
    ``fuel_excess`` times the gate (the inflow's fuel equals its gate)."""
    q_f = rates.fuel(fuel_toeholds)
    f_fuel = free_fraction(fuel_toeholds, open_toeholds, rates)
    if order == 0:
        return math.sqrt(rate / (q_f * f_fuel))
    w_free = helper * free_fraction(1, open_toeholds, rates)
    # G·φ(G) = a with φ = q_f·r·f·G / (q_f·r·f·G + q_r·W_n):  G² - a·G - a·q_r·W_n/(q_f·r·f) = 0
    a = rate * w_free ** first_helpers / rates.reactant
    b = a * rates.reactant * (w_free if last_has_helper else 0.0) / (q_f * fuel_excess * f_fuel)
    return 0.5 * (a + math.sqrt(a * a + 4.0 * b))


def helper_complexes(design: DsdDesign) -> dict[str, DsdComplex]:
    """Species -> its helper: the waste strand ``s_R t w`` of the first gate whose first of two reactants is
    ``R`` (named ``H_<species>``; every ``s_R`` waste reverses every ``R`` step, so one serves all gates)."""
    helpers: dict[str, DsdComplex] = {}
    taken = {c.name for c in design.complexes}
    for reaction, gate in zip(design.formal, design.gates, strict=True):
        if reaction.order != 2 or reaction.reactants[0] in helpers:
            continue
        species = reaction.reactants[0]
        strand = gate.strands[0]  # the top strand s_R1 t w<k>x1 that the first reactant displaces
        name = f"H_{species}"
        if name in taken:
            raise InputError(f"DSD kinetics: helper name {name} is already a complex of the design")
        helpers[species] = DsdComplex(name, " ".join(strand), (strand,), "helper", f"helper for {species}")
    return helpers


def _reaction_text(r: FormalReaction) -> str:
    def side(names: tuple[str, ...]) -> str:
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        return " + ".join(n if c == 1 else f"{c} {n}" for n, c in counts.items()) or "0"
    return f"{side(r.reactants)} -> {side(r.products)}"


def _gates(design: DsdDesign, alpha: float, kappa: float, helper: float, fuel_excess: float,
           rates: StepRates) -> tuple[list[GateKinetics], float]:
    """Every gate's and fuel's concentration with the helpers at ``helper`` M, and the free open toeholds:
    the gates set the toehold equilibrium and it sets the gates, so both are iterated to their fixed point."""
    helpers = helper_complexes(design)
    open_toeholds = 0.0
    out: list[GateKinetics] = []
    for _ in range(TOEHOLD_ITERATIONS):
        out = []
        for reaction, gate, fuel in zip(design.formal, design.gates, design.fuels, strict=True):
            k = physical_rate(reaction, kappa, alpha)
            first = tuple(helpers[r].name for r in reaction.reactants[:-1] if r in helpers)
            if len(first) != max(0, reaction.order - 1):
                raise InputError(f"DSD kinetics: reaction {reaction.id} has no helper for its first reactant")
            last = helpers[reaction.reactants[-1]].name if reaction.order and reaction.reactants[-1] in helpers \
                else None
            toeholds = fuel.kernel.split().count(TOEHOLD)
            g = gate_for_rate(k, reaction.order, toeholds, len(first), helper, last is not None, rates, fuel_excess,
                              open_toeholds)
            formula = ("q_f*[G]*[F]" if reaction.order == 0 else
                       "q_r*[G]" + "".join(f"/[{n}]" for n in first)
                       + (f" * q_f[F]/(q_f[F] + q_r[{last}])" if last else ""))
            out.append(GateKinetics(reaction.id, _reaction_text(reaction), reaction.order, k, gate.name,
                                    fuel.name, g, g if reaction.order == 0 else fuel_excess * g, toeholds, first,
                                    last, formula))
        updated = toehold_equilibrium(sum(g.gate_molar for g in out), _strands(out, helper, len(helpers)), rates)
        if abs(updated - open_toeholds) <= 1e-9 * updated:
            break
        open_toeholds = updated
    return out, open_toeholds


def _strands(gates: list[GateKinetics] | tuple[GateKinetics, ...], helper: float, helpers: int
             ) -> list[tuple[float, int]]:
    """(molar, toeholds) of every single strand that can sit on a gate toehold: fuels and helpers."""
    return [(g.fuel_molar, g.fuel_toeholds) for g in gates] + [(helper, 1)] * helpers


def _largest_gate(design: DsdDesign, alpha: float, kappa: float, helper: float, fuel_excess: float,
                  rates: StepRates) -> float:
    return max(g.gate_molar for g in _gates(design, alpha, kappa, helper, fuel_excess, rates)[0])


def kinetic_design(design: DsdDesign, alpha: float, gate_scale: float, kappa: float | None = None, *,
                   fuel_excess: float = FUEL_EXCESS, rates: StepRates | None = None) -> KineticDesign:
    """Concentrations of every gate, fuel and helper that implement each formal reaction's physical rate
    constant ``k_model·κ·α^(1-n)`` (up to the common occupancy factor), the largest gate at ``gate_scale``.

    ``kappa`` (1/s per model rate unit) defaults to ``q_r·α``. The helper concentration is the largest at
    which no gate exceeds ``gate_scale`` (bisection: the two-reactant gates grow with it). Raises
    :class:`InputError` when the gates that need no helper already exceed ``gate_scale``.
    """
    rates = rates or StepRates()
    _check_positive(alpha=alpha, gate_scale=gate_scale, fuel_excess=fuel_excess)
    kappa = rates.reactant * alpha if kappa is None else kappa
    _check_positive(kappa=kappa)
    if not design.formal:
        raise InputError("DSD kinetics: the design has no reactions")
    for r in design.formal:
        if not (math.isfinite(r.rate_constant) and r.rate_constant > 0):
            raise InputError(f"DSD kinetics: reaction {r.id} has rate constant {r.rate_constant!r}")
    lo, hi = alpha * 1e-9, gate_scale * 1e6
    if _largest_gate(design, alpha, kappa, lo, fuel_excess, rates) > gate_scale:
        raise InputError(f"DSD kinetics: at kappa = {kappa:.4g} /s some gate needs more than the gate scale "
                         f"{gate_scale:.4g} M even with the least helper; raise the gate scale or lower kappa")
    if helper_complexes(design):
        for _ in range(200):  # bisection in log space; the largest gate grows with the helper
            mid = math.sqrt(lo * hi)
            if _largest_gate(design, alpha, kappa, mid, fuel_excess, rates) > gate_scale:
                hi = mid
            else:
                lo = mid
            if hi / lo < 1 + 1e-10:
                break
    helpers = helper_complexes(design)
    gates, open_toeholds = _gates(design, alpha, kappa, lo, fuel_excess, rates)
    return KineticDesign(alpha, kappa, gate_scale, lo, fuel_excess, rates, tuple(gates), tuple(helpers.values()),
                         tuple((h.name, s) for s, h in helpers.items()), open_toeholds)


__all__ = ["FUEL_EXCESS", "FUEL_RATES", "GateKinetics", "KineticDesign", "REACTANT_RATE", "StepRates",
           "TOEHOLD_KD", "effective_rate_constant", "free_fraction", "gate_for_rate", "helper_complexes",
           "kinetic_design", "physical_rate", "toehold_equilibrium"]
