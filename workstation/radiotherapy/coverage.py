"""Coverage of a dose distribution: per-structure DVH metrics, conformity and gradient.

All metrics take voxel weights (0..1, the fraction of each voxel inside the
structure, see :func:`workstation.dosimetry.roi_weights`) on the dose grid and
use the project's DVH functions (:func:`workstation.dosimetry.dose_at_volume`,
:func:`workstation.dosimetry.volume_at_dose`), so ``D_x`` is the minimum dose of
the hottest x % of the weighted volume and ``V_x`` the % of the volume
receiving at least x % of the prescription.

Conformity (Paddick I, J Neurosurg 93 Suppl 3:219, 2000)::

    CI = TV_PIV² / (TV × PIV)

TV the target volume, PIV the volume (within the body, or the whole grid)
receiving at least the prescription, TV_PIV the part of the target inside it
(1 is perfect). Gradient index (Paddick I, Lippitz B, J Neurosurg 105 Suppl:194,
2006): ``GI = PIV_50% / PIV_100%``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.dosimetry import dose_at_volume, volume_at_dose
from workstation.radiotherapy.constants import (
    BRACHY_D_PERCENTS,
    BRACHY_V_PRESCRIPTION_PERCENTS,
    D_PERCENTS,
    GRADIENT_INDEX_LEVEL_PERCENT,
    V_PRESCRIPTION_PERCENTS,
)

__all__ = ["structure_metrics", "conformity"]


def structure_metrics(
    dose_gy: np.ndarray,
    weights: np.ndarray,
    voxel_volume_ml: float,
    prescription_gy: float | None = None,
    brachy: bool = False,
    eqd2_gy: np.ndarray | None = None,
    name: str = "structure",
) -> dict[str, Any]:
    """Volume, mean/min/max, D98/D95/D50/D2, V100/V95 (and brachytherapy D100/D90/V150/V200).

    Parameters
    ----------
    dose_gy:
        Total physical dose (Gy) on the grid of ``weights``.
    weights:
        Fraction of each voxel inside the structure (0..1).
    voxel_volume_ml:
        Volume of one voxel (mL).
    prescription_gy:
        Prescription (Gy, total); without it no V_x of the prescription.
    brachy:
        Also D100, D90, V150, V200.
    eqd2_gy:
        EQD2 map on the same grid: adds ``eqd2_mean_gy``, ``eqd2_d98_gy``, ``eqd2_d2_gy``.
    """
    w = np.asarray(weights, dtype=np.float64)
    sel = w > 0
    if not np.any(sel):
        raise EmptyMaskError(f"The structure {name!r} has no voxel on the dose grid.")
    d = np.asarray(dose_gy)[sel].astype(np.float64)
    ws = w[sel]
    out: dict[str, Any] = {
        "volume_ml": float(ws.sum() * voxel_volume_ml),
        "mean_gy": float(np.sum(ws * d) / ws.sum()),
        "min_gy": float(d.min()),
        "max_gy": float(d.max()),
    }
    levels = list(D_PERCENTS) + ([p for p in BRACHY_D_PERCENTS if p not in D_PERCENTS] if brachy else [])
    for key, value in dose_at_volume(dose_gy, weights, levels).items():
        out[f"d{key}_gy"] = value
    if prescription_gy is not None:
        if not prescription_gy > 0:
            raise InvalidInputError(f"The prescription must be a positive dose, got {prescription_gy} Gy.")
        pct = list(V_PRESCRIPTION_PERCENTS) + (list(BRACHY_V_PRESCRIPTION_PERCENTS) if brachy else [])
        vols = volume_at_dose(dose_gy, weights, [prescription_gy * p / 100.0 for p in pct])
        for p, v in zip(pct, vols.values(), strict=True):
            out[f"v{p:g}_percent"] = v
    if eqd2_gy is not None:
        e = np.asarray(eqd2_gy)[sel].astype(np.float64)
        out["eqd2_mean_gy"] = float(np.sum(ws * e) / ws.sum())
        for key, value in dose_at_volume(eqd2_gy, weights, [98.0, 2.0]).items():
            out[f"eqd2_d{key}_gy"] = value
    return out


def conformity(
    dose_gy: np.ndarray,
    target_weights: np.ndarray,
    prescription_gy: float,
    voxel_volume_ml: float,
    body_weights: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Paddick conformity index and gradient index of one target.

    Returns
    -------
    dict
        ``paddick``, ``gradient_index``, ``rtog`` (PIV/TV), ``tv_ml``, ``piv_ml``,
        ``tv_piv_ml``, ``piv50_ml``; ``None`` where a volume is zero.
    """
    d = np.asarray(dose_gy)
    tw = np.asarray(target_weights, dtype=np.float64)
    region = np.ones(d.shape) if body_weights is None else np.asarray(body_weights, dtype=np.float64)
    tv = float(tw.sum() * voxel_volume_ml)
    inside = d >= prescription_gy
    piv = float(region[inside].sum() * voxel_volume_ml)
    tv_piv = float(tw[inside].sum() * voxel_volume_ml)
    piv50 = float(region[d >= prescription_gy * GRADIENT_INDEX_LEVEL_PERCENT / 100.0].sum() * voxel_volume_ml)
    return {
        "paddick": tv_piv**2 / (tv * piv) if tv > 0 and piv > 0 else None,
        "gradient_index": piv50 / piv if piv > 0 else None,
        "rtog": piv / tv if tv > 0 else None,
        "tv_ml": tv,
        "piv_ml": piv,
        "tv_piv_ml": tv_piv,
        "piv50_ml": piv50,
    }
