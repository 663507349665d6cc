"""Coverage levels and normal-liver constraints of local radiotherapy: values, units, sources.

Every number here is printed in ``results.json["constants"]`` and in the report.
"""

from __future__ import annotations

__all__ = [
    "D_PERCENTS",
    "V_PRESCRIPTION_PERCENTS",
    "BRACHY_D_PERCENTS",
    "BRACHY_V_PRESCRIPTION_PERCENTS",
    "GRADIENT_INDEX_LEVEL_PERCENT",
    "LIVER_CRITICAL_VOLUME_ML",
    "LIVER_CRITICAL_VOLUME_THRESHOLD_GY",
    "MEAN_LIVER_DOSE_LIMIT_GY",
    "LIVER_ALPHA_BETA_FOR_CONVERSION_GY",
    "CONSTANT_SOURCES",
    "constants_block",
]

#: D_x levels reported per structure (% of its volume): D98, D95, D50, D2 (ICRU Report 83, 2010,
#: "near-minimum" D98, "near-maximum" D2, median D50; D95 as used in SBRT prescriptions).
D_PERCENTS: tuple[float, ...] = (98.0, 95.0, 50.0, 2.0)
#: V_x levels reported per structure, in % of the prescription dose (V100, V95).
V_PRESCRIPTION_PERCENTS: tuple[float, ...] = (100.0, 95.0)
#: Brachytherapy target levels: D100 (minimum) and D90 (GEC-ESTRO, Haie-Meder C et al.,
#: Radiother Oncol 74:235, 2005; Pötter R et al., Radiother Oncol 78:67, 2006).
BRACHY_D_PERCENTS: tuple[float, ...] = (100.0, 90.0)
#: Brachytherapy V150 and V200 of the target (% of the prescription), same sources.
BRACHY_V_PRESCRIPTION_PERCENTS: tuple[float, ...] = (150.0, 200.0)
#: Gradient index: volume of the 50 % prescription isodose over the 100 % one
#: (Paddick I, Lippitz B, J Neurosurg 105 Suppl:194, 2006).
GRADIENT_INDEX_LEVEL_PERCENT: float = 50.0

#: Critical volume of normal liver that must stay below a threshold dose (mL): 700 mL
#: (AAPM TG-101, Benedict SH et al., Med Phys 37:4078, 2010, Table III; QUANTEC, Pan CC et al.,
#: Int J Radiat Oncol Biol Phys 76:S94, 2010).
LIVER_CRITICAL_VOLUME_ML: float = 700.0
#: Threshold (Gy, total physical dose) below which at least 700 mL of normal liver must stay,
#: by number of fractions: AAPM TG-101 Table III ("basic liver function"): 1 fraction 9.1 Gy,
#: 3 fractions 19.2 Gy, 5 fractions 21 Gy.
LIVER_CRITICAL_VOLUME_THRESHOLD_GY: dict[int, float] = {1: 9.1, 3: 19.2, 5: 21.0}
#: Mean normal-liver dose limit (Gy, total physical) for SBRT of liver metastases, by number of
#: fractions: QUANTEC (Pan CC et al., Int J Radiat Oncol Biol Phys 76:S94, 2010): < 15 Gy in
#: 3 fractions, < 20 Gy in 6 fractions (primary liver cancer: 13 and 18 Gy).
MEAN_LIVER_DOSE_LIMIT_GY: dict[int, float] = {3: 15.0, 6: 20.0}
#: α/β of normal liver (Gy) used to carry a tabulated threshold to another number of fractions
#: by LQ equivalence (see :mod:`workstation.dosimetry.radiobiology`, tissue "liver").
LIVER_ALPHA_BETA_FOR_CONVERSION_GY: float = 2.5

CONSTANT_SOURCES: dict[str, str] = {
    "D_PERCENTS": "ICRU Report 83 (2010): D98 near-minimum, D2 near-maximum, D50 median",
    "BRACHY_D_PERCENTS": "GEC-ESTRO: Haie-Meder C et al., Radiother Oncol 74:235 (2005); Potter R et al., "
    "Radiother Oncol 78:67 (2006)",
    "PADDICK_CI": "Paddick I, J Neurosurg 93 Suppl 3:219 (2000): CI = TV_PIV^2 / (TV x PIV)",
    "GRADIENT_INDEX": "Paddick I, Lippitz B, J Neurosurg 105 Suppl:194 (2006): GI = PIV_50% / PIV_100%",
    "LIVER_CRITICAL_VOLUME": "AAPM TG-101, Benedict SH et al., Med Phys 37:4078 (2010), Table III: "
    "700 mL of liver below 9.1 Gy (1 fx), 19.2 Gy (3 fx), 21 Gy (5 fx)",
    "MEAN_LIVER_DOSE": "QUANTEC, Pan CC et al., Int J Radiat Oncol Biol Phys 76:S94 (2010): mean normal-liver "
    "dose < 15 Gy (3 fx), < 20 Gy (6 fx) for liver metastases",
    "OTHER_FRACTIONS": "thresholds for an untabulated number of fractions: LQ-equivalent (same EQD2 at "
    "alpha/beta 2.5 Gy) to the nearest tabulated scheme; reported as derived",
}


def constants_block() -> dict[str, object]:
    """The ``constants`` block of the rt-dose results.json."""
    return {
        "d_percents": list(D_PERCENTS),
        "v_prescription_percents": list(V_PRESCRIPTION_PERCENTS),
        "brachy_d_percents": list(BRACHY_D_PERCENTS),
        "brachy_v_prescription_percents": list(BRACHY_V_PRESCRIPTION_PERCENTS),
        "gradient_index_level_percent": GRADIENT_INDEX_LEVEL_PERCENT,
        "liver_critical_volume_ml": LIVER_CRITICAL_VOLUME_ML,
        "liver_critical_volume_threshold_gy": {str(k): v for k, v in LIVER_CRITICAL_VOLUME_THRESHOLD_GY.items()},
        "mean_liver_dose_limit_gy": {str(k): v for k, v in MEAN_LIVER_DOSE_LIMIT_GY.items()},
        "liver_alpha_beta_for_conversion_gy": LIVER_ALPHA_BETA_FOR_CONVERSION_GY,
        "sources": dict(CONSTANT_SOURCES),
    }
