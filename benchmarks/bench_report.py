"""Time to render the SIRT report (HTML + PDF), against the report package of another revision.

The dosimetry of the bundled 90Y PET sample (``--method all``, liver, lesions and
lungs ROIs) is computed once; then this checkout's ``render_sirt_report`` and the
reference revision's (``git archive REV workstation/report``, imported under another
package name in the same process) render it alternately, ``--repeat`` times each,
after one warm-up call each (imports, fonts). The best CPU time and the best wall
time of each are printed with their ratio (this / reference); on a shared machine
the CPU time is the steadier figure.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--reference-rev main] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, not an installed one


def _reference_package(rev: str, into: Path) -> Any:
    """The report package of ``rev`` importable as ``_reference_report``."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "workstation/report"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    pkg = into / "_reference_report"
    (into / "workstation" / "report").rename(pkg)
    for path in pkg.glob("*.py"):
        path.write_text(path.read_text(encoding="utf-8").replace("workstation.report", "_reference_report"),
                        encoding="utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module("_reference_report.sirt")


def _sirt_result() -> Any:
    from workstation.dosimetry.pipeline import run_sirt
    from workstation.io import read_image, read_mask
    from workstation.samples import sample_data_dir

    s = sample_data_dir()
    truth = s / "sirt" / "ground_truth"
    ct = read_image(s / "sirt" / "ct", units="HU")
    activity = read_image(s / "sirt" / "pet")
    rois = {n: read_mask(str(truth / f"{n}.nii.gz"), reference=ct) for n in ("liver", "lesions", "lungs")}
    return run_sirt(activity, ct=ct, rois=rois, administered_gbq=2.0, lung_shunt_fraction=0.06, method="all")


def _timed(fn: Any) -> tuple[float, float, Any]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rev", default="main")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("computing the sample SIRT dosimetry once …", flush=True)
    result = _sirt_result()
    inputs = [{"role": "activity", "path": "sample_data/sirt/pet", "modality": "PT",
               "series_uid": result.activity.metadata.series_instance_uid}]
    with tempfile.TemporaryDirectory() as tmp:
        reference = _reference_package(args.reference_rev, Path(tmp))
        from workstation.report.sirt import render_sirt_report

        runs: dict[str, list[tuple[float, float]]] = {"reference": [], "this": []}
        sizes = {}
        for n in range(args.repeat + 1):
            for name, fn in (("reference", reference.render_sirt_report), ("this", render_sirt_report)):
                cpu, wall, (html, pdf) = _timed(lambda fn=fn: fn(result, inputs))
                sizes[name] = (len(html), len(pdf))
                if n:  # the first call of each warms up (fonts, templates, matplotlib caches)
                    runs[name].append((cpu, wall))
    best = {k: (min(c for c, _ in v), min(w for _, w in v)) for k, v in runs.items()}
    print(f"{'':10s} {'CPU s':>8s} {'wall s':>8s} {'HTML kB':>8s} {'PDF kB':>8s}")
    for k in ("reference", "this"):
        print(f"{k:10s} {best[k][0]:8.2f} {best[k][1]:8.2f} {sizes[k][0] / 1e3:8.0f} {sizes[k][1] / 1e3:8.0f}")
    print(f"ratio this / reference ({args.reference_rev}): CPU {best['this'][0] / best['reference'][0]:.2f}, "
          f"wall {best['this'][1] / best['reference'][1]:.2f}")


if __name__ == "__main__":
    main()
