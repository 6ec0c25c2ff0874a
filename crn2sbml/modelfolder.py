"""Open a compiled model folder through every check: the one way the CLI, the notebook helpers and the zoo read
one.

``manifest.json`` must be well formed; ``model.xml`` and ``weights.npz`` must be regular files whose SHA-256
digests match the manifest's ``files_sha256`` (else IntegrityError, unless ``trust_modified``); the weights must
compile to the species the manifest names; ``model.xml`` must be SBML that crn2sbml's checks accept and that
describes those species. Only then is anything handed to a simulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import IntegrityError, ModelMismatchError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModelFolder:
    """A checked model folder: ``manifest`` (dict), ``compiled`` network rebuilt from the verified weights,
    ``sbml`` (the text of ``model.xml``), ``modified`` (the integrity problems accepted by ``trust_modified``)."""

    path: Path
    manifest: dict
    compiled: CompiledNetwork
    sbml: str
    modified: tuple[str, ...] = ()


def open_model_folder(folder: str | Path, *, trust_modified: bool = False,
                      on_modified: Callable[[str], None] | None = None) -> ModelFolder:
    """Read and check ``folder`` (see the module docstring); raise a typed InputError naming the problem.

    With ``trust_modified`` a digest mismatch is reported to ``on_modified`` (default: a logged warning) as soon
    as it is found, before the other checks run, and reading goes on."""
    from crn2sbml.io import load_manifest, network_from_npz_bytes, read_regular_file
    from crn2sbml.validate.inputs import check_files_sha256, check_model_matches, check_options

    path = Path(folder)
    manifest = load_manifest(path)
    files = {name: read_regular_file(path / name, what=name) for name in ("model.xml", "weights.npz")}
    modified: tuple[str, ...] = ()
    try:
        check_files_sha256(manifest, files, where=str(path))
    except IntegrityError as exc:
        if not trust_modified:
            raise IntegrityError(f"{exc} (pass trust_modified / --trust-modified to use the files as they are)") \
                from None
        (on_modified or (lambda text: log.warning("%s; using it anyway (trust_modified)", text)))(str(exc))
        modified = (str(exc),)
    network = network_from_npz_bytes(files["weights.npz"], where=str(path / "weights.npz"))
    check_options(time_scale=manifest["time_scale"], where=f"{path}/manifest.json")
    compiled = compile_network(network, time_scale=float(manifest["time_scale"]))
    if (manifest["input_species"], manifest["output_species"]) != (list(compiled.input_species),
                                                                   list(compiled.output_species)):
        raise ModelMismatchError(f"{path}/manifest.json names other input or output species than its "
                                 "weights.npz compiles to; recompile the model")
    if network.weights_hash() != manifest.get("weights_sha256") and not trust_modified:
        raise IntegrityError(f"{path}/weights.npz does not match the manifest's weights hash")
    check_model_matches(files["model.xml"], compiled.input_species, compiled.neuron_species,
                        compiled.output_species, where=f"{path}/model.xml")
    return ModelFolder(path, manifest, compiled, files["model.xml"].decode("utf-8"), modified)
