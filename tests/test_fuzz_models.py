"""Hostile and careless models and options: refused with a clear message, never a crash, hang or leak.

* A corpus of hostile SBML texts (``tests/fuzz_corpus/models/``: billion laughs, external entities, a URL or a
  path as the content, passwd-like text, truncated XML, SBML Level 2, the comp package, a model missing
  species, a tampered rate constant, ...) goes through ``check_model_matches``, both SBML simulators and
  ``crn2sbml simulate``. libRoadRunner and COPASI run in a child process (``subprocess`` with
  ``sys.executable``), so a segfault fails the test instead of ending the run; the child names each case on
  stderr before running it.
* Hypothesis property tests over the option checks, the input checks and the CLI's simulate / compile / train
  argument parsing (``crn2sbml.cli.main([...])`` must return 1 with a message on stderr, never raise). Only
  inputs that are refused before any simulator starts are fed to the CLI in this process.

The number of cases tried, refused with a clear message and accepted correctly is printed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crn2sbml.cli import main
from crn2sbml.errors import InputError
from crn2sbml.validate import inputs as checks

CORPUS = Path(__file__).parent / "fuzz_corpus" / "models"
ROOT = Path(__file__).parent.parent
X = np.array([[0.7, 0.3]])
"""The sample every accepted model settles in the child process."""

SECRETS = ("root:x:0:0", "daemon:x:1:1", "/bin/bash")
"""Text of passwd-like files that no message may echo."""

EXPECTED: dict[str, tuple[str, str] | None] = {
    # corpus file: (error type, phrase every refusal of it contains), or None when the model is accepted
    "billion_laughs.xml": ("ModelFileError", "<!DOCTYPE>"),
    "external_entity.xml": ("ModelFileError", "<!DOCTYPE>"),
    "parameter_entity_url.xml": ("ModelFileError", "<!DOCTYPE>"),
    "comp_external.xml": ("ModelFileError", "SBML package"),
    "url.xml": ("ModelFileError", "is not XML"),
    "path.xml": ("ModelFileError", "is not XML"),
    "relative_path.xml": ("ModelFileError", "is not XML"),
    "passwd_like.xml": ("ModelFileError", "is not XML"),
    "empty.xml": ("ModelFileError", "is empty"),
    "nul_byte.xml": ("ModelFileError", "NUL character"),
    "utf16.xml": ("ModelFileError", "not UTF-8"),
    "not_sbml.xml": ("ModelFileError", "not valid SBML"),
    "truncated.xml": ("ModelFileError", "not valid SBML"),
    "sbml_l2.xml": ("ModelFileError", "Level 2"),
    "missing_species.xml": ("ModelMismatchError", "not in the SBML model"),
    "xinclude.xml": ("ModelMismatchError", "not in the SBML model"),
    "inputs_not_boundary.xml": ("ModelMismatchError", "not boundary"),
    "minimal.xml": None,  # the honest model of the tiny network, written by hand
    "tampered_rate.xml": None,  # valid SBML, but the inflow rate is 100x the network's eps
}

TALLY: Counter[str] = Counter()
"""``tried``, ``refused`` (with a clear message), ``accepted`` (and right): printed at the end of the module."""

FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def tiny_network():
    """The network the corpus models describe: y = σ_0.1(x1 - 0.5 x2 + 0.25)."""
    from crn2sbml.nn.network import FeedForwardNetwork

    return FeedForwardNetwork.from_arrays([(np.array([[1.0, -0.5]]), np.array([0.25]))], eps=0.1)


def seal(folder: Path) -> None:
    """Record the files' SHA-256 digests in manifest.json, as ``crn2sbml compile`` does."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files_sha256"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                for p in sorted(folder.iterdir()) if p.is_file() and p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` with stdout and stderr captured: (exit code, stderr). An exception fails the caller."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals (a value of the wrong type) exit with 2
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def clear_refusal(code: int, stderr: str, *words: str) -> bool:
    """Exit code 1, one 'error:' line naming ``words``, no traceback, no leaked file content."""
    ok = (code == 1 and "error:" in stderr and "Traceback" not in stderr
          and all(w.lower() in stderr.lower() for w in words) and not any(s in stderr for s in SECRETS))
    TALLY["tried"] += 1
    TALLY["refused" if ok else "bad"] += 1
    return ok


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    line = (f"fuzz: {TALLY['tried']} cases tried, {TALLY['refused']} refused with a clear message, "
            f"{TALLY['accepted']} accepted correctly, {TALLY['bad']} wrong")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{line}")


@pytest.fixture(scope="module")
def honest_folder(tmp_path_factory) -> Path:
    """``crn2sbml compile`` output for the tiny network, digests recorded."""
    from crn2sbml.io import save_weights

    base = tmp_path_factory.mktemp("honest")
    save_weights(base / "w.npz", tiny_network())
    code, err = run_cli(["compile", str(base / "w.npz"), "--out", str(base / "model")])
    assert code == 0, err
    seal(base / "model")
    np.save(base / "x.npy", X)
    return base / "model"


# --------------------------------------------------------------------------------------------------------
# The corpus, through both SBML simulators and the CLI, in a child process
# --------------------------------------------------------------------------------------------------------
def _outcome(call) -> dict:
    try:
        value = call()
    except Exception as exc:  # every exception comes back to the parent, which decides what is acceptable
        return {"error": type(exc).__name__, "input_error": isinstance(exc, InputError), "message": str(exc)}
    return {"value": value}


def _settle_roadrunner(text, compiled) -> list:
    from crn2sbml.simulate import roadrunner_simulator

    sim = roadrunner_simulator(compiled, encoding="elementary", sbml=text)
    return sim.settle(X).require_converged().outputs.tolist()


def _settle_copasi(text, compiled) -> list:
    from crn2sbml.simulate.copasi import CopasiSimulator

    with CopasiSimulator.from_compiled(compiled, sbml=text) as sim:
        return sim.settle(X).require_converged().outputs.tolist()


def _cli_case(folder: Path, model: Path, work: Path, trust: bool) -> dict:
    """``crn2sbml simulate`` on a copy of ``folder`` whose model.xml is ``model`` (a symlink is kept)."""
    target = work / f"{model.name}-{'trusted' if trust else 'plain'}"
    shutil.copytree(folder, target)
    (target / "model.xml").unlink()
    if model.is_symlink():
        (target / "model.xml").symlink_to(os.readlink(model))
    else:
        shutil.copyfile(model, target / "model.xml")
    out = target / "out.csv"
    argv = ["simulate", str(target), "--inputs", str(folder.parent / "x.npy"), "--out", str(out),
            "--encoding", "elementary", "-q", *(["--trust-modified"] if trust else [])]
    code, stderr = run_cli(argv)
    table = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2).tolist() if out.exists() else None
    return {"code": code, "stderr": stderr, "table": table}


def _child_main() -> None:
    """Run by the child: every case of the job on stdin; JSON results on stdout, progress on stderr."""
    from crn2sbml.compiler import compile_network

    job = json.loads(sys.stdin.read())
    compiled = compile_network(tiny_network())
    work = Path(job["work"])
    results = {}
    for name, path in job["cases"].items():
        print(f"fuzz child: case {name}", file=sys.stderr, flush=True)
        model = Path(path)
        data = model.read_bytes()
        text = data.decode("utf-8", errors="surrogateescape")  # the API takes text; odd bytes stay odd
        results[name] = {
            "check": _outcome(lambda d=data: checks.check_model_matches(d, ["x1", "x2"], ["y1"], ["y1"])),
            "roadrunner": _outcome(lambda t=text: _settle_roadrunner(t, compiled)),
            "copasi": _outcome(lambda t=text: _settle_copasi(t, compiled)),
            "cli": _cli_case(Path(job["folder"]), model, work, trust=False),
            "cli_trusted": _cli_case(Path(job["folder"]), model, work, trust=True),
        }
    print(json.dumps(results))


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Serves a valid model and counts requests: a model.xml holding this URL must never fetch it."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        body = (CORPUS / "minimal.xml").read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def corpus_results(honest_folder, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("fuzz")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cases = {p.name: str(p) for p in sorted(CORPUS.glob("*.xml"))}
        live = work / "live_url.xml"
        live.write_text(f"http://127.0.0.1:{server.server_address[1]}/x.xml")
        cases["live_url.xml"] = str(live)
        link = work / "symlink_to_passwd.xml"
        secret = Path("/etc/passwd") if Path("/etc/passwd").is_file() else CORPUS / "passwd_like.xml"
        link.symlink_to(secret)
        cases["symlink_to_passwd.xml"] = str(link)
        job = {"cases": cases, "folder": str(honest_folder), "work": str(work / "runs")}
        (work / "runs").mkdir()
        env = {**os.environ, "CRN2SBML_CACHE": str(work / "cache")}
        child = subprocess.run([sys.executable, "-c", "from tests.test_fuzz_models import _child_main; _child_main()"],
                               input=json.dumps(job), capture_output=True, text=True, cwd=ROOT, env=env, timeout=240)
        last = [line for line in child.stderr.splitlines() if line.startswith("fuzz child: case")][-1:]
        assert child.returncode == 0, f"child died (exit {child.returncode}) at {last}: {child.stderr[-2000:]}"
        results = json.loads(child.stdout.splitlines()[-1])
        results["live_url.xml"]["requests"] = list(_Recorder.requests)
        return results
    finally:
        server.shutdown()
        server.server_close()


def _expected(name: str) -> tuple[str, str] | None:
    if name == "live_url.xml":
        return ("ModelFileError", "is not XML")
    if name == "symlink_to_passwd.xml":
        return ("ModelFileError", "is not XML") if Path("/etc/passwd").is_file() else EXPECTED["passwd_like.xml"]
    return EXPECTED[name]


def _refused(outcome: dict, error: str, phrase: str) -> bool:
    ok = (outcome.get("input_error") and outcome.get("error") in (error, "ModelMismatchError", "ModelFileError")
          and phrase in outcome["message"] and not any(s in outcome["message"] for s in SECRETS))
    TALLY["tried"] += 1
    TALLY["refused" if ok else "bad"] += 1
    return bool(ok)


def _accepted(ok: bool) -> bool:
    TALLY["tried"] += 1
    TALLY["accepted" if ok else "bad"] += 1
    return ok


def test_the_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.glob("*.xml")) == sorted(EXPECTED)
    assert all(p.stat().st_size < 8000 for p in CORPUS.iterdir())  # kept small


@pytest.mark.parametrize("name", [*EXPECTED, "live_url.xml", "symlink_to_passwd.xml"])
def test_hostile_models_are_refused_by_the_api(name, corpus_results):
    result, expected = corpus_results[name], _expected(name)
    if expected is None:
        return  # see test_honest_and_tampered_models
    error, phrase = expected
    for where in ("check", "roadrunner", "copasi"):
        assert _refused(result[where], error, phrase), (where, result[where])
    if name == "live_url.xml":
        assert result["requests"] == [], "the URL in model.xml was fetched"


@pytest.mark.parametrize("name", [*EXPECTED, "live_url.xml", "symlink_to_passwd.xml"])
def test_hostile_models_are_refused_by_the_cli(name, corpus_results):
    result, expected = corpus_results[name], _expected(name)
    # whatever the content, a model.xml that is not the compiled one does not match the manifest's digest
    plain = result["cli"]
    assert clear_refusal(plain["code"], plain["stderr"], "model.xml", "SHA-256", "--trust-modified"), plain
    assert plain["table"] is None
    trusted = result["cli_trusted"]
    assert "warning" in trusted["stderr"] and "model.xml" in trusted["stderr"]
    if expected is not None:
        assert clear_refusal(trusted["code"], trusted["stderr"], expected[1]), trusted
        assert trusted["table"] is None


def test_honest_and_tampered_models(corpus_results):
    forward = tiny_network().forward(X)
    honest, tampered = corpus_results["minimal.xml"], corpus_results["tampered_rate.xml"]
    for where in ("roadrunner", "copasi"):
        assert _accepted("value" in honest[where] and np.allclose(honest[where]["value"], forward, rtol=1e-6))
        # the API simulates what it is given: a valid model of another network settles, to another value
        assert _accepted("value" in tampered[where] and not np.allclose(tampered[where]["value"], forward, rtol=1e-2))
    assert _accepted(honest["check"] == {"value": None} and tampered["check"] == {"value": None})
    # with --trust-modified the CLI simulates the modified file (after a warning) and reports what it settled to
    assert _accepted(honest["cli_trusted"]["code"] == 0 and np.allclose(honest["cli_trusted"]["table"][0][0],
                                                                          forward[0, 0], rtol=1e-6))
    assert _accepted(tampered["cli_trusted"]["code"] == 0)


def test_a_manifest_without_digests_or_with_a_bad_time_scale_is_refused(honest_folder, tmp_path):
    manifest = json.loads((honest_folder / "manifest.json").read_text())
    x = str(honest_folder.parent / "x.npy")
    cases = {
        "no digests": ({k: v for k, v in manifest.items() if k != "files_sha256"}, "recompile"),
        "digest of another file": ({**manifest, "files_sha256": {**manifest["files_sha256"],
                                                                 "weights.npz": "0" * 64}}, "weights.npz"),
        "time scale text": ({**manifest, "time_scale": "abc"}, "time_scale"),
        "time scale 0": ({**manifest, "time_scale": 0}, "time_scale"),
        "time scale too large": ({**manifest, "time_scale": 1e300}, "CRN2SBML_MAX_TIME_SCALE"),
        "time scale NaN": ({**manifest, "time_scale": float("nan")}, "time_scale"),
    }
    for case, (content, phrase) in cases.items():
        folder = tmp_path / case.replace(" ", "_")
        shutil.copytree(honest_folder, folder)
        (folder / "manifest.json").write_text(json.dumps(content))
        code, err = run_cli(["simulate", str(folder), "--inputs", x, "-q"])
        assert clear_refusal(code, err, phrase), (case, err)


# --------------------------------------------------------------------------------------------------------
# Property tests over the checks (pure, in this process)
# --------------------------------------------------------------------------------------------------------
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e-300, 1e300, 5e-13, 2e6])


def _tally_check(call, valid: bool, *words: str) -> None:
    TALLY["tried"] += 1
    try:
        call()
    except InputError as exc:
        assert not valid, f"refused a valid value: {exc}"
        assert all(w in str(exc) for w in words), str(exc)
        TALLY["refused"] += 1
        return
    assert valid, "accepted an invalid value"
    TALLY["accepted"] += 1


@FAST
@given(value=ANY_FLOAT, name=st.sampled_from(["tolerance", "max_time", "learning_rate"]))
def test_positive_options(value, name):
    _tally_check(lambda: checks.check_options(**{name: value}), math.isfinite(value) and value > 0,
                 name.replace("_", " "))


@FAST
@given(value=ANY_FLOAT, name=st.sampled_from(["eps", "time_scale"]))
def test_ranged_options(value, name):
    low, high = (checks.MIN_EPS, checks.MAX_EPS) if name == "eps" else (checks.MIN_TIME_SCALE, checks.MAX_TIME_SCALE)
    _tally_check(lambda: checks.check_options(**{name: value}), math.isfinite(value) and low <= value <= high,
                 name.replace("_", " "))


@FAST
@given(value=st.integers(-(2**40), 2**40) | st.sampled_from([True, 1.5, "3", None]),
       name=st.sampled_from(["epochs", "batch_size", "seed"]))
def test_integer_options(value, name):
    if value is None:
        return
    integer = isinstance(value, int) and not isinstance(value, bool)
    valid = integer and (0 <= value < 2**32 if name == "seed" else value >= 1)
    _tally_check(lambda: checks.check_options(**{name: value}), valid, name.replace("_", " "))


@FAST
@given(hidden=st.lists(st.integers(-5, 2 * checks.MAX_WIDTH), max_size=4))
def test_hidden_sizes(hidden):
    _tally_check(lambda: checks.check_options(hidden=hidden), all(1 <= h <= checks.MAX_WIDTH for h in hidden),
                 "hidden layer")


@FAST
@given(labels=st.lists(st.integers(0, 1500) | st.just(10**9), min_size=1, max_size=30))
def test_labels(labels):
    y = np.array(labels, dtype=np.int64)
    counts = np.bincount(y) if y.max() < 10**6 else None
    n_test = math.ceil(0.2 * y.size)
    n_classes = np.unique(y).size
    valid = (y.max() + 1 <= checks.MAX_CLASSES and counts is not None and counts[counts > 0].min() >= 2
             and min(n_test, y.size - n_test) >= n_classes)
    _tally_check(lambda: checks.check_labels(y, where="labels.csv", test_fraction=0.2), valid, "labels.csv")


@FAST
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                    elements=st.floats(allow_nan=True, allow_infinity=True) | st.just(-1e-300)))
def test_input_arrays(x):
    shape_ok = (x.ndim == 1 and x.shape[0] == 3) or (x.ndim == 2 and x.shape[1] == 3)
    valid = shape_ok and bool(np.all(np.isfinite(x)) and np.all(x >= 0))
    _tally_check(lambda: checks.check_inputs(x, 3, where="x.csv"), valid, "x.csv")


@FAST
@given(text=st.text(max_size=200) | st.builds(lambda a, b: a + b, st.sampled_from(
    ["<", "<?xml version='1.0'?>", "\ufeff  <sbml", "<!DOCTYPE", "<sbml xmlns='http://www.sbml.org/sbml/level3/"
     "version2/core' level='3' version='2'>"]), st.text(max_size=100)))
def test_sbml_text_is_refused_or_a_checked_document(text):
    TALLY["tried"] += 1
    try:
        checked = checks.check_sbml_text(text, where="model.xml")
    except InputError as exc:
        assert str(exc).startswith("model.xml: ")
        TALLY["refused"] += 1
        return
    assert checked.startswith("<") and "<!DOCTYPE" not in checked.upper()
    TALLY["accepted"] += 1


@FAST
@given(powers=st.lists(st.integers(0, 3000) | st.sampled_from([1e9, 1e300, float("inf"), float("nan"), -1.0, 2.5]),
                       min_size=1, max_size=4))
def test_activation_powers_are_limited_before_any_polynomial(powers):
    valid = all(math.isfinite(p) and p == int(p) and 0 <= p <= checks.MAX_DEGREE for p in powers)
    _tally_check(lambda: checks.check_activation_powers(powers, where="activation_terms"), valid, "activation_terms")


# --------------------------------------------------------------------------------------------------------
# The CLI's argument handling (every case here is refused before any simulator or training starts)
# --------------------------------------------------------------------------------------------------------
BAD_TRAIN_OPTIONS = st.one_of(
    st.tuples(st.just("--epochs"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--batch-size"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--seed"), (st.integers(max_value=-1) | st.integers(min_value=2**32)).map(str)),
    st.tuples(st.just("--lr"), st.sampled_from(["0", "-1", "nan", "inf", "-inf", "-1e-300"])),
    st.tuples(st.just("--eps"), st.sampled_from(["0", "-0.1", "nan", "inf", "1e300", "1e-300"])),
    st.tuples(st.just("--hidden"), st.lists(st.integers(-3, 0) | st.integers(checks.MAX_WIDTH + 1, 10**12),
                                            min_size=1, max_size=3).map(lambda h: " ".join(map(str, h)))),
)
TRAIN_WORDS = {"--epochs": "epochs", "--batch-size": "batch size", "--seed": "seed", "--lr": "learning rate",
               "--eps": "eps", "--hidden": "hidden layer"}


@FAST
@given(option=BAD_TRAIN_OPTIONS)
def test_cli_train_refuses_bad_options(option, tmp_path_factory):
    flag, value = option
    out = tmp_path_factory.getbasetemp() / "never-written"
    args = [flag, *value.split()] if flag == "--hidden" else [f"{flag}={value}"]
    code, err = run_cli(["train", "--dataset", "xor", "--out", str(out), *args])
    assert clear_refusal(code, err, TRAIN_WORDS[flag]), err
    assert not out.exists()


@FAST
@given(labels=st.sampled_from(["huge", "singleton", "too few"]), n=st.integers(5, 12), seed=st.integers(0, 99))
def test_cli_train_refuses_bad_labels(labels, n, seed, tmp_path_factory):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    if labels == "huge":
        y[rng.integers(y.size)] = 10**9  # would mean 10^9 output neurons
    elif labels == "singleton":
        y[-1] = 2
    else:
        y = np.arange(y.size) // 2  # n classes of 2: the 20 % test part cannot hold one of each
    csv = tmp_path_factory.getbasetemp() / f"labels-{labels}-{n}-{seed}.csv"
    csv.write_text("".join(f"{rng.uniform():.3f},{rng.uniform():.3f},{label}\n" for label in y))
    code, err = run_cli(["train", "--csv", str(csv), "--out", str(csv.with_suffix(".out"))])
    words = {"huge": "CRN2SBML_MAX_CLASSES", "singleton": "single sample", "too few": "too few"}[labels]
    assert clear_refusal(code, err, csv.name, words), err


@FAST
@given(tolerance=st.sampled_from(["0", "-1", "nan", "inf", "-inf", "-1e-300", "-0"]))
def test_cli_simulate_refuses_bad_tolerance(tolerance, honest_folder):
    x = str(honest_folder.parent / "x.npy")
    code, err = run_cli(["simulate", str(honest_folder), "--inputs", x, f"--tolerance={tolerance}", "-q"])
    assert clear_refusal(code, err, "tolerance"), err


@FAST
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 4)),
                    elements=st.floats(-10, 10) | st.sampled_from([float("nan"), float("inf"), -1e-300])))
def test_cli_simulate_refuses_bad_inputs(x, honest_folder, tmp_path_factory):
    assume(x.shape[1] != 2 or not np.all(np.isfinite(x)) or np.any(x < 0))  # valid inputs would start a simulator
    path = tmp_path_factory.getbasetemp() / "bad-inputs.npy"
    np.save(path, x)
    out = path.with_suffix(".out.csv")
    code, err = run_cli(["simulate", str(honest_folder), "--inputs", str(path), "--out", str(out), "-q"])
    assert clear_refusal(code, err, "bad-inputs.npy"), err
    assert not out.exists()


@FAST
@given(rows=st.integers(0, 3), cols=st.integers(0, 3), scale=st.sampled_from([1.0, 1e6, 2e6, 1e300]),
       eps=st.sampled_from([None, 0.1, 1e-13, 1e7, 1e300]),
       power=st.sampled_from([None, 2, 3, 8, 9, 2000, 1e9, float("inf")]))
def test_cli_compile_refuses_hostile_weights(rows, cols, scale, eps, power, tmp_path_factory):
    base = tmp_path_factory.mktemp("npz")
    w = np.full((rows, cols), -scale)
    arrays = {"W1": w, "b1": np.full(rows, 0.5)}
    if eps is not None:
        arrays["eps"] = np.array(eps)
    if power is not None:
        arrays["activation_terms"] = np.array([[0, eps or 0.1, 0], [1, 0, 1], [power, -1, 0]], dtype=float)
    np.savez(base / "w.npz", **arrays)
    valid = (rows >= 1 and cols >= 1 and scale <= checks.MAX_WEIGHT
             and (eps is None or checks.MIN_EPS <= eps <= checks.MAX_EPS)
             and (power is None or power in (2, 3, 8)))
    code, err = run_cli(["compile", str(base / "w.npz"), "--out", str(base / "model")])
    if valid:
        TALLY["tried"] += 1
        TALLY["accepted" if code == 0 else "bad"] += 1
        assert code == 0, err
    else:
        assert clear_refusal(code, err, "w.npz"), err
        assert not (base / "model").exists()
