"""Planning models: prescribed 90Y (or 166Ho) activity and the doses it gives.

Models and sources
------------------
``bsa`` (resin, SIR-Spheres)
    ``A[GBq] = (BSA[m2] - 0.2 + V_tumour / V_liver) x treated fraction``, BSA by
    the DuBois & DuBois formula ``0.20247 H[m]^0.725 W[kg]^0.425``, as in the
    SIR-Spheres instructions for use and Kennedy et al., Int J Radiat Oncol Biol
    Phys 68:13 (2007) (REBOC consensus). Lung shunt reductions of the
    instructions for use: LSF < 10 %: none; 10-15 %: -20 %; 15-20 %: -40 %;
    > 20 %: contraindicated.
``mird`` (glass, TheraSphere; single compartment)
    ``A[GBq] = D[Gy] x M[kg] / (f (1 - LSF) (1 - R))`` with the LDM factor ``f``
    (Gy kg/GBq): the perfused mass receives ``D`` after the lung shunt ``LSF``
    and the residual ``R`` are removed (TheraSphere instructions for use; Salem &
    Thurston, J Vasc Interv Radiol 17:1251, 2006).
``partition`` (Ho et al., Eur J Nucl Med 23:947, 1996)
    Tumour (T), normal liver (N) and lung compartments; the tumour-to-normal
    ratio TNR of activity concentration comes from 99mTc-MAA SPECT. With ``A_L``
    the activity reaching the liver::

        A_N = A_L M_N / (M_N + TNR M_T),  A_T = A_L - A_N
        D_N = f A_N / M_N,  D_T = TNR D_N,  D_lung = f LSF A / M_lung
        A = A_L / ((1 - LSF)(1 - R))

    prescribed from a target normal-liver dose, a target tumour dose, or as the
    largest activity keeping the normal liver and the lungs within limits.
``multi-compartment``
    The partition model applied to several perfused territories (one per
    injection), each with its own masses and TNR; the activities add up and the
    lung dose comes from the total.

Masses from volumes use ``LIVER_DENSITY_G_PER_ML``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.dosimetry.density import SOFT_TISSUE_DENSITY_G_PER_ML
from workstation.dosimetry.metrics import LUNG_MASS_DEFAULT_G
from workstation.dosimetry.nuclides import get_nuclide

__all__ = [
    "parse_territory",
    "LIVER_DENSITY_G_PER_ML",
    "body_surface_area_dubois",
    "body_surface_area_mosteller",
    "plan_bsa",
    "plan_mird",
    "plan_partition",
    "plan_multi_compartment",
    "Territory",
]

#: Liver tissue density (g/mL) used to turn volumes into masses: 1.03 g/mL, as in
#: the MIRD/partition dosimetry of AAPM Report 144 (Dezarn et al., Med Phys
#: 38:4824, 2011).
LIVER_DENSITY_G_PER_ML: float = SOFT_TISSUE_DENSITY_G_PER_ML

_BSA_SOURCE = (
    "SIR-Spheres instructions for use (Sirtex); Kennedy et al. Int J Radiat Oncol Biol Phys 68:13 (2007); "
    "BSA: DuBois D, DuBois EF, Arch Intern Med 17:863 (1916)"
)
_MIRD_SOURCE = (
    "TheraSphere instructions for use (Boston Scientific); Salem R, Thurston KG, J Vasc Interv Radiol 17:1251 (2006)"
)
_PARTITION_SOURCE = "Ho S, Lau WY, Leung TW et al., Eur J Nucl Med 23:947 (1996)"


def _positive(name: str, value: float | None) -> float:
    if value is None or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"The {name} must be a positive number, got {value}.")
    return float(value)


def _fraction(name: str, value: float | None) -> float:
    v = 0.0 if value is None else float(value)
    if not (math.isfinite(v) and 0.0 <= v < 1.0):
        raise InvalidInputError(f"The {name} must be a fraction between 0 and 1 (exclusive), got {value}.")
    return v


def body_surface_area_dubois(height_cm: float, weight_kg: float) -> float:
    """BSA (m²) = 0.20247 × H[m]^0.725 × W[kg]^0.425 (DuBois & DuBois 1916)."""
    h = _positive("height", height_cm) / 100.0
    w = _positive("weight", weight_kg)
    return 0.20247 * h**0.725 * w**0.425


def body_surface_area_mosteller(height_cm: float, weight_kg: float) -> float:
    """BSA (m²) = sqrt(H[cm] × W[kg] / 3600) (Mosteller, N Engl J Med 317:1098, 1987)."""
    return math.sqrt(_positive("height", height_cm) * _positive("weight", weight_kg) / 3600.0)


def _lung(activity_gbq: float, lsf: float, residual: float, lung_mass_g: float, f: float) -> float:
    return f * activity_gbq * (1 - residual) * lsf / (lung_mass_g / 1000.0)


def plan_bsa(
    height_cm: float,
    weight_kg: float,
    liver_volume_ml: float,
    tumor_volume_ml: float,
    treated_fraction: float = 1.0,
    lung_shunt_fraction: float = 0.0,
) -> dict[str, Any]:
    """Resin BSA method (see the module docstring). Returns the plan dict."""
    liver = _positive("total liver volume", liver_volume_ml)
    tumor = float(tumor_volume_ml)
    if not (math.isfinite(tumor) and 0 <= tumor < liver):
        raise InvalidInputError(
            f"The tumour volume must be between 0 and the liver volume ({liver} mL), got {tumor_volume_ml}."
        )
    if not (0 < treated_fraction <= 1):
        raise InvalidInputError(f"The treated fraction must be in (0, 1], got {treated_fraction}.")
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    bsa = body_surface_area_dubois(height_cm, weight_kg)
    a_whole = bsa - 0.2 + tumor / liver
    if lsf < 0.10:
        reduction = 0.0
    elif lsf < 0.15:
        reduction = 0.20
    elif lsf <= 0.20:
        reduction = 0.40
    else:
        reduction = 1.0
    activity = a_whole * treated_fraction * (1 - reduction)
    warnings = []
    if reduction == 1.0:
        warnings.append(
            f"Lung shunt fraction {100 * lsf:.1f} % > 20 %: resin microspheres are contraindicated (SIR-Spheres IFU)."
        )
    return {
        "model": "bsa",
        "prescribed_activity_gbq": activity,
        "inputs": {
            "height_cm": height_cm,
            "weight_kg": weight_kg,
            "liver_volume_ml": liver,
            "tumor_volume_ml": tumor,
            "treated_fraction": treated_fraction,
            "lung_shunt_fraction": lsf,
        },
        "bsa_m2": bsa,
        "bsa_formula": "DuBois",
        "activity_before_reduction_gbq": a_whole * treated_fraction,
        "lung_shunt_reduction": reduction,
        "source": _BSA_SOURCE,
        "warnings": warnings,
    }


def plan_mird(
    target_dose_gy: float,
    perfused_mass_g: float,
    lung_shunt_fraction: float = 0.0,
    residual_fraction: float = 0.0,
    lung_mass_g: float = LUNG_MASS_DEFAULT_G,
    ldm_gy_kg_per_gbq: float | None = None,
    nuclide: str = "Y-90",
) -> dict[str, Any]:
    """Single-compartment MIRD model (see the module docstring).

    ``nuclide`` sets the default LDM factor: ``"Ho-166"`` gives the 166Ho rule
    A[GBq] = 60 Gy x M[kg] / 15.87 (3.78 GBq/kg) for a 60 Gy target.
    """
    d = _positive("target dose", target_dose_gy)
    m = _positive("perfused mass", perfused_mass_g)
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    res = _fraction("residual fraction", residual_fraction)
    f = get_nuclide(nuclide).ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
    activity = d * (m / 1000.0) / (f * (1 - lsf) * (1 - res))
    return {
        "model": "mird",
        "prescribed_activity_gbq": activity,
        "inputs": {
            "target_dose_gy": d,
            "perfused_mass_g": m,
            "lung_shunt_fraction": lsf,
            "residual_fraction": res,
            "lung_mass_g": lung_mass_g,
        },
        "doses": {"perfused_liver_gy": d, "lung_gy": _lung(activity, lsf, res, lung_mass_g, f)},
        "ldm_gy_kg_per_gbq": f,
        "nuclide": get_nuclide(nuclide).name,
        "source": _MIRD_SOURCE,
        "warnings": [],
    }


@dataclass(frozen=True)
class Territory:
    """A perfused territory of the partition model.

    Attributes
    ----------
    name:
        Label, e.g. ``"right lobe"``.
    tumor_mass_g, normal_mass_g:
        Masses (g) of tumour and normal liver in the territory.
    tnr:
        Tumour-to-normal ratio of activity concentration (MAA SPECT).
    """

    name: str
    tumor_mass_g: float
    normal_mass_g: float
    tnr: float


def parse_territory(spec: str, density_g_per_ml: float = LIVER_DENSITY_G_PER_ML) -> Territory:
    """A territory from ``NAME:TUMOR_ML:NORMAL_ML:TNR`` (volumes in mL, masses by ``density_g_per_ml``).

    Raises
    ------
    InvalidInputError
        When the text is not four fields with numbers in the last three.
    """
    parts = spec.split(":")
    if len(parts) != 4 or not parts[0].strip():
        raise InvalidInputError(f"--territory {spec!r} must be NAME:TUMOR_ML:NORMAL_ML:TNR.")
    try:
        tumor_ml, normal_ml, tnr = (float(v) for v in parts[1:])
    except ValueError:
        raise InvalidInputError(f"--territory {spec!r} must be NAME:TUMOR_ML:NORMAL_ML:TNR with numbers.") from None
    return Territory(parts[0].strip(), tumor_ml * density_g_per_ml, normal_ml * density_g_per_ml, tnr)


def _partition_doses(t: Territory, liver_activity_gbq: float, f: float) -> dict[str, float]:
    denom = t.normal_mass_g + t.tnr * t.tumor_mass_g
    a_n = liver_activity_gbq * t.normal_mass_g / denom
    d_n = f * a_n / (t.normal_mass_g / 1000.0)
    return {
        "tumor_gy": t.tnr * d_n,
        "normal_liver_gy": d_n,
        "tumor_activity_gbq": liver_activity_gbq - a_n,
        "normal_liver_activity_gbq": a_n,
    }


def _check_territory(t: Territory) -> None:
    _positive(f"normal-liver mass of {t.name}", t.normal_mass_g)
    if not (math.isfinite(t.tumor_mass_g) and t.tumor_mass_g >= 0):
        raise InvalidInputError(f"The tumour mass of {t.name} must be zero or positive, got {t.tumor_mass_g}.")
    _positive(f"tumour-to-normal ratio of {t.name}", t.tnr)


def plan_partition(
    tumor_mass_g: float,
    normal_mass_g: float,
    tnr: float,
    lung_shunt_fraction: float = 0.0,
    target_normal_gy: float | None = None,
    target_tumor_gy: float | None = None,
    normal_limit_gy: float | None = None,
    lung_limit_gy: float = 30.0,
    residual_fraction: float = 0.0,
    lung_mass_g: float = LUNG_MASS_DEFAULT_G,
    ldm_gy_kg_per_gbq: float | None = None,
    nuclide: str = "Y-90",
) -> dict[str, Any]:
    """Partition model for one territory (see the module docstring).

    Exactly one of ``target_normal_gy``, ``target_tumor_gy`` or ``normal_limit_gy``
    sets the prescription; with ``normal_limit_gy`` the activity is the largest
    that keeps the normal liver at or below it and the lungs at or below
    ``lung_limit_gy``.
    """
    plan = plan_multi_compartment(
        [Territory("liver", tumor_mass_g, normal_mass_g, tnr)],
        lung_shunt_fraction=lung_shunt_fraction,
        target_normal_gy=target_normal_gy,
        target_tumor_gy=target_tumor_gy,
        normal_limit_gy=normal_limit_gy,
        lung_limit_gy=lung_limit_gy,
        residual_fraction=residual_fraction,
        lung_mass_g=lung_mass_g,
        ldm_gy_kg_per_gbq=ldm_gy_kg_per_gbq,
        nuclide=nuclide,
    )
    plan["model"] = "partition"
    terr = plan.pop("territories")[0]  # type: ignore[index]
    plan["doses"] = {
        "tumor_gy": terr["tumor_gy"],
        "normal_liver_gy": terr["normal_liver_gy"],
        "lung_gy": plan["lung_gy"],
    }
    plan["activities_gbq"] = {
        "tumor": terr["tumor_activity_gbq"],
        "normal_liver": terr["normal_liver_activity_gbq"],
    }
    return plan


def plan_multi_compartment(
    territories: list[Territory],
    lung_shunt_fraction: float = 0.0,
    target_normal_gy: float | None = None,
    target_tumor_gy: float | None = None,
    normal_limit_gy: float | None = None,
    lung_limit_gy: float = 30.0,
    residual_fraction: float = 0.0,
    lung_mass_g: float = LUNG_MASS_DEFAULT_G,
    ldm_gy_kg_per_gbq: float | None = None,
    nuclide: str = "Y-90",
) -> dict[str, Any]:
    """Partition model over several territories; per-territory activities add up.

    ``nuclide`` sets the default LDM factor (``"Y-90"`` or ``"Ho-166"``).
    """
    if not territories:
        raise InvalidInputError("The multi-compartment model needs at least one territory.")
    given = [x for x in (target_normal_gy, target_tumor_gy, normal_limit_gy) if x is not None]
    if len(given) != 1:
        raise InvalidInputError(
            "Give exactly one of --target-normal-gy, --target-tumor-gy or --normal-limit-gy for the partition model."
        )
    for t in territories:
        _check_territory(t)
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    res = _fraction("residual fraction", residual_fraction)
    _positive("lung mass", lung_mass_g)
    f = get_nuclide(nuclide).ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
    delivered = (1 - lsf) * (1 - res)
    # liver activity for D_N in a territory: A_L = D_N (M_N + TNR M_T) / f  (masses in kg)
    per_gy = [(t.normal_mass_g + t.tnr * t.tumor_mass_g) / 1000.0 / f for t in territories]
    if target_normal_gy is not None:
        d_n = [_positive("target normal-liver dose", target_normal_gy)] * len(territories)
        basis = "target normal-liver dose"
    elif target_tumor_gy is not None:
        d_n = [_positive("target tumour dose", target_tumor_gy) / t.tnr for t in territories]
        basis = "target tumour dose"
    else:
        d_n = [_positive("normal-liver dose limit", normal_limit_gy)] * len(territories)
        basis = "normal-liver limit"
    liver_acts = [d * k for d, k in zip(d_n, per_gy, strict=True)]
    total = sum(liver_acts) / delivered
    limited_by = basis
    if normal_limit_gy is not None and lsf > 0:
        lung_max_total = lung_limit_gy * (lung_mass_g / 1000.0) / (f * (1 - res) * lsf)
        if lung_max_total < total:
            scale = lung_max_total / total
            liver_acts = [a * scale for a in liver_acts]
            total = lung_max_total
            limited_by = "lung dose limit"
    terr_out = []
    for t, a in zip(territories, liver_acts, strict=True):
        doses = _partition_doses(t, a, f)
        terr_out.append(
            {
                "name": t.name,
                "tumor_mass_g": t.tumor_mass_g,
                "normal_mass_g": t.normal_mass_g,
                "tnr": t.tnr,
                "activity_gbq": a / delivered,
                "liver_activity_gbq": a,
                **doses,
            }
        )
    lung = _lung(total, lsf, res, lung_mass_g, f)
    return {
        "model": "multi-compartment" if len(territories) > 1 else "partition",
        "prescribed_activity_gbq": total,
        "prescription_basis": basis,
        "limited_by": limited_by,
        "inputs": {
            "lung_shunt_fraction": lsf,
            "residual_fraction": res,
            "lung_mass_g": lung_mass_g,
            "target_normal_gy": target_normal_gy,
            "target_tumor_gy": target_tumor_gy,
            "normal_limit_gy": normal_limit_gy,
            "lung_limit_gy": lung_limit_gy,
        },
        "territories": terr_out,
        "lung_gy": lung,
        "ldm_gy_kg_per_gbq": f,
        "source": _PARTITION_SOURCE,
        "warnings": [],
    }
