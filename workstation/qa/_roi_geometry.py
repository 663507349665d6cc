"""Sampling and partial-voxel ROI geometry of the NEMA phantom analysis (:mod:`.nema`)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workstation.core.volume import Volume


class Sampler:
    """Trilinear sampling of a volume at LPS points."""

    def __init__(self, volume: Volume, data: np.ndarray) -> None:
        self.volume = volume
        self.data = np.asarray(data, dtype=np.float32)
        self.inv = np.linalg.inv(volume.affine)

    def __call__(self, points_lps: np.ndarray) -> np.ndarray:
        idx = points_lps @ self.inv[:3, :3].T + self.inv[:3, 3]
        return ndimage.map_coordinates(self.data, idx.T, order=1, mode="nearest")


def ball_points(radius_mm: float, n: int = 7) -> np.ndarray:
    """Points filling a ball of the given radius (a cubic lattice clipped to the ball)."""
    g = (np.arange(n) - (n - 1) / 2) / ((n - 1) / 2)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[np.linalg.norm(pts, axis=1) <= 1.0]
    return pts * radius_mm


def voxel_weights_ball(volume: Volume, centre_lps: np.ndarray, radius_mm: float, sub: int = 4):
    """Partial-voxel weights of a ball: (index slices, weight array in [0, 1]).

    Each voxel is split into sub³ sub-voxels whose centres are tested against
    the ball; the weight is the fraction inside (error ≲ 1/sub of a voxel shell).
    """
    centre_idx = volume.world_to_index(centre_lps)
    half = radius_mm / volume.spacing_mm + 1.5
    lo = np.maximum(np.floor(centre_idx - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre_idx + half).astype(int) + 1, np.array(volume.shape))
    if np.any(hi <= lo):
        return None, None
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    ks, js, is_ = (np.arange(lo[a], hi[a]) for a in range(3))
    sub_k = (ks[:, None] + offs[None, :]).ravel()
    sub_j = (js[:, None] + offs[None, :]).ravel()
    sub_i = (is_[:, None] + offs[None, :]).ravel()
    grid = np.stack(np.meshgrid(sub_k, sub_j, sub_i, indexing="ij"), -1)
    pts = grid @ volume.affine[:3, :3].T + volume.affine[:3, 3]
    inside = np.linalg.norm(pts - centre_lps, axis=-1) <= radius_mm
    shape = (len(ks), sub, len(js), sub, len(is_), sub)
    w = inside.reshape(shape).mean(axis=(1, 3, 5))
    sl = tuple(slice(lo[a], hi[a]) for a in range(3))
    return sl, w


def axis_frame(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (LPS) of the phantom axis (array axis 0) and two in-plane axes."""
    d = volume.direction
    axis = d[:, 0]
    u = d[:, 2] - np.dot(d[:, 2], axis) * axis
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    return axis, u, v




def local_search(sampler: Sampler, centre: np.ndarray, ball: np.ndarray, search_mm: float) -> np.ndarray:
    """Position maximising the mean inside the ball, within ±search_mm (2 mm then 0.5 mm steps)."""
    best = centre
    for step, half in ((2.0, search_mm), (0.5, 2.0)):
        g = np.arange(-half, half + 1e-9, step)
        offs = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        pts = best[None, None, :] + offs[:, None, :] + ball[None, :, :]
        vals = sampler(pts.reshape(-1, 3)).reshape(len(offs), len(ball)).mean(axis=1)
        best = best + offs[int(np.argmax(vals))]
    return best


def voxel_weights_disc(image: Volume, centre: np.ndarray, axis: np.ndarray, radius: float):
    """Weights of a one-voxel-thick disc ROI (partial voxels in-plane) on the slice through centre."""
    idx = image.world_to_index(centre)
    k = int(round(idx[0]))
    if not 0 <= k < image.shape[0]:
        return None, None
    sl, w = voxel_weights_ball(image, centre, radius)
    if sl is None:
        return None, None
    # keep only the slice k; in-plane fraction = fraction of a cylinder through that slice
    kk = k - sl[0].start
    if not 0 <= kk < w.shape[0]:
        return None, None
    j0, i0 = sl[1].start, sl[2].start
    ny, nx = w.shape[1], w.shape[2]
    sub = 4
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    jjs = (np.arange(j0, j0 + ny)[:, None] + offs).ravel()
    iis = (np.arange(i0, i0 + nx)[:, None] + offs).ravel()
    gj, gi = np.meshgrid(jjs, iis, indexing="ij")
    pts = np.stack([np.full(gj.shape, float(k)), gj, gi], -1) @ image.affine[:3, :3].T + image.affine[:3, 3]
    rel = pts - centre
    rel -= np.multiply.outer(rel @ axis, axis)
    inside = np.linalg.norm(rel, axis=-1) <= radius
    wd = inside.reshape(ny, sub, nx, sub).mean(axis=(1, 3))[None]
    if wd.sum() == 0:
        return None, None
    return (slice(k, k + 1), sl[1], sl[2]), wd
