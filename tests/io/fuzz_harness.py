"""Run one mutated input through the command line and check the contract (fuzz test helper).

The contract (``shared/spec/CLI.md`` and issue 17): every input ends in exit 0
with a correct volume or exit 2 with one sentence naming the file; never exit 1,
a traceback or a raw Python warning; nothing written on failure; the input
never changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import unittest.mock
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import typer.main

from workstation.cli import main

#: Outcomes per reader, printed at the end of the session (tests/io/conftest.py).
OUTCOMES: dict[str, Counter[str]] = {}
#: The seed every fuzz test runs with (Hypothesis ``derandomize`` uses the test's name;
#: this seed is passed with ``@seed`` so that the run is the same everywhere).
FUZZ_SEED = 20261127


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    leaked: list[str] = field(default_factory=list)


_COMMANDS: dict[int, Any] = {}


def _cached_get_command(typer_instance: Any) -> Any:
    """typer builds the click command anew on every call (~0.2 s); the fuzz runs reuse it."""
    key = id(typer_instance)
    if key not in _COMMANDS:
        _COMMANDS[key] = _GET_COMMAND(typer_instance)
    return _COMMANDS[key]


_GET_COMMAND = typer.main.get_command


def run_cli(args: list[str]) -> Outcome:
    """``workstation ARGS`` in this process, catching what it prints and any raw warning."""
    out, err = io.StringIO(), io.StringIO()
    with (
        unittest.mock.patch.object(typer.main, "get_command", _cached_get_command),
        warnings.catch_warnings(record=True) as leaked,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        code = main(args)
    return Outcome(code, out.getvalue(), err.getvalue(), [f"{w.category.__name__}: {w.message}" for w in leaked])


def digest(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def check_contract(
    reader: str,
    inputs: list[Path],
    args: list[str],
    output: Path | None,
    on_success: Callable[[Outcome], None] | None = None,
    what: Any = None,
) -> Outcome:
    """Run ``args``; assert the contract; count the outcome under ``reader``."""
    before = {k: v for p in inputs for k, v in digest(p).items()}
    if trace := os.environ.get("FUZZ_TRACE"):  # development: the last line names a crash's input
        with open(trace, "a") as fh:
            fh.write(f"{reader} {what!r}\n")
    result = run_cli(args)
    counts = OUTCOMES.setdefault(reader, Counter())
    counts["inputs"] += 1
    context = f"{reader}: mutation {what!r}: exit {result.code}: {result.stderr.strip()[:400]}"
    assert result.code in (0, 2), context
    assert "Traceback" not in result.stderr, context
    assert not result.leaked, f"{context}; raw warnings: {result.leaked}"
    after = {k: v for p in inputs for k, v in digest(p).items()}
    assert after == before, f"{context}; the input was changed"
    if result.code == 2:
        counts["exit 2"] += 1
        lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        usage = "Usage:" in result.stderr and "Invalid value" in result.stderr  # click's own
        assert len(lines) == 1 or usage, context
        if output is not None:
            assert not output.exists(), f"{context}; an output was written"
            leftovers = list(output.parent.iterdir()) if output.parent.exists() else []
            assert not leftovers, f"{context}; left {leftovers}"
    else:
        counts["exit 0"] += 1
        assert output is None or output.exists(), context
        if on_success is not None:
            on_success(result)
    return result


@contextlib.contextmanager
def scratch() -> Any:
    """A fresh temporary folder per Hypothesis example (function fixtures do not reset)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def affine_ok(affine: np.ndarray) -> bool:
    a = np.asarray(affine, dtype=float)
    return bool(np.all(np.isfinite(a)) and abs(np.linalg.det(a[:3, :3])) > 1e-9)


def affine_fit(out: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (scale, offset) with out ≈ scale·ref + offset, and the largest residual."""
    x = ref.astype(np.float64).ravel()
    y = out.astype(np.float64).ravel()
    if x.size == 0:
        return 1.0, 0.0, 0.0
    if np.ptp(x) == 0:
        return 1.0, float(y.mean() - x.mean()), float(np.ptp(y))
    design = np.column_stack([x, np.ones_like(x)])
    (scale, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.max(np.abs(design @ [scale, offset] - y)))
    return float(scale), float(offset), residual
