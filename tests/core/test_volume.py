"""Volume geometry: affine conventions, SimpleITK round trip, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from workstation.core import (
    GeometryMismatchError,
    NoOverlapError,
    Unit,
    Volume,
    affine_from_geometry,
)


def test_affine_maps_index_to_lps(ct_volume: Volume) -> None:
    # voxel (k=1, j=2, i=3): x = -50 + 3*0.7, y = -80 + 2*0.8, z = 120 + 1*2.5
    p = ct_volume.index_to_world([1, 2, 3])
    np.testing.assert_allclose(p, [-50 + 2.1, -80 + 1.6, 122.5])
    np.testing.assert_allclose(ct_volume.world_to_index(p), [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(ct_volume.spacing_mm, [2.5, 0.8, 0.7])
    assert ct_volume.voxel_volume_ml == pytest.approx(2.5 * 0.8 * 0.7 / 1000)


def test_sitk_round_trip_oblique(oblique_direction: np.ndarray) -> None:
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    affine = affine_from_geometry([10.0, -20.0, 30.0], [3.0, 1.5, 0.9], oblique_direction)
    vol = Volume(arr, affine)
    img = vol.to_sitk()
    assert img.GetSize() == (6, 5, 4)
    np.testing.assert_allclose(img.GetSpacing(), (0.9, 1.5, 3.0))
    # SimpleITK's own index->point must agree with the affine for a corner voxel
    np.testing.assert_allclose(
        img.TransformIndexToPhysicalPoint((5, 4, 3)), vol.index_to_world([3, 4, 5]), atol=1e-9
    )
    back = Volume.from_sitk(img)
    np.testing.assert_allclose(back.affine, affine, atol=1e-12)
    np.testing.assert_array_equal(back.array, arr)


def test_resample_nearest_recovers_shifted_mask() -> None:
    # A mask on a 1 mm grid resampled to a 2 mm grid whose voxel centres fall on
    # source voxel centres must reproduce the source values there exactly.
    src = np.zeros((20, 20, 20), np.uint8)
    src[5:15, 4:12, 6:16] = 1
    a = Volume(src, affine_from_geometry([0, 0, 0], [1, 1, 1]), units=Unit.LABEL)
    ref = Volume(np.zeros((10, 10, 10)), affine_from_geometry([0, 0, 0], [2, 2, 2]))
    out = a.resample_to(ref, interpolation="nearest")
    np.testing.assert_array_equal(out.array, src[::2, ::2, ::2])
    assert out.array.dtype == np.uint8


def test_resample_linear_is_exact_for_linear_field() -> None:
    z, y, x = np.meshgrid(np.arange(10), np.arange(12), np.arange(14), indexing="ij")
    src_aff = affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0])
    field = 3.0 * x * 1.0 + 2.0 * y * 1.0 - 0.5 * z * 2.0  # linear in LPS mm
    a = Volume(field.astype(np.float64), src_aff)
    ref_aff = affine_from_geometry([2.3, 3.1, 4.0], [1.5, 0.7, 0.9])
    ref = Volume(np.zeros((5, 6, 7)), ref_aff)
    out = a.resample_to(ref)
    pts = ref.index_to_world(np.stack(np.meshgrid(*[np.arange(n) for n in ref.shape], indexing="ij"), -1))
    expected = 3.0 * pts[..., 0] + 2.0 * pts[..., 1] - 0.5 * (pts[..., 2])
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-4)


def test_no_overlap_is_an_error() -> None:
    a = Volume(np.zeros((4, 4, 4)), affine_from_geometry([0, 0, 0], [1, 1, 1]))
    b = Volume(np.zeros((4, 4, 4)), affine_from_geometry([500, 0, 0], [1, 1, 1]))
    assert not a.overlaps(b)
    with pytest.raises(NoOverlapError):
        a.resample_to(b)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(GeometryMismatchError):
        Volume(np.zeros((4, 4)), np.eye(4))
    with pytest.raises(GeometryMismatchError):
        Volume(np.zeros((4, 4, 4)), np.zeros((4, 4)))


def test_label_names() -> None:
    arr = np.zeros((3, 3, 3), np.uint8)
    arr[1, 1, 1] = 2
    vol = Volume(arr, np.eye(4), units=Unit.LABEL, label_names={1: "liver", 2: "lesion"})
    assert vol.mask("lesion").sum() == 1
    assert vol.mask("liver").sum() == 0
    assert sitk.GetArrayFromImage(vol.to_sitk()).sum() == 2


def test_atomic_path_gives_normal_permissions_and_cleans_up(tmp_path) -> None:
    import os

    from workstation.io import atomic_path

    target = tmp_path / "out.nii.gz"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "fail.nii.gz") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]


def test_nifti_nan_voxels_survive_a_round_trip(tmp_path) -> None:
    # ITK's NIfTI reader turns NaN into 0; NaN means "undefined" in our outputs.
    from workstation.io import read_image, write_image

    arr = np.full((4, 5, 6), np.nan, np.float32)
    arr[1, 2, 3] = 2.5
    arr[3, 0, 5] = 0.0
    vol = Volume(arr, affine_from_geometry([1, 2, 3], [2.0, 1.0, 0.5]))
    for name in ("m.nii.gz", "m.nii"):
        back = read_image(write_image(vol, tmp_path / name))
        np.testing.assert_array_equal(np.isnan(back.array), np.isnan(arr))
        assert back.array[1, 2, 3] == 2.5 and back.array[3, 0, 5] == 0.0


def test_is_ct_by_modality_units_or_values() -> None:
    rng = np.random.default_rng(21)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    body = rng.normal(40.0, 20.0, (8, 32, 32))
    body[:, :4] = rng.normal(-1000.0, 10.0, (8, 4, 32))  # air above the patient
    assert Volume(body, affine, modality="CT").is_ct()
    assert Volume(body, affine, units=Unit.HU).is_ct()
    unknown = Volume(body, affine)  # a NIfTI of unknown kind
    assert not unknown.is_ct()
    assert unknown.is_ct(guess_from_values=True)  # air near -1000 HU, nothing below -1300
    activity = Volume(np.abs(body), affine)
    assert not activity.is_ct(guess_from_values=True)
    # a PET in Bq/mL is never guessed to be a CT, whatever its values
    assert not Volume(body, affine, modality="PT", units=Unit.BQML).is_ct(guess_from_values=True)
    padded = body.copy()
    padded[0, 0, :] = -3024.0  # scanner padding far below air: not plain HU
    assert not Volume(padded, affine).is_ct(guess_from_values=True)
