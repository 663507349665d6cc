"""A voxel grid without voxel values: shape, index->LPS affine and frame of reference.

:class:`Grid` is what a resampling target, a working grid or a crop box needs;
before it existed, code built placeholder ``Volume(np.zeros(...))`` objects just
to carry a shape and an affine. A :class:`~workstation.core.volume.Volume` has a
grid (``volume.grid``) and delegates its geometry to it. Model: highdicom's
``VolumeGeometry``.

Conventions are those of :mod:`workstation.core.volume`: axes (z, y, x), the
affine maps an index ``(k, j, i, 1)`` to LPS millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.core.errors import GeometryMismatchError

__all__ = ["Grid", "affine_from_geometry"]


def affine_from_geometry(
    origin_lps_mm: Any,
    spacing_zyx_mm: Any,
    direction_zyx: Any | None = None,
) -> np.ndarray:
    """Build an index→LPS affine.

    Parameters
    ----------
    origin_lps_mm:
        Patient position (mm, LPS) of the centre of voxel ``(0, 0, 0)``.
    spacing_zyx_mm:
        Voxel spacing along array axes (z, y, x) in millimetres.
    direction_zyx:
        3×3 matrix whose *columns* are the unit vectors (LPS) of array axes
        0, 1, 2. ``None`` means axis 0→+z, axis 1→+y, axis 2→+x (an axial
        image in the usual DICOM orientation).
    """
    if direction_zyx is None:
        direction_zyx = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    direction = np.asarray(direction_zyx, dtype=float).reshape(3, 3)
    spacing = np.asarray(spacing_zyx_mm, dtype=float).reshape(3)
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing[np.newaxis, :]
    affine[:3, 3] = np.asarray(origin_lps_mm, dtype=float).reshape(3)
    return affine


def _check_affine(affine: np.ndarray) -> np.ndarray:
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise GeometryMismatchError(f"The affine must be 4x4, but it has shape {affine.shape}.")
    if not np.all(np.isfinite(affine)):
        raise GeometryMismatchError("The affine contains non-finite values.")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise GeometryMismatchError("The affine is singular (zero spacing or degenerate axes).")
    return affine


@dataclass(frozen=True, eq=False)
class Grid:
    """A 3D voxel grid in patient space.

    Parameters
    ----------
    shape:
        Number of voxels along (z, y, x).
    affine:
        4×4 map from array index (k, j, i) to patient LPS millimetres.
    frame_of_reference_uid:
        DICOM Frame of Reference UID, or ``None`` when unknown.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    frame_of_reference_uid: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryMismatchError(f"A grid needs three positive sizes (z, y, x), got {self.shape}.")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "affine", _check_affine(self.affine))

    @classmethod
    def _trusted(cls, shape: tuple[int, int, int], affine: np.ndarray, frame_of_reference_uid: str | None) -> Grid:
        """A grid from a shape and affine already checked (a volume's), without checking them again."""
        grid = object.__new__(cls)
        object.__setattr__(grid, "shape", shape)
        object.__setattr__(grid, "affine", affine)
        object.__setattr__(grid, "frame_of_reference_uid", frame_of_reference_uid)
        return grid

    @classmethod
    def from_geometry(
        cls, shape: Any, origin_lps_mm: Any, spacing_zyx_mm: Any, direction_zyx: Any | None = None,
        frame_of_reference_uid: str | None = None,
    ) -> Grid:
        """A grid from its origin (centre of voxel 0), spacing (z, y, x) and direction columns."""
        return cls(tuple(shape), affine_from_geometry(origin_lps_mm, spacing_zyx_mm, direction_zyx),
                   frame_of_reference_uid)

    # ------------------------------------------------------------ geometry
    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel spacing along (z, y, x) in millimetres."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def direction(self) -> np.ndarray:
        """3×3 matrix whose columns are the LPS unit vectors of array axes 0, 1, 2."""
        return self.affine[:3, :3] / self.spacing_mm[np.newaxis, :]

    @property
    def origin_mm(self) -> np.ndarray:
        """LPS position (mm) of the centre of voxel (0, 0, 0)."""
        return self.affine[:3, 3].copy()

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm³)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    def index_to_world(self, index_zyx: Any) -> np.ndarray:
        """Map array indices (…, 3) in (k, j, i) order to LPS millimetres (…, 3)."""
        idx = np.asarray(index_zyx, dtype=float)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, points_lps_mm: Any) -> np.ndarray:
        """Map LPS millimetres (…, 3) to continuous array indices (k, j, i)."""
        pts = np.asarray(points_lps_mm, dtype=float)
        inv = np.linalg.inv(self.affine)
        return pts @ inv[:3, :3].T + inv[:3, 3]

    def corners_world(self) -> np.ndarray:
        """The 8 outer corners (voxel edges, not centres) of the grid in LPS mm."""
        nz, ny, nx = self.shape
        corners = np.array(
            [[k, j, i] for k in (-0.5, nz - 0.5) for j in (-0.5, ny - 0.5) for i in (-0.5, nx - 0.5)]
        )
        return self.index_to_world(corners)

    def bounding_box_world(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS bounding box (min, max) of the voxel extent in mm."""
        c = self.corners_world()
        return c.min(axis=0), c.max(axis=0)

    def same_grid(self, other: Grid | Any, atol_mm: float = 1e-3) -> bool:
        """True when both have the same shape and (within ``atol_mm``) affine."""
        return tuple(self.shape) == tuple(other.shape) and bool(
            np.allclose(self.affine, other.affine, atol=atol_mm, rtol=0)
        )

    def overlaps(self, other: Grid | Any) -> bool:
        """True when the voxel extents intersect in patient space.

        The test samples ``other``'s extent in this grid's index space, so it is
        exact for parallel grids and conservative for oblique ones.
        """
        idx = self.world_to_index(other.corners_world())
        lo, hi = idx.min(axis=0), idx.max(axis=0)
        upper = np.array(self.shape) - 0.5
        return bool(np.all(hi > -0.5) and np.all(lo < upper))

    # ------------------------------------------------------ derived grids
    def crop(self, index_box: tuple[slice, slice, slice]) -> Grid:
        """The sub-grid of the index box (slices with step 1, clipped to the grid)."""
        starts, stops = _box_bounds(index_box, self.shape)
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_world(starts)
        shape = (stops[0] - starts[0], stops[1] - starts[1], stops[2] - starts[2])
        return Grid(shape, affine, self.frame_of_reference_uid)

    def box_of_world_points(self, points_lps_mm: Any, margin_voxels: int = 0) -> tuple[slice, slice, slice] | None:
        """The smallest index box of this grid holding every voxel a point falls in, plus a margin.

        ``None`` when no point falls inside the grid (after the margin).
        """
        idx = self.world_to_index(np.asarray(points_lps_mm, dtype=float).reshape(-1, 3))
        lo = np.floor(idx.min(axis=0) + 0.5).astype(int) - margin_voxels
        hi = np.floor(idx.max(axis=0) + 0.5).astype(int) + 1 + margin_voxels
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, self.shape)
        if np.any(hi <= lo):
            return None
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]

    def box_of(self, other: Grid | Any, index_box: tuple[slice, slice, slice] | None = None,
               margin_voxels: int = 1) -> tuple[slice, slice, slice] | None:
        """The index box of this grid that covers a box of ``other`` (all of it by default).

        The 8 outer corners of the other box are mapped into this grid, so the box
        is exact for parallel grids and conservative for oblique ones; ``None``
        when they do not meet.
        """
        sub = other.grid if hasattr(other, "grid") else other
        if index_box is not None:
            sub = sub.crop(index_box)
        return self.box_of_world_points(sub.corners_world(), margin_voxels=margin_voxels)

    def supersampled(self, factor: int) -> Grid:
        """The same extent with ``factor`` sub-voxels per voxel along each axis.

        Sub-voxel ``(factor*k + a, ...)`` lies inside voxel ``k``, so a block mean over
        ``factor``³ sub-voxels gives the voxel's partial-volume fraction.
        """
        n = int(factor)
        if n < 1:
            raise GeometryMismatchError(f"A supersampling factor must be a positive integer, got {factor}.")
        sp = self.spacing_mm
        origin = self.origin_mm + self.direction @ (-(n - 1) / (2.0 * n) * sp)
        return Grid.from_geometry(tuple(s * n for s in self.shape), origin, sp / n, self.direction,
                                  self.frame_of_reference_uid)

    def coarsened(self, factor: int) -> Grid:
        """The same field of view with voxels ``factor`` times larger along each axis (rounded up)."""
        n = int(factor)
        if n < 1:
            raise GeometryMismatchError(f"A coarsening factor must be a positive integer, got {factor}.")
        if n == 1:
            return self
        shape = tuple(-(-s // n) for s in self.shape)
        spacing = self.spacing_mm * n
        origin = self.origin_mm + self.direction @ ((n - 1) / 2.0 * self.spacing_mm)
        return Grid.from_geometry(shape, origin, spacing, self.direction, self.frame_of_reference_uid)

    def with_spacing(self, spacing_zyx_mm: Any) -> Grid:
        """A grid of the same orientation covering (at least) this extent with another spacing.

        The first voxel's outer corner stays where it is; the voxel count is rounded up.
        """
        new = np.asarray(spacing_zyx_mm, dtype=float).reshape(3)
        if np.any(new <= 0) or not np.all(np.isfinite(new)):
            raise GeometryMismatchError(f"A spacing must be positive and finite, got {new.tolist()} mm.")
        old = self.spacing_mm
        extent = np.array(self.shape) * old
        shape = tuple(int(np.ceil(e / s - 1e-9)) for e, s in zip(extent, new, strict=True))
        corner = self.origin_mm - self.direction @ (old / 2.0)
        origin = corner + self.direction @ (new / 2.0)
        return Grid.from_geometry(shape, origin, new, self.direction, self.frame_of_reference_uid)

    # ------------------------------------------------------------ SimpleITK
    def to_sitk_reference(self) -> Any:
        """A SimpleITK image of this geometry (uint8 zeros) to use as a resampling reference."""
        import SimpleITK as sitk

        image = sitk.Image([int(s) for s in self.shape[::-1]], sitk.sitkUInt8)
        self.set_sitk_geometry(image)
        return image

    def set_sitk_geometry(self, image: Any) -> None:
        """Give a SimpleITK image of this size this grid's spacing, origin and direction.

        SimpleITK orders spacing and direction columns (x, y, z): the one place the
        (z, y, x) axes of the project are reversed for it.
        """
        image.SetSpacing(tuple(float(s) for s in self.spacing_mm[::-1]))
        image.SetOrigin(tuple(float(o) for o in self.origin_mm))
        image.SetDirection(tuple(float(d) for d in self.direction[:, ::-1].ravel()))

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing_mm)
        org = ", ".join(f"{o:.4g}" for o in self.origin_mm)
        return f"Grid(shape={self.shape}, spacing_mm=({sp}), origin_mm=({org}))"


def _box_bounds(index_box: tuple[slice, slice, slice], shape: tuple[int, int, int]) -> tuple[list[int], list[int]]:
    """Start and stop of each axis of an index box, clipped to ``shape``; steps must be 1."""
    if len(index_box) != 3:
        raise GeometryMismatchError(f"An index box has three slices (z, y, x), got {len(index_box)}.")
    starts, stops = [], []
    for s, n in zip(index_box, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise GeometryMismatchError(f"An index box needs slices with step 1, got step {step}.")
        if stop <= start:
            raise GeometryMismatchError(f"The index box {index_box} is empty on a grid of shape {shape}.")
        starts.append(start)
        stops.append(stop)
    return starts, stops
