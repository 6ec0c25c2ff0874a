"""The reaction-network model at the centre of crn2sbml.

A :class:`ReactionNetwork` is an immutable, validated, hashable set of species and mass-action reactions.
Reactions are canonical: ``A + B`` and ``B + A`` are the same complex, so two networks built from the same
chemistry compare equal whatever order their terms were written in.

**Order.** A network keeps its species and reactions in the order it was given them, and compares (and hashes)
them as sets. The given order is meaningful and deterministic: the compiler emits neuron by neuron, layer by
layer, which is the simulators' state order, the order of every exported file (the zoo's committed
``model.xml`` files and their SHA-256 digests depend on it) and the order a person reads. Sorting by id
instead would put ``h1_10`` before ``h1_2`` and change every exported byte, for no gain: ids are unique, so
the sets carry the whole chemistry, and two networks that differ only in listing order are the same network.

**Text format** (:meth:`ReactionNetwork.to_text`, :func:`parse_text`), one item per line::

    # anything after '#' on a line of its own is a comment
    network nn_2_1
    species x1 = 0.0 clamped  # input feature 1
    species y1 = 0.0  # layer 1 neuron 1 (output)
    y1_inflow: 0 -> y1  k=0.05  # layer 1 neuron 1: +0.05·y^0
    y1_w_x1: x1 + y1 -> x1 + 2 y1  k=0.3700000000000001

``network`` names the network (optional, default ``crn``); ``species ID = C`` declares a species with
initial concentration ``C``, ``clamped`` (or ``boundary``) making it an SBML boundary species; a reaction is
``ID: REACTANTS -> PRODUCTS  k=K`` with ``0`` for an empty complex and ``N ID`` for stoichiometry ``N``. The
comment ending a species line is its role, the one ending a reaction line its note. Numbers are written with
``repr``, so ``parse_text(crn.to_text()) == crn`` exactly (notes included). Every species a reaction uses must
be declared; declarations and reactions may come in any order.

Concentrations are dimensionless (the SBML export declares them as mole per litre in a 1 litre
compartment) and time is in seconds; a rate constant of a reaction of total order ``n`` then has units
``(mol/L)^(1-n) / s``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from crn2sbml.errors import InputError

Complex = tuple[tuple[str, int], ...]
"""A multiset of species as sorted ``(species_id, stoichiometry)`` pairs, every stoichiometry >= 1."""

MAX_STOICHIOMETRY = 1000
"""Largest stoichiometric coefficient of one species in one complex. The compiler needs at most the activation's
degree + 1 (<= 9); the cap keeps a malformed file from building ``x ** 10**30`` in the kinetics' int64 arrays."""

_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters, including every character ``str.splitlines`` breaks a line at (\\x1c-\\x1e, \\x85,
\\u2028, \\u2029 besides \\n and \\r): a role or note holding one could not stay on its line of text."""


def make_complex(terms: Mapping[str, int] | Iterable[tuple[str, int]]) -> Complex:
    """Canonical form of a complex: merge repeated species, drop zeros, sort by species id.

    Stoichiometries must be integers in ``[0, MAX_STOICHIOMETRY]`` (a float such as 1.5 is refused, not
    truncated).
    """
    merged: dict[str, int] = {}
    items = terms.items() if isinstance(terms, Mapping) else terms
    for species_id, count in items:
        if not isinstance(species_id, str):
            raise InputError(f"species id {species_id!r} in a complex must be a string")
        if isinstance(count, bool) or not isinstance(count, numbers.Integral):
            raise InputError(f"stoichiometry of species {species_id!r} must be an integer, got {count!r}")
        if count < 0:
            raise InputError(f"negative stoichiometry {count} for species {species_id!r}")
        merged[species_id] = merged.get(species_id, 0) + int(count)
        if merged[species_id] > MAX_STOICHIOMETRY:
            raise InputError(f"stoichiometry {merged[species_id]} of species {species_id!r} is over the limit "
                             f"of {MAX_STOICHIOMETRY}")
    return tuple(sorted((s, n) for s, n in merged.items() if n > 0))


def format_complex(cplx: Complex) -> str:
    if not cplx:
        return "0"
    return " + ".join(s if n == 1 else f"{n} {s}" for s, n in cplx)


def _check_label(text: object, what: str) -> None:
    """Roles and notes end a line of the text format as a comment: one line, no surrounding blanks."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    if _LINE_BREAKING.search(text) or text != text.strip():
        raise InputError(f"{what} {text!r} must be one line without control characters or surrounding blanks")


def _check_id(identifier: object, what: str) -> None:
    if not (isinstance(identifier, str) and identifier.isidentifier()):
        raise InputError(f"{what} id {identifier!r} is not a valid identifier")


def _real(value: object, what: str) -> float:
    """``value`` as a Python float, or InputError unless it is a real number (``True`` is not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {value!r}")
    return float(value)


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
        _check_id(self.id, "species")
        c = _real(self.initial_concentration, f"species {self.id!r}: initial concentration")
        object.__setattr__(self, "initial_concentration", c)  # never a numpy scalar
        if not (math.isfinite(c) and c >= 0):
            raise InputError(f"species {self.id!r}: initial concentration must be finite and >= 0, got {c}")
        if not isinstance(self.boundary, bool):
            raise InputError(f"species {self.id!r}: boundary must be True or False, got {self.boundary!r}")
        _check_label(self.role, f"species {self.id!r}: role")


@dataclass(frozen=True)
class Reaction:
    """An irreversible mass-action reaction ``reactants -> products`` with rate constant ``k > 0``.

    ``reactants`` and ``products`` may be given as any mapping or iterable of ``(species, count)`` pairs; they
    are stored in canonical form (:func:`make_complex`). ``note`` is free text that does not take part in
    equality.
    """

    id: str
    reactants: Complex
    products: Complex
    rate_constant: float
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _check_id(self.id, "reaction")
        k = _real(self.rate_constant, f"reaction {self.id!r}: rate constant")
        object.__setattr__(self, "rate_constant", k)  # never a numpy scalar
        if not (math.isfinite(k) and k > 0):
            raise InputError(f"reaction {self.id!r}: rate constant must be finite and > 0, got {k}")
        for side in ("reactants", "products"):
            try:
                object.__setattr__(self, side, make_complex(getattr(self, side)))
            except InputError as exc:
                raise InputError(f"reaction {self.id!r}: {side}: {exc}") from None
            for species_id, _ in getattr(self, side):
                _check_id(species_id, f"reaction {self.id!r}: species")
        _check_label(self.note, f"reaction {self.id!r}: note")

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

    def to_text(self) -> str:
        """This reaction as one line of the text format (see the module docstring)."""
        line = (f"{self.id}: {format_complex(self.reactants)} -> {format_complex(self.products)}  "
                f"k={self.rate_constant!r}")
        return f"{line}  # {self.note}" if self.note else line

    def __str__(self) -> str:
        return f"{format_complex(self.reactants)} -> {format_complex(self.products)}  k={self.rate_constant:.6g}"


@dataclass(frozen=True, eq=False)
class ReactionNetwork:
    """Species plus reactions; checked on construction, never mutated afterwards.

    The given sequences are copied into tuples and keep their order (see the module docstring); equality and
    the hash treat them as sets, so the order reactions were listed in does not matter.
    """

    species: tuple[Species, ...]
    reactions: tuple[Reaction, ...]
    name: str = "crn"

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "reactions", tuple(self.reactions))
        _check_id(self.name, "network")  # it becomes the SBML model id
        for s in self.species:
            if not isinstance(s, Species):
                raise InputError(f"species must be Species objects, got {type(s).__name__}")
        for r in self.reactions:
            if not isinstance(r, Reaction):
                raise InputError(f"reactions must be Reaction objects, got {type(r).__name__}")
        ids = [s.id for s in self.species]
        if len(set(ids)) != len(ids):
            raise InputError(f"duplicate species ids in reaction network: {_duplicates(ids)}")
        rids = [r.id for r in self.reactions]
        if len(set(rids)) != len(rids):
            raise InputError(f"duplicate reaction ids in reaction network: {_duplicates(rids)}")
        if set(ids) & set(rids):
            raise InputError(f"ids used for both a species and a reaction: {sorted(set(ids) & set(rids))}")
        known = set(ids)
        boundary = {s.id for s in self.species if s.boundary}
        for r in self.reactions:
            _check_reaction_species(r, known, boundary)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReactionNetwork):
            return NotImplemented
        return (self.name == other.name and self._species_set == other._species_set
                and self._reaction_set == other._reaction_set)

    def __hash__(self) -> int:
        return self._hash

    def __getstate__(self) -> dict[str, object]:
        # the cached sets and hash stay behind: str hashes differ between processes (hash randomisation), so a
        # hash cached in one process would be wrong in the worker that unpickles the network
        return {k: v for k, v in self.__dict__.items() if k in ("species", "reactions", "name")}

    @cached_property
    def _species_set(self) -> frozenset[Species]:
        return frozenset(self.species)

    @cached_property
    def _reaction_set(self) -> frozenset[Reaction]:
        return frozenset(self.reactions)

    @cached_property
    def _hash(self) -> int:
        return hash((self.name, self._species_set, self._reaction_set))

    @property
    def species_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.species)

    def index(self) -> dict[str, int]:
        return {s.id: i for i, s in enumerate(self.species)}

    def to_text(self) -> str:
        """The text format (module docstring): readable, and :func:`parse_text` reads it back exactly."""
        lines = [f"# crn2sbml reaction network {self.name}: {len(self.species)} species, "
                 f"{len(self.reactions)} reactions", f"network {self.name}"]
        for s in self.species:
            line = f"species {s.id} = {s.initial_concentration!r}" + (" clamped" if s.boundary else "")
            lines.append(f"{line}  # {s.role}" if s.role else line)
        lines.extend(r.to_text() for r in self.reactions)
        return "\n".join(lines) + "\n"


def _duplicates(ids: list[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def _check_reaction_species(r: Reaction, known: set[str], boundary: set[str]) -> None:
    for s, _ in r.reactants + r.products:
        if s not in known:
            raise InputError(f"reaction {r.id!r} uses unknown species {s!r}")
    moved = set(r.net_change()) & boundary
    if moved:
        raise InputError(f"reaction {r.id!r} changes boundary species {sorted(moved)}")


# ------------------------------------------------------------------------------------------ reading the text
_TERM = re.compile(r"(?:(\d+)\s*)?(\S+)")


def _parse_complex(text: str) -> Complex:
    text = text.strip()
    if text == "0":
        return ()
    if not text:
        raise InputError("empty complex (write 0 for no species)")
    terms: list[tuple[str, int]] = []
    for part in text.split("+"):
        match = _TERM.fullmatch(part.strip())
        if match is None:
            raise InputError(f"cannot read the term {part.strip()!r} (expected 'SPECIES' or 'N SPECIES')")
        count_text, species_id = match.groups()
        _check_id(species_id, "species")
        if count_text is not None and len(count_text) > len(str(MAX_STOICHIOMETRY)):
            raise InputError(f"stoichiometry {count_text} of species {species_id!r} is over the limit "
                             f"of {MAX_STOICHIOMETRY}")
        count = int(count_text) if count_text is not None else 1
        if count == 0:
            raise InputError(f"stoichiometry 0 for species {species_id!r} (leave the species out)")
        terms.append((species_id, count))
    return make_complex(terms)


def _parse_number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a number") from None


def _parse_species(data: str, comment: str) -> Species:
    # species ID = C [clamped|boundary]
    head, eq, rest = data.partition("=")
    words, values = head.split(), rest.split()
    if not eq or len(words) != 2 or not 1 <= len(values) <= 2:
        raise InputError("a species line is 'species ID = CONCENTRATION [clamped]'")
    if len(values) == 2 and values[1] not in ("clamped", "boundary"):
        raise InputError(f"unknown species flag {values[1]!r} (expected 'clamped')")
    return Species(words[1], _parse_number(values[0], "initial concentration"), boundary=len(values) == 2,
                   role=comment)


def _parse_reaction(data: str, comment: str) -> Reaction:
    # ID: REACTANTS -> PRODUCTS  k=K   (identifiers contain neither ':' nor '=' nor '->')
    rid, colon, rest = data.partition(":")
    if not colon:
        raise InputError("a reaction line is 'ID: REACTANTS -> PRODUCTS  k=RATE'")
    rid = rid.strip()
    _check_id(rid, "reaction")
    equation, eq, k_text = rest.partition("=")
    equation = equation.rstrip()
    if not eq or not equation.endswith("k") or (len(equation) > 1 and not equation[-2].isspace()):
        raise InputError(f"reaction {rid!r}: missing rate constant 'k=RATE' after the products")
    lhs, arrow, rhs = equation[:-1].partition("->")
    if not arrow or "->" in rhs:
        raise InputError(f"reaction {rid!r}: expected exactly one '->'")
    k = _parse_number(k_text.strip(), f"reaction {rid!r}: rate constant")
    try:
        reactants, products = _parse_complex(lhs), _parse_complex(rhs)
    except InputError as exc:
        raise InputError(f"reaction {rid!r}: {exc}") from None
    return Reaction(rid, reactants, products, k, note=comment)


def _claim_id(identifier: str, line: int, own: dict[str, int], other: dict[str, int]) -> None:
    """Record that ``identifier`` is defined on ``line``; InputError if a species or reaction already has it."""
    first = own.get(identifier, other.get(identifier))
    if first is not None:
        raise InputError(f"id {identifier!r} already used on line {first}")
    own[identifier] = line


def parse_text(text: str, source: str = "reaction network text") -> ReactionNetwork:
    """The :class:`ReactionNetwork` written in ``text`` (the format of :meth:`ReactionNetwork.to_text`).

    Any problem is an :class:`InputError` naming ``source`` and the 1-based line number.
    """
    if not isinstance(text, str):
        raise InputError(f"{source}: expected text, got {type(text).__name__}")
    name: str | None = None
    species: list[Species] = []
    reactions: list[Reaction] = []
    species_line: dict[str, int] = {}
    reaction_line: dict[str, int] = {}
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        data, _, comment = raw.partition("#")
        data, comment = data.strip(), comment.strip()
        if not data:
            continue  # blank line or comment line
        try:
            if "->" in data:
                reaction = _parse_reaction(data, comment)
                _claim_id(reaction.id, number, reaction_line, species_line)
                reactions.append(reaction)
                continue
            keyword = data.split(maxsplit=1)[0]
            if keyword == "species":
                sp = _parse_species(data, comment)
                _claim_id(sp.id, number, species_line, reaction_line)
                species.append(sp)
            elif keyword == "network":
                words = data.split()
                if len(words) != 2:
                    raise InputError("a network line is 'network NAME'")
                if name is not None:
                    raise InputError("the network is named twice")
                _check_id(words[1], "network")
                name = words[1]
            else:
                raise InputError(f"cannot read {keyword!r}: expected 'network', 'species' or a reaction "
                                 "'ID: REACTANTS -> PRODUCTS  k=RATE'")
        except InputError as exc:
            raise InputError(f"{source}, line {number}: {exc}") from None
    known = set(species_line)
    boundary = {s.id for s in species if s.boundary}
    for reaction in reactions:
        try:
            _check_reaction_species(reaction, known, boundary)
        except InputError as exc:
            raise InputError(f"{source}, line {reaction_line[reaction.id]}: {exc}") from None
    return ReactionNetwork(tuple(species), tuple(reactions), name=name or "crn")
