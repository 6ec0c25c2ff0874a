"""The input boundary: every check on what users hand crn2sbml, before any of it reaches a solver.

One function per kind of input:

* :func:`check_sbml_text` — SBML text before libSBML, libRoadRunner or COPASI parse it for real;
* :func:`check_model_matches` — the SBML model is the one the manifest describes;
* :func:`check_inputs` — input concentrations (samples) for a network or a simulator;
* :func:`check_options` — settling and training options (tolerances, epochs, learning rate, ...);
* :func:`check_labels` — class labels for training (class count, samples per class for a stratified split);
* :func:`check_network` / :func:`check_activation_powers` — network size and magnitude limits;
* :func:`check_files_sha256` — the files of a compiled model folder against the digests in its manifest.

Every message names what was wrong and where. Limits are module constants that an environment variable
``CRN2SBML_<NAME>`` overrides; a message that cites a limit names the variable that raises it.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np

from crn2sbml.errors import (
    ActivationError,
    InputError,
    IntegrityError,
    LimitError,
    ModelFileError,
    ModelMismatchError,
    NetworkError,
)

MAX_FILE_BYTES = 256 * 2**20
"""Largest SBML text accepted; the same limit (and environment variable) as every file crn2sbml reads."""

MAX_WEIGHT = 1e6
"""Largest ``|w|``, ``|b|`` and activation coefficient: rate constants beyond ~1e6·c make the ODE too stiff to
settle, and 1e300 overflows to inf inside the solvers."""

MIN_EPS, MAX_EPS = 1e-12, 1e6
"""Range of the inflow eps: below 1e-12 the slowest relaxation time ``1/(2 sqrt(eps) c)`` exceeds 5e5/c s."""

MIN_TIME_SCALE, MAX_TIME_SCALE = 1e-6, 1e6
"""Range of the time scale c (1/s) that multiplies every rate constant."""

MAX_DEGREE = 8
"""Highest power of y in an activation: checking a degree-k polynomial allocates and solves O(k) arrays, and
mass action realises ``y^k`` with k-molecular reactions that no lab builds beyond a few."""

MAX_CLASSES = 1000
"""Most classes a classifier may have: a label L means L + 1 output neurons."""

MAX_WIDTH = 10_000
"""Most neurons in a hidden layer requested for training."""

_SBML_L3_PREFIX = "http://www.sbml.org/sbml/level3/"
_CORE_URIS = {f"{_SBML_L3_PREFIX}version{v}/core" for v in (1, 2)}
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


def limit(name: str, default: float) -> float:
    """The limit ``default``, or the number in environment variable ``CRN2SBML_<name>`` when it is set."""
    variable = f"CRN2SBML_{name}"
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise InputError(f"environment variable {variable}={text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"environment variable {variable}={text!r} must be finite and > 0")
    return value


def _over(what: str, value: float, name: str, default: float, hint: str) -> LimitError:
    """LimitError for ``what`` (ending in the quantity's name) = ``value`` over limit ``CRN2SBML_<name>``."""
    return LimitError(f"{what} {value:g} is over the limit of {limit(name, default):g}; {hint}, or set the "
                      f"environment variable CRN2SBML_{name} to raise the limit")


# ---------------------------------------------------------------------------------------------------------
# SBML text
# ---------------------------------------------------------------------------------------------------------
def check_sbml_text(text: str | bytes, *, max_bytes: int | None = None, where: str = "SBML text") -> str:
    """``text`` as a checked SBML Level 3 document (leading BOM and blanks removed), or ModelFileError.

    Refused before libSBML parses anything: more than ``max_bytes`` bytes (default: crn2sbml's file limit,
    environment variable ``CRN2SBML_MAX_FILE_BYTES``), NUL characters, text that does not start with ``<``
    (libRoadRunner and COPASI read such a string as a file path or URL) and any DTD declaration (entity
    expansion). Then libSBML must read it with no error-level problem, as Level 3 core without packages (the
    comp package pulls in external model files). Only text accepted here may reach libRoadRunner or COPASI.
    """
    return _checked(text, max_bytes, where)[0]


def _checked(text: str | bytes, max_bytes: int | None, where: str):
    """The checks of :func:`check_sbml_text`: the normalised text and its libSBML document."""
    data = _as_utf8(text, where)
    cap = max_bytes if max_bytes is not None else int(limit("MAX_FILE_BYTES", MAX_FILE_BYTES))
    if len(data) > cap:
        raise LimitError(f"{where}: {len(data):,} bytes is over the limit of {cap:,} bytes; set the environment "
                         "variable CRN2SBML_MAX_FILE_BYTES (API: max_bytes=) to raise the limit")
    nul = data.find(b"\0")
    if nul >= 0:
        raise ModelFileError(f"{where}: contains a NUL character at byte {nul}; SBML is text")
    stripped = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    skipped_lines = data.count(b"\n", 0, len(data) - len(stripped))  # so messages cite the file's line numbers
    data = stripped
    if not data:
        raise ModelFileError(f"{where}: is empty")
    if not data.startswith(b"<"):
        raise ModelFileError(
            f"{where}: is not XML (its first non-blank character is not '<'). libRoadRunner and COPASI read "
            "such text as a file path or URL, so it is refused: pass the SBML document itself")
    found = _DTD.search(data)
    if found:
        line = data.count(b"\n", 0, found.start()) + 1 + skipped_lines
        raise ModelFileError(
            f"{where}: line {line} declares a <!{found.group(1).decode().upper()}>; DTD and entity declarations "
            "are refused (entity expansion can exhaust memory or read other files) and SBML never needs them")
    normalised = data.decode("utf-8")
    return normalised, _parse(normalised, where, skipped_lines)


def _as_utf8(text: str | bytes, where: str) -> bytes:
    if isinstance(text, bytes | bytearray):
        try:
            bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFileError(f"{where}: not UTF-8 text (byte {exc.start}); save the model as UTF-8") from None
        return bytes(text)
    if not isinstance(text, str):
        raise ModelFileError(f"{where}: expected SBML text (str or bytes), got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ModelFileError(f"{where}: not UTF-8 text (character {exc.start} cannot be encoded); save the "
                             "model as UTF-8") from None


def _parse(text: str, where: str, skipped_lines: int):
    """The libSBML document of checked text; ModelFileError for read errors, non-L3 or SBML packages."""
    import libsbml

    doc = libsbml.readSBMLFromString(text)
    problems = [doc.getError(i) for i in range(doc.getNumErrors())
                if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelFileError(f"{where}: not valid SBML: line {first.getLine() + skipped_lines}: "
                             f"{' '.join(first.getMessage().split())[:300]}{more}")
    if doc.getLevel() != 3:
        raise ModelFileError(f"{where}: is SBML Level {doc.getLevel()} Version {doc.getVersion()}; crn2sbml "
                             "simulates SBML Level 3 only (recompile the model, or convert it with libSBML)")
    namespaces = doc.getNamespaces()
    packages = sorted({namespaces.getURI(i) for i in range(namespaces.getNumNamespaces())
                       if namespaces.getURI(i).startswith(_SBML_L3_PREFIX)} - _CORE_URIS)
    if packages:
        raise ModelFileError(f"{where}: uses SBML package(s) {', '.join(packages)}; only SBML Level 3 core is "
                             "accepted (packages such as comp load external model files or URLs)")
    if doc.getModel() is None:
        raise ModelFileError(f"{where}: the SBML document has no <model>")
    return doc


def check_model_matches(sbml_text: str | bytes, input_species: Sequence[str], neuron_species: Sequence[str],
                        output_species: Sequence[str], *, where: str = "SBML model") -> None:
    """Raise ModelMismatchError unless ``sbml_text`` (checked with :func:`check_sbml_text`) is the model the
    manifest describes: every named species exists, inputs are boundary species, neurons are not (nor
    constant), outputs are neurons."""
    inputs = _species_list(input_species, "input species", where)
    neurons = _species_list(neuron_species, "neuron species", where)
    outputs = _species_list(output_species, "output species", where)
    stray = [s for s in outputs if s not in set(neurons)]
    if stray:
        raise ModelMismatchError(f"{where}: output species {stray[:5]} are not neuron species")
    doc = _checked(sbml_text, None, where)[1]
    model = doc.getModel()
    species = {model.getSpecies(i).getId(): model.getSpecies(i) for i in range(model.getNumSpecies())}
    missing = [s for s in (*inputs, *neurons) if s not in species]
    if missing:
        raise ModelMismatchError(f"{where}: species {missing[:5]} named by the manifest are not in the SBML model")
    not_boundary = [s for s in inputs if not species[s].getBoundaryCondition()]
    if not_boundary:
        raise ModelMismatchError(f"{where}: input species {not_boundary[:5]} are not boundary species")
    fixed = [s for s in neurons if species[s].getBoundaryCondition() or species[s].getConstant()]
    if fixed:
        raise ModelMismatchError(f"{where}: neuron species {fixed[:5]} are boundary or constant species; "
                                 "neurons must be changed by reactions")


def _species_list(ids: Sequence[str], what: str, where: str) -> list[str]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence) or not all(isinstance(s, str) for s in ids):
        raise ModelMismatchError(f"{where}: {what} must be a list of species ids, got {type(ids).__name__}")
    if not ids:
        raise ModelMismatchError(f"{where}: no {what} named")
    if len(set(ids)) != len(ids):
        raise ModelMismatchError(f"{where}: {what} name a species twice")
    return list(ids)


def check_files_sha256(manifest: Mapping, files: Mapping[str, bytes], *, where: str) -> None:
    """Raise IntegrityError unless each ``files[name]`` has the SHA-256 that ``manifest["files_sha256"]``
    records for ``name`` (``where``: the folder, for messages)."""
    recorded = manifest.get("files_sha256") if isinstance(manifest, Mapping) else None
    if not isinstance(recorded, Mapping):
        raise IntegrityError(f"{where}/manifest.json records no file digests (files_sha256): it was written "
                             "before crn2sbml checked them; recompile the model")
    for name, data in files.items():
        expected = recorded.get(name)
        if not isinstance(expected, str):
            raise IntegrityError(f"{where}/manifest.json records no digest for {name}; recompile the model")
        if hashlib.sha256(data).hexdigest() != expected.lower():
            raise IntegrityError(f"{where}/{name} does not match the SHA-256 digest in manifest.json: it was "
                                 "modified after it was compiled")


# ---------------------------------------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------------------------------------
def check_inputs(x, n_inputs: int, where: str = "inputs") -> np.ndarray:
    """``x`` as a float array ``(n_samples, n_inputs)`` (a 1-D ``x`` is one sample), or InputError: numeric,
    finite, >= 0 (concentrations), ``n_inputs`` features per sample."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: not a numeric array ({exc})") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_inputs:
        raise InputError(f"{where}: expected {n_inputs} features per sample, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        row, col = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"{where}: non-finite value {arr[row, col]} at sample {row}, feature {col}")
    if np.any(arr < 0):
        row, col = np.argwhere(arr < 0)[0]
        raise InputError(f"{where}: concentrations must be >= 0, got {arr[row, col]} at sample {row}, feature "
                         f"{col} (encode signed features dual-rail, see docs/theory.md)")
    return arr


# ---------------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------------
def check_options(*, tolerance=None, max_time=None, eps=None, time_scale=None, epochs=None, learning_rate=None,
                  hidden=None, batch_size=None, seed=None, where: str = "options") -> None:
    """Raise InputError (LimitError for limits) for the first bad option; ``None`` means "not given".

    Settling: ``tolerance`` (1/s) and ``max_time`` (s) finite and > 0; ``eps`` in [MIN_EPS, MAX_EPS];
    ``time_scale`` in [MIN_TIME_SCALE, MAX_TIME_SCALE]. Training: ``epochs`` and ``batch_size`` integers >= 1,
    ``learning_rate`` finite and > 0, ``hidden`` layer sizes integers in [1, MAX_WIDTH], ``seed`` in [0, 2^32).
    """
    for name, value in (("tolerance", tolerance), ("max time", max_time), ("learning rate", learning_rate)):
        if value is not None:
            _positive(value, name, where)
    if eps is not None:
        _in_range(_positive(eps, "eps", where), "eps", ("MIN_EPS", MIN_EPS), ("MAX_EPS", MAX_EPS), where)
    if time_scale is not None:
        _in_range(_positive(time_scale, "time scale", where), "time scale",
                  ("MIN_TIME_SCALE", MIN_TIME_SCALE), ("MAX_TIME_SCALE", MAX_TIME_SCALE), where)
    for name, value in (("epochs", epochs), ("batch size", batch_size)):
        if value is not None:
            _integer(value, name, where, minimum=1)
    if seed is not None:
        _integer(seed, "seed", where, minimum=0, maximum=2**32 - 1)
    if hidden is not None:
        _hidden(hidden, where)


def _real(value, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def _positive(value, name: str, where: str) -> float:
    number = _real(value, name, where)
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{where}: {name} must be finite and > 0, got {number}")
    return number


def _in_range(value: float, name: str, low: tuple[str, float], high: tuple[str, float], where: str) -> None:
    floor, ceiling = limit(*low), limit(*high)
    if value > ceiling:
        raise _over(f"{where}: {name}", value, *high, "use a smaller value")
    if value < floor:
        raise LimitError(f"{where}: {name} {value:g} is below the limit of {floor:g}; use a larger value, or set "
                         f"the environment variable CRN2SBML_{low[0]} to lower the limit")


def _integer(value, name: str, where: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{where}: {name} must be an integer, got {value!r}")
    number = int(value)  # numbers.Integral declares no ordering; every integral type converts exactly
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise InputError(f"{where}: {name} must be {bounds}, got {value}")
    return number


def _hidden(hidden, where: str) -> None:
    if isinstance(hidden, str | bytes) or not isinstance(hidden, Sequence):
        raise InputError(f"{where}: hidden layer sizes must be a list of integers, got {hidden!r}")
    for i, size in enumerate(hidden, start=1):
        width = _integer(size, f"hidden layer {i} size", where, minimum=1)
        if width > limit("MAX_WIDTH", MAX_WIDTH):
            raise _over(f"{where}: hidden layer {i} size", width, "MAX_WIDTH", MAX_WIDTH, "use fewer neurons")


def check_labels(y, *, where: str, test_fraction: float | None = None) -> None:
    """Raise InputError unless ``y`` holds non-negative integer class labels, at most MAX_CLASSES classes
    (label L means L + 1 output neurons) and, when ``test_fraction`` is given, enough samples for a stratified
    split: >= 2 per class and at least one per class in the train and the test part."""
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu" or np.any(labels < 0):
        raise InputError(f"{where}: labels must be a non-empty list of non-negative integers")
    top = int(labels.max())
    if top + 1 > limit("MAX_CLASSES", MAX_CLASSES):
        row = int(np.argmax(labels))
        raise _over(f"{where}: label {top} in row {row} asks for {top + 1} output neurons; the class count",
                    top + 1, "MAX_CLASSES", MAX_CLASSES, "number the classes 0, 1, 2, ...")
    if test_fraction is None:
        return
    classes, counts = np.unique(labels, return_counts=True)
    if np.any(counts < 2):
        lonely = classes[counts < 2]
        raise InputError(f"{where}: class {int(lonely[0])} has a single sample ({lonely.size} such class(es)); a "
                         "stratified train/test split needs at least 2 samples per class")
    n_test = math.ceil(test_fraction * labels.size)
    if min(n_test, labels.size - n_test) < classes.size:
        raise InputError(f"{where}: {labels.size} samples in {classes.size} classes are too few for a stratified "
                         f"split with {test_fraction:g} held out (each part needs one sample per class)")


# ---------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------
def check_network(layers: Sequence[tuple[np.ndarray, np.ndarray]], terms: Sequence[tuple[int, float, float]],
                  where: str = "network") -> None:
    """Raise NetworkError / LimitError unless the network has >= 1 input and >= 1 neuron per layer, and every
    weight, bias and activation coefficient is at most MAX_WEIGHT in magnitude, with eps (the constant term)
    in [MIN_EPS, MAX_EPS]. ``layers``: ``(W_l, b_l)`` finite float arrays; ``terms``: ``(p, a_p, b_p)``."""
    if layers and layers[0][0].shape[1] == 0:
        raise NetworkError(f"{where}: W1 has 0 columns: the network needs at least 1 input")
    for i, (w, b) in enumerate(layers, start=1):
        if w.shape[0] == 0:
            raise NetworkError(f"{where}: W{i} has 0 rows: layer {i} needs at least 1 neuron")
        _check_magnitude(w, f"{where}: W{i}", ("row", "column"))
        _check_magnitude(b, f"{where}: b{i}", ("entry",))
    coefficients = np.array([(a, c) for _, a, c in terms], dtype=float).reshape(-1, 2)
    _check_magnitude(coefficients, f"{where}: activation_terms coefficients", ("term", "column"))
    eps = sum(a for p, a, _ in terms if p == 0)
    check_options(eps=eps, where=where)


def _check_magnitude(arr: np.ndarray, what: str, axes: tuple[str, ...]) -> None:
    if arr.size == 0:
        return
    ceiling = limit("MAX_WEIGHT", MAX_WEIGHT)
    magnitude = np.abs(arr)
    if magnitude.max() > ceiling:
        index = np.unravel_index(int(np.argmax(magnitude)), arr.shape)
        position = ", ".join(f"{axis} {k}" for axis, k in zip(axes, index, strict=True))
        raise _over(f"{what} at {position}: magnitude", float(magnitude[index]), "MAX_WEIGHT", MAX_WEIGHT,
                    "rescale the network")


def check_activation_powers(powers, where: str = "activation") -> None:
    """Raise LimitError / ActivationError unless every power is an integer in [0, MAX_DEGREE]. Run before any
    polynomial is built: a degree-k check allocates O(k) arrays (k = 1e9 exhausts memory)."""
    ceiling = limit("MAX_DEGREE", MAX_DEGREE)
    for i, p in enumerate(np.asarray(powers, dtype=float).reshape(-1)):
        if not (math.isfinite(p) and p == round(p) and p >= 0):
            raise ActivationError(f"{where}: term {i}: power {p:g} is not a non-negative integer")
        if p > ceiling:
            raise _over(f"{where}: term {i}: power", p, "MAX_DEGREE", MAX_DEGREE, "use a lower-degree activation")
