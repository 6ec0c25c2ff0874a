"""crn2sbml's layers point one way: every ``crn2sbml.*`` import goes to the same layer or a lower one.

Two checks. Statically, the AST of every module in ``crn2sbml/`` is walked and *every* import is checked, the
function-local and ``TYPE_CHECKING`` ones included (a lazy import is still a dependency). At run time, each
layer's modules are imported in a fresh interpreter and every crn2sbml module that ends up loaded must belong
to that layer or a lower one. Layers of equal rank are siblings: neither may import the other.
docs/architecture.md explains the table; a new module must be added to it (the test fails otherwise).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "crn2sbml"

LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    # (layer, rank, module prefixes); a module belongs to the layer of its longest matching prefix
    ("shared", 0, ("crn2sbml", "crn2sbml.errors", "crn2sbml.defaults", "crn2sbml.validate.inputs")),
    ("nn", 1, ("crn2sbml.nn",)),
    ("crn", 1, ("crn2sbml.crn", "crn2sbml.kinetics")),
    ("copasi_session", 1, ("crn2sbml.copasi_session",)),
    ("io", 2, ("crn2sbml.io",)),
    ("compiler", 3, ("crn2sbml.compiler",)),
    # DNA strand displacement is an export format (export.FORMATS["dsd"]) with its own translation and verification
    ("export", 4, ("crn2sbml.export", "crn2sbml.dsd")),
    ("simulate", 5, ("crn2sbml.simulate", "crn2sbml.stochastic")),  # deterministic and stochastic dynamics
    ("validate", 6, ("crn2sbml.validate",)),
    ("apps", 7, ("crn2sbml.zoo", "crn2sbml.demo", "crn2sbml.report", "crn2sbml.robustness", "crn2sbml.modelfolder",
                 "crn2sbml.notebook", "crn2sbml.cli", "crn2sbml.__main__")),
]
RANK = {name: rank for name, rank, _ in LAYERS}


def layer_of(module: str) -> str:
    """The layer of ``module`` (dotted name): the layer of its longest matching prefix in :data:`LAYERS`."""
    best, length = None, -1
    for name, _, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = name, len(prefix)
    if best is None or (best == "shared" and module != "crn2sbml" and length == len("crn2sbml")):
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py and to "
                             "docs/architecture.md")
    return best


def allowed(source: str, target: str) -> bool:
    """``source`` may import ``target``: same layer, or a strictly lower rank (siblings may not)."""
    return source == target or RANK[target] < RANK[source]


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imported_modules(name: str, path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every crn2sbml import anywhere in the file (``from X import y`` counts as ``X.y``
    when ``X.y`` is a module, else as ``X``)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else base))
    return [(line, module) for line, module in found if module == "crn2sbml" or module.startswith("crn2sbml.")]


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    source = layer_of(name)
    upward = [f"line {line}: {target} ({layer_of(target)})" for line, target in imported_modules(name, MODULES[name])
              if not allowed(source, layer_of(target))]
    assert not upward, f"{name} ({source}, rank {RANK[source]}) imports from a higher or sibling layer: {upward}"


def test_layer_checker_catches_an_upward_import(tmp_path):
    """The checker itself: a function-local upward import is found."""
    path = tmp_path / "fake.py"
    path.write_text("def f():\n    from crn2sbml.zoo import ZOO\n    return ZOO\n", encoding="utf-8")
    targets = [target for _, target in imported_modules("crn2sbml.nn.fake", path)]
    assert targets == ["crn2sbml.zoo"]
    assert not allowed(layer_of("crn2sbml.nn.fake"), layer_of("crn2sbml.zoo"))
    assert not allowed("nn", "crn")  # siblings


_LOADED = """
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
# packages are left out: importing crn2sbml.validate.inputs runs crn2sbml/validate/__init__.py, whose own imports
# the static check covers; anything it imported would show up here as a module of its own
print(json.dumps(sorted(n for n, m in sys.modules.items()
                        if (n == "crn2sbml" or n.startswith("crn2sbml.")) and not hasattr(m, "__path__"))))
"""


@pytest.mark.parametrize("layer", [name for name, _, _ in LAYERS])
def test_importing_a_layer_loads_nothing_above_it(layer):
    names = [name for name in MODULES if layer_of(name) == layer and not name.endswith("__main__")]
    proc = subprocess.run([sys.executable, "-c", _LOADED, json.dumps(names)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    above = [name for name in loaded if not allowed(layer, layer_of(name))]
    assert not above, f"importing the {layer} layer loads higher or sibling layers: {above}"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
