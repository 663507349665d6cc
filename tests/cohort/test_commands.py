"""From a command's results to table rows: lesions, ROI roles, mean EQD2 over the DVH."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from workstation.cohort import COMMANDS, dvh_mean_eqd2_gy
from workstation.dosimetry.dvh import cumulative_dvh
from workstation.dosimetry.nuclides import Y90
from workstation.dosimetry.radiobiology import TISSUES, Scheme, eqd2


def test_mean_eqd2_of_a_uniform_dose_is_the_eqd2_of_that_dose() -> None:
    """A uniform 150 Gy: the DVH is a step at 150 Gy; Dale's permanent-implant EQD2 of 150 Gy.

    The DVH of sirt has bins of max/1000 (0.15 Gy), so the dose is known to half a bin
    (0.075 Gy), the EQD2 to dEQD2/dD x 0.075 Gy = 1.41 x 0.075 = 0.106 Gy at 150 Gy.
    """
    dose = np.full(1000, 150.0)
    edges, cum = cumulative_dvh(dose, np.ones_like(dose))
    tumour = TISSUES["tumour"]
    got = dvh_mean_eqd2_gy(edges.tolist(), cum.tolist(), half_life_h=Y90.half_life_h,
                           alpha_beta_gy=tumour.alpha_beta_gy, repair_half_time_h=tumour.repair_half_time_h)
    scheme = Scheme("sirt", nuclide="Y-90", half_life_h=Y90.half_life_h)
    want = float(eqd2(150.0, scheme, tumour.alpha_beta_gy, tumour.repair_half_time_h))
    assert got == pytest.approx(want, abs=0.11)
    # Dale: BED = D (1 + D G / (alpha/beta)), G = lambda / (mu + lambda) = 0.0229 for 64.1 h and 1.5 h
    assert want == pytest.approx(150.0 * (1 + 150.0 * 0.02288 / 10.0) / 1.2, rel=1e-3)


def test_mean_over_the_dvh_is_the_weighted_mean_dose_when_eqd2_is_linear() -> None:
    """With alpha/beta -> infinity EQD2 = D: the DVH integral gives the weighted mean within half a bin."""
    rng = np.random.default_rng(4)
    dose = rng.gamma(4.0, 20.0, 20000)
    weights = rng.uniform(0.2, 1.0, 20000)
    edges, cum = cumulative_dvh(dose, weights)
    got = dvh_mean_eqd2_gy(edges.tolist(), cum.tolist(), half_life_h=Y90.half_life_h,
                           alpha_beta_gy=1e12, repair_half_time_h=1.5)
    width = edges[1] - edges[0]
    assert got == pytest.approx(np.average(dose, weights=weights), abs=width / 2)


def _sirt_results() -> dict:
    def met(mean: float) -> dict:
        return {"volume_ml": 10.0, "mass_g": 10.3, "mean_gy": mean, "min_gy": 0.5 * mean, "max_gy": 2 * mean,
                "d2_gy": 1.9 * mean, "d50_gy": mean, "d70_gy": 0.9 * mean, "d90_gy": 0.8 * mean,
                "d95_gy": 0.7 * mean, "d98_gy": 0.6 * mean, "v_gy_percent": {"100": 40.0, "205": 5.0}}

    rois = {"liver": met(40.0), "lesions": met(120.0), "lesions_1": met(150.0), "lesions_2": met(90.0),
            "tumor_x": met(200.0), "normal_liver": met(35.0)}
    return {"nuclide": "Y-90", "constants": Y90.constants(Y90.ldm_gy_kg_per_gbq),
            "activity": {"calibration": "quantitative", "administered_gbq": 1.5, "total_in_image_gbq": 1.45},
            "methods": {"ldm": {"rois": rois}, "vsv": {"rois": rois}},
            "roi_roles": {"liver": "liver", "lesions": "lesion", "lesions_1": "lesion", "lesions_2": "lesion",
                          "tumor_x": "lesion", "normal_liver": "normal_liver"},
            "tumor_to_normal_ratio": 3.4, "warnings": ["w"]}


def test_sirt_rows_lesions_are_the_leaves_and_eqd2_uses_the_role(tmp_path: Path) -> None:
    with open(tmp_path / "dvh.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "roi", "dose_gy", "volume_percent"])
        for method in ("ldm", "vsv"):
            for roi, d in (("lesions_1", 150.0), ("liver", 40.0)):
                w.writerows([[method, roi, 0.0, 100.0], [method, roi, d, 100.0], [method, roi, d + 0.2, 0.0]])
    rows = COMMANDS["sirt"].extract(_sirt_results(), tmp_path)
    assert rows.treatment["administered_gbq"] == 1.5 and rows.treatment["methods"] == "ldm,vsv"
    assert len(rows.rois) == 12
    # the label image 'lesions' was split: its parts and the separate tumour ROI are the lesions
    assert sorted({r["lesion"] for r in rows.lesions}) == ["lesions_1", "lesions_2", "tumor_x"]
    assert len(rows.lesions) == 6
    by = {(r["method"], r["roi"]): r for r in rows.rois}
    assert by[("ldm", "lesions_1")]["eqd2_tissue"] == "tumour" and by[("ldm", "liver")]["eqd2_tissue"] == "liver"
    assert by[("ldm", "normal_liver")]["eqd2_tissue"] == "liver"
    assert by[("ldm", "lesions_1")]["v100gy_percent"] == 40.0
    scheme = Scheme("sirt", nuclide="Y-90", half_life_h=Y90.half_life_h)
    for roi, d, tissue in (("lesions_1", 150.1, TISSUES["tumour"]), ("liver", 40.1, TISSUES["liver"])):
        want = float(eqd2(d, scheme, tissue.alpha_beta_gy, tissue.repair_half_time_h))
        assert by[("ldm", roi)]["eqd2_mean_gy"] == pytest.approx(want, rel=1e-9)
    assert math.isnan(by[("ldm", "lesions_2")]["eqd2_mean_gy"])  # no DVH for it: no EQD2, not a guess
    assert rows.constants["eqd2"]["tissues"]["tumour"]["alpha_beta_gy"] == 10.0


def test_margin_rows_one_lesion_per_tumour(tmp_path: Path) -> None:
    results = {"minimal_margin_mm": -1.2, "registration": None, "warnings": [], "method": {"surface": "mesh"},
               "tumors": [{"label": k, "volume_ml": 4.0, "minimal_margin_mm": m,
                           "margin_percentiles_mm": {"5": m + 1, "50": m + 4},
                           "surface_fraction": {"below_0mm": 0.1 if m < 0 else 0.0},
                           "insufficient_coverage_ml": {"0": 0.2, "5": 1.0}, "subcapsular_excluded_fraction": 0.0}
                          for k, m in ((1, -1.2), (2, 3.5))]}
    rows = COMMANDS["margin"].extract(results, tmp_path)
    assert rows.treatment == {"minimal_margin_mm": -1.2, "tumors": 2, "registration_mode": None, "warnings": 0}
    assert [(r["lesion"], r["minimal_margin_mm"], r["margin_p50_mm"]) for r in rows.lesions] == \
        [("tumor_1", -1.2, 2.8), ("tumor_2", 3.5, 7.5)]
    assert rows.lesions[0]["insufficient_coverage_5mm_ml"] == 1.0


def test_every_command_of_the_table_exists_on_the_command_line(catalogue: dict) -> None:
    for name, spec in COMMANDS.items():
        assert name in catalogue, name
        assert spec.input_options <= set(catalogue[name]), (name, spec.input_options - set(catalogue[name]))
        assert spec.reserved_options <= set(catalogue[name])


def test_tace_rows_one_lesion_per_tumour(tmp_path: Path) -> None:
    results = {"tumors": [{"label": 1, "volume_ml": 12.0, "lipiodol_coverage_percent": 93.5, "rim_coverage_fraction": 0.97,
                           "largest_gap_ml": 0.2, "largest_gap_peripheral": True, "class": "complete"},
                          {"label": 2, "volume_ml": 3.0, "lipiodol_coverage_percent": 40.0, "rim_coverage_fraction": None,
                           "largest_gap_ml": 1.5, "largest_gap_peripheral": False, "class": "partial"}],
               "non_target_ml": 1.25, "registration": {"mode": "given transform"}, "warnings": [], "constants": {}}
    rows = COMMANDS["tace"].extract(results, tmp_path)
    assert rows.treatment["non_target_ml"] == 1.25 and rows.treatment["registration_mode"] == "given transform"
    assert [(r["lesion"], r["lipiodol_coverage_percent"], r["class"]) for r in rows.lesions] == \
        [("tumor_1", 93.5, "complete"), ("tumor_2", 40.0, "partial")]
    assert math.isnan(rows.lesions[1]["rim_coverage_fraction"])
