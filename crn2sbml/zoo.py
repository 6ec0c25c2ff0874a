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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from crn2sbml.compiler import CompiledNetwork, compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.folder import model_folder_files
from crn2sbml.export.units import PhysicalUnits, feasibility
from crn2sbml.io import commit_folder, write_atomic, write_json
from crn2sbml.modelfolder import open_model_folder
from crn2sbml.nn.activations import make_activation
from crn2sbml.nn.datasets import Dataset, load_dataset
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.nn.train import TrainConfig, accuracy, largest_activation, train, weight_sums
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
    max_activation: float | None = None
    """:attr:`TrainConfig.max_activation`: bound on every neuron's value on the training data."""
    max_weight_sum: float | None = None
    """:attr:`TrainConfig.max_weight_sum`: bound on ``Σ|w| + |b|`` of every neuron."""
    lab_scale: float = 1.0
    """α in nM of the lab setting a bounded model is designed for; its feasibility report covers that setting
    and :data:`LAB_UNITS` (α = 1 nM)."""

    def config(self) -> TrainConfig:
        return TrainConfig(hidden=self.hidden, eps=self.eps, learning_rate=self.learning_rate, epochs=self.epochs,
                           batch_size=self.batch_size, seed=self.seed,
                           activation=make_activation(self.activation, self.eps),
                           max_activation=self.max_activation, max_weight_sum=self.max_weight_sum)

    @property
    def bounded(self) -> bool:
        return self.max_activation is not None or self.max_weight_sum is not None

    def lab_units(self) -> PhysicalUnits:
        """:data:`LAB_UNITS` at α = :attr:`lab_scale` nM."""
        return replace(LAB_UNITS, scale=self.lab_scale)


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
        # designed for the lab (docs/dsd.md §1, "Networks a lab can afford"): every concentration <= 1.5 model
        # units on the training data, Σ|w| + |b| <= 3 per neuron and a softer ReLU (eps 0.5: faster relaxation,
        # so fewer gates used while settling, and more leak tolerated); passes every feasibility check at 20 nM
        ZooSpec("iris-bounded", "iris", (8,), eps=0.5, max_activation=1.5, max_weight_sum=3.0, lab_scale=20.0),
    )
}

LAB_UNITS = PhysicalUnits(unit="nM", scale=1.0, q_max=1e6, gate_concentration=1e-6)
"""The lab setting of the feasibility table in docs/dsd.md §1: α = 1 nM, q_max = 1e6 /M/s, gates and fuels 1 µM."""


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


def lab_feasibility(compiled: CompiledNetwork, x_test: np.ndarray, units: PhysicalUnits = LAB_UNITS) -> dict:
    """The feasibility report at inputs 1 (model units, as in the docs table) and at the test sample that uses
    the most gates, the largest gate use over the whole test split, and ``feasible``: no limit violated in
    either report (the leak and the rates do not depend on the inputs; gate use does)."""
    at_one = feasibility(compiled, units)
    per_sample = [feasibility(compiled, units, x).max_gate_fraction for x in x_test]
    worst = int(np.argmax(per_sample))
    at_worst = feasibility(compiled, units, x_test[worst])
    return {"units": asdict(units), "feasible": at_one.feasible and at_worst.feasible,
            "at_inputs_one": json.loads(at_one.to_json()),
            "worst_test_sample": {"index": worst, **json.loads(at_worst.to_json())},
            "max_gate_fraction_test_split": float(per_sample[worst])}


def bounds_line(spec: ZooSpec, network: FeedForwardNetwork, data: Dataset) -> str:
    """The README line on a bounded model: the bounds and what they reach on the training and test data."""
    parts = []
    if spec.max_activation is not None:
        parts.append(f"every neuron ≤ {spec.max_activation:g} on the training data\n  (largest value "
                     f"{largest_activation(network, data.x_train):.3f} there, "
                     f"{largest_activation(network, data.x_test):.3f} on the test split)")
    if spec.max_weight_sum is not None:
        largest = max(float(s.max()) for s in weight_sums(network))
        parts.append(f"Σ|w| + |b| ≤ {spec.max_weight_sum:g} per neuron\n  (largest {largest:.3f})")
    if not parts:
        return ""
    scales = sorted({LAB_UNITS.scale, spec.lab_scale})
    return (f"- **Bounds** (docs/dsd.md §1): {'; '.join(parts)};\n  feasibility reports at α = "
            f"{' and '.join(f'{a:g}' for a in scales)} nM (gates and fuels 1 µM) in "
            f"`validation/{spec.name}/feasibility.txt`.\n")


def model_readme(spec: ZooSpec, data: Dataset, compiled: CompiledNetwork, train_acc: float,
                 agreement: ClassificationAgreement) -> str:
    net = compiled.network
    n_species, n_reactions = len(compiled.crn.species), len(compiled.crn.reactions)
    bounds = bounds_line(spec, net, data)
    return f"""# {spec.name}

- **Dataset**: {data.description}; stratified split with seed {spec.seed}: {len(data.x_train)} training
  samples, {len(data.x_test)} test samples. Raw features are concentrations; the standardisation learned on
  the training split is folded into the first layer.
- **Architecture**: {net.shape_text()}; activation on every layer: {net.activation.name}, the positive root of
  dy/dt = {net.activation.describe()} (eps = {net.eps:g}); time scale c = {compiled.time_scale:g}.
- **Training**: JAX + optax AdamW, lr {spec.learning_rate:g}, batch {spec.batch_size}, up to {spec.epochs} epochs,
  early stopping on a 15 % validation split (`crn2sbml zoo --only {spec.name}` rebuilds it).
{bounds}- **Reaction network**: {n_species} species ({net.n_inputs} clamped inputs), {n_reactions} reactions.
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
    if spec.bounded:
        write_feasibility(validation / spec.name, spec, compiled, data)
    train_acc = accuracy(result.network, data.x_train, data.y_train)
    write_atomic(folder / "README.md", model_readme(spec, data, compiled, train_acc, agreement))
    summary = {"model": spec.name, "shape": compiled.network.shape_text(), "spec": asdict(spec),
               "species": len(compiled.crn.species), "reactions": len(compiled.crn.reactions),
               "sbml": check.summary(), "train_seconds": train_seconds, "best_epoch": result.best_epoch,
               **agreement.to_dict()}
    write_json(validation / spec.name / "summary.json", summary)
    return summary


def write_feasibility(out: Path, spec: ZooSpec, compiled: CompiledNetwork, data: Dataset) -> None:
    """``feasibility.json`` (:func:`lab_feasibility` at :data:`LAB_UNITS` and at ``spec.lab_units()``) and
    ``feasibility.txt`` (the same reports as text)."""
    settings = [LAB_UNITS] + ([spec.lab_units()] if spec.lab_scale != LAB_UNITS.scale else [])
    reports, texts = [], []
    for units in settings:
        report = lab_feasibility(compiled, data.x_test, units)
        reports.append(report)
        worst = report["worst_test_sample"]["index"]
        texts.append(f"== alpha = {units.scale:g} {units.unit}: {'feasible' if report['feasible'] else 'NOT feasible'}"
                     f" ==\nAt inputs 1 (model units each):\n{feasibility(compiled, units).to_text()}\n"
                     f"At test sample {worst}, the one that uses the most gates:\n"
                     f"{feasibility(compiled, units, data.x_test[worst]).to_text()}")
    write_json(out / "feasibility.json", {"model": spec.name, "settings": reports})
    write_atomic(out / "feasibility.txt", "\n".join(texts))


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
