"""The working grid: a coarser grid over a box of the CT, and the smooth way back.

Segmentation runs on a grid of about 1.5-2 mm voxels inside the region's box
(the CT block-averaged by integer factors, which is an anti-aliased, noise-
reducing downsampling), and the result comes back to the CT grid as a
continuous field (an inside fraction or a level-set function) interpolated
linearly and thresholded, not as nearest-neighbour labels. Working voxel
``w`` along an axis covers CT voxels ``start + f*w ... start + f*w + f - 1``,
so its centre is at CT index ``start + f*w + (f - 1)/2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workstation.core.volume import Volume

__all__ = ["WorkingGrid", "bbox_slices"]


def bbox_slices(mask: np.ndarray, margin: Sequence[int] | np.ndarray | int = 0) -> tuple[slice, ...] | None:
    """Slices of the bounding box of ``mask`` grown by ``margin`` voxels (clipped), or None when empty."""
    if not mask.any():
        return None
    margins = [int(margin)] * mask.ndim if isinstance(margin, int | np.integer) else [int(m) for m in margin]
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(int(idx[0]) - margins[ax], 0), min(int(idx[-1]) + margins[ax] + 1, mask.shape[ax])))
    return tuple(out)


class WorkingGrid:
    """Block-averaging grid over a box of a volume's index space.

    Parameters
    ----------
    shape:
        Shape (z, y, x) of the full-resolution array.
    spacing_mm:
        Its voxel spacing (z, y, x), mm.
    target_mm:
        Wanted working spacing (mm); each axis gets the integer factor
        ``max(1, round(target_mm / spacing))``, so an axis already coarser than
        the target is kept as it is.
    box:
        Region (slices of the full array) the grid covers; the whole array by default.
    """

    def __init__(
        self,
        shape: Sequence[int],
        spacing_mm: Sequence[float] | np.ndarray,
        target_mm: float,
        box: tuple[slice, ...] | None = None,
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.spacing_mm = np.asarray(spacing_mm, dtype=float)
        if box is None:
            box = tuple(slice(0, n) for n in self.shape)
        self.box = tuple(slice(int(s.start or 0), int(s.stop if s.stop is not None else n)) for s, n in zip(box, self.shape, strict=True))
        self.box_shape = tuple(s.stop - s.start for s in self.box)
        factor = np.maximum(1, np.rint(target_mm / self.spacing_mm)).astype(int)
        # keep at least a few working voxels along every axis (thin stacks, small boxes)
        factor = np.minimum(factor, np.maximum(1, np.array(self.box_shape) // 4))
        self.factor = tuple(int(f) for f in factor)
        self.working_shape = tuple(-(-n // f) for n, f in zip(self.box_shape, self.factor, strict=True))
        self.working_spacing_mm = self.spacing_mm * np.array(self.factor)

    # ------------------------------------------------------------ geometry
    def working_affine(self, affine: np.ndarray) -> np.ndarray:
        """Index→LPS affine of the working grid, given the full grid's affine."""
        f = np.array(self.factor, dtype=float)
        start = np.array([s.start for s in self.box], dtype=float)
        scale = np.eye(4)
        scale[:3, :3] = np.diag(f)
        scale[:3, 3] = start + (f - 1.0) / 2.0
        return np.asarray(affine, dtype=float) @ scale

    def working_volume(self, volume: Volume, array: np.ndarray | None = None) -> Volume:
        """``volume`` (or ``array`` on the working grid) as a Volume on the working grid."""
        data = self.downsample(volume.array) if array is None else array
        return volume.copy_with(array=data, affine=self.working_affine(volume.affine))

    def to_working_index(self, index: Sequence[float] | np.ndarray) -> np.ndarray:
        """Continuous working-grid index of a full-grid index (k, j, i)."""
        f = np.array(self.factor, dtype=float)
        start = np.array([s.start for s in self.box], dtype=float)
        return (np.asarray(index, dtype=float) - start - (f - 1.0) / 2.0) / f

    def nearest_working_index(self, index: Sequence[float] | np.ndarray) -> tuple[int, int, int]:
        w = np.clip(np.rint(self.to_working_index(index)), 0, np.array(self.working_shape) - 1).astype(int)
        return (int(w[0]), int(w[1]), int(w[2]))

    # ------------------------------------------------------------ full -> working
    def downsample(self, array: np.ndarray) -> np.ndarray:
        """Block mean (float32) of ``array[box]``; a partial block at the end averages what it holds."""
        sub = np.asarray(array)[self.box]
        if sub.dtype == bool:
            sub = sub.view(np.uint8)
        if all(f == 1 for f in self.factor):
            return np.ascontiguousarray(sub, dtype=np.float32)
        # the first reduction reads the stored integers and sums in float32 (no float copy of the CT)
        out = sub
        for ax, f in enumerate(self.factor):
            if f == 1:
                continue
            n = out.shape[ax]
            whole = (n // f) * f
            head = out[(slice(None),) * ax + (slice(0, whole),)]
            shape = list(out.shape)
            shape[ax : ax + 1] = [n // f, f]
            parts = [head.reshape(shape).mean(axis=ax + 1, dtype=np.float32)]
            if whole < n:  # a partial block at the end: the mean of what it holds
                parts.append(out[(slice(None),) * ax + (slice(whole, n),)].mean(axis=ax, keepdims=True, dtype=np.float32))
            out = np.concatenate(parts, axis=ax) if len(parts) > 1 else parts[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    # ------------------------------------------------------------ working -> full
    def _axis_weights(self, ax: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower working index and weight of the upper neighbour for ``count`` full-grid positions of ``ax``."""
        f = self.factor[ax]
        pos = (np.arange(count, dtype=float) - (f - 1.0) / 2.0) / f
        n = self.working_shape[ax]
        pos = np.clip(pos, 0.0, n - 1.0)
        lower = np.minimum(np.floor(pos).astype(np.intp), max(n - 2, 0))
        weight = (pos - lower).astype(np.float32)
        if n == 1:
            weight[:] = 0.0
        return lower, weight

    def upsample(self, field: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of a working-grid field onto the box of the full grid (float32)."""
        out = np.asarray(field, dtype=np.float32)
        for ax in range(3):
            lower, w = self._axis_weights(ax, self.box_shape[ax])
            upper = np.minimum(lower + 1, self.working_shape[ax] - 1)
            shape = [1, 1, 1]
            shape[ax] = len(w)
            wr = w.reshape(shape)
            out = np.take(out, lower, axis=ax) * (1.0 - wr) + np.take(out, upper, axis=ax) * wr
        return out

    def threshold_full(self, field: np.ndarray, level: float = 0.5) -> np.ndarray:
        """Full-size boolean array: ``field`` interpolated trilinearly onto the CT grid, ``>= level``.

        Only CT voxels whose eight surrounding working voxels disagree are
        interpolated; the others take their common side. Outside the box the
        result is False.
        """
        field = np.asarray(field, dtype=np.float32)
        out = np.zeros(self.shape, dtype=bool)
        inside = field >= level
        if not inside.any():
            return out
        # the working voxels that matter: the inside ones and their neighbours
        sl = bbox_slices(inside, 1)
        assert sl is not None
        lo, hi, wt, fine_sl = [], [], [], []
        for ax in range(3):
            lower, w = self._axis_weights(ax, self.box_shape[ax])
            keep = np.flatnonzero((lower >= sl[ax].start) & (lower < sl[ax].stop))
            part = slice(int(keep[0]), int(keep[-1]) + 1)
            fine_sl.append(part)
            lo.append(lower[part])
            hi.append(np.minimum(lower[part] + 1, self.working_shape[ax] - 1))
            wt.append(w[part])
        # cell state of each working voxel l (its cell spans l .. l + 1):
        # all eight corners inside (1), all outside (0), or mixed (2)
        n = inside.shape
        corners = [
            inside[np.ix_(*[np.minimum(np.arange(sl[a].start, sl[a].stop) + d[a], n[a] - 1) for a in range(3)])]
            for d in np.ndindex(2, 2, 2)
        ]
        state = np.where(np.logical_and.reduce(corners), 1, np.where(np.logical_or.reduce(corners), 2, 0))
        state = state.astype(np.uint8)
        fine_state = state[np.ix_(*[lo[a] - sl[a].start for a in range(3)])]
        result = fine_state == 1
        mixed = np.nonzero(fine_state == 2)
        if mixed[0].size:
            k, j, i = mixed
            z0, y0, x0 = lo[0][k], lo[1][j], lo[2][i]
            z1, y1, x1 = hi[0][k], hi[1][j], hi[2][i]
            wz, wy, wx = wt[0][k], wt[1][j], wt[2][i]
            value = (
                (field[z0, y0, x0] * (1 - wx) + field[z0, y0, x1] * wx) * (1 - wy) * (1 - wz)
                + (field[z0, y1, x0] * (1 - wx) + field[z0, y1, x1] * wx) * wy * (1 - wz)
                + (field[z1, y0, x0] * (1 - wx) + field[z1, y0, x1] * wx) * (1 - wy) * wz
                + (field[z1, y1, x0] * (1 - wx) + field[z1, y1, x1] * wx) * wy * wz
            )
            result[k, j, i] = value >= level
        target = tuple(
            slice(b.start + s.start, b.start + s.stop) for b, s in zip(self.box, fine_sl, strict=True)
        )
        out[target] = result
        return out
