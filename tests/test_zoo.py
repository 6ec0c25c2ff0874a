"""Every shipped model folder passes crn2sbml's own checks, and every shipped artefact is loaded and settled by
the tool that consumes it: the whole test split from model.xml in libRoadRunner, and the archive samples from
model.xml in COPASI, model.ant in libantimony, model.cps in COPASI (its own scan), model.omex in COPASI and in
Tellurium's COMBINE executor. Nothing is compared as text with output of the code under test."""

import json

import numpy as np
import pytest

from crn2sbml.cli import main
from crn2sbml.compiler import compile_network
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.nn.train import accuracy
from crn2sbml.validate.artefacts import (
    run_cps_scan,
    run_omex_in_copasi,
    run_omex_in_tellurium,
    settle_antimony,
    settle_sbml,
)
from crn2sbml.validate.equivalence import compare_classification
from crn2sbml.validate.sbml_check import check_sbml
from crn2sbml.zoo import ARCHIVE_SAMPLES, MODELS, VALIDATION, ZOO, dataset_for, settle_test_set
from tests.conftest import STEADY_STATE_RTOL
from tests.test_artefacts import ARTEFACT_RTOL, _output_names

NAMES = sorted(ZOO)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_folder_passes_the_checks_and_describes_its_weights(name):
    opened = open_model_folder(MODELS / name)  # digests, species, SBML checks
    manifest = json.loads((MODELS / name / "manifest.json").read_text())
    recomputed = compile_network(opened.compiled.network).manifest()
    assert {k: v for k, v in manifest.items() if k != "files_sha256"} == recomputed
    assert sorted(manifest["files_sha256"]) == ["model.ant", "model.cps", "model.omex", "model.xml", "weights.npz"]
    assert check_sbml(opened.sbml).is_perfect()
    readme = (MODELS / name / "README.md").read_text()
    assert f"{len(opened.compiled.crn.reactions)} reactions" in readme


@pytest.mark.parametrize("name", NAMES)
def test_crn_classifies_whole_test_split_like_the_network(name):
    opened = open_model_folder(MODELS / name)
    network = opened.compiled.network
    data = dataset_for(ZOO[name])
    states = settle_test_set(opened.compiled, opened.sbml, data)
    agreement = compare_classification(network, data.x_test, data.y_test, states)
    assert agreement.all_converged
    assert agreement.all_agree, agreement
    assert agreement.max_rel_difference < STEADY_STATE_RTOL
    recorded = json.loads((VALIDATION / name / "agreement.json").read_text())
    assert recorded["crn_accuracy"] == pytest.approx(agreement.crn_accuracy)
    assert recorded["network_accuracy"] == pytest.approx(accuracy(network, data.x_test, data.y_test))


@pytest.mark.parametrize("name", NAMES)
def test_shipped_artefacts_settle_in_their_consumers(name):
    opened = open_model_folder(MODELS / name)
    compiled, folder = opened.compiled, MODELS / name
    x = dataset_for(ZOO[name]).x_test[:ARCHIVE_SAMPLES]
    expected = compiled.network.forward(x)
    errors = {
        "model.xml/copasi": settle_sbml(compiled, opened.sbml, x, "copasi"),
        "model.ant/libantimony": settle_antimony(compiled, (folder / "model.ant").read_text(), x),
        "model.cps/copasi": run_cps_scan((folder / "model.cps").read_bytes(), len(compiled.output_species)),
        "model.omex/copasi": run_omex_in_copasi((folder / "model.omex").read_bytes(),
                                                _output_names(opened.sbml, compiled.output_species))[None, :],
    }
    for artefact, outputs in errors.items():
        np.testing.assert_allclose(outputs, expected[: len(outputs)], rtol=ARTEFACT_RTOL, atol=0, err_msg=artefact)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_omex_runs_in_tellurium(name):
    opened = open_model_folder(MODELS / name)
    simulated, reported = run_omex_in_tellurium((MODELS / name / "model.omex").read_bytes(),
                                                list(opened.compiled.output_species), ARCHIVE_SAMPLES)
    expected = opened.compiled.network.forward(dataset_for(ZOO[name]).x_test[:ARCHIVE_SAMPLES])
    np.testing.assert_allclose(reported, expected, rtol=1e-14)  # SED-ML math carries 15 digits
    np.testing.assert_allclose(simulated, expected, rtol=ARTEFACT_RTOL, atol=0)


def test_digits_reaches_95_percent():
    data = dataset_for(ZOO["digits"])
    network = open_model_folder(MODELS / "digits").compiled.network
    assert accuracy(network, data.x_test, data.y_test) >= 0.95


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "samples that agree      360/360" in out
    assert (tmp_path / "demo" / "model.xml").is_file()
    assert check_sbml((tmp_path / "demo" / "model.xml").read_text()).is_perfect()
    assert np.isfinite(float(out.split("max |CRN - network|")[1].split()[0]))
