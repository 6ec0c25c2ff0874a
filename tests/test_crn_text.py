"""The reaction-network text format: fixtures parse, round-trip exactly, and mean the ODE they say.

The fixtures in tests/fixtures/crn/ are compiled networks (species ids ending in 0, layers of 10+ neurons,
every reaction type of every shipped activation) plus one hand-written file. Each one's mass-action ODE from
:mod:`crn2sbml.kinetics` is compared with an ODE derived here directly from the reaction lines, with a regular
expression and a loop, sharing no code with the parser.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crn2sbml.compiler import compile_network
from crn2sbml.crn import Reaction, ReactionNetwork, Species, make_complex, parse_text
from crn2sbml.errors import InputError
from crn2sbml.kinetics import MassActionODE
from crn2sbml.nn.activations import PolynomialActivation, power_activation, saturating_activation
from tests.conftest import random_network

FIXTURES = Path(__file__).parent / "fixtures" / "crn"

COMPILED_FIXTURES: dict[str, Callable[[], ReactionNetwork]] = {
    # inflow, 2Y -> Y, Y -> 2Y, Y -> 0, X + Y -> X + 2Y, X + Y -> X; ids x10, h1_10, y10
    "smoothed_relu_10-12-10.crn": lambda: compile_network(random_network(10, (10, 12, 10), 0.05)).crn,
    # 3Y -> 2Y, time scale on every rate constant
    "power3_10-10.crn": lambda: compile_network(
        random_network(20, (10, 10), activation=power_activation(0.05, 3)), time_scale=2.5).crn,
    # 4Y -> 3Y (order 4)
    "power4_3-10.crn": lambda: compile_network(random_network(25, (3, 10), activation=power_activation(0.2, 4))).crn,
    # 2Y -> Y and 3Y -> 2Y in one neuron
    "saturating_3-10-2.crn": lambda: compile_network(
        random_network(30, (3, 10, 2), activation=saturating_activation(0.1))).crn,
    # u multiplies two powers: X + 2Y -> X + 3Y, ids with a _y<p> suffix
    "two_u_powers_2-10.crn": lambda: compile_network(random_network(
        40, (2, 10), activation=PolynomialActivation(((0, 0.05, 0.0), (1, 0.0, 1.0), (2, 0.0, 1.0), (3, -1.0, 0.0)),
                                                     name="u_y_plus_u_y2"))).crn,
}

ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.crn"))


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- an independent reading of the reaction lines
_SPECIES_LINE = re.compile(r"^species\s+(\w+)\s*=\s*(\S+)(\s+(?:clamped|boundary))?\s*(?:#.*)?$")
_REACTION_LINE = re.compile(r"^(\w+)\s*:\s*(.*?)\s*->\s*(.*?)\s+k\s*=\s*(\S+)\s*(?:#.*)?$")


def _side(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    if text.strip() == "0":
        return counts
    for term in text.split("+"):
        m = re.fullmatch(r"\s*(\d*)\s*(\w+)\s*", term)
        assert m, term
        counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1) or 1)
    return counts


def _reference_rhs(text: str) -> Callable[[dict[str, float]], dict[str, float]]:
    """``dx/dt`` by the law of mass action, read straight off the lines: rate ``k · prod x^n``, change
    ``(products - reactants) · rate``, nothing for clamped species."""
    clamped: set[str] = set()
    species: list[str] = []
    reactions: list[tuple[dict[str, int], dict[str, int], float]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("network"):
            continue
        if m := _SPECIES_LINE.match(line):
            species.append(m.group(1))
            if m.group(3):
                clamped.add(m.group(1))
        elif m := _REACTION_LINE.match(line):
            reactions.append((_side(m.group(2)), _side(m.group(3)), float(m.group(4))))
        else:
            raise AssertionError(f"unexpected line {line!r}")

    def rhs(x: dict[str, float]) -> dict[str, float]:
        dxdt = dict.fromkeys(species, 0.0)
        for reactants, products, k in reactions:
            rate = k * math.prod(x[s] ** n for s, n in reactants.items())
            for s, n in products.items():
                dxdt[s] += n * rate
            for s, n in reactants.items():
                dxdt[s] -= n * rate
        return {s: (0.0 if s in clamped else v) for s, v in dxdt.items()}

    return rhs


# ---------------------------------------------------------------- the fixture corpus
def test_the_corpus_covers_every_reaction_type():
    shapes: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    for name in ALL_FIXTURES:
        for r in parse_text(_read(name)).reactions:
            cat = r.catalysts()
            self_in = tuple(n for s, n in r.reactants if s not in cat)
            self_out = tuple(n for s, n in r.products if s not in cat)
            shapes.add((self_in, self_out) if not cat else (("X", *self_in), ("X", *self_out)))  # type: ignore[arg-type]
    for expected in [((), (1,)), ((2,), (1,)), ((1,), (2,)), ((1,), ()), (("X", 1), ("X", 2)), (("X", 1), ("X",)),
                     ((3,), (2,)), ((4,), (3,)), (("X", 2), ("X", 3))]:
        assert expected in shapes, expected
    ids = {s.id for name in ALL_FIXTURES for s in parse_text(_read(name)).species}
    assert {"x10", "h1_10", "y10"} <= ids


@pytest.mark.parametrize("name", sorted(COMPILED_FIXTURES))
def test_compiler_output_is_pinned_by_the_fixtures(name):
    """Same network, same text, byte for byte: the compiler's order and the writer are deterministic."""
    assert COMPILED_FIXTURES[name]().to_text() == _read(name)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_parses_and_round_trips_exactly(name):
    crn = parse_text(_read(name), source=name)
    again = parse_text(crn.to_text())
    assert again == crn and hash(again) == hash(crn)
    # stronger than ==: the same order, notes and roles too
    assert again.species == crn.species and again.reactions == crn.reactions
    assert [r.note for r in again.reactions] == [r.note for r in crn.reactions]
    assert again.to_text() == crn.to_text()
    if name in COMPILED_FIXTURES:
        assert crn == COMPILED_FIXTURES[name]()
        assert [r.note for r in crn.reactions] == [r.note for r in COMPILED_FIXTURES[name]().reactions]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_ode_matches_the_reaction_lines(name):
    text = _read(name)
    crn = parse_text(text)
    ode = MassActionODE.from_crn(crn)
    reference = _reference_rhs(text)
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(3):
        state = rng.uniform(0.05, 2.5, size=len(crn.species))
        expected = reference(dict(zip(crn.species_ids, state, strict=True)))
        np.testing.assert_allclose(ode.rhs(state), [expected[s] for s in crn.species_ids], rtol=1e-12, atol=1e-12)


def test_hand_written_fixture_keeps_what_it_says():
    crn = parse_text(_read("hand_written.crn"))
    by_id = {s.id: s for s in crn.species}
    assert crn.name == "feedback_demo0"
    assert by_id["x10"].boundary and by_id["x10"].initial_concentration == 0.25
    assert by_id["y10"].initial_concentration == 1.5e-3 and not by_id["y10"].boundary
    assert by_id["y10"].role == "output # 1, in µM"
    assert {r.id: r.rate_constant for r in crn.reactions}["grow0"] == 0.1 + 0.2


# ---------------------------------------------------------------- order, hashing, immutability
def test_equality_and_hash_ignore_listing_order_but_storage_keeps_it():
    crn = parse_text(_read("saturating_3-10-2.crn"))
    shuffled = ReactionNetwork(tuple(reversed(crn.species)), list(reversed(crn.reactions)), name=crn.name)
    assert shuffled == crn and hash(shuffled) == hash(crn)
    assert shuffled.reactions == tuple(reversed(crn.reactions))  # given order kept, as a tuple
    assert len({crn, shuffled}) == 1
    assert crn != ReactionNetwork(crn.species, crn.reactions[1:], name=crn.name)
    assert crn != ReactionNetwork(crn.species, crn.reactions, name="other")


def test_network_copies_its_sequences_and_survives_pickling():
    species = [Species("X", 1.0, boundary=True), Species("Y")]
    reactions = [Reaction("grow", {"Y": 1, "X": 1}, [("X", 1), ("Y", 2)], 1.0)]
    crn = ReactionNetwork(species, reactions)
    species.append(Species("Z"))
    reactions.clear()
    assert isinstance(crn.species, tuple) and len(crn.species) == 2 and len(crn.reactions) == 1
    assert crn.reactions[0].reactants == (("X", 1), ("Y", 1))  # canonicalised from a mapping
    back = pickle.loads(pickle.dumps(crn))
    assert back == crn and hash(back) == hash(crn)
    assert "_hash" not in pickle.loads(pickle.dumps(crn)).__dict__  # str hashes differ between processes


# ---------------------------------------------------------------- malformed text
@pytest.mark.parametrize("text,message", [
    ("species X = 1\nfoo bar\n", r"line 2: cannot read 'foo'"),
    ("species X = -1\n", r"line 1: .*initial concentration must be finite and >= 0"),
    ("species X = abc\n", r"line 1: initial concentration 'abc' is not a number"),
    ("species X 1\n", r"line 1: a species line is"),
    ("species X = 1 frozen\n", r"line 1: unknown species flag 'frozen'"),
    ("species 1X = 1\n", r"line 1: species id '1X' is not a valid identifier"),
    ("species X = 0\n\nspecies X = 1\n", r"line 3: id 'X' already used on line 1"),
    ("species X = 0\nr1: X -> 0  k=1\nr1: 0 -> X  k=1\n", r"line 3: id 'r1' already used on line 2"),
    ("species X = 0\nr1: X -> 0\n", r"line 2: reaction 'r1': missing rate constant"),
    ("species X = 0\nr1: X -> 0  k=0\n", r"line 2: reaction 'r1': rate constant must be finite and > 0"),
    ("species X = 0\nr1: X -> 0  k=nan\n", r"line 2: .*rate constant must be finite"),
    ("species X = 0\nr1: X -> 0  k=fast\n", r"line 2: reaction 'r1': rate constant 'fast' is not a number"),
    ("species X = 0\nr1: X -> -> 0  k=1\n", r"line 2: reaction 'r1': expected exactly one '->'"),
    ("species X = 0\nr1: X + -> 0  k=1\n", r"line 2: reaction 'r1': cannot read the term ''"),
    ("species X = 0\nr1:  -> X  k=1\n", r"line 2: reaction 'r1': empty complex"),
    ("species X = 0\nr1: 0 X -> 0  k=1\n", r"line 2: reaction 'r1': stoichiometry 0"),
    ("species X = 0\nr1: 99999 X -> 0  k=1\n", r"line 2: reaction 'r1': stoichiometry 99999 .* over the limit"),
    ("species X = 0\nX -> 0  k=1\n", r"line 2: a reaction line is 'ID: "),
    ("species X = 0\n\n# c\nr1: X + Y -> X  k=1\n", r"line 4: reaction 'r1' uses unknown species 'Y'"),
    ("species X = 1 clamped\nr1: X -> 0  k=1\n", r"line 2: reaction 'r1' changes boundary species \['X'\]"),
    ("network a\nnetwork b\n", r"line 2: the network is named twice"),
    ("network a b\n", r"line 1: a network line is 'network NAME'"),
    ("network 9lives\n", r"line 1: network id '9lives' is not a valid identifier"),
])
def test_malformed_text_is_refused_with_its_line_number(text, message):
    with pytest.raises(InputError, match=message):
        parse_text(text)


def test_error_names_the_source():
    with pytest.raises(InputError, match=r"^model\.crn, line 1: "):
        parse_text("junk\n", source="model.crn")
    with pytest.raises(InputError, match="expected text"):
        parse_text(b"species X = 0\n")  # type: ignore[arg-type]


def test_lenient_spellings_read_the_same_network():
    strict = parse_text("network n\nspecies X = 0.5 clamped\nspecies Y = 0.0\nr: X + Y -> X + 2 Y  k=2.0\n")
    loose = parse_text("\ufeff  r :X+Y->X+2Y k = 2   # a note\r\n\r\nspecies Y=0\nspecies X = 5e-1 boundary\n"
                       "network n\n")
    assert loose == strict


# ---------------------------------------------------------------- random CRNs round-trip
# ids: ASCII, any Unicode identifier, and the words the format itself uses
_IDS = (st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
        | st.text(min_size=1, max_size=4).filter(str.isidentifier)
        | st.sampled_from(["k", "species", "network", "clamped", "boundary", "x10", "h1_10", "µ0"]))
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # any text a str can hold in a file
_POSITIVE = st.floats(min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False)
_NON_NEGATIVE = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False)


_BREAKS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]))
"""Characters a role or note may not hold: controls and everything str.splitlines breaks at."""


def _label(draw: st.DrawFn) -> str:
    """A role or note: the drawn text if the core objects accept it, else that text made acceptable (the
    refusals are tested in test_roles_and_notes_must_stay_on_one_line)."""
    text = draw(_TEXT)
    try:
        Species("s", role=text)
    except InputError:
        return "".join(ch for ch in text if ch not in _BREAKS).strip()
    return text


@st.composite
def reaction_networks(draw: st.DrawFn) -> ReactionNetwork:
    ids = draw(st.lists(_IDS, min_size=1, max_size=6, unique=True))
    names = draw(st.lists(_IDS.filter(lambda s: s not in ids), max_size=6, unique=True))
    species = tuple(Species(s, draw(_NON_NEGATIVE), draw(st.booleans()), _label(draw)) for s in ids)
    clamped = {s.id for s in species if s.boundary}
    reactions = []
    for rid in names:
        reactants = draw(st.dictionaries(st.sampled_from(ids), st.integers(0, 4), max_size=3))
        products = draw(st.dictionaries(st.sampled_from(ids), st.integers(0, 4), max_size=3))
        for s in clamped:  # a clamped species may only act as a catalyst
            if s in reactants or s in products:
                products[s] = reactants[s] = reactants.get(s, products.get(s, 0))
        reactions.append(Reaction(rid, reactants, products, draw(_POSITIVE), note=_label(draw)))
    name = draw(_IDS)
    return ReactionNetwork(species, tuple(reactions), name=name)


@pytest.mark.parametrize("char", list(_BREAKS[:3]) + ["\n", "\r", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"])
def test_roles_and_notes_must_stay_on_one_line(char):
    with pytest.raises(InputError, match="one line"):
        Species("s", role=f"a{char}b")
    with pytest.raises(InputError, match="one line"):
        Reaction("r", {}, {"s": 1}, 1.0, note=f"a{char}b")
    with pytest.raises(InputError, match="surrounding blanks"):
        Species("s", role=" padded")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reaction_networks())
def test_random_networks_round_trip(crn):
    text = crn.to_text()
    back = parse_text(text)
    assert back == crn and hash(back) == hash(crn)
    assert back.species == crn.species and back.reactions == crn.reactions
    assert [r.note for r in back.reactions] == [r.note for r in crn.reactions]
    assert back.to_text() == text


@settings(max_examples=100, deadline=None)
@given(reaction_networks(), st.randoms(use_true_random=False))
def test_equality_does_not_depend_on_listing_order(crn, random):
    species, reactions = list(crn.species), list(crn.reactions)
    random.shuffle(species)
    random.shuffle(reactions)
    other = ReactionNetwork(species, reactions, name=crn.name)
    assert other == crn and hash(other) == hash(crn)


_FORMAT_PIECES = st.lists(st.sampled_from(["species ", "network ", "X", "Y", "r1", " k", "=", " -> ", ": ", " + ",
                                           "#", "0", "2", "1.5", " ", "\n", " clamped", "-1", "nan", "\u2028"]),
                          max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(_FORMAT_PIECES | st.text(max_size=200))
def test_any_text_parses_or_raises_input_error(text):
    try:
        crn = parse_text(text)
    except InputError:
        return
    assert parse_text(crn.to_text()) == crn


def test_make_complex_refuses_non_integer_stoichiometry():
    with pytest.raises(InputError, match="must be an integer"):
        make_complex({"X": 1.5})
    with pytest.raises(InputError, match="must be an integer"):
        make_complex({"X": True})
    assert make_complex({"X": np.int64(2)}) == (("X", 2),)
