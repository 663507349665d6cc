"""Transforms: reading, writing, applying them to points, images and masks.

Every transform here follows the ITK convention: it maps points of the FIXED
(reference) space to points of the MOVING space, in LPS millimetres. Resampling
a moving image onto a reference grid uses it as it is; moving a point drawn on
the moving image into the fixed space needs its inverse (``inverse=True``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from workstation.core.errors import EmptyMaskError, InvalidInputError, NoOverlapError
from workstation.core.grid import Grid
from workstation.core.volume import Unit, Volume
from workstation.io._atomic import atomic_path

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "affine_parameters",
    "jacobian_determinant",
    "linear_inverse",
    "read_landmarks",
    "rotation_deg",
    "read_transform",
    "transform_points",
    "transform_volume",
    "write_transform",
]

Interpolation = Literal["linear", "nearest", "partial"]

#: Fill value (HU) of CT voxels that map outside the moving image: air.
_CT_FILL_HU = -1000.0


def read_transform(path: str | os.PathLike[str]) -> sitk.Transform:
    """Read an ITK transform file (``.tfm``, ``.txt``, ``.h5``).

    Parameters
    ----------
    path:
        The file written by :func:`write_transform` or any ITK tool (3D Slicer,
        ANTs, plastimatch). It maps fixed-space points to moving-space points (mm).
    """
    import SimpleITK as sitk

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such transform file.")
    try:
        tx = sitk.ReadTransform(str(p))
    except RuntimeError:
        raise InvalidInputError(f"{p}: cannot be read as an ITK transform file.") from None
    if tx.GetDimension() != 3:
        raise InvalidInputError(f"{p}: a 3D transform is needed, but it is {tx.GetDimension()}D.")
    return tx


def write_transform(transform: sitk.Transform, path: str | os.PathLike[str]) -> Path:
    """Write an ITK transform file atomically (text ``.tfm`` unless the ending says ``.h5``)."""
    import SimpleITK as sitk

    target = Path(path)
    with atomic_path(target) as tmp:
        sitk.WriteTransform(transform, str(tmp))
    return target


def affine_parameters(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """Matrix ``A`` (3×3) and offset ``b`` (mm) of a linear transform ``y = A x + b``.

    Computed numerically from four points, so it works for every linear ITK
    transform type (Euler, versor, similarity, affine, composites of them).
    For a non-linear transform this is the tangent at the origin, not a fit.
    """
    pts = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 100.0]])
    out = np.array([transform.TransformPoint(tuple(p)) for p in pts])
    b = out[0]
    a = (out[1:] - b).T / 100.0
    return a, b


def rotation_deg(a: np.ndarray) -> float:
    """Rotation angle (degrees) of the orthonormalised part of a 3×3 matrix."""
    u, _, vt = np.linalg.svd(a)
    r = u @ vt
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def linear_inverse(transform: sitk.Transform) -> sitk.Transform:
    """The exact inverse of a linear transform, as an ITK affine transform."""
    import SimpleITK as sitk

    a, b = affine_parameters(transform)
    a_inv = np.linalg.inv(a)
    inv = sitk.AffineTransform(3)
    inv.SetMatrix(tuple(float(v) for v in a_inv.ravel()))
    inv.SetTranslation(tuple(float(v) for v in -a_inv @ b))
    return inv


def _is_linear(transform: sitk.Transform) -> bool:
    try:
        return bool(transform.IsLinear())
    except AttributeError:  # pragma: no cover - older SimpleITK
        return False


def transform_points(
    points_lps: np.ndarray,
    transform: sitk.Transform,
    inverse: bool = False,
    tolerance_mm: float = 1e-3,
    max_iterations: int = 50,
) -> np.ndarray:
    """Map points (…, 3) in LPS millimetres through a transform.

    Parameters
    ----------
    points_lps:
        Points in the fixed space (or in the moving space with ``inverse=True``), mm.
    transform:
        A SimpleITK transform mapping fixed-space points to moving-space points.
    inverse:
        Map moving-space points to the fixed space instead. Linear transforms are
        inverted exactly; others by a fixed-point iteration preconditioned with
        the transform's linear part, to ``tolerance_mm``.
    """
    pts = np.asarray(points_lps, dtype=float)
    if pts.shape[-1] != 3:
        raise InvalidInputError(f"Points must have 3 coordinates (x, y, z), but they have {pts.shape[-1]}.")
    flat = pts.reshape(-1, 3)
    if _is_linear(transform):
        a, b = affine_parameters(transform)
        out = (flat - b) @ np.linalg.inv(a).T if inverse else flat @ a.T + b
        return out.reshape(pts.shape)

    def forward(p: np.ndarray) -> np.ndarray:
        return np.array([transform.TransformPoint(tuple(q)) for q in p]).reshape(-1, 3)

    if not inverse:
        return forward(flat).reshape(pts.shape)
    return _invert_points(forward, flat, tolerance_mm, max_iterations).reshape(pts.shape)


def _invert_points(forward, targets: np.ndarray, tolerance_mm: float, max_iterations: int) -> np.ndarray:
    """Solve ``forward(x) = targets`` for x by a preconditioned fixed-point iteration."""
    if targets.size == 0:
        return targets.copy()
    # Linear part from a least-squares fit of the transform around the targets.
    probe = np.concatenate([targets, targets + np.array([[20.0, 0, 0]]), targets + np.array([[0, 20.0, 0]]),
                            targets + np.array([[0, 0, 20.0]])])[: max(4, min(4 * len(targets), 400))]
    image = forward(probe)
    design = np.c_[probe, np.ones(len(probe))]
    coef, *_ = np.linalg.lstsq(design, image, rcond=None)
    a = coef[:3].T
    if abs(np.linalg.det(a)) < 1e-9:
        a = np.eye(3)
    a_inv = np.linalg.inv(a)
    x = (targets - coef[3]) @ a_inv.T
    active = np.ones(len(x), dtype=bool)
    for _ in range(max_iterations):
        residual = targets[active] - forward(x[active])
        x[active] += residual @ a_inv.T
        err = np.linalg.norm(residual, axis=1)
        still = err > tolerance_mm
        idx = np.flatnonzero(active)
        active[idx[~still]] = False
        if not active.any():
            break
    return x


def transform_volume(
    moving: Volume,
    reference: Volume,
    transform: sitk.Transform | None,
    interpolation: Interpolation | None = None,
    fill_value: float | None = None,
    supersampling: int = 3,
    label: int | None = None,
) -> Volume:
    """Resample a moving image or mask onto the reference grid through a transform.

    Parameters
    ----------
    moving:
        Image or mask in the moving space.
    reference:
        Volume whose grid (fixed space) the result takes.
    transform:
        SimpleITK transform mapping reference-space points to moving-space
        points (ITK convention); ``None`` means identity (same patient space).
    interpolation:
        ``"linear"`` for images; ``"nearest"`` for masks and labels (label
        values kept). By default it follows what ``moving`` is (as
        :meth:`Volume.resample_to`): ``"nearest"`` for a label image or a boolean
        array, ``"linear"`` otherwise, so labels are never blended by accident; ``"partial"`` for the partial-volume fraction (0–1) of each
        reference voxel inside the mask, computed by resampling the mask as a
        float with linear interpolation on a grid ``supersampling``³ finer than
        the reference and averaging the sub-voxels.
    fill_value:
        Value where the reference voxel maps outside the moving image. Default:
        -1000 HU for CT images, 0 otherwise.
    supersampling:
        Sub-voxels per axis for ``"partial"``.
    label:
        For ``"partial"``: the label value whose fraction is computed (default:
        any non-zero label).

    Returns
    -------
    Volume
        On the reference grid, with the reference frame of reference. Images
        are float32; ``"nearest"`` keeps the mask dtype and label names;
        ``"partial"`` gives float32 with ``units=Unit.FRACTION``.
    """
    import SimpleITK as sitk

    if interpolation is None:
        interpolation = "nearest" if moving.is_label() or moving.array.dtype == bool else "linear"
    if interpolation not in ("linear", "nearest", "partial"):
        raise InvalidInputError(
            f"Unknown interpolation {interpolation!r}; use 'linear', 'nearest' or 'partial'."
        )
    tx = transform if transform is not None else sitk.Transform()
    if fill_value is None:
        fill_value = _CT_FILL_HU if (moving.units == Unit.HU and interpolation == "linear") else 0.0
    changes = {"frame_of_reference_uid": reference.frame_of_reference_uid}
    if interpolation in ("linear", "nearest"):
        out = moving.resample_to(reference, interpolation=interpolation, fill_value=fill_value,
                                 transform=tx)
        out.frame_of_reference_uid = reference.frame_of_reference_uid
        return out
    if supersampling < 1:
        raise InvalidInputError(f"supersampling must be at least 1, but it is {supersampling}.")
    binary = (moving.array == label) if label is not None else (moving.array != 0)
    if not binary.any():
        raise EmptyMaskError(f"The mask {_name(moving)} is empty; nothing to resample.")
    src = moving.copy_with(array=binary.astype(np.float32), units=Unit.FRACTION, label_names={})
    s = int(supersampling)
    fraction = np.zeros(reference.shape, dtype=np.float32)
    src_img = src.to_sitk()
    # Support first: a linear resample at the reference resolution is non-zero wherever a
    # reference voxel centre lies within one moving voxel of the mask; padded by one voxel,
    # this box holds every voxel with a non-zero fraction, and only it is supersampled.
    support = sitk.GetArrayFromImage(
        sitk.Resample(src_img, reference.grid.to_sitk_reference(), tx, sitk.sitkLinear, 0.0)
    ) > 0
    if not support.any():
        return reference.copy_with(array=fraction, units=Unit.FRACTION, label_names={},
                                   modality=moving.modality, metadata=moving.copy_with().metadata,
                                   **changes)
    nzidx = np.argwhere(support)
    lo = np.maximum(nzidx.min(axis=0) - 1, 0)
    hi = np.minimum(nzidx.max(axis=0) + 2, reference.shape)
    _, ny, nx = (hi - lo).tolist()
    # Slabs of reference slices keep the supersampled grid under ~16 M voxels.
    slab = max(1, int(16_000_000 // max(1, ny * nx * s**3)))
    for k0 in range(int(lo[0]), int(hi[0]), slab):
        k1 = min(int(hi[0]), k0 + slab)
        slab_grid = reference.grid.crop((slice(k0, k1), slice(int(lo[1]), int(hi[1])), slice(int(lo[2]), int(hi[2]))))
        ref_img = slab_grid.supersampled(s).to_sitk_reference()
        fine = sitk.GetArrayFromImage(sitk.Resample(src_img, ref_img, tx, sitk.sitkLinear, 0.0))
        fraction[k0:k1, lo[1]:hi[1], lo[2]:hi[2]] = fine.reshape(k1 - k0, s, ny, s, nx, s).mean(
            axis=(1, 3, 5))
    return reference.copy_with(
        array=np.clip(fraction, 0.0, 1.0),
        units=Unit.FRACTION,
        label_names={},
        modality=moving.modality,
        metadata=moving.copy_with().metadata,
        **changes,
    )


def _name(volume: Volume) -> str:
    src = volume.metadata.source_path
    if src:
        return str(src)
    if volume.label_names:
        return "/".join(volume.label_names.values())
    return "(unnamed)"


def jacobian_determinant(transform: sitk.Transform, reference: Volume | Grid) -> Volume:
    """Jacobian determinant of a transform sampled on a reference grid (a grid, or a volume's grid).

    Values above 1 mean a fixed-space neighbourhood maps onto a larger moving
    region (local expansion of fixed→moving); below 0 means folding.

    ITK's filter differentiates along the grid's index axes and takes the
    determinant of I + du/ds as if those axes were the patient axes; on an
    oblique grid the displacement is first expressed along the grid axes
    (u' = D^T u, D the direction), which makes it det(I + du/dx). At the grid's
    outer faces ITK's one-sided differences underestimate the derivative.
    """
    import SimpleITK as sitk

    grid = reference.grid if isinstance(reference, Volume) else reference
    to_field = sitk.TransformToDisplacementFieldFilter()
    to_field.SetReferenceImage(grid.to_sitk_reference())
    to_field.SetOutputPixelType(sitk.sitkVectorFloat64)
    field = to_field.Execute(transform)
    direction_xyz = grid.direction[:, ::-1]  # columns: the x, y, z index axes in LPS
    if not np.allclose(direction_xyz, np.eye(3), atol=1e-9):
        arr = sitk.GetArrayFromImage(field)  # (z, y, x, 3), LPS components
        for k in range(arr.shape[0]):  # slab by slab: no second full-size copy
            arr[k] = np.einsum("yxc,ck->yxk", arr[k], direction_xyz)
        rotated = sitk.GetImageFromArray(arr, isVector=True)
        rotated.CopyInformation(field)
        field = rotated
    jac = sitk.DisplacementFieldJacobianDeterminant(field)
    arr = sitk.GetArrayFromImage(jac).astype(np.float32)
    return Volume(arr, grid.affine.copy(), frame_of_reference_uid=grid.frame_of_reference_uid)


def read_landmarks(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read landmark pairs from a CSV of LPS points in millimetres.

    The file has six columns per row: fixed x, y, z then moving x, y, z. A
    header row is allowed; with named columns ``fixed_x, fixed_y, fixed_z,
    moving_x, moving_y, moving_z`` the order does not matter.

    Returns
    -------
    (fixed, moving):
        Two (N, 3) arrays of LPS millimetres.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such landmark file.")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise InvalidInputError(f"{p}: the landmark file is empty.")
    names = ["fixed_x", "fixed_y", "fixed_z", "moving_x", "moving_y", "moving_z"]
    header = [c.strip().lower() for c in rows[0]]
    order = list(range(6))
    first_row = 1
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        rows = rows[1:]
        first_row = 2
        if all(n in header for n in names):
            order = [header.index(n) for n in names]
    values = []
    for number, row in enumerate(rows, start=first_row):
        try:
            values.append([float(row[i]) for i in order])
        except (ValueError, IndexError):
            raise InvalidInputError(
                f"{p}: row {number} is not six numbers (fixed x, y, z, moving x, y, z in mm)."
            ) from None
    arr = np.asarray(values, dtype=float).reshape(-1, 6)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{p}: the landmark file contains non-finite coordinates.")
    return arr[:, :3], arr[:, 3:]


def check_overlap_fraction(points_fixed: np.ndarray, transform: sitk.Transform, moving: Volume) -> float:
    """Fraction of fixed-space points that map inside the moving image's extent."""
    if len(points_fixed) == 0:
        return 0.0
    mapped = transform_points(points_fixed, transform)
    idx = moving.world_to_index(mapped)
    upper = np.array(moving.shape) - 0.5
    inside = np.all((idx > -0.5) & (idx < upper), axis=1)
    return float(inside.mean())


def raise_no_overlap(fixed_name: str, moving_name: str, fixed: Volume, moving: Volume) -> None:
    raise NoOverlapError(
        f"The fixed image {fixed_name} and the moving image {moving_name} do not overlap in "
        f"patient space (fixed bounds {np.round(fixed.bounding_box_world(), 1).tolist()} mm, "
        f"moving bounds {np.round(moving.bounding_box_world(), 1).tolist()} mm); "
        "registration needs overlapping images or landmark pairs."
    )
