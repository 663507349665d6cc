"""The known breathing motion between two CTs of one patient (ablation and TACE cases)."""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.grid import Grid
from workstation.samples import _imaging as im


def breathing_transform(post_affine: np.ndarray, post_shape: tuple[int, int, int]) -> Any:
    """The true post→pre transform: rigid(B-spline(p)) (ITK convention, fixed = post-CT).

    The B-spline (order 3, 4×4×4 mesh over the post-CT field of view) displaces
    superior tissue more than inferior tissue, like a different breath hold:
    up to 5 mm cranio-caudal, 2 mm antero-posterior, 1 mm lateral. The rigid part
    rotates by (1.7°, −1.1°, 2.9°) about the post-CT centre and translates by
    (6, −4, 12) mm.
    """
    import SimpleITK as sitk

    ref = Grid(post_shape, post_affine).to_sitk_reference()
    bspline = sitk.BSplineTransformInitializer(ref, [4, 4, 4], 3)
    fixed = np.array(bspline.GetFixedParameters())
    size = fixed[0:3].astype(int)
    origin = fixed[3:6]
    spacing = fixed[6:9]
    direction = fixed[9:18].reshape(3, 3)
    ii, jj, kk = np.meshgrid(*(np.arange(n) for n in size), indexing="ij")
    idx = np.stack([ii, jj, kk], axis=-1).reshape(-1, 3)  # x fastest after transpose below
    pos = origin + (idx * spacing) @ direction.T
    s = 0.5 * (1.0 + np.tanh((pos[:, 2] + 10.0) / 40.0)) * (1.0 + 0.2 * np.cos(pos[:, 0] / 60.0))
    disp = np.stack([1.0 * s, -2.0 * s, 5.0 * s], axis=-1)
    # ITK coefficient order: component-major, then x fastest, y, z
    coeff = disp.reshape(size[0], size[1], size[2], 3).transpose(3, 2, 1, 0).reshape(3, -1)
    bspline.SetParameters(tuple(float(v) for v in coeff.ravel()))
    rigid = sitk.Euler3DTransform()
    centre = post_affine[:3, :3] @ ((np.array(post_shape) - 1) / 2) + post_affine[:3, 3]
    rigid.SetCenter(tuple(float(v) for v in centre))
    rigid.SetRotation(0.03, -0.02, 0.05)
    rigid.SetTranslation((6.0, -4.0, 12.0))
    return sitk.CompositeTransform([rigid, bspline])


def displaced_points(transform: Any, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """T(p) for every voxel centre p of a grid: (nz, ny, nx, 3) LPS mm."""
    import SimpleITK as sitk

    ref = Grid(shape, affine).to_sitk_reference()
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, ref.GetSize(), ref.GetOrigin(), ref.GetSpacing(), ref.GetDirection()
    )
    return im.grid_points(affine, shape) + sitk.GetArrayFromImage(field)


def invert_point(transform: Any, q: np.ndarray, rot: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Solve T(p) = q for one point with SimpleITK's own evaluation of T."""
    p = np.asarray(q, dtype=float).copy()
    for _ in range(iterations):
        p = p - (np.asarray(transform.TransformPoint(tuple(p))) - q) @ rot
    return p

