"""Weights files, sample files and the CLI: good input round-trips, bad input gets a clear error and no files."""

import json

import numpy as np
import pytest

from crn2sbml.cli import main
from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError, NetworkError
from crn2sbml.io import load_samples, load_weights, save_weights
from tests.conftest import STEADY_STATE_RTOL, random_network


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_weights_round_trip(tmp_path):
    net = random_network(31, (3, 4, 2), 0.02)
    save_weights(tmp_path / "w.npz", net)
    back = load_weights(tmp_path / "w.npz")
    assert back.weights_hash() == net.weights_hash()
    assert back.eps == 0.02


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"W1": np.ones((2, 3)), "b1": np.ones(3)}, "bias shape"),
        ({"W1": np.ones((2, 3)), "b1": np.ones(2), "W2": np.ones((1, 3)), "b2": np.ones(1)}, "expects 3 inputs"),
        ({"W1": np.array([[np.nan, 1.0]]), "b1": np.ones(1)}, "finite"),
        ({"W1": np.ones((1, 2)), "b1": np.ones(1), "eps": np.array(0.0)}, "eps must be"),
        ({"W1": np.ones((1, 2)), "b1": np.ones(1), "eps": np.array(-1.0)}, "eps must be"),
        ({"W1": np.ones((1, 2))}, "missing b1"),
        ({"W2": np.ones((1, 2)), "b2": np.ones(1)}, "without gaps"),
        ({"W1": np.ones((1, 2)), "b1": np.ones(1), "junk": np.ones(1)}, "unexpected array"),
    ],
)
def test_bad_weights_are_refused_with_file_name(tmp_path, arrays, message):
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(NetworkError, match=message) as info:
        load_weights(path)
    assert "bad.npz" in str(info.value)


def test_unreadable_and_missing_weights(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="garbage.npz"):
        load_weights(tmp_path / "garbage.npz")
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "nope.npz")
    # a pickled object array is refused, never unpickled
    np.savez(tmp_path / "pickled.npz", W1=np.array([{"a": 1}], dtype=object), b1=np.ones(1))
    with pytest.raises(InputError, match="pickled.npz"):
        load_weights(tmp_path / "pickled.npz")


def test_sample_files(tmp_path):
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n3,4.5\n")
    np.testing.assert_array_equal(load_samples(tmp_path / "ok.csv"), [[1, 2], [3, 4.5]])
    (tmp_path / "text.csv").write_text("1,2\n3,abc\n")
    with pytest.raises(InputError, match="text.csv:2: non-numeric value 'abc'"):
        load_samples(tmp_path / "text.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(InputError, match="columns"):
        load_samples(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="no samples"):
        load_samples(tmp_path / "empty.csv")


def test_cli_compile_and_simulate(tmp_path, capsys, rng):
    net = random_network(32, (3, 5, 2), 0.05)
    save_weights(tmp_path / "w.npz", net)
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m"), "--cps", "--omex"]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out
    assert (tmp_path / "m" / "model.cps").stat().st_size > 0
    assert (tmp_path / "m" / "model.omex").read_bytes()[:2] == b"PK"  # a zip archive
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["input_species"] == ["x1", "x2", "x3"]
    assert manifest["output_species"] == ["y1", "y2"]
    assert manifest["weights_sha256"] == net.weights_hash()
    # what compile writes for the lab is the elementary network: one SBML reaction per CRN reaction
    import libsbml

    model = libsbml.readSBMLFromFile(str(tmp_path / "m" / "model.xml")).getModel()
    assert model.getNumReactions() == manifest["n_reactions"] == len(compile_network(net).crn.reactions)
    assert all(model.getReaction(i).getKineticLaw().getNumLocalParameters() == 1
               for i in range(model.getNumReactions()))
    x = rng.uniform(0, 1, size=(5, 3))
    np.save(tmp_path / "x.npy", x)
    for encoding in ("lumped", "elementary"):
        out = tmp_path / f"out_{encoding}.csv"
        code = main(["simulate", str(tmp_path / "m"), "--inputs", str(tmp_path / "x.npy"), "--out", str(out),
                     "--encoding", encoding, "-q"])
        assert code == 0
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        np.testing.assert_allclose(table[:, :2], net.forward(x), rtol=STEADY_STATE_RTOL)
        assert np.all(table[:, 4] == 1)


def test_cli_bad_inputs_leave_no_output(tmp_path, capsys):
    save_weights(tmp_path / "w.npz", random_network(33, (3, 2), 0.05))
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m")]) == 0
    for name, content, message in [
        ("neg.csv", "1,-2,3\n", "must be >= 0"),
        ("short.csv", "1,2\n", "expected 3 features"),
        ("nan.csv", "1,nan,3\n", "non-finite"),
    ]:
        (tmp_path / name).write_text(content)
        out = tmp_path / f"{name}.out.csv"
        assert main(["simulate", str(tmp_path / "m"), "--inputs", str(tmp_path / name), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert message in err and name in err
        assert not out.exists()
    # an output folder that cannot be written: a path below a regular file
    (tmp_path / "file").write_text("x")
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "file" / "sub")]) == 1
    assert "cannot write" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, W1=np.ones((2, 3)), b1=np.ones(3))
    assert main(["compile", str(bad), "--out", str(tmp_path / "never")]) == 1
    assert not (tmp_path / "never").exists()
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_cli_compile_skips_the_slow_full_check_for_large_models(tmp_path, capsys, monkeypatch):
    import crn2sbml.cli as cli

    save_weights(tmp_path / "w.npz", random_network(34, (3, 4, 2), 0.05))
    monkeypatch.setattr(cli, "CHECK_LIMIT", 10)
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m")]) == 0
    assert "full check skipped" in capsys.readouterr().out
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m"), "--check"]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out


def test_cli_refuses_an_output_that_is_an_input(tmp_path, capsys):
    source = tmp_path / "m.onnx"
    source.write_bytes(b"not really onnx")
    assert main(["import", str(source), "--out", str(tmp_path / "." / "m.onnx")]) == 1
    assert "would destroy the input" in capsys.readouterr().err
    assert source.read_bytes() == b"not really onnx"
    save_weights(tmp_path / "w.npz", random_network(35, (2, 2), 0.05))
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m")]) == 0
    (tmp_path / "x.csv").write_text("1,2\n")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    for out in (tmp_path / "x.csv", tmp_path / "m" / "model.xml", tmp_path / "m" / "weights.npz"):
        assert main(["simulate", str(tmp_path / "m"), "--inputs", str(tmp_path / "x.csv"), "--out", str(out)]) == 1
        assert "would destroy the input" in capsys.readouterr().err
    assert (tmp_path / "x.csv").read_text() == "1,2\n"
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before


def test_cli_compile_replaces_the_whole_folder(tmp_path, capsys):
    save_weights(tmp_path / "w.npz", random_network(36, (2, 3, 2), 0.05))
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m"), "--cps"]) == 0
    assert (tmp_path / "m" / "model.cps").is_file()
    save_weights(tmp_path / "w2.npz", random_network(37, (2, 2), 0.05))
    assert main(["compile", str(tmp_path / "w2.npz"), "--out", str(tmp_path / "m")]) == 0
    assert not (tmp_path / "m" / "model.cps").exists()  # no stale COPASI file of the earlier network
    assert load_weights(tmp_path / "m" / "weights.npz").shape_text() == "2-2"
    # a folder holding someone else's files is refused, and left alone
    (tmp_path / "m" / "lab_notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m")]) == 1
    assert "lab_notes.txt" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_simulate_reads_spreadsheet_exports(tmp_path):
    net = random_network(38, (3, 4, 2), 0.05)
    save_weights(tmp_path / "w.npz", net)
    assert main(["compile", str(tmp_path / "w.npz"), "--out", str(tmp_path / "m")]) == 0
    x = np.array([[0.5, 1.0, 0.25], [2.0, 0.0, 1.5]])
    # a German-locale spreadsheet: BOM, semicolons, CRLF, quoted header with the inputs in another order
    lines = ['"x3";"x1";"x2"'] + [";".join(repr(float(v)) for v in row[[2, 0, 1]]) for row in x]
    (tmp_path / "x.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    out = tmp_path / "y.csv"
    assert main(["simulate", str(tmp_path / "m"), "--inputs", str(tmp_path / "x.csv"), "--out", str(out), "-q"]) == 0
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, :2], net.forward(x), rtol=STEADY_STATE_RTOL)


def test_sample_headers_are_checked_against_the_input_names(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("x2,x1\n1,2\n")
    np.testing.assert_array_equal(load_samples(path, names=["x1", "x2"]), [[2, 1]])
    np.testing.assert_array_equal(load_samples(path), [[1, 2]])  # without names: file order
    path.write_text("x1,x2o\n1,2\n")
    with pytest.raises(InputError, match="expected the columns x1, x2.*unknown: 'x2o'; missing: 'x2'"):
        load_samples(path, names=["x1", "x2"])
    path.write_text("1,2o\n3,4\n")  # a typo in the first row is an error, not a header
    with pytest.raises(InputError, match=r"x.csv:1: non-numeric value '2o' at row 1, column 2 \(B"):
        load_samples(path, names=["x1", "x2"])
