"""DSD export: the tools' grammar, the three-domain design, and peppercorn + crnverifier verification.

The whole 2-2-1 network (15 formal reactions) is verified in benchmarks/dsd.py, not here: its enumeration
takes too long for CI on two shared cores. Here: single neurons (every sign of weight and bias) and the
split of a 2-2-1 network into per-neuron modules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from crnverifier.crn_parser import parse_crn_string

from crn2sbml.cli import main
from crn2sbml.compiler import compile_network
from crn2sbml.dsd import dsd_files
from crn2sbml.dsd.scheme import SchemeError, _number, formal_name, translate
from crn2sbml.dsd.verify import neuron_modules, verify_design
from crn2sbml.export import export
from crn2sbml.io import save_weights
from crn2sbml.nn.activations import power_activation, smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer


def _neuron(w: float, b: float) -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[w]]), np.array([b])),), smoothed_relu_activation(0.05))


@pytest.mark.parametrize("w, b", [(1.5, 0.3), (1.5, -0.3), (-0.7, 0.3), (-0.7, -0.3)])
def test_single_neuron_verifies(w: float, b: float) -> None:
    compiled = compile_network(_neuron(w, b))
    result = verify_design(translate(compiled.crn), methods=("integrated-hybrid",))
    assert result.formal_reactions == 4
    assert result.passed, result


def test_each_gate_alone_verifies_with_bisimulation_too() -> None:
    # weight (both signs) and bias (both signs) gates one at a time: small enough for bisimulation
    for w, b in ((1.5, 0.3), (-0.7, -0.3)):
        compiled = compile_network(_neuron(w, b))
        for rid in ("y1_bias", "y1_w_x1", "y1_inflow"):
            result = verify_design(translate(compiled.crn, [rid]), methods=("integrated-hybrid", "bisimulation"))
            assert result.passed, (rid, result)


def test_two_two_one_neuron_modules_cover_the_network() -> None:
    # verifying these modules takes 13–62 s each on 2 shared cores: benchmarks/dsd.py runs them
    network = FeedForwardNetwork((Layer(np.array([[1.2, -0.8], [-0.6, 1.4]]), np.array([0.2, -0.3])),
                                  Layer(np.array([[1.0, -1.0]]), np.array([0.1]))), smoothed_relu_activation(0.05))
    compiled = compile_network(network)
    assert len(compiled.crn.reactions) == 15
    modules = neuron_modules(compiled.crn, compiled.neuron_species)
    assert sorted(r for ids in modules.values() for r in ids) == sorted(r.id for r in compiled.crn.reactions)


def test_formal_crn_uses_the_tools_grammar() -> None:
    compiled = compile_network(_neuron(1.5, -0.3))
    files = dsd_files(compiled)
    for name in ("formal.crn", "physical.crn"):
        text = files[name]
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        assert "1.0" not in body.split() and " .5" not in body and "E" not in body
        crn, species = parse_crn_string(text)
        assert len(crn) == 4 and set(species) == {"x1", "y1"}
    assert "2 y1 -> y1 [k = 1]" in files["formal.crn"]
    assert "x1 @ constant 1" in files["physical.crn"]
    assert [_number(v) for v in (1.0, 2000.0, 0.5, 2.5e-7)] == ["1", "2000", "0.5", "2.5e-07"]
    assert formal_name("fish") == "sfish" and formal_name("x3") == "x3"


def test_design_sizes_and_json() -> None:
    compiled = compile_network(_neuron(1.5, -0.3))
    design = translate(compiled.crn)
    summary = design.summary()
    # signals x1, y1; gates: inflow 1 product, limit 2+1, bias(-) 1 + dummy, weight(+) 2 + 3; plus spacers
    assert (summary["gates"], summary["fuels"], summary["signals"]) == (4, 4, 2)
    assert summary["strands"] == len(design.strands()) == 20
    data = json.loads(dsd_files(compiled)["dsd.json"])
    assert data["nucleotides"] == design.nucleotides() and data["feasibility"]["unit"] == "nM"
    assert set(data["fuel_strands"]) == {"F1", "F2", "F3", "F4"}
    assert export(compiled, "dsd").startswith("# crn2sbml three-domain DSD design")


def test_trimolecular_reactions_are_refused() -> None:
    network = FeedForwardNetwork((Layer(np.array([[1.0]]), np.array([0.0])),), power_activation(0.05, 3))
    with pytest.raises(SchemeError, match="at most two"):
        translate(compile_network(network).crn)


def test_cli_dsd_writes_the_four_files(tmp_path) -> None:
    weights = tmp_path / "w.npz"
    save_weights(weights, _neuron(1.5, -0.3))
    assert main(["dsd", str(weights), "--out", str(tmp_path / "out"), "--units", "nM"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dsd.json", "dsd.pil", "formal.crn",
                                                                    "physical.crn"]


def test_cli_compile_writes_physical_files(tmp_path) -> None:
    weights = tmp_path / "w.npz"
    save_weights(weights, _neuron(1.5, -0.3))
    out = tmp_path / "model"
    assert main(["compile", str(weights), "--out", str(out), "--units", "nM", "--max-bimolecular-rate", "1e6",
                 "--gate-concentration", "1e-6"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"model_physical.xml", "feasibility.json", "feasibility.txt", "model.xml"} <= names
    manifest = json.loads((out / "manifest.json").read_text())
    assert "model_physical.xml" in manifest["files_sha256"]
