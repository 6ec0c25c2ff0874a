"""Every shipped model rebuilds identically from its weights, is valid SBML, and its CRN classifies the whole
test split exactly as the network does (simulated in libRoadRunner from the shipped model.xml)."""

import json

import numpy as np
import pytest

from crn2sbml.cli import main
from crn2sbml.compiler import compile_network
from crn2sbml.export.antimony import to_antimony
from crn2sbml.export.sbml import to_sbml
from crn2sbml.io import load_weights
from crn2sbml.nn.train import accuracy
from crn2sbml.validate.equivalence import compare_classification
from crn2sbml.validate.sbml_check import check_sbml
from crn2sbml.zoo import MODELS, VALIDATION, ZOO, dataset_for, settle_test_set
from tests.conftest import STEADY_STATE_RTOL

NAMES = sorted(ZOO)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model_rebuilds_identically_and_is_valid(name):
    folder = MODELS / name
    network = load_weights(folder / "weights.npz")
    compiled = compile_network(network)
    shipped_sbml = (folder / "model.xml").read_text()
    assert to_sbml(compiled) == shipped_sbml
    assert to_antimony(compiled) == (folder / "model.ant").read_text()
    assert compiled.manifest() == json.loads((folder / "manifest.json").read_text())
    assert check_sbml(shipped_sbml).is_perfect()
    readme = (folder / "README.md").read_text()
    assert f"{len(compiled.crn.reactions)} reactions" in readme


@pytest.mark.parametrize("name", NAMES)
def test_crn_classifies_whole_test_split_like_the_network(name):
    folder = MODELS / name
    network = load_weights(folder / "weights.npz")
    data = dataset_for(ZOO[name])
    states = settle_test_set(compile_network(network), (folder / "model.xml").read_text(), data)
    agreement = compare_classification(network, data.x_test, data.y_test, states)
    assert agreement.all_converged
    assert agreement.all_agree, agreement
    assert agreement.max_rel_difference < STEADY_STATE_RTOL
    recorded = json.loads((VALIDATION / name / "agreement.json").read_text())
    assert recorded["crn_accuracy"] == pytest.approx(agreement.crn_accuracy)
    assert recorded["network_accuracy"] == pytest.approx(accuracy(network, data.x_test, data.y_test))


def test_digits_reaches_95_percent():
    data = dataset_for(ZOO["digits"])
    assert accuracy(load_weights(MODELS / "digits" / "weights.npz"), data.x_test, data.y_test) >= 0.95


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "samples that agree      360/360" in out
    assert (tmp_path / "demo" / "model.xml").is_file()
    assert check_sbml((tmp_path / "demo" / "model.xml").read_text()).is_perfect()
    assert np.isfinite(float(out.split("max |CRN - network|")[1].split()[0]))
