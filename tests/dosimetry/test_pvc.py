"""Partial-volume correction (GTM, RBV): analytic spheres and the sample SIRT patient.

Analytic phantom (independent forward model): uniform spheres of 10, 20, 30 and
40 mm in a warm box on a 1.5 x 1 x 1 mm grid, blurred there by a Gaussian of
12 mm FWHM and averaged into anisotropic 4.5 x 3 x 3 mm (z, y, x) emission voxels
(blocks of 3 x 3 x 3 fine voxels). The regions' partial-voxel fractions are the
exact block means of the fine masks. The GTM
model (fractions on the emission grid convolved with a sampled Gaussian) then
differs from the forward model only by the discretisation of the Gaussian on the
coarse grid (a Riemann sum with the voxel as step: below 1 % while the voxel is
not larger than the PSF's sigma, 5.1 mm here; with 6 mm voxels the 10 mm sphere
comes out 1.2 % high).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from workstation.core import Unit, Volume, affine_from_geometry
from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.dosimetry.pvc import FWHM_PER_SIGMA, gtm_region_means, rbv_correct

FWHM_MM = 12.0
FINE_MM = (1.5, 1.0, 1.0)  # z, y, x
BLOCK = (3, 3, 3)  # emission voxel in fine voxels: 4.5 x 3 x 3 mm
SHAPE_FINE = (63, 201, 240)  # z, y, x voxels: 94.5 x 201 x 240 mm
BACKGROUND = 1.0
SPHERES = {  # name: (diameter mm, centre (z, y, x) mm, concentration)
    "s10": (10.0, (48.0, 100.0, 45.0), 8.0),
    "s20": (20.0, (48.0, 100.0, 82.0), 6.0),
    "s30": (30.0, (48.0, 100.0, 128.0), 4.0),
    "s40": (40.0, (48.0, 100.0, 183.0), 5.0),
}


def _block_mean(a: np.ndarray) -> np.ndarray:
    nz, ny, nx = (s // b for s, b in zip(a.shape, BLOCK, strict=True))
    return a.reshape(nz, BLOCK[0], ny, BLOCK[1], nx, BLOCK[2]).mean(axis=(1, 3, 5))


@pytest.fixture(scope="module")
def spheres_phantom() -> dict[str, Any]:
    zz, yy, xx = np.meshgrid(*((np.arange(n) + 0.5) * h for n, h in zip(SHAPE_FINE, FINE_MM, strict=True)),
                             indexing="ij", sparse=True)
    body = (zz > 20) & (zz < 76) & (yy > 40) & (yy < 160) & (xx > 16) & (xx < 224)
    truth = np.where(body, BACKGROUND, 0.0).astype(np.float32)
    fine_masks: dict[str, np.ndarray] = {}
    for name, (d, (cz, cy, cx), conc) in SPHERES.items():
        m = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= (d / 2) ** 2
        truth[m] = conc
        fine_masks[name] = m
    sigma = [FWHM_MM / FWHM_PER_SIGMA / h for h in FINE_MM]
    blurred = ndimage.gaussian_filter(truth, sigma, mode="constant", truncate=5.0)
    spacing = tuple(b * h for b, h in zip(BLOCK, FINE_MM, strict=True))
    # emission voxel (0,0,0) is the fine block [0, BLOCK) mm: its centre at BLOCK/2 mm
    image = Volume(_block_mean(blurred).astype(np.float32), affine_from_geometry(
        tuple(s / 2 for s in spacing), spacing), units=Unit.BQML)
    fine_affine = affine_from_geometry(tuple(0.5 * h for h in FINE_MM), FINE_MM)
    fine = Volume(np.zeros(SHAPE_FINE, np.uint8), fine_affine)
    fractions = {n: _block_mean(m.astype(np.float32)) for n, m in fine_masks.items()}
    fine_vols = {n: fine.copy_with(array=m.astype(np.uint8), units=Unit.LABEL) for n, m in fine_masks.items()}
    body_vol = fine.copy_with(array=body.astype(np.uint8), units=Unit.LABEL)
    return {"image": image, "truth_voxels": _block_mean(truth), "fractions": fractions, "body_fraction": _block_mean(body.astype(np.float32)),
            "fine_masks": fine_vols, "body": body_vol, "fine": fine}


def test_gtm_recovers_sphere_and_background_concentrations(spheres_phantom: dict[str, Any]) -> None:
    p = spheres_phantom
    res = gtm_region_means(p["image"], p["fractions"], FWHM_MM, body=p["body_fraction"])
    got = res.means()
    assert res.names == [*SPHERES, "rest"]
    # before correction the 10 mm sphere shows less than 40 % of its concentration
    assert res.observed_mean[0] < 0.4 * SPHERES["s10"][2]
    # 1 %: the only model difference is the Gaussian sampled on 4-6 mm voxels (noise-free data)
    for name, (_, _, conc) in SPHERES.items():
        assert got[name] == pytest.approx(conc, rel=0.01), name
    assert got["rest"] == pytest.approx(BACKGROUND, rel=0.01)
    assert res.residual < 1e-3


def test_gtm_with_masks_on_a_finer_grid(spheres_phantom: dict[str, Any]) -> None:
    """The same with the fine masks as Volumes (partial-voxel fractions by supersampling, 3 per axis)."""
    p = spheres_phantom
    res = gtm_region_means(p["image"], p["fine_masks"], FWHM_MM, body=p["body"], supersample=3)
    for name, (_, _, conc) in SPHERES.items():
        # 3 sub-voxels per axis hit the fine voxel centres: the fractions are exact, as above
        assert res.means()[name] == pytest.approx(conc, rel=0.01), name


def test_rbv_voxel_means(spheres_phantom: dict[str, Any]) -> None:
    p = spheres_phantom
    image: Volume = p["image"]
    out = rbv_correct(image, p["fractions"], FWHM_MM, body=p["body_fraction"])
    assert out.same_grid(image) and out.units == Unit.BQML
    info = out.metadata.extra["pvc"]
    assert info["method"] == "rbv" and info["psf_fwhm_mm"] == FWHM_MM
    # counts conserved by construction; the factor itself is close to 1 for a complete region set
    assert float(out.array.sum()) == pytest.approx(float(image.array.sum()), rel=1e-5)
    assert info["count_conservation_factor"] == pytest.approx(1.0, abs=0.01)
    truth = p["truth_voxels"]  # the voxel averages of the true activity: what RBV restores
    for name in SPHERES:
        inside = p["fractions"][name] >= 0.5  # voxels mostly inside the sphere
        want = float(truth[inside].mean())
        before = float(image.array[inside].mean())
        after = float(out.array[inside].mean())
        assert after == pytest.approx(want, rel=0.02), name  # 2 %: GTM means within 1 % + voxel-level model error
        assert abs(after - want) < 0.2 * abs(before - want)
    bg = p["body_fraction"] > 0.999
    for frac in p["fractions"].values():
        bg &= frac == 0
    assert float(out.array[bg].mean()) == pytest.approx(BACKGROUND, rel=0.02)


def test_rbv_on_the_fine_grid_gives_roi_means(spheres_phantom: dict[str, Any]) -> None:
    """Corrected on the fine grid of the masks: the ROI means themselves (no mixed voxels) within 2 %."""
    p = spheres_phantom
    out = rbv_correct(p["image"], p["fine_masks"], FWHM_MM, body=p["body"], supersample=3, grid=p["fine"])
    assert out.same_grid(p["fine"])
    assert float(out.array.sum()) * out.voxel_volume_ml == pytest.approx(
        float(p["image"].array.sum()) * p["image"].voxel_volume_ml, rel=1e-5)
    for name, (_, _, conc) in SPHERES.items():
        m = p["fine_masks"][name].array > 0
        # 2 %: linear interpolation of 4-6 mm samples inside a 10 mm sphere is the largest error
        assert float(out.array[m].mean()) == pytest.approx(conc, rel=0.02), name


def test_wrong_fwhm_bias_direction(spheres_phantom: dict[str, Any]) -> None:
    """A FWHM 20 % too small under-corrects, 20 % too large over-corrects; the smaller the sphere, the more."""
    p = spheres_phantom
    low = gtm_region_means(p["image"], p["fractions"], 0.8 * FWHM_MM, body=p["body_fraction"]).means()
    high = gtm_region_means(p["image"], p["fractions"], 1.2 * FWHM_MM, body=p["body_fraction"]).means()
    bias_low = [low[n] / SPHERES[n][2] - 1 for n in SPHERES]
    bias_high = [high[n] / SPHERES[n][2] - 1 for n in SPHERES]
    assert all(b < -0.01 for b in bias_low) and all(b > 0.01 for b in bias_high)
    # |bias| decreases with the diameter (10 -> 40 mm)
    assert np.all(np.diff(np.abs(bias_low)) < 0) and np.all(np.diff(np.abs(bias_high)) < 0)
    # the 10 mm sphere at 12 mm FWHM: tens of percent either way
    assert bias_low[0] < -0.2 and bias_high[0] > 0.2


def test_bad_options(spheres_phantom: dict[str, Any]) -> None:
    p = spheres_phantom
    with pytest.raises(InvalidInputError, match="FWHM"):
        gtm_region_means(p["image"], p["fractions"], -3.0)
    with pytest.raises(InvalidInputError, match="at least one region"):
        gtm_region_means(p["image"], {}, FWHM_MM)
    with pytest.raises(WorkstationError, match="not on the image grid"):
        gtm_region_means(p["image"], {"a": np.ones((3, 3, 3))}, FWHM_MM)


# ----------------------------------------------------------------- pipeline and command line
def test_run_sirt_options(liver_phantom: dict[str, Volume]) -> None:
    from workstation.dosimetry.pipeline import run_sirt

    p = liver_phantom
    rois = {"liver": p["liver"], "lesions": p["lesions"], "lungs": p["lungs"]}
    with pytest.raises(InvalidInputError, match="--psf-fwhm-mm"):
        run_sirt(p["spect"], rois=rois, administered_gbq=2.0, method="ldm", pvc="rbv")
    with pytest.raises(InvalidInputError, match="--pvc"):
        run_sirt(p["spect"], rois=rois, administered_gbq=2.0, method="ldm", pvc="deconvolve", psf_fwhm_mm=10.0)
    base = run_sirt(p["spect"], rois=rois, administered_gbq=2.0, method="ldm")
    assert base.results["activity"]["partial_volume_correction"] is None
    res = run_sirt(p["spect"], rois=rois, administered_gbq=2.0, lung_shunt_fraction=0.05, method="ldm",
                   pvc="rbv", psf_fwhm_mm=8.0, psf_fwhm_source="NEMA phantom QA")
    block = res.results["activity"]["partial_volume_correction"]
    assert block["method"] == "rbv" and block["psf_fwhm_mm"] == 8.0 and block["source"] == "NEMA phantom QA"
    assert block["regions_in_order"][:3] == ["lesions_1", "lesions_2", "normal_liver"]
    assert any("amplifies image noise" in w for w in res.warnings)
    assert block["grid"] == "activity grid" and any("give the CT" in w for w in res.warnings)  # no CT given
    # applied before the counts calibration: the liver and lesions still hold A x (1 - LSF)
    act = res.activity.array.astype(np.float64)
    region = (p["liver"].array > 0) | (p["lesions"].array > 0)
    assert act[region].sum() * res.activity.voxel_volume_ml * 1e-9 == pytest.approx(2.0 * 0.95, rel=1e-4)
    # the lesions gain counts back from the liver around them
    b, r = base.results["methods"]["ldm"]["rois"], res.results["methods"]["ldm"]["rois"]
    assert r["lesions_1"]["mean_gy"] > 1.05 * b["lesions_1"]["mean_gy"]


def test_rbv_on_a_coarsened_ct_grid(liver_phantom: dict[str, Volume], monkeypatch: pytest.MonkeyPatch) -> None:
    """A CT grid above the voxel budget is coarsened by an integer factor (80^3 -> 40^3 here)."""
    from workstation.dosimetry import pipeline

    p = liver_phantom
    rois = {"liver": p["liver"], "lesions": p["lesions"], "lungs": p["lungs"]}
    monkeypatch.setattr(pipeline, "MAX_PVC_GRID_VOXELS", 100_000)
    res = pipeline.run_sirt(p["spect"], ct=p["ct"], rois=rois, administered_gbq=2.0, method="ldm", pvc="rbv",
                            psf_fwhm_mm=8.0)
    block = res.results["activity"]["partial_volume_correction"]
    assert block["grid_shape_zyx"] == [40, 40, 40] and "coarsened to 4x4x4 mm" in block["grid"]
    assert res.doses["ldm"].shape == (40, 40, 40)
    np.testing.assert_allclose(res.doses["ldm"].spacing_mm, 4.0)
    # voxel (0,0,0) covers CT voxels 0-1 per axis: its centre halfway between their centres
    np.testing.assert_allclose(res.doses["ldm"].origin_mm, p["ct"].origin_mm + 1.0)


def test_sirt_cli_pvc(tmp_path: Path, liver_phantom: dict[str, Volume]) -> None:
    from workstation.cli import main
    from workstation.io import write_image

    paths = {}
    for name, vol in liver_phantom.items():
        paths[name] = str(tmp_path / f"{name}.nii.gz")
        write_image(vol, paths[name])
    args = ["--quiet", "sirt", "--activity", paths["spect"], "--activity-units", "counts",
            "--roi", f"liver={paths['liver']}", "--roi", f"lesions={paths['lesions']}",
            "--administered-gbq", "2.0", "--method", "ldm"]
    assert main([*args, "--pvc", "rbv", "-o", str(tmp_path / "a")]) == 2  # FWHM missing
    assert main([*args, "--psf-fwhm-mm", "8", "-o", str(tmp_path / "b")]) == 2  # FWHM without --pvc
    assert main([*args, "--pvc", "psf", "--psf-fwhm-mm", "8", "-o", str(tmp_path / "c")]) == 2
    assert not any((tmp_path / d).exists() for d in "abc")
    out = tmp_path / "gtm"
    assert main([*args, "--pvc", "gtm", "--psf-fwhm-mm", "8", "-o", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    block = r["activity"]["partial_volume_correction"]
    assert block["method"] == "gtm" and block["psf_fwhm_mm"] == 8.0 and "--psf-fwhm-mm" in block["source"]
    assert set(block["gtm_ldm"]["rois"]) >= {"liver", "lesions_1", "lesions_2", "normal_liver"}
    assert any("amplifies image noise" in w for w in r["warnings"])


# ----------------------------------------------------------------- the sample SIRT patient
@pytest.fixture(scope="module")
def sirt_inputs(sirt_case: Path) -> dict[str, Any]:
    from workstation.io import read_image, read_mask

    truth = json.loads((sirt_case / "ground_truth" / "truth.json").read_text())
    ct = read_image(sirt_case / "ct")
    gt = sirt_case / "ground_truth"
    rois = {name: read_mask(gt / f"{name}.nii.gz", reference=ct) for name in ("liver", "lesions", "lungs")}
    return {"truth": truth, "ct": ct, "rois": rois}


def _truth_gy(truth: dict[str, Any], roi: str) -> float:
    return float(truth["rois"][roi.replace("lesions_", "lesion_")]["mean_ldm_gy"])


#: SPECT 14 mm FWHM as stated for the scanner; the NEMA phantom QA of the same (simulated) scanner,
#: ``workstation.qa.analyse_nema_phantom`` on ``sample_data/nema/spect``, fits 14.5 mm, which gives
#: lesion errors of -1.1, +2.6 and +3.3 % with RBV (also within 5 %): the clinical workflow is to
#: take the FWHM from the phantom QA of the same reconstruction.
SAMPLE_FWHM_MM = {"spect": 14.0, "pet": 6.0}


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["spect", "pet"])
def test_sample_patient_rbv_lesion_doses(modality: str, sirt_case: Path, sirt_inputs: dict[str, Any]) -> None:
    """Issue 4 acceptance: per-lesion and liver LDM means within 5 % of the truth after RBV.

    Without PVC the SPECT lesions are 17, 31 and 39 % low (PET: 14, 21, 25 %). Measured with RBV
    on the CT grid: SPECT -1.6, +1.1, +0.7 %, liver 0.0 %; PET -1.4, -0.6, -2.6 %, liver -1.5 %.
    """
    from workstation.dosimetry.pipeline import run_sirt
    from workstation.io import read_image

    truth = sirt_inputs["truth"]
    image = read_image(sirt_case / modality)
    res = run_sirt(image, ct=sirt_inputs["ct"], rois=sirt_inputs["rois"], administered_gbq=truth["administered_gbq"],
                   lung_shunt_fraction=truth["lung_shunt_fraction"], method="ldm", pvc="rbv",
                   psf_fwhm_mm=SAMPLE_FWHM_MM[modality], psf_fwhm_source="scanner specification")
    r = res.results
    assert r["activity"]["partial_volume_correction"]["psf_fwhm_mm"] == SAMPLE_FWHM_MM[modality]
    ldm = r["methods"]["ldm"]["rois"]
    for roi in ("liver", "lesions_1", "lesions_2", "lesions_3"):
        assert ldm[roi]["mean_gy"] == pytest.approx(_truth_gy(truth, roi), rel=0.05), roi
    assert ldm["lesions_4"]["mean_gy"] < 1.0  # untreated lesion: no spill-in from the liver after PVC
    # GTM region means of the same run: lesions 2 and 3 and the liver within 5 %; lesion 1 (52 mm,
    # 22 mm necrotic core, rim-weighted uptake) breaks GTM's uniform-region assumption: SPECT -5.8 %,
    # PET -3.3 %; it is checked to 7 % and reported, not tuned
    gtm = r["activity"]["partial_volume_correction"]["gtm_ldm"]["rois"]
    for roi in ("liver", "lesions_2", "lesions_3"):
        assert gtm[roi]["ldm_mean_gy"] == pytest.approx(_truth_gy(truth, roi), rel=0.05), roi
    assert gtm["lesions_1"]["ldm_mean_gy"] == pytest.approx(_truth_gy(truth, "lesions_1"), rel=0.07)
