"""Every code block in README.md and docs/*.md runs verbatim.

Fenced blocks tagged ``python`` run in one fresh interpreter per page (blocks share their names, in page order);
blocks tagged ``sh`` run with ``bash -euo pipefail``. Each page runs in its own scratch folder that links to the
checkout's ``.venv``, ``models``, ``Makefile`` and ``pyproject.toml``, so commands written for the repository
root work and their outputs land in the scratch folder. Blocks tagged ``text`` are not code (diagrams, output).
Any other tag fails the test, so no block can silently escape being run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN = {"python", "sh"}
NOT_CODE = {"text"}
NOT_RUN_HERE = {"make test": "it is what CI runs around this very test suite"}
"""Commands that would recurse into this test run; CI runs them itself."""
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.S | re.M)
LINKED = (".venv", "models", "Makefile", "pyproject.toml", "crn2sbml")


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def test_every_block_has_a_known_tag():
    for page in PAGES:
        for tag, _ in blocks(page):
            assert tag in RUN | NOT_CODE, f"{page.name}: code block tagged {tag!r}; use python, sh or text"


def test_no_indented_code_blocks():
    """Indented blocks would not be run: every command must sit in a fenced block."""
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for line in text.splitlines():
            assert not re.match(r"^ {4}(\.venv/|crn2sbml |make |python)", line), f"{page.name}: {line!r}"


@pytest.mark.parametrize("page", [p for p in PAGES if any(t in RUN for t, _ in blocks(p))], ids=lambda p: p.name)
def test_page_blocks_run(page, tmp_path):
    for name in LINKED:
        (tmp_path / name).symlink_to(REPO / name)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    python = [code for tag, code in blocks(page) if tag == "python"]
    for tag, code in blocks(page):
        if tag != "sh" or code.strip() in NOT_RUN_HERE:
            continue
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        output = proc.stdout[-2000:] + proc.stderr[-3000:]
        assert proc.returncode == 0, f"{page.name}: sh block failed:\n{code}\n{output}"
    if python:
        script = "\n\n".join(python)
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert proc.returncode == 0, f"{page.name}: python blocks failed:\n{proc.stderr[-3000:]}"
