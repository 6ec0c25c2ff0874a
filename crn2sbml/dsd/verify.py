"""Check a domain-level design against its formal CRN: enumerate with peppercorn, verify with crnverifier.

Peppercorn (Grun et al. 2014; Badelt et al. 2020) enumerates every strand-displacement reaction the
complexes of ``dsd.pil`` can undergo and condenses the fast ones away, leaving a CRN between resting
complexes. Gates and fuels are held constant (removed from that CRN), each signal strand ``? t x`` is
interpreted as formal species ``x``, every other free strand (a waste) as nothing and every gate complex as
the reactants bound to it (a spent gate, with its fuel bound, as nothing); crnverifier then decides whether
the result implements the formal CRN:

* ``integrated-hybrid`` (Shin, Johnson & Winfree; fast, the default) — pathway decomposition with the
  signals interpreted;
* ``bisimulation`` (Johnson, Dong & Winfree 2019) — only for a handful of reactions: its search does not
  finish beyond about five.

Both are rate-independent: they check which reactions can happen, not how fast; leak is not modelled.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from crn2sbml.crn import ReactionNetwork
from crn2sbml.dsd.pil import to_pil
from crn2sbml.dsd.scheme import DsdDesign, translate
from crn2sbml.errors import Crn2SbmlError

PEPPERCORN_RECURSION_LIMIT = 20_000
"""Recursion limit while peppercorn enumerates (its own import would set 10^6 for the whole process)."""

log = logging.getLogger(__name__)

BISIMULATION_LIMIT = 5
"""Formal reactions up to which bisimulation is attempted."""
WHOLE_NETWORK_LIMIT = 20
"""Formal reactions up to which the whole network is enumerated at once; larger ones are checked per neuron."""


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

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(self.results.values())


@contextlib.contextmanager
def _interpreter_recursion_limit_kept() -> Iterator[None]:
    """Run peppercorn with a raised recursion limit (its enumeration recurses deeply) and restore the caller's."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, PEPPERCORN_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def enumerate_design(design: DsdDesign) -> tuple[list[tuple[list[str], list[str]]], dict[str, str], set[str]]:
    """Condensed implementation CRN (gates and fuels removed), interpretation of the signals, constants."""
    with _interpreter_recursion_limit_kept():
        # imported here: peppercorn takes a second to import, and its import raises the process-wide
        # recursion limit to 10^6 (a deep recursion anywhere else in the process then overflows the C stack
        # and crashes the interpreter instead of raising RecursionError): the limit is put back afterwards
        from peppercornenumerator import Enumerator
        from peppercornenumerator.input import read_pil
        from peppercornenumerator.objects import clear_memory

        # peppercorn's domains, strands and complexes are process-wide singletons by name: a second design that
        # reuses a name (every design has a gate G3) would clash with the first one's objects
        clear_memory()
        complexes, reactions = read_pil(to_pil(design))  # no concentrations: peppercorn drops 0-valued ones
        named = list(complexes.values())
        enum = Enumerator(named, reactions, named_complexes=named)
        enum.max_complex_size = max(10, *(len(c.strands) for c in design.complexes))
        enum.enumerate()
        enum.condense()
    constants = {c.name for c in design.gates + design.fuels}
    signals = {s.strands[0][2]: s.name for s in design.signals}  # recognition domain -> formal species
    fuel_starts = {f.strands[0][:2] for f in design.fuels}
    inter: dict[str, list[str]] = {}
    crn: list[tuple[list[str], list[str]]] = []
    for rxn in enum.condensed_reactions:
        for m in (*rxn.reactants, *rxn.products):
            cx = m.representative
            if cx.name not in constants:
                inter[cx.name] = _meaning(cx, signals, fuel_starts)
        crn.append(([m.representative.name for m in rxn.reactants if m.representative.name not in constants],
                    [m.representative.name for m in rxn.products if m.representative.name not in constants]))
    for s in design.signals:
        inter.setdefault(s.name, [s.name])
    return crn, inter, set(inter)


def _meaning(cx, signals: dict[str, str], fuel_starts: set[tuple[str, ...]]) -> list[str]:
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


def verify_design(design: DsdDesign, module: str = "network", methods: tuple[str, ...] | None = None) -> Verification:
    """Enumerate ``design`` and verify it against its own formal CRN."""
    from crnverifier import crn_bisimulation_test, integrated_hybrid_test

    if methods is None:
        methods = ("integrated-hybrid",) + (("bisimulation",) if len(design.formal) <= BISIMULATION_LIMIT else ())
    started = time.perf_counter()
    try:
        icrn, inter, species = enumerate_design(design)
    except Exception as exc:  # peppercorn raises its own exception types (and asserts) on malformed input
        raise VerificationError(f"peppercorn could not enumerate {module}: {exc}") from exc
    enumerated = time.perf_counter() - started
    fcrn = [[list(r.reactants), list(r.products)] for r in design.formal]
    fs = {s.name for s in design.signals}
    results: dict[str, bool] = {}
    notes = []
    started = time.perf_counter()
    for method in methods:
        # crnverifier mutates its arguments: give every test its own copies
        f = [[list(a), list(b)] for a, b in fcrn]
        i = [[list(a), list(b)] for a, b in icrn]
        it = {k: list(v) for k, v in inter.items()}
        if method == "integrated-hybrid":
            ok, _ = integrated_hybrid_test(f, i, set(fs), it)
        elif method == "bisimulation":
            ok, _ = crn_bisimulation_test(f, i, set(fs), interpretation=it)
        else:
            raise VerificationError(f"unknown verification method {method!r}")
        results[method] = bool(ok)
    if len(design.formal) > BISIMULATION_LIMIT and "bisimulation" not in methods:
        notes.append(f"bisimulation skipped: {len(design.formal)} reactions > {BISIMULATION_LIMIT}")
    return Verification(module, len(design.formal), len(species), len(icrn), results, enumerated,
                        time.perf_counter() - started, notes)


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
            # measured on a 2-2-1 network: peppercorn's 10,000-complex limit; fall back to the modules
            note = f"whole network not verified: {exc}"
    results = [verify_design(translate(crn, ids), f"neuron {n}") for n, ids in neuron_modules(crn, neurons).items()]
    results[0].notes.append(note)
    return results


__all__ = ["BISIMULATION_LIMIT", "Verification", "VerificationError", "WHOLE_NETWORK_LIMIT", "enumerate_design",
           "neuron_modules", "verify_design", "verify_network"]
