"""Command-line interface: a thin shell over the library. The only module (with io.py) that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from crn2sbml.errors import Crn2SbmlError

CHECK_LIMIT = 5000
"""Reactions up to which `compile` runs libSBML's full check by default: it is superlinear (0.8 s at 1,262
reactions, over 3 minutes at 25,534 on a 2-core machine)."""


def _cmd_compile(args: argparse.Namespace) -> int:
    from crn2sbml.compiler import compile_network
    from crn2sbml.export.folder import model_folder_files
    from crn2sbml.io import commit_folder, load_samples, load_weights
    from crn2sbml.validate.sbml_check import check_sbml

    network = load_weights(args.weights)
    compiled = compile_network(network, time_scale=args.time_scale)
    samples = None
    if args.samples is not None:
        if not (args.cps or args.omex):
            raise Crn2SbmlError("--samples goes into model.cps / model.omex: add --cps and/or --omex")
        samples = network.check_inputs(load_samples(args.samples, names=compiled.input_species),
                                       where=str(args.samples))
    files = model_folder_files(compiled, cps=args.cps, omex=args.omex, samples=samples,
                               physical=_physical_units(args) if args.units else None)
    n_reactions = len(compiled.crn.reactions)
    run_check = args.check if args.check is not None else n_reactions <= CHECK_LIMIT
    check = check_sbml(str(files["model.xml"])) if run_check else None
    if check is not None and not check.is_valid():
        raise Crn2SbmlError(f"libSBML found {len(check.errors)} error(s) in the SBML: {check.errors[0][1]} "
                            f"(nothing was written to {args.out})")
    written = commit_folder(args.out, files)
    summary = check.summary() if check is not None else (
        f"full check skipped for {n_reactions} reactions (it takes minutes above ~10^4; --check forces it)")
    print(f"compiled {network.shape_text()} network: {len(compiled.crn.species)} species, "
          f"{n_reactions} reactions; libSBML: {summary}")
    if samples is not None:
        print(f"  {len(samples)} sample(s) in {' and '.join(n for n in ('model.cps', 'model.omex') if n in files)}")
    for path in written.values():
        print(f"  wrote {path}")
    return 0


def _add_unit_options(p: argparse.ArgumentParser, required: bool) -> None:
    from crn2sbml.export.units import CONCENTRATION_UNITS

    p.add_argument("--units", choices=CONCENTRATION_UNITS, default=None if not required else "nM",
                   help="physical concentration unit (one model unit = 1 of it): also write model_physical.xml "
                        "and feasibility.json/.txt (dsd: default nM)")
    p.add_argument("--max-bimolecular-rate", type=float, default=1e6, help="q_max in /M/s (default 1e6)")
    p.add_argument("--gate-concentration", type=float, default=1e-6, help="gate and fuel concentration in M "
                   "(default 1e-6)")


def _physical_units(args: argparse.Namespace):
    from crn2sbml.export.units import PhysicalUnits

    return PhysicalUnits(unit=args.units or "nM", q_max=args.max_bimolecular_rate,
                         gate_concentration=args.gate_concentration)


def _cmd_dsd(args: argparse.Namespace) -> int:
    from crn2sbml.compiler import compile_network
    from crn2sbml.dsd import dsd_files
    from crn2sbml.dsd.verify import REQUIRED, verify_network
    from crn2sbml.io import commit_folder, load_weights

    network = load_weights(args.weights)
    compiled = compile_network(network)
    units = _physical_units(args)
    dsd_files(compiled, units)  # fails fast (e.g. a trimolecular reaction) before a long verification
    results = verify_network(compiled.crn, compiled.neuron_species) if args.verify else None
    written = commit_folder(args.out, dsd_files(compiled, units, verification=results))
    summary = json.loads(Path(written["dsd.json"]).read_text())
    print(f"{network.shape_text()} network: {summary['formal_reactions']} formal reactions -> {summary['gates']} "
          f"gates, {summary['fuels']} fuels, {summary['strands']} strands, {summary['nucleotides']} nt")
    for v in results or []:
        verdicts = ", ".join(f"{m} {'passed' if ok else 'FAILED'}{'' if m in v.required else ' (informative)'}"
                             for m, ok in v.results.items())
        print(f"  {v.module}: {verdicts} ({v.enumerated_reactions} enumerated reactions, "
              f"{v.enumerate_seconds + v.verify_seconds:.1f} s)")
        for note in v.notes:
            print(f"    {note}")
    for path in written.values():
        print(f"  wrote {path}")
    if results is None:
        return 0
    failed = [f"{v.module}: {', '.join(m for m in v.required if not v.results[m])}" for v in results if not v.passed]
    if failed:
        # exit status 2, as for the other checks (simulate, report, zoo): the run worked, the design did not
        print(f"crn2sbml dsd: design found incorrect by a required check ({'; '.join(failed)}); see "
              f"{written['dsd.json']}", file=sys.stderr)
        return 2
    ran = [m for m in REQUIRED if any(m in v.required for v in results)]
    print(f"verification passed: {', '.join(ran)} in {len(results)} module(s) (informative checks aside)")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from crn2sbml.io import check_output_not_input, load_samples, save_table_csv
    from crn2sbml.modelfolder import open_model_folder
    from crn2sbml.simulate import AUTO, choose_backend, get_backend, settle_in_subprocess
    from crn2sbml.validate.inputs import check_options

    check_options(tolerance=args.tolerance, where="--tolerance")
    folder = Path(args.model)
    check_output_not_input(Path(args.out) if args.out else folder / "steady_state.csv", args.inputs,
                           *(folder / name for name in ("model.xml", "weights.npz", "manifest.json")))
    opened = open_model_folder(folder, trust_modified=args.trust_modified, on_modified=lambda problem: print(
        f"crn2sbml simulate: warning: {problem}; simulating it anyway (--trust-modified)", file=sys.stderr))
    compiled, manifest = opened.compiled, opened.manifest
    x = compiled.network.check_inputs(load_samples(args.inputs, names=manifest["input_species"]),
                                      where=str(args.inputs))
    how = "chosen with --backend"
    name = args.backend
    if name == AUTO:
        choice = choose_backend(compiled, len(x), encoding=args.encoding)
        name, how = choice.name, f"auto: {choice.reason}"
    backend = get_backend(name)
    capabilities = backend.capabilities
    encoding = backend.load().resolve_encoding(None, args.encoding)  # before a worker starts: InputError if unfit
    # the lumped encoding is built from the verified weights; the elementary one is the checked model.xml
    sbml = opened.sbml if encoding == "elementary" else None
    from tqdm import tqdm

    with tqdm(total=len(x), desc=f"settling ({name})", unit="sample", file=sys.stderr, disable=args.quiet) as bar:
        if not capabilities.process_safe:
            # jax in a spawned worker: XLA's JIT next to libRoadRunner's has crashed a process, and main() may be
            # called from a long-lived process that holds libRoadRunner models (tests, notebooks)
            result = settle_in_subprocess(name, compiled, x, sbml=sbml, encoding=args.encoding,
                                          tolerance=args.tolerance, progress=bar.update)
        else:
            with backend(compiled, sbml=sbml, encoding=args.encoding, tolerance=args.tolerance) as sim:
                parallel = getattr(sim, "settle_parallel", None)  # libRoadRunner: worker processes per core
                result = (parallel or sim.settle)(x, progress=bar.update)
    out = Path(args.out) if args.out else folder / "steady_state.csv"
    header = [*manifest["output_species"], "residual", "settle_time", "converged"]
    table = np.column_stack([result.outputs, result.residual, result.settle_time, result.converged])
    save_table_csv(out, header, table)
    print(f"settled {len(x)} samples with the {result.backend} backend ({how}; {result.encoding} encoding); "
          f"max residual {result.residual.max(initial=0.0):.3g}, {int(result.converged.sum())}/{len(x)} converged")
    print(f"  wrote {out}")
    return 0 if result.converged.all() else 2


def _cmd_report(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from crn2sbml.report import build_report
    from crn2sbml.zoo import VALIDATION, ZOO, checkout_folder

    names = args.only or list(ZOO)
    validation = checkout_folder(args.validation, VALIDATION, "--validation")  # before minutes of work
    with tqdm(total=len(names), desc="validating zoo models", unit="model", file=sys.stderr) as bar:
        reports = build_report(names, validation, progress=lambda _name: bar.update(1), models=args.models)
    for r in reports:
        rr, cp = r["roadrunner"], r["copasi"]
        print(f"{r['model']:<16} agree {rr['agreeing_samples']}/{rr['n_samples']}  COPASI-roadrunner "
              f"{cp['max_rel_diff_copasi_vs_roadrunner']:.1e}  rate/bound {r['decay_rates']['min_ratio_to_bound']:.3f}"
              f"  sensitivity error {r['sensitivities']['max_relative_error']:.1e}  "
              f"{'passed' if r['passed'] else 'FAILED'}")
    print(f"wrote {validation / 'README.md'}")
    return 0 if all(r["passed"] for r in reports) else 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from crn2sbml.demo import run_demo

    run_demo(out=Path(args.out), retrain=args.retrain, weights=args.weights)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from crn2sbml.compiler import compile_network
    from crn2sbml.export.folder import model_folder_files
    from crn2sbml.io import commit_folder, load_labelled_csv, write_json
    from crn2sbml.nn.activations import make_activation
    from crn2sbml.nn.datasets import check_labelled, load_dataset, split
    from crn2sbml.nn.train import TrainConfig, accuracy, check_config, largest_activation, train, weight_sums
    from crn2sbml.validate.inputs import check_labels, check_options

    # before any data is read: a bad option must not cost a dataset load or a JAX start
    check_options(hidden=args.hidden, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                  seed=args.seed, eps=args.eps, where="options")
    activation = make_activation(args.activation, args.eps)
    config = TrainConfig(hidden=tuple(args.hidden), eps=args.eps, learning_rate=args.lr, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, activation=activation,
                         max_activation=args.max_activation, max_weight_sum=args.max_weight_sum)
    check_config(config)
    if args.csv:
        x, y = check_labelled(*load_labelled_csv(args.csv), where=str(args.csv))
        if len(x) < 5:
            raise Crn2SbmlError(f"{args.csv}: {len(x)} samples are too few to split into train and test")
        check_labels(y, where=str(args.csv), test_fraction=0.2)
        x_train, x_test, y_train, y_test = split(x, y, 0.2, args.seed)
        source = str(args.csv)
    else:
        data = load_dataset(args.dataset, seed=args.seed)
        x_train, x_test, y_train, y_test = data.x_train, data.x_test, data.y_train, data.y_test
        source = data.description
    started = time.perf_counter()
    result = train(x_train, y_train, config, progress=not args.quiet)
    seconds = time.perf_counter() - started
    compiled = compile_network(result.network)
    commit_folder(args.out, model_folder_files(compiled))
    metrics = {"source": source, "train_accuracy": accuracy(result.network, x_train, y_train),
               "test_accuracy": accuracy(result.network, x_test, y_test), "best_epoch": result.best_epoch,
               "epochs_run": len(result.history), "train_seconds": seconds,
               "max_activation": args.max_activation, "max_weight_sum": args.max_weight_sum,
               "largest_activation_train": result.largest_activation,
               "largest_activation_test": largest_activation(result.network, x_test),
               "largest_weight_sum": max(float(s.max()) for s in weight_sums(result.network)),
               "rescaled_neurons": [{"layer": i, "neuron": j, "factor": f} for i, j, f in result.rescaled]}
    write_json(Path(args.out) / "training.json", metrics)
    print(f"trained {result.network.shape_text()} ({args.activation}, eps {args.eps:g}) in {seconds:.1f} s: "
          f"test accuracy {metrics['test_accuracy']:.4f}; compiled to {len(compiled.crn.reactions)} reactions "
          f"in {args.out}/")
    if args.max_activation is not None:
        print(f"largest neuron value {metrics['largest_activation_train']:.4g} on the training data, "
              f"{metrics['largest_activation_test']:.4g} on the test data (bound {args.max_activation:g}; "
              f"{len(result.rescaled)} neuron(s) scaled down after training to keep it)")
        if metrics["largest_activation_test"] > args.max_activation:
            # the bound is enforced on the data the network was trained on; unseen inputs can exceed it
            print(f"warning: the test data exceed the bound {args.max_activation:g}: largest neuron value "
                  f"{metrics['largest_activation_test']:.4g}", file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from crn2sbml.errors import InputError
    from crn2sbml.io import check_output_not_input, save_weights
    from crn2sbml.nn.importers import from_safetensors, import_onnx

    check_output_not_input(args.out, args.model)
    suffix = args.model.suffix.lower()
    notes: list[str] = []
    if suffix == ".onnx":
        imported = import_onnx(args.model, eps=args.eps, drop_softmax=args.drop_softmax)
        network, notes = imported.network, imported.notes()
    elif suffix == ".safetensors":
        network = from_safetensors(args.model, eps=args.eps)
    else:
        raise InputError(f"{args.model}: expected a .onnx or .safetensors file (scikit-learn models: use the "
                         "Python API crn2sbml.nn.importers.from_sklearn; pickles are never loaded)")
    save_weights(args.out, network)
    print(f"imported {network.shape_text()} network from {args.model} (ReLU -> σ_eps, eps {args.eps:g}); "
          f"wrote {args.out}")
    for note in notes:
        print(f"  {note}")
    return 0


def _cmd_zoo(args: argparse.Namespace) -> int:
    from crn2sbml.errors import InputError
    from crn2sbml.zoo import ZOO, build_zoo, zoo_table

    unknown = [n for n in args.only or [] if n not in ZOO]
    if unknown:
        raise InputError(f"unknown zoo model(s) {unknown}; choose from {', '.join(ZOO)}")
    rows = build_zoo(args.only or None, progress=True, models=args.models, validation=args.validation)
    print(zoo_table(rows))
    return 0 if all(r["all_agree"] for r in rows) else 2


def _cmd_robustness(args: argparse.Namespace) -> int:
    from crn2sbml.robustness import parse_list, run_robustness

    summary = run_robustness(args.model, args.out, parse_list(args.volumes, "--volumes"),
                             parse_list(args.rate_cv, "--rate-cv"), replicates=args.replicates,
                             samples=args.samples, seed=args.seed, workers=args.workers, scheduler=args.scheduler,
                             inputs=args.inputs, progress=not args.quiet, in_process=args.in_process,
                             engine=args.engine)
    for row in summary["settings"]:
        score = row.get("accuracy", row["agreement"])
        print(f"{row['label']:>22}: {'accuracy' if 'accuracy' in row else 'agreement'} {score:.3f}, "
              f"mean |error| {row['mean_abs_error']:.3g} ({row['engine'] or 'closed form'})")
    print(f"{summary['n_tasks']} tasks in {summary['seconds']:.1f} s on {summary['cluster']}; wrote {args.out}")
    return 0


def _zoo_arguments(p: argparse.ArgumentParser, models_verb: str) -> None:
    p.add_argument("--only", nargs="*", help="model names (default: all)")
    p.add_argument("--models", type=Path,
                   help=f"model zoo folder to {models_verb} (default: the source checkout's models/)")
    p.add_argument("--validation", type=Path,
                   help="evidence folder to write (default: the source checkout's validation/)")


def build_parser() -> argparse.ArgumentParser:
    from crn2sbml import defaults
    from crn2sbml.nn.activations import ACTIVATIONS
    from crn2sbml.nn.datasets import DATASETS

    parser = argparse.ArgumentParser(prog="crn2sbml", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="weights .npz -> model.xml, model.ant, manifest.json")
    p.add_argument("weights", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--time-scale", type=float, default=defaults.TIME_SCALE, help="multiply every rate constant by c")
    p.add_argument("--cps", action="store_true",
                   help="also write model.cps for COPASI (time course, one parameter set per sample, a scan)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=None,
                   help=f"run libSBML's full consistency check (default: only up to {CHECK_LIMIT} reactions)")
    p.add_argument("--omex", action="store_true",
                   help="also write model.omex (SBML + SED-ML settling each sample, report with expected outputs)")
    p.add_argument("--samples", type=Path, help=".csv or .npy input rows to put into model.cps / model.omex "
                   "(default: the all-zero input)")
    _add_unit_options(p, required=False)
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("dsd", help="weights .npz -> formal.crn, physical.crn, dsd.pil (DNA strand displacement), "
                       "dsd.json")
    p.add_argument("weights", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_unit_options(p, required=False)
    p.add_argument("--verify", action="store_true",
                   help="enumerate dsd.pil with peppercorn and verify it with crnverifier (whole network up to "
                        "20 reactions, otherwise neuron by neuron): exit status 2 unless pathway decomposition, "
                        "integrated hybrid and bisimulation (modules up to 5 reactions) all pass (docs/dsd.md §3)")
    p.set_defaults(func=_cmd_dsd)

    from crn2sbml.simulate.registry import backend_names

    p = sub.add_parser("simulate", help="settle a compiled model for every input row (libRoadRunner, JAX, COPASI "
                       "or scipy)")
    p.add_argument("model", type=Path, help="folder written by `crn2sbml compile`")
    p.add_argument("--inputs", type=Path, required=True, help=".csv or .npy, one sample per row")
    p.add_argument("--out", type=Path, help="output CSV (default MODEL/steady_state.csv)")
    p.add_argument("--backend", choices=backend_names(), default="auto",
                   help="simulator (default auto: libRoadRunner, unless samples x reactions > 2e6 and jax is "
                        "installed, then the batched JAX backend, ~10x faster on large sample sets but a few "
                        "seconds to start; the choice and its reason are printed)")
    p.add_argument("--encoding", choices=("lumped", "elementary"), default=None,
                   help="SBML encoding for roadrunner/copasi (default: lumped for roadrunner, elementary for copasi; "
                        "elementary simulates the checked model.xml); jax and scipy read no SBML")
    p.add_argument("--tolerance", type=float, default=defaults.TOLERANCE, help="stop when max |dy/dt|/y is below this")
    p.add_argument("--trust-modified", action="store_true",
                   help="simulate model.xml / weights.npz even if they differ from the digests in manifest.json "
                        "(a warning instead of an error)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("train", help="train a classifier on a bundled dataset or a CSV, then compile it")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=DATASETS)
    src.add_argument("--csv", type=Path, help="features then an integer label in the last column")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--hidden", type=int, nargs="*", default=list(defaults.HIDDEN), help="hidden layer sizes")
    p.add_argument("--activation", choices=ACTIVATIONS, default=defaults.ACTIVATION)
    p.add_argument("--eps", type=float, default=defaults.EPS)
    p.add_argument("--lr", type=float, default=defaults.LEARNING_RATE)
    p.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    p.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE)
    p.add_argument("--seed", type=int, default=defaults.SEED)
    p.add_argument("--max-activation", type=float, metavar="B",
                   help="keep every neuron (hidden and output) at most B on the training data (docs/dsd.md §1)")
    p.add_argument("--max-weight-sum", type=float, metavar="S",
                   help="keep Σ|w| + |b| of every neuron of the compiled network at most S")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("import", help="ONNX (Gemm/MatMul/Add/Relu/BatchNormalization) or safetensors weights "
                       "-> weights .npz")
    p.add_argument("model", type=Path)
    p.add_argument("--out", type=Path, required=True, help="weights .npz to write")
    p.add_argument("--eps", type=float, default=defaults.EPS)
    p.add_argument("--drop-softmax", action="store_true",
                   help="drop a trailing ONNX Softmax/LogSoftmax (argmax unchanged; outputs no longer probabilities)")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("zoo", help="retrain, compile and validate the shipped models in models/")
    _zoo_arguments(p, models_verb="write")
    p.set_defaults(func=_cmd_zoo)

    p = sub.add_parser("report", help="regenerate validation/: COPASI cross-check and theory checks per zoo model")
    _zoo_arguments(p, models_verb="read")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("demo", help="run the whole chain on the built-in digits classifier")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--retrain", action="store_true", help="train the network instead of loading the shipped one")
    p.add_argument("--weights", type=Path,
                   help="weights .npz of a digits classifier to use instead of the shipped one (package data)")
    p.set_defaults(func=_cmd_demo)

    from crn2sbml.stochastic.engines import engine_names

    p = sub.add_parser("robustness", help="finite molecule numbers (exact SSA or chemical Langevin) and "
                       "rate-constant error: accuracy over a samples x settings x replicates grid on Dask")
    p.add_argument("model", type=Path, help="folder written by `crn2sbml compile` (a zoo model brings its test set)")
    p.add_argument("--volumes", default="10,100,1000", help="Ω values, molecules per unit concentration")
    p.add_argument("--rate-cv", default="0.1,0.3", help="coefficients of variation of the rate constants")
    p.add_argument("--replicates", type=int, default=1)
    p.add_argument("--samples", type=int, default=10, help="first N test samples (or rows of --inputs)")
    p.add_argument("--inputs", type=Path, help=".csv or .npy samples (default: the zoo model's test split)")
    p.add_argument("--seed", type=int, default=0, help="base seed; every task's seed is spawned from it")
    p.add_argument("--scheduler", help="tcp://host:port of a running Dask scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    p.add_argument("--in-process", action="store_true", help="no Dask: run every task in this process")
    p.add_argument("--engine", choices=engine_names(), default="auto",
                   help="stochastic engine (auto: exact SSA where one run is affordable, chemical Langevin beyond)")
    p.add_argument("--out", type=Path, required=True, help="output folder (summary.json, tasks.csv, robustness.png)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_robustness)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except Crn2SbmlError as exc:
        print(f"crn2sbml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:  # pragma: no cover - load_manifest wraps these
        print(f"crn2sbml: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
