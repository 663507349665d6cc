"""A synthetic NEMA IEC body phantom image with known geometry, blur and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from workstation.core import Unit, Volume, affine_from_geometry
from workstation.qa import NEMA_RING_RADIUS_MM, NEMA_SPHERE_DIAMETERS_MM

SPHERE_BQML = 800_000.0
BACKGROUND_BQML = 100_000.0  # 8:1
FWHM_MM = 8.0
VOXEL_MM = 4.0


def make_phantom(
    fwhm_mm: float = FWHM_MM,
    start_angle_deg: float = 25.0,
    handedness: int = 1,
    sphere_shift_mm: dict[float, tuple[float, float, float]] | None = None,
    sphere_scale: dict[float, float] | None = None,
    noise: float = 0.03,
    units: Unit = Unit.BQML,
    seed: int = 7,
    sphere_bqml: float = SPHERE_BQML,
    voxel_mm: tuple[float, float, float] = (VOXEL_MM, VOXEL_MM, VOXEL_MM),
    shape: tuple[int, int, int] = (50, 70, 70),
    sub: tuple[int, int, int] = (4, 4, 4),
) -> tuple[Volume, list[np.ndarray]]:
    """Phantom on a grid of ``voxel_mm`` (z, y, x), built on a sub-grid ``sub`` times finer,
    blurred, then averaged (default: 4 mm voxels from a 1 mm sub-grid).

    Body: cylinder of 110 mm radius, 180 mm long; lung insert: cylinder of 25 mm
    radius with no activity; spheres on the NEMA ring in the plane z = 0.
    Returns the image and the true sphere centres (LPS mm).
    """
    n_z, n_y, n_x = shape
    fine = np.asarray(voxel_mm, dtype=float) / np.asarray(sub)
    fz = (np.arange(n_z * sub[0]) + 0.5) * fine[0] - n_z * voxel_mm[0] / 2
    fy = (np.arange(n_y * sub[1]) + 0.5) * fine[1] - n_y * voxel_mm[1] / 2
    fx = (np.arange(n_x * sub[2]) + 0.5) * fine[2] - n_x * voxel_mm[2] / 2
    origin = [-(n_x * voxel_mm[2]) / 2 + voxel_mm[2] / 2, -(n_y * voxel_mm[1]) / 2 + voxel_mm[1] / 2,
              -(n_z * voxel_mm[0]) / 2 + voxel_mm[0] / 2]
    act = np.zeros((len(fz), len(fy), len(fx)), np.float32)
    yy, xx = np.meshgrid(fy, fx, indexing="ij")
    r2 = xx**2 + yy**2
    in_body_z = np.abs(fz) <= 90
    act[in_body_z] = np.where(r2 <= 110**2, BACKGROUND_BQML, 0.0)
    act[:, r2 <= 25**2] = 0.0
    centres = []
    shifts = sphere_shift_mm or {}
    scales = sphere_scale or {}
    for i, d in enumerate(NEMA_SPHERE_DIAMETERS_MM):
        ang = math.radians(start_angle_deg) + handedness * 2 * math.pi * i / 6
        c = np.array([NEMA_RING_RADIUS_MM * math.cos(ang), NEMA_RING_RADIUS_MM * math.sin(ang), 0.0])
        c = c + np.array(shifts.get(d, (0.0, 0.0, 0.0)))
        centres.append(c)
        r = d / 2
        kz = np.nonzero(np.abs(fz - c[2]) <= r)[0]
        for k in kz:
            m = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (fz[k] - c[2]) ** 2 <= r**2
            act[k][m] = sphere_bqml * scales.get(d, 1.0)
    sigma = fwhm_mm / (2 * math.sqrt(2 * math.log(2))) / fine
    act = ndimage.gaussian_filter(act, sigma)
    coarse = act.reshape(n_z, sub[0], n_y, sub[1], n_x, sub[2]).mean(axis=(1, 3, 5))
    rng = np.random.default_rng(seed)
    coarse = coarse * (1 + noise * rng.standard_normal(coarse.shape)).astype(np.float32)
    if units == Unit.COUNTS:
        coarse = coarse * 1e-3
    affine = affine_from_geometry(origin, list(voxel_mm))
    vol = Volume(coarse.astype(np.float32), affine, modality="PT", units=units)
    return vol, centres


@pytest.fixture(scope="module")
def phantom() -> tuple[Volume, list[np.ndarray]]:
    return make_phantom()
