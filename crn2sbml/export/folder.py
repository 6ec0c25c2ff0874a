"""What a compiled model folder holds, as ``{file name: content}``: the edge code writes it in one piece.

``manifest.json`` records the SHA-256 of every other file, so ``crn2sbml simulate`` can refuse a folder whose
``model.xml`` or ``weights.npz`` was changed after compilation.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import ExportError
from crn2sbml.export import export


def weights_bytes(compiled: CompiledNetwork) -> bytes:
    from crn2sbml.io import network_to_arrays

    buffer = io.BytesIO()
    # Any: numpy's stub types savez's keyword arrays as if they could collide with allow_pickle (a bool)
    arrays: dict[str, Any] = network_to_arrays(compiled.network)
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def sha256(content: str | bytes) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def model_folder_files(compiled: CompiledNetwork, *, cps: bool = False, omex: bool = False,
                       samples: Any = None, physical: Any = None) -> dict[str, str | bytes]:
    """``model.xml``, ``model.ant``, ``weights.npz``, optionally ``model.cps`` and ``model.omex`` (settling
    ``samples``, default the all-zero input), with ``physical`` (a :class:`~crn2sbml.export.units.PhysicalUnits`)
    also ``model_physical.xml``, ``feasibility.json`` and ``feasibility.txt``, and ``manifest.json`` with their
    SHA-256 digests."""
    sbml = export(compiled, "sbml")
    if not isinstance(sbml, str):  # the sbml writer returns text; cps/omex take that text back
        raise ExportError(f"the sbml exporter returned {type(sbml).__name__}, not text")
    files: dict[str, str | bytes] = {"model.xml": sbml, "model.ant": export(compiled, "antimony"),
                                     "weights.npz": weights_bytes(compiled)}
    if cps:
        files["model.cps"] = export(compiled, "cps", samples=samples, sbml=sbml)
    if omex:
        files["model.omex"] = export(compiled, "omex", samples=samples, sbml=sbml)
    if physical is not None:
        from crn2sbml.export.units import feasibility, to_physical_sbml

        report = feasibility(compiled, physical)
        files["model_physical.xml"] = to_physical_sbml(compiled, physical)
        files["feasibility.json"] = report.to_json()
        files["feasibility.txt"] = report.to_text()
    manifest = compiled.manifest()
    manifest["files_sha256"] = {name: sha256(content) for name, content in files.items()}
    files["manifest.json"] = json.dumps(manifest, indent=2) + "\n"
    return files
