"""Check a domain-level design against its formal CRN: enumerate with peppercorn, verify with crnverifier.

Peppercorn (Grun et al. 2014; Badelt et al. 2020) enumerates every strand-displacement reaction the
complexes of ``dsd.pil`` can undergo and condenses the fast ones away, leaving a CRN between resting
complexes. Gates and fuels are held constant (removed from that CRN), and so are the reactant wastes (below).
crnverifier 0.3 then decides whether the result implements the formal CRN:

* ``pathway-decomposition`` (Shin, Thachuk & Winfree, Theor. Comput. Sci. 765:67, 2019): the signal strands
  are the formal species and every other complex an intermediate; the implementation must be tidy and
  regular and its formal basis must equal the formal CRN;
* ``bisimulation`` (Johnson, Dong & Winfree, Theor. Comput. Sci. 765:3, 2019), up to
  :data:`BISIMULATION_LIMIT` formal reactions, with every complex interpreted as the signals bound in it
  (:func:`complex_meaning`): every reaction must interpret as a formal or a trivial one, and from every state every
  formal reaction its interpretation allows must be reachable through trivial ones;
* ``integrated-hybrid`` (crnverifier's preliminary implementation of the notion of Shin et al.) with the
  same interpretation. As every complex is interpreted, it reduces to bisimulation's delimiting condition
  (the interpreted reactions, trivial ones dropped, are exactly the formal CRN) without the permissive one:
  cheap, and weaker.

**Reactant wastes in excess.** A reactant ``R`` binding a gate displaces the waste ``s_R t w``, which can
displace ``R`` again. Two ``2Y -> Y`` gates holding one ``Y`` each stand for ``Y + Y``, yet neither can go
on without a third, free ``Y``, nor give its ``Y`` back without the waste: bisimulation's permissive
condition fails on that state, and pathway decomposition finds the network untidy (a waste left over after
a reaction can pull a reactant back out of another gate, never be cleaned up). The waste is produced by the
very step it reverses, and the design can supply it in excess as a helper strand (for the first of two
reactants :mod:`crn2sbml.dsd.concentrations` does, to set the rates), so the reactant wastes are verified as
constants, like the fuels. The verdicts without that assumption are reported too (``…-without-excess``,
informative).

**Waste tails merged.** Each waste carries a gate-specific tail domain nothing is complementary to, so no
reaction depends on which tail a strand carries — but peppercorn tells the strands apart: any ``s_R t ·``
waste re-enters any gate's ``R`` site, and gates holding each other's wastes multiply (a 2-2-1 network did
not finish in 8 minutes). The design is enumerated with every ``R`` waste's tail renamed to one per species;
the CRN of the design as written is that one with the tails told apart again (tested on a single neuron).

Both notions are rate-independent: they check which reactions can happen, not how fast; leak is not modelled.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from crn2sbml.crn import ReactionNetwork
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import DsdComplex, DsdDesign, translate
from crn2sbml.errors import Crn2SbmlError

PEPPERCORN_RECURSION_LIMIT = 20_000
"""Recursion limit while peppercorn enumerates (its own import would set 10^6 for the whole process)."""
BISIMULATION_LIMIT = 20
"""Formal reactions up to which bisimulation is run (measured: 0.5 s for the 15 of a 2-2-1 network)."""
WITHOUT_EXCESS_LIMIT = 5
"""Formal reactions up to which the informative checks run: bisimulation without the wastes in excess did not
finish in 6 minutes on the 15 reactions of a 2-2-1 network (0.2 s for a 5-reaction neuron module)."""
WHOLE_NETWORK_LIMIT = 20
"""Formal reactions up to which the whole network is enumerated at once; larger ones are checked per neuron."""
REQUIRED = ("pathway-decomposition", "integrated-hybrid", "bisimulation")
"""Methods whose verdicts decide :attr:`Verification.passed` (when run)."""
INFORMATIVE = ("pathway-decomposition-without-excess", "bisimulation-without-excess")
"""The same checks with the reactant wastes as ordinary species: reported, not deciding."""
METHODS = REQUIRED + INFORMATIVE

ENUMERATION: dict[str, Any] = {
    "max_complex_size": 10,  # raised to the largest gate when larger: a gate plus the strands bound to it
    "max_complex_count": 10_000, "max_reaction_count": 50_000,  # peppercorn's defaults: stop, don't run away
    "release_cutoff": 9,  # domains up to 9 nt open spontaneously: the 6-nt toeholds do, 15-nt domains never
    "k_slow": 0.0, "k_fast": 0.0,  # every unimolecular reaction is fast (condensed), none is discarded
    "reject_remote": False,  # remote-toehold branch migration kept: slow, but possible, so it is checked
    "merge_waste_tails": True, "wastes_in_excess": True,
}
"""Enumeration settings (written to dsd.json with each result): peppercorn 1.1.1's defaults throughout."""


class VerificationError(Crn2SbmlError):
    """Peppercorn or crnverifier failed to run (not: the design was found incorrect)."""


@dataclass(frozen=True)
class Verification:
    """One verification run: which module, which methods, the verdicts and the costs."""

    module: str
    formal_reactions: int
    enumerated_species: int
    enumerated_reactions: int
    results: dict[str, bool]
    enumerate_seconds: float
    verify_seconds: float
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Per method."""
    required: list[str] = field(default_factory=list)
    """The methods run that decide :attr:`passed`; the other entries of ``results`` are informative."""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.required) and all(self.results[m] for m in self.required)


@dataclass(frozen=True)
class Enumeration:
    """Peppercorn's condensed CRN (gates and fuels removed) and what each of its species means."""

    reactions: list[tuple[list[str], list[str]]]
    interpretation: dict[str, list[str]]
    """Every species -> the formal species it stands for (see :func:`complex_meaning`)."""
    signals: set[str]
    excess: set[str]
    """The reactant wastes in excess (held constant unless ``crn(excess=False)``)."""
    settings: dict[str, Any]
    structures: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    """The domains (``+`` between strands) and dot-bracket structure of every complex in the condensed reactions,
    gates and fuels included."""

    def crn(self, excess: bool = True) -> list[list[list[str]]]:
        """The condensed CRN, the wastes in excess removed as constants when ``excess``; reactions that become
        trivial (both sides equal) are dropped, duplicates merged."""
        out: list[list[list[str]]] = []
        for reactants, products in self.reactions:
            r = sorted(x for x in reactants if not (excess and x in self.excess))
            p = sorted(x for x in products if not (excess and x in self.excess))
            if r != p and [r, p] not in out:
                out.append([r, p])
        return out


@contextlib.contextmanager
def peppercorn_session() -> Iterator[None]:
    """Peppercorn, with a raised recursion limit (its enumeration recurses deeply) and a linear-time
    index of reactions by reactant; the caller's recursion limit and peppercorn's own index come back after.

    Peppercorn 1.1.1 builds that index by testing every complex against every reaction (``get_reactions_consuming``
    in its condense module): 65 of 66 s of condensing a 2-2-1 network. The replacement returns the same lists
    in the same order."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, PEPPERCORN_RECURSION_LIMIT))
    # imported here: peppercorn takes a second to import, and its import raises the process-wide recursion
    # limit to 10^6 (a deep recursion anywhere else then overflows the C stack and crashes the interpreter
    # instead of raising RecursionError): the limit is put back afterwards
    import peppercornenumerator.condense as condense

    original = condense.get_reactions_consuming

    def consuming(complexes, reactions):  # type: ignore[no-untyped-def]
        index: dict[Any, list[Any]] = {c: [] for c in complexes}
        for r in reactions:
            for c in dict.fromkeys(r.reactants):
                if c in index:
                    index[c].append(r)
        return index

    condense.get_reactions_consuming = consuming
    try:
        yield
    finally:
        condense.get_reactions_consuming = original
        sys.setrecursionlimit(saved)


def merge_waste_tails(design: DsdDesign) -> tuple[DsdDesign, dict[str, tuple[str, ...]]]:
    """The design with the tail of every reactant waste ``s_R t ·`` renamed to ``w_R`` (one per species), and
    the waste strand of each species. A tail is merged only when it occurs nowhere but as the tail of ``R``'s
    wastes and nothing is complementary to it, so that the renaming cannot change any reaction."""
    by_reaction = {r.id: r for r in design.formal}
    uses: dict[str, int] = {}
    for c in design.complexes:
        for d in (d for strand in c.strands for d in strand):
            uses[d] = uses.get(d, 0) + 1
    tails: dict[str, dict[str, int]] = {}  # tail -> species -> occurrences as that species' waste tail
    for g in design.gates:
        for species, strand in zip(by_reaction[g.reaction].reactants, g.strands, strict=False):
            if len(strand) == 3 and strand[:2] == (f"s_{species}", "t"):
                counts = tails.setdefault(strand[2], {})
                counts[species] = counts.get(species, 0) + 1
    rename: dict[str, str] = {}
    length: dict[str, int] = {}
    wastes: dict[str, tuple[str, ...]] = {}
    for tail, counts in tails.items():
        species = next(iter(counts))
        if len(counts) > 1 or counts[species] != uses[tail] or f"{tail}*" in uses:
            continue
        name = wastes[species][2] if species in wastes else f"w_{species}"
        while name in design.domains and name not in tails:
            name += "_"
        if length.setdefault(name, design.domains[tail]) != design.domains[tail]:
            continue  # a tail of another length stays apart
        rename[tail] = name
        wastes[species] = (f"s_{species}", "t", name)
    domains = {d: n for d, n in design.domains.items() if d not in rename}
    domains.update({new: design.domains[old] for old, new in rename.items()})
    gates = tuple(replace(g, kernel=" ".join(rename.get(tok, tok) for tok in g.kernel.split()),
                          strands=tuple(tuple(rename.get(d, d) for d in s) for s in g.strands))
                  for g in design.gates)
    return replace(design, gates=gates, domains=domains), wastes


def enumerate_design(design: DsdDesign, settings: dict[str, Any] | None = None) -> Enumeration:
    """Enumerate and condense ``design`` with peppercorn (:data:`ENUMERATION`, updated by ``settings``)."""
    opts = ENUMERATION | (settings or {})
    if opts["wastes_in_excess"] and not opts["merge_waste_tails"]:
        raise VerificationError("wastes_in_excess needs merge_waste_tails (one waste strand per species)")
    merged, wastes = merge_waste_tails(design) if opts["merge_waste_tails"] else (design, {})
    # the wastes in excess are part of the initial state, named, so that they keep their names when condensed
    extra = tuple(DsdComplex(f"W_{s}", " ".join(strand), (strand,), "helper") for s, strand in wastes.items()
                  if opts["wastes_in_excess"])
    opts["max_complex_size"] = max(opts["max_complex_size"], *(len(c.strands) for c in design.complexes))
    with peppercorn_session():
        from peppercornenumerator import Enumerator
        from peppercornenumerator.input import read_pil
        from peppercornenumerator.objects import clear_memory

        # peppercorn's domains, strands and complexes are process-wide singletons by name: a second design that
        # reuses a name (every design has a gate G3) would clash with the first one's objects
        clear_memory()
        text = to_pil(merged) + "".join(f"{c.name} = {c.kernel}\n" for c in extra)
        complexes, reactions = read_pil(text)  # no concentrations: peppercorn drops 0-valued ones
        named = list(complexes.values())
        enum = Enumerator(named, reactions, named_complexes=named)
        enum.max_complex_size = opts["max_complex_size"]
        enum.release_cutoff = opts["release_cutoff"]
        enum.k_slow, enum.k_fast = opts["k_slow"], opts["k_fast"]
        enum.reject_remote = opts["reject_remote"]
        enum.max_complex_count, enum.max_reaction_count = opts["max_complex_count"], opts["max_reaction_count"]
        enum.enumerate()
        enum.condense()
        condensed = list(enum.condensed_reactions)
    constants = {c.name for c in design.gates + design.fuels}
    signals = {s.strands[0][2]: s.name for s in design.signals}  # recognition domain -> formal species
    fuel_starts = {f.strands[0][:2] for f in design.fuels}
    inter: dict[str, list[str]] = {s.name: [s.name] for s in design.signals}
    structures = {}
    crn: list[tuple[list[str], list[str]]] = []
    for rxn in condensed:
        for m in (*rxn.reactants, *rxn.products):
            cx = m.representative
            structures[cx.name] = (tuple(map(str, cx.sequence)), tuple(cx.structure))
            if cx.name not in constants:
                inter[cx.name] = complex_meaning(cx, signals, fuel_starts)
        crn.append(([m.representative.name for m in rxn.reactants if m.representative.name not in constants],
                    [m.representative.name for m in rxn.products if m.representative.name not in constants]))
    opts["wastes_held_constant"] = {c.name: c.kernel for c in extra}
    return Enumeration(crn, inter, {s.name for s in design.signals}, {c.name for c in extra} & set(inter), opts,
                       structures)


def complex_meaning(cx: Any, signals: dict[str, str], fuel_starts: set[tuple[str, ...]]) -> list[str]:
    """The formal species an enumerated complex stands for.

    A free signal strand ``? t x`` is ``x``; any other free strand is a waste (nothing). A gate complex stands
    for the reactants bound to it — signal strands whose recognition domain is paired (a product still in
    its gate has its recognition domain dangling) — until its fuel has bound: a spent gate is nothing.
    """
    strands: list[list[tuple[str, str]]] = [[]]
    for domain, pair in zip(cx.sequence, cx.structure, strict=True):
        if str(domain) == "+":
            strands.append([])
        else:
            strands[-1].append((str(domain), pair))
    if len(strands) == 1:
        names = [d for d, _ in strands[0]]
        return [signals[names[2]]] if len(names) == 3 and names[1] == "t" and names[2] in signals else []
    if any(tuple(d for d, _ in strand[:2]) in fuel_starts for strand in strands):
        return []
    bound = []
    for strand in strands:
        if len(strand) == 3 and strand[1][0] == "t" and strand[2][0] in signals and strand[2][1] != ".":
            bound.append(signals[strand[2][0]])
    return bound


def check(method: str, formal: list[list[list[str]]], enumeration: Enumeration) -> bool:
    """One crnverifier verdict on an enumerated design (crnverifier mutates its arguments: copies go in)."""
    from crnverifier import crn_bisimulation_test, integrated_hybrid_test, pathway_decomposition_eq

    if method not in METHODS:
        raise VerificationError(f"unknown verification method {method!r}; choose from {', '.join(METHODS)}")
    base, strict, _ = method.partition("-without-excess")
    icrn = enumeration.crn(excess=not strict)
    fcrn = [[list(a), list(b)] for a, b in formal]
    inter = {k: list(v) for k, v in enumeration.interpretation.items() if strict or k not in enumeration.excess}
    if base == "pathway-decomposition":
        return bool(pathway_decomposition_eq([fcrn, icrn], set(enumeration.signals)))
    if base == "integrated-hybrid":
        return bool(integrated_hybrid_test(fcrn, icrn, set(enumeration.signals), inter)[0])
    return bool(crn_bisimulation_test(fcrn, icrn, set(enumeration.signals), interpretation=inter)[0])


def default_methods(formal_reactions: int) -> tuple[str, ...]:
    """Pathway decomposition and integrated hybrid always, bisimulation up to :data:`BISIMULATION_LIMIT` formal
    reactions, the informative checks up to :data:`WITHOUT_EXCESS_LIMIT`."""
    methods = ("pathway-decomposition", "integrated-hybrid")
    if formal_reactions <= BISIMULATION_LIMIT:
        methods += ("bisimulation",)
    if formal_reactions <= WITHOUT_EXCESS_LIMIT:
        methods += INFORMATIVE
    return methods


def verify_design(design: DsdDesign, module: str = "network", methods: tuple[str, ...] | None = None,
                  settings: dict[str, Any] | None = None) -> Verification:
    """Enumerate ``design`` and verify it against its own formal CRN."""
    methods = default_methods(len(design.formal)) if methods is None else methods
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise VerificationError(f"unknown verification method(s) {unknown}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    try:
        enumeration = enumerate_design(design, settings)
    except Exception as exc:  # peppercorn raises its own exception types (and asserts) on malformed input
        raise VerificationError(f"peppercorn could not enumerate {module}: {type(exc).__name__}: {exc}") from exc
    enumerated = time.perf_counter() - started
    formal = [[list(r.reactants), list(r.products)] for r in design.formal]
    results: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    for method in methods:
        started = time.perf_counter()
        results[method] = check(method, formal, enumeration)
        seconds[method] = time.perf_counter() - started
    notes = [f"{m} not run: {len(design.formal)} formal reactions > {limit}"
             for m, limit in (("bisimulation", BISIMULATION_LIMIT), *((m, WITHOUT_EXCESS_LIMIT) for m in INFORMATIVE))
             if m not in methods and len(design.formal) > limit]
    return Verification(module, len(design.formal), len(enumeration.interpretation), len(enumeration.reactions),
                        results, enumerated, sum(seconds.values()), notes, seconds,
                        [m for m in methods if m in REQUIRED], enumeration.settings)


def neuron_modules(crn: ReactionNetwork, neurons: tuple[str, ...]) -> dict[str, list[str]]:
    """Reaction ids per neuron: every reaction that changes that neuron's species."""
    return {n: [r.id for r in crn.reactions if n in r.net_change()] for n in neurons}


def verify_network(crn: ReactionNetwork, neurons: tuple[str, ...],
                   whole_limit: int = WHOLE_NETWORK_LIMIT) -> list[Verification]:
    """The whole network when it has at most ``whole_limit`` reactions and peppercorn can enumerate it,
    otherwise each neuron's module alone; then the interplay of modules — shared signals, cross-talk between
    gates of different neurons — is not verified, which the first result's notes say."""
    note = f"whole network not verified: {len(crn.reactions)} reactions > {whole_limit}"
    if len(crn.reactions) <= whole_limit:
        try:
            return [verify_design(translate(crn), "network")]
        except VerificationError as exc:
            note = f"whole network not verified: {exc}"
    results = [verify_design(translate(crn, ids), f"neuron {n}") for n, ids in neuron_modules(crn, neurons).items()]
    results[0].notes.append(note)
    return results


__all__ = ["BISIMULATION_LIMIT", "ENUMERATION", "INFORMATIVE", "METHODS", "REQUIRED", "WHOLE_NETWORK_LIMIT",
           "WITHOUT_EXCESS_LIMIT", "Enumeration", "Verification", "VerificationError", "check", "complex_meaning",
           "default_methods", "enumerate_design", "merge_waste_tails", "neuron_modules", "peppercorn_session",
           "verify_design", "verify_network"]
