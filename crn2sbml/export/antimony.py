"""Antimony text for a compiled network: grouped by layer, every reaction commented with its neuron and weight.

The text is generated directly (cheap at any size); libantimony is only needed to *read* it back.
Rate laws are written out in full (Antimony does not infer mass action).
"""

from __future__ import annotations

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.crn import Complex, Reaction


def _side(cplx: Complex) -> str:
    """One side of an Antimony reaction: ``2 h1_10 + x3``; the empty complex is written as nothing."""
    return " + ".join(species if count == 1 else f"{count} {species}" for species, count in cplx)


def _display_name(species_id: str, role: str) -> str:
    """What COPASI and Tellurium show: the id first, so it matches the manifest (``x3 (input feature 3)``)."""
    return f"{species_id} ({role})" if role else species_id


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "/").replace('"', "'") + '"'


def _rate_law(reaction: Reaction, parameter: str) -> str:
    factors = [parameter]
    for species, count in reaction.reactants:
        factors.append(species if count == 1 else f"{species}^{count}")
    return " * ".join(factors)


def to_antimony(compiled: CompiledNetwork) -> str:
    """Antimony model text equivalent to the elementary SBML export."""
    net = compiled.network
    lines = [
        f"// {compiled.crn.name}: feed-forward network {net.shape_text()} compiled by crn2sbml",
        f"// activation dy/dt = {net.activation.describe()}, eps = {net.eps:g}, time scale c = {compiled.time_scale:g}",
        f"// weights sha256 {compiled.weights_hash}",
        f"model {compiled.crn.name}()",
        "  compartment cell = 1;",
        "",
        "  // inputs: clamped (boundary) species, set them to the feature values",
    ]
    for species in compiled.crn.species:
        if species.boundary:
            lines.append(f"  species ${species.id} in cell = {float(species.initial_concentration)!r};")
            lines.append(f"  {species.id} is {_quoted(_display_name(species.id, species.role))};")
    by_species: dict[str, list[Reaction]] = {}
    for reaction in compiled.crn.reactions:
        target = next(iter(reaction.net_change()))
        by_species.setdefault(target, []).append(reaction)
    for depth, ids in enumerate(compiled.layer_species, start=1):
        kind = "output layer" if depth == len(compiled.layer_species) else "hidden layer"
        lines += ["", f"  // ---- layer {depth} ({kind}, {len(ids)} neurons) ----"]
        for species_id in ids:
            species = compiled.crn.species[compiled.crn.index()[species_id]]
            lines.append(f"  species {species_id} in cell = {float(species.initial_concentration)!r};")
            lines.append(f"  {species_id} is {_quoted(_display_name(species_id, species.role))};")
            for reaction in by_species.get(species_id, []):
                k = f"k_{reaction.id}"
                # built from the reaction's parts: the empty complex is an empty side, never a "0" to strip
                equation = f"{_side(reaction.reactants)} -> {_side(reaction.products)}".strip()
                lines.append(f"  {reaction.id}: {equation}; {_rate_law(reaction, k)};  // {reaction.note}")
                lines.append(f"  {k} = {float(reaction.rate_constant)!r};")
    lines.append("end")
    return "\n".join(lines) + "\n"
