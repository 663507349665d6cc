"""``workstation cohort run``: every case of a manifest as a task on ``dask.distributed``.

By default a :class:`distributed.LocalCluster` of worker processes (one thread
each, a memory limit each) is started for the run; ``scheduler`` connects to an
existing cluster instead (Slurm/PBS through dask-jobqueue, Kubernetes through
dask-kubernetes: see ``docs/cohort.md``), whose workers must import the same
workstation version and see the inputs and the output folder at the same paths.

Failures stay local: a case the command rejects is recorded as failed with the
command's own sentence and the others go on; a case whose worker dies (killed,
out of memory) is rescheduled by Dask on another worker, up to
``allowed_failures`` times; a case whose task raised an unexpected exception is
retried ``retries`` times. Every case writes its own record, so a run that was
interrupted resumes where it stopped, and a case whose inputs, options and code
are unchanged is skipped.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.cohort._worker import Runner, read_record, run_case
from workstation.cohort.constants import (
    ALLOWED_FAILURES,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_RETRIES,
    EQD2_TISSUE_BY_ROLE,
)
from workstation.cohort.manifest import Manifest
from workstation.cohort.tables import build_tables, unmatched_outcomes, write_tables
from workstation.core.progress import Progress, no_progress

__all__ = ["CohortRun", "run_cohort"]

@dataclass
class CohortRun:
    """What :func:`run_cohort` did."""

    out_dir: Path
    records: dict[str, dict[str, Any]]
    tables: dict[str, Any]
    counts: dict[str, int]
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def _lost_record(case_id: str, command: str, exc: BaseException, allowed_failures: int) -> dict[str, Any]:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        reason = (f"the worker running it died {allowed_failures} times (killed, or over its memory limit); "
                  "run it alone or give the workers more memory (--memory-limit)")
    else:
        reason = f"the task could not run ({type(exc).__name__}: {exc})"
    return {"id": case_id, "command": command, "status": "failed", "reason": reason}


def _start_client(scheduler: str | None, workers: int | None, n_cases: int, memory_limit: str | None,
                  processes: bool, allowed_failures: int, library_threads: int | None) -> tuple[Any, Any]:
    import dask
    from distributed import Client, LocalCluster

    from workstation.core.errors import InvalidInputError

    n = workers if workers is not None else max(1, min(os.cpu_count() or 1, n_cases))
    # workers x threads = cores: each worker's own libraries (ITK, OpenMP, BLAS) get its share
    threads = str(library_threads or max(1, (os.cpu_count() or 1) // n))
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
               **{k: threads for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                       "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")}}
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures,
                          "distributed.nanny.pre-spawn-environ": environ}):
        if scheduler is not None:
            try:
                return Client(scheduler, timeout="20s"), None
            except (OSError, TimeoutError, ValueError) as exc:
                raise InvalidInputError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc}).") from None
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                               memory_limit=memory_limit or "auto", dashboard_address="127.0.0.1:0",
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster


def run_cohort(
    manifest: Manifest,
    out_dir: str | os.PathLike[str],
    runner: Runner,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    retries: int = DEFAULT_RETRIES,
    allowed_failures: int = ALLOWED_FAILURES,
    processes: bool = True,
    library_threads: int | None = None,
    serial: bool = False,
    force: bool = False,
    progress: Progress = no_progress,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> CohortRun:
    """Run every case of a validated manifest and write the cohort tables.

    Parameters
    ----------
    manifest:
        From :func:`workstation.cohort.read_manifest`.
    out_dir:
        Output folder: ``cases/<id>/`` (each command's outputs and ``record.json``),
        ``treatments|rois|lesions.parquet|csv`` and ``cohort.json``.
    runner:
        The command line as a function ``argv -> exit status`` (the CLI hands in its
        own entry point; it must be importable on the workers).
    scheduler:
        Address of an existing Dask scheduler (``tcp://host:8786``); by default a
        local cluster is started.
    workers:
        Worker processes of the local cluster (default: one per core, at most one per case).
    library_threads:
        Threads of each local worker's libraries (ITK, OpenMP, BLAS); default ``cores // workers``.
    memory_limit:
        Memory limit of each local worker (``"4GiB"``; ``None``/``"auto"``: an equal share of
        the machine's memory).
    retries, allowed_failures:
        Re-runs after an unexpected exception of the task, and worker losses tolerated
        per case (see the module docstring).
    processes:
        Local workers as processes (default) or as threads of this process.
    serial:
        No Dask: the cases one after the other in this process (debugging, reference timing).
    force:
        Run every case, even those whose fingerprint is unchanged.
    progress:
        ``progress(fraction, text)`` after each finished case.
    on_start:
        Called with the cluster description (scheduler address, workers, dashboard link)
        once the cluster is up, before the first case runs.
    """
    from workstation import __version__
    from workstation.cohort._provenance import code_hash
    from workstation.io import ensure_not_input

    out = Path(out_dir).resolve()
    ensure_not_input(out, *sorted({p for case in manifest.cases for p in case.input_paths()
                                   if not p.startswith("pacs://")}))
    out.mkdir(parents=True, exist_ok=True)
    run_token = uuid.uuid4().hex
    started = time.time()
    cases = manifest.cases
    total = len(cases)
    records: dict[str, dict[str, Any]] = {}
    counts = {"done": 0, "failed": 0, "skipped": 0}
    cluster_info: dict[str, Any] = {"scheduler": "serial (this process)", "workers": 0, "dashboard": None}

    def finished(record: dict[str, Any]) -> None:
        records[record["id"]] = record
        counts[record.get("status", "failed")] = counts.get(record.get("status", "failed"), 0) + 1
        progress(len(records) / total, f"{len(records)}/{total} cases ({counts['done']} done, "
                 f"{counts['skipped']} skipped, {counts['failed']} failed)")

    progress(0.0, f"0/{total} cases")
    if serial:
        if on_start is not None:
            on_start(cluster_info)
        for case in cases:
            finished(run_case(case, str(out), run_token, runner, force))
    else:
        from distributed import as_completed

        client, cluster = _start_client(scheduler, workers, total, memory_limit, processes, allowed_failures,
                                        library_threads)
        try:
            info = client.scheduler_info()
            cluster_info = {"scheduler": client.scheduler.address if scheduler is None else scheduler,
                            "local_cluster": scheduler is None, "workers": len(info.get("workers", {})),
                            "memory_limit": memory_limit if scheduler is None else None,
                            "dashboard": client.dashboard_link}
            if on_start is not None:
                on_start(cluster_info)
            futures = {}
            for case in cases:
                fut = client.submit(run_case, case, str(out), run_token, runner, force,
                                    key=f"cohort-{case.id}-{run_token[:8]}", pure=False, retries=retries)
                futures[fut.key] = (fut, case)
            for fut in as_completed([f for f, _ in futures.values()]):
                case = futures[fut.key][1]
                try:
                    record = fut.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker, lost scheduler, task error
                    record = read_record(out / "cases" / case.id) or {}
                    if record.get("run_token") != run_token or record.get("status") != "done":
                        record = _lost_record(case.id, case.command, exc, allowed_failures)
                finished(record)
                fut.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    tables = build_tables(cases, records)
    summary = {
        "workstation_version": __version__,
        "code_hash": code_hash(),
        "manifest": str(manifest.path),
        "manifest_sha256": hashlib.sha256(manifest.path.read_bytes()).hexdigest(),
        "run_token": run_token,
        "started": _dt.datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "seconds": time.time() - started,
        "cluster": cluster_info,
        "cases": total,
        "counts": counts,
        "failed": [{"id": i, "reason": r.get("reason", "")} for i, r in records.items() if r.get("status") == "failed"],
        "warnings": unmatched_outcomes(cases, tables),
        "eqd2": _eqd2_provenance(),
    }
    files = write_tables(tables, out, {k: summary[k] for k in ("workstation_version", "code_hash", "manifest",
                                                               "manifest_sha256", "started", "eqd2")})
    from workstation.io import atomic_path

    summary["tables"] = [p.name for p in files]
    with atomic_path(out / "cohort.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return CohortRun(out, records, tables, counts, summary, [*files, out / "cohort.json"])


def _eqd2_provenance() -> dict[str, Any]:
    from workstation.dosimetry.radiobiology import RADIOBIOLOGY_SOURCES, TISSUES

    return {"tissue_by_roi_role": dict(EQD2_TISSUE_BY_ROLE),
            "tissues": {name: TISSUES[name].as_dict() for name in sorted(set(EQD2_TISSUE_BY_ROLE.values()))},
            "sources": list(RADIOBIOLOGY_SOURCES)}
