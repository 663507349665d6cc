"""Per-tumour lipiodol coverage, rim coverage, largest gap, non-target deposition.

Definitions (all on the post-TACE CT grid):

* **Coverage** (percent): the fraction of the tumour's voxels (those at least
  half inside it, f >= 0.5, f from the registration's partial-volume resampling)
  that hold lipiodol. The deposits' edges are their half-contrast levels, so both
  masks decide by the voxel centre; weighting by f instead would count the
  tumour's edge voxels as uncovered whenever the lipiodol stops at the tumour
  border (a complete deposit without a halo would read about 95 %). The volume
  (mL) is the partial-volume sum of f.
* **Rim coverage** (0..1): the area fraction of the tumour surface with lipiodol
  within :data:`~workstation.tace.constants.RIM_DISTANCE_MM`. The surface and
  the distances come from :func:`workstation.ablation.analyse_margins` (the
  project's sub-voxel surface code, public API) with the deposits in the role of
  the ablation zone: a surface point is covered where its signed margin is at
  least minus the rim distance.
* **Largest gap**: the largest 26-connected part of the tumour (f >= 0.5)
  without lipiodol: volume (mL), centroid (LPS mm), and whether it reaches the
  tumour surface (a peripheral defect) or lies inside.
* **Non-target**: deposits in the liver farther than
  :data:`~workstation.tace.constants.PERITUMORAL_MM` from every tumour;
  deposits within that distance outside the tumours are peritumoural.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, GeometryMismatchError
from workstation.core.volume import Unit, Volume
from workstation.tace import constants as K

__all__ = ["TumorFraction", "non_target_deposition", "rim_coverage", "tumor_coverage"]

_CONN = np.ones((3, 3, 3), dtype=bool)


@dataclass
class TumorFraction:
    """One tumour on the post-TACE CT grid.

    Attributes
    ----------
    label:
        The tumour's label value in the input mask.
    fraction:
        float32 array on the CT grid: the fraction (0..1) of each voxel in the tumour.
    """

    label: int
    fraction: np.ndarray


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def tumor_coverage(
    tumor: TumorFraction,
    lipiodol: np.ndarray,
    density_hu: np.ndarray,
    ct: Volume,
) -> dict[str, Any]:
    """Coverage, largest gap and density facts of one tumour (rim coverage separately).

    Parameters
    ----------
    tumor:
        The tumour's fraction map on the CT grid.
    lipiodol:
        Boolean deposit mask on the CT grid.
    density_hu:
        Attenuation above the liver background (HU) on the CT grid.
    ct:
        The post-TACE CT (grid and absolute HU).
    """
    f = tumor.fraction.astype(np.float64)
    if f.shape != lipiodol.shape or f.shape != ct.shape:
        raise GeometryMismatchError("The tumour, the deposits and the CT must share one grid.")
    total = float(f.sum())
    if total <= 0:
        raise EmptyMaskError(f"Tumour {tumor.label} has no voxel on the post-TACE CT.")
    v_ml = ct.voxel_volume_ml
    inside = f >= 0.5
    n_inside = int(inside.sum())
    if n_inside == 0:
        raise EmptyMaskError(f"Tumour {tumor.label} is smaller than half a voxel on the post-TACE CT.")
    covered = int((inside & lipiodol).sum())
    coverage = 100.0 * covered / n_inside
    values = ct.array[lipiodol & inside].astype(np.float64)
    record: dict[str, Any] = {
        "label": tumor.label,
        "volume_ml": _r(total * v_ml),
        "lipiodol_coverage_percent": _r(coverage, 3),
        "covered_ml": _r(covered * v_ml),
        "voxels": n_inside,
        "mean_lipiodol_hu": _r(float(values.mean()), 1) if values.size else None,
        "mean_lipiodol_contrast_hu": _r(float(density_hu[lipiodol & inside].mean()), 1) if values.size else None,
        "dense_fraction": _r(float((inside & lipiodol & (ct.array >= K.DENSE_RETENTION_HU)).sum() / n_inside)),
    }
    gap = inside & ~lipiodol
    lab, n = ndi.label(gap, structure=_CONN)
    if n:
        sizes = np.bincount(lab.ravel())[1:]
        k = int(np.argmax(sizes)) + 1
        where = np.argwhere(lab == k)
        centroid = ct.index_to_world(where.mean(axis=0))
        surface = inside & ~ndi.binary_erosion(inside, structure=_CONN, border_value=0)
        record.update({
            "largest_gap_ml": _r(float(sizes[k - 1]) * v_ml),
            "largest_gap_centroid_lps_mm": [round(float(c), 2) for c in centroid],
            "largest_gap_peripheral": bool(surface[lab == k].any()),
            "gap_count": int(n),
            "uncovered_ml": _r(float(gap.sum()) * v_ml),
        })
    else:
        record.update({"largest_gap_ml": 0.0, "largest_gap_centroid_lps_mm": None,
                       "largest_gap_peripheral": False, "gap_count": 0, "uncovered_ml": 0.0})
    return record


def rim_coverage(tumors: Volume, lipiodol: Volume) -> tuple[dict[int, float | None], list[str]]:
    """Rim coverage (0..1) of each tumour of a label volume, by the ablation package's surface code.

    Parameters
    ----------
    tumors:
        Label volume of the tumours (post-TACE grid).
    lipiodol:
        Deposit mask (any grid overlapping).

    Returns
    -------
    fractions, warnings:
        Label → rim coverage (None when a tumour is too small for a surface).
    """
    from workstation.ablation import analyse_margins

    labels = [int(v) for v in np.unique(tumors.array) if v != 0]
    if not np.any(lipiodol.array != 0):
        return {k: 0.0 for k in labels}, []
    label_vol = tumors.copy_with(array=tumors.array.astype(np.int32), units=Unit.LABEL)
    if len(labels) == 1:
        label_vol = label_vol.copy_with(array=(label_vol.array != 0).astype(np.uint8))
    analysis = analyse_margins(
        label_vol, lipiodol.copy_with(array=(lipiodol.array != 0).astype(np.uint8)),
        coverage_radii_mm=(0.0,), margin_limit_mm=12.0, binary_surface="constrained",
    )
    covered_mm2: dict[int, float] = {}
    total_mm2: dict[int, float] = {}
    for surf in analysis.surfaces:  # one label: its components are summed
        label = surf.label if len(labels) > 1 else labels[0]
        area = surf.area_mm2
        covered_mm2[label] = covered_mm2.get(label, 0.0) + float(area[surf.margin_mm >= -K.RIM_DISTANCE_MM].sum())
        total_mm2[label] = total_mm2.get(label, 0.0) + float(area.sum())
    out = {k: (covered_mm2[k] / total_mm2[k] if total_mm2.get(k) else None) for k in labels}
    return out, list(analysis.results.get("warnings", []))


def non_target_deposition(
    lipiodol: np.ndarray, tumors_inside: np.ndarray, liver: np.ndarray, ct: Volume,
) -> dict[str, Any]:
    """Volumes (mL) of peritumoural and non-target deposits and the non-target deposits' list.

    Parameters
    ----------
    lipiodol, tumors_inside, liver:
        Boolean masks on the CT grid (deposits, union of tumours, liver).
    ct:
        The post-TACE CT (grid).
    """
    v_ml = ct.voxel_volume_ml
    if tumors_inside.any():
        near = ndi.distance_transform_edt(~tumors_inside, sampling=ct.spacing_mm) <= K.PERITUMORAL_MM
    else:
        near = np.zeros(lipiodol.shape, dtype=bool)
    outside_tumours = lipiodol & ~tumors_inside & liver
    non_target = outside_tumours & ~near
    peri = outside_tumours & near
    lab, n = ndi.label(non_target, structure=_CONN)
    deposits = []
    if n:
        sizes = np.bincount(lab.ravel())[1:]
        for k in np.argsort(sizes)[::-1][:10] + 1:
            where = np.argwhere(lab == k)
            deposits.append({
                "volume_ml": _r(float(sizes[k - 1]) * v_ml),
                "centroid_lps_mm": [round(float(c), 2) for c in ct.index_to_world(where.mean(axis=0))],
                "mean_hu": _r(float(ct.array[lab == k].mean()), 1),
            })
    return {
        "non_target_ml": _r(float(non_target.sum()) * v_ml),
        "peritumoral_ml": _r(float(peri.sum()) * v_ml),
        "non_target_deposit_count": int(n),
        "non_target_deposits": deposits,
        "definition": f"lipiodol in the liver farther than {K.PERITUMORAL_MM:g} mm from every tumour "
        f"(peritumoural: outside the tumours, within {K.PERITUMORAL_MM:g} mm)",
    }
