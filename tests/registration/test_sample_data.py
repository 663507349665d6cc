"""Acceptance tests on the bundled sample studies (``sample_data/``).

* SIRT CT and SPECT (hybrid, aligned): the SPECT's geometry is moved by a known
  10 mm / 5 degree rigid transform (an exact change of its affine, no
  resampling) and registered back to the CT.
* SIRT CT to itself moved by a known rigid transform (affine change) with
  independent 12 HU noise added to the copy.
* Ablation pair: pre-CT (moving) to post-CT (fixed) with the generator's
  ground-truth transform (rigid + breathing-like B-spline), tumour kept rigid and
  ablation zone excluded.

TRE is measured over the ground-truth liver voxels of the fixed image.
"""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume
from workstation.core.morphology import dilate
from workstation.io import read_image
from workstation.registration import (
    jacobian_determinant,
    read_transform,
    register,
    transform_points,
)
from workstation.registration._phantom import rigid_matrix
from workstation.samples import sample_data_dir

pytestmark = pytest.mark.slow


def _mask(path, reference: Volume) -> Volume:
    vol = read_image(path)
    if not vol.same_grid(reference):
        vol = vol.resample_to(reference, interpolation="nearest")
    return vol.copy_with(array=(vol.array != 0).astype(np.uint8), units=Unit.LABEL)


def _points(mask: Volume) -> np.ndarray:
    return mask.index_to_world(np.argwhere(mask.array > 0).astype(float))


def _moved(volume: Volume, matrix: np.ndarray, offset: np.ndarray) -> Volume:
    """The same voxels placed so that old point p is now at A p + b; then T(x) = A x + b maps
    the original (fixed) space to the new (moving) one exactly."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = matrix, offset
    return volume.copy_with(affine=m @ volume.affine)


def _rigid_about(angles_deg, translation_mm, centre) -> tuple[np.ndarray, np.ndarray]:
    r = rigid_matrix(angles_deg)
    c = np.asarray(centre, dtype=float)
    return r, c - r @ c + np.asarray(translation_mm, dtype=float)


@pytest.fixture(scope="module")
def sirt():
    base = sample_data_dir() / "sirt"
    ct = read_image(base / "ct")
    spect = read_image(base / "spect")
    liver = _mask(base / "ground_truth" / "liver.nii.gz", ct)
    return ct, spect, liver


def test_sample_spect_to_ct_recovers_10mm_5deg(sirt):
    ct, spect, liver = sirt
    pts = _points(liver)
    a, b = _rigid_about((0.0, 0.0, 5.0), (6.0, -6.0, 5.29), pts.mean(axis=0))  # |t| = 10 mm
    moving = _moved(spect, a, b)
    moving.frame_of_reference_uid = "1.2.826.0.1.3680043.8.498.999"  # no longer the CT's frame
    result = register(ct, moving, mode="rigid", inverse_consistency=False, number_of_threads=2)
    tre = np.linalg.norm(transform_points(pts, result.transform) - (pts @ a.T + b), axis=1)
    assert tre.mean() <= 2.0, tre.mean()  # acceptance: within 2 mm


def test_sample_hybrid_spect_ct_stays_aligned(sirt):
    ct, spect, liver = sirt
    result = register(ct, spect, mode="rigid", inverse_consistency=False, number_of_threads=2)
    assert result.report["initialisation"].startswith("identity")
    pts = _points(liver)
    err = np.linalg.norm(transform_points(pts, result.transform) - pts, axis=1)
    assert err.mean() <= 2.0  # the scanner alignment is right: the refinement stays near identity


def test_sample_ct_rigid_tre_below_1mm(sirt):
    ct, _, liver = sirt
    pts = _points(liver)
    a, b = _rigid_about((2.0, -3.0, 4.0), (8.0, -5.0, 6.0), pts.mean(axis=0))
    noisy = ct.array + np.random.default_rng(5).normal(0.0, 12.0, ct.shape).astype(np.float32)
    moving = _moved(ct.copy_with(array=noisy), a, b)
    moving.frame_of_reference_uid = "1.2.826.0.1.3680043.8.498.998"
    region = liver.copy_with(array=dilate(liver.array > 0, 15.0, liver.spacing_mm).astype(np.uint8))
    result = register(ct, moving, mode="rigid", fixed_mask=region, inverse_consistency=False,
                      number_of_threads=2)
    tre = np.linalg.norm(transform_points(pts, result.transform) - (pts @ a.T + b), axis=1)
    assert tre.mean() <= 1.0, tre.mean()  # acceptance: mean TRE <= 1 mm rigid


def test_sample_ablation_pair_deformable():
    base = sample_data_dir() / "ablation"
    gt = base / "ground_truth"
    post, pre = read_image(base / "post_ct"), read_image(base / "pre_ct")
    truth = read_transform(gt / "transform.tfm")
    liver = _mask(gt / "liver_post.nii.gz", post)
    region = liver.copy_with(array=dilate(liver.array > 0, 15.0, liver.spacing_mm).astype(np.uint8))
    tumour_pre = _mask(gt / "tumor_pre.nii.gz", pre)
    result = register(post, pre, mode="deformable", fixed_mask=region,
                      exclude=[_mask(gt / "ablation_zone.nii.gz", post)], rigid_masks=[tumour_pre],
                      inverse_consistency=False, number_of_threads=2)
    pts = _points(liver)
    tre = np.linalg.norm(transform_points(pts, result.transform) - transform_points(pts, truth), axis=1)
    assert tre.mean() <= 2.0, tre.mean()  # acceptance: mean TRE <= 2 mm deformable
    change = result.report["rigid_regions"][0]["volume_change_percent"]
    assert abs(change) < 5.0, change  # acceptance: tumour volume change < 5 %
    tumour_post = _mask(gt / "tumor_post.nii.gz", post).array > 0
    jac = jacobian_determinant(result.transform, post).array[tumour_post]
    assert abs(jac.mean() - 1.0) < 0.05
