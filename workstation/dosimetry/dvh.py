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

import numpy as np

from workstation.core.errors import EmptyMaskError
from workstation.core.volume import Volume, affine_from_geometry

__all__ = ["roi_weights", "cumulative_dvh", "differential_dvh", "dose_at_volume", "volume_at_dose"]


def roi_weights(mask: Volume, reference: Volume, supersample: int = 3, name: str = "ROI") -> np.ndarray:
    """Fraction (float32, 0..1) of each ``reference`` voxel inside ``mask`` (non-zero).

    Raises
    ------
    EmptyMaskError
        When no voxel of the reference is (partly) inside the mask.
    """
    if mask.same_grid(reference):
        w = (np.asarray(mask.array) != 0).astype(np.float32)
    else:
        n = int(supersample)
        sp = reference.spacing_mm
        direction = reference.direction
        # centre of the first sub-voxel of voxel (0,0,0): -(n-1)/(2n) voxel along each axis
        shift = direction @ (-(n - 1) / (2.0 * n) * sp)
        fine_affine = affine_from_geometry(reference.origin_mm + shift, sp / n, direction)
        fine_shape = tuple(s * n for s in reference.shape)
        fine = Volume(np.zeros(fine_shape, dtype=np.uint8), fine_affine)
        src = mask.copy_with(array=(np.asarray(mask.array) != 0).astype(np.uint8))
        sampled = src.resample_to(fine, "nearest", fill_value=0).array
        nz, ny, nx = reference.shape
        w = sampled.reshape(nz, n, ny, n, nx, n).mean(axis=(1, 3, 5), dtype=np.float32)
    if not np.any(w > 0):
        raise EmptyMaskError(f"The ROI {name!r} is empty on the dose grid (no voxel inside after resampling).")
    return w.astype(np.float32)


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
