"""Segmentation on the sample studies against plain SimpleITK region growing, same run.

For each structure the project's method and a textbook SimpleITK baseline run on
the same CT from the same seed, and the script prints Dice against the ground
truth and the time ratio (project / baseline):

* liver (seeded): ``ConfidenceConnected`` (radius 2, multiplier 2.5, 5 iterations)
  on the 3×3×3 median-filtered CT, holes filled;
* lungs: air below -400 HU inside the body (the > -500 HU mask with holes filled
  in each axial slice), the two largest components;
* ablation zone (seeded): ``ConfidenceConnected`` as for the liver, holes filled.

Usage::

    .venv/bin/python benchmarks/bench_segmentation.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from workstation.core import Volume
from workstation.io import read_image
from workstation.samples import sample_data_dir
from workstation.segmentation import segment_ablation_zone, segment_liver, segment_lungs

LIVER_SEED_LPS = (-90.0, 30.0, 10.0)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float(2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def timed(fn: Callable[[], np.ndarray], repeats: int = 2) -> tuple[np.ndarray, float]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return out, best


def confidence_connected(ct: Volume, seed_lps) -> np.ndarray:
    img = sitk.Median(sitk.Cast(ct.to_sitk(), sitk.sitkFloat32), [1, 1, 1])
    index = [int(v) for v in np.rint(ct.world_to_index(seed_lps))[::-1]]  # (i, j, k) for ITK
    seg = sitk.ConfidenceConnected(img, seedList=[index], numberOfIterations=5, multiplier=2.5,
                                   initialNeighborhoodRadius=2, replaceValue=1)
    seg = sitk.BinaryFillhole(seg)
    return sitk.GetArrayFromImage(seg) > 0


def threshold_lungs(ct: Volume) -> np.ndarray:
    from scipy import ndimage as ndi

    tissue = ct.array > -500.0
    body = np.stack([ndi.binary_fill_holes(s) for s in tissue])  # axial slices (lungs are open at the top)
    air = sitk.GetImageFromArray(((ct.array < -400.0) & body).astype(np.uint8))
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(air), sortByObjectSize=True)
    arr = sitk.GetArrayFromImage(cc)
    return (arr == 1) | (arr == 2)


def main() -> None:
    root = sample_data_dir()
    ct = read_image(root / "sirt" / "ct")
    liver_truth = read_image(root / "sirt" / "ground_truth" / "liver.nii.gz").array > 0
    lungs_truth = read_image(root / "sirt" / "ground_truth" / "lungs.nii.gz").array > 0
    post = read_image(root / "ablation" / "post_ct")
    zone_truth = read_image(root / "ablation" / "ground_truth" / "ablation_zone.nii.gz").array > 0
    zone_seed = post.index_to_world(np.argwhere(zone_truth).mean(axis=0))

    rows = []
    cases = [
        ("liver (seeded)", liver_truth,
         lambda: segment_liver(ct, seed_lps=LIVER_SEED_LPS).array > 0,
         lambda: confidence_connected(ct, LIVER_SEED_LPS)),
        ("liver (automatic)", liver_truth, lambda: segment_liver(ct).array > 0, None),
        ("lungs", lungs_truth, lambda: segment_lungs(ct).array > 0, lambda: threshold_lungs(ct)),
        ("ablation zone (seeded)", zone_truth,
         lambda: segment_ablation_zone(post, zone_seed).array > 0,
         lambda: confidence_connected(post, zone_seed)),
    ]
    for name, truth, ours, baseline in cases:
        mask, t_ours = timed(ours)
        row = {"structure": name, "dice": round(dice(mask, truth), 4), "seconds": round(t_ours, 2)}
        if baseline is not None:
            ref, t_ref = timed(baseline)
            row.update({"baseline_dice": round(dice(ref, truth), 4), "baseline_seconds": round(t_ref, 2),
                        "time_ratio": round(t_ours / t_ref, 2)})
        rows.append(row)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
