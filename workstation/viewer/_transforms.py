"""Registration transforms as layer affines (no resampling of the fixed image)."""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.volume import Volume

#: A transform is taken as linear when it matches its affine fit within this
#: distance (mm) at test points spread over ±500 mm: far below any voxel size.
_LINEARITY_TOLERANCE_MM = 1e-3


def _transform_points(transform: Any, points: np.ndarray) -> np.ndarray:
    return np.array([transform.TransformPoint(tuple(float(c) for c in p)) for p in points])


def affine_from_linear_transform(transform: Any, moving: Volume) -> np.ndarray | None:
    """The 4×4 LPS map moving space → fixed space of a linear ITK transform, or None.

    ``transform`` follows the ITK convention (fixed-space points to moving-space
    points), so a moving voxel at ``p`` lies at ``T⁻¹(p)`` in the fixed space;
    the returned matrix is ``T⁻¹``. Any SimpleITK transform is accepted: its
    affine is fitted from point images around the moving volume, and ``None``
    is returned when it is not affine (a deformable transform).
    """
    centre = moving.index_to_world((np.array(moving.shape) - 1) / 2.0)
    basis = np.vstack([centre, centre + np.eye(3) * 100.0])
    mapped = _transform_points(transform, basis)
    linear = (mapped[1:] - mapped[0]).T / 100.0
    forward = np.eye(4)
    forward[:3, :3] = linear
    forward[:3, 3] = mapped[0] - linear @ centre
    rng = np.random.default_rng(0)
    probes = centre + rng.uniform(-500.0, 500.0, size=(16, 3))
    expected = probes @ linear.T + forward[:3, 3]
    if np.max(np.abs(_transform_points(transform, probes) - expected)) > _LINEARITY_TOLERANCE_MM:
        return None
    if abs(np.linalg.det(linear)) < 1e-9:
        return None
    return np.linalg.inv(forward)


def resample_on_reference_extent(moving: Volume, reference: Volume, transform: Any) -> Volume:
    """Resample ``moving`` through ``transform`` onto a grid covering ``reference``.

    The grid is aligned with the LPS axes (so napari slices it exactly), spans
    ``reference``'s bounding box and has ``moving``'s voxel size (so a coarse
    SPECT stays coarse: no CT-sized copy is made).
    """
    from workstation.core.volume import affine_from_geometry

    spacing_xyz = moving.spacing_mm[::-1]
    lo, hi = reference.bounding_box_world()
    size_xyz = np.maximum(np.ceil((hi - lo) / spacing_xyz - 1e-6).astype(int), 1)
    grid = Volume(
        np.zeros(tuple(int(s) for s in size_xyz[::-1]), dtype=np.uint8),
        affine_from_geometry(lo + spacing_xyz / 2.0, spacing_xyz[::-1]),
    )
    return moving.resample_to(grid, interpolation="linear", transform=transform)


def slice_display_error_mm(world_from_index: np.ndarray, shape: tuple[int, ...]) -> float:
    """Worst displacement (mm) napari's axial slicing makes for a layer affine.

    napari draws a 2D data slice with only the in-plane part of the layer
    affine: the out-of-slice couplings are dropped. Over the data extent that
    moves a voxel by up to |A01| (ny-1) + |A02| (nx-1) along z (depth) and by
    up to (|A10| + |A20|) (nz-1) in the plane. Both are 0 for axis-aligned
    grids and rotations about z.
    """
    a = np.asarray(world_from_index, dtype=float)[:3, :3]
    nz, ny, nx = (max(int(n) - 1, 0) for n in shape)
    depth = abs(a[0, 1]) * ny + abs(a[0, 2]) * nx
    plane = (abs(a[1, 0]) + abs(a[2, 0])) * nz
    return float(max(depth, plane))


def slices_exactly(world_from_index: np.ndarray, shape: tuple[int, ...], spacing_mm: np.ndarray) -> bool:
    """True when napari's axial slicing of the layer is exact to a tenth of a voxel."""
    tolerance = 0.1 * float(np.min(spacing_mm))
    return slice_display_error_mm(world_from_index, shape) <= tolerance


def resample_axis_aligned(volume: Volume, fixed_from_moving: np.ndarray) -> Volume:
    """Resample ``volume`` onto an LPS-axis-aligned grid after a linear map.

    The grid covers the mapped voxel extent at the volume's own voxel size, so
    a coarse SPECT stays small. ``fixed_from_moving`` maps the volume's LPS
    points to their place in the displayed (fixed) space.
    """
    import SimpleITK as sitk

    corners = volume.corners_world()
    mapped = corners @ fixed_from_moving[:3, :3].T + fixed_from_moving[:3, 3]
    spacing_xyz = volume.spacing_mm[::-1]  # keep each array axis's spacing on its LPS axis
    lo, hi = mapped.min(axis=0), mapped.max(axis=0)
    size_xyz = np.maximum(np.ceil((hi - lo) / spacing_xyz).astype(int), 1)
    origin = lo + spacing_xyz / 2.0
    from workstation.core.volume import affine_from_geometry

    grid = Volume(
        np.zeros(tuple(int(s) for s in size_xyz[::-1]), dtype=np.uint8),
        affine_from_geometry(origin, spacing_xyz[::-1]),
    )
    moving_from_fixed = np.linalg.inv(fixed_from_moving)
    tx = sitk.AffineTransform(3)
    tx.SetMatrix(tuple(float(v) for v in moving_from_fixed[:3, :3].ravel()))
    tx.SetTranslation(tuple(float(v) for v in moving_from_fixed[:3, 3]))
    return volume.resample_to(grid, interpolation="linear", transform=tx)
