"""Mask rasterization and DICOM writers: timing against reference implementations, one run.

* RTSTRUCT rasterization: the project's even-odd scanline fill
  (``workstation.io._polygon.fill_even_odd``) against matplotlib's
  ``Path.contains_points`` on every pixel centre of the contour's bounding box
  (a standard point-in-polygon test), on a body-sized contour set; prints the
  time ratio and the pixel agreement (pixels exactly on an edge may differ).
* RT Dose and SEG: time of ``write_rtdose`` / ``write_seg`` against SimpleITK
  writing the same array as uncompressed NRRD (a floor: raw bytes to disk).

Run: ``.venv/bin/python benchmarks/bench_masks_writers.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.core import Unit, Volume, affine_from_geometry  # noqa: E402
from workstation.io import write_image, write_rtdose, write_seg  # noqa: E402
from workstation.io._polygon import fill_even_odd  # noqa: E402


def _contour(
    n_points: int, radius: float, centre: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    wobble = 1.0 + 0.08 * np.sin(5 * t + rng.uniform(0, 6))
    return np.column_stack(
        [centre[0] + radius * wobble * np.sin(t), centre[1] + radius * wobble * np.cos(t)]
    )


def bench_fill(n_slices: int = 40, shape: tuple[int, int] = (512, 512)) -> None:
    from matplotlib.path import Path as MplPath

    rng = np.random.default_rng(7)
    polygons = [
        [_contour(600, 200.0, (256.0, 256.0), rng), _contour(200, 40.0, (256.0, 200.0), rng)]
        for _ in range(n_slices)
    ]

    start = time.perf_counter()
    ours = [fill_even_odd(p, shape) for p in polygons]
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    reference = []
    for p in polygons:
        points = np.concatenate(p)
        j0, i0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
        j1, i1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 1, shape)
        jj, ii = np.mgrid[j0:j1, i0:i1]
        centres = np.column_stack([jj.ravel(), ii.ravel()]).astype(float)
        inside = np.zeros(len(centres), dtype=bool)
        for poly in p:  # even-odd across polygons: XOR of each polygon's interior
            inside ^= MplPath(poly).contains_points(centres)
        full = np.zeros(shape, dtype=bool)
        full[j0:j1, i0:i1] = inside.reshape(j1 - j0, i1 - i0)
        reference.append(full)
    t_ref = time.perf_counter() - start
    differ = sum(int((a != b).sum()) for a, b in zip(ours, reference, strict=True))
    total = sum(int(b.sum()) for b in reference)
    print(
        f"RTSTRUCT fill, {n_slices} slices of {shape[0]}x{shape[1]} (ring with a hole): "
        f"ours {t_ours:.2f} s, matplotlib {t_ref:.2f} s, ratio ours/reference {t_ours / t_ref:.3f}; "
        f"pixels differing {differ} of {total} inside ({100 * differ / max(total, 1):.4f} %)"
    )


def bench_writers(n_slices: int = 150) -> None:
    from tests.io.mask_factory import dicom_reference

    rng = np.random.default_rng(8)
    grid = Volume(
        np.zeros((n_slices, 512, 512), np.int16),
        affine_from_geometry([-250.0, -250.0, 0.0], [2.0, 0.98, 0.98]),
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.77",
    )
    reference = dicom_reference(grid)
    dose = grid.copy_with(array=rng.uniform(0, 120, grid.shape).astype(np.float32), units=Unit.GY)
    labels = np.zeros(grid.shape, np.uint8)
    labels[20:120, 150:350, 150:380] = 1
    labels[50:70, 200:240, 200:240] = 2
    label_vol = grid.copy_with(
        array=labels, units=Unit.LABEL, label_names={1: "liver", 2: "lesion 1"}
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        write_image(dose, out / "dose.nrrd", compress=False)
        t_nrrd = time.perf_counter() - start
        start = time.perf_counter()
        write_rtdose(dose, out / "dose.dcm", reference=reference)
        t_dose = time.perf_counter() - start
        start = time.perf_counter()
        write_image(label_vol, out / "labels.nrrd", compress=False)
        t_lab = time.perf_counter() - start
        start = time.perf_counter()
        write_seg(label_vol, out / "seg.dcm", reference)
        t_seg = time.perf_counter() - start
    print(
        f"write_rtdose {n_slices}x512x512: {t_dose:.2f} s vs SimpleITK NRRD {t_nrrd:.2f} s "
        f"(ratio {t_dose / t_nrrd:.1f})"
    )
    print(
        f"write_seg {n_slices}x512x512, 2 segments: {t_seg:.2f} s vs SimpleITK NRRD {t_lab:.2f} s "
        f"(ratio {t_seg / t_lab:.1f})"
    )


if __name__ == "__main__":
    bench_fill()
    bench_writers()
