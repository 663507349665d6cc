"""Even-odd polygon filling on a pixel grid (used to rasterize RTSTRUCT contours)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fill_even_odd"]


def fill_even_odd(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Fill closed polygons with the even-odd rule, sampled at pixel centres.

    Parameters
    ----------
    polygons:
        Each an (N, 2) array of vertices in continuous pixel index coordinates
        ``(row j, column i)``; pixel ``(j, i)`` has its centre at ``(j, i)``.
        Polygons are closed implicitly (last vertex joins the first).
    shape:
        ``(rows, columns)`` of the output.

    Returns
    -------
    numpy.ndarray
        Boolean (rows, columns): a pixel is inside when a ray from its centre
        towards −i crosses the polygon edges an odd number of times, counting
        all polygons together. A contour inside another is therefore a hole,
        and one inside that hole an island again.

    Notes
    -----
    Edges are half-open in both directions (a row ``j`` meets an edge when
    ``min(j0, j1) <= j < max(j0, j1)``, a crossing at ``x`` toggles the pixels
    with ``i > x``), so vertices on a row are never counted twice and adjacent
    polygons sharing an edge do not overlap: the filled pixel count of an
    axis-aligned rectangle with corners on pixel centres equals its area in
    pixels.
    """
    ny, nx = int(shape[0]), int(shape[1])
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for poly in polygons:
        p = np.asarray(poly, dtype=float).reshape(-1, 2)
        if len(p) < 3:
            continue
        starts.append(p)
        ends.append(np.roll(p, -1, axis=0))
    if not starts:
        return np.zeros((ny, nx), dtype=bool)
    a = np.concatenate(starts)
    b = np.concatenate(ends)
    j0, i0, j1, i1 = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    keep = j0 != j1  # horizontal edges never cross a row ray
    j0, i0, j1, i1 = j0[keep], i0[keep], j1[keep], i1[keep]
    lo = np.ceil(np.minimum(j0, j1))
    hi = np.ceil(np.maximum(j0, j1))  # rows lo .. hi-1
    lo = np.clip(lo, 0, ny)
    hi = np.clip(hi, 0, ny)
    counts = (hi - lo).astype(np.int64)
    counts[counts < 0] = 0
    total = int(counts.sum())
    if total == 0:
        return np.zeros((ny, nx), dtype=bool)
    edge = np.repeat(np.arange(len(counts)), counts)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = lo[edge] + (np.arange(total) - offsets[edge])
    t = (rows - j0[edge]) / (j1[edge] - j0[edge])
    x = i0[edge] + t * (i1[edge] - i0[edge])
    first = np.clip(np.floor(x).astype(np.int64) + 1, 0, nx)  # first pixel centre with i > x
    flat = rows.astype(np.int64) * (nx + 1) + first
    toggles = np.bincount(flat, minlength=ny * (nx + 1)).reshape(ny, nx + 1)
    parity = np.cumsum(toggles, axis=1)[:, :nx] & 1
    return parity.astype(bool)
