"""Dose-volume histograms with partial-voxel ROI weights.

Partial voxels
--------------
A ROI mask on another grid than the dose (e.g. a liver contoured on a 0.8 mm
CT, the dose on a 4.8 mm SPECT grid) is turned into *voxel fractions*: the dose
grid is supersampled ``n`` times per axis (sub-voxel centres), the mask is
sampled by nearest neighbour at every sub-voxel centre in patient space, and
the fraction of inside sub-voxels is the voxel's weight (0..1). All volumes,
masses, means, percentiles and DVHs are weighted by these fractions. A mask on
the dose grid gives weights 0/1.

DVH definitions
---------------
* cumulative DVH: ``V(D) = 100 * sum(w [dose >= D]) / sum(w)`` (% of ROI volume)
  on bin edges from 0 to just above the maximum;
* differential DVH: the weighted volume fraction (%) per dose bin;
* ``D_x``: the minimum dose received by the hottest x % of the ROI volume
  (weighted, from the sorted voxel doses, not from the binned DVH);
* ``V_X``: % of the ROI volume receiving at least X Gy.

``dvh.csv`` (written by :mod:`.pipeline`) has the columns
``method,roi,dose_gy,volume_percent`` (cumulative DVH, one row per bin edge).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

import numpy as np

from workstation.core.errors import EmptyMaskError
from workstation.core.grid import Grid
from workstation.core.volume import Unit, Volume

__all__ = ["roi_weights", "cumulative_dvh", "differential_dvh", "dose_at_volume", "volume_at_dose", "write_dvh_csv"]


def _block_fraction(sampled: np.ndarray, n: int) -> np.ndarray:
    """Fraction of non-zero sub-voxels in each ``n``³ block of a (nz·n, ny·n, nx·n) uint8 array."""
    fz, fy, fx = sampled.shape
    nz, ny, nx = fz // n, fy // n, fx // n
    # one axis at a time, the contiguous one first: far faster than a 6-D mean
    counts = (sampled != 0).view(np.uint8).reshape(fz, fy, nx, n).sum(axis=3, dtype=np.uint16)
    counts = counts.reshape(fz, ny, n, nx).sum(axis=2, dtype=np.uint16)
    counts = counts.reshape(nz, n, ny, nx).sum(axis=1, dtype=np.uint16)
    return counts.astype(np.float32) / np.float32(n**3)


def roi_weights(mask: Volume, reference: Volume | Grid, supersample: int = 3, name: str = "ROI") -> np.ndarray:
    """Fraction (float32, 0..1) of each ``reference`` voxel inside ``mask`` (non-zero).

    The work is done inside the box of reference voxels that the mask's non-zero
    voxels can reach (with a one-voxel margin), so its cost follows the ROI, not
    the image: the mask is cropped to its own non-zero box, the reference box is
    supersampled ``supersample`` times per axis and the mask sampled by nearest
    neighbour at every sub-voxel centre.

    Raises
    ------
    EmptyMaskError
        When no voxel of the reference is (partly) inside the mask.
    """
    target = reference.grid if isinstance(reference, Volume) else reference
    if mask.same_grid(target):
        w = (np.asarray(mask.array) != 0).astype(np.float32)
    else:
        n = int(supersample)
        w = np.zeros(target.shape, dtype=np.float32)
        src_box = mask.nonzero_box(margin_voxels=1)
        box = target.box_of(mask, src_box, margin_voxels=1) if src_box is not None else None
        if box is not None and src_box is not None:
            fine = target.crop(box).supersampled(n)
            inside = (np.asarray(mask.array[src_box]) != 0).astype(np.uint8)
            src = Volume(inside, mask.grid.crop(src_box).affine, units=Unit.LABEL)
            if src.overlaps(fine):
                w[box] = _block_fraction(src.resample_to(fine, "nearest", fill_value=0).array, n)
    if not np.any(w > 0):
        raise EmptyMaskError(f"The ROI {name!r} is empty on the dose grid (no voxel inside after resampling).")
    return w


def _sorted(dose: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sel = weights > 0
    d = dose[sel].astype(np.float64)
    w = weights[sel].astype(np.float64)
    order = np.argsort(d)[::-1]
    return d[order], w[order]


def dose_at_volume(dose: np.ndarray, weights: np.ndarray, percents: list[float]) -> dict[str, float]:
    """``D_x`` (Gy) for each x in ``percents``: minimum dose of the hottest x % (weighted)."""
    d, w = _sorted(dose, weights)
    cum = np.cumsum(w) / w.sum() * 100.0
    out = {}
    for x in percents:
        i = int(np.searchsorted(cum, x - 1e-9, side="left"))
        out[f"{x:g}"] = float(d[min(i, len(d) - 1)])
    return out


def volume_at_dose(dose: np.ndarray, weights: np.ndarray, doses_gy: list[float]) -> dict[str, float]:
    """``V_X`` (% of volume receiving at least X Gy) for each X in ``doses_gy``."""
    sel = weights > 0
    d = dose[sel]
    w = weights[sel].astype(np.float64)
    total = w.sum()
    return {f"{x:g}": float(100.0 * w[d >= x].sum() / total) for x in doses_gy}


def cumulative_dvh(
    dose: np.ndarray, weights: np.ndarray, bin_width_gy: float | None = None, max_dose_gy: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative DVH: bin edges (Gy) and % of ROI volume receiving at least each edge.

    ``bin_width_gy`` defaults to max/1000 (at least 0.01 Gy).
    """
    sel = weights > 0
    d = dose[sel].astype(np.float64)
    w = weights[sel].astype(np.float64)
    top = float(d.max()) if max_dose_gy is None else float(max_dose_gy)
    width = bin_width_gy or max(top / 1000.0, 0.01)
    edges = np.arange(0.0, top + 2 * width, width)
    hist, _ = np.histogram(d, bins=np.append(edges, np.inf), weights=w)
    cum = np.cumsum(hist[::-1])[::-1] / w.sum() * 100.0
    return edges, cum


def differential_dvh(
    dose: np.ndarray, weights: np.ndarray, bin_width_gy: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Differential DVH: bin lower edges (Gy) and % of ROI volume in each bin."""
    sel = weights > 0
    d = dose[sel].astype(np.float64)
    w = weights[sel].astype(np.float64)
    top = float(d.max())
    width = bin_width_gy or max(top / 1000.0, 0.01)
    edges = np.arange(0.0, top + 2 * width, width)
    hist, _ = np.histogram(d, bins=np.append(edges, np.inf), weights=w)
    return edges, hist / w.sum() * 100.0


def write_dvh_csv(
    path: str | os.PathLike[str], rows: Iterable[tuple[str, str, float, float]], first: str = "method"
) -> None:
    """Write cumulative DVH rows ``(method or quantity, roi, dose_gy, volume_percent)`` as ``dvh.csv``.

    Columns ``first, roi, dose_gy, volume_percent``; numbers with 6 significant digits.
    """
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([first, "roi", "dose_gy", "volume_percent"])
        for row in rows:
            w.writerow([row[0], row[1], f"{row[2]:.6g}", f"{row[3]:.6g}"])
