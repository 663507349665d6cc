"""Ground truth of the ablation pair: transform, masks and margins agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from tests.samples.conftest import load_truth
from workstation.core.volume import Volume
from workstation.io import read_image
from workstation.samples import _ablation
from workstation.samples import _imaging as im


@pytest.fixture(scope="module")
def abl(committed: Path) -> dict:
    gt = committed / "ablation" / "ground_truth"
    out = {n: read_image(gt / f"{n}.nii.gz") for n in
           ("tumor_pre", "liver_pre", "tumor_post", "ablation_zone", "liver_post")}
    out["truth"] = load_truth(committed, "ablation")
    out["transform"] = sitk.ReadTransform(str(gt / "transform.tfm"))
    return out


def test_transform_maps_the_post_ct_centre_to_the_pre_ct_centre(abl: dict) -> None:
    tumour = abl["truth"]["tumors"][0]
    mapped = abl["transform"].TransformPoint(tuple(tumour["centre_post_lps_mm"]))
    assert np.allclose(mapped, tumour["centre_pre_lps_mm"], atol=1e-6)
    # the masks sit where the centres say: voxel-centre balls, 1.5 x 1.5 x 2.5 mm voxels;
    # the carried tumour is slightly deformed (B-spline strain ~3 %), hence 1 mm after
    pre = abl["tumor_pre"]
    post = abl["tumor_post"]
    assert np.allclose(pre.index_to_world(np.argwhere(pre.array).mean(axis=0)), tumour["centre_pre_lps_mm"], atol=0.5)
    assert np.allclose(post.index_to_world(np.argwhere(post.array).mean(axis=0)), tumour["centre_post_lps_mm"], atol=1.0)
    # and a far point of the transform moves by the stated rigid parameters (+ B-spline < 6 mm)
    assert abl["truth"]["transform"]["bspline"]["max_displacement_mm"] < 6.0


def test_masks_nest(abl: dict) -> None:
    t_post = abl["tumor_post"].array > 0
    zone = abl["ablation_zone"].array > 0
    assert zone[t_post].all()
    assert (abl["liver_post"].array > 0)[zone].all()
    assert (abl["liver_pre"].array > 0)[abl["tumor_pre"].array > 0].all()
    assert abl["truth"]["pre_ct"]["frame_of_reference_uid"] != abl["truth"]["post_ct"]["frame_of_reference_uid"]


def test_margins_are_deliberately_uneven(abl: dict) -> None:
    tumour = abl["truth"]["tumors"][0]
    assert 1.0 <= tumour["minimal_margin_mm"] <= 3.0
    assert 8.0 <= tumour["maximal_margin_mm"] <= 12.0
    p = tumour["margin_percentiles_mm"]
    assert p["5"] < p["25"] < p["50"] < p["75"] < p["95"]
    assert tumour["minimal_margin_mm"] <= tumour["minimal_margin_sampled_mm"] <= tumour["minimal_margin_mm"] + 0.05
    assert abl["truth"]["minimal_margin_mm"] == tumour["minimal_margin_mm"]


def test_stated_minimal_margin_matches_a_fine_grid_distance_map(abl: dict) -> None:
    """Independent method: both shapes voxelised on a 0.3 mm post-CT grid through the
    SimpleITK transform itself, then a Euclidean distance transform.

    Tumour-boundary and ablation-boundary voxel centres are each within half a
    voxel diagonal (0.26 mm) of their surfaces, so the two methods agree within
    sqrt(3) x 0.3 = 0.52 mm.
    """
    tumour = abl["truth"]["tumors"][0]
    h = 0.3
    n = int(2 * 20.0 / h) + 1
    aff = im.axial_grid((n, n, n), (h, h, h), tuple(tumour["centre_post_lps_mm"]))
    ref = Volume(np.zeros((n, n, n), np.uint8), aff).to_sitk()
    field = sitk.TransformToDisplacementField(abl["transform"], sitk.sitkVectorFloat64, ref.GetSize(),
                                              ref.GetOrigin(), ref.GetSpacing(), ref.GetDirection())
    tissue = im.grid_points(aff, (n, n, n)) + sitk.GetArrayFromImage(field)
    x, y, z = tissue[..., 0], tissue[..., 1], tissue[..., 2]
    r = tumour["diameter_mm"] / 2
    inside_tumour = np.linalg.norm(tissue - np.asarray(tumour["centre_pre_lps_mm"]), axis=-1) < r
    inside_zone = _ablation.ablation_sd(x, y, z) < 0
    boundary = inside_tumour & ~ndimage.binary_erosion(inside_tumour)
    depth = ndimage.distance_transform_edt(inside_zone, sampling=h)
    assert depth[boundary].min() == pytest.approx(tumour["minimal_margin_mm"], abs=np.sqrt(3) * h)


def test_committed_masks_agree_with_the_stated_margin(abl: dict) -> None:
    """Coarse check on the 1.5 x 1.5 x 2.5 mm masks: within one voxel diagonal (3.3 mm)."""
    tumour = abl["truth"]["tumors"][0]
    t_post = abl["tumor_post"].array > 0
    zone = abl["ablation_zone"].array > 0
    spacing = abl["tumor_post"].spacing_mm
    boundary = t_post & ~ndimage.binary_erosion(t_post)
    depth = ndimage.distance_transform_edt(zone, sampling=spacing)
    diagonal = float(np.linalg.norm(spacing))
    assert depth[boundary].min() == pytest.approx(tumour["minimal_margin_mm"], abs=diagonal)


def test_post_ct_shows_a_hypodense_ablation_zone(abl: dict, committed: Path) -> None:
    post = read_image(committed / "ablation" / "post_ct")
    zone = ndimage.binary_erosion(abl["ablation_zone"].array > 0, iterations=2)
    liver = ndimage.binary_erosion(abl["liver_post"].array > 0, iterations=3) & ~(abl["ablation_zone"].array > 0)
    assert post.array[zone].mean() < post.array[liver].mean() - 40.0  # ~38 HU zone vs ~110 HU liver
