"""The model zoo: trained classifiers shipped in ``models/<name>/`` with every exported artefact.

``build_zoo()`` retrains every model from its seed (deterministic on a given machine and JAX version),
compiles it, writes the folder and settles the whole held-out test set in libRoadRunner from the written
``model.xml``; the evidence goes to ``validation/<name>/``.

``models/`` and ``validation/`` live at the top of a source checkout, not in the installed package: the zoo and
the report default to the checkout the package was imported from (:func:`checkout_folder`) and take any other
folder explicitly. The one file an installed copy needs, the digits weights the demo compiles, ships as package
data (:data:`DEMO_WEIGHTS`); :func:`build_model` refreshes that copy whenever it rebuilds the checkout's
``models/digits``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.folder import model_folder_files
from crn2sbml.io import commit_folder, write_atomic, write_json
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.nn.activations import make_activation
from crn2sbml.nn.datasets import Dataset, load_dataset
from crn2sbml.nn.train import TrainConfig, accuracy, train
from crn2sbml.simulate import SteadyStates, roadrunner_simulator
from crn2sbml.validate.equivalence import ClassificationAgreement, compare_classification
from crn2sbml.validate.plots import agreement_figure
from crn2sbml.validate.sbml_check import check_sbml

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
"""The source checkout when crn2sbml is imported from one; in an installed copy, the folder holding the package."""
MODELS = REPO / "models"
"""The checkout's model zoo (absent from an installed copy)."""
VALIDATION = REPO / "validation"
"""The checkout's validation evidence (absent from an installed copy)."""
DEMO_MODEL = "digits"
"""The zoo model ``crn2sbml demo`` compiles."""
DEMO_WEIGHTS = Path(__file__).resolve().parent / "data" / f"{DEMO_MODEL}-weights.npz"
"""Package-data copy of ``models/digits/weights.npz`` (byte for byte), so an installed crn2sbml can run the demo."""
ARCHIVE_SAMPLES = 3
"""Test samples each zoo model's ``model.cps`` and ``model.omex`` settle (the first ones of the test split)."""


def checkout_folder(path: str | Path | None, default: Path, option: str) -> Path:
    """``path`` if given, else ``default`` (a folder of the source checkout) if it exists.

    Raises InputError naming ``option`` when crn2sbml runs from an installed copy, which has no ``models/`` or
    ``validation/``: writing them into site-packages would be wrong, and guessing the working directory would
    silently pick up some other folder.
    """
    if path is not None:
        return Path(path)
    if not default.is_dir():
        raise InputError(f"{default} does not exist: crn2sbml is not running from a source checkout; run it from a "
                         f"checkout (pip install -e .) or pass {option} DIR")
    return default


@dataclass(frozen=True)
class ZooSpec:
    name: str
    dataset: str
    hidden: tuple[int, ...]
    eps: float = 0.05
    learning_rate: float = 1e-2
    epochs: int = 400
    batch_size: int = 32
    seed: int = 0
    activation: str = "smoothed_relu"

    def config(self) -> TrainConfig:
        return TrainConfig(hidden=self.hidden, eps=self.eps, learning_rate=self.learning_rate, epochs=self.epochs,
                           batch_size=self.batch_size, seed=self.seed,
                           activation=make_activation(self.activation, self.eps))


ZOO: dict[str, ZooSpec] = {
    spec.name: spec
    for spec in (
        ZooSpec("xor", "xor", (8,), epochs=600),
        ZooSpec("iris", "iris", (8,)),
        ZooSpec("wine", "wine", (8,)),
        ZooSpec("breast-cancer", "breast-cancer", (8,), learning_rate=3e-3),
        ZooSpec("digits", "digits", (16,), batch_size=64),
        ZooSpec("iris-power3", "iris", (8,), activation="power3"),
        ZooSpec("wine-saturating", "wine", (8,), activation="saturating"),
    )
}


def dataset_for(spec: ZooSpec) -> Dataset:
    return load_dataset(spec.dataset, seed=spec.seed)


def train_model(spec: ZooSpec, progress: bool = True):
    data = dataset_for(spec)
    result = train(data.x_train, data.y_train, spec.config(), progress=progress)
    return result, data


def settle_test_set(compiled: CompiledNetwork, sbml: str, data: Dataset, progress=None):
    sim = roadrunner_simulator(compiled, encoding="elementary", sbml=sbml)
    return sim.settle_parallel(data.x_test, progress=progress)


def validate_model(
    folder: Path, data: Dataset, out: Path, progress=None
) -> tuple[ClassificationAgreement, SteadyStates]:
    """Settle every test sample from the shipped ``model.xml``; write ``agreement.json`` and ``agreement.png``."""
    opened = open_model_folder(folder)
    network = opened.compiled.network
    started = time.perf_counter()
    states = settle_test_set(opened.compiled, opened.sbml, data, progress)
    seconds = time.perf_counter() - started
    agreement = compare_classification(network, data.x_test, data.y_test, states)
    write_json(out / "agreement.json", {"model": folder.name, "dataset": data.name, **agreement.to_dict(),
                                        "simulate_seconds": seconds})
    write_atomic(out / "agreement.png", agreement_figure(folder.name, network.forward(data.x_test),
                                                         states.outputs, data.y_test, data.n_classes))
    return agreement, states


def model_readme(spec: ZooSpec, data: Dataset, compiled: CompiledNetwork, train_acc: float,
                 agreement: ClassificationAgreement) -> str:
    net = compiled.network
    n_species, n_reactions = len(compiled.crn.species), len(compiled.crn.reactions)
    return f"""# {spec.name}

- **Dataset**: {data.description}; stratified split with seed {spec.seed}: {len(data.x_train)} training
  samples, {len(data.x_test)} test samples. Raw features are concentrations; the standardisation learned on
  the training split is folded into the first layer.
- **Architecture**: {net.shape_text()}; activation on every layer: {net.activation.name}, the positive root of
  dy/dt = {net.activation.describe()} (eps = {net.eps:g}); time scale c = {compiled.time_scale:g}.
- **Training**: JAX + optax AdamW, lr {spec.learning_rate:g}, batch {spec.batch_size}, up to {spec.epochs} epochs,
  early stopping on a 15 % validation split (`crn2sbml zoo --only {spec.name}` rebuilds it).
- **Reaction network**: {n_species} species ({net.n_inputs} clamped inputs), {n_reactions} reactions.
- **Network test accuracy**: {agreement.network_accuracy:.4f} (training accuracy {train_acc:.4f})
- **CRN test accuracy** (every test sample settled in libRoadRunner from `model.xml`): {agreement.crn_accuracy:.4f};
  {agreement.agreeing_samples}/{agreement.n_samples} samples predict the same class as the network;
  max |CRN − network| output difference {agreement.max_abs_difference:.2e}.

Files: `weights.npz` (W1, b1, …, eps), `model.xml` (SBML L3V2, elementary mass action), `model.ant`
(Antimony), `manifest.json` (input/output species order, eps, weights hash, SHA-256 of every file),
`model.cps` (COPASI: a time course on test sample 1, one parameter set per sample and a scan over the first
{ARCHIVE_SAMPLES} test samples that writes `steady_states.tsv`), `model.omex` (COMBINE archive: SED-ML settling
the same {ARCHIVE_SAMPLES} samples, with a report of the outputs beside the network's). Evidence:
`validation/{spec.name}/`.
"""


def build_model(spec: ZooSpec, models: Path = MODELS, validation: Path = VALIDATION,
                progress: bool = True) -> dict:
    """Retrain, compile, export and validate one zoo model into ``models/<name>`` and ``validation/<name>``.

    Rebuilding the demo model in the checkout's ``models/`` also rewrites :data:`DEMO_WEIGHTS`, so the package
    data never drifts from the shipped folder (a test compares the two byte for byte)."""
    started = time.perf_counter()
    result, data = train_model(spec, progress)
    train_seconds = time.perf_counter() - started
    compiled = compile_network(result.network)
    folder = models / spec.name
    files = model_folder_files(compiled, cps=True, omex=True, samples=data.x_test[:ARCHIVE_SAMPLES])
    check = check_sbml(str(files["model.xml"]))
    commit_folder(folder, files)
    if spec.name == DEMO_MODEL and models.resolve() == MODELS.resolve():
        write_atomic(DEMO_WEIGHTS, files["weights.npz"])
    agreement, _ = validate_model(folder, data, validation / spec.name)
    train_acc = accuracy(result.network, data.x_train, data.y_train)
    write_atomic(folder / "README.md", model_readme(spec, data, compiled, train_acc, agreement))
    summary = {"model": spec.name, "shape": compiled.network.shape_text(), "spec": asdict(spec),
               "species": len(compiled.crn.species), "reactions": len(compiled.crn.reactions),
               "sbml": check.summary(), "train_seconds": train_seconds, "best_epoch": result.best_epoch,
               **agreement.to_dict()}
    write_json(validation / spec.name / "summary.json", summary)
    return summary


def build_zoo(names: list[str] | None = None, progress: bool = True, *, models: str | Path | None = None,
              validation: str | Path | None = None) -> list[dict]:
    """Rebuild ``names`` (default: every zoo model) into ``models`` and ``validation`` (default: the checkout's)."""
    models_dir = checkout_folder(models, MODELS, "--models")
    validation_dir = checkout_folder(validation, VALIDATION, "--validation")
    rows = [build_model(ZOO[name], models_dir, validation_dir, progress=progress) for name in (names or list(ZOO))]
    write_zoo_index(models_dir, validation_dir)
    return rows


def write_zoo_index(models: Path = MODELS, validation: Path = VALIDATION) -> Path:
    """``models/README.md``: one row per shipped model, from each model's ``summary.json``."""
    rows = [json.loads((validation / name / "summary.json").read_text()) for name in ZOO
            if (validation / name / "summary.json").is_file()]
    text = ("# Model zoo\n\nEvery model: trained with `crn2sbml zoo` (deterministic from its seed), compiled to an "
            "elementary mass-action network, and its CRN settled in libRoadRunner on every test sample from the "
            "shipped `model.xml`. Each folder has the weights, `model.xml`, `model.ant`, `model.cps`, the manifest "
            "and a README.\n\n" + zoo_table(rows) + "\n")
    return write_atomic(models / "README.md", text)


def zoo_table(rows: list[dict]) -> str:
    lines = ["| model | shape | activation | reactions | network acc. | CRN acc. | agreeing | max abs diff |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| [{r['model']}]({r['model']}/README.md) | {r['shape']} | {r['spec']['activation']} | "
                     f"{r['reactions']} | {r['network_accuracy']:.4f} | "
                     f"{r['crn_accuracy']:.4f} | {r['agreeing_samples']}/{r['n_samples']} | "
                     f"{r['max_abs_difference']:.1e} |")
    return "\n".join(lines)
