"""Keeping regions rigid (a tumour) inside a deformable transform.

The deformable transform is replaced, in each region dilated by a core margin,
by the least-squares rigid fit of itself there (Kabsch), blended smoothly
(raised cosine) into the deformation outside. The correction is a displacement
field on a small box appended to the composite transform, found by solving for
the pre-image of the blended target through the transform; outside the box the
deformable transform is exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.grid import Grid
from workstation.core.volume import Volume
from workstation.registration._masks import Mask
from workstation.registration._transforms import (
    affine_parameters,
    rotation_deg,
    transform_points,
    transform_volume,
)

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["fixed_box_of_moving_mask", "keep_rigid", "solve_preimage"]

#: Margin (mm) around the pre-image of a moving-space mask's voxels within which the
#: fixed-space region is looked for (covers a voxel of the mask and any local stretch).
_PREIMAGE_MARGIN_MM = 10.0


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation R and translation t with dst ≈ R src + t."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    h = (src - cs).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cd - r @ cs


def fixed_box_of_moving_mask(mask: Volume, transform: sitk.Transform, fixed: Volume,
                             max_points: int = 400) -> tuple[slice, slice, slice] | None:
    """The index box of the fixed grid that holds the pre-image of a moving-space mask.

    Up to ``max_points`` mask voxels (and the corners of its box) are mapped back
    through the transform (exactly for linear transforms, iteratively otherwise);
    their box is widened by :data:`_PREIMAGE_MARGIN_MM`. ``None`` when nothing of
    it falls in the fixed grid. Lets mask resampling through a deformable transform
    visit a few thousand fixed voxels instead of the whole image.
    """
    idx = np.argwhere(mask.array != 0)
    if len(idx) == 0:
        return None
    if len(idx) > max_points:
        idx = idx[np.linspace(0, len(idx) - 1, max_points).astype(int)]
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    pts = mask.index_to_world(np.concatenate([idx, corners]).astype(float))
    back = transform_points(pts, transform, inverse=True)
    margin = int(np.ceil(_PREIMAGE_MARGIN_MM / float(fixed.spacing_mm.min())))
    return fixed.grid.box_of_world_points(back, margin_voxels=margin)


def pull_back_mask(mask: Volume, transform: sitk.Transform, fixed: Volume) -> np.ndarray:
    """A moving-space mask on the fixed grid (nearest neighbour), computed in its box only."""
    out = np.zeros(fixed.shape, dtype=bool)
    box = fixed_box_of_moving_mask(mask, transform, fixed)
    if box is None:
        return out
    pulled = transform_volume(mask.copy_with(array=(mask.array != 0).astype(np.uint8)),
                              fixed.crop(box), transform, interpolation="nearest")
    out[box] = pulled.array != 0
    return out


def keep_rigid(
    transform: sitk.Transform,
    regions: list[Mask],
    fixed: Volume,
    core_margin_mm: float,
    blend_mm: float,
) -> tuple[sitk.Transform, list[dict[str, Any]], list[str]]:
    """Replace the transform near rigid regions by its local rigid fit, blended smoothly.

    Parameters
    ----------
    transform:
        The deformable transform (fixed -> moving points, mm).
    regions:
        Rigid regions, in the fixed or the moving space.
    fixed:
        The fixed image (its grid orients the correction box).
    core_margin_mm:
        Inside each region dilated by this margin (mm) the result is exactly rigid.
    blend_mm:
        Width (mm) of the raised-cosine blend into the deformation outside.

    Returns
    -------
    (transform, fits, warnings):
        The corrected composite transform (the input when no region maps into the
        fixed image), one entry per connected rigid component (rotation, RMS
        deviation of the rigid fit from the deformation), and warnings.
    """
    import SimpleITK as sitk
    from scipy import ndimage

    warnings: list[str] = []
    # Regions in fixed space: moving-space masks are pulled back through the transform.
    fixed_regions = []
    for m in regions:
        if m.space == "fixed":
            fixed_regions.append(m.volume.array)
        else:
            pulled = pull_back_mask(m.volume, transform, fixed)
            if not pulled.any():
                warnings.append(
                    f"The rigid region {m.name} maps outside the fixed image and was not kept rigid."
                )
                continue
            fixed_regions.append(pulled)
    if not fixed_regions:
        return transform, [], warnings
    union = np.logical_or.reduce(fixed_regions)
    # A box grid around the regions, axis-aligned with the fixed image, spacing <= 2 mm.
    step = float(min(2.0, fixed.spacing_mm.min()))
    reach = core_margin_mm + blend_mm + 3 * step
    idx = np.argwhere(union)
    lo_w = fixed.index_to_world(idx.min(axis=0).astype(float))
    hi_w = fixed.index_to_world(idx.max(axis=0).astype(float))
    d = fixed.direction
    lo_i = np.minimum(lo_w @ d, hi_w @ d) - reach  # coordinates along the fixed axes (z, y, x)
    hi_i = np.maximum(lo_w @ d, hi_w @ d) + reach
    shape = np.ceil((hi_i - lo_i) / step).astype(int) + 1
    origin = d @ lo_i
    affine = np.eye(4)
    affine[:3, :3] = d * step
    affine[:3, 3] = origin
    box = Grid((int(shape[0]), int(shape[1]), int(shape[2])), affine)
    region_box = fixed.copy_with(array=union.astype(np.uint8)).resample_to(
        box, interpolation="nearest"
    ).array != 0
    labels, n = ndimage.label(region_box)
    grid = box.index_to_world(np.argwhere(np.ones(box.shape, dtype=bool)).astype(float))
    to_field = sitk.TransformToDisplacementFieldFilter()
    to_field.SetReferenceImage(box.to_sitk_reference())
    to_field.SetOutputPixelType(sitk.sitkVectorFloat64)
    field_img = to_field.Execute(transform)
    mapped = grid + sitk.GetArrayFromImage(field_img).reshape(-1, 3)
    weights = np.zeros((n, grid.shape[0]))
    rigid_images = np.zeros((n, grid.shape[0], 3))
    fits = []
    for c in range(1, n + 1):
        dist = ndimage.distance_transform_edt(labels != c, sampling=step).ravel()
        core = dist <= core_margin_mm
        r, t = kabsch(grid[core], mapped[core])
        rigid_images[c - 1] = grid @ r.T + t
        beyond = np.clip((dist - core_margin_mm) / blend_mm, 0.0, 1.0)
        weights[c - 1] = 0.5 * (1.0 + np.cos(np.pi * beyond))
        fits.append({"rotation_deg": round(rotation_deg(r), 3),
                     "rms_deviation_from_deformation_mm": round(float(
                         np.sqrt(np.mean(np.sum((grid[core] @ r.T + t - mapped[core]) ** 2, axis=1)))), 3)})
    total = weights.sum(axis=0)
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-12), 1.0)
    target = mapped + np.einsum("cn,cnk->nk", weights * scale, rigid_images - mapped[np.newaxis])
    active = total > 1e-6
    # Correction D so that transform(x + D(x)) == target(x): invert the transform at the targets.
    solution = grid.copy()
    if active.any():
        solution[active] = solve_preimage(transform, target[active], grid[active], box)
    disp = (solution - grid).reshape((*box.shape, 3))
    disp[~active.reshape(box.shape)] = 0.0
    disp_img = sitk.GetImageFromArray(disp, isVector=True)
    disp_img.SetOrigin(tuple(float(v) for v in box.origin_mm))
    disp_img.SetSpacing((step, step, step))
    disp_img.SetDirection(tuple(float(v) for v in box.direction[:, ::-1].ravel()))
    correction = sitk.DisplacementFieldTransform(disp_img)
    out = sitk.CompositeTransform(3)
    out.AddTransform(transform)
    out.AddTransform(correction)
    return out, fits, warnings


def solve_preimage(
    transform: sitk.Transform, targets: np.ndarray, start: np.ndarray, box: Grid,
    iterations: int = 30,
) -> np.ndarray:
    """Points x with transform(x) = targets, starting from ``start``.

    The transform is sampled on the box grid extended by 10 mm (ITK, C++) and
    interpolated with cubic splines (scipy) inside a fixed-point iteration
    preconditioned with the transform's linear part; convergence to 1e-3 mm.
    """
    import SimpleITK as sitk
    from scipy import ndimage

    step = float(box.spacing_mm[0])
    pad = int(np.ceil(10.0 / step))
    affine = box.affine.copy()
    affine[:3, 3] = box.index_to_world([-pad, -pad, -pad])
    nz, ny, nx = (int(n + 2 * pad) for n in box.shape)
    ext = Grid((nz, ny, nx), affine)
    to_field = sitk.TransformToDisplacementFieldFilter()
    to_field.SetReferenceImage(ext.to_sitk_reference())
    to_field.SetOutputPixelType(sitk.sitkVectorFloat64)
    field = sitk.GetArrayFromImage(to_field.Execute(transform))
    coeffs = [ndimage.spline_filter(field[..., c], order=3) for c in range(3)]

    def forward(p: np.ndarray) -> np.ndarray:
        idx = ext.world_to_index(p).T
        disp = np.stack([ndimage.map_coordinates(cf, idx, order=3, mode="nearest", prefilter=False)
                         for cf in coeffs], axis=1)
        return p + disp

    a, _ = affine_parameters(transform)
    a_inv = np.linalg.inv(a)
    x = start.copy()
    todo = np.arange(len(x))
    for _ in range(iterations):
        residual = targets[todo] - forward(x[todo])
        x[todo] += residual @ a_inv.T
        todo = todo[np.linalg.norm(residual, axis=1) > 1e-3]
        if todo.size == 0:
            break
    return x
