"""The benchmarks are scripts, not tests, but they must not rot: every name they import from
the workstation exists (a refactor that moves a helper breaks them silently otherwise)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _workstation_imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):  # module level and inside functions
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workstation") and not node.level:
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names if alias.name.startswith("workstation"))
    return found


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_imports_exist(path: Path) -> None:
    missing = []
    for module, name in _workstation_imports(path):
        mod = importlib.import_module(module)
        if name and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert missing == [], f"{path.name} imports names that no longer exist"
