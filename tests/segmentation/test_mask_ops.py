"""Mask operations in millimetres on anisotropic grids, and TotalSegmentator import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workstation.core import EmptyMaskError, InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.io import write_image
from workstation.segmentation import (
    difference,
    dilate_mm,
    erode_mm,
    fill_holes,
    import_totalsegmentator,
    intersection,
    largest_component,
    remove_small_components,
    union,
)

SPACING = (3.0, 0.8, 1.1)  # z, y, x in mm: strongly anisotropic


def _ball_mask(radius_mm: float, centre=(0.0, 0.0, 0.0), shape=(40, 120, 100)) -> tuple[Volume, np.ndarray]:
    affine = affine_from_geometry([-55.0, -48.0, -60.0], SPACING)
    vol = Volume(np.zeros(shape, np.uint8), affine, units=Unit.LABEL)
    k, j, i = np.indices(shape)
    world = vol.index_to_world(np.stack([k, j, i], axis=-1))
    r = np.linalg.norm(world - np.asarray(centre), axis=-1)
    return vol.copy_with(array=(r <= radius_mm).astype(np.uint8), label_names={1: "ball"}), r


def test_dilate_and_erode_are_isotropic_in_mm() -> None:
    vol, r = _ball_mask(20.0)
    grown = dilate_mm(vol, 10.0)
    # a dilated voxelised ball: exactly the voxels within 30 mm, up to one voxel
    # diagonal of discretisation at the rim (the EDT measures to voxel centres)
    diag = float(np.linalg.norm(SPACING))
    assert np.all(grown.array[r <= 30.0 - diag] == 1)
    assert np.all(grown.array[r > 30.0 + diag] == 0)
    shrunk = erode_mm(vol, 10.0)
    assert np.all(shrunk.array[r <= 10.0 - diag] == 1)
    assert np.all(shrunk.array[r > 10.0 + diag] == 0)
    assert grown.label_names == {1: "ball"} and grown.units == Unit.LABEL
    # volumes against the analytic 4/3 pi r^3: within 3 % for the 30 mm ball; the
    # 10 mm one is under 7 slices of 3 mm tall, so one rim of voxels is ~8 % of it
    for mask, radius, tol in ((grown, 30.0, 0.03), (shrunk, 10.0, 0.08)):
        ml = mask.array.sum() * mask.voxel_volume_ml
        assert ml == pytest.approx(4.0 / 3.0 * np.pi * radius**3 / 1000.0, rel=tol)


def test_dilate_mm_rejects_negative_radius() -> None:
    vol, _ = _ball_mask(5.0)
    with pytest.raises(InvalidInputError, match="radius"):
        dilate_mm(vol, -1.0)


def test_union_intersection_difference_resample_other_grids() -> None:
    a, _ = _ball_mask(15.0, centre=(-5.0, 0.0, 0.0))
    b, _ = _ball_mask(15.0, centre=(5.0, 0.0, 0.0))
    # b on a coarser grid: resampled by nearest neighbour onto a's grid
    coarse = b.resample_to(
        Volume(np.zeros((20, 60, 50)), affine_from_geometry([-55.0, -48.0, -60.0], (6.0, 1.6, 2.2))),
        interpolation="nearest",
    )
    u = union(a, b)
    i = intersection(a, b)
    d = difference(a, b)
    np.testing.assert_array_equal(u.array, (a.array | b.array))
    np.testing.assert_array_equal(i.array, (a.array & b.array))
    np.testing.assert_array_equal(d.array, (a.array & ~b.array.astype(bool)).astype(np.uint8))
    assert union(a, coarse).array.sum() >= u.array.sum() * 0.9


def test_fill_holes_largest_and_small_components() -> None:
    vol, r = _ball_mask(20.0)
    hollow = vol.copy_with(array=((r <= 20.0) & (r > 8.0)).astype(np.uint8))
    np.testing.assert_array_equal(fill_holes(hollow).array, vol.array)
    two, r2 = _ball_mask(6.0, centre=(30.0, 0.0, 0.0))
    both = union(vol, two)
    np.testing.assert_array_equal(largest_component(both).array, vol.array)
    small_ml = two.array.sum() * two.voxel_volume_ml
    kept = remove_small_components(both, min_volume_ml=small_ml + 0.01)
    np.testing.assert_array_equal(kept.array, vol.array)
    assert remove_small_components(both, min_volume_ml=small_ml).array.sum() == both.array.sum()
    with pytest.raises(EmptyMaskError):
        largest_component(vol.copy_with(array=np.zeros_like(vol.array)))


def test_fill_holes_per_slice_closes_a_tunnel() -> None:
    vol, r = _ball_mask(20.0)
    k, j, i = np.indices(vol.shape)
    tunnel = (np.abs(j - 60) <= 3) & (np.abs(i - 50) <= 3)  # open at both ends along z
    holed = vol.copy_with(array=(vol.array.astype(bool) & ~tunnel).astype(np.uint8))
    assert fill_holes(holed).array.sum() == holed.array.sum()
    np.testing.assert_array_equal(fill_holes(holed, per_slice=True).array, vol.array)


def test_import_totalsegmentator(tmp_path: Path) -> None:
    vol, r = _ball_mask(10.0, centre=(-20.0, 0.0, 0.0))
    folder = tmp_path / "ts"
    folder.mkdir()
    write_image(vol, folder / "liver.nii.gz")
    lobe1, _ = _ball_mask(6.0, centre=(20.0, 10.0, 0.0))
    lobe2, _ = _ball_mask(6.0, centre=(20.0, -10.0, 0.0))
    write_image(lobe1, folder / "lung_upper_lobe_left.nii.gz")
    write_image(lobe2, folder / "lung_lower_lobe_left.nii.gz")
    write_image(vol.copy_with(array=np.zeros_like(vol.array)), folder / "spleen.nii.gz")  # absent organ
    airway, _ = _ball_mask(3.0, centre=(0.0, 20.0, 30.0))
    write_image(airway, folder / "lung_trachea_bronchia.nii.gz")  # an airway, not a lung lobe
    rois = import_totalsegmentator(folder)
    assert rois.units == Unit.LABEL
    assert sorted(rois.label_names.values()) == ["liver", "lung_trachea_bronchia", "lungs"]
    by_name = {name: value for value, name in rois.label_names.items()}
    np.testing.assert_array_equal(rois.array == by_name["liver"], vol.array.astype(bool))
    np.testing.assert_array_equal(rois.array == by_name["lungs"], (lobe1.array | lobe2.array).astype(bool))
    assert rois.same_grid(vol)


def test_import_totalsegmentator_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        import_totalsegmentator(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="no .nii.gz"):
        import_totalsegmentator(tmp_path)
    vol, _ = _ball_mask(5.0)
    write_image(vol, tmp_path / "something.nii.gz")
    with pytest.raises(InvalidInputError, match="TotalSegmentator"):
        import_totalsegmentator(tmp_path)
