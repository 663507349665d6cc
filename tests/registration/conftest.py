"""Synthetic abdomen CT/SPECT pairs with known transforms (analytic phantom, fixed seeds).

Grids are small (96 x 96 x 48 voxels of 3 mm) to keep the suite fast; the fixed
and moving grids differ (shape and origin) so that nothing relies on equal grids.
``T`` maps fixed-space points to moving-space points (ITK convention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from workstation.core import Grid, Volume
from workstation.registration._phantom import (
    AbdomenPhantom,
    axial_grid,
    rigid_matrix,
    smooth_deformation,
)

FIXED_FOR = "1.2.826.0.1.3680043.8.498.1"
MOVING_FOR = "1.2.826.0.1.3680043.8.498.2"


@dataclass
class Pair:
    fixed: Volume
    moving: Volume
    truth: Callable[[np.ndarray], np.ndarray]
    liver_fixed: Volume
    extra: dict[str, Volume]

    def liver_points(self) -> np.ndarray:
        idx = np.argwhere(self.liver_fixed.array > 0).astype(float)
        return self.liver_fixed.index_to_world(idx)


def _rigid(angles_deg: tuple[float, float, float], translation_mm: tuple[float, float, float],
           centre: tuple[float, float, float]) -> Callable[[np.ndarray], np.ndarray]:
    r = rigid_matrix(angles_deg)
    c = np.asarray(centre, dtype=float)
    t = np.asarray(translation_mm, dtype=float)
    return lambda p: (np.asarray(p) - c) @ r.T + c + t


@pytest.fixture(scope="session")
def phantom() -> AbdomenPhantom:
    return AbdomenPhantom(seed=7)


@pytest.fixture(scope="session")
def fixed_grid() -> Grid:
    return axial_grid((48, 96, 96), (3.0, 3.0, 3.0))


@pytest.fixture(scope="session")
def moving_grid() -> Grid:
    return axial_grid((50, 96, 96), (3.0, 3.0, 3.0), (2.0, -1.5, 1.0))


@pytest.fixture(scope="session")
def rigid_pair(phantom: AbdomenPhantom, fixed_grid: Grid, moving_grid: Grid) -> Pair:
    """CT -> CT, rigid: 3/-2/4 degrees about a point in the liver, translation (6, -4, 5) mm."""
    truth = _rigid((3.0, -2.0, 4.0), (6.0, -4.0, 5.0), (-20.0, 0.0, 0.0))
    fixed = phantom.ct(fixed_grid, truth, seed=1)
    moving = phantom.ct(moving_grid, seed=2)
    fixed.frame_of_reference_uid, moving.frame_of_reference_uid = FIXED_FOR, MOVING_FOR
    return Pair(fixed, moving, truth, phantom.mask(fixed_grid, "liver", truth), {})


@pytest.fixture(scope="session")
def deformable_pair(phantom: AbdomenPhantom, fixed_grid: Grid, moving_grid: Grid) -> Pair:
    """Pre-ablation CT (moving) -> post-ablation CT (fixed): rigid + smooth breathing-like
    deformation (Gaussian bumps, up to ~8 mm), the tumour replaced by a larger ablation zone."""
    rigid = _rigid((2.0, -1.5, 3.0), (4.0, -3.0, 5.0), (-20.0, 0.0, 0.0))
    bumps = smooth_deformation(
        [[-70.0, 10.0, 30.0], [-20.0, -30.0, -20.0], [30.0, 30.0, 0.0]],
        [[0.0, 4.0, -7.0], [5.0, 0.0, 3.0], [-3.0, -4.0, 2.0]],
        45.0,
    )

    def truth(p: np.ndarray) -> np.ndarray:
        return rigid(bumps(p))

    fixed = phantom.ct(fixed_grid, truth, ablated=True, seed=3)
    moving = phantom.ct(moving_grid, seed=4)
    fixed.frame_of_reference_uid, moving.frame_of_reference_uid = FIXED_FOR, MOVING_FOR
    extra = {
        "tumour_moving": phantom.mask(moving_grid, "tumour"),
        "ablation_fixed": phantom.mask(fixed_grid, "ablation_zone", truth),
    }
    return Pair(fixed, moving, truth, phantom.mask(fixed_grid, "liver", truth), extra)


@pytest.fixture(scope="session")
def spect_pair(phantom: AbdomenPhantom, fixed_grid: Grid) -> Pair:
    """CT (fixed) and a SPECT-like image (moving: 4.8 mm voxels, 14 mm FWHM, Poisson noise)
    misaligned by a known 10 mm / 5 degree rigid offset; separate frames of reference."""
    truth = _rigid((0.0, 0.0, 5.0), (6.0, -6.0, 5.29), (-55.0, -5.0, 5.0))  # |t| = 10.0 mm
    grid = axial_grid((40, 64, 64), (4.8, 4.8, 4.8), (0.0, 0.0, 0.0))
    inverse = _inverse_rigid(truth)
    spect = phantom.spect(grid, inverse, seed=5)
    ct = phantom.ct(fixed_grid, seed=6)
    ct.frame_of_reference_uid, spect.frame_of_reference_uid = FIXED_FOR, MOVING_FOR
    return Pair(ct, spect, truth, phantom.mask(fixed_grid, "liver"), {})


def _inverse_rigid(forward: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Exact inverse of an affine map given as a function (from four points)."""
    pts = np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    img = forward(pts)
    a = (img[1:] - img[0]).T
    a_inv = np.linalg.inv(a)
    return lambda p: (np.asarray(p) - img[0]) @ a_inv.T
