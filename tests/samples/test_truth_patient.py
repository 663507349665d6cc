"""Ground truth of the SIRT and MAA studies is self-consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.samples.conftest import load_truth
from workstation.dosimetry.nuclides import Y90
from workstation.io import read_image
from workstation.samples._physics import LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML


def _gt(root: Path, case: str, name: str) -> np.ndarray:
    return read_image(root / case / "ground_truth" / f"{name}.nii.gz").array


@pytest.fixture(scope="module")
def sirt(committed: Path) -> dict:
    names = ("body", "lungs", "liver", "lesions", "liver_vessels", "spleen", "kidneys", "perfused_territory",
             "activity_bqml", "dose_ldm_gy")
    out = {n: _gt(committed, "sirt", n) for n in names}
    out["truth"] = load_truth(committed, "sirt")
    out["ct"] = read_image(committed / "sirt" / "ground_truth" / "liver.nii.gz")  # the CT grid
    return out


def test_activity_sums_to_the_administered_activity(sirt: dict) -> None:
    t = sirt["truth"]
    voxel_ml = sirt["ct"].voxel_volume_ml
    total_gbq = sirt["activity_bqml"].astype(np.float64).sum() * voxel_ml * 1e-9
    # float32 storage of the map: relative rounding below 1e-6
    assert total_gbq == pytest.approx(t["administered_gbq"], rel=1e-6)
    assert total_gbq == pytest.approx(t["total_activity_in_truth_gbq"], rel=1e-9)
    lung_gbq = sirt["activity_bqml"][sirt["lungs"] > 0].astype(np.float64).sum() * voxel_ml * 1e-9
    assert lung_gbq / total_gbq == pytest.approx(t["lung_shunt_fraction"], rel=1e-5)
    # nothing outside the liver and the lungs, nothing in the unperfused liver
    elsewhere = (sirt["liver"] == 0) & (sirt["lungs"] == 0)
    assert not sirt["activity_bqml"][elsewhere].any()
    assert not sirt["activity_bqml"][(sirt["liver"] > 0) & (sirt["perfused_territory"] == 0)].any()


def test_masks_do_not_overlap_where_they_should_not(sirt: dict) -> None:
    liver = sirt["liver"] > 0
    lesions = sirt["lesions"]
    assert set(np.unique(lesions)) == {0, 1, 2, 3, 4}
    assert liver[lesions > 0].all()
    assert liver[sirt["liver_vessels"] > 0].all()
    assert liver[sirt["perfused_territory"] > 0].all()
    for other in ("lungs", "spleen", "kidneys"):
        assert not (liver & (sirt[other] > 0)).any(), other
    assert not ((sirt["lungs"] > 0) & (sirt["spleen"] > 0)).any()
    body = sirt["body"] > 0
    for name in ("lungs", "liver", "spleen", "kidneys"):
        assert body[sirt[name] > 0].all(), name
    assert set(np.unique(sirt["kidneys"])) == {0, 1, 2}


def test_lesions_match_their_stated_size_and_centre(sirt: dict) -> None:
    vol = sirt["ct"]
    for entry in sirt["truth"]["lesions"]:
        mask = sirt["lesions"] == entry["label"]
        r = entry["diameter_mm"] / 2
        analytic_ml = 4 / 3 * np.pi * r**3 / 1000
        # voxel-centre sampling of a ball: the error is bounded by the shell of half a
        # voxel (1.5 mm) around the surface, relative 3*1.5/r, and in practice far smaller;
        # 0.6 of that bound still fails for a wrong radius of 1 mm
        assert mask.sum() * vol.voxel_volume_ml == pytest.approx(analytic_ml, rel=0.6 * 3 * 1.5 / r)
        centroid = vol.index_to_world(np.argwhere(mask).mean(axis=0))
        assert np.allclose(centroid, entry["centre_lps_mm"], atol=0.5)  # symmetric ball: sampling bias < 0.5 mm
    # one near the dome under the lung, one near the capsule
    descriptions = " ".join(e["description"] for e in sirt["truth"]["lesions"])
    assert "dome" in descriptions and "subcapsular" in descriptions
    diameters = [e["diameter_mm"] for e in sirt["truth"]["lesions"]]
    assert min(diameters) >= 10 and max(diameters) <= 60


def test_tumour_to_normal_ratios_and_necrotic_core(sirt: dict) -> None:
    t = sirt["truth"]
    act = sirt["activity_bqml"]
    normal = (sirt["perfused_territory"] > 0) & (sirt["lesions"] == 0)
    for entry in t["lesions"]:
        mask = sirt["lesions"] == entry["label"]
        tnr = act[mask].mean() / act[normal].mean()
        assert tnr == pytest.approx(entry["tumor_to_normal_ratio"], rel=1e-5)
        assert entry["tumour_to_normal_ratio"] == entry["tumor_to_normal_ratio"]  # the deprecated alias stays
    treated = [e["tumor_to_normal_ratio"] for e in t["lesions"] if e["tumor_to_normal_ratio"] > 0]
    assert min(treated) >= 2.9 and max(treated) <= 6.5
    core = next(e for e in t["lesions"] if e["necrotic_core_diameter_mm"] > 0)
    vol = sirt["ct"]
    idx = np.argwhere(sirt["lesions"] == core["label"])
    dist = np.linalg.norm(vol.index_to_world(idx) - core["centre_lps_mm"], axis=1)
    inner = idx[dist < core["necrotic_core_diameter_mm"] / 2 - 1.0]
    assert len(inner) > 100 and not act[tuple(inner.T)].any()


def test_ldm_dose_is_the_stated_convention(sirt: dict) -> None:
    t = sirt["truth"]
    act = sirt["activity_bqml"].astype(np.float64)
    lungs = sirt["lungs"] > 0
    density = np.where(lungs, LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML)
    expected = 49.67 * (act * 1e-9) / (density * 1e-3)  # D = 49.67 Gy kg/GBq x A[GBq]/M[kg] per mL
    assert t["ldm"]["ldm_gy_kg_per_gbq"] == Y90.ldm_gy_kg_per_gbq == 49.67
    assert np.allclose(sirt["dose_ldm_gy"], expected, rtol=1e-6, atol=0)  # float32 storage
    for name, mask in (("liver", sirt["liver"] > 0), ("lungs", lungs), ("lesion_1", sirt["lesions"] == 1)):
        roi = t["rois"][name]
        assert sirt["dose_ldm_gy"][mask].astype(np.float64).mean() == pytest.approx(roi["mean_ldm_gy"], rel=1e-6)
        # whole-ROI LDM: 49.67 x A / M agrees with the voxel mean when the density is uniform
        assert 49.67 * roi["activity_gbq"] / (roi["mass_g"] / 1000) == pytest.approx(roi["mean_ldm_gy"], rel=1e-5)


def test_spect_counts_follow_activity_and_sensitivity(sirt: dict, committed: Path) -> None:
    s = sirt["truth"]["spect"]
    counts = read_image(committed / "sirt" / "spect" / "NM000001.dcm").array.astype(np.float64)
    expected = s["counts_per_mbq_at_scan"] * sirt["truth"]["administered_gbq"] * 1e3 * s["decay_factor_injection_to_scan"]
    # the Gaussian blur keeps the total except for the spill beyond the field of view
    # (lungs reach its top): allow 1 %; Poisson noise on 2.4e6 counts is 0.06 %
    assert counts.sum() == pytest.approx(expected, rel=0.01)
    assert s["decay_factor_injection_to_scan"] == pytest.approx(0.5 ** (4.5 / Y90.half_life_h), rel=1e-12)


def test_maa_lung_shunt_territory_and_frame(committed: Path) -> None:
    t = load_truth(committed, "maa")
    act = _gt(committed, "maa", "activity_bqml").astype(np.float64)
    lungs = _gt(committed, "maa", "lungs") > 0
    territory = _gt(committed, "maa", "perfused_territory") > 0
    liver_img = read_image(committed / "maa" / "ground_truth" / "liver.nii.gz")
    voxel_ml = liver_img.voxel_volume_ml
    assert act.sum() * voxel_ml == pytest.approx(t["administered_mbq"] * 1e6, rel=1e-6)
    assert act[lungs].sum() / act.sum() == pytest.approx(t["lung_shunt_fraction"], rel=1e-5)
    assert t["lung_shunt_fraction"] == 0.08
    assert not act[~(territory | lungs)].any()
    # the MAA frame is the SIRT frame shifted by the stated translation: the livers coincide
    sirt_liver = read_image(committed / "sirt" / "ground_truth" / "liver.nii.gz")
    shift = np.eye(4)
    shift[:3, 3] = np.asarray(t["to_sirt_frame"]["translation_mm"])
    moved = liver_img.copy_with(affine=shift @ liver_img.affine)
    on_sirt = moved.resample_to(sirt_liver, interpolation="nearest").array > 0
    ref = sirt_liver.array > 0
    dice = 2 * (on_sirt & ref).sum() / (on_sirt.sum() + ref.sum())
    assert dice > 0.95  # same anatomy on a 4x3x3 mm vs 3x2x2 mm grid
