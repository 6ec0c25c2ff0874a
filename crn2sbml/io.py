"""Every file crn2sbml reads or writes goes through here.

Writes are atomic: content goes to a temporary file in the target folder, which is then renamed over the
destination, so a failure never leaves a half-written file behind. ``.npz`` files are read with
``allow_pickle=False``: weights files from strangers cannot execute code.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from crn2sbml.errors import InputError, NetworkError
from crn2sbml.nn.activations import activation_from_arrays, smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file + rename; raise InputError if the folder is unwritable."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_files_atomic(files: dict[str | Path, str | bytes]) -> list[Path]:
    """Write several files so that either all of them land or none does (best effort on failure)."""
    written: list[Path] = []
    try:
        for path, data in files.items():
            written.append(write_atomic(path, data))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def write_json(path: str | Path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# ---------------------------------------------------------------- weights files
_LAYER_KEY = re.compile(r"^([Wb])(\d+)$")


def load_weights(path: str | Path) -> FeedForwardNetwork:
    """Read ``W1, b1, …, WL, bL`` (``W_l`` of shape ``(n_l, n_{l-1})``), optional scalar ``eps`` and
    optional ``activation_terms`` from an ``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz weights file ({exc})") from exc
    try:
        return network_from_arrays(arrays)
    except InputError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def network_from_arrays(arrays: dict[str, np.ndarray]) -> FeedForwardNetwork:
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        match = _LAYER_KEY.match(key)
        if match:
            layers.setdefault(int(match.group(2)), {})[match.group(1)] = value
        elif key not in ("eps", "activation_terms", "activation_name"):
            raise NetworkError(f"unexpected array {key!r} (expected W1, b1, ..., eps, activation_terms)")
    if not layers:
        raise NetworkError("no layers found (expected arrays W1, b1, W2, b2, ...)")
    if sorted(layers) != list(range(1, len(layers) + 1)):
        raise NetworkError(f"layers must be numbered 1..L without gaps, found {sorted(layers)}")
    built = []
    for i in range(1, len(layers) + 1):
        if set(layers[i]) != {"W", "b"}:
            missing = {"W", "b"} - set(layers[i])
            raise NetworkError(f"layer {i}: missing {', '.join(f'{m}{i}' for m in sorted(missing))}")
        for kind in ("W", "b"):
            if layers[i][kind].dtype.kind not in "fiu":
                raise NetworkError(f"{kind}{i} must be numeric, got dtype {layers[i][kind].dtype}")
        try:
            built.append(Layer(layers[i]["W"], layers[i]["b"]))
        except NetworkError as exc:
            raise NetworkError(f"layer {i} (W{i}, b{i}): {exc}") from exc
    eps = 0.1
    if "eps" in arrays:
        eps_arr = np.asarray(arrays["eps"])
        if eps_arr.size != 1 or eps_arr.dtype.kind not in "fiu":
            raise NetworkError(f"eps must be a numeric scalar, got shape {eps_arr.shape}")
        eps = float(eps_arr.reshape(()))
        if not (np.isfinite(eps) and eps > 0):
            raise NetworkError(f"eps must be finite and > 0, got {eps}")
    if "activation_terms" in arrays:
        name = str(arrays["activation_name"]) if "activation_name" in arrays else "polynomial"
        activation = activation_from_arrays(arrays["activation_terms"], name=name)
    else:
        activation = smoothed_relu_activation(eps)
    return FeedForwardNetwork(tuple(built), activation)


def network_to_arrays(network: FeedForwardNetwork) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(network.layers, start=1):
        arrays[f"W{i}"] = np.asarray(layer.weights)
        arrays[f"b{i}"] = np.asarray(layer.bias)
    arrays["eps"] = np.array(network.eps)
    if not network.activation.is_smoothed_relu():
        arrays["activation_terms"] = np.array(network.activation.terms, dtype=float)
        arrays["activation_name"] = np.array(network.activation.name)
    return arrays


def save_weights(path: str | Path, network: FeedForwardNetwork) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **network_to_arrays(network))
    return write_atomic(path, buffer.getvalue())


# ---------------------------------------------------------------- sample files
def load_samples(path: str | Path) -> np.ndarray:
    """Inputs, one sample per row, from ``.npy`` or ``.csv`` (comma-separated, optional header row)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"inputs file not found: {path}")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
        if x.dtype.kind not in "fiu":
            raise InputError(f"{path}: array must be numeric, got dtype {x.dtype}")
        x = np.asarray(x, dtype=float)
    else:
        x = _read_csv(path)
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"{path}: expected a 2-D table with one sample per row, got shape {x.shape}")
    return x


def _read_csv(path: Path) -> np.ndarray:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cells = [c.strip() for c in line.split(",")]
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                if not rows and lineno == 1:
                    continue  # header
                bad = next(c for c in cells if not _is_float(c))
                raise InputError(f"{path}:{lineno}: non-numeric value {bad!r}") from None
            if len(rows[-1]) != len(rows[0]):
                raise InputError(f"{path}:{lineno}: {len(rows[-1])} columns, expected {len(rows[0])}")
    if not rows:
        raise InputError(f"{path}: no samples found")
    return np.array(rows, dtype=float)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def save_table_csv(path: str | Path, header: list[str], rows: np.ndarray) -> Path:
    lines = [",".join(header)] + [",".join(repr(float(v)) for v in row) for row in np.atleast_2d(rows)]
    return write_atomic(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- compiled model folders
def load_manifest(folder: str | Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise InputError(f"{folder}: no manifest.json (is this a folder written by `crn2sbml compile`?)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON ({exc})") from exc
    for key in ("input_species", "output_species", "layer_species", "eps", "time_scale"):
        if key not in manifest:
            raise InputError(f"{path}: missing key {key!r}")
    return manifest


def write_model_folder(compiled, folder: str | Path) -> dict[str, Path]:
    """Write ``model.xml`` (elementary SBML), ``model.ant``, ``weights.npz`` and ``manifest.json``."""
    from crn2sbml.export.antimony import to_antimony
    from crn2sbml.export.sbml import to_sbml

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output path {folder} exists and is not a folder")
    buffer = io.BytesIO()
    np.savez(buffer, **network_to_arrays(compiled.network))
    files = {
        folder / "model.xml": to_sbml(compiled),
        folder / "model.ant": to_antimony(compiled),
        folder / "weights.npz": buffer.getvalue(),
        folder / "manifest.json": json.dumps(compiled.manifest(), indent=2) + "\n",
    }
    write_files_atomic(files)
    return {p.name: p for p in files}


def load_labelled_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Training data from CSV: feature columns then an integer class label in the last column."""
    table = load_samples(path)
    if table.shape[1] < 2:
        raise InputError(f"{path}: need at least one feature column and a label column")
    labels = table[:, -1]
    if np.any(labels != np.round(labels)) or np.any(labels < 0):
        row = int(np.nonzero((labels != np.round(labels)) | (labels < 0))[0][0])
        raise InputError(f"{path}: label {labels[row]} in data row {row + 1} is not a non-negative integer class")
    return table[:, :-1], labels.astype(np.int64)
