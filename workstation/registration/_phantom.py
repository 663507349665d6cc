"""Analytic abdomen-like phantom with known transforms, for tests and benchmarks.

The phantom is a function of LPS points (mm), so an image "seen through" a
known transform is rendered exactly at the transformed points instead of
being interpolated from another image. ``T`` below always maps fixed-space
points to moving-space points (ITK convention): the moving (pre) image shows
the anatomy at ``p``, the fixed (post) image at fixed point ``x`` shows the
anatomy at ``T(x)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workstation.core.grid import Grid
from workstation.core.volume import Unit, Volume, affine_from_geometry

__all__ = [
    "AbdomenPhantom",
    "axial_grid",
    "rigid_matrix",
    "smooth_deformation",
]

Mapping = Callable[[np.ndarray], np.ndarray]


def rigid_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation matrix R = Rz @ Ry @ Rx for angles (deg) about the LPS x, y, z axes."""
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def smooth_deformation(
    centres: np.ndarray, amplitudes_mm: np.ndarray, sigma_mm: float
) -> Mapping:
    """x -> x + sum_i a_i exp(-|x - c_i|^2 / (2 sigma^2)) (smooth, invertible for small a/sigma)."""
    c = np.asarray(centres, dtype=float).reshape(-1, 3)
    a = np.asarray(amplitudes_mm, dtype=float).reshape(-1, 3)

    def apply(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        out = p.copy()
        for ci, ai in zip(c, a, strict=True):
            w = np.exp(-np.sum((p - ci) ** 2, axis=-1) / (2.0 * sigma_mm**2))
            out = out + w[..., np.newaxis] * ai
        return out

    return apply


def axial_grid(shape_zyx: tuple[int, int, int], spacing_zyx_mm: tuple[float, float, float],
               centre_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Grid:
    """An axial grid centred on a point (spacing in mm, centre in LPS mm)."""
    spacing = np.asarray(spacing_zyx_mm, dtype=float)
    extent_xyz = (np.asarray(shape_zyx) - 1)[::-1] * spacing[::-1]
    origin = np.asarray(centre_lps_mm, dtype=float) - extent_xyz / 2.0
    return Grid(shape_zyx, affine_from_geometry(origin, spacing))


def _ellipsoid(p: np.ndarray, centre: tuple[float, float, float], axes: tuple[float, float, float]) -> np.ndarray:
    q = (p - np.asarray(centre)) / np.asarray(axes)
    return np.sum(q * q, axis=-1) <= 1.0


def _cylinder_z(p: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return (p[..., 0] - cx) ** 2 + (p[..., 1] - cy) ** 2 <= r * r


def _segment(p: np.ndarray, a: tuple[float, float, float], b: tuple[float, float, float], r: float) -> np.ndarray:
    a_, b_ = np.asarray(a), np.asarray(b)
    ab = b_ - a_
    t = np.clip(np.sum((p - a_) * ab, axis=-1) / float(ab @ ab), 0.0, 1.0)
    closest = a_ + t[..., np.newaxis] * ab
    return np.sum((p - closest) ** 2, axis=-1) <= r * r


@dataclass
class AbdomenPhantom:
    """An abdomen: body with fat layer, liver with vessels and a tumour, lungs, spine,
    aorta, kidneys, stomach with gas. Coordinates LPS mm, centred near the origin."""

    tumour_centre: tuple[float, float, float] = (-55.0, -5.0, 5.0)
    tumour_radius_mm: float = 12.0
    ablation_radius_mm: float = 20.0
    seed: int = 7

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        # Smooth texture: a sum of random plane waves (wavelength 25-80 mm), +-12 HU.
        self._k = rng.normal(size=(24, 3))
        self._k /= np.linalg.norm(self._k, axis=1, keepdims=True)
        self._k *= (2 * np.pi / rng.uniform(25.0, 80.0, size=24))[:, np.newaxis]
        self._phase = rng.uniform(0, 2 * np.pi, size=24)

    # --- structures (boolean functions of anatomy points)
    def body(self, p: np.ndarray) -> np.ndarray:
        return ((p[..., 0] / 135.0) ** 2 + ((p[..., 1] - 5.0) / 100.0) ** 2) <= 1.0

    def liver(self, p: np.ndarray) -> np.ndarray:
        main = _ellipsoid(p, (-55.0, -5.0, 5.0), (62.0, 58.0, 55.0))
        left_lobe = _ellipsoid(p, (5.0, -35.0, 20.0), (45.0, 28.0, 30.0))
        return (main | left_lobe) & self.body(p) & ~self.lungs(p)

    def tumour(self, p: np.ndarray) -> np.ndarray:
        return _ellipsoid(p, self.tumour_centre, (self.tumour_radius_mm,) * 3)

    def ablation_zone(self, p: np.ndarray) -> np.ndarray:
        return _ellipsoid(p, self.tumour_centre, (self.ablation_radius_mm,) * 3)

    def lungs(self, p: np.ndarray) -> np.ndarray:
        return _ellipsoid(p, (-65.0, 10.0, 110.0), (58.0, 65.0, 62.0)) | _ellipsoid(
            p, (65.0, 10.0, 110.0), (55.0, 65.0, 58.0))

    def ct_hu(self, p: np.ndarray, ablated: bool = False) -> np.ndarray:
        """Noise-free CT values (HU) at anatomy points (..., 3)."""
        hu = np.full(p.shape[:-1], -1000.0, dtype=np.float32)
        body = self.body(p)
        inner = ((p[..., 0] / 120.0) ** 2 + ((p[..., 1] - 5.0) / 86.0) ** 2) <= 1.0
        hu[body] = -100.0  # subcutaneous fat
        hu[inner] = 35.0  # muscle / bowel
        texture = np.zeros(p.shape[:-1])
        for k, ph in zip(self._k, self._phase, strict=True):
            texture += np.cos(p @ k + ph)
        hu += np.where(inner, 4.0 * texture, 0.0).astype(np.float32)
        for side in (-1, 1):
            hu[_ellipsoid(p, (side * 62.0, 48.0, -40.0), (24.0, 20.0, 36.0)) & inner] = 160.0  # kidneys
        stomach = _ellipsoid(p, (55.0, -25.0, 25.0), (35.0, 30.0, 32.0)) & inner
        hu[stomach] = 15.0
        hu[stomach & (p[..., 1] < -35.0)] = -950.0  # gas anteriorly
        liver = self.liver(p)
        hu[liver] = 105.0 + 3.0 * texture[liver]
        for a, b, r in (((-55.0, 20.0, -45.0), (-40.0, -30.0, 50.0), 5.0),
                        ((-90.0, 0.0, 10.0), (-10.0, -15.0, 15.0), 4.0),
                        ((-70.0, -40.0, 30.0), (-60.0, 35.0, -20.0), 3.5)):
            hu[_segment(p, a, b, r) & liver] = 180.0  # hepatic/portal vessels
        if ablated:
            zone = self.ablation_zone(p) & liver
            hu[zone] = 20.0
            rim = zone & ~_ellipsoid(p, self.tumour_centre, (self.ablation_radius_mm - 3.0,) * 3)
            hu[rim] = 70.0
        else:
            hu[self.tumour(p) & liver] = 45.0
        hu[_cylinder_z(p, 15.0, 40.0, 11.0) & inner] = 200.0  # aorta
        hu[_cylinder_z(p, 0.0, 72.0, 16.0) & inner] = 450.0  # vertebral body
        hu[_cylinder_z(p, 0.0, 72.0, 6.0) & inner] = 30.0
        hu[self.lungs(p) & body & ~liver] = -850.0
        return hu

    def activity(self, p: np.ndarray) -> np.ndarray:
        """Relative 99mTc-MAA/90Y-like activity concentration (liver 1, tumour 4, lungs 0.05)."""
        act = np.where(self.body(p), 0.03, 0.0)
        act = np.where(self.lungs(p) & self.body(p), 0.05, act)
        act = np.where(self.liver(p), 1.0, act)
        return np.where(self.tumour(p) & self.liver(p), 4.0, act)

    # --- rendering on grids
    def render(
        self,
        grid: Grid | Volume,
        values: Callable[[np.ndarray], np.ndarray],
        mapping: Mapping | None = None,
        blur_sigma_mm: float = 0.0,
    ) -> np.ndarray:
        """Evaluate ``values`` at ``mapping(x)`` for every voxel centre x of the grid."""
        idx = np.indices(grid.shape).reshape(3, -1).T.astype(float)
        pts = grid.index_to_world(idx)
        if mapping is not None:
            pts = mapping(pts)
        out = values(pts).reshape(grid.shape).astype(np.float32)
        if blur_sigma_mm > 0:
            out = ndimage.gaussian_filter(out, blur_sigma_mm / grid.spacing_mm).astype(np.float32)
        return out

    def ct(self, grid: Grid | Volume, mapping: Mapping | None = None, ablated: bool = False,
           noise_hu: float = 10.0, seed: int = 0) -> Volume:
        """A CT image (HU) with a 1 mm Gaussian PSF and Gaussian noise."""
        arr = self.render(grid, lambda p: self.ct_hu(p, ablated), mapping, blur_sigma_mm=1.0)
        arr += np.random.default_rng(seed).normal(0.0, noise_hu, arr.shape).astype(np.float32)
        return _on(grid, arr, modality="CT", units=Unit.HU)

    def mask(self, grid: Grid | Volume, structure: str, mapping: Mapping | None = None) -> Volume:
        fn = getattr(self, structure)
        arr = self.render(grid, lambda p: fn(p).astype(np.float32), mapping) > 0.5
        return _on(grid, arr.astype(np.uint8), units=Unit.LABEL, label_names={1: structure})

    def spect(self, grid: Grid | Volume, mapping: Mapping | None = None, fwhm_mm: float = 14.0,
              total_counts: float = 2e6, seed: int = 0) -> Volume:
        """An emission image: activity blurred to ``fwhm_mm`` with Poisson noise (counts)."""
        sigma = fwhm_mm / 2.3548
        arr = self.render(grid, self.activity, mapping, blur_sigma_mm=sigma)
        arr = np.clip(arr, 0, None)
        lam = arr * (total_counts / max(float(arr.sum()), 1e-12))
        counts = np.random.default_rng(seed).poisson(lam).astype(np.float32)
        return _on(grid, counts, modality="NM", units=Unit.COUNTS)


def _on(grid: Grid | Volume, array: np.ndarray, **fields: object) -> Volume:
    """A volume of ``array`` on the grid (a volume's grid: its own; its values are not used)."""
    g = grid.grid if isinstance(grid, Volume) else grid
    return Volume(array, g.affine.copy(), frame_of_reference_uid=g.frame_of_reference_uid, **fields)  # type: ignore[arg-type]
