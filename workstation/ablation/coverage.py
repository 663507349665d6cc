"""Volumes of insufficient coverage and the ablated fraction of periablational shells.

Both are computed per tumour on a fine isotropic grid (default 0.5 mm, never
coarser than the finest input spacing) that covers only the tumour's bounding
box plus the largest radius of interest: the tumour and ablation-zone fields
are interpolated onto it (their 0.5 iso-level is the surface), and the tumour
is dilated by ``r`` mm with a Euclidean distance transform made sub-voxel:
the distance from a fine voxel centre x to its nearest inside centre p, minus
the exact depth of p below the tumour's surface mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from workstation.ablation._surface import ISO_LEVEL, MaskField, SurfaceMesh

__all__ = ["CoverageResult", "coverage_metrics"]


@dataclass
class CoverageResult:
    """Coverage of one tumour by an ablation zone.

    Attributes
    ----------
    insufficient_coverage_ml:
        For each radius r (mm, as a string key): volume (mL) of the tumour
        dilated by r mm that lies outside the ablation zone.
    shell_ablated_fraction:
        For each radius r > 0: fraction (0..1) of the periablational shell
        (tumour dilated by r mm, minus the tumour) that lies inside the zone.
    fine_spacing_mm:
        Spacing of the computation grid (mm).
    """

    insufficient_coverage_ml: dict[str, float]
    shell_ablated_fraction: dict[str, float | None]
    fine_spacing_mm: float


def _radius_key(r: float) -> str:
    return str(int(r)) if float(r).is_integer() else f"{r:g}"


def coverage_metrics(
    tumor: MaskField,
    zone: MaskField,
    tumor_mesh: SurfaceMesh,
    tumor_lo: np.ndarray,
    tumor_hi: np.ndarray,
    radii_mm: tuple[float, ...] = (0.0, 5.0, 10.0),
    fine_spacing_mm: float = 0.5,
) -> CoverageResult:
    """Insufficient-coverage volumes and shell fractions for one tumour.

    Parameters
    ----------
    tumor:
        Field of this tumour only, on a crop of the tumour grid.
    zone:
        Field of the ablation zone, on a crop of its own grid.
    tumor_mesh:
        The tumour's iso-surface (LPS mm), for exact distances near each radius.
    tumor_lo, tumor_hi:
        Index box [lo, hi) of the tumour's voxels in the tumour grid.
    radii_mm:
        Dilation radii (mm).
    fine_spacing_mm:
        Isotropic spacing (mm) of the computation grid.
    """
    h = float(fine_spacing_mm)
    r_max = max(float(r) for r in radii_mm)
    sp = tumor.spacing_mm
    ext_mm = r_max + 2.0 * h + 1.0
    # Fine grid aligned with the tumour grid's axes; step in tumour-crop index units.
    lo_crop = np.asarray(tumor_lo, dtype=float) - tumor.index_offset
    hi_crop = np.asarray(tumor_hi, dtype=float) - 1.0 - tumor.index_offset
    start = lo_crop - ext_mm / sp
    extent_mm = (hi_crop - lo_crop) * sp + 2.0 * ext_mm
    n = np.floor(extent_mm / h).astype(int) + 1
    step = h / sp
    t_vals = ndi.affine_transform(
        tumor.values, np.diag(step), offset=start, output_shape=tuple(int(x) for x in n),
        order=1, mode="constant", cval=0.0,
    )
    inside_t = t_vals > ISO_LEVEL
    del t_vals
    # Fine index -> tumour index -> LPS -> zone crop index, one affine map.
    tumor_index_of_fine = np.eye(4)
    tumor_index_of_fine[:3, :3] = np.diag(step)
    tumor_index_of_fine[:3, 3] = start + tumor.index_offset
    zone_inv = np.linalg.inv(zone.affine)
    m = zone_inv @ tumor.affine @ tumor_index_of_fine
    z_vals = ndi.affine_transform(
        zone.values, m[:3, :3], offset=m[:3, 3] - zone.index_offset,
        output_shape=tuple(int(x) for x in n), order=1, mode="constant", cval=0.0,
    )
    inside_z = z_vals > ISO_LEVEL
    del z_vals
    voxel_ml = h**3 / 1000.0
    insufficient: dict[str, float] = {}
    shells: dict[str, float | None] = {}
    distance = None
    if any(r > 0 for r in radii_mm) and inside_t.any():
        distance, feature = ndi.distance_transform_edt(~inside_t, sampling=h, return_indices=True)
        # Sub-voxel correction: the nearest inside voxel centre p of an outside
        # point lies depth(p) below the surface, so dist(x, surface) ≈ |x - p| - depth(p).
        # depth is exact (mesh distance) and needed only for the boundary voxels.
        boundary = inside_t & ~ndi.binary_erosion(inside_t, border_value=0)
        b_idx = np.argwhere(boundary)
        fine_to_world = tumor.affine @ tumor_index_of_fine
        depth = np.zeros(inside_t.shape, dtype=np.float32)
        depth[tuple(b_idx.T)] = tumor_mesh.distance_mm(
            b_idx @ fine_to_world[:3, :3].T + fine_to_world[:3, 3], candidates=8
        )
        distance -= depth[tuple(feature)]
        del feature, depth
    for r in radii_mm:
        key = _radius_key(r)
        dilated = inside_t if r <= 0 or distance is None else inside_t | (distance <= float(r))
        insufficient[key] = float(np.count_nonzero(dilated & ~inside_z) * voxel_ml)
        if r > 0:
            shell = dilated & ~inside_t
            n_shell = int(np.count_nonzero(shell))
            shells[key] = float(np.count_nonzero(shell & inside_z) / n_shell) if n_shell else None
    return CoverageResult(insufficient, shells, h)
