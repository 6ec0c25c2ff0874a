"""Command-line interface: a thin shell over the library. The only module (with io.py) that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from crn2sbml.errors import Crn2SbmlError


def _cmd_compile(args: argparse.Namespace) -> int:
    from crn2sbml.compiler import compile_network
    from crn2sbml.io import load_weights, write_model_folder
    from crn2sbml.validate.sbml_check import check_sbml

    network = load_weights(args.weights)
    compiled = compile_network(network, time_scale=args.time_scale)
    written = write_model_folder(compiled, args.out)
    check = check_sbml(written["model.xml"].read_text())
    print(f"compiled {network.shape_text()} network: {len(compiled.crn.species)} species, "
          f"{len(compiled.crn.reactions)} reactions; libSBML: {check.summary()}")
    for path in written.values():
        print(f"  wrote {path}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from crn2sbml.compiler import compile_network
    from crn2sbml.io import load_manifest, load_samples, load_weights, save_table_csv
    from crn2sbml.simulate import roadrunner_simulator

    folder = Path(args.model)
    manifest = load_manifest(folder)
    network = load_weights(folder / "weights.npz")
    if network.weights_hash() != manifest.get("weights_sha256"):
        raise Crn2SbmlError(f"{folder}/weights.npz does not match the manifest's weights hash")
    compiled = compile_network(network, time_scale=float(manifest["time_scale"]))
    x = network.check_inputs(load_samples(args.inputs), where=str(args.inputs))
    sbml = (folder / "model.xml").read_text() if args.encoding == "elementary" else None
    sim = roadrunner_simulator(compiled, encoding=args.encoding, sbml=sbml, tolerance=args.tolerance)
    from tqdm import tqdm

    with tqdm(total=len(x), desc="settling", unit="sample", file=sys.stderr, disable=args.quiet) as bar:
        result = sim.settle(x, progress=bar.update)
    out = Path(args.out) if args.out else folder / "steady_state.csv"
    header = [*manifest["output_species"], "residual", "settle_time", "converged"]
    table = np.column_stack([result.outputs, result.residual, result.settle_time, result.converged])
    save_table_csv(out, header, table)
    print(f"settled {len(x)} samples with libRoadRunner ({result.encoding} encoding); "
          f"max residual {result.residual.max():.3g}, {int(result.converged.sum())}/{len(x)} converged")
    print(f"  wrote {out}")
    return 0 if result.converged.all() else 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from crn2sbml.demo import run_demo

    run_demo(out=Path(args.out), retrain=args.retrain)
    return 0


def _cmd_zoo(args: argparse.Namespace) -> int:
    from crn2sbml.errors import InputError
    from crn2sbml.zoo import ZOO, build_zoo, zoo_table

    unknown = [n for n in args.only or [] if n not in ZOO]
    if unknown:
        raise InputError(f"unknown zoo model(s) {unknown}; choose from {', '.join(ZOO)}")
    rows = build_zoo(args.only or None, progress=True)
    print(zoo_table(rows))
    return 0 if all(r["all_agree"] for r in rows) else 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crn2sbml", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="weights .npz -> model.xml, model.ant, manifest.json")
    p.add_argument("weights", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiply every rate constant by c")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("simulate", help="settle a compiled model for every input row in libRoadRunner")
    p.add_argument("model", type=Path, help="folder written by `crn2sbml compile`")
    p.add_argument("--inputs", type=Path, required=True, help=".csv or .npy, one sample per row")
    p.add_argument("--out", type=Path, help="output CSV (default MODEL/steady_state.csv)")
    p.add_argument("--encoding", choices=("lumped", "elementary"), default="lumped")
    p.add_argument("--tolerance", type=float, default=1e-10, help="stop when max |dy/dt|/y is below this")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("zoo", help="retrain, compile and validate the shipped models in models/")
    p.add_argument("--only", nargs="*", help="model names (default: all)")
    p.set_defaults(func=_cmd_zoo)

    p = sub.add_parser("demo", help="run the whole chain on the built-in digits classifier")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--retrain", action="store_true", help="train the network instead of loading the shipped one")
    p.set_defaults(func=_cmd_demo)
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
