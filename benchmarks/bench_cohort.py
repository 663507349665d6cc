"""Benchmark: cohort throughput on Dask with 1 and 2 workers, peak memory per worker, overhead per task.

In one run, on the same synthetic cohort (``workstation sample-data --cohort N``):

* reference: every case one after the other in this process (``run_cohort(serial=True)``);
* a LocalCluster of 1 and of 2 worker processes (one thread each), every case run
  (``force=True``), each into a fresh output folder;

reporting cases per minute and the ratios (1 worker / serial, 2 workers / 1 worker),
the peak resident memory of each worker (``ru_maxrss`` of the worker process, read on
the workers after the run), and the scheduler's overhead per task: ``N`` no-op tasks
through the 2-worker cluster against the same ``N`` calls in this process, and a
rerun in which every case is skipped (hashing its inputs only) on Dask against the
same skipping rerun in this process.

Usage::

    .venv/bin/python benchmarks/bench_cohort.py [--patients 4] [--cohort DIR] [--noop 500]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _noop(x: int) -> int:
    return x


def _catalogue() -> dict:
    import typer

    from workstation.cli._main import app
    from workstation.cli.cohort import option_catalogue

    group = typer.main.get_command(app)
    return option_catalogue(group.context_class(group, info_name="workstation"))


def _dask_run(manifest, out: Path, workers: int, **kwargs) -> tuple[float, dict, object]:
    """Run on a fresh local cluster of ``workers`` processes; return seconds, run, peak RSS per worker (MB)."""
    from distributed import Client, LocalCluster

    from workstation.cli import main
    from workstation.cohort import run_cohort

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit="4GiB",
                           dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        t0 = time.perf_counter()
        run = run_cohort(manifest, out, main, scheduler=cluster.scheduler_address, **kwargs)
        seconds = time.perf_counter() - t0
        peaks = client.run(_peak_rss_mb)
        return seconds, run, peaks
    finally:
        client.close()
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=4, help="Patients of the generated cohort (2 cases each).")
    parser.add_argument("--cohort", type=Path, default=None, help="An existing cohort folder (manifest.csv).")
    parser.add_argument("--noop", type=int, default=500, help="No-op tasks for the overhead per task.")
    args = parser.parse_args()

    from workstation.cli import main as cli_main
    from workstation.cohort import read_manifest, run_cohort
    from workstation.samples import generate_cohort

    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        folder = args.cohort
        if folder is None:
            folder = work / "cohort"
            generate_cohort(folder, args.patients, seed=7)
        manifest = read_manifest(folder / "manifest.csv", _catalogue())
        n = len(manifest)

        t0 = time.perf_counter()
        serial = run_cohort(manifest, work / "serial", cli_main, serial=True, force=True)
        t_serial = time.perf_counter() - t0
        assert serial.counts["done"] == n, serial.counts
        t_skip_serial = time.perf_counter()
        run_cohort(manifest, work / "serial", cli_main, serial=True)
        t_skip_serial = time.perf_counter() - t_skip_serial

        t1, run1, peaks1 = _dask_run(manifest, work / "w1", 1, force=True)
        t2, run2, peaks2 = _dask_run(manifest, work / "w2", 2, force=True)
        assert run1.counts["done"] == run2.counts["done"] == n
        t_skip_dask, skipped, _ = _dask_run(manifest, work / "w2", 2)
        assert skipped.counts["skipped"] == n

        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        try:
            client.gather(client.map(_noop, range(10), pure=False))  # warm up
            t0 = time.perf_counter()
            client.gather(client.map(_noop, range(args.noop), pure=False))
            t_tasks = time.perf_counter() - t0
        finally:
            client.close()
            cluster.close()
        t0 = time.perf_counter()
        for i in range(args.noop):
            _noop(i)
        t_loop = time.perf_counter() - t0

        per_case = {}
        for cmd in ("sirt", "margin"):
            secs = [r.get("seconds") for r in serial.records.values() if r.get("command") == cmd]
            per_case[cmd] = sum(secs) / len(secs) if secs else None
        report = {
            "cases": n,
            "seconds": {"serial_in_process": t_serial, "dask_1_worker": t1, "dask_2_workers": t2},
            "cases_per_minute": {"serial_in_process": 60 * n / t_serial, "dask_1_worker": 60 * n / t1,
                                 "dask_2_workers": 60 * n / t2},
            "throughput_ratio_1_worker_over_serial": t_serial / t1,
            "throughput_ratio_2_over_1_workers": t1 / t2,
            "mean_command_seconds_serial": per_case,
            "peak_rss_mb_per_worker": {"1_worker": list(peaks1.values()), "2_workers": list(peaks2.values())},
            "peak_rss_mb_serial_process": _peak_rss_mb(),
            "overhead_ms_per_noop_task": 1000 * (t_tasks - t_loop) / args.noop,
            "overhead_ms_per_skipped_case_dask_vs_serial": 1000 * (t_skip_dask - t_skip_serial) / n,
            "skipped_rerun_seconds": {"serial": t_skip_serial, "dask_2_workers_incl_cluster_start": t_skip_dask},
        }
        print(json.dumps(report, indent=2))
        print(f"\n{n} cases: serial {60 * n / t_serial:.1f}/min, 1 worker {60 * n / t1:.1f}/min, "
              f"2 workers {60 * n / t2:.1f}/min; 2 over 1 workers x{t1 / t2:.2f}, 1 worker over serial "
              f"x{t_serial / t1:.2f}; peak RSS per worker {max(peaks2.values()):.0f} MB; "
              f"scheduler overhead {1000 * (t_tasks - t_loop) / args.noop:.2f} ms per task")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
