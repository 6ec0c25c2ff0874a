"""DSD export: the tools' grammar, the three-domain design, and peppercorn + crnverifier verification.

Verification is checked three ways: correct designs pass every required method (single neurons with every
sign of weight and bias, the self-limitation gate under bisimulation, the whole 2-2-1 network), deliberately
wrong designs are rejected by each method, and the enumeration shortcut (merged waste tails) is compared
with the design as written.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from crnverifier.crn_bisimulation import deformalize, passes_permissive_condition
from crnverifier.crn_parser import parse_crn_string
from dsdobjects.complex_utils import rotate_complex_once

from crn2sbml.cli import main
from crn2sbml.compiler import compile_network
from crn2sbml.crn import parse_text
from crn2sbml.dsd import dsd_files
from crn2sbml.dsd import verify as dsd_verify
from crn2sbml.dsd.scheme import DsdDesign, SchemeError, _number, formal_name, translate
from crn2sbml.dsd.verify import INFORMATIVE, REQUIRED, enumerate_design, merge_waste_tails, verify_design
from crn2sbml.export import export
from crn2sbml.io import save_weights
from crn2sbml.nn.activations import power_activation, smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer

NEURON = """network neuron
species x1 = 0.0 clamped
species y1 = 0.0
y1_inflow: 0 -> y1  k=0.05
y1_limit: 2 y1 -> y1  k=1.0
y1_bias: y1 -> 0  k=0.3
y1_w_x1: x1 + y1 -> x1 + 2 y1  k=1.5
"""


def _neuron(w: float, b: float) -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[w]]), np.array([b])),), smoothed_relu_activation(0.05))


def _network_221() -> FeedForwardNetwork:
    return FeedForwardNetwork((Layer(np.array([[1.2, -0.8], [-0.6, 1.4]]), np.array([0.2, -0.3])),
                               Layer(np.array([[1.0, -1.0]]), np.array([0.1]))), smoothed_relu_activation(0.05))


@pytest.mark.parametrize("w, b", [(1.5, 0.3), (1.5, -0.3), (-0.7, 0.3), (-0.7, -0.3)])
def test_single_neuron_verifies(w: float, b: float) -> None:
    compiled = compile_network(_neuron(w, b))
    result = verify_design(translate(compiled.crn))
    assert result.formal_reactions == 4
    assert result.required == list(REQUIRED)  # pathway decomposition, integrated hybrid and bisimulation
    assert result.passed and all(result.results[m] for m in REQUIRED), result
    assert set(result.results) == set(REQUIRED) | set(INFORMATIVE)


def test_self_limitation_gate_needs_its_waste_in_excess() -> None:
    design = translate(parse_text(NEURON), ["y1_limit"])
    result = verify_design(design)
    assert result.results["bisimulation"] and result.passed
    # without the waste held constant bisimulation fails, and crnverifier's counterexample for 2 y1 -> y1 is
    # two gates holding one y1 each: neither can go on without a third y1 nor give its y1 back without the waste
    assert not result.results["bisimulation-without-excess"]
    enumeration = enumerate_design(design, {"wastes_in_excess": False})
    fs = {"y1"}
    icrn = [[[deformalize(x, fs) for x in r], [deformalize(x, fs) for x in p]] for r, p in enumeration.crn()]
    inter = {deformalize(k, fs): v for k, v in enumeration.interpretation.items()}
    ok, (reaction, state) = passes_permissive_condition([[["y1", "y1"], ["y1"]]], icrn, fs, inter)
    assert not ok and reaction == [["y1", "y1"], ["y1"]]
    assert len(state) == 2 and state[0] == state[1]
    held = state[0]
    assert enumeration.interpretation[held] == ["y1"] and "+" in enumeration.structures[held][0]


def test_each_gate_alone_verifies() -> None:
    # weight and bias gates of both signs, and the inflow gate, one at a time, with every method
    for w, b in ((1.5, 0.3), (-0.7, -0.3)):
        compiled = compile_network(_neuron(w, b))
        for rid in ("y1_bias", "y1_w_x1", "y1_inflow"):
            result = verify_design(translate(compiled.crn, [rid]))
            assert result.passed and all(result.results[m] for m in REQUIRED), (rid, result)


def _wrong_products() -> DsdDesign:
    """The weight gate releases y1 + y1 and keeps x1: the catalyst is consumed (gate and fuel of another CRN)."""
    right = translate(parse_text(NEURON))
    text = NEURON.replace("x1 + y1 -> x1 + 2 y1", "x1 + y1 -> 2 y1").replace(" clamped", "")  # x1 now changes
    wrong = translate(parse_text(text))
    return replace(wrong, formal=right.formal)


def _dead_fuel() -> DsdDesign:
    """The self-limitation gate's fuel starts with a spacer no gate has: 2 y1 -> y1 never completes."""
    design = translate(parse_text(NEURON))
    gate = next(g for g in design.gates if g.reaction == "y1_limit")
    fuels = tuple(replace(f, kernel=f.kernel.replace(f"u{gate.name[1:]} ", "u99 "),
                          strands=(tuple("u99" if d == f"u{gate.name[1:]}" else d for d in f.strands[0]),))
                  if f.reaction == "y1_limit" else f for f in design.fuels)
    return replace(design, fuels=fuels, domains={**design.domains, "u99": 15})


@pytest.mark.parametrize("wrong", [_wrong_products, _dead_fuel])
def test_wrong_designs_are_rejected_by_every_method(wrong) -> None:
    result = verify_design(wrong())
    assert not result.passed
    assert not any(result.results[m] for m in REQUIRED), result.results


def _canonical(structure: tuple[tuple[str, ...], tuple[str, ...]], rename: dict[str, str]) -> tuple:
    """A complex with domains renamed, in its least rotation (independent of the names peppercorn gave)."""
    seq = [rename.get(d.rstrip("*"), d.rstrip("*")) + ("*" if d.endswith("*") else "") for d in structure[0]]
    sst = list(structure[1])
    forms = []
    for _ in range(seq.count("+") + 1):
        forms.append((tuple(seq), tuple(sst)))
        seq, sst = rotate_complex_once(seq, sst)
    return min(forms)


def test_merged_waste_tails_give_the_same_network_up_to_the_tails() -> None:
    # the design as written (a tail per gate) and the merged one (a tail per species) must enumerate to the same
    # condensed CRN once every tail is renamed to its species' tail
    design = translate(parse_text(NEURON))
    merged, wastes = merge_waste_tails(design)
    assert set(wastes) == {"x1", "y1"}
    rename = {a: b for g, h in zip(design.gates, merged.gates, strict=True)
              for s, t in zip(g.strands, h.strands, strict=True) for a, b in zip(s, t, strict=True) if a != b}
    assert set(rename.values()) == {wastes["x1"][2], wastes["y1"][2]} and len(rename) == 5  # 2 + 1 + 2 reactants

    constant = {c.name for c in design.gates + design.fuels}

    def network(settings: dict) -> tuple[set, set]:
        e = enumerate_design(design, settings)
        form = {k: _canonical(v, rename) for k, v in e.structures.items()}
        # a gate holding another gate's waste is, tails renamed, that gate: held constant like it
        gates = {form[k] for k in constant if k in form}
        reactions = {(tuple(sorted(form[x] for x in r if form[x] not in gates)),
                      tuple(sorted(form[x] for x in p if form[x] not in gates))) for r, p in e.reactions}
        return set(form.values()) - gates, {r for r in reactions if r[0] != r[1]}

    as_written = network({"merge_waste_tails": False, "wastes_in_excess": False})
    assert as_written == network({"wastes_in_excess": False})
    assert len(as_written[1]) > 10


def test_two_two_one_network_verifies_whole() -> None:
    compiled = compile_network(_network_221())
    assert len(compiled.crn.reactions) == 15
    modules = dsd_verify.neuron_modules(compiled.crn, compiled.neuron_species)
    assert sorted(r for ids in modules.values() for r in ids) == sorted(r.id for r in compiled.crn.reactions)
    results = dsd_verify.verify_network(compiled.crn, compiled.neuron_species)
    assert [v.module for v in results] == ["network"]  # enumerated at once, cross-talk between neurons included
    v = results[0]
    assert v.passed and v.required == list(REQUIRED) and all(v.results[m] for m in REQUIRED), v
    assert v.settings["wastes_held_constant"].keys() == {"W_x1", "W_x2", "W_h1_1", "W_h1_2", "W_y1"}


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


def test_cli_dsd_verify_exit_status(tmp_path, monkeypatch, capsys) -> None:
    weights = tmp_path / "w.npz"
    save_weights(weights, _neuron(1.5, -0.3))
    # a correct design: 0, although the informative bisimulation without excess wastes fails
    assert main(["dsd", str(weights), "--out", str(tmp_path / "ok"), "--verify"]) == 0
    [entry] = json.loads((tmp_path / "ok" / "dsd.json").read_text())["verification"]
    assert entry["passed"] and entry["required"] == list(REQUIRED)
    assert entry["results"]["bisimulation-without-excess"] is False
    assert entry["settings"]["wastes_held_constant"] == {"W_x1": "s_x1 t w_x1", "W_y1": "s_y1 t w_y1"}
    assert "verification passed" in capsys.readouterr().out
    # the same command on a wrong design (the self-limitation gate's fuel cannot bind): 2, and a message
    monkeypatch.setattr(dsd_verify, "translate", lambda crn, ids=None: _dead_fuel())
    assert main(["dsd", str(weights), "--out", str(tmp_path / "bad"), "--verify"]) == 2
    err = capsys.readouterr().err
    assert "design found incorrect" in err and "pathway-decomposition" in err
    assert not json.loads((tmp_path / "bad" / "dsd.json").read_text())["verification"][0]["passed"]


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
