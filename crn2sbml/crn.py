"""The reaction-network model at the centre of crn2sbml.

A :class:`ReactionNetwork` is an immutable list of species and mass-action reactions. Reactions are
canonical: ``A + B`` and ``B + A`` are the same complex, so two networks built from the same chemistry
compare equal whatever order their terms were written in.

Concentrations are dimensionless (the SBML export declares them as mole per litre in a 1 litre
compartment) and time is in seconds; a rate constant of a reaction of total order ``n`` then has units
``(mol/L)^(1-n) / s``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crn2sbml.errors import InputError

Complex = tuple[tuple[str, int], ...]
"""A multiset of species as sorted ``(species_id, stoichiometry)`` pairs, every stoichiometry >= 1."""


def make_complex(terms: Mapping[str, int] | Iterable[tuple[str, int]]) -> Complex:
    """Canonical form of a complex: merge repeated species, drop zeros, sort by species id."""
    merged: dict[str, int] = {}
    items = terms.items() if isinstance(terms, Mapping) else terms
    for species_id, count in items:
        if count < 0:
            raise InputError(f"negative stoichiometry {count} for species {species_id!r}")
        merged[species_id] = merged.get(species_id, 0) + int(count)
    return tuple(sorted((s, n) for s, n in merged.items() if n > 0))


def format_complex(cplx: Complex) -> str:
    if not cplx:
        return "0"
    return " + ".join(s if n == 1 else f"{n} {s}" for s, n in cplx)


@dataclass(frozen=True)
class Species:
    """A chemical species.

    ``boundary`` species are clamped at ``initial_concentration`` (SBML boundary species): the network's
    inputs. ``role`` says what the species encodes, e.g. ``"input 3"`` or ``"layer 2 neuron 5"``.
    """

    id: str
    initial_concentration: float = 0.0
    boundary: bool = False
    role: str = ""

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise InputError(f"species id {self.id!r} is not a valid identifier")
        if not (math.isfinite(self.initial_concentration) and self.initial_concentration >= 0):
            raise InputError(
                f"species {self.id!r}: initial concentration must be finite and >= 0, "
                f"got {self.initial_concentration}"
            )


@dataclass(frozen=True)
class Reaction:
    """An irreversible mass-action reaction ``reactants -> products`` with rate constant ``k > 0``."""

    id: str
    reactants: Complex
    products: Complex
    rate_constant: float
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_constant", float(self.rate_constant))  # never a numpy scalar
        if not self.id.isidentifier():
            raise InputError(f"reaction id {self.id!r} is not a valid identifier")
        if not (math.isfinite(self.rate_constant) and self.rate_constant > 0):
            raise InputError(
                f"reaction {self.id!r}: rate constant must be finite and > 0, got {self.rate_constant}"
            )
        if self.reactants != make_complex(self.reactants) or self.products != make_complex(self.products):
            raise InputError(f"reaction {self.id!r}: complexes must be built with make_complex()")

    @property
    def order(self) -> int:
        return sum(n for _, n in self.reactants)

    def net_change(self) -> dict[str, int]:
        """Products minus reactants, per species; catalysts cancel out."""
        change: dict[str, int] = {}
        for s, n in self.products:
            change[s] = change.get(s, 0) + n
        for s, n in self.reactants:
            change[s] = change.get(s, 0) - n
        return {s: n for s, n in change.items() if n != 0}

    def catalysts(self) -> tuple[str, ...]:
        """Species that set the rate but whose concentration this reaction does not change."""
        changed = self.net_change()
        return tuple(s for s, _ in self.reactants if s not in changed)

    def __str__(self) -> str:
        return f"{format_complex(self.reactants)} -> {format_complex(self.products)}  k={self.rate_constant:.6g}"


@dataclass(frozen=True)
class ReactionNetwork:
    """Species plus reactions; checked on construction, never mutated afterwards."""

    species: tuple[Species, ...]
    reactions: tuple[Reaction, ...]
    name: str = "crn"

    def __post_init__(self) -> None:
        ids = [s.id for s in self.species]
        if len(set(ids)) != len(ids):
            raise InputError("duplicate species ids in reaction network")
        rids = [r.id for r in self.reactions]
        if len(set(rids)) != len(rids):
            raise InputError("duplicate reaction ids in reaction network")
        if set(ids) & set(rids):
            raise InputError(f"ids used for both a species and a reaction: {sorted(set(ids) & set(rids))}")
        known = set(ids)
        boundary = {s.id for s in self.species if s.boundary}
        for r in self.reactions:
            for s, _ in r.reactants + r.products:
                if s not in known:
                    raise InputError(f"reaction {r.id!r} uses unknown species {s!r}")
            moved = set(r.net_change()) & boundary
            if moved:
                raise InputError(f"reaction {r.id!r} changes boundary species {sorted(moved)}")

    @property
    def species_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.species)

    def index(self) -> dict[str, int]:
        return {s.id: i for i, s in enumerate(self.species)}

    def to_text(self) -> str:
        """Readable plain text, one reaction per line: ``X1 + H1 -> X1 + 2 H1  k=0.37``."""
        lines = [f"# {self.name}: {len(self.species)} species, {len(self.reactions)} reactions"]
        clamped = [s.id for s in self.species if s.boundary]
        if clamped:
            lines.append("# clamped (boundary) species: " + ", ".join(clamped))
        lines.extend(str(r) for r in self.reactions)
        return "\n".join(lines) + "\n"
