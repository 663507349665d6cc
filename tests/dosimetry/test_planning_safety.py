"""Planning models and safety checks against hand calculations of the published formulas.

No manufacturer worked example with numbers was available offline; each expected
value below is computed by hand from the formula cited in ``planning.py``.
"""

from __future__ import annotations

import pytest

from workstation.core.errors import InvalidInputError
from workstation.dosimetry import planning as P
from workstation.dosimetry.safety import safety_warnings


def test_bsa_formulas() -> None:
    # DuBois: 0.20247 * 1.75^0.725 * 75^0.425 = 1.9031 m2; Mosteller: sqrt(175*75/3600) = 1.9094 m2
    assert P.body_surface_area_dubois(175, 75) == pytest.approx(1.9031, abs=1e-4)
    assert P.body_surface_area_mosteller(175, 75) == pytest.approx(1.9094, abs=1e-4)


def test_bsa_method_resin() -> None:
    # A = BSA - 0.2 + V_T/V_L = 1.9031 - 0.2 + 150/1500 = 1.8031 GBq (whole liver, LSF < 10 %)
    plan = P.plan_bsa(175, 75, 1500, 150)
    assert plan["prescribed_activity_gbq"] == pytest.approx(1.8031, abs=1e-4)
    # right lobe (60 %) and LSF 12 % (-20 %): 1.8031 * 0.6 * 0.8
    plan = P.plan_bsa(175, 75, 1500, 150, treated_fraction=0.6, lung_shunt_fraction=0.12)
    assert plan["prescribed_activity_gbq"] == pytest.approx(1.8031 * 0.6 * 0.8, abs=1e-4)
    assert P.plan_bsa(175, 75, 1500, 150, lung_shunt_fraction=0.18)["lung_shunt_reduction"] == 0.4
    high = P.plan_bsa(175, 75, 1500, 150, lung_shunt_fraction=0.25)
    assert high["prescribed_activity_gbq"] == 0.0 and "contraindicated" in high["warnings"][0]
    with pytest.raises(InvalidInputError, match="tumour volume"):
        P.plan_bsa(175, 75, 1500, 1600)


def test_mird_glass() -> None:
    # 120 Gy to 1545 g (1500 mL x 1.03): A = 120 * 1.545 / 49.67 / (1 - 0.05) = 3.929 GBq
    plan = P.plan_mird(120.0, 1545.0, lung_shunt_fraction=0.05)
    assert plan["prescribed_activity_gbq"] == pytest.approx(120 * 1.545 / 49.67 / 0.95, rel=1e-9)
    assert plan["doses"]["lung_gy"] == pytest.approx(49.67 * plan["prescribed_activity_gbq"] * 0.05, rel=1e-9)
    # the TheraSphere rounded factor 50
    assert P.plan_mird(120.0, 1545.0, ldm_gy_kg_per_gbq=50.0)["prescribed_activity_gbq"] == pytest.approx(
        120 * 1.545 / 50.0
    )


def test_partition_model() -> None:
    # Illustrative inputs (not taken from a publication): M_T 206 g, M_N 1339 g, TNR 3,
    # D_N 40 Gy, LSF 8 %; the partition model of Ho et al. (Eur J Nucl Med 1996) by hand.
    plan = P.plan_partition(206.0, 1339.0, 3.0, lung_shunt_fraction=0.08, target_normal_gy=40.0)
    a_liver = 40.0 * (1.339 + 3 * 0.206) / 49.67
    assert plan["prescribed_activity_gbq"] == pytest.approx(a_liver / 0.92, rel=1e-9)
    assert plan["doses"]["tumor_gy"] == pytest.approx(120.0)
    assert plan["doses"]["normal_liver_gy"] == pytest.approx(40.0)
    assert plan["doses"]["lung_gy"] == pytest.approx(49.67 * a_liver / 0.92 * 0.08, rel=1e-9)
    # energy bookkeeping: tumour + normal activities = liver activity
    assert sum(plan["activities_gbq"].values()) == pytest.approx(a_liver)
    # tumour-dose prescription gives the same plan
    same = P.plan_partition(206.0, 1339.0, 3.0, lung_shunt_fraction=0.08, target_tumor_gy=120.0)
    assert same["prescribed_activity_gbq"] == pytest.approx(plan["prescribed_activity_gbq"])


def test_partition_limited_by_lungs() -> None:
    # huge shunt: the lung limit of 30 Gy decides; A = 30 * 1 kg / (49.67 * 0.3)
    plan = P.plan_partition(100.0, 1000.0, 2.0, lung_shunt_fraction=0.3, normal_limit_gy=70.0)
    assert plan["limited_by"] == "lung dose limit"
    assert plan["prescribed_activity_gbq"] == pytest.approx(30.0 / (49.67 * 0.3))
    assert plan["doses"]["lung_gy"] == pytest.approx(30.0)


def test_multi_compartment_adds_territories() -> None:
    terrs = [P.Territory("right", 150.0, 900.0, 4.0), P.Territory("left", 50.0, 500.0, 2.0)]
    plan = P.plan_multi_compartment(terrs, lung_shunt_fraction=0.05, target_normal_gy=35.0)
    singles = [
        P.plan_partition(t.tumor_mass_g, t.normal_mass_g, t.tnr, lung_shunt_fraction=0.05, target_normal_gy=35.0)
        for t in terrs
    ]
    assert plan["prescribed_activity_gbq"] == pytest.approx(sum(s["prescribed_activity_gbq"] for s in singles))
    assert [t["tumor_gy"] for t in plan["territories"]] == pytest.approx([140.0, 70.0])
    with pytest.raises(InvalidInputError, match="exactly one"):
        P.plan_multi_compartment(terrs, target_normal_gy=30.0, target_tumor_gy=100.0)


def test_safety_warnings() -> None:
    w = safety_warnings(lung_dose_gy=32.0, prior_lung_dose_gy=25.0, lung_shunt_fraction=0.22,
                        normal_liver_mean_gy=45.0, tumor_mean_gy={"lesion_1": 150.0}, device=None)
    text = " ".join(w)
    assert "exceeds 30 Gy" in text and "exceeds 50 Gy" in text and "20 %" in text
    assert "exceeds 40 Gy" in text  # resin normal liver
    assert "205 Gy" in text  # glass HCC threshold, Garin et al. 2021
    assert "100 Gy" not in text  # 150 Gy is above the resin threshold
    glass = safety_warnings(lung_shunt_fraction=0.22, normal_liver_mean_gy=45.0, device="glass")
    assert glass == []  # LSF is a resin contraindication; 45 Gy < 120 Gy glass limit
    assert safety_warnings(lung_dose_gy=10.0, lung_shunt_fraction=0.05) == []
