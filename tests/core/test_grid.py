"""The Grid type, Volume.crop and interpolation that follows what a volume is (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import GeometryMismatchError, Grid, Unit, Volume


def _oblique_direction() -> np.ndarray:
    a, b = np.radians(20.0), np.radians(-7.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    rx = np.array([[1.0, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    axial = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    return rz @ rx @ axial


GRIDS = {
    "axial": Grid.from_geometry((12, 20, 16), (-30.0, -40.0, 10.0), (2.5, 0.8, 0.8)),
    "oblique_anisotropic": Grid.from_geometry((9, 14, 11), (5.0, -3.0, 2.0), (3.0, 1.1, 0.7), _oblique_direction()),
    # slices ordered feet-first (axis 0 towards -z): the other slice order
    "reversed_slices": Grid.from_geometry((10, 8, 6), (0.0, 0.0, 50.0), (2.0, 1.0, 1.5),
                                          np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])),
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_volume_geometry_is_its_grid(name: str) -> None:
    grid = GRIDS[name]
    vol = Volume(np.zeros(grid.shape, np.float32), grid.affine, frame_of_reference_uid="1.2.3")
    assert vol.grid.same_grid(grid) and vol.grid.frame_of_reference_uid == "1.2.3"
    idx = np.array([[0, 0, 0], [3, 5, 2], [grid.shape[0] - 1, 1, grid.shape[2] - 1]])
    np.testing.assert_allclose(vol.index_to_world(idx), grid.index_to_world(idx), atol=1e-12)
    np.testing.assert_allclose(grid.world_to_index(grid.index_to_world(idx)), idx, atol=1e-9)
    assert vol.voxel_volume_ml == pytest.approx(float(np.prod(grid.spacing_mm)) / 1000.0, rel=1e-12)


@pytest.mark.parametrize("name", list(GRIDS))
def test_crop_keeps_every_voxel_where_it_was(name: str) -> None:
    grid = GRIDS[name]
    rng = np.random.default_rng(3)
    vol = Volume(rng.normal(size=grid.shape).astype(np.float32), grid.affine, units=Unit.HU)
    box = (slice(2, 7), slice(1, 7), slice(3, 5))
    sub = vol.crop(box)
    assert sub.shape == (5, 6, 2) and sub.units == Unit.HU
    np.testing.assert_array_equal(sub.array, vol.array[box])
    local = np.array([[0, 0, 0], [4, 5, 1], [2, 3, 0]])
    np.testing.assert_allclose(sub.index_to_world(local), vol.index_to_world(local + [2, 1, 3]), atol=1e-9)
    np.testing.assert_allclose(sub.spacing_mm, vol.spacing_mm, rtol=1e-12)
    sub.array[0, 0, 0] = 1e6  # a copy: the source is unchanged
    assert vol.array[2, 1, 3] != 1e6
    # open and negative-free slices are clipped to the grid
    assert vol.crop((slice(None), slice(0, 1000), slice(2, None))).shape == (grid.shape[0], grid.shape[1], grid.shape[2] - 2)


def test_crop_refuses_steps_and_empty_boxes() -> None:
    vol = Volume(np.zeros((4, 4, 4)), np.eye(4))
    with pytest.raises(GeometryMismatchError, match="step 1"):
        vol.crop((slice(0, 4, 2), slice(None), slice(None)))
    with pytest.raises(GeometryMismatchError, match="empty"):
        vol.crop((slice(2, 2), slice(None), slice(None)))


def test_nonzero_box_and_box_of_another_grid() -> None:
    grid = GRIDS["axial"]
    mask = np.zeros(grid.shape, np.uint8)
    mask[4:6, 7:12, 3:5] = 1
    vol = Volume(mask, grid.affine, units=Unit.LABEL)
    assert vol.nonzero_box() == (slice(4, 6), slice(7, 12), slice(3, 5))
    assert vol.nonzero_box(margin_voxels=5) == (slice(0, 11), slice(2, 17), slice(0, 10))
    # one margin per axis (z, y, x), clipped at each edge; a numpy array as well as a tuple
    assert vol.nonzero_box(margin_voxels=(1, 9, 2)) == (slice(3, 7), slice(0, 20), slice(1, 7))
    assert vol.nonzero_box(margin_voxels=np.array([6, 0, 12])) == (slice(0, 12), slice(7, 12), slice(0, 16))
    assert Volume(np.zeros((3, 3, 3)), np.eye(4)).nonzero_box() is None
    # the box of a coarser grid that covers the mask's box holds every mask voxel
    coarse = Grid.from_geometry((10, 10, 10), (-45.0, -50.0, 0.0), (4.0, 3.0, 3.0))
    box = coarse.box_of(vol, vol.nonzero_box(), margin_voxels=0)
    pts = coarse.world_to_index(vol.index_to_world(np.argwhere(mask)))
    inside = np.floor(pts + 0.5).astype(int)
    for axis, s in enumerate(box):
        assert s.start <= inside[:, axis].min() and inside[:, axis].max() < s.stop
    far = Grid.from_geometry((2, 2, 2), (500.0, 500.0, 500.0), (1.0, 1.0, 1.0))
    assert coarse.box_of(far) is None


@pytest.mark.parametrize("name", list(GRIDS))
def test_supersampled_blocks_are_centred_on_their_voxel(name: str) -> None:
    grid = GRIDS[name]
    fine = grid.supersampled(3)
    assert fine.shape == tuple(3 * s for s in grid.shape)
    k = np.array([2, 3, 1])
    block = np.array([[3 * k[0] + a, 3 * k[1] + b, 3 * k[2] + c] for a in range(3) for b in range(3) for c in range(3)])
    np.testing.assert_allclose(fine.index_to_world(block).mean(axis=0), grid.index_to_world(k), atol=1e-9)
    np.testing.assert_allclose(fine.bounding_box_world(), grid.bounding_box_world(), atol=1e-9)


@pytest.mark.parametrize("name", list(GRIDS))
def test_coarsened_and_respaced_grids_cover_the_same_field(name: str) -> None:
    grid = GRIDS[name]
    coarse = grid.coarsened(2)
    assert coarse.shape == tuple(-(-s // 2) for s in grid.shape)
    # the first coarse voxel's outer corner is the first fine voxel's outer corner
    np.testing.assert_allclose(coarse.index_to_world([-0.5, -0.5, -0.5]), grid.index_to_world([-0.5, -0.5, -0.5]), atol=1e-9)
    respaced = grid.with_spacing((2.0, 2.0, 2.0))
    np.testing.assert_allclose(respaced.spacing_mm, 2.0)
    np.testing.assert_allclose(respaced.index_to_world([-0.5, -0.5, -0.5]), grid.index_to_world([-0.5, -0.5, -0.5]), atol=1e-9)
    extent_old = np.array(grid.shape) * grid.spacing_mm
    extent_new = np.array(respaced.shape) * respaced.spacing_mm
    assert np.all(extent_new >= extent_old - 1e-9) and np.all(extent_new < extent_old + 2.0)


def test_grid_validates_its_inputs() -> None:
    with pytest.raises(GeometryMismatchError, match="positive sizes"):
        Grid((0, 3, 3), np.eye(4))
    with pytest.raises(GeometryMismatchError, match="singular"):
        Grid((3, 3, 3), np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(GeometryMismatchError, match="positive"):
        GRIDS["axial"].with_spacing((1.0, 0.0, 1.0))


def test_interpolation_follows_what_the_volume_is() -> None:
    src_grid = Grid.from_geometry((8, 8, 8), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    labels = np.zeros(src_grid.shape, np.uint8)
    labels[:, :, 4:] = 3
    target = Grid.from_geometry((8, 8, 15), (0.0, 0.0, 0.0), (2.0, 2.0, 1.0))  # half-voxel x positions
    as_labels = Volume(labels, src_grid.affine, units=Unit.LABEL).resample_to(target)
    assert set(np.unique(as_labels.array)) == {0, 3}  # never a blended value between labels
    as_image = Volume(labels.astype(np.float32), src_grid.affine, units=Unit.HU).resample_to(target)
    assert np.any((as_image.array > 0) & (as_image.array < 3))  # an image is interpolated linearly
    # a boolean array is a mask too
    as_bool = Volume(labels > 0, src_grid.affine).resample_to(target)
    assert as_bool.array.dtype == bool
    # the target may be a Grid or a Volume on that grid: the same result
    via_volume = Volume(labels, src_grid.affine, units=Unit.LABEL).resample_to(
        Volume(np.zeros(target.shape), target.affine)
    )
    np.testing.assert_array_equal(via_volume.array, as_labels.array)
    # an explicit choice is honoured
    linear = Volume(labels, src_grid.affine, units=Unit.LABEL).resample_to(target, interpolation="linear", dtype=np.float32)
    assert np.any((linear.array > 0) & (linear.array < 3))
