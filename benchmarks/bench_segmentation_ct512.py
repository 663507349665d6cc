"""Liver and lesion segmentation on a 512 × 512 × 300 synthetic CT against SimpleITK, same run.

The CT is the realistic portal-venous abdomen of the tests
(``tests/segmentation/realistic.py``) on a 0.7 × 0.7 × 1.0 mm grid: organs
touching the liver at ±10 HU, bridges, vessels, soft-edged lesions, texture
and correlated noise. Each case runs in a fresh process (the CT read from a
NumPy file) so its peak memory (the peak resident size above the process
after reading the CT: Linux ``VmHWM`` after ``clear_refs``) is its own; the reference is SimpleITK ``ConfidenceConnected`` (radius
2, multiplier 2.5, 5 iterations) on the 3×3×3 median-filtered CT from the
same seed, holes filled (the textbook region growing the issue names). The
script prints the machine's load, then one JSON line per case: Dice against
the truth, wall and CPU seconds (all threads of the process; on a shared
machine the CPU time is the steadier figure) and peak MB of both, and the
ratios (ours / reference).

Usage::

    .venv/bin/python benchmarks/bench_segmentation_ct512.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workstation.core import Unit, Volume  # noqa: E402


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def _reset_peak() -> float:
    """Reset the process's peak resident memory (Linux clear_refs 5) and return the current RSS (MB)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _status_mb(key: str) -> float:
    """A memory figure of /proc/self/status (kB) in MB; ``ru_maxrss`` where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(cache: Path) -> tuple[Volume, dict]:
    meta = json.loads((cache / "meta.json").read_text())
    arr = np.load(cache / "ct.npy")
    ct = Volume(arr, np.array(meta["affine"]), modality="CT", units=Unit.HU)
    return ct, meta


def _confidence_connected(ct: Volume, seed_lps) -> np.ndarray:
    import SimpleITK as sitk

    img = sitk.Median(sitk.Cast(ct.to_sitk(), sitk.sitkFloat32), [1, 1, 1])
    index = [int(v) for v in np.rint(ct.world_to_index(seed_lps))[::-1]]
    seg = sitk.ConfidenceConnected(img, seedList=[index], numberOfIterations=5, multiplier=2.5,
                                   initialNeighborhoodRadius=2, replaceValue=1)
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(seg)) > 0


def _worker(cache: str, case: str, method: str, queue) -> None:  # noqa: ANN001 - multiprocessing queue
    ct, meta = _load(Path(cache))
    base = _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "reference":
        seed = meta["lesion_seed"] if case.startswith("lesion") else meta["liver_seed"]
        mask = _confidence_connected(ct, seed)
    elif case == "liver (automatic)":
        from workstation.segmentation import segment_liver

        mask = segment_liver(ct).array > 0
    elif case == "liver (seeded)":
        from workstation.segmentation import segment_liver

        mask = segment_liver(ct, seed_lps=meta["liver_seed"]).array > 0
    else:
        from workstation.segmentation import segment_lesions

        liver = ct.copy_with(array=np.load(Path(cache) / "liver.npy").astype(np.uint8), units=Unit.LABEL)
        base = _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        kwargs = {"seed_lines_lps": [meta["lesion_line"]]} if case == "lesion (long axis)" else {"seeds_lps": [meta["lesion_seed"]]}
        mask = segment_lesions(ct, liver, **kwargs).array == 1
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    truth = np.load(Path(cache) / ("lesion.npy" if case.startswith("lesion") else "liver.npy"))
    peak = _status_mb("VmHWM") - base
    queue.put({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": max(peak, 0.0), "dice": _dice(mask, truth)})


def _run(cache: Path, case: str, method: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(str(cache), case, method, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _build(cache: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.segmentation.realistic import build_realistic_ct

    t0 = time.perf_counter()
    ph = build_realistic_ct("portal", spacing_zyx_mm=(1.0, 0.7, 0.7), extent_x_mm=358.4, extent_y_mm=358.4,
                            z_range_mm=(-200.0, 99.0))
    assert ph.ct.shape == (300, 512, 512), ph.ct.shape
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "ct.npy", ph.ct.array)
    np.save(cache / "liver.npy", ph.truth["liver"])
    np.save(cache / "lesion.npy", ph.lesions["hypo_20hu"])
    meta = {"affine": ph.ct.affine.tolist(), "liver_seed": list(ph.liver_seed),
            "lesion_seed": list(ph.specs["hypo_20hu"].centre), "lesion_line": [list(p) for p in ph.long_axis("hypo_20hu")],
            "build_seconds": time.perf_counter() - t0}
    (cache / "meta.json").write_text(json.dumps(meta))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "workstation_bench_ct512",
                        help="Folder for the synthetic CT (built once, about a minute).")
    args = parser.parse_args()
    if not (args.cache / "meta.json").exists():
        _build(args.cache)
    # the figures depend on what else runs: say how busy the machine was
    print(json.dumps({"cpus": os.cpu_count(), "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]}), flush=True)
    for case in ("liver (automatic)", "liver (seeded)", "lesion (click)", "lesion (long axis)"):
        ours = _run(args.cache, case, "ours")
        ref = _run(args.cache, case, "reference")
        print(json.dumps({
            "case": case, "shape": [300, 512, 512],
            "dice": round(ours["dice"], 4), "seconds": round(ours["seconds"], 2), "peak_mb": round(ours["peak_mb"]),
            "cpu_seconds": round(ours["cpu_seconds"], 2),
            "reference_dice": round(ref["dice"], 4), "reference_seconds": round(ref["seconds"], 2),
            "reference_cpu_seconds": round(ref["cpu_seconds"], 2),
            "reference_peak_mb": round(ref["peak_mb"]),
            "time_ratio": round(ours["seconds"] / max(ref["seconds"], 1e-9), 2),
            "cpu_ratio": round(ours["cpu_seconds"] / max(ref["cpu_seconds"], 1e-9), 2),
            "memory_ratio": round(ours["peak_mb"] / max(ref["peak_mb"], 1.0), 2),
        }), flush=True)


if __name__ == "__main__":
    main()
