"""Per-ROI dose metrics in the shape of results.json (``../shared/spec/CLI.md``).

All metrics are weighted by the ROI voxel fractions of :func:`.dvh.roi_weights`.
Mean dose is volume-weighted (``sum(w D) / sum(w)``); ``mass_g`` and
``energy_j`` use the density the engine divided the energy by (the caller passes
it), so ``mass_weighted_mean_gy x mass_g / 1000 = energy_j`` for every engine.
"""

from __future__ import annotations

import numpy as np

from workstation.dosimetry.dvh import dose_at_volume, volume_at_dose
from workstation.dosimetry.nuclides import Nuclide, get_nuclide

__all__ = ["D_PERCENTS", "V_DOSES_GY", "roi_metrics", "lung_dose_formula_gy", "LUNG_MASS_DEFAULT_G"]

#: D_x levels reported (percent of ROI volume).
D_PERCENTS: tuple[float, ...] = (2, 50, 70, 90, 95, 98)
#: V_X levels reported (Gy), keys of ``v_gy_percent``.
V_DOSES_GY: tuple[float, ...] = (20, 40, 70, 100, 120, 205)
#: Lung mass assumed by the clinical lung-dose formula when no lung ROI is
#: given (g): 1 kg, the convention of the TheraSphere instructions for use and of
#: Ho et al., Eur J Nucl Med 24:293 (1997).
LUNG_MASS_DEFAULT_G: float = 1000.0


def roi_metrics(
    dose_gy: np.ndarray,
    weights: np.ndarray,
    voxel_volume_ml: float,
    density_g_per_ml: float | np.ndarray = 1.0,
) -> dict[str, object]:
    """Metrics of one ROI: volume, mass, mean/min/max, D_x, V_X (see the contract)."""
    w = weights.astype(np.float64)
    sel = w > 0
    d = dose_gy[sel].astype(np.float64)
    ws = w[sel]
    rho = np.broadcast_to(np.asarray(density_g_per_ml, dtype=np.float64), dose_gy.shape)[sel]
    volume_ml = float(ws.sum() * voxel_volume_ml)
    mass_g = float(np.sum(ws * rho) * voxel_volume_ml)
    dx = dose_at_volume(dose_gy, weights, list(D_PERCENTS))
    out: dict[str, object] = {
        "volume_ml": volume_ml,
        "mass_g": mass_g,
        "mean_gy": float(np.sum(ws * d) / ws.sum()),
        "mass_weighted_mean_gy": float(np.sum(ws * rho * d) / max(np.sum(ws * rho), 1e-30)),
        "min_gy": float(d.min()),
        "max_gy": float(d.max()),
    }
    for key, value in dx.items():
        out[f"d{key}_gy"] = value
    out["v_gy_percent"] = volume_at_dose(dose_gy, weights, list(V_DOSES_GY))
    out["energy_j"] = float(np.sum(ws * rho * d) * voxel_volume_ml * 1e-3)
    return out


def lung_dose_formula_gy(
    administered_gbq: float,
    lung_shunt_fraction: float,
    lung_mass_g: float = LUNG_MASS_DEFAULT_G,
    ldm_gy_kg_per_gbq: float | None = None,
    residual_fraction: float = 0.0,
    nuclide: str | Nuclide = "Y-90",
) -> float:
    """Mean lung dose (Gy) = f x A x (1 - residual) x LSF / M_lung (Ho et al. 1997).

    ``f`` is ``ldm_gy_kg_per_gbq`` when given, else the LDM factor of ``nuclide``
    (:attr:`.nuclides.Nuclide.ldm_gy_kg_per_gbq`: 90Y 49.67, 166Ho 15.87 Gy kg/GBq).
    """
    f = get_nuclide(nuclide).ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
    return f * administered_gbq * (1 - residual_fraction) * lung_shunt_fraction / (lung_mass_g / 1000.0)
