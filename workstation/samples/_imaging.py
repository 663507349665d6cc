"""Image formation: grids, blur, sampling, noise; SPECT counts and PET concentrations of a truth."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workstation.core.volume import Volume, affine_from_geometry

#: Gaussian FWHM = 2·sqrt(2·ln 2)·sigma (exact).
FWHM_PER_SIGMA: float = 2.0 * np.sqrt(2.0 * np.log(2.0))


def axial_grid(
    shape_zyx: tuple[int, int, int],
    spacing_zyx_mm: tuple[float, float, float],
    centre_lps_mm: tuple[float, float, float],
) -> np.ndarray:
    """Affine of an axial grid (axes +z, +y, +x) centred on ``centre_lps_mm``."""
    shape = np.asarray(shape_zyx, dtype=float)
    spacing = np.asarray(spacing_zyx_mm, dtype=float)
    centre_zyx = np.asarray(centre_lps_mm, dtype=float)[::-1]
    origin_zyx = centre_zyx - (shape - 1) / 2 * spacing
    return affine_from_geometry(origin_zyx[::-1], spacing)


def grid_axes(affine: np.ndarray, shape_zyx: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable x, y, z coordinate arrays (mm) of an axis-aligned axial grid."""
    nz, ny, nx = shape_zyx
    x = affine[0, 2] * np.arange(nx) + affine[0, 3]
    y = affine[1, 1] * np.arange(ny) + affine[1, 3]
    z = affine[2, 0] * np.arange(nz) + affine[2, 3]
    return x[None, None, :], y[None, :, None], z[:, None, None]


def grid_points(affine: np.ndarray, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """All voxel centres of a grid as an (nz, ny, nx, 3) LPS array (mm)."""
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape_zyx), indexing="ij"), axis=-1)
    return idx.astype(float) @ affine[:3, :3].T + affine[:3, 3]


def smooth_field(shape: tuple[int, ...], sigma_vox: float | tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian random field with correlation length ``sigma_vox``."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap")
    return (field - field.mean()) / field.std()


def blur_and_sample(
    values: Volume, target_affine: np.ndarray, target_shape: tuple[int, int, int], fwhm_mm: float
) -> np.ndarray:
    """Blur ``values`` with an isotropic Gaussian (FWHM, mm) and sample it at the target voxel centres.

    The source is zero-padded by three sigmas so that the blur spills beyond
    its edges as it would in a scanner; sampling is trilinear, adequate
    because the blurred field varies slowly on the scale of the source voxels.
    """
    sigma_vox = fwhm_mm / FWHM_PER_SIGMA / values.spacing_mm
    pad = np.ceil(3 * sigma_vox).astype(int)
    arr = np.pad(values.array.astype(np.float64), [(p, p) for p in pad])
    arr = ndimage.gaussian_filter(arr, sigma_vox, mode="constant", truncate=3.0)
    pts = grid_points(target_affine, target_shape)
    idx = values.world_to_index(pts) + pad
    out = ndimage.map_coordinates(arr, np.moveaxis(idx, -1, 0), order=1, mode="constant", cval=0.0)
    return np.maximum(out, 0.0)


def correlated_noise(shape: tuple[int, ...], sd: float, sigma_vox: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of standard deviation ``sd`` with a slight spatial correlation (CT-like)."""
    return (sd * smooth_field(shape, sigma_vox, rng)).astype(np.float32)

def spect_counts(
    conc: Volume,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    fwhm_mm: float,
    counts_per_mbq: float,
    decay_factor: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Poisson counts of a SPECT reconstruction: blurred activity at scan time × sensitivity."""
    voxel_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    expected = blur_and_sample(conc, affine, shape, fwhm_mm) * voxel_ml * decay_factor * 1e-6 * counts_per_mbq
    return rng.poisson(expected).astype(np.uint16), float(expected.sum())


def pet_bqml(
    conc: Volume, affine: np.ndarray, shape: tuple[int, int, int], fwhm_mm: float,
    counts_per_bqml: float, rng: np.random.Generator,
) -> np.ndarray:
    """PET image (Bq/mL at administration): blurred truth with Poisson noise of ``counts_per_bqml``."""
    expected = blur_and_sample(conc, affine, shape, fwhm_mm)
    return rng.poisson(expected * counts_per_bqml) / counts_per_bqml
