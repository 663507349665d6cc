"""The working grid: block means, geometry of the coarse voxels, and the smooth return to the CT grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from tests.segmentation.phantoms import dice
from workstation.core import Volume, affine_from_geometry
from workstation.segmentation._grid import WorkingGrid


def test_block_means_including_a_partial_block(rng: np.random.Generator) -> None:
    arr = rng.normal(40.0, 20.0, size=(9, 13, 14)).astype(np.float32)
    grid = WorkingGrid(arr.shape, (1.0, 0.7, 0.7), 2.0)
    assert grid.factor == (2, 3, 3)
    down = grid.downsample(arr)
    assert down.shape == (5, 5, 5)
    # the last block of each axis is partial (9 = 4 x 2 + 1, 13 = 4 x 3 + 1, 14 = 4 x 3 + 2)
    for w in [(0, 0, 0), (4, 4, 4), (1, 2, 3)]:
        k, j, i = (slice(f * v, f * v + f) for f, v in zip(grid.factor, w, strict=True))
        # float32 sums of up to 18 values: relative rounding well below 1e-5
        assert down[w] == pytest.approx(float(arr[k, j, i].mean()), rel=1e-5)


def test_working_voxel_is_the_centre_of_its_block(oblique_direction: np.ndarray) -> None:
    affine = affine_from_geometry([10.0, -20.0, 30.0], [2.5, 0.8, 0.7], oblique_direction)
    vol = Volume(np.zeros((20, 30, 40), np.float32), affine)
    grid = WorkingGrid(vol.shape, vol.spacing_mm, 2.0, box=(slice(3, 18), slice(5, 29), slice(1, 40)))
    work = grid.working_volume(vol)
    w = np.array([2, 3, 4])
    start = np.array([3, 5, 1])
    block = np.stack(np.meshgrid(*[np.arange(s + f * v, s + f * v + f) for s, f, v in zip(start, grid.factor, w, strict=True)],
                                 indexing="ij"), axis=-1).reshape(-1, 3)
    centre_world = vol.index_to_world(block).mean(axis=0)
    np.testing.assert_allclose(work.index_to_world(w), centre_world, atol=1e-9)
    np.testing.assert_allclose(grid.to_working_index(block.mean(axis=0)), w, atol=1e-12)


def test_threshold_full_equals_dense_trilinear_interpolation(rng: np.random.Generator) -> None:
    shape = (30, 40, 50)
    grid = WorkingGrid(shape, (1.0, 0.7, 0.7), 2.0, box=(slice(2, 29), slice(3, 38), slice(0, 50)))
    field = ndi.gaussian_filter(rng.random(grid.working_shape).astype(np.float32), 1.5)
    field = (field - field.mean()) / field.std() * 0.3 + 0.5
    dense = np.zeros(shape, bool)
    dense[grid.box] = grid.upsample(field) >= 0.5
    np.testing.assert_array_equal(grid.threshold_full(field, 0.5), dense)


def test_smooth_return_beats_nearest_neighbour() -> None:
    """A ball's partial-volume fraction on a 3x coarser grid comes back within a fine voxel."""
    shape = (60, 90, 90)
    spacing = np.array([1.0, 0.7, 0.7])
    k, j, i = np.indices(shape)
    r = np.sqrt(((k - 29.3) * spacing[0]) ** 2 + ((j - 44.6) * spacing[1]) ** 2 + ((i - 45.2) * spacing[2]) ** 2)
    fine = r <= 17.0
    grid = WorkingGrid(shape, spacing, 2.0)
    fraction = grid.downsample(fine)
    back = grid.threshold_full(fraction, 0.5)
    nearest = np.repeat(np.repeat(np.repeat(fraction >= 0.5, 2, 0), 3, 1), 3, 2)[: shape[0], : shape[1], : shape[2]]
    # blocks of 2 x 2.1 x 2.1 mm: nearest neighbour loses about half a block on the
    # surface; the trilinear return stays within a fine voxel (0.7-1 mm)
    assert dice(back, fine) >= 0.97
    assert dice(back, fine) > dice(nearest, fine) + 0.01
