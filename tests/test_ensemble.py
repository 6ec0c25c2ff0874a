"""Dask ensembles: a 2-worker LocalCluster gives exactly the single-process result; the CLI writes its folder."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.stochastic.ensemble import local_client, result_table, run_ensemble, summarise
from crn2sbml.stochastic.readout import Readout, settings_grid


def small_compiled():
    net = FeedForwardNetwork.from_arrays([(np.array([[1.0, -0.5], [0.7, 0.4]]), np.array([0.2, -0.1])),
                                          (np.array([[1.2, -0.8], [-0.3, 0.9]]), np.array([0.3, 0.0]))], eps=0.1)
    return compile_network(net)


X = np.array([[0.6, 0.5], [0.1, 1.2], [1.4, 0.2]])
LABELS = np.array([0, 1, 0])
READOUT = Readout(burn_in=10.0, window=5.0, step=0.25)


def test_two_worker_cluster_equals_single_process_run_exactly():
    compiled = small_compiled()
    settings = settings_grid([10, 50], [0.3])
    single = run_ensemble(compiled, X, settings, replicates=2, base_seed=7, labels=LABELS, readout=READOUT)
    started = time.perf_counter()
    with local_client(2) as client:
        startup = time.perf_counter() - started
        assert len(client.scheduler_info()["workers"]) == 2
        ticks: list[int] = []
        distributed = run_ensemble(compiled, X, settings, replicates=2, base_seed=7, labels=LABELS,
                                   client=client, readout=READOUT, progress=ticks.append)
    assert startup < 30.0  # measured ~1.3 s for 2 processes on the 2-core development machine
    assert len(ticks) == X.shape[0] * len(settings) * 2
    assert np.array_equal(single.outputs, distributed.outputs)
    assert not np.isnan(single.outputs).any()
    # replicates are different implementations: different SSA seeds and rate draws
    assert not np.array_equal(single.outputs[:, :, 0], single.outputs[:, :, 1])
    other_seed = run_ensemble(compiled, X[:1], settings[:1], base_seed=8, readout=READOUT)
    assert not np.array_equal(other_seed.outputs[0], single.outputs[:1, :1, :1][0])


def test_summary_and_table():
    compiled = small_compiled()
    settings = settings_grid([20], [0.1])
    result = run_ensemble(compiled, X, settings, replicates=1, base_seed=0, labels=LABELS, readout=READOUT)
    rows = summarise(result)
    assert [r["label"] for r in rows] == ["omega=20 cv=0", "omega=20 cv=0.1", "omega=inf cv=0.1"]
    assert all(0 <= r["accuracy"] <= 1 and r["mean_abs_error"] >= 0 for r in rows)
    header, table = result_table(result)
    assert table.shape == (len(X) * len(settings), len(header))
    assert np.isinf(table[-1, 2])


def test_cli_robustness_writes_summary_csv_and_figure(tmp_path):
    from crn2sbml.cli import main
    from crn2sbml.export.folder import model_folder_files
    from crn2sbml.io import commit_folder

    compiled = small_compiled()
    model = tmp_path / "model"
    commit_folder(model, model_folder_files(compiled))
    inputs = tmp_path / "x.npy"
    np.save(inputs, X)
    out = tmp_path / "out"
    assert main(["robustness", str(model), "--inputs", str(inputs), "--volumes", "10", "--rate-cv", "0.2",
                 "--samples", "2", "--in-process", "-q", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tasks"] == 2 * 3 and len(summary["settings"]) == 3
    # auto: one exact SSA run of this small network at Ω = 10 is cheap, so rebop ran; Ω = ∞ is closed form
    assert [r["engine"] for r in summary["settings"]] == ["rebop", "rebop", None]
    assert summary["engine"] == "auto" and "exact SSA" in summary["engine_reasons"]["10"]
    assert (out / "tasks.csv").read_text().count("\n") == 1 + 6
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["robustness", str(model), "--inputs", str(inputs), "--volumes", "ten", "--out",
                 str(tmp_path / "o2")]) == 1
    with pytest.raises(SystemExit):  # argparse refuses an engine that is not registered
        main(["robustness", str(model), "--engine", "tau-leaping", "--out", str(tmp_path / "o3")])


def test_bad_grid_raises():
    compiled = small_compiled()
    with pytest.raises(InputError):
        run_ensemble(compiled, X, [], readout=READOUT)
    with pytest.raises(InputError):
        run_ensemble(compiled, X, settings_grid([10], []), replicates=0, readout=READOUT)
