"""Analytic phantoms for the ablation tests: spheres and ellipsoids voxelised exactly.

Binary masks: a voxel is inside when its centre is inside the shape. Fractional
masks: the fraction of 6³ sub-voxel points inside, computed only in the band of
voxels that the surface can cross (elsewhere 0 or 1 exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from workstation.core import Volume, affine_from_geometry

ISO = (1.0, 1.0, 1.0)
ANISO = (2.5, 0.7, 0.7)  # (z, y, x) mm: thick CT slices, fine in-plane pixels


def ellipsoid_array(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    centre_lps: np.ndarray,
    semi_axes_lps: tuple[float, float, float],
    fractional: bool = False,
    supersampling: int = 6,
) -> np.ndarray:
    """Axis-aligned (in LPS) ellipsoid mask: bool, or float32 fractions."""
    vol = Volume(np.zeros(shape, dtype=np.uint8), affine)
    idx = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    semi = np.asarray(semi_axes_lps, dtype=float)

    def level(index: np.ndarray) -> np.ndarray:
        rel = (vol.index_to_world(index) - np.asarray(centre_lps)) / semi
        return np.sqrt(np.einsum("...i,...i->...", rel, rel))

    f = level(idx)
    inside = f <= 1.0
    if not fractional:
        return inside
    # |grad sqrt(f)| <= 1/min(semi): voxels farther than half a diagonal from the surface are pure.
    half_diag = 0.5 * float(np.linalg.norm(vol.spacing_mm))
    band = np.abs(f - 1.0) <= half_diag / semi.min() * 1.01
    out = inside.astype(np.float32)
    pts = idx[band]
    s = supersampling
    offs = (np.arange(s) + 0.5) / s - 0.5
    acc = np.zeros(len(pts))
    for dk in offs:
        for dj in offs:
            for di in offs:
                acc += level(pts + np.array([dk, dj, di])) <= 1.0
    out[band] = acc / s**3
    return out


@pytest.fixture
def make_volume() -> Callable[..., Volume]:
    """Factory: ``make_volume(spacing, extent_mm, shapes, fractional=False, origin=..., direction=...)``.

    ``shapes`` is a list of (centre_lps, semi_axes_lps, value). The grid is
    ``extent_mm`` wide per axis with the origin chosen so that voxel centres
    fall on integer multiples of the spacing from LPS 0 (so a shape centred on
    a multiple of the spacing, with a radius of (n + 0.5) voxels along an axis,
    has its surface on voxel faces there).
    """

    def factory(
        spacing: tuple[float, float, float],
        extent_mm: float,
        shapes: list[tuple[np.ndarray, tuple[float, float, float], int]],
        fractional: bool = False,
        origin: np.ndarray | None = None,
        direction: np.ndarray | None = None,
    ) -> Volume:
        sp = np.asarray(spacing, dtype=float)
        n = np.ceil(extent_mm / sp).astype(int)
        shape = (int(n[0]), int(n[1]), int(n[2]))
        if origin is None:
            # index (k, j, i) -> LPS (x = i*sx, y = j*sy, z = k*sz) minus half the extent
            origin = -np.array([n[2] // 2 * sp[2], n[1] // 2 * sp[1], n[0] // 2 * sp[0]])
        affine = affine_from_geometry(origin, sp, direction)
        arr = np.zeros(shape, dtype=np.float32 if fractional else np.uint8)
        for centre, semi, value in shapes:
            part = ellipsoid_array(affine, shape, np.asarray(centre, float), semi, fractional)
            if fractional:
                arr = np.maximum(arr, part.astype(np.float32) * value)
            else:
                arr[part] = value
        return Volume(arr, affine, frame_of_reference_uid="1.2.826.0.1.3680043.2.1125.1")

    return factory
