"""One case on a worker: fingerprint, skip or run the command, turn its results into rows.

Runs in a Dask worker process (or in the caller's process for a serial run). The
command runs in-process through the command line's own entry point (handed in by
the CLI as ``runner``), so its numbers are those of the command run alone. A case
writes only inside ``DIR/cases/<id>/``: the command's outputs go to a fresh
attempt folder that replaces ``output/`` when the command succeeded, and
``record.json`` (status, reason, fingerprint, provenance, rows) is written last,
atomically; an attempt cut short by a lost worker leaves neither.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workstation.cohort._provenance import case_fingerprint, code_hash, describe_inputs
from workstation.cohort.commands import COMMANDS, read_results
from workstation.cohort.manifest import Case

__all__ = ["RECORD", "Runner", "read_record", "run_case"]

#: ``argv -> exit status``: the whole command line, run in-process.
Runner = Callable[[Sequence[str]], int]

#: The record of a case, in its folder.
RECORD = "record.json"

#: Commands print to the process's stdout/stderr, which are captured per case: one case at
#: a time per worker process (a worker with several threads still uses them inside a case,
#: through numpy, SimpleITK and the FFTs).
_LOCK = threading.Lock()


def read_record(case_dir: Path) -> dict[str, Any] | None:
    """The record of a case folder, or None."""
    try:
        return dict(json.loads((case_dir / RECORD).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from workstation.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=True, default=str), encoding="utf-8")


def _reason(code: int, stderr: str) -> str:
    """The command's own sentence (``error: …``), or the exit status."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for prefix in ("error:", "internal error:", "Error:"):
        for ln in reversed(lines):
            if ln.startswith(prefix):
                return ln[len(prefix):].strip() if prefix != "internal error:" else ln
    if lines:
        return lines[-1]
    return f"exit status {code}"


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this (worker) process so far, MB (Linux ``ru_maxrss`` is in KiB)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _count_attempt(case_dir: Path, run_token: str) -> int:
    path = case_dir / "attempts.json"
    try:
        counts = dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        counts = {}
    counts = {run_token: int(counts.get(run_token, 0)) + 1}
    _write_json(path, counts)
    return counts[run_token]


def run_case(case: Case, out_dir: str, run_token: str, runner: Runner, force: bool = False) -> dict[str, Any]:
    """Run (or skip) one case and return its record.

    Parameters
    ----------
    case:
        The validated manifest row.
    out_dir:
        The cohort's output folder (the case writes into ``out_dir/cases/<id>``).
    run_token:
        Identifies this cohort run: a record written earlier in the same run (a case
        whose worker was lost after it finished) is reported as done, one of an
        earlier run with the same fingerprint as skipped.
    runner:
        The command line, ``argv -> exit status``.
    force:
        Run even when the fingerprint is unchanged.
    """
    from workstation import __version__

    case_dir = Path(out_dir) / "cases" / case.id
    case_dir.mkdir(parents=True, exist_ok=True)
    for stale in case_dir.glob(".attempt-*"):  # left by a worker that was lost mid-case
        shutil.rmtree(stale, ignore_errors=True)
    attempt = _count_attempt(case_dir, run_token)
    started = time.time()
    base: dict[str, Any] = {
        "id": case.id, "command": case.command, "row": case.row,
        "workstation_version": __version__, "code_hash": code_hash(),
        "worker": f"{socket.gethostname()}:{os.getpid()}", "attempt": attempt, "run_token": run_token,
    }
    try:
        inputs = describe_inputs(case.inputs)
        fingerprint = case_fingerprint(case.command, case.args, {k: v["sha256"] for k, v in inputs.items()},
                                       __version__)
    except OSError as exc:
        record = {**base, "status": "failed", "reason": f"an input cannot be read: {exc}", "fingerprint": None,
                  "seconds": time.time() - started}
        _write_json(case_dir / RECORD, record)
        return record
    base.update({"fingerprint": fingerprint, "inputs": inputs})
    previous = read_record(case_dir)
    if (not force and previous is not None and previous.get("status") == "done"
            and previous.get("fingerprint") == fingerprint and (case_dir / "output").is_dir()):
        if previous.get("run_token") == run_token:
            return previous  # finished in this run before its worker was lost
        return {**previous, "status": "skipped", "reason": "unchanged inputs, options and code",
                "skipped_run_token": run_token}

    spec = COMMANDS[case.command]
    attempt_dir = case_dir / f".attempt-{uuid.uuid4().hex[:12]}"
    output = attempt_dir / "output"
    argv = case.argv(output if spec.output == "directory" else None)
    out_buf, err_buf = io.StringIO(), io.StringIO()
    with _LOCK, contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
        t0 = time.perf_counter()
        code = runner(["--quiet", *argv])
        seconds = time.perf_counter() - t0
    final_argv = case.argv(case_dir / "output" if spec.output == "directory" else None)
    record = {**base, "argv": ["workstation", *final_argv], "exit_code": code, "seconds": seconds,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
              "peak_rss_mb": _peak_rss_mb()}
    stderr = err_buf.getvalue()
    if code != 0:
        record.update({"status": "failed", "reason": _reason(code, stderr), "stderr_tail": stderr[-4000:]})
        shutil.rmtree(attempt_dir, ignore_errors=True)
        _write_json(case_dir / RECORD, record)
        return record
    try:
        output.mkdir(parents=True, exist_ok=True)
        results = read_results(spec, output, out_buf.getvalue())
        if spec.output == "json":
            _write_json(output / "results.json", results)
        rows = spec.extract(results, output)
    except Exception as exc:  # noqa: BLE001 - a result the cohort cannot read fails this case only
        record.update({"status": "failed", "reason": f"the results of {case.command} could not be read "
                       f"({type(exc).__name__}: {exc})"})
        shutil.rmtree(attempt_dir, ignore_errors=True)
        _write_json(case_dir / RECORD, record)
        return record
    final = case_dir / "output"
    old = case_dir / f".attempt-old-{uuid.uuid4().hex[:12]}"
    if final.exists():
        final.rename(old)
    output.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(attempt_dir, ignore_errors=True)
    record.update({"status": "done", "reason": "", "tables": rows.as_dict(),
                   "warnings": results.get("warnings") or []})
    _write_json(case_dir / RECORD, record)
    return record
