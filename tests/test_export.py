"""Exports: libSBML consistency (units included), Antimony loaded by libantimony, both simulated in roadrunner."""

import antimony
import libsbml
import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.export.antimony import to_antimony
from crn2sbml.export.sbml import to_lumped_sbml, to_sbml
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.validate.sbml_check import check_sbml
from tests.conftest import ENCODING_RTOL, STEADY_STATE_RTOL, random_network


@pytest.mark.parametrize("shape", [(2, 1), (3, 4, 2), (4, 3, 3, 2)])
def test_elementary_sbml_is_perfect(shape):
    compiled = compile_network(random_network(11, shape, 0.05), time_scale=2.0)
    text = to_sbml(compiled)
    check = check_sbml(text)
    assert check.errors == () and check.warnings == (), check.summary()
    doc = libsbml.readSBMLFromString(text)
    model = doc.getModel()
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert model.getNumReactions() == len(compiled.crn.reactions)
    assert model.getNumSpecies() == len(compiled.crn.species)
    assert compiled.weights_hash in model.getNotesString()
    for r_expected in compiled.crn.reactions:
        reaction = model.getReaction(r_expected.id)
        assert reaction.getKineticLaw().getLocalParameter("k").getValue() == pytest.approx(
            r_expected.rate_constant, rel=1e-14)
    boundary = [s.getId() for s in model.getListOfSpecies() if s.getBoundaryCondition()]
    assert boundary == list(compiled.input_species)


def test_lumped_sbml_is_valid():
    compiled = compile_network(random_network(12, (3, 4, 2), 0.05))
    assert check_sbml(to_lumped_sbml(compiled)).is_valid()


def _antimony_to_sbml(text: str) -> str:
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise AssertionError(antimony.getLastError())
    return antimony.getSBMLString(antimony.getMainModuleName())


def test_antimony_loads_and_matches_sbml(rng):
    net = random_network(13, (3, 5, 2), 0.1)
    compiled = compile_network(net)
    text = to_antimony(compiled)
    assert "// ---- layer 1 (hidden layer, 5 neurons) ----" in text
    assert "weight" in text
    sbml_from_antimony = _antimony_to_sbml(text)
    assert check_sbml(sbml_from_antimony, units=False).is_valid()
    x = rng.uniform(0, 2, size=(4, 3))
    via_antimony = roadrunner_simulator(compiled, sbml=sbml_from_antimony, encoding="elementary").settle(x)
    direct = roadrunner_simulator(compiled, encoding="elementary").settle(x)
    np.testing.assert_allclose(via_antimony.outputs, direct.outputs, rtol=ENCODING_RTOL)
    np.testing.assert_allclose(direct.outputs, net.forward(x), rtol=STEADY_STATE_RTOL)
