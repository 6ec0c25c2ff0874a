"""Hostile and careless files: every reader returns exactly the right thing or raises a typed crn2sbml error
naming the file; every writer lands completely or leaves the old content byte-identical.

A corpus of hostile files (tests/fuzz_corpus/files/, each with its expected outcome in CORPUS_EXPECTED), special
files made at test time (FIFOs, devices, zip bombs), hypothesis properties over random and mutated files, and
failures injected at every step of the folder and file writers. ``pytest -s`` prints how many cases were tried.
"""

from __future__ import annotations

import collections
import csv
import errno
import io
import json
import os
import re
import shutil
import signal
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crn2sbml.io as cio
from crn2sbml.errors import Crn2SbmlError, InputError, LimitError
from crn2sbml.io import (
    check_output_not_input,
    commit_folder,
    load_manifest,
    load_samples,
    load_weights,
    read_regular_file,
    save_table_csv,
    write_atomic,
    write_files_atomic,
)
from crn2sbml.nn.network import FeedForwardNetwork

CORPUS = Path(__file__).parent / "fuzz_corpus" / "files"
# CRN2SBML_FUZZ_EXAMPLES=5000 for a longer soak run
FUZZ = settings(max_examples=int(os.environ.get("CRN2SBML_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TALLY: collections.Counter = collections.Counter()  # (target, "refused" | "accepted") -> cases
NAMES2 = ["x1", "x2"]


@pytest.fixture(scope="module", autouse=True)
def _print_tally():
    yield
    for target in sorted({t for t, _ in TALLY}):
        refused, accepted = TALLY[target, "refused"], TALLY[target, "accepted"]
        print(f"\nfuzz {target}: {refused + accepted} tried, {refused} refused with a clear message, "
              f"{accepted} accepted correctly")


def attempt(target: str, path: Path, load: Callable, check: Callable) -> object:
    """Run ``load``: a crn2sbml error must name the file, a result must pass ``check``; any other exception
    propagates and fails the test."""
    try:
        result = load()
    except Crn2SbmlError as exc:
        assert path.name in str(exc), f"message does not name {path.name}: {exc}"
        TALLY[target, "refused"] += 1
        return exc
    check(result)
    TALLY[target, "accepted"] += 1
    return result


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root`` (hidden ones too) with its bytes: equal snapshots mean nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# ---------------------------------------------------------------- the corpus
def _good_manifest(m: dict) -> None:
    assert m["input_species"] == NAMES2 and m["eps"] == 0.05 and m["time_scale"] == 1.0


CORPUS_EXPECTED: dict[str, object] = {
    # tables, read with the model's input names x1, x2: an array is the exact expected result
    "bom_no_header.csv": [[1, 2], [3, 4]],
    "bom_header.csv": [[1, 2]],
    "typo_first_row.csv": (InputError, "row 1, column 2"),
    "header_permuted.csv": [[2, 1], [4, 3]],
    "header_unknown.csv": (InputError, "expected the columns x1, x2"),
    "header_missing.csv": (InputError, "missing: 'x2'"),
    "semicolon.csv": [[1, 2], [3, 4]],
    "tabs.tsv": [[1, 2]],
    "decimal_comma.csv": (InputError, "decimal commas"),
    "quoted.csv": [[1.5, 2]],
    "latin1.csv": (InputError, "not UTF-8"),
    "utf16_excel.txt": [[1, 2]],
    "nul_byte.csv": (InputError, "row 2, column 2"),
    "unterminated_quote.csv": (InputError, "malformed CSV"),
    "ragged.csv": (InputError, "row 2 has 1 column(s), expected 2"),
    "empty.csv": (InputError, "no samples"),
    "header_only.csv": (InputError, "only a header"),
    "formula.csv": (InputError, "row 1, column 2"),
    "trailing_delimiter.csv": (InputError, "column 3 (C"),
    "underscore_number.csv": (InputError, "'1_000'"),
    "comments_blanks.csv": [[1, 2], [3, 4]],
    "object.npy": (InputError, "never unpickles"),
    "zip_named.npy": (InputError, "not a readable .npy"),
    "truncated.npy": (InputError, "EOF"),
    "header_10e8.npy": (LimitError, "CRN2SBML_MAX_ELEMENTS"),
    "huge_string_dtype.npy": (LimitError, "CRN2SBML_MAX_ELEMENTS"),
    "bad_header.npy": (InputError, "not a readable .npy"),
    # weights
    "valid.npz": "network",
    "truncated.npz": (InputError, "not a readable .npz"),
    "text.npz": (InputError, "not a readable .npz"),
    "npy_renamed.npz": (InputError, "single .npy array"),
    "member_not_npy.npz": (InputError, "'notes.txt' is not an .npy array"),
    "member_garbage.npz": (InputError, "not a readable .npz"),
    "object.npz": (InputError, "never unpickles"),
    "bomb_header.npz": (LimitError, "limit of 10,000,000 elements"),
    "total_over_limit.npz": (LimitError, "together"),
    "encrypted_flag.npz": (InputError, "encrypted"),
    # manifests (copied to MODEL/manifest.json)
    "manifest_valid.json": _good_manifest,
    "manifest_bom.json": _good_manifest,
    "manifest_number.json": (InputError, "expected a JSON object, got int"),
    "manifest_list.json": (InputError, "expected a JSON object, got list"),
    "manifest_deep.json": (InputError, "nested too deeply"),
    "manifest_deep_object.json": (InputError, "nested too deeply"),
    "manifest_time_scale_text.json": (InputError, "'time_scale' must be a positive finite number, got 'abc'"),
    "manifest_time_scale_nan.json": (InputError, "'time_scale' must be a positive finite number"),
    "manifest_eps_bool.json": (InputError, "'eps' must be"),
    "manifest_species_not_ids.json": (InputError, "holds 2"),
    "manifest_species_injection.json": (InputError, "not a species id"),
    "manifest_species_dict.json": (InputError, "non-empty list"),
    "manifest_layers_flat.json": (InputError, "layer_species[1]"),
    "manifest_missing_key.json": (InputError, "missing key 'eps'"),
    "manifest_latin1.json": (InputError, "not UTF-8"),
    "manifest_huge_int.json": (InputError, "invalid JSON"),
    "manifest_truncated.json": (InputError, "invalid JSON at line 1"),
    "manifest_duplicate_species.json": (InputError, "twice"),
}


def test_corpus_is_small_and_fully_described():
    files = {p.name for p in CORPUS.iterdir()}
    assert files == set(CORPUS_EXPECTED)
    assert all((CORPUS / name).stat().st_size < 10_000 for name in files)


def _load_corpus_file(name: str, tmp_path: Path) -> tuple[Path, Callable]:
    if name.startswith("manifest"):
        folder = tmp_path / "model"
        folder.mkdir()
        shutil.copy(CORPUS / name, folder / "manifest.json")
        return folder / "manifest.json", lambda: load_manifest(folder)
    path = tmp_path / name
    shutil.copy(CORPUS / name, path)
    if name.endswith(".npz"):
        return path, lambda: load_weights(path)
    return path, lambda: load_samples(path, names=NAMES2)


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_file(name, tmp_path):
    expected = CORPUS_EXPECTED[name]
    path, load = _load_corpus_file(name, tmp_path)
    if isinstance(expected, tuple):
        error, fragment = expected
        with pytest.raises(error) as info:
            load()
        assert fragment in str(info.value) and path.name in str(info.value)
        TALLY["corpus", "refused"] += 1
        return
    result = load()
    if expected == "network":
        assert isinstance(result, FeedForwardNetwork) and result.shape_text() == "2-2"
    elif callable(expected):
        expected(result)
    else:
        np.testing.assert_array_equal(result, np.array(expected, dtype=float), strict=True)
    TALLY["corpus", "accepted"] += 1


# ---------------------------------------------------------------- special files and limits
@pytest.fixture
def alarm():
    """Fail instead of hanging if a reader ever opens a FIFO or reads a device."""
    def on_alarm(*_):
        raise AssertionError("reader blocked on a special file")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _special_files(tmp_path: Path) -> list[tuple[Path, str]]:
    fifo = tmp_path / "fifo" / "inputs.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    zero_link = tmp_path / "zero" / "inputs.csv"
    zero_link.parent.mkdir()
    zero_link.symlink_to("/dev/zero")
    folder = tmp_path / "dir" / "inputs.csv"
    folder.mkdir(parents=True)
    loop = tmp_path / "loop" / "inputs.csv"
    loop.parent.mkdir()
    loop.symlink_to(loop)
    return [(fifo, "FIFO"), (zero_link, "character device"), (folder, "directory"), (Path("/dev/zero"), "device"),
            (loop, "cannot read")]


def test_special_files_are_refused_without_opening_them(tmp_path, alarm):
    for path, fragment in _special_files(tmp_path):
        for load in (lambda p: load_samples(p), lambda p: load_weights(p),
                     lambda p: read_regular_file(p, max_bytes=10**6, what="model.xml")):
            with pytest.raises(InputError, match=fragment) as info:
                load(path)
            assert str(path) in str(info.value)
            TALLY["special files", "refused"] += 1
        # a model folder whose manifest is a FIFO
        model = path.parent
        (model / "manifest.json").unlink(missing_ok=True)
        os.mkfifo(model / "manifest.json")
        with pytest.raises(InputError, match="FIFO"):
            load_manifest(model)
        TALLY["special files", "refused"] += 1


def test_file_size_limit_from_argument_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    path.write_text("1,2\n" * 100)
    with pytest.raises(LimitError, match="size limit of 100 bytes.*CRN2SBML_MAX_FILE_BYTES"):
        load_samples(path, max_bytes=100)
    monkeypatch.setenv("CRN2SBML_MAX_FILE_BYTES", "50")
    with pytest.raises(LimitError, match="x.csv is over the size limit of 50 bytes"):
        load_samples(path)
    monkeypatch.setenv("CRN2SBML_MAX_FILE_BYTES", "lots")
    with pytest.raises(InputError, match="CRN2SBML_MAX_FILE_BYTES='lots' is not a number"):
        load_samples(path)
    monkeypatch.setenv("CRN2SBML_MAX_FILE_BYTES", "1_000")
    assert load_samples(path).shape == (100, 2)
    assert read_regular_file(path, max_bytes=400, what="t") == path.read_bytes()


def test_cell_limit(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    path.write_text("1,2,3\n" * 10)
    assert load_samples(path, max_elements=30).shape == (10, 3)
    with pytest.raises(LimitError, match="more than 29 cells"):
        load_samples(path, max_elements=29)
    monkeypatch.setenv("CRN2SBML_MAX_ELEMENTS", "12")
    with pytest.raises(LimitError, match="CRN2SBML_MAX_ELEMENTS"):
        load_samples(path)


def test_zip_bomb_is_refused_from_its_headers_before_loading(tmp_path, monkeypatch):
    # 8 MB of zeros compress to a few kB: the same kind of file as the 780 kB 10000 x 10000 matrix,
    # scaled down (the limit with it) so that building it stays fast
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, W1=np.zeros((1000, 1000)), b1=np.zeros(1000))
    assert path.stat().st_size < 20_000

    def never(*args, **kwargs):
        raise AssertionError("an array was loaded before its header was checked")

    monkeypatch.setattr(np.lib.format, "read_array", never)
    monkeypatch.setenv("CRN2SBML_MAX_ELEMENTS", "100000")
    with pytest.raises(LimitError, match=r"bomb.npz: array 'W1': shape \(1000, 1000\).*CRN2SBML_MAX_ELEMENTS"):
        load_weights(path)
    with pytest.raises(LimitError, match="limit of 1,000 elements"):
        load_weights(path, max_elements=1000)
    monkeypatch.undo()
    assert load_weights(path, max_elements=10**6).shape_text() == "1000-1000"


def test_npy_samples_are_header_checked(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((50, 3)))
    assert load_samples(path).shape == (50, 3)
    with pytest.raises(LimitError, match="x.npy: shape \\(50, 3\\)"):
        load_samples(path, max_elements=100)
    np.save(path, np.array(["a", "b"]))
    with pytest.raises(InputError, match="must be numeric"):
        load_samples(path)


# ---------------------------------------------------------------- tables: hypothesis
NOT_A_NUMBER = st.from_regex(r"\A[ ]?[g-hj-mo-zG-HJ-MO-Z][a-z0-9;,\"'\n\t =+-]{0,5}\Z").filter(
    lambda text: text.strip() not in {f"x{i}" for i in range(1, 6)})
HOSTILE_TOKENS = st.sampled_from(["N/A", "1,5", "1_0", "--1", "1.2.3", "0x10", "=1+1", "1e", "é", "+-3", "'1"])


def _number_text(draw, value: float | int) -> str:
    form = draw(st.sampled_from(["repr", "g", "e", "pad"]))
    if isinstance(value, int) or form == "repr":
        text = repr(value)
    elif form == "g":
        text = f"{value:g}"
    elif form == "e":
        text = f"{value:.6e}"
    else:
        text = f" {value!r} "
    return text


@st.composite
def tables(draw):
    """A CSV file as a user's tool might write it, and what load_samples must make of it."""
    n_rows, n_cols = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    number = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**6, 10**6)
    cells = [[_number_text(draw, draw(number)) for _ in range(n_cols)] for _ in range(n_rows)]
    names = [f"x{i}" for i in range(1, n_cols + 1)]
    header = draw(st.sampled_from([None, "ordered", "permuted"]))
    header_cells = None if header is None else (names if header == "ordered" else draw(st.permutations(names)))
    corrupt = None
    if draw(st.booleans()):
        row, col = draw(st.integers(0, n_rows - 1)), draw(st.integers(0, n_cols - 1))
        token = draw(NOT_A_NUMBER | HOSTILE_TOKENS | (st.just("") if n_cols > 1 else st.nothing()))
        cells[row][col] = token
        corrupt = (row, col, token)
    return dict(cells=cells, names=names, header=header_cells, corrupt=corrupt,
                delimiter=draw(st.sampled_from([",", ";", "\t"])), bom=draw(st.booleans()),
                crlf=draw(st.booleans()), quote_all=draw(st.booleans()), pass_names=draw(st.booleans()),
                noise=draw(st.lists(st.tuples(st.integers(0, n_rows + 1), st.sampled_from(["", "# comment"])),
                                    max_size=3)))


def _write_table(path: Path, t: dict) -> list[int]:
    """Write the table; return the spreadsheet row number (1-based, counting every row) of each data row."""
    records: list[list[str]] = ([t["header"]] if t["header"] else []) + t["cells"]
    kinds = ["header"] * bool(t["header"]) + ["data"] * len(t["cells"])
    for position, line in sorted(t["noise"], reverse=True):
        records.insert(min(position, len(records)), [line] if line else [])
        kinds.insert(min(position, len(kinds)), "noise")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=t["delimiter"], lineterminator="\r\n" if t["crlf"] else "\n",
                        quoting=csv.QUOTE_ALL if t["quote_all"] else csv.QUOTE_MINIMAL)
    for record in records:
        if record:
            writer.writerow(record)
        else:
            buffer.write("\r\n" if t["crlf"] else "\n")
    path.write_bytes((b"\xef\xbb\xbf" if t["bom"] else b"") + buffer.getvalue().encode())
    return [i + 1 for i, kind in enumerate(kinds) if kind == "data"]


def _expected_table(t: dict) -> np.ndarray:
    x = np.array([[float(c) for c in row] for row in t["cells"]], dtype=float)
    if t["header"] and t["pass_names"]:
        x = x[:, [t["header"].index(n) for n in t["names"]]]
    return x


def _check_table_outcome(path: Path, t: dict, rows: list[int], outcome) -> None:
    if t["corrupt"] is None:
        assert not isinstance(outcome, Exception), f"a valid table was refused: {outcome}"
        np.testing.assert_array_equal(outcome, _expected_table(t), strict=True)
        return
    row, col, token = t["corrupt"]
    first_row_is_header = row == 0 and not t["header"] and len(t["names"]) == 1
    if not t["pass_names"] and (first_row_is_header or any(d in token for d in ",;\t")):
        # the documented ambiguities without the model's input names: a single-column first row that is not a
        # number reads as a header; "1,5" in a ";" file may be a valid row of a "," file
        assert isinstance(outcome, InputError | np.ndarray)
        if first_row_is_header and isinstance(outcome, np.ndarray) and outcome.shape[1] == 1:
            np.testing.assert_array_equal(outcome, np.array(t["cells"][1:], dtype=float), strict=True)
        return
    assert isinstance(outcome, InputError), f"corrupt cell {token!r} was accepted"
    if first_row_is_header:
        assert "expected the columns x1" in str(outcome)
    else:
        assert f"row {rows[row]}, column {col + 1} " in str(outcome), (str(outcome), rows, t)


@FUZZ
@given(t=tables())
def test_tables_round_trip_or_refuse_clearly(t, tmp_path):
    path = tmp_path / "inputs.csv"
    rows = _write_table(path, t)
    outcome = attempt("load_samples (random tables)", path,
                      lambda: load_samples(path, names=t["names"] if t["pass_names"] else None), lambda _: None)
    _check_table_outcome(path, t, rows, outcome)


@FUZZ
@given(data=st.binary(max_size=300) | st.text(alphabet="0123456789.,;\t\n\r\"' #-+eEx", max_size=200).map(str.encode))
def test_random_bytes_as_table(data, tmp_path):
    path = tmp_path / "inputs.csv"
    path.write_bytes(data)

    def check(x):
        assert x.dtype == float and x.ndim == 2 and x.shape[0] >= 1

    attempt("load_samples (random bytes)", path, lambda: load_samples(path, names=NAMES2), check)


# ---------------------------------------------------------------- manifests and weights: hypothesis
GOOD_MANIFEST = (CORPUS / "manifest_valid.json").read_bytes()
GOOD_WEIGHTS = (CORPUS / "valid.npz").read_bytes()
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=8)


@st.composite
def mutated(draw, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:]
    return bytes(data)


def _check_manifest(m: dict) -> None:
    ident = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    for key in ("input_species", "output_species"):
        assert m[key] and all(isinstance(s, str) and ident.fullmatch(s) for s in m[key])
    assert m["layer_species"] and all(layer and all(ident.fullmatch(s) for s in layer) for layer in m["layer_species"])
    for key in ("eps", "time_scale"):
        assert not isinstance(m[key], bool) and np.isfinite(m[key]) and m[key] > 0


SPECIES_IDS = st.lists(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,6}\Z"), min_size=1, max_size=4, unique=True)
VALID_MANIFESTS = st.fixed_dictionaries({
    "input_species": SPECIES_IDS, "output_species": SPECIES_IDS, "layer_species": st.lists(SPECIES_IDS, min_size=1,
                                                                                           max_size=3),
    "eps": st.floats(1e-300, 1e300), "time_scale": st.floats(1e-300, 1e300) | st.integers(1, 10**6)})


@FUZZ
@given(m=VALID_MANIFESTS, bom=st.booleans(), indent=st.sampled_from([None, 2]))
def test_valid_manifests_come_back_unchanged(m, bom, indent, tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"\xef\xbb\xbf" * bom + json.dumps(m, indent=indent).encode())
    outcome = attempt("load_manifest (valid)", tmp_path / "manifest.json", lambda: load_manifest(tmp_path),
                      _check_manifest)
    assert outcome == m


@FUZZ
@given(data=st.binary(max_size=200) | mutated(GOOD_MANIFEST)
       | st.fixed_dictionaries({"input_species": JSON_VALUES | st.just(NAMES2),
                                "output_species": st.just(["y1"]) | JSON_VALUES,
                                "layer_species": st.just([["y1"]]) | JSON_VALUES,
                                "eps": JSON_VALUES | st.floats(), "time_scale": JSON_VALUES | st.floats()},
                               optional={"weights_sha256": JSON_VALUES}).map(lambda d: json.dumps(d).encode()))
def test_manifests(data, tmp_path):
    (tmp_path / "manifest.json").write_bytes(data)
    attempt("load_manifest", tmp_path / "manifest.json", lambda: load_manifest(tmp_path), _check_manifest)


ARRAY_NAMES = st.sampled_from(["W1", "b1", "W2", "b2", "eps", "activation_terms", "activation_name", "junk"])
ARRAYS = hnp.arrays(dtype=hnp.scalar_dtypes() | hnp.unicode_string_dtypes(max_len=4),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))


def _savez(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def valid_weights(draw) -> dict[str, np.ndarray]:
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    finite = st.floats(-100, 100, allow_nan=False)
    arrays = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        arrays[f"W{i}"] = draw(hnp.arrays(np.float64, (n_out, n_in), elements=finite))
        arrays[f"b{i}"] = draw(hnp.arrays(np.float64, (n_out,), elements=finite))
    arrays["eps"] = np.array(draw(st.floats(1e-3, 1.0)))
    return arrays


@FUZZ
@given(data=st.binary(max_size=300) | mutated(GOOD_WEIGHTS)
       | st.dictionaries(ARRAY_NAMES, ARRAYS, max_size=5).map(_savez) | valid_weights())
def test_weights(data, tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(_savez(data) if isinstance(data, dict) else data)

    def check(network):
        assert isinstance(network, FeedForwardNetwork)
        assert all(np.all(np.isfinite(layer.weights)) for layer in network.layers)
        if isinstance(data, dict):  # a valid network must come back exactly
            for i, layer in enumerate(network.layers, start=1):
                np.testing.assert_array_equal(layer.weights, data[f"W{i}"], strict=True)
                np.testing.assert_array_equal(layer.bias, data[f"b{i}"], strict=True)
            assert network.eps == float(data["eps"])
        elif network.shape_text() == "2-2":  # a mutated copy of valid.npz passes only with intact arrays (CRC)
            np.testing.assert_array_equal(network.layers[0].weights, [[1.0, -0.5], [0.25, 2.0]])
            np.testing.assert_array_equal(network.layers[0].bias, [0.1, 0.0])

    outcome = attempt("load_weights", path, lambda: load_weights(path), check)
    if isinstance(data, dict):
        assert isinstance(outcome, FeedForwardNetwork), outcome


def test_unmutated_weights_round_trip(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(GOOD_WEIGHTS)
    network = load_weights(path)
    np.testing.assert_array_equal(network.layers[0].weights, [[1.0, -0.5], [0.25, 2.0]])


# ---------------------------------------------------------------- outputs: failures injected everywhere
OLD = {"model.xml": b"<old/>", "model.cps": b"old copasi", "manifest.json": b"{}", "README.md": b"notes"}
NEW = {"model.xml": "<new/>", "model.ant": "model new()", "weights.npz": b"PK\x03\x04", "manifest.json": "{}\n"}


def _old_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "out" / "model"
    folder.mkdir(parents=True)
    for name, data in OLD.items():
        (folder / name).write_bytes(data)
    return folder


def _count_calls(monkeypatch, target, name: str, run: Callable) -> int:
    calls = []
    real = getattr(target, name)
    monkeypatch.setattr(target, name, lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    run()
    monkeypatch.setattr(target, name, real)
    return len(calls)


def _fail_at(monkeypatch, target, name: str, k: int, error: BaseException) -> None:
    """Make the k-th call (1-based) of ``target.name`` raise ``error``."""
    calls = []
    real = getattr(target, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == k:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


INJECTION_POINTS = [(os, "fsync"), (os, "rename"), (os, "chmod"), (shutil, "copy2"), (cio.tempfile, "mkdtemp")]
ERRORS = [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), KeyboardInterrupt()]


@pytest.mark.parametrize("target,name", INJECTION_POINTS, ids=[n for _, n in INJECTION_POINTS])
@pytest.mark.parametrize("error", ERRORS, ids=["ENOSPC", "KeyboardInterrupt"])
def test_commit_folder_survives_a_failure_at_every_step(tmp_path, monkeypatch, target, name, error):
    folder = _old_folder(tmp_path)
    before = snapshot(tmp_path / "out")
    # how often a successful replacement of the same folder calls the function
    n_calls = _count_calls(monkeypatch, target, name, lambda: commit_folder(_old_folder(tmp_path / "probe"), NEW))
    assert n_calls >= 1
    for k in range(1, n_calls + 2):  # also one call past the end: a run that swaps an existing folder calls more
        _fail_at(monkeypatch, target, name, k, error)
        try:
            commit_folder(folder, NEW)
        except (InputError, KeyboardInterrupt) as exc:
            monkeypatch.undo()
            assert isinstance(exc, type(error)) or "No space left on device" in str(exc)
            assert snapshot(tmp_path / "out") == before, f"failure at {name} call {k} changed the old folder"
            TALLY["commit_folder injected failures", "refused"] += 1
        else:
            monkeypatch.undo()
            _assert_new_folder(folder)
            _old_folder_again(folder)
            TALLY["commit_folder injected failures", "accepted"] += 1


def _old_folder_again(folder: Path) -> None:
    shutil.rmtree(folder)
    _old_folder(folder.parent.parent)


def _assert_new_folder(folder: Path) -> None:
    assert sorted(os.listdir(folder)) == sorted([*NEW, "README.md"])  # stale model.cps gone, README carried
    assert (folder / "model.xml").read_text() == "<new/>"
    assert (folder / "README.md").read_bytes() == b"notes"
    assert [p.name for p in folder.parent.iterdir()] == ["model"]  # no staging or trash folders left


def test_commit_folder_replaces_and_refuses(tmp_path, monkeypatch):
    folder = _old_folder(tmp_path)
    written = commit_folder(folder, NEW)
    _assert_new_folder(folder)
    assert written == {name: folder / name for name in NEW}
    (folder / "my_notes.txt").write_text("mine")
    (folder / "runs").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=r"holds files crn2sbml did not write \(my_notes.txt, runs\)"):
        commit_folder(folder, NEW)
    assert snapshot(tmp_path) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        commit_folder(tmp_path / "file", NEW)
    with pytest.raises(InputError, match="not a plain file name"):
        commit_folder(tmp_path / "new", {"../escape": "x"})
    monkeypatch.chdir(folder)
    with pytest.raises(InputError, match="current folder"):
        commit_folder(".", NEW)


def test_commit_folder_keeps_a_file_added_while_it_staged(tmp_path, monkeypatch):
    folder = _old_folder(tmp_path)
    real_fill = cio._fill

    def fill_then_user_saves(*args, **kwargs):
        real_fill(*args, **kwargs)
        (folder / "analysis.ipynb").write_text("hours of work")

    monkeypatch.setattr(cio, "_fill", fill_then_user_saves)
    with pytest.raises(InputError, match=r"did not write \(analysis.ipynb\)"):
        commit_folder(folder, NEW)
    assert (folder / "analysis.ipynb").read_text() == "hours of work"
    assert (folder / "model.cps").read_bytes() == OLD["model.cps"]
    assert [p.name for p in folder.parent.iterdir()] == ["model"]


def test_commit_folder_through_a_symlinked_folder(tmp_path):
    real = _old_folder(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real)
    commit_folder(link, NEW)
    assert link.is_symlink() and (real / "model.xml").read_text() == "<new/>"


@pytest.mark.parametrize("target,name", [(os, "fsync"), (os, "replace"), (os, "chmod"), (cio.tempfile, "mkstemp")])
@pytest.mark.parametrize("error", ERRORS, ids=["ENOSPC", "KeyboardInterrupt"])
def test_write_atomic_and_write_files_atomic_survive_failures(tmp_path, monkeypatch, target, name, error):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"]
    for path in paths[:2]:
        path.write_text(f"old {path.name}")
    before = snapshot(tmp_path)
    for k in range(1, 5):
        for run in (lambda: write_atomic(paths[0], "new"), lambda: write_files_atomic({p: "new" for p in paths})):
            _fail_at(monkeypatch, target, name, k, error)
            try:
                run()
            except (InputError, KeyboardInterrupt) as exc:
                monkeypatch.undo()
                assert isinstance(exc, type(error)) or ("No space left on device" in str(exc) and "a.csv" in str(exc)
                                                        or "b.csv" in str(exc) or "c.csv" in str(exc))
                assert snapshot(tmp_path) == before
                TALLY["write_atomic injected failures", "refused"] += 1
            else:
                monkeypatch.undo()
                assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
                for path in paths[:2]:
                    path.write_text(f"old {path.name}")
                paths[2].unlink(missing_ok=True)
                TALLY["write_atomic injected failures", "accepted"] += 1


def test_write_atomic_refuses_special_targets(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "target").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    for name, fragment in [("fifo", "FIFO"), ("dir", "a directory"), ("link", "symbolic link")]:
        with pytest.raises(InputError, match=f"cannot write {re.escape(str(tmp_path / name))}: .*{fragment}"):
            write_atomic(tmp_path / name, "x")
    assert (tmp_path / "target").read_text() == "keep" and (tmp_path / "link").is_symlink()
    with pytest.raises(InputError, match="cannot write /dev/null: it is a character device"):
        write_atomic("/dev/null", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo", "link", "target"]


def test_check_output_not_input(tmp_path, monkeypatch):
    source = tmp_path / "m.onnx"
    source.write_bytes(b"onnx")
    (tmp_path / "hard").hardlink_to(source)
    (tmp_path / "soft").symlink_to(source)
    monkeypatch.chdir(tmp_path)
    for out in ("m.onnx", "./sub/../m.onnx", tmp_path / "hard", "soft"):
        if out == "./sub/../m.onnx":
            (tmp_path / "sub").mkdir()
        with pytest.raises(InputError, match="would destroy the input"):
            check_output_not_input(out, "other.csv", source)
    check_output_not_input("w.npz", source, None)


def test_output_csv_is_quoted_and_formula_safe(tmp_path):
    path = save_table_csv(tmp_path / "out.csv", ["=HYPERLINK(\"x\")", "a,b", "@SUM(1)", "y1"], np.ones((2, 4)))
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["'=HYPERLINK(\"x\")", "a,b", "'@SUM(1)", "y1"]
    assert rows[1] == ["1.0"] * 4
    assert load_samples(path).shape == (2, 4)  # the header is recognised again, the data round-trips


def test_samples_from_a_zip_named_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "inputs.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "1,2")
    with pytest.raises(InputError, match="inputs.csv"):
        load_samples(path)
