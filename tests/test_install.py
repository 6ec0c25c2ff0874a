"""A normal (non-editable) install runs the demo without the source tree, offline.

The package is built from a copy of the sources (setuptools builds in-tree, and the checkout must stay clean)
and installed with ``pip --target`` into a temporary folder, with no index and no build isolation, so nothing is
downloaded. The demo then runs from a folder outside the checkout with only that folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crn2sbml.zoo import DEMO_MODEL, DEMO_WEIGHTS, MODELS

REPO = Path(__file__).resolve().parent.parent


def test_packaged_demo_weights_equal_the_shipped_model():
    """``crn2sbml zoo`` writes both; a hand edit to one of them must not go unnoticed."""
    assert DEMO_WEIGHTS.read_bytes() == (MODELS / DEMO_MODEL / "weights.npz").read_bytes()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of a copy of the sources; returns the target folder."""
    root = tmp_path_factory.mktemp("install")
    source, target = root / "src", root / "site"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "crn2sbml", source / "crn2sbml", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300, check=False, env=env)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return target


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_installed_demo_runs_outside_the_checkout(installed, tmp_path):
    found = _run(installed, tmp_path, "-c", "import crn2sbml; print(crn2sbml.__file__)")
    assert found.returncode == 0, found.stderr[-3000:]
    assert Path(found.stdout.strip()).resolve().is_relative_to(installed.resolve()), found.stdout
    assert (installed / "crn2sbml" / "data" / DEMO_WEIGHTS.name).is_file()  # package data made it in

    proc = _run(installed, tmp_path, "-m", "crn2sbml.cli", "demo", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shipped digits weights (package data)" in proc.stdout
    assert "samples that agree      360/360" in proc.stdout
    assert (tmp_path / "out" / "model.xml").is_file()


def test_installed_report_asks_for_a_folder(installed, tmp_path):
    """Without a checkout there is no validation/ to write: a clear error naming the option, not a traceback."""
    proc = _run(installed, tmp_path, "-m", "crn2sbml.cli", "report", "--only", "xor")
    assert proc.returncode == 1
    assert "--validation" in proc.stderr and "Traceback" not in proc.stderr
