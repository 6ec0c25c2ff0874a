import pytest

from crn2sbml.crn import Reaction, ReactionNetwork, Species, make_complex
from crn2sbml.errors import InputError


def test_complexes_are_canonical():
    assert make_complex({"B": 1, "A": 1}) == make_complex([("A", 1), ("B", 1)])
    assert make_complex([("A", 1), ("A", 1)]) == (("A", 2),)
    r1 = Reaction("r", make_complex({"X": 1, "Y": 1}), make_complex({"Y": 2, "X": 1}), 0.37)
    r2 = Reaction("r", make_complex({"Y": 1, "X": 1}), make_complex({"X": 1, "Y": 2}), 0.37)
    assert r1 == r2
    assert str(r1) == "X + Y -> X + 2 Y  k=0.37"
    assert r1.catalysts() == ("X",)
    assert r1.net_change() == {"Y": 1}


def test_network_is_immutable_and_checked():
    s = (Species("X", 1.0, boundary=True), Species("Y"))
    r = (Reaction("grow", make_complex({"X": 1, "Y": 1}), make_complex({"X": 1, "Y": 2}), 1.0),)
    net = ReactionNetwork(s, r)
    with pytest.raises(AttributeError):
        net.name = "other"  # type: ignore[misc]
    assert "X + Y -> X + 2 Y  k=1" in net.to_text()
    with pytest.raises(InputError, match="unknown species"):
        ReactionNetwork(s[:1], r)
    with pytest.raises(InputError, match="changes boundary species"):
        ReactionNetwork(s, (Reaction("eat", make_complex({"X": 1}), (), 1.0),))
    with pytest.raises(InputError, match="duplicate species"):
        ReactionNetwork((Species("X"), Species("X")), ())


@pytest.mark.parametrize("k", [0.0, -1.0, float("nan"), float("inf")])
def test_rate_constants_must_be_positive_and_finite(k):
    with pytest.raises(InputError, match="rate constant"):
        Reaction("r", (), make_complex({"Y": 1}), k)
