"""The physics runs headless: lower packages never import the viewer, Qt, napari or the reports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "workstation"
LOWER = ("core", "io", "dosimetry", "radiotherapy", "ablation", "registration", "segmentation", "tace",
         "lesions")
FORBIDDEN = ("napari", "PyQt6", "PyQt5", "PySide6", "qtpy", "magicgui", "vispy",
             "workstation.viewer", "workstation.report", "workstation.cli", "workstation.demo")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):  # includes imports inside functions (lazy imports count too)
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", LOWER)
def test_lower_packages_do_not_import_upward(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert offenders == []


def test_nothing_imports_the_cli() -> None:
    """The CLI is the top: the demo and every package call the commands, never CLI state."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] not in ("cli", "__main__.py")
        for name in _imports(path)
        if name == "workstation.cli" or name.startswith("workstation.cli.")
    ]
    assert offenders == []


def test_cli_command_modules_are_independent() -> None:
    """A command group is one module: it imports only the CLI's shared helpers, not another group."""
    offenders = [
        f"cli/{path.name} imports {name}"
        for path in sorted((ROOT / "cli").glob("*.py"))
        if path.name not in ("_main.py", "__init__.py", "__main__.py")
        for name in _imports(path)
        if name.startswith("workstation.cli") and name != "workstation.cli._common"
    ]
    assert offenders == []
