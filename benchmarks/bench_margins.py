"""Benchmark: ablation margins on a 512x512x300 case with 3 tumours.

Compares, in one run, :func:`workstation.ablation.compute_margins` (sub-voxel
surface meshes on bounding-box crops) with a plain voxel-centre approach (a
signed Euclidean distance transform of the whole ablation mask, read at the
centres of the tumour's boundary voxels), for time and for the error of the
minimal margin against the analytic value (offset spheres: R - d - r).

Run: ``.venv/bin/python benchmarks/bench_margins.py``. Prints a table and the
time ratio; the goal is under 5 s for the sub-voxel method.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage as ndi

from workstation.ablation import compute_margins
from workstation.core import Volume, affine_from_geometry

SHAPE = (300, 512, 512)  # (z, y, x)
SPACING = (1.25, 0.7, 0.7)  # mm
# (tumour centre LPS mm, tumour radius, zone offset vector mm, zone radius)
CASES = [
    (np.array([-60.0, -40.0, -80.0]), 8.3, np.array([2.1, 0.0, 0.0]), 15.2),
    (np.array([50.0, 30.0, 0.0]), 12.6, np.array([0.0, -1.7, 2.4]), 19.9),
    (np.array([0.0, 60.0, 90.0]), 15.1, np.array([-3.2, 3.0, 0.0]), 20.3),
]


def ball(arr: np.ndarray, affine: np.ndarray, centre: np.ndarray, radius: float, value: int) -> None:
    """Set voxels whose centre lies in the ball, touching only its bounding box."""
    inv = np.linalg.inv(affine)
    c_idx = inv[:3, :3] @ centre + inv[:3, 3]
    sp = np.linalg.norm(affine[:3, :3], axis=0)
    lo = np.maximum(np.floor(c_idx - radius / sp).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(c_idx + radius / sp).astype(int) + 2, np.array(arr.shape))
    k, j, i = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    pts = np.stack([k, j, i], -1) @ affine[:3, :3].T + affine[:3, 3]
    inside = np.linalg.norm(pts - centre, axis=-1) <= radius
    arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = value


def voxel_centre_edt(tumor: np.ndarray, zone: np.ndarray, spacing: tuple[float, ...]) -> list[float]:
    """Plain approach: signed EDT of the zone at the tumours' boundary-voxel centres."""
    inside = zone > 0
    d_out = ndi.distance_transform_edt(~inside, sampling=spacing)  # outside: distance to zone
    d_in = ndi.distance_transform_edt(inside, sampling=spacing)  # inside: distance to outside
    signed = np.where(inside, d_in, -d_out)
    labels, n = ndi.label(tumor > 0, structure=np.ones((3, 3, 3), bool))
    mins = []
    for value in range(1, n + 1):
        t = labels == value
        boundary = t & ~ndi.binary_erosion(t)
        mins.append(float(signed[boundary].min()))
    return mins


def main() -> None:
    affine = affine_from_geometry(
        [-(SHAPE[2] // 2) * SPACING[2], -(SHAPE[1] // 2) * SPACING[1], -(SHAPE[0] // 2) * SPACING[0]],
        SPACING,
    )
    tumor = np.zeros(SHAPE, dtype=np.uint8)
    zone = np.zeros(SHAPE, dtype=np.uint8)
    exact = []
    for centre, r, offset, big_r in CASES:
        ball(tumor, affine, centre, r, 1)
        ball(zone, affine, centre + offset, big_r, 1)
        exact.append(big_r - float(np.linalg.norm(offset)) - r)
    t_vol, z_vol = Volume(tumor, affine), Volume(zone, affine)

    t0 = time.perf_counter()
    res = compute_margins(t_vol, z_vol)
    t_ours = time.perf_counter() - t0
    # Components are numbered in array order; match them to the cases by centroid.
    ours = []
    for centre, *_ in CASES:
        best = min(res["tumors"], key=lambda t: np.linalg.norm(np.array(t["centroid_lps_mm"]) - centre))
        ours.append(best["minimal_margin_mm"])

    t0 = time.perf_counter()
    plain = voxel_centre_edt(tumor, zone, SPACING)
    t_plain = time.perf_counter() - t0
    labels, _ = ndi.label(tumor > 0, structure=np.ones((3, 3, 3), bool))
    order = []
    for centre, *_ in CASES:
        inv = np.linalg.inv(affine)
        idx = np.round(inv[:3, :3] @ centre + inv[:3, 3]).astype(int)
        order.append(int(labels[tuple(idx)]) - 1)
    plain = [plain[i] for i in order]

    print(f"volume {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} voxels, spacing {SPACING[2]}x{SPACING[1]}x{SPACING[0]} mm, 3 tumours")
    print(f"{'tumour':>6} {'exact mm':>9} {'sub-voxel':>10} {'error':>7} {'voxel EDT':>10} {'error':>7}")
    for i, (e, o, p) in enumerate(zip(exact, ours, plain, strict=True), start=1):
        print(f"{i:>6} {e:>9.3f} {o:>10.3f} {o - e:>+7.3f} {p:>10.3f} {p - e:>+7.3f}")
    err_o = max(abs(o - e) for o, e in zip(ours, exact, strict=True))
    err_p = max(abs(p - e) for p, e in zip(plain, exact, strict=True))
    print(f"max |error|: sub-voxel {err_o:.3f} mm, voxel-centre EDT {err_p:.3f} mm "
          f"(ratio {err_p / max(err_o, 1e-9):.1f})")
    print(f"time: sub-voxel {t_ours:.2f} s (goal < 5 s, {'met' if t_ours < 5 else 'NOT met'}), "
          f"voxel-centre EDT {t_plain:.2f} s, ratio EDT/sub-voxel {t_plain / t_ours:.2f}")
    print("(the sub-voxel run also computes percentiles, surface fractions, coverage "
          "volumes and shells, and the margin map; the EDT run only the minimum)")


if __name__ == "__main__":
    main()
