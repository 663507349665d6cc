"""Informational safety checks of a SIRT dosimetry, each with its source.

The checks never block a computation: they produce sentences for
``results.json["warnings"]`` and the report. Thresholds are module constants
so that a site can review them; each cites where it comes from.
"""

from __future__ import annotations

__all__ = ["THRESHOLDS", "safety_warnings"]

#: name -> (value, unit, source)
THRESHOLDS: dict[str, tuple[float, str, str]] = {
    "lung_single_gy": (
        30.0,
        "Gy",
        "Ho S et al., Eur J Nucl Med 24:293 (1997); TheraSphere instructions for use: lung dose <= 30 Gy per treatment",
    ),
    "lung_cumulative_gy": (
        50.0,
        "Gy",
        "TheraSphere instructions for use: cumulative lung dose <= 50 Gy",
    ),
    "lsf_resin_max": (
        0.20,
        "fraction",
        "SIR-Spheres instructions for use: lung shunt > 20 % is a contraindication (10-20 %: reduce activity)",
    ),
    "lsf_resin_reduce": (
        0.10,
        "fraction",
        "SIR-Spheres instructions for use: lung shunt 10-20 % requires an activity reduction",
    ),
    "normal_liver_resin_gy": (
        40.0,
        "Gy",
        "Levillain H et al., Eur J Nucl Med Mol Imaging 48:1570 (2021), resin: mean non-tumoral liver dose <= 40 Gy "
        "(whole-liver treatment)",
    ),
    "normal_liver_glass_gy": (
        120.0,
        "Gy",
        "Salem R et al., Eur J Nucl Med Mol Imaging 50:328 (2023), glass: perfused normal-liver dose <= 120 Gy "
        "(lobar treatment)",
    ),
    "tumor_glass_hcc_gy": (
        205.0,
        "Gy",
        "Garin E et al. (DOSISPHERE-01), Lancet Gastroenterol Hepatol 6:17 (2021); Salem R et al. EJNMMI 50:328 (2023): "
        "tumour dose >= 205 Gy (glass, HCC)",
    ),
    "tumor_resin_hcc_gy": (
        100.0,
        "Gy",
        "Levillain H et al., Eur J Nucl Med Mol Imaging 48:1570 (2021): tumour dose >= 100-120 Gy (resin, HCC)",
    ),
}


def _t(name: str) -> float:
    return THRESHOLDS[name][0]


def safety_warnings(
    lung_dose_gy: float | None = None,
    prior_lung_dose_gy: float = 0.0,
    lung_shunt_fraction: float | None = None,
    normal_liver_mean_gy: float | None = None,
    tumor_mean_gy: dict[str, float] | None = None,
    device: str | None = None,
) -> list[str]:
    """Sentences for every threshold crossed (see :data:`THRESHOLDS`).

    Parameters
    ----------
    lung_dose_gy:
        Mean lung dose of this treatment (Gy).
    prior_lung_dose_gy:
        Lung dose of earlier treatments (Gy), for the cumulative limit.
    lung_shunt_fraction:
        Lung shunt fraction.
    normal_liver_mean_gy:
        Mean dose of the normal (non-tumoral) liver (Gy).
    tumor_mean_gy:
        Mean dose per tumour ROI (Gy).
    device:
        ``"glass"``, ``"resin"`` or ``None`` (both sets of thresholds are reported).
    """
    out: list[str] = []
    dev = (device or "").lower() or None
    if lung_dose_gy is not None:
        if lung_dose_gy > _t("lung_single_gy"):
            out.append(
                f"Lung dose {lung_dose_gy:.1f} Gy exceeds {_t('lung_single_gy'):g} Gy per treatment "
                f"({THRESHOLDS['lung_single_gy'][2]})."
            )
        cumulative = lung_dose_gy + prior_lung_dose_gy
        if cumulative > _t("lung_cumulative_gy"):
            out.append(
                f"Cumulative lung dose {cumulative:.1f} Gy exceeds {_t('lung_cumulative_gy'):g} Gy "
                f"({THRESHOLDS['lung_cumulative_gy'][2]})."
            )
    if lung_shunt_fraction is not None and dev in (None, "resin"):
        if lung_shunt_fraction > _t("lsf_resin_max"):
            out.append(
                f"Lung shunt fraction {100 * lung_shunt_fraction:.1f} % exceeds 20 %: contraindication for resin "
                f"microspheres ({THRESHOLDS['lsf_resin_max'][2]}); for glass the lung dose decides."
            )
        elif lung_shunt_fraction > _t("lsf_resin_reduce"):
            out.append(
                f"Lung shunt fraction {100 * lung_shunt_fraction:.1f} % is between 10 and 20 %: resin activity "
                f"must be reduced ({THRESHOLDS['lsf_resin_reduce'][2]})."
            )
    if normal_liver_mean_gy is not None:
        for key, label in (("normal_liver_resin_gy", "resin"), ("normal_liver_glass_gy", "glass")):
            if dev not in (None, label):
                continue
            if normal_liver_mean_gy > _t(key):
                out.append(
                    f"Mean normal-liver dose {normal_liver_mean_gy:.1f} Gy exceeds {_t(key):g} Gy "
                    f"({THRESHOLDS[key][2]})."
                )
    for name, dose in (tumor_mean_gy or {}).items():
        for key, label in (("tumor_glass_hcc_gy", "glass"), ("tumor_resin_hcc_gy", "resin")):
            if dev not in (None, label):
                continue
            if dose < _t(key):
                out.append(
                    f"Mean dose of {name} {dose:.1f} Gy is below the {label}-microsphere HCC response threshold "
                    f"{_t(key):g} Gy ({THRESHOLDS[key][2]})."
                )
    return out
