"""DNA strand-displacement export: formal.crn, physical.crn, dsd.pil and dsd.json for a compiled network.

See :mod:`crn2sbml.dsd.scheme` for the translation (three-domain scheme, Qian, Soloveichik & Winfree 2011) and
:mod:`crn2sbml.dsd.verify` for checking it with peppercorn and crnverifier. ``docs/dsd.md`` walks through it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import DsdDesign, SchemeError, formal_crn_text, translate
from crn2sbml.export.units import PhysicalUnits, feasibility, physical_kappa, physical_rate_constant

DSD_FILES = ("formal.crn", "physical.crn", "dsd.pil", "dsd.json")


def design_pil(compiled: CompiledNetwork, units: PhysicalUnits | None = None) -> str:
    """``dsd.pil`` alone: gates and fuels at their concentrations in ``units.unit``."""
    units = units or PhysicalUnits()
    design = translate(compiled.crn)
    return _pil(design, units)


def _pil(design: DsdDesign, units: PhysicalUnits) -> str:
    per_unit = units.alpha / units.scale  # molar per SBML unit
    conc = {g.name: units.gate_concentration / per_unit for g in design.gates}
    conc.update({f.name: units.fuel / per_unit for f in design.fuels})
    header = (f"crn2sbml three-domain DSD design: {len(design.formal)} formal reactions, {len(design.strands())} "
              f"strands, {design.nucleotides()} nt.\nGates and fuels in {units.unit}; signals start at 0 (the "
              "inputs are set by the experimenter).")
    return to_pil(design, conc, units.unit, header)


def dsd_files(compiled: CompiledNetwork, units: PhysicalUnits | None = None, inputs: np.ndarray | None = None,
              verification: list[Any] | None = None) -> dict[str, str]:
    """The four files of ``crn2sbml dsd``. ``inputs`` (model units, default 1 each) set the clamped input
    concentrations in physical.crn and the feasibility figures; ``verification`` results go into dsd.json."""
    units = units or PhysicalUnits()
    design = translate(compiled.crn)
    x = np.ones(len(compiled.input_species)) if inputs is None else np.asarray(inputs, dtype=float)
    kappa = physical_kappa(compiled, units)
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
    summary["fuel_strands"] = {f.name: {"reaction": f.reaction, "strand": f.kernel, "concentration_M": units.fuel}
                        for f in design.fuels}
    summary["gate_complexes"] = {g.name: {"reaction": g.reaction, "kernel": g.kernel,
                                 "concentration_M": units.gate_concentration} for g in design.gates}
    summary["species_names"] = names
    summary["feasibility"] = json.loads(report.to_json())
    summary["verification"] = [v.__dict__ | {"passed": v.passed} for v in verification] if verification else None
    return {"formal.crn": formal, "physical.crn": physical, "dsd.pil": _pil(design, units),
            "dsd.json": json.dumps(summary, indent=2, allow_nan=False) + "\n"}


__all__ = ["DSD_FILES", "SchemeError", "design_pil", "dsd_files", "translate"]
