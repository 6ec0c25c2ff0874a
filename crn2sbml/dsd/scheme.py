"""The three-domain strand-displacement scheme: one gate complex and one fuel strand per formal reaction.

Scheme: Qian, Soloveichik & Winfree, "Efficient Turing-universal computation with DNA polymers", DNA 16,
LNCS 6518:123–140 (2011), doi:10.1007/978-3-642-18305-8_12, in the general n-reactant/m-product gate form
drawn by Lakin, Youssef, Cardelli & Phillips, "Abstractions for DNA circuit design", J. R. Soc. Interface
9:470–486 (2012), Fig. 5. Written here from those descriptions.

Every formal species ``X`` is a single strand of three domains ``? t x``: a *history* domain ``?`` (any
domain; molecules that differ only there mean the same species), the universal toehold ``t`` and the
recognition domain ``x``. A formal reaction ``R1 + … + Rn -> P1 + … + Pm`` is one gate: a bottom strand

    t* r1* t* r2* … t* rn* t* h1* t* h2* … t* hm* t*         (read left to right, 3' to 5')

with top strands ``ri t wi`` (covering ``ri* t*``, tail ``wi`` dangling) and ``hj t pj`` (covering ``hj* t*``,
the product's recognition domain ``pj`` dangling), so only the leftmost ``t*`` is open. Reactant ``R1`` binds
it and displaces ``r1 t w1`` (reversibly: that waste can displace ``R1`` again), which opens the next ``t*``
for ``R2``, and so on. Once all reactants are bound, the fuel strand ``t h1 t h2 … t hm t`` binds the open
toehold and displaces every product strand ``hj t pj`` — each a signal ``? t pj`` with history ``hj`` — and
leaves the gate fully double-stranded, which makes the reaction irreversible. The wastes' tails ``wi`` keep
them distinct from every other strand, and the fuel holds no ``t p`` pair, so it cannot pose as a signal.

A reaction without products gets one dummy product (a fresh recognition domain nothing reads), so its fuel
still has something to displace and the step stays irreversible. A zeroth-order reaction (inflow) is a gate
without reactant domains: its toehold is open from the start and gate + fuel release the product at a
constant rate. Reactions with three or more reactants are refused (they would need a three-way join, whose
kinetics is not mass action in the reactants).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crn2sbml.crn import ReactionNetwork
from crn2sbml.errors import InputError

TOEHOLD_NT = 6
"""Toehold length: peppercorn's rate model gives a 6-nt toehold about 1.7e6 /M/s, near the q_max default."""
LONG_NT = 15
"""Recognition, history and tail domains: long enough that they never dissociate spontaneously."""
TOEHOLD = "t"

RESERVED_PREFIXES = ("f", "i", "w")
"""First letters the DSD tools' CRN conventions reserve (fuel, intermediate, waste species)."""


class SchemeError(InputError):
    """A formal CRN the scheme cannot translate (a reaction with three or more reactants)."""


def formal_name(species_id: str) -> str:
    """The species' name in formal.crn and dsd.pil: the crn2sbml id unless it starts with a reserved letter,
    then prefixed with ``s``."""
    return f"s{species_id}" if species_id[:1].lower() in RESERVED_PREFIXES else species_id


@dataclass(frozen=True)
class DsdComplex:
    """A named complex in kernel notation; ``strands`` lists each strand's domains 5' to 3'.

    ``kind``: ``signal`` (a formal species), ``gate`` or ``fuel``; ``reaction``: the formal reaction a gate or
    fuel belongs to (empty for signals)."""

    name: str
    kernel: str
    strands: tuple[tuple[str, ...], ...]
    kind: str
    reaction: str = ""


@dataclass(frozen=True)
class FormalReaction:
    id: str
    reactants: tuple[str, ...]
    products: tuple[str, ...]
    rate_constant: float
    order: int


@dataclass(frozen=True)
class DsdDesign:
    """The domain-level design of a formal CRN: signals, one gate and one fuel per reaction, domain lengths."""

    formal: tuple[FormalReaction, ...]
    signals: tuple[DsdComplex, ...]
    gates: tuple[DsdComplex, ...]
    fuels: tuple[DsdComplex, ...]
    domains: dict[str, int]
    species_names: dict[str, str]
    """crn2sbml species id -> formal name."""
    inputs: tuple[str, ...] = ()
    """Formal names of the clamped input species."""

    @property
    def complexes(self) -> tuple[DsdComplex, ...]:
        return self.signals + self.gates + self.fuels

    def strands(self) -> set[tuple[str, ...]]:
        """Distinct strands over all complexes (a strand in two complexes is synthesised once)."""
        return {s for c in self.complexes for s in c.strands}

    def nucleotides(self, strands: Iterable[tuple[str, ...]] | None = None) -> int:
        return sum(self.domains[d.rstrip("*")] for s in (strands or self.strands()) for d in s)

    def summary(self) -> dict:
        strands = self.strands()
        per_reaction = {}
        for g, f in zip(self.gates, self.fuels, strict=True):
            own = set(g.strands) | set(f.strands)
            per_reaction[g.reaction] = {"strands": len(own), "nucleotides": self.nucleotides(own)}
        return {"scheme": "three-domain (Qian, Soloveichik & Winfree 2011; gate form of Lakin et al. 2012 Fig. 5)",
                "formal_reactions": len(self.formal), "signals": len(self.signals), "gates": len(self.gates),
                "fuels": len(self.fuels), "domains": len(self.domains), "strands": len(strands),
                "nucleotides": self.nucleotides(strands), "toehold_nt": TOEHOLD_NT, "long_domain_nt": LONG_NT,
                "per_reaction": per_reaction}


def _expand(cplx: Iterable[tuple[str, int]], names: dict[str, str]) -> tuple[str, ...]:
    return tuple(names[s] for s, n in cplx for _ in range(n))


def formal_reactions(crn: ReactionNetwork) -> tuple[tuple[FormalReaction, ...], dict[str, str]]:
    names = {s.id: formal_name(s.id) for s in crn.species}
    if len(set(names.values())) != len(names):
        raise SchemeError("renaming reserved species names made two species names equal")
    out = []
    for r in crn.reactions:
        if r.order > 2:
            raise SchemeError(f"reaction {r.id} has {r.order} reactants; the three-domain gates implement at "
                              "most two (activations with y^3 terms, e.g. power3 or saturating, cannot be built)")
        out.append(FormalReaction(r.id, _expand(r.reactants, names), _expand(r.products, names),
                                  r.rate_constant, r.order))
    return tuple(out), names


def _gate(k: int, reaction: FormalReaction, domains: dict[str, int]) -> tuple[DsdComplex, DsdComplex]:
    tops: list[tuple[str, ...]] = []
    for j, r in enumerate(reaction.reactants, start=1):
        tail = f"w{k}x{j}"
        domains[tail] = LONG_NT
        tops.append((f"s_{r}", TOEHOLD, tail))
    # The gate-specific spacer opens the product region: every fuel starts "t u<k>", so a fuel can only ever
    # release the products of its own gate (products share their history domain h_<species> across gates).
    domains[f"u{k}"] = domains[f"v{k}"] = LONG_NT
    tops.append((f"u{k}", TOEHOLD, f"v{k}"))
    if reaction.products:
        tops += [(f"h_{p}", TOEHOLD, f"s_{p}") for p in reaction.products]
    else:
        domains[f"q{k}"] = domains[f"z{k}"] = LONG_NT  # a dummy product nothing reads
        tops.append((f"q{k}", TOEHOLD, f"z{k}"))
    # kernel: each top strand pairs its first two domains; the bottom strand closes them all and ends in the
    # one open toehold at the left
    kernel = "".join(f"{a}( {t}( {tail} + " for a, t, tail in tops) + " ".join([")"] * (2 * len(tops))) + " t*"
    bottom = [TOEHOLD + "*"]
    for top in tops:  # the bottom strand 3'->5' under the tops, then reversed to 5'->3'
        bottom += [top[0] + "*", TOEHOLD + "*"]
    gate = DsdComplex(f"G{k}", " ".join(kernel.split()), tuple(tops) + (tuple(reversed(bottom)),), "gate",
                      reaction.id)
    fuel_domains = [TOEHOLD]
    for top in tops[len(reaction.reactants):]:
        fuel_domains += [top[0], TOEHOLD]
    fuel = DsdComplex(f"F{k}", " ".join(fuel_domains), (tuple(fuel_domains),), "fuel", reaction.id)
    return gate, fuel


def translate(crn: ReactionNetwork, reactions: Iterable[str] | None = None) -> DsdDesign:
    """The three-domain design of ``crn`` (or of the reactions with the given ids and the species they use)."""
    formal, names = formal_reactions(crn)
    if reactions is not None:
        wanted = set(reactions)
        unknown = wanted - {r.id for r in formal}
        if unknown:
            raise InputError(f"unknown reaction ids {sorted(unknown)}")
        formal = tuple(r for r in formal if r.id in wanted)
    used = sorted({s for r in formal for s in r.reactants + r.products},
                  key=[names[s.id] for s in crn.species].index)
    domains: dict[str, int] = {TOEHOLD: TOEHOLD_NT}
    signals = []
    for s in used:
        domains[f"s_{s}"] = LONG_NT
        domains[f"h_{s}"] = LONG_NT
        strand = (f"h_{s}", TOEHOLD, f"s_{s}")
        signals.append(DsdComplex(s, " ".join(strand), (strand,), "signal"))
    gates, fuels = [], []
    index = {r.id: k for k, r in enumerate(crn.reactions, start=1)}  # stable names in a partial design
    for r in formal:
        g, f = _gate(index[r.id], r, domains)
        gates.append(g)
        fuels.append(f)
    inputs = tuple(names[s.id] for s in crn.species if s.boundary and names[s.id] in used)
    return DsdDesign(formal, tuple(signals), tuple(gates), tuple(fuels), domains, names, inputs)


def _number(value: float) -> str:
    """A number as the DSD tools' CRN grammar reads it: whole numbers as ``1`` (never ``1.0`` or ``1e0``),
    others with a leading digit and a lowercase ``e`` exponent (never ``.5`` or ``E``)."""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.12g}"
    if text.startswith("."):
        text = "0" + text
    return text.replace("E", "e")


def _side(species: tuple[str, ...]) -> str:
    counts: dict[str, int] = {}
    for s in species:
        counts[s] = counts.get(s, 0) + 1
    return " + ".join(s if n == 1 else f"{n} {s}" for s, n in counts.items())


def formal_crn_text(reactions: Iterable[FormalReaction], rates: dict[str, float] | None = None,
                    constants: dict[str, float] | None = None, header: str = "") -> str:
    """``formal.crn`` / ``physical.crn``: one ``A + B -> C [k = …]`` line per reaction, ``x @ constant c`` for
    clamped inputs. ``rates`` overrides the rate constants (physical ones)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for name, conc in (constants or {}).items():
        lines.append(f"{name} @ constant {_number(conc)}")
    for r in reactions:
        k = rates[r.id] if rates is not None else r.rate_constant
        arrow = " ".join(part for part in (_side(r.reactants), "->", _side(r.products)) if part)
        lines.append(f"{arrow} [k = {_number(k)}]")
    return "\n".join(lines) + "\n"


__all__ = ["DsdComplex", "DsdDesign", "FormalReaction", "LONG_NT", "SchemeError", "TOEHOLD_NT", "formal_crn_text",
           "formal_name", "formal_reactions", "translate"]
