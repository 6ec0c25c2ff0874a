"""BioModels-style curation of both SBML encodings: model history, SBO terms, MIRIAM annotation, escaped notes.

Every check reads the written SBML back with libSBML. Expected SBO terms are written out here from the SBO
definitions and derived from the SBML's own stoichiometry, not from the exporter's helpers.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import libsbml
import numpy as np
import pytest

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.sbml import Creator, to_lumped_sbml, to_sbml
from crn2sbml.nn.activations import PolynomialActivation, make_activation
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.simulate import roadrunner_simulator
from crn2sbml.validate.sbml_check import check_sbml
from tests.conftest import random_network

EXPORTERS = {"elementary": to_sbml, "lumped": to_lumped_sbml}
WHEN = datetime(2024, 2, 29, 13, 14, 15, tzinfo=UTC)
PAPER = "https://identifiers.org/doi:10.1098/rsif.2021.0031"
XHTML = "{http://www.w3.org/1999/xhtml}"

# (reaction order, number of distinct reactant species) -> SBO kinetic law, "continuous scheme" variants:
# 47 zeroth order; 49 first order; 52/54 second order one/two reactants; 57/59/61 third order one/two/three.
LAW_SBO = {(0, 0): 47, (1, 1): 49, (2, 1): 52, (2, 2): 54, (3, 1): 57, (3, 2): 59, (3, 3): 61}
# forward rate constant, continuous case: 48 zeroth order, 35 unimolecular, 36 bimolecular, 37 trimolecular
K_SBO = {0: 48, 1: 35, 2: 36, 3: 37}
ANY_ORDER_LAW, ANY_ORDER_K = 163, 154

CURATED_RTOL = 1e-8
"""libRoadRunner's steady state of a curated model vs the numpy forward pass."""


def _read(text: str) -> tuple[libsbml.SBMLDocument, libsbml.Model]:
    # the document must outlive the model: libSBML frees the model with it
    doc = libsbml.readSBMLFromString(text)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    return doc, doc.getModel()


def _with_activation(net: FeedForwardNetwork, activation: PolynomialActivation) -> FeedForwardNetwork:
    return dataclasses.replace(net, activation=activation)


def _u_squared_activation(eps: float) -> PolynomialActivation:
    """``eps + u·y² - y³``: its weight reactions ``X + 2 Y -> X + 3 Y`` are third order with two reactants."""
    return PolynomialActivation(((0, eps, 0.0), (2, 0.0, 1.0), (3, -1.0, 0.0)), name="u_squared")


def _wide(seed: int = 21, activation: PolynomialActivation | None = None) -> CompiledNetwork:
    net = random_network(seed, (10, 12, 10), 0.1)
    return compile_network(net if activation is None else _with_activation(net, activation), time_scale=2.0)


def _stoichiometry(refs) -> dict[str, int]:
    return {ref.getSpecies(): int(ref.getStoichiometry()) for ref in refs}


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_history_names_the_given_creator_and_date(encoding):
    creator = Creator(family_name="Lovelace", given_name="Ada", organisation="Analytical <Engines> & Co",
                      email="ada@example.org")
    _doc, model = _read(EXPORTERS[encoding](_wide(), creator=creator, created=WHEN))
    assert model.isSetMetaId()
    history = model.getModelHistory()
    assert history.getNumCreators() == 1
    vcard = history.getCreator(0)
    assert (vcard.getFamilyName(), vcard.getGivenName()) == ("Lovelace", "Ada")
    assert (vcard.getOrganisation(), vcard.getEmail()) == ("Analytical <Engines> & Co", "ada@example.org")
    created = datetime.fromisoformat(history.getCreatedDate().getDateAsString().replace("Z", "+00:00"))
    assert created == WHEN
    assert history.getModifiedDate(0).getDateAsString() == "2024-02-29T13:14:15Z"


def test_default_creator_is_an_organisation_without_personal_data(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = datetime.now(UTC).replace(microsecond=0)
    text = to_sbml(_wide())
    after = datetime.now(UTC)
    _doc, model = _read(text)
    vcard = model.getModelHistory().getCreator(0)
    # a single formatted name (vCard fn), which libSBML also reports as family and given name when read back
    assert vcard.usingSingleName() and (vcard.getName(), vcard.getOrganisation()) == ("crn2sbml", "crn2sbml")
    assert not any(field in text for field in ("family-name", "given-name", "hasEmail"))
    stamp = model.getModelHistory().getCreatedDate().getDateAsString()
    assert before <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= after


def test_created_date_is_converted_to_utc_and_output_is_reproducible(monkeypatch):
    compiled = _wide()
    local = datetime(2024, 1, 1, 12, 30, 5, 999, tzinfo=timezone(timedelta(hours=2)))
    _doc, model = _read(to_sbml(compiled, created=local))
    assert model.getModelHistory().getCreatedDate().getDateAsString() == "2024-01-01T10:30:05Z"
    assert to_sbml(compiled, created=WHEN) == to_sbml(compiled, created=WHEN)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(WHEN.timestamp())))
    assert to_lumped_sbml(compiled) == to_lumped_sbml(compiled, created=WHEN)


@pytest.mark.parametrize("fields", [{}, {"family_name": "Lovelace"}, {"given_name": "Ada", "organisation": "x"},
                                    {"organisation": "bad\x00name"}])
def test_incomplete_or_unwritable_creator_is_refused(fields):
    with pytest.raises(InputError):
        Creator(**fields)


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_wide_curated_model_is_perfect(encoding):
    compiled = _wide()
    text = EXPORTERS[encoding](compiled, created=WHEN)
    check = check_sbml(text)
    assert check.errors == () and check.warnings == (), check.summary()
    _doc, model = _read(text)
    ids = {s.getId() for s in model.getListOfSpecies()}
    assert {"x10", "h1_10", "h1_12", "y10"} <= ids


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_species_compartment_and_model_sbo_terms(encoding):
    compiled = _wide()
    _doc, model = _read(EXPORTERS[encoding](compiled, created=WHEN))
    assert model.getSBOTerm() == 293  # non-spatial continuous framework
    assert model.getCompartment("cell").getSBOTerm() == 290  # physical compartment
    outputs = set(compiled.output_species)
    for species in model.getListOfSpecies():
        sid = species.getId()
        # perturbing agent (the clamped inputs), observable (outputs), material entity of unspecified nature
        expected = 405 if species.getBoundaryCondition() else 406 if sid in outputs else 285
        assert species.getSBOTerm() == expected, sid


@pytest.mark.parametrize("activation", [None, make_activation("saturating", 0.1), make_activation("power4", 0.1),
                                        _u_squared_activation(0.1)], ids=["relu", "saturating", "power4", "u_y2"])
def test_elementary_sbo_terms_follow_reactant_stoichiometry(activation):
    compiled = _wide(activation=activation)
    text = to_sbml(compiled, created=WHEN)
    assert check_sbml(text).is_perfect()
    _doc, model = _read(text)
    laws_seen = set()
    for reaction in model.getListOfReactions():
        consumed = _stoichiometry(reaction.getListOfReactants())
        produced = _stoichiometry(reaction.getListOfProducts())
        order = sum(consumed.values())
        law = LAW_SBO.get((order, len(consumed)), ANY_ORDER_LAW)
        laws_seen.add(law)
        kinetic_law = reaction.getKineticLaw()
        assert kinetic_law.getSBOTerm() == law, reaction.getId()
        assert kinetic_law.getLocalParameter("k").getSBOTerm() == K_SBO.get(order, ANY_ORDER_K), reaction.getId()
        only_removes = order > sum(produced.values()) and all(n <= consumed.get(s, 0) for s, n in produced.items())
        assert reaction.getSBOTerm() == (179 if only_removes else 176), reaction.getId()  # degradation / reaction
        for ref in reaction.getListOfReactants():
            catalyst = produced.get(ref.getSpecies()) == consumed[ref.getSpecies()]
            assert ref.getSBOTerm() == (604 if catalyst else -1)  # side substrate
        for ref in reaction.getListOfProducts():
            catalyst = consumed.get(ref.getSpecies()) == produced[ref.getSpecies()]
            assert ref.getSBOTerm() == (603 if catalyst else -1)  # side product
    expected_laws = {None: {47, 49, 52, 54}, "saturating": {47, 49, 52, 54, 57}, "power4": {47, 49, 54, 163},
                     "u_squared": {47, 57, 59}}[activation and activation.name]
    assert expected_laws <= laws_seen


def test_lumped_sbo_terms_and_modifier_roles():
    compiled = _wide(seed=22)
    _doc, model = _read(to_lumped_sbml(compiled, created=WHEN))
    previous = compiled.input_species
    for layer, ids in zip(compiled.network.layers, compiled.layer_species, strict=True):
        for j, sp in enumerate(ids):
            reaction = model.getReaction(f"{sp}_net")
            assert reaction.getSBOTerm() == 205  # composite biochemical process
            assert reaction.getKineticLaw().getSBOTerm() == 1  # rate law
            roles = {m.getSpecies(): m.getSBOTerm() for m in reaction.getListOfModifiers()}
            expected = {src: 459 if w > 0 else 20 for src, w in zip(previous, layer.weights[j], strict=True) if w}
            assert roles == expected  # stimulator / inhibitor, by the weight's sign
        previous = ids


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_rdf_links_the_paper_and_annotation_records_the_weights(encoding):
    compiled = _wide()
    text = EXPORTERS[encoding](compiled, created=WHEN)
    _doc, model = _read(text)
    resources = [(term.getModelQualifierType(), term.getResourceURI(i))
                 for term in model.getCVTerms() for i in range(term.getNumResources())]
    assert (libsbml.BQM_IS_DESCRIBED_BY, PAPER) in resources
    annotation = model.getAnnotation()
    records = [annotation.getChild(i) for i in range(annotation.getNumChildren())
               if annotation.getChild(i).getName() == "network"]
    assert len(records) == 1
    assert records[0].getAttrValue("weightsSha256") == compiled.weights_hash
    assert records[0].getAttrValue("encoding") == encoding
    assert compiled.weights_hash in model.getNotesString()


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_malicious_activation_name_is_escaped(encoding):
    evil = "</p><script>x</script>"
    net = random_network(23, (3, 4, 2), 0.1)
    net = _with_activation(net, PolynomialActivation(net.activation.terms, name=evil + "\x01"))
    text = EXPORTERS[encoding](compile_network(net), created=WHEN)
    assert "<script>" not in text
    assert check_sbml(text).is_perfect()
    _doc, model = _read(text)
    body = ET.fromstring(model.getNotesString()).find(f"{XHTML}body")
    paragraphs = body.findall(f"{XHTML}p")
    assert len(paragraphs) == 6 and not body.findall(f".//{XHTML}script")
    assert f"({evil}\ufffd)" in paragraphs[1].text
    record = next(model.getAnnotation().getChild(i) for i in range(model.getAnnotation().getNumChildren())
                  if model.getAnnotation().getChild(i).getName() == "network")
    assert record.getAttrValue("activation") == evil + "\ufffd"


@pytest.mark.parametrize("encoding", sorted(EXPORTERS))
def test_roadrunner_settles_curated_sbml_to_the_forward_pass(encoding, rng):
    net = random_network(24, (4, 10, 3), 0.1)
    compiled = compile_network(net)
    sbml = EXPORTERS[encoding](compiled, creator=Creator(organisation="lab"), created=WHEN)
    x = rng.uniform(0, 2, size=(5, 4))
    states = roadrunner_simulator(compiled, encoding=encoding, sbml=sbml).settle(x)
    np.testing.assert_allclose(states.outputs, net.forward(x), rtol=CURATED_RTOL)
