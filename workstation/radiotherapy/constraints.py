"""Normal-liver constraints of liver SBRT and HDR brachytherapy, each with its source.

* Critical volume: at least 700 mL of normal liver (liver minus GTV) below a
  threshold that depends on the number of fractions (AAPM TG-101 Table III);
* mean normal-liver dose below the QUANTEC limit for the fractionation.

For a number of fractions that the source does not tabulate, the threshold is
carried over from the nearest tabulated scheme by LQ equivalence (same EQD2 at
the liver α/β of :data:`~.constants.LIVER_ALPHA_BETA_FOR_CONVERSION_GY`) and
reported as derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.dosimetry.radiobiology import Scheme, eqd2, physical_dose_for_eqd2
from workstation.radiotherapy.constants import (
    CONSTANT_SOURCES,
    LIVER_ALPHA_BETA_FOR_CONVERSION_GY,
    LIVER_CRITICAL_VOLUME_ML,
    LIVER_CRITICAL_VOLUME_THRESHOLD_GY,
    MEAN_LIVER_DOSE_LIMIT_GY,
)

__all__ = ["ConstraintResult", "threshold_for_fractions", "liver_constraints"]


@dataclass(frozen=True)
class ConstraintResult:
    """One constraint evaluated."""

    name: str
    description: str
    limit: float
    unit: str
    value: float
    passed: bool
    derived: bool
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "limit": self.limit, "unit": self.unit,
                "value": self.value, "passed": self.passed, "derived": self.derived, "source": self.source}


def threshold_for_fractions(table: dict[int, float], fractions: int) -> tuple[float, bool]:
    """The table's threshold for ``fractions`` (Gy), and whether it was derived by LQ equivalence."""
    if fractions in table:
        return table[fractions], False
    nearest = min(table, key=lambda n: (abs(n - fractions), n))
    ab = LIVER_ALPHA_BETA_FOR_CONVERSION_GY
    target = float(eqd2(table[nearest], Scheme("ebrt", fractions=nearest), ab))
    return physical_dose_for_eqd2(target, Scheme("ebrt", fractions=fractions), ab), True


def liver_constraints(
    dose_gy: np.ndarray,
    normal_liver_weights: np.ndarray,
    voxel_volume_ml: float,
    fractions: int,
) -> list[ConstraintResult]:
    """Evaluate the normal-liver constraints on a total physical dose (Gy)."""
    w = np.asarray(normal_liver_weights, dtype=np.float64)
    d = np.asarray(dose_gy)
    out = []
    thr, derived = threshold_for_fractions(LIVER_CRITICAL_VOLUME_THRESHOLD_GY, fractions)
    below_ml = float(w[d < thr].sum() * voxel_volume_ml)
    out.append(ConstraintResult(
        "liver_critical_volume",
        f"normal liver below {thr:.1f} Gy in {fractions} fraction{'s' if fractions != 1 else ''} "
        f">= {LIVER_CRITICAL_VOLUME_ML:g} mL",
        LIVER_CRITICAL_VOLUME_ML, "mL", below_ml, below_ml >= LIVER_CRITICAL_VOLUME_ML, derived,
        CONSTANT_SOURCES["LIVER_CRITICAL_VOLUME"] + ("; " + CONSTANT_SOURCES["OTHER_FRACTIONS"] if derived else ""),
    ))
    limit, derived = threshold_for_fractions(MEAN_LIVER_DOSE_LIMIT_GY, fractions)
    mean = float(np.sum(w * d) / w.sum()) if w.sum() > 0 else 0.0
    out.append(ConstraintResult(
        "mean_normal_liver_dose",
        f"mean normal-liver dose < {limit:.1f} Gy in {fractions} fraction{'s' if fractions != 1 else ''}",
        limit, "Gy", mean, mean < limit, derived,
        CONSTANT_SOURCES["MEAN_LIVER_DOSE"] + ("; " + CONSTANT_SOURCES["OTHER_FRACTIONS"] if derived else ""),
    ))
    return out
