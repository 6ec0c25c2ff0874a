"""DNA strand-displacement export: formal.crn, physical.crn, dsd.pil and dsd.json for a compiled network.

See :mod:`crn2sbml.dsd.scheme` for the translation (three-domain scheme, Qian, Soloveichik & Winfree 2011),
:mod:`crn2sbml.dsd.concentrations` for the gate, fuel and helper concentrations that set the rate constants,
and :mod:`crn2sbml.dsd.verify` for checking the design with peppercorn and crnverifier. ``docs/dsd.md`` walks
through it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.dsd.concentrations import KineticDesign, kinetic_design
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import DsdDesign, SchemeError, formal_crn_text, translate
from crn2sbml.export.units import PhysicalUnits, feasibility, physical_rate_constant

DSD_FILES = ("formal.crn", "physical.crn", "dsd.pil", "dsd.json")


def design_kinetics(design: DsdDesign, units: PhysicalUnits) -> KineticDesign:
    """Gate, fuel and helper concentrations for ``units``: ``α``, the gate scale ``C = gate_concentration`` (the
    largest gate), ``κ`` when given (else ``q_r·α``), fuels at ``fuel_concentration/gate_concentration`` times
    their gate (default: equal)."""
    return kinetic_design(design, units.alpha, units.gate_concentration, units.kappa,
                          fuel_excess=units.fuel / units.gate_concentration)


def design_pil(compiled: CompiledNetwork, units: PhysicalUnits | None = None) -> str:
    """``dsd.pil`` alone: gates, fuels and helpers at their concentrations in ``units.unit``."""
    units = units or PhysicalUnits()
    design = translate(compiled.crn)
    return _pil(design, design_kinetics(design, units), units)


def _pil(design: DsdDesign, kinetics: KineticDesign, units: PhysicalUnits) -> str:
    per_unit = units.alpha / units.scale  # molar per SBML unit
    conc = {name: molar / per_unit for name, molar in kinetics.concentrations().items()}
    header = (f"crn2sbml three-domain DSD design: {len(design.formal)} formal reactions, {len(design.strands())} "
              f"strands, {design.nucleotides()} nt.\nGates, fuels and helpers in {units.unit}, set so that each "
              f"formal reaction runs at k*kappa*alpha^(1-n), kappa = {kinetics.kappa:.6g} /s (dsd.json "
              "'kinetics');\nsignals start at 0 (the inputs are set by the experimenter).")
    return to_pil(design, conc, units.unit, header, extra=kinetics.helpers)


def dsd_files(compiled: CompiledNetwork, units: PhysicalUnits | None = None, inputs: np.ndarray | None = None,
              verification: list[Any] | None = None) -> dict[str, str]:
    """The four files of ``crn2sbml dsd``. ``inputs`` (model units, default 1 each) set the clamped input
    concentrations in physical.crn and the feasibility figures; ``verification`` results go into dsd.json."""
    units = units or PhysicalUnits()
    design = translate(compiled.crn)
    x = np.ones(len(compiled.input_species)) if inputs is None else np.asarray(inputs, dtype=float)
    kinetics = design_kinetics(design, units)
    kappa = kinetics.kappa
    units = replace(units, kappa=kappa)  # the feasibility figures for the time scale the DNA runs at
    rates = {r.id: physical_rate_constant(r, kappa, units.scale) for r in compiled.crn.reactions}
    names = design.species_names
    report = feasibility(compiled, units, x)
    formal = formal_crn_text(design.formal, header=(
        f"{compiled.network.shape_text()} network, dimensionless (crn2sbml compile); inputs are clamped: "
        + ", ".join(design.inputs)))
    physical = formal_crn_text(
        design.formal, rates, {names[s]: units.scale * v for s, v in zip(compiled.input_species, x, strict=True)},
        header=(f"{compiled.network.shape_text()} network in {units.unit} and seconds: alpha = {units.alpha:g} M "
                f"per model unit, kappa = {kappa:.6g} /s.\nRate constants in {units.unit}^(1-n)/s; inputs "
                f"clamped at alpha*x."))
    summary = design.summary()
    implements = {g.reaction: g for g in kinetics.gates}
    summary["fuel_strands"] = {f.name: {"reaction": f.reaction, "implements": implements[f.reaction].text,
                                        "strand": f.kernel, "concentration_M": implements[f.reaction].fuel_molar}
                               for f in design.fuels}
    summary["gate_complexes"] = {g.name: {"reaction": g.reaction, "implements": implements[g.reaction].text,
                                          "kernel": g.kernel, "concentration_M": implements[g.reaction].gate_molar,
                                          "rate_constant": implements[g.reaction].rate_constant,
                                          "formula": implements[g.reaction].formula} for g in design.gates}
    summary["helper_strands"] = {h.name: {"species": s, "strand": h.kernel, "concentration_M": kinetics.helper_molar}
                                 for h, (_, s) in zip(kinetics.helpers, kinetics.helper_species, strict=True)}
    summary["kinetics"] = kinetics.to_json() | {
        "predicted_settle_hours": report.settle_time_hours * kinetics.slowdown(),
        "note": "settle time of the formal CRN at kappa times the slowdown (1 + buffer ratio)(1 + toehold "
                "occupancy); gates are used up meanwhile (docs/dsd.md section 4)"}
    summary["species_names"] = names
    summary["feasibility"] = json.loads(report.to_json())
    summary["verification"] = [v.__dict__ | {"passed": v.passed} for v in verification] if verification else None
    return {"formal.crn": formal, "physical.crn": physical, "dsd.pil": _pil(design, kinetics, units),
            "dsd.json": json.dumps(summary, indent=2, allow_nan=False) + "\n"}


__all__ = ["DSD_FILES", "SchemeError", "design_kinetics", "design_pil", "dsd_files", "translate"]
