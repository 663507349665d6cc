"""Acceptance on the sample SIRT patient (``sample_data/sirt``) against its ground truth.

The committed ``sample_data/`` is used when complete; otherwise the SIRT study is
generated into a temporary folder with :func:`workstation.samples.generate`
(about 15 s), so the test never skips.

What is compared (``ground_truth/truth.json``, ``rois[*].mean_ldm_gy``: LDM dose of
the true activity at 1.03 g/mL, lungs 0.30 g/mL):

* the engine on the true activity map: per-lesion and liver LDM means must agree
  to 0.5 % (same grid, same convention);
* the hybrid SPECT/CT (counts, 14 mm FWHM) and the 90Y PET (Bq/mL, 6 mm FWHM):
  liver mean within 5 % (acceptance of issue 4). Lesion means are limited by the
  partial-volume effect of the image resolution (no partial-volume correction is
  applied): they are checked only to be underestimated by less than 25 % (SPECT,
  lesion 1, 52 mm) - a guard against gross errors, not an accuracy claim.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workstation.dosimetry.pipeline import run_sirt
from workstation.io import read_image, read_mask

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def truth(sirt_case: Path) -> dict[str, Any]:
    return json.loads((sirt_case / "ground_truth" / "truth.json").read_text())


@pytest.fixture(scope="module")
def rois(sirt_case: Path) -> dict[str, Any]:
    gt = sirt_case / "ground_truth"
    return {name: read_mask(gt / f"{name}.nii.gz") for name in ("liver", "lesions", "lungs")}


def _truth_mean(truth: dict[str, Any], roi: str) -> float:
    return float(truth["rois"][roi.replace("lesions_", "lesion_")]["mean_ldm_gy"])


def test_engine_on_true_activity(sirt_case: Path, truth: dict[str, Any], rois: dict[str, Any]) -> None:
    act = read_image(sirt_case / "ground_truth" / "activity_bqml.nii.gz", units="Bq/mL")
    res = run_sirt(act, rois=rois, method="ldm", lung_shunt_fraction=truth["lung_shunt_fraction"],
                   administered_gbq=truth["administered_gbq"])
    got = res.results["methods"]["ldm"]["rois"]
    for roi in ("liver", "lesions_1", "lesions_2", "lesions_3", "lungs"):
        assert got[roi]["mean_gy"] == pytest.approx(_truth_mean(truth, roi), rel=5e-3), roi


def test_hybrid_spect_ct(sirt_case: Path, truth: dict[str, Any], rois: dict[str, Any]) -> None:
    spect = read_image(sirt_case / "spect")
    ct = read_image(sirt_case / "ct")
    res = run_sirt(spect, ct=ct, rois=rois, administered_gbq=truth["administered_gbq"],
                   lung_shunt_fraction=truth["lung_shunt_fraction"], method="all")
    r = res.results
    assert set(r["methods"]) == {"ldm", "vsv", "vsv-density"}  # the three engines side by side
    assert r["activity"]["calibration"] == "administered"
    for m in ("ldm", "vsv"):
        assert r["methods"][m]["rois"]["liver"]["mean_gy"] == pytest.approx(_truth_mean(truth, "liver"), rel=0.05)
    lesion1 = r["methods"]["ldm"]["rois"]["lesions_1"]["mean_gy"]
    assert 0.75 * _truth_mean(truth, "lesions_1") < lesion1 < _truth_mean(truth, "lesions_1")


def test_pet_quantitative(sirt_case: Path, truth: dict[str, Any], rois: dict[str, Any]) -> None:
    pet = read_image(sirt_case / "pet")
    ct = read_image(sirt_case / "ct")
    res = run_sirt(pet, ct=ct, rois=rois, administered_gbq=truth["administered_gbq"],
                   lung_shunt_fraction=truth["lung_shunt_fraction"], method="ldm,vsv")
    r = res.results
    assert r["activity"]["calibration"] == "quantitative"
    assert r["activity"]["total_in_image_gbq"] == pytest.approx(truth["administered_gbq"], rel=0.02)
    ldm = r["methods"]["ldm"]["rois"]
    assert ldm["liver"]["mean_gy"] == pytest.approx(_truth_mean(truth, "liver"), rel=0.05)
    assert ldm["normal_liver"]["mean_gy"] == pytest.approx(_truth_mean(truth, "normal_liver"), rel=0.05)
    assert r["tumor_to_normal_ratio"] == pytest.approx(truth["tumor_to_normal_ratio"], rel=0.05)


def test_lung_mass_on_ct_grid_and_roi_energies(sirt_case: Path, truth: dict[str, Any], rois: dict[str, Any]) -> None:
    """The formula's lung mass does not depend on the emission grid (4 mm PET, 4.8 mm SPECT): it is
    taken on the CT grid (before: 467.0 g and 485.8 g against 429.8 g on the CT grid); disjoint ROI
    energies never exceed the emitted energy for any engine."""
    ct = read_image(sirt_case / "ct")
    masses = []
    for modality in ("pet", "spect"):
        res = run_sirt(read_image(sirt_case / modality), ct=ct, rois=rois, administered_gbq=truth["administered_gbq"],
                       lung_shunt_fraction=truth["lung_shunt_fraction"], method="all")
        r = res.results
        masses.append(r["lung"]["lung_mass_g"])
        for m, block in r["methods"].items():
            total = sum(block["rois"][n]["energy_j"] for n in ("normal_liver", "lesions", "lungs"))
            assert total <= block["energy_emitted_j"] * (1 + 1e-5), m  # float32 doses
    assert masses[1] == pytest.approx(masses[0], rel=0.02)
