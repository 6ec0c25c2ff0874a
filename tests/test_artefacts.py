"""Conformance of every exported artefact, loaded and settled by the tool that consumes it.

Networks with 10+ and 100+ species in a layer (ids ``x10``, ``x100``, ``h1_10``, ``y10``: the ids that a
string-surgery bug once truncated) are compiled, exported, and each file is read by its consumer — libRoadRunner
and COPASI for ``model.xml``, libantimony and Tellurium for ``model.ant``, COPASI for ``model.cps`` (its own
scan over the samples), Tellurium's COMBINE executor and COPASI for ``model.omex`` — and the settled outputs
are compared with the numpy forward pass at 1e-8 relative. The shipped zoo models get the same treatment in
tests/test_zoo.py.
"""

from __future__ import annotations

import functools

import libcombine
import libsbml
import libsedml
import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.export import UnsupportedFormatError, export
from crn2sbml.export.folder import model_folder_files
from crn2sbml.validate.artefacts import (
    run_cps_scan,
    run_omex_in_copasi,
    run_omex_in_tellurium,
    settle_antimony,
    settle_sbml,
)
from tests.conftest import random_network
from tests.tellurium_session import run_tellurium

ARTEFACT_RTOL = 1e-8
"""Every consumer's settled outputs vs the forward pass (issue 8)."""

SHAPES = {"wide-10": (12, 11, 10), "inputs-100": (100, 12, 10)}


@functools.cache
def case(name: str):
    network = random_network(len(name) * 7 + 3, SHAPES[name], 0.05, zero_fraction=0.1)
    compiled = compile_network(network)
    x = np.random.default_rng(5).uniform(0, 2, size=(3, network.n_inputs))
    files = model_folder_files(compiled, cps=True, omex=True, samples=x)
    return compiled, x, network.forward(x), files


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=ARTEFACT_RTOL, atol=0)


def test_ids_ending_in_zero_are_present():
    compiled, *_ = case("inputs-100")
    ids = {s.id for s in compiled.crn.species}
    assert {"x10", "x100", "h1_10", "y10"} <= ids


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("consumer", ["roadrunner", "copasi"])
def test_model_xml_settles_in_each_consumer(name, consumer):
    compiled, x, expected, files = case(name)
    assert_close(settle_sbml(compiled, files["model.xml"], x, consumer), expected)


@pytest.mark.parametrize("name", SHAPES)
def test_model_ant_settles_through_libantimony(name):
    compiled, x, expected, files = case(name)
    assert_close(settle_antimony(compiled, files["model.ant"], x), expected)


def test_model_ant_reactions_match_the_crn_exactly():
    """Every reaction libantimony reads back has the CRN's reactants, products and rate constant."""
    from crn2sbml.validate.artefacts import antimony_to_sbml

    compiled, *_ = case("inputs-100")
    model = libsbml.readSBMLFromString(antimony_to_sbml(compiled_text := export(compiled, "antimony"))).getModel()
    assert "h1_10_limit: 2 h1_10 -> h1_10;" in compiled_text
    assert model.getNumReactions() == len(compiled.crn.reactions)
    for reaction in compiled.crn.reactions:
        sbml_reaction = model.getReaction(reaction.id)
        reactants = {r.getSpecies(): r.getStoichiometry() for r in sbml_reaction.getListOfReactants()}
        products = {p.getSpecies(): p.getStoichiometry() for p in sbml_reaction.getListOfProducts()}
        assert reactants == {s: float(n) for s, n in reaction.reactants}, reaction.id
        assert products == {s: float(n) for s, n in reaction.products}, reaction.id
        # libantimony writes 15 significant digits into its SBML: its own limit, 1e-15 relative
        assert model.getParameter(f"k_{reaction.id}").getValue() == pytest.approx(reaction.rate_constant, rel=1e-14)
    names = {model.getSpecies(i).getId(): model.getSpecies(i).getName() for i in range(model.getNumSpecies())}
    assert names["x3"] == "x3 (input feature 3)"


def test_model_ant_in_tellurium_with_the_notebook_helpers(tmp_path):
    compiled, x, expected, files = case("wide-10")
    path = tmp_path / "model.ant"
    path.write_text(files["model.ant"])
    result = run_tellurium(
        """
        from crn2sbml.notebook import set_inputs, settle
        r = te.loada(open(path).read())
        result = []
        for sample in samples:
            set_inputs(r, inputs, sample)
            state = settle(r)
            result.append([state[s] for s in outputs])
        """,
        path=str(path), samples=x.tolist(), inputs=list(compiled.input_species),
        outputs=list(compiled.output_species),
    )
    np.testing.assert_allclose(result, expected, rtol=1e-7)  # settle's default stopping rule


@pytest.mark.parametrize("name", SHAPES)
def test_model_cps_reloaded_in_copasi_runs_every_sample(name):
    compiled, x, expected, files = case(name)
    assert_close(run_cps_scan(files["model.cps"], len(compiled.output_species)), expected)


def test_model_cps_keeps_rate_constants_at_full_precision():
    from crn2sbml.validate.artefacts import _in_copasi, _load_cps

    compiled, _, _, files = case("inputs-100")
    by_name = {compiled_name(r): r.rate_constant for r in compiled.crn.reactions}
    worst = 0.0
    with _in_copasi(files["model.cps"], "model.cps", _load_cps) as (datamodel, _):  # as the COPASI GUI loads it
        for reaction in datamodel.getModel().getReactions():
            parameters = reaction.getParameters()
            assert parameters.size() == 1
            value = parameters.getParameter(0).getDblValue()
            worst = max(worst, abs(value / by_name[reaction.getObjectName()] - 1))
    assert worst < 1e-14, worst  # COPASI's own writer rounds to 6 digits: ~1e-6


def compiled_name(reaction) -> str:
    """The name a reaction carries in SBML and therefore in COPASI, read from the exported SBML."""
    return _sbml_names()[reaction.id]


@functools.cache
def _sbml_names() -> dict[str, str]:
    compiled, _, _, files = case("inputs-100")
    model = libsbml.readSBMLFromString(files["model.xml"]).getModel()
    return {model.getReaction(i).getId(): model.getReaction(i).getName() for i in range(model.getNumReactions())}


def test_model_omex_is_valid_with_metadata(tmp_path):
    compiled, x, _, files = case("wide-10")
    path = tmp_path / "model.omex"
    path.write_bytes(files["model.omex"])
    archive = libcombine.CombineArchive()
    assert archive.initializeFromArchive(str(path))
    try:
        locations = sorted(str(loc) for loc in archive.getAllLocations())
        assert locations == ["./expected.csv", "./model.xml", *(f"./samples/sample_{i}.xml" for i in (1, 2, 3)),
                             "./simulation.sedml"]
        assert archive.getMasterFile().getLocation() == "./simulation.sedml"
        meta = archive.getMetadataForLocation(".")
        assert compiled.weights_hash in meta.getDescription()
        assert "10.1098/rsif.2021.0031" in meta.getDescription()
        assert meta.getNumCreators() == 1 and meta.getCreated().getDateAsString()
        sedml = archive.extractEntryToString("./simulation.sedml")
        sample_2 = archive.extractEntryToString("./samples/sample_2.xml")
    finally:
        archive.cleanUp()
    doc = libsedml.readSedMLFromString(sedml)
    assert doc.getNumErrors(libsedml.LIBSEDML_SEV_ERROR) == 0
    assert doc.getNumModels() == len(x) and doc.getNumTasks() == len(x)
    assert doc.getModel(1).getSource() == "samples/sample_2.xml"
    model = libsbml.readSBMLFromString(sample_2).getModel()
    values = [model.getSpecies(s).getInitialConcentration() for s in compiled.input_species]
    np.testing.assert_allclose(values, x[1], rtol=1e-14)  # libSBML writes numbers with 15 significant digits
    report = next(doc.getOutput(i) for i in range(doc.getNumOutputs()) if doc.getOutput(i).getId() == "steady_states")
    assert report.getNumDataSets() == 1 + 2 * len(x) * len(compiled.output_species)


@pytest.mark.parametrize("name", SHAPES)
def test_model_omex_executed_by_tellurium_reports_outputs_beside_expected(name):
    compiled, x, expected, files = case(name)
    simulated, reported = run_omex_in_tellurium(files["model.omex"], list(compiled.output_species), len(x))
    np.testing.assert_allclose(reported, expected, rtol=1e-14)  # SED-ML math carries 15 digits
    assert_close(simulated, expected)


@pytest.mark.parametrize("name", SHAPES)
def test_model_omex_executed_by_copasi(name):
    compiled, x, expected, files = case(name)
    names = _output_names(files["model.xml"], compiled.output_species)
    assert_close(run_omex_in_copasi(files["model.omex"], names), expected[0])


def _output_names(sbml: str, output_species) -> list[str]:
    model = libsbml.readSBMLFromString(sbml).getModel()
    return [model.getSpecies(s).getName() or s for s in output_species]


def test_unknown_format_is_refused():
    compiled, *_ = case("wide-10")
    with pytest.raises(UnsupportedFormatError, match="unknown export format 'sbol'"):
        export(compiled, "sbol")
