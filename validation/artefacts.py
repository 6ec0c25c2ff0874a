"""Max relative error of every shipped artefact, settled by each tool that consumes it, vs the forward pass.

Run from the checkout: ``.venv/bin/python validation/artefacts.py`` (about 2 minutes on 2 cores). Writes
``validation/artefacts.json`` and prints a Markdown table: one row per model (every zoo model from its shipped
files, plus random networks with 10+ and 100+ species in a layer, compiled here), one column per
artefact/consumer pair.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.export.folder import model_folder_files
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.validate.artefacts import (
    run_cps_scan,
    run_omex_in_copasi,
    run_omex_in_tellurium,
    settle_antimony,
    settle_sbml,
)
from crn2sbml.zoo import ARCHIVE_SAMPLES, MODELS, ZOO, dataset_for

HERE = Path(__file__).resolve().parent
RANDOM = {"random 12-11-10": (12, 11, 10), "random 100-12-10": (100, 12, 10), "random 20-100-10": (20, 100, 10)}


def _random(shape: tuple[int, ...], seed: int) -> FeedForwardNetwork:
    rng = np.random.default_rng(seed)
    layers = [(rng.normal(scale=1 / np.sqrt(a), size=(b, a)), rng.normal(scale=0.5, size=b))
              for a, b in zip(shape, shape[1:], strict=False)]
    return FeedForwardNetwork.from_arrays(layers, eps=0.05)


def _names(sbml: str, species) -> list[str]:
    import libsbml

    model = libsbml.readSBMLFromString(sbml).getModel()
    return [model.getSpecies(s).getName() for s in species]


def errors(compiled, files: dict, x: np.ndarray) -> dict[str, float]:
    expected = compiled.network.forward(x)
    outputs = list(compiled.output_species)

    def rel(actual) -> float:
        actual = np.atleast_2d(actual)
        return float(np.max(np.abs(actual - expected[: len(actual)]) / expected[: len(actual)]))

    sbml = files["model.xml"] if isinstance(files["model.xml"], str) else files["model.xml"].decode()
    return {
        "model.xml / libRoadRunner": rel(settle_sbml(compiled, sbml, x, "roadrunner")),
        "model.xml / COPASI": rel(settle_sbml(compiled, sbml, x, "copasi")),
        "model.ant / libantimony + libRoadRunner": rel(settle_antimony(compiled, files["model.ant"], x)),
        "model.cps / COPASI scan": rel(run_cps_scan(files["model.cps"], len(outputs))),
        "model.omex / COPASI (sample 1)": rel(run_omex_in_copasi(files["model.omex"], _names(sbml, outputs))),
        "model.omex / Tellurium": rel(run_omex_in_tellurium(files["model.omex"], outputs, len(x))[0]),
    }


def main() -> int:
    rows: dict[str, dict[str, float]] = {}
    for name in ZOO:
        folder = MODELS / name
        opened = open_model_folder(folder)
        files = {"model.xml": opened.sbml, "model.ant": (folder / "model.ant").read_text(encoding="utf-8"),
                 "model.cps": (folder / "model.cps").read_bytes(), "model.omex": (folder / "model.omex").read_bytes()}
        rows[name] = errors(opened.compiled, files, dataset_for(ZOO[name]).x_test[:ARCHIVE_SAMPLES])
        print(f"{name}: done", file=sys.stderr)
    for seed, (label, shape) in enumerate(RANDOM.items(), start=1):
        compiled = compile_network(_random(shape, seed))
        x = np.random.default_rng(seed).uniform(0, 2, size=(3, shape[0]))
        rows[label] = errors(compiled, model_folder_files(compiled, cps=True, omex=True, samples=x), x)
        print(f"{label}: done", file=sys.stderr)
    columns = list(next(iter(rows.values())))
    print(f"Max relative error vs the forward pass ({platform.machine()}, Python {platform.python_version()})\n")
    print("| model | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.1e}" for c in columns) + " |")
    worst = {c: max(row[c] for row in rows.values()) for c in columns}
    print("| **max** | " + " | ".join(f"**{worst[c]:.1e}**" for c in columns) + " |")
    (HERE / "artefacts.json").write_text(json.dumps({"rows": rows, "max": worst}, indent=2) + "\n", encoding="utf-8")
    return 0 if max(worst.values()) < 1e-8 else 2


if __name__ == "__main__":
    sys.exit(main())
