"""Pieces of ``registration.json``: image descriptions, error statistics, Jacobian and rigid-region checks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.grid import Grid
from workstation.core.volume import Volume
from workstation.registration._masks import Mask
from workstation.registration._rigid_regions import fixed_box_of_moving_mask
from workstation.registration._transforms import (
    affine_parameters,
    jacobian_determinant,
    transform_volume,
)

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "describe",
    "jacobian_summary",
    "rigid_region_report",
    "stats_mm",
    "transform_summary",
]


def stats_mm(values: np.ndarray) -> dict[str, float]:
    """Mean, median, 95th percentile and maximum of distances (mm), rounded to µm."""
    v = np.asarray(values, dtype=float)
    return {
        "mean": round(float(v.mean()), 3),
        "median": round(float(np.median(v)), 3),
        "p95": round(float(np.percentile(v, 95)), 3),
        "max": round(float(v.max()), 3),
        "n_points": int(v.size),
    }


def describe(volume: Volume) -> dict[str, Any]:
    """Where an image came from and its grid."""
    return {
        "source": volume.metadata.source_path,
        "modality": volume.modality,
        "shape_zyx": list(volume.shape),
        "spacing_zyx_mm": [round(float(s), 4) for s in volume.spacing_mm],
        "frame_of_reference_uid": volume.frame_of_reference_uid,
        "series_instance_uid": volume.metadata.series_instance_uid,
    }


def transform_summary(transform: sitk.Transform) -> dict[str, Any]:
    """Matrix and offset (mm) of a linear transform."""
    a, b = affine_parameters(transform)
    return {"matrix": np.round(a, 6).tolist(), "offset_mm": np.round(b, 4).tolist()}


def jacobian_summary(transform: sitk.Transform, fixed: Volume, region: np.ndarray | None,
                     working_spacing_mm: float) -> dict[str, Any]:
    """Jacobian determinant statistics over the metric region, on a grid of >= 3 mm.

    The grid is the fixed grid coarsened to >= 3 mm, cropped to the region's box
    (plus one voxel) when there is a region.
    """
    step = max(3.0, working_spacing_mm)
    factor = np.maximum(1, np.round(step / fixed.spacing_mm)).astype(int)
    nz, ny, nx = (int(math.ceil(s / f)) for s, f in zip(fixed.shape, factor, strict=True))
    coarse_shape = (nz, ny, nx)
    aff = fixed.affine.copy()
    aff[:3, :3] = fixed.affine[:3, :3] * factor[np.newaxis, :]
    grid = Grid(coarse_shape, aff)
    sub = None
    if region is not None:
        sub = region[:: factor[0], :: factor[1], :: factor[2]]
        sub = sub[: coarse_shape[0], : coarse_shape[1], : coarse_shape[2]]
        if sub.any():
            inside = np.argwhere(sub)
            lo = np.maximum(inside.min(axis=0) - 1, 0)
            hi = np.minimum(inside.max(axis=0) + 2, coarse_shape)
            box = (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])), slice(int(lo[2]), int(hi[2])))
            grid = grid.crop(box)
            sub = sub[box]
        else:
            sub = None
    jac = jacobian_determinant(transform, grid).array
    if sub is not None:
        jac = jac[sub]
    jac = jac.ravel()
    return {
        "min": round(float(jac.min()), 4),
        "p1": round(float(np.percentile(jac, 1)), 4),
        "mean": round(float(jac.mean()), 4),
        "p99": round(float(np.percentile(jac, 99)), 4),
        "max": round(float(jac.max()), 4),
        "folding_fraction": round(float((jac <= 0).mean()), 6),
        "grid_spacing_mm": [round(float(s), 3) for s in np.linalg.norm(aff[:3, :3], axis=0)],
    }


def rigid_region_report(regions: list[Mask], transform: sitk.Transform,
                        fixed: Volume) -> list[dict[str, Any]]:
    """Volume of each rigid region before and after the transform.

    Moving-space regions: partial-volume resampling onto the fixed grid (what
    the user sees when the mask is carried over). Fixed-space regions: the
    Jacobian determinant integrated over the region.
    """
    out = []
    for m in regions:
        vol_ml = float(m.volume.array.sum() * m.volume.voxel_volume_ml)
        if m.space == "moving":
            box = fixed_box_of_moving_mask(m.volume, transform, fixed)
            after = 0.0
            if box is not None:
                carried = transform_volume(m.volume.copy_with(array=m.volume.array.astype(np.uint8)),
                                           fixed.crop(box), transform, interpolation="partial",
                                           supersampling=2)
                after = float(carried.array.sum() * fixed.voxel_volume_ml)
            entry = {"name": m.name, "space": "moving", "volume_moving_ml": round(vol_ml, 3),
                     "volume_fixed_ml": round(after, 3),
                     "volume_change_percent": round(100.0 * (after / vol_ml - 1.0), 3)}
        else:
            jac = jacobian_determinant(transform, m.volume).array[m.volume.array]
            moved = float(jac.sum() * m.volume.voxel_volume_ml)
            entry = {"name": m.name, "space": "fixed", "volume_fixed_ml": round(vol_ml, 3),
                     "volume_moving_ml": round(moved, 3),
                     "volume_change_percent": round(100.0 * (vol_ml / moved - 1.0), 3)}
        out.append(entry)
    return out
