"""``dsd.pil``: the domain-level design in the Pattern Instruction Language peppercorn reads.

Domain lengths, then one line per complex in kernel notation. Concentrations are optional: peppercorn
silently drops every complex given concentration 0 from the initial state, so the file used for
verification carries none, and the lab file gives gates, fuels and helper strands their concentrations
(:mod:`crn2sbml.dsd.concentrations`) and leaves the neuron signals (which start at 0) without one.
"""

from __future__ import annotations

from crn2sbml.dsd.scheme import DsdComplex, DsdDesign, _number


def to_pil(design: DsdDesign, concentrations: dict[str, float] | None = None, unit: str = "nM",
           header: str = "", extra: tuple[DsdComplex, ...] = ()) -> str:
    """PIL text; ``concentrations`` (complex name -> value in ``unit``) are written as ``@initial`` (inputs as
    ``@constant``) when given and > 0. ``extra``: further complexes (the helper strands of
    :mod:`crn2sbml.dsd.concentrations`), written in a section of their own after the fuels."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"length {name} = {length}" for name, length in design.domains.items()]
    lines.append("")
    sections = [(kind, [c for c in design.complexes if c.kind == kind]) for kind in ("signal", "gate", "fuel")]
    if extra:
        sections.append(("helper", list(extra)))
    for kind, complexes in sections:
        lines.append(f"# {kind}s")
        for c in complexes:
            conc = (concentrations or {}).get(c.name, 0.0)
            mode = "constant" if c.name in design.inputs else "initial"
            suffix = f" @{mode} {_number(conc)} {unit}" if conc > 0 else ""
            note = f"  # {c.reaction}" if c.reaction else ""
            lines.append(f"{c.name} = {c.kernel}{suffix}{note}")
    return "\n".join(lines) + "\n"


__all__ = ["to_pil"]
