"""``crn2sbml demo``: the digits classifier through the whole chain, with a table of what happened.

It needs no source checkout: the weights come from package data (:data:`crn2sbml.zoo.DEMO_WEIGHTS`) or a path
given explicitly, and the digits dataset ships inside scikit-learn."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.folder import model_folder_files
from crn2sbml.io import commit_folder, load_weights
from crn2sbml.validate.equivalence import compare_classification
from crn2sbml.validate.sbml_check import check_sbml
from crn2sbml.zoo import DEMO_MODEL, DEMO_WEIGHTS, ZOO, dataset_for, settle_test_set, train_model


def run_demo(out: Path, retrain: bool = False, weights: Path | None = None) -> dict:
    """Compile, export, check and settle the digits classifier into ``out``; print the stage table.

    ``weights``: a weights ``.npz`` to use instead of the shipped digits weights (the package-data copy);
    ``retrain`` trains the network from its zoo seed instead of loading any weights."""
    from tqdm import tqdm

    if retrain and weights is not None:
        raise InputError("pass weights or retrain, not both")
    spec = ZOO[DEMO_MODEL]
    stages: list[tuple[str, float, str]] = []

    def stage(name: str, started: float, detail: str) -> None:
        stages.append((name, time.perf_counter() - started, detail))

    t = time.perf_counter()
    data = dataset_for(spec)
    stage("load data", t, f"{data.description}; {len(data.x_test)} test samples")
    t = time.perf_counter()
    if retrain:
        network = train_model(spec, progress=True)[0].network
        stage("train", t, f"JAX + optax, seed {spec.seed}")
    else:
        # a missing package-data file is a broken installation: load_weights says which path, never retrain quietly
        source = DEMO_WEIGHTS if weights is None else Path(weights)
        network = load_weights(source)
        stage("load weights", t, "shipped digits weights (package data)" if weights is None else str(source))
    t = time.perf_counter()
    compiled = compile_network(network)
    stage("compile", t, f"{len(compiled.crn.species)} species, {len(compiled.crn.reactions)} reactions")
    t = time.perf_counter()
    files = model_folder_files(compiled)
    commit_folder(out, files)
    sbml = str(files["model.xml"])
    stage("export", t, f"SBML L3V2 + Antimony + manifest in {out}/")
    t = time.perf_counter()
    check = check_sbml(sbml)
    stage("libSBML check", t, check.summary())
    t = time.perf_counter()
    with tqdm(total=len(data.x_test), desc="settling test split in libRoadRunner", unit="sample",
              file=sys.stderr, leave=False) as bar:
        states = settle_test_set(compiled, sbml, data, progress=bar.update)
    stage("simulate", t, f"libRoadRunner, {states.encoding} model.xml, load + {len(data.x_test)} settles")
    agreement = compare_classification(network, data.x_test, data.y_test, states)

    total = sum(s[1] for s in stages)
    print(f"crn2sbml demo: digits classifier {network.shape_text()} as a chemical reaction network "
          f"(eps = {network.eps:g}; {platform.machine()}, Python {platform.python_version()})")
    print()
    print(f"  {'stage':<16}{'time':>9}  detail")
    for name, seconds, detail in stages:
        print(f"  {name:<16}{seconds:>8.2f}s  {detail}")
    print(f"  {'total':<16}{total:>8.2f}s")
    print()
    rows = [
        ("network test accuracy", f"{agreement.network_accuracy:.4f}"),
        ("CRN test accuracy", f"{agreement.crn_accuracy:.4f}"),
        ("samples that agree", f"{agreement.agreeing_samples}/{agreement.n_samples}"),
        ("max |CRN - network|", f"{agreement.max_abs_difference:.2e} (relative {agreement.max_rel_difference:.2e})"),
        ("max settle residual", f"{agreement.max_residual:.2e} (all converged: {agreement.all_converged})"),
    ]
    for label, value in rows:
        print(f"  {label:<24}{value}")
    return {"agreement": agreement.to_dict(), "stages": stages, "total_seconds": total}
