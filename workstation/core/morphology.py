"""Millimetre morphology of boolean masks on anisotropic grids: one home for every package.

Balls, dilation, erosion, opening and closing by a physical radius (Euclidean
distance transforms on the mask's bounding box, so the cost follows the mask,
not the image), and connected components. Arrays are (z, y, x) with
``spacing`` in mm in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

__all__ = ["ball", "closing", "component_at", "dilate", "erode", "largest_component", "opening", "padded_bbox"]


def ball(radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Boolean structuring element: the voxels within ``radius_mm`` (anisotropic spacing)."""
    half = np.floor(radius_mm / spacing).astype(int)
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)], indexing="ij")
    return (grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2) <= radius_mm**2 + 1e-9



def dilate(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Dilation by a ball of ``radius_mm`` via the Euclidean distance transform."""
    if radius_mm <= 0:
        return mask.copy()
    if not mask.any():
        return mask.copy()
    sl = padded_bbox(mask, radius_mm, spacing)
    sub = mask[sl]
    dist = ndi.distance_transform_edt(~sub, sampling=spacing)
    out = np.zeros_like(mask)
    out[sl] = dist <= radius_mm + 1e-6
    return out



def erode(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Erosion by a ball of ``radius_mm``; voxels beyond the array edge count as inside."""
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    sl = padded_bbox(mask, 0.0, spacing)
    sub = mask[sl]
    dist = ndi.distance_transform_edt(sub, sampling=spacing)
    out = np.zeros_like(mask)
    out[sl] = dist > radius_mm + 1e-6
    return out



def opening(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Opening by a ball of ``radius_mm``: erosion then dilation (removes parts thinner than the ball)."""
    return dilate(erode(mask, radius_mm, spacing), radius_mm, spacing)



def closing(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Closing by a ball; computed on a padded copy of the mask's box so the array edge does not bite."""
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    pad = np.ceil(radius_mm / spacing).astype(int) + 1
    box = padded_bbox(mask, 0.0, spacing)
    sub = np.pad(mask[box], [(p, p) for p in pad])
    grown = ndi.distance_transform_edt(~sub, sampling=spacing) <= radius_mm + 1e-6
    closed = ndi.distance_transform_edt(grown, sampling=spacing) > radius_mm + 1e-6
    out = mask.copy()
    out[box] |= closed[tuple(slice(p, p + (b.stop - b.start)) for p, b in zip(pad, box, strict=True))]
    return out



def padded_bbox(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``mask`` grown by ``radius_mm`` plus one voxel, clipped to the array."""
    coords = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    pad = np.ceil(radius_mm / spacing).astype(int) + 1
    return tuple(
        slice(max(int(c[0]) - p, 0), min(int(c[-1]) + p + 1, n))
        for c, p, n in zip(coords, pad, mask.shape, strict=True)
    )



def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component (face connectivity) of ``mask``."""
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask.astype(bool)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(np.argmax(counts))



def component_at(mask: np.ndarray, index: Sequence[int | np.integer]) -> np.ndarray:
    """The connected component (26-connectivity) of ``mask`` containing ``index``."""
    labels, _ = ndi.label(mask, structure=np.ones((3, 3, 3), bool))
    value = labels[tuple(index)]
    if value == 0:
        return np.zeros_like(mask, dtype=bool)
    return labels == value
