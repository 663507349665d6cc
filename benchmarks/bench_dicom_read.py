"""Read a synthetic 512×512×600 int16 CT series with the project's reader and with SimpleITK.

Both readers run in the same invocation, each in a fresh subprocess (so that the
peak resident memory ``ru_maxrss`` of one does not hide the other's), twice in
alternation; the faster of the two runs is reported. Memory is the increase of
peak RSS during the read over the RSS after imports, compared with the size of
the final volume (int16: 2 bytes per voxel).

Usage::

    .venv/bin/python benchmarks/bench_dicom_read.py [--slices 600] [--size 512] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
import numpy as np
mode, folder = sys.argv[1], sys.argv[2]
if mode == "workstation":
    from workstation.io.dicom import read_dicom_image
else:
    import SimpleITK as sitk
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
with open("/proc/self/status") as fh:
    current = [l for l in fh if l.startswith("VmRSS")][0]
base = float(current.split()[1]) / 1024.0
before_peak = rss_mb()
t0 = time.perf_counter()
if mode == "workstation":
    vol = read_dicom_image(folder)
    arr = vol.array
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    img = reader.Execute()
    arr = sitk.GetArrayViewFromImage(img)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "peak_mb": rss_mb(), "base_mb": base,
                  "before_peak_mb": before_peak, "volume_mb": arr.nbytes / 2**20,
                  "dtype": str(arr.dtype), "shape": list(arr.shape)}))
"""


def write_series(folder: Path, n_slices: int, size: int) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from tests.io.dicom_factory import write_single_frame_series
    from workstation.core import affine_from_geometry

    rng = np.random.default_rng(1)
    affine = affine_from_geometry([-250.0, -250.0, -600.0], [1.0, 0.977, 0.977])
    # Write in chunks of slices to keep the generator's own memory small.
    chunk = 50
    from pydicom.uid import generate_uid

    uids = {"series_uid": generate_uid(), "study_uid": generate_uid(), "frame_uid": generate_uid()}
    yy, xx = np.mgrid[:size, :size]
    body = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2)
    for start in range(0, n_slices, chunk):
        n = min(chunk, n_slices - start)
        values = np.where(body, 40.0, -1000.0)[None] + rng.normal(0, 20, size=(n, size, size))
        shifted = affine.copy()
        shifted[:3, 3] = affine[:3, 3] + start * affine[:3, 0]
        write_single_frame_series(folder, values.round(), shifted, rescale_intercept=-1024.0,
                                  prefix=f"S{start:04d}_", **uids)


def run(mode: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(folder)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the series in this folder")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_dicom_"))
    try:
        if not any(tmp.glob("*.dcm")):
            t0 = time.perf_counter()
            write_series(tmp, args.slices, args.size)
            print(f"wrote {args.slices} slices of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s")
        results: dict[str, list[dict]] = {"workstation": [], "simpleitk": []}
        for _ in range(2):
            for mode in results:
                results[mode].append(run(mode, tmp))
        best = {m: min(r, key=lambda x: x["seconds"]) for m, r in results.items()}
        ws, sk = best["workstation"], best["simpleitk"]
        for mode, r in best.items():
            delta = r["peak_mb"] - r["base_mb"]
            print(f"{mode:12s} {r['seconds']:6.2f} s  volume {r['volume_mb']:.0f} MB {r['dtype']} "
                  f"{r['shape']}  peak RSS increase {delta:.0f} MB = {delta / r['volume_mb']:.2f}x volume")
        print(f"time ratio workstation / SimpleITK = {ws['seconds'] / sk['seconds']:.2f} "
              "(below 1 means faster than SimpleITK)")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
