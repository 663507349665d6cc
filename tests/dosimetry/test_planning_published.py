"""Planning models against numbers printed in manufacturers' and published material.

What was looked for and what was found (searched November 2026 in the stored public
pages, documentation and code corpora): complete worked examples (inputs and result)
of Gulec, Mesoloras & Stabin, J Nucl Med 47:1209 (2006); Kennedy et al. (REBOC),
Int J Radiat Oncol Biol Phys 68:13 (2007); the SIR-Spheres and TheraSphere
instructions for use; Salem & Thurston, J Vasc Interv Radiol 17 (2006); Ho et al.,
Eur J Nucl Med 23:947 (1996); Dezarn et al. (AAPM Report 144), Med Phys 38:4824
(2011); the MIRDy90 worksheet paper (J Nucl Med 65:794, 2024); Kao et al., Ann Nucl
Med 25:455 (2011). Only abstracts, formulas and summary statistics of these were
available; no complete worked example with its numbers. The tests below therefore
use the numerical statements that were found, each quoted with its page:

1. Sirtex Medical, "Dosimetry" page for clinicians
   (https://www.sirtex.com/us/clinicians/about-sirt/dosimetry/): "In general, 1 GBq
   (27 mCi) of yttrium-90/kg of tissue provides the equivalent of 50 Gy of radiation
   dose."
2. The glass-microsphere (TheraSphere) package-insert formula as reproduced in the
   book chapter "... and Dose Calculation" (https://radiologykey.com/and-dose-calculation),
   eq. (2): "Liver Dose (Gy) = 50 [Injected Activity (GBq)] [1 - F] / Mass of Selected
   Liver Target (kg)", F the lung shunt fraction from 99mTc-MAA; and, same page, the
   lung limit "0.61 when GBq is used (representing the upper limit of activity that
   can safely be delivered to the lungs in a single glass microsphere administration)".

Convention differences are reproduced with the factor of the source (option
``ldm_gy_kg_per_gbq``) and the size of the difference from the project default
(49.67 Gy kg/GBq) is asserted, so that a change of convention cannot pass unnoticed.
"""

from __future__ import annotations

import pytest

from workstation.dosimetry import planning as P
from workstation.dosimetry.safety import THRESHOLDS


def test_sirtex_one_gbq_per_kg_gives_50_gy() -> None:
    # Sirtex: 1 GBq per kg of tissue ~ 50 Gy. With the rounded factor 50 this is exact.
    plan = P.plan_mird(50.0, 1000.0, ldm_gy_kg_per_gbq=50.0)
    assert plan["prescribed_activity_gbq"] == pytest.approx(1.0, rel=1e-12)
    # With the project default 49.67 Gy kg/GBq, 1 GBq/kg gives 49.67 Gy: 0.66 % below the
    # rounded statement (which says "in general ... the equivalent of"), so 50 Gy needs 1.0066 GBq.
    default = P.plan_mird(50.0, 1000.0)
    assert default["ldm_gy_kg_per_gbq"] == 49.67
    assert default["prescribed_activity_gbq"] == pytest.approx(1.0066, abs=1e-4)
    assert abs(default["prescribed_activity_gbq"] - 1.0) / 1.0 < 0.01


@pytest.mark.parametrize(
    ("dose_gy", "mass_g", "lsf"), [(120.0, 1500.0, 0.0), (120.0, 1545.0, 0.05), (80.0, 620.0, 0.12)]
)
def test_glass_package_insert_formula(dose_gy: float, mass_g: float, lsf: float) -> None:
    # radiologykey eq. (2): D = 50 A (1 - F) / M. The MIRD plan inverts it exactly with the
    # factor 50, i.e. the lung shunt is removed from the injected activity, not added to the mass.
    plan = P.plan_mird(dose_gy, mass_g, lung_shunt_fraction=lsf, ldm_gy_kg_per_gbq=50.0)
    a = plan["prescribed_activity_gbq"]
    assert 50.0 * a * (1.0 - lsf) / (mass_g / 1000.0) == pytest.approx(dose_gy, rel=1e-12)
    assert plan["doses"]["perfused_liver_gy"] == pytest.approx(dose_gy)
    # default factor 49.67: 0.66 % more activity for the same dose
    a_default = P.plan_mird(dose_gy, mass_g, lung_shunt_fraction=lsf)["prescribed_activity_gbq"]
    assert a_default / a == pytest.approx(50.0 / 49.67, rel=1e-12)


def _lung_limited_lung_activity(ldm: float) -> float:
    """Activity (GBq) reaching 1 kg of lungs when the plan is limited by the 30 Gy lung limit."""
    lsf = 0.25
    plan = P.plan_partition(
        100.0, 900.0, 3.0, lung_shunt_fraction=lsf, normal_limit_gy=1000.0,
        lung_limit_gy=THRESHOLDS["lung_single_gy"][0], lung_mass_g=1000.0, ldm_gy_kg_per_gbq=ldm,
    )
    assert plan["limited_by"] == "lung dose limit"
    assert plan["doses"]["lung_gy"] == pytest.approx(30.0)
    return plan["prescribed_activity_gbq"] * lsf


def test_glass_lung_activity_limit_061_gbq() -> None:
    # radiologykey: 0.61 GBq is the largest activity that may reach the lungs in one glass
    # administration; with the single-treatment lung limit of 30 Gy (safety.THRESHOLDS, TheraSphere
    # instructions for use) and the 1 kg lung mass of the package-insert formula, our lung-limited
    # plan reproduces it (two digits) with the AAPM Report 144 factor 49.38 Gy kg/GBq: 30/49.38 = 0.6075.
    a_lung = _lung_limited_lung_activity(49.38)
    assert a_lung == pytest.approx(30.0 / 49.38, rel=1e-12)
    assert round(a_lung, 2) == 0.61
    # With 49.67 (default) or 50 the same 30 Gy corresponds to 0.604 / 0.600 GBq: 1.0-1.6 % below
    # the printed 0.61, i.e. the project default is the more conservative one.
    for ldm in (49.67, 50.0):
        a = _lung_limited_lung_activity(ldm)
        assert 0.59 < a < 0.61
        assert (0.61 - a) / 0.61 < 0.02
