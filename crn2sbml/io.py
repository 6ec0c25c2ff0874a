"""Every file crn2sbml reads or writes goes through here.

Reading: only regular files are opened (never a FIFO or a device), each under a size limit, and arrays are
checked against an element limit from their ``.npy`` headers before any data is loaded; ``.npz`` files are read
with ``allow_pickle=False``, so weights files from strangers cannot execute code. Every problem with a file is an
:class:`~crn2sbml.errors.InputError` (or its subclass :class:`~crn2sbml.errors.LimitError`) naming the file.

Writing: a single file goes to a temporary file beside it, which is renamed over the destination
(:func:`write_atomic`); a model folder is staged as a whole in a sibling temporary folder and swapped in
(:func:`commit_folder`). A failure never leaves a half-written file or a half-replaced folder behind.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from crn2sbml import defaults
from crn2sbml.errors import InputError, LimitError, NetworkError
from crn2sbml.nn.activations import activation_from_arrays, smoothed_relu_activation
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.validate.inputs import limit


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

# ---------------------------------------------------------------- limits and reading
MAX_FILE_BYTES_ENV = "CRN2SBML_MAX_FILE_BYTES"
MAX_ELEMENTS_ENV = "CRN2SBML_MAX_ELEMENTS"
DEFAULT_MAX_FILE_BYTES = 256 * 2**20
DEFAULT_MAX_ELEMENTS = 10**7
TOTAL_ELEMENTS_FACTOR = 5
"""An ``.npz`` may hold at most this many times the per-array element limit in all its arrays together."""


def file_size_limit() -> int:
    """Largest file crn2sbml reads, in bytes: 256 MiB unless the environment variable CRN2SBML_MAX_FILE_BYTES
    says otherwise."""
    return int(limit(MAX_FILE_BYTES_ENV.removeprefix("CRN2SBML_"), DEFAULT_MAX_FILE_BYTES))


def element_limit() -> int:
    """Largest array crn2sbml reads, in elements: 10^7 unless CRN2SBML_MAX_ELEMENTS says otherwise."""
    return int(limit(MAX_ELEMENTS_ENV.removeprefix("CRN2SBML_"), DEFAULT_MAX_ELEMENTS))


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | Path, *, max_bytes: int | None = None, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes`` bytes.

    ``what`` names the file in messages ("model.xml", "inputs file", ...). ``max_bytes=None`` uses
    :func:`file_size_limit` (256 MiB unless ``CRN2SBML_MAX_FILE_BYTES`` says otherwise). A symlink is followed,
    but what it points to must be a regular file too. FIFOs, devices, sockets and directories are refused before
    anything is opened (opening a FIFO blocks, reading ``/dev/zero`` never ends); the type and size are checked
    again on the open descriptor, so a file swapped after the first check is still caught. Every refusal, and
    every ``OSError`` on the way (missing file, no permission), is an :class:`InputError` naming the path; a file
    over the limit is a :class:`LimitError`.
    """
    path = Path(path)
    limit = file_size_limit() if max_bytes is None else max_bytes
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InputError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    _check_readable(path, info, limit, what)
    try:
        # O_NONBLOCK: if a FIFO replaced the file since os.stat, open() returns instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        _check_readable(path, os.fstat(fd), limit, what)
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:  # the file grew after fstat
        raise _too_big(path, what, None, limit)
    return data


def _check_readable(path: Path, info: os.stat_result, limit: int, what: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} {path} is {_file_kind(info.st_mode)}; only regular files are read")
    if info.st_size > limit:
        raise _too_big(path, what, info.st_size, limit)


def _too_big(path: Path, what: str, size: int | None, limit: int) -> LimitError:
    size_text = f"{size:,} bytes" if size is not None else "larger than that"
    return LimitError(f"{what} {path} is over the size limit of {limit:,} bytes ({size_text}); set the "
                      f"environment variable {MAX_FILE_BYTES_ENV} to raise it")


def _decode_text(path: Path, data: bytes, what: str) -> str:
    """UTF-8 text without its byte-order mark; UTF-16 with a BOM (Excel's "Unicode text") is accepted too."""
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: {what} is not {encoding.upper().removesuffix('-SIG')} text (undecodable byte "
                         f"at offset {exc.start}, line {line}); save it as UTF-8") from None


# ---------------------------------------------------------------- .npy headers and arrays
_NPY_MAGIC = b"\x93NUMPY"

# What numpy and zipfile raise on corrupt bytes (all of them are read from memory, so OSError means corrupt too)
_CORRUPT = (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, OverflowError, TypeError, KeyError,
            SyntaxError, zipfile.BadZipFile, zlib.error)


def _npy_header(handle: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, reading nothing of the data."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise InputError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")
    return tuple(int(n) for n in shape), dtype


def _check_array_header(where: str, shape: tuple[int, ...], dtype: np.dtype, limit: int) -> int:
    """Refuse object arrays and arrays over ``limit`` elements before loading; return the element count."""
    if dtype.hasobject:
        raise InputError(f"{where}: dtype {dtype} holds Python objects, which only pickle can read; "
                         "crn2sbml never unpickles files")
    count = math.prod(shape)
    # the byte check stops a few huge strings (dtype '<U100000000') from passing as few elements
    if count > limit or any(n > limit for n in shape) or count * dtype.itemsize > 8 * limit:
        raise LimitError(f"{where}: shape {shape} ({count:,} elements of {dtype.itemsize} bytes each) is over the "
                         f"limit of {limit:,} elements ({8 * limit:,} bytes) per array; set the environment variable "
                         f"{MAX_ELEMENTS_ENV} or pass max_elements= to raise it")
    return count


def _read_npy(path: Path, data: bytes, limit: int) -> np.ndarray:
    where = str(path)
    try:
        shape, dtype = _npy_header(io.BytesIO(data), where)
        _check_array_header(where, shape, dtype, limit)
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except InputError:
        raise
    except _CORRUPT as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from exc


def _read_npz(path: Path, data: bytes, limit: int) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz``: every member must be an ``.npy`` array, every header is checked before loading."""
    if data.startswith(_NPY_MAGIC):
        raise InputError(f"{path}: this is a single .npy array, not an .npz archive of arrays W1, b1, ... "
                         "(write one with numpy.savez)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = _npz_members(path, archive, limit)
            arrays = {}
            for key, info in members.items():
                with archive.open(info) as handle:
                    arrays[key] = np.lib.format.read_array(handle, allow_pickle=False)
                    # reading to the end makes zipfile check the CRC: a flipped byte in the data is refused
                    if handle.read(1):
                        raise InputError(f"{path}: array {key!r} has data beyond what its header announces")
            return arrays
    except InputError:
        raise
    except _CORRUPT as exc:
        raise InputError(f"{path}: not a readable .npz weights file ({type(exc).__name__}: {exc})") from exc


def _npz_members(path: Path, archive: zipfile.ZipFile, limit: int) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        if info.is_dir() or not info.filename.endswith(".npy"):
            raise InputError(f"{path}: member {info.filename!r} is not an .npy array (an .npz archive holds only "
                             ".npy arrays, as numpy.savez writes them)")
        key = info.filename.removesuffix(".npy")
        where = f"{path}: array {key!r}"
        if key in members:
            raise InputError(f"{where} appears twice in the archive")
        with archive.open(info) as handle:
            shape, dtype = _npy_header(handle, where)
        total += _check_array_header(where, shape, dtype, limit)
        if total > TOTAL_ELEMENTS_FACTOR * limit:
            raise LimitError(f"{path}: arrays hold more than {TOTAL_ELEMENTS_FACTOR * limit:,} elements together "
                             f"({TOTAL_ELEMENTS_FACTOR} x the per-array limit); set the environment variable "
                             f"{MAX_ELEMENTS_ENV} or pass max_elements= to raise it")
        members[key] = info
    return members


# ---------------------------------------------------------------- writing files
def _check_target(path: Path) -> None:
    """Refuse to replace anything but a regular file: a directory, a device, a FIFO, a symlink (``--out
    /dev/stdout`` run as root would otherwise turn the device link into a regular file)."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there yet (or a parent that is not a folder, which mkdir reports)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise InputError(f"cannot write {path}: it is a symbolic link (to {os.readlink(path)}); crn2sbml does not "
                         "write through links, name the target file instead")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"cannot write {path}: it is {_file_kind(info.st_mode)}, not a regular file")


def _write_error(path: Path, exc: BaseException) -> InputError:
    return InputError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}")


def _stage(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path``; return the temporary file."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    _check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    except (OSError, ValueError) as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must never publish a file whose data is not on disk yet
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    return Path(tmp)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file + rename.

    Refuses (InputError naming the path) to replace a directory, a device, a FIFO or a symlink; any OSError (disk
    full, no permission) becomes an InputError with the path and the system's reason. No temporary file is left
    behind, and the old file stays intact on any failure.
    """
    path = Path(path)
    tmp = _stage(path, data)
    try:
        _check_target(path)  # again: something may have been put there while the data was written
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    return path


def write_files_atomic(files: Mapping[str | Path, str | bytes]) -> list[Path]:
    """Write several files so that either all of them land or none does.

    Every file is staged first; only then are they renamed into place, each old file kept as a hard link (or
    copy) until all renames succeeded, so a failure restores the old contents instead of deleting them. For a
    whole model folder prefer :func:`commit_folder`, which also removes stale files.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_stage(Path(path), data), Path(path)))
        _replace_all(staged)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [path for _, path in staged]


def _replace_all(staged: list[tuple[Path, Path]]) -> None:
    done: list[tuple[Path, Path | None]] = []  # (target, backup of its old content or None if it was new)
    try:
        for tmp, path in staged:
            _check_target(path)
            backup = _backup(path)
            done.append((path, backup))
            os.replace(tmp, path)
    except BaseException as exc:
        for path, backup in reversed(done):
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    finally:
        for _, backup in done:
            if backup is not None:
                backup.unlink(missing_ok=True)


def _backup(path: Path) -> Path | None:
    """A second name for the old content of ``path`` (None if there is none), to restore it after a failure."""
    if not path.exists():
        return None
    for _ in range(100):
        backup = path.parent / f".{path.name[:100]}.{secrets.token_hex(6)}.bak"
        try:
            os.link(path, backup)  # a second name for the old inode: free and atomic
            return backup
        except FileExistsError:
            continue
        except OSError:
            break  # a filesystem without hard links: copy instead
    fd, name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".bak", dir=path.parent)
    os.close(fd)
    shutil.copy2(path, name)
    return Path(name)


def write_json(path: str | Path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def check_output_not_input(out: str | Path, *inputs: str | Path | None) -> None:
    """Refuse an output path that is one of the inputs (``import m.onnx --out m.onnx``): same path once resolved,
    or the same file through a hard link or a symlink. ``None`` inputs are skipped."""
    out = Path(out)
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        if _resolved(out) == _resolved(source) or _same_file(out, source):
            raise InputError(f"output {out} is the input file {source}: writing it would destroy the input; "
                             "choose another output path")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False  # one of them does not exist (yet): then they cannot be the same file


# ---------------------------------------------------------------- model folders
MODEL_ARTEFACTS = frozenset({"model.xml", "model.ant", "weights.npz", "manifest.json", "model.cps", "model.omex",
                             "training.json", "steady_state.csv", "model_physical.xml", "feasibility.json",
                             "feasibility.txt", "formal.crn", "physical.crn", "dsd.pil", "dsd.json"})
"""Files crn2sbml writes into a model folder; when a folder is replaced, those not written again are removed."""
CARRIED_OVER = frozenset({"README.md"})
"""Files kept when a model folder is replaced without them (the zoo's README, a user's notes)."""


def commit_folder(folder: str | Path, files: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Make ``folder`` hold exactly ``files`` (name -> content), replacing an earlier model folder as a whole.

    The new content is staged in a temporary sibling folder; then the old folder is renamed aside, the new one
    renamed in, and the old one deleted. On any failure, KeyboardInterrupt included, the old folder is put back
    untouched and the staging folder removed: readers see the old model or the new one, never a mix, and no stale
    ``model.cps`` or ``model.omex`` of an earlier network stays beside a new model.

    Files crn2sbml did not write are never deleted: an existing folder is replaced only if every entry in it is a
    regular file named in :data:`MODEL_ARTEFACTS`, in :data:`CARRIED_OVER` or in ``files``; otherwise an
    InputError lists the foreign entries (point ``--out`` at a new folder or move them). ``README.md`` is carried
    over into the new folder unless ``files`` replaces it. A symlinked ``folder`` is resolved and its target
    replaced. The parent folder must be writable, as the swap happens there.
    """
    shown = Path(folder)
    target = _resolved(shown)
    _check_names(shown, files)
    old = _old_entries(shown, target)
    allowed = MODEL_ARTEFACTS | CARRIED_OVER | set(files)
    _refuse_foreign(shown, old, allowed)
    carry = [name for name in CARRIED_OVER if name in old and name not in files]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.", suffix=".new", dir=target.parent))
    except (OSError, ValueError) as exc:
        raise _write_error(shown, exc) from exc
    try:
        _fill(staging, files, [target / name for name in carry], old_mode=_mode(target))
        _swap(staging, target, lambda aside: _refuse_foreign(shown, _entries(aside), allowed))
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {shown}: {exc.strerror or exc} (the previous content is unchanged; "
                             "crn2sbml replaces the folder as a whole, so it needs a writable parent folder)") from exc
        raise
    return {name: shown / name for name in files}


def _check_names(folder: Path, files: Mapping[str, str | bytes]) -> None:
    for name in files:
        if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
            raise InputError(f"{folder}: {name!r} is not a plain file name")


def _old_entries(shown: Path, target: Path) -> dict[str, bool]:
    """Entries of an existing folder: name -> whether it is a regular file (symlinks are not)."""
    if target == Path(target.anchor) or target in (Path.cwd(), *Path.cwd().parents):
        raise InputError(f"refusing to replace {shown}: it is the current folder or one above it")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise _write_error(shown, exc) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"output path {shown} exists and is not a folder")
    try:
        return _entries(target)
    except OSError as exc:
        raise _write_error(shown, exc) from exc


def _entries(folder: Path) -> dict[str, bool]:
    with os.scandir(folder) as entries:
        return {entry.name: entry.is_file(follow_symlinks=False) for entry in entries}


def _refuse_foreign(shown: Path, entries: dict[str, bool], allowed: frozenset[str]) -> None:
    foreign = sorted(name for name, regular in entries.items() if not regular or name not in allowed)
    if foreign:
        raise InputError(f"{shown} holds files crn2sbml did not write ({', '.join(foreign)}); refusing to replace "
                         "it; choose a new or empty output folder, or move them away")


def _mode(folder: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(folder).st_mode)
    except OSError:
        return 0o777 & ~_UMASK  # a new folder: what mkdir would give it


def _fill(staging: Path, files: Mapping[str, str | bytes], carry: list[Path], old_mode: int) -> None:
    for name, data in files.items():
        with open(staging / name, "xb") as handle:
            handle.write(data.encode() if isinstance(data, str) else bytes(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(staging / name, 0o666 & ~_UMASK)
    for source in carry:
        shutil.copy2(source, staging / source.name)
    os.chmod(staging, old_mode)  # mkdtemp makes 0700; keep the old folder's permissions


def _swap(staging: Path, target: Path, check_aside: Callable[[Path], None]) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved into a fresh temporary folder first and
    deleted only once the new folder is in place. ``check_aside`` looks at the old folder once nobody can add
    to it any more, so a file put there while the new content was staged is not deleted with it."""
    if not target.exists():
        os.rename(staging, target)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.", suffix=".old", dir=target.parent))
    aside = trash / "old"
    try:
        os.rename(target, aside)
        try:
            check_aside(aside)
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
    except BaseException:
        shutil.rmtree(trash, ignore_errors=True)  # empty again unless restoring failed, then it keeps the old data
        raise
    shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------- weights files
_LAYER_KEY = re.compile(r"^([Wb])(\d+)$")


def load_weights(path: str | Path, *, max_elements: int | None = None,
                 max_bytes: int | None = None) -> FeedForwardNetwork:
    """Read ``W1, b1, …, WL, bL`` (``W_l`` of shape ``(n_l, n_{l-1})``), optional scalar ``eps`` and
    optional ``activation_terms`` from an ``.npz`` file.

    Every array's shape is read from its ``.npy`` header and checked before loading: at most ``max_elements``
    per array (default :func:`element_limit`, 10^7) and five times that in all; the file itself at most
    ``max_bytes`` (default :func:`file_size_limit`). Anything else but a zip of numeric ``.npy`` arrays is an
    InputError naming the file.
    """
    path = Path(path)
    data = read_regular_file(path, max_bytes=max_bytes, what="weights file")
    return network_from_npz_bytes(data, where=str(path), max_elements=max_elements)


def network_from_npz_bytes(data: bytes, *, where: str, max_elements: int | None = None) -> FeedForwardNetwork:
    """The network in ``.npz`` bytes already read (and, in a model folder, checked against the manifest's
    digest): the same checks as :func:`load_weights`; ``where`` names the file in messages."""
    arrays = _read_npz(Path(where), data, element_limit() if max_elements is None else max_elements)
    try:
        return network_from_arrays(arrays)
    except InputError as exc:
        raise type(exc)(f"{where}: {exc}") from exc


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
    eps = defaults.EPS  # a weights file without eps gets the same eps as every other entry point
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
    # Any: numpy's stub types savez's keyword arrays as if they could collide with allow_pickle (a bool)
    arrays: dict[str, Any] = network_to_arrays(network)
    np.savez(buffer, **arrays)
    return write_atomic(path, buffer.getvalue())


# ---------------------------------------------------------------- sample files
DELIMITERS = ("\t", ";", ",")
"""Column separators recognised in CSV files: spreadsheets in many locales write ``;``, "text" exports tabs."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def load_samples(path: str | Path, names: Sequence[str] | None = None, *, max_elements: int | None = None,
                 max_bytes: int | None = None) -> np.ndarray:
    """Inputs, one sample per row, from ``.npy`` or ``.csv``, as a float array of shape (samples, columns).

    CSV: UTF-8 (a byte-order mark is stripped; UTF-16 with a BOM is read too), columns separated by ``,``, ``;``
    or tab (see :func:`_detect_delimiter`), fields optionally quoted, blank rows and rows
    starting with ``#`` skipped. The first row is a header if none of its cells is a number. With ``names`` (the
    manifest's input species ids) a header must name exactly those columns, in any order: the columns are
    returned in ``names`` order. Every other cell must be a number; a bad one is reported with its row and column,
    1-based, as a spreadsheet shows them. At most ``max_elements`` cells (default :func:`element_limit`) from a
    file of at most ``max_bytes`` (default :func:`file_size_limit`).
    """
    path = Path(path)
    limit = element_limit() if max_elements is None else max_elements
    data = read_regular_file(path, max_bytes=max_bytes, what="inputs file")
    if path.suffix.lower() == ".npy":
        x = _read_npy(path, data, limit)
        if x.dtype.kind not in "fiu":
            raise InputError(f"{path}: array must be numeric, got dtype {x.dtype}")
        x = np.asarray(x, dtype=float)
    else:
        x = _read_csv(path, _decode_text(path, data, "inputs file"), names, limit)
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"{path}: expected a 2-D table with one sample per row, got shape {x.shape}")
    return x


def _read_csv(path: Path, text: str, names: Sequence[str] | None, limit: int) -> np.ndarray:
    delimiter = _detect_delimiter(text, None if names is None else len(names))
    rows: list[list[float]] = []
    header: list[str] | None = None
    order: list[int] | None = None
    width = 0
    for number, cells in _csv_records(path, text, delimiter):
        if not rows and header is None and not any(_parse_number(c) is not None for c in cells):
            header, width = cells, len(cells)
            order = None if names is None else _column_order(path, number, header, names)
            continue
        width = width or len(cells)
        if len(cells) != width:
            raise InputError(f"{path}:{number}: row {number} has {len(cells)} column(s), expected {width} "
                             f"(columns separated by {_delimiter_name(delimiter)})")
        if (len(rows) + 1) * width > limit:
            raise LimitError(f"{path}: more than {limit:,} cells; set the environment variable {MAX_ELEMENTS_ENV} "
                             "or pass max_elements= to raise the limit")
        rows.append([_number_or_error(path, number, column, cell, delimiter) for column, cell in enumerate(cells, 1)])
    if not rows:
        raise InputError(f"{path}: no samples found" + (" (only a header row)" if header is not None else ""))
    x = np.array(rows, dtype=float)
    return x if order is None else x[:, order]


def _detect_delimiter(text: str, n_columns: int | None) -> str:
    """The column separator of a CSV text.

    Each candidate scores the number of fields it splits the first data rows into, if they all agree (and
    nothing if those rows are malformed CSV under it). A delimiter that gives the expected ``n_columns`` wins;
    otherwise the highest score, ties going to tab, then ``;`` (a row split equally by ``;`` and ``,`` is
    ``1,5;2,5`` from a decimal-comma locale); one column means ``,``. Rows are read with the csv module, not as
    lines, so a quoted comment or a quoted line break cannot mislead it."""
    widths = {delimiter: _first_rows_width(text, delimiter) for delimiter in DELIMITERS}
    if n_columns is not None:
        matching = [d for d in DELIMITERS if widths[d] == n_columns]
        if matching:
            return matching[0]
    best = max(DELIMITERS, key=lambda d: widths[d])  # max keeps the first of equals
    return best if widths[best] > 1 else ","  # one column: "," reports malformed quoting instead of hiding it


def _first_rows_width(text: str, delimiter: str, rows: int = 5) -> int:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    widths = set()
    try:
        for record in itertools.islice(reader, 1000):
            cells = [cell.strip() for cell in record]
            if any(cells) and not cells[0].startswith("#"):
                widths.add(len(cells))
                rows -= 1
                if not rows:
                    break
    except csv.Error:
        return 0
    return widths.pop() if len(widths) == 1 else 0


def _delimiter_name(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs"}[delimiter]


def _csv_records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based row number, stripped cells) of each non-blank, non-comment row; row numbers count every row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path}:{number + 1}: malformed CSV row {number + 1} ({exc})") from None
        number += 1
        cells = [cell.strip() for cell in record]
        if not any(cells) or cells[0].startswith("#"):
            continue
        yield number, cells


def _parse_number(cell: str) -> float | None:
    if not cell or "_" in cell:  # float() accepts "1_000", which no spreadsheet writes
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _number_or_error(path: Path, row: int, column: int, cell: str, delimiter: str) -> float:
    value = _parse_number(cell)
    if value is not None:
        return value
    hint = ""
    if re.fullmatch(r"[+-]?\d+,\d+", cell):
        hint = "; decimal commas are not supported, use a point"
    elif not cell:
        hint = "; the cell is empty"
    raise InputError(f"{path}:{row}: non-numeric value {cell!r} at row {row}, column {column} "
                     f"({_column_letters(column)}; columns separated by {_delimiter_name(delimiter)}){hint}")


def _column_letters(column: int) -> str:
    """Spreadsheet column name of a 1-based column number: 1 -> A, 27 -> AA."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_order(path: Path, row: int, header: list[str], names: Sequence[str]) -> list[int]:
    """Column indices that put the header's columns in ``names`` order; the header must name exactly ``names``."""
    expected = list(names)
    if sorted(header) != sorted(expected) or len(set(header)) != len(header):
        unknown = [h for h in header if h not in expected]
        missing = [n for n in expected if n not in header]
        repeated = sorted({h for h in header if header.count(h) > 1})
        details = "; ".join(f"{label}: {', '.join(map(repr, items))}" for label, items in
                            (("unknown", unknown), ("missing", missing), ("repeated", repeated)) if items)
        raise InputError(f"{path}:{row}: header {', '.join(header)} does not match the model's inputs; expected the "
                         f"columns {', '.join(expected)} (in any order); {details}")
    return [header.index(name) for name in expected]


def _spreadsheet_safe(text: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (``=cmd|...``): the quote shows it as text."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def save_table_csv(path: str | Path, header: Sequence[str], rows: np.ndarray) -> Path:
    """A CSV with a header row (quoted where needed, formula-like names neutralised) and one row per sample."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_spreadsheet_safe(str(name)) for name in header])
    writer.writerows([repr(float(v)) for v in row] for row in np.atleast_2d(rows))
    return write_atomic(path, buffer.getvalue())


# ---------------------------------------------------------------- compiled model folders
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MANIFEST_NUMBERS = ("eps", "time_scale")


def load_manifest(folder: str | Path) -> dict:
    """``manifest.json`` of a model folder, checked: a JSON object with lists of identifier strings
    ``input_species``, ``output_species``, a list of such lists ``layer_species``, and positive finite numbers
    ``eps`` and ``time_scale``. Anything else is an InputError naming the file and the key."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not os.path.lexists(path):
        raise InputError(f"{folder}: no manifest.json (is this a folder written by `crn2sbml compile`?)")
    text = _decode_text(path, read_regular_file(path, what="manifest"), "manifest")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a manifest") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InputError(f"{path}: invalid JSON ({exc})") from None
    _check_manifest(path, manifest)
    return manifest


def _check_manifest(path: Path, manifest: object) -> None:
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    for key in ("input_species", "output_species", "layer_species", *_MANIFEST_NUMBERS):
        if key not in manifest:
            raise InputError(f"{path}: missing key {key!r}")
    for key in ("input_species", "output_species"):
        _check_identifiers(path, key, manifest[key])
    layers = manifest["layer_species"]
    if not isinstance(layers, list) or not layers:
        raise InputError(f"{path}: 'layer_species' must be a non-empty list of lists of species ids")
    for i, layer in enumerate(layers, start=1):
        _check_identifiers(path, f"layer_species[{i}]", layer)
    for key in _MANIFEST_NUMBERS:
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise InputError(f"{path}: {key!r} must be a positive finite number, got {_short(value)}")
    if not isinstance(manifest.get("weights_sha256", ""), str):
        raise InputError(f"{path}: 'weights_sha256' must be a string, got {_short(manifest['weights_sha256'])}")


def _check_identifiers(path: Path, key: str, value: object) -> None:
    if not isinstance(value, list) or not value:
        raise InputError(f"{path}: {key!r} must be a non-empty list of species ids, got {_short(value)}")
    for item in value:
        if not isinstance(item, str) or not _IDENTIFIER.fullmatch(item):
            raise InputError(f"{path}: {key!r} holds {_short(item)}, which is not a species id "
                             "(letters, digits and _, not starting with a digit)")
    if len(set(value)) != len(value):
        raise InputError(f"{path}: {key!r} names a species twice")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
