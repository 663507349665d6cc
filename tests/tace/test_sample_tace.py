"""The sample TACE study: coverage, classes, non-target volume and artefacts against its truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tace.conftest import SHARED
from workstation.io import read_image, read_mask
from workstation.registration import read_transform
from workstation.tace import TaceAnalysis, analyse_tace, segment_lipiodol

# Acceptance of issue 13: coverage within 3 percentage points of the truth after
# registration, non-target volume within 10 %, every class right, artefacts not counted.
COVERAGE_PP = 3.0
NON_TARGET_REL = 0.10
# Rim coverage: the 1 mm band is under one voxel (1.5-2.5 mm), so the fraction moves by
# the surface area of a voxel-wide band where the deposit's edge crosses the surface.
RIM_ABS = 0.08


def _inputs(d: Path) -> dict:
    gt = d / "ground_truth"
    return {
        "post": read_image(d / "post_ct"),
        "pre": read_image(d / "pre_ct"),
        "tumor_pre": read_mask(gt / "tumor_pre.nii.gz"),
        "tumor_post": read_mask(gt / "tumor_post.nii.gz"),
        "liver": read_mask(gt / "liver_post.nii.gz"),
        "not_lipiodol": read_mask(gt / "not_lipiodol.nii.gz"),
        "lipiodol": read_mask(gt / "lipiodol.nii.gz"),
    }


@pytest.fixture(scope="module")
def inputs(tace_sample: Path) -> dict:
    return _inputs(tace_sample)


@pytest.fixture(scope="module")
def known_transform(inputs: dict, tace_sample: Path) -> TaceAnalysis:
    """The analysis with the true transform (the registration is tested on its own, slow)."""
    tx = read_transform(tace_sample / "ground_truth" / "transform.tfm")
    return analyse_tace(inputs["post"], inputs["tumor_pre"], inputs["liver"], inputs["pre"], transform=tx)


def _check(analysis: TaceAnalysis, truth: dict) -> None:
    res = analysis.results
    assert [t["label"] for t in res["tumors"]] == [1, 2, 3]
    for got, want in zip(res["tumors"], truth["tumors"], strict=True):
        assert got["lipiodol_coverage_percent"] == pytest.approx(want["lipiodol_coverage_percent"], abs=COVERAGE_PP)
        assert got["class"] == want["class"]
        assert got["rim_coverage_fraction"] == pytest.approx(want["rim_coverage_fraction"], abs=RIM_ABS)
    nt = truth["non_target"]
    assert res["non_target_ml"] == pytest.approx(nt["non_target_ml_post"], rel=NON_TARGET_REL)
    assert res["non_target_ml"] == pytest.approx(nt["non_target_ml"], rel=NON_TARGET_REL)
    assert len(res["non_target_deposits"]) == 1
    assert set(res) >= {"workstation_version", "tumors", "non_target_ml", "registration"}
    json.dumps(res, allow_nan=False)


def test_coverage_classes_and_non_target_with_the_true_transform(known_transform: TaceAnalysis,
                                                                 tace_truth: dict) -> None:
    _check(known_transform, tace_truth)


def test_gaps_are_where_the_truth_has_them(known_transform: TaceAnalysis, tace_truth: dict) -> None:
    t1, t2, t3 = known_transform.results["tumors"]
    w1, w2, w3 = tace_truth["tumors"]
    assert t1["largest_gap_ml"] < 0.1
    # the uncovered cap (2.8 mL) and the rim-sparing shell (8.8 mL): voxel counts on the
    # post-CT grid, edge voxels of both surfaces decide the last 10 %
    assert t2["largest_gap_ml"] == pytest.approx(w2["largest_gap_ml_mask_post"], rel=0.10)
    assert t3["largest_gap_ml"] == pytest.approx(w3["largest_gap_ml_mask_post"], rel=0.10)
    assert t2["largest_gap_peripheral"] and t3["largest_gap_peripheral"]
    # the cap's centroid within 2 mm of the truth's (about one voxel)
    assert np.linalg.norm(np.subtract(t2["largest_gap_centroid_lps_mm"], w2["largest_gap_centroid_post_lps_mm"])) < 2.0


def test_clip_streaks_and_calcification_are_not_counted(known_transform: TaceAnalysis, inputs: dict) -> None:
    from scipy import ndimage

    lip = known_transform.lipiodol.array > 0
    other = inputs["not_lipiodol"].array
    near = ndimage.distance_transform_edt(other == 0, sampling=inputs["post"].spacing_mm) <= 3.0
    assert not (lip & near).any()
    stats = known_transform.results["lipiodol"]
    assert stats["metal_objects"] >= 1
    assert stats["excluded_in_liver_ml"]["streak artefact"] > 0.5
    assert stats["excluded_in_liver_ml"]["pre-existing hyperdensity"] > 0.05
    # without the pre-TACE CT the clip and its streaks are still rejected (the calcification is not)
    alone = segment_lipiodol(inputs["post"], inputs["liver"])
    clip_zone = ndimage.distance_transform_edt(other != 2, sampling=inputs["post"].spacing_mm) <= 40.0
    in_zone = (alone.mask.array > 0) & clip_zone
    calc = ndimage.distance_transform_edt(other != 1, sampling=inputs["post"].spacing_mm) <= 3.0
    true_deposits = ndimage.binary_dilation(inputs["lipiodol"].array > 0, iterations=2)
    assert not (in_zone & ~calc & ~true_deposits).any()


@pytest.mark.slow
def test_registered_pre_ct_meets_the_acceptance(inputs: dict, tace_truth: dict) -> None:
    """The real workflow: pre-TACE CT registered (deformable, tumours rigid), then measured."""
    analysis = analyse_tace(inputs["post"], inputs["tumor_pre"], inputs["liver"], inputs["pre"])
    assert analysis.results["registration"] is not None
    _check(analysis, tace_truth)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "real" / "hcc048_portal_venous_ct").is_dir(),
                    reason="../shared/real/hcc048_portal_venous_ct is not available")
def test_contrast_ct_vessels_are_not_lipiodol() -> None:
    """A real portal-venous CT: enhancing vessels (~180 HU) must not become lipiodol."""
    from workstation.segmentation import segment_liver

    ct = read_image(SHARED / "real" / "hcc048_portal_venous_ct")
    liver = segment_liver(ct)
    seg = segment_lipiodol(ct, liver)
    assert seg.stats["contrast_enhanced"] is True
    lip = seg.mask.array > 0
    in_liver = liver.array > 0
    vessels = in_liver & (ct.array > seg.stats["liver_background_hu"] + 40) & (ct.array < 260)
    assert vessels.sum() * ct.voxel_volume_ml > 20.0  # the liver holds enhanced vessels ...
    assert (lip & vessels).sum() * ct.voxel_volume_ml < 0.2  # ... and they are not lipiodol
    assert seg.stats["lipiodol_volume_ml"] < 2.0
