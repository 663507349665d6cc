"""ROI helpers of :func:`.pipeline.run_sirt`: per-label lesions, masses, where the activity lies."""

from __future__ import annotations

import numpy as np

from workstation.core.volume import Volume
from workstation.dosimetry.density import LUNG_DENSITY_G_PER_ML
from workstation.dosimetry.dvh import roi_weights
from workstation.dosimetry.roles import RoiRole

#: Activity farther than this from the liver is reported (mm).
FAR_FROM_LIVER_MM: float = 20.0


def split_rois(rois: dict[str, Volume], roles: dict[str, str]) -> dict[str, Volume]:
    """Expand multi-label lesion ROIs into one ROI per label (plus the union under the given name).

    ``roles`` gets the role of each new ROI (its parent's).
    """
    out: dict[str, Volume] = {}
    for name, vol in rois.items():
        out[name] = vol
        if roles[name] != RoiRole.LESION:
            continue
        box = vol.nonzero_box()
        inside = vol.array[box] if box is not None else vol.array[:0]
        values = [int(v) for v in np.unique(inside) if v != 0]
        if len(values) > 1:
            for v in values:
                out[f"{name}_{v}"] = vol.copy_with(array=(vol.array == v).astype(np.uint8))
                roles[f"{name}_{v}"] = roles[name]
    return out


def far_from_liver_fraction(activity: Volume, liver_w: np.ndarray) -> float:
    """Fraction of the image activity farther than ``FAR_FROM_LIVER_MM`` from the liver.

    The distance map is computed only in the liver's box widened by that distance:
    every voxel outside it is farther than that from the liver.
    """
    from scipy import ndimage

    inside = liver_w >= 0.5
    if not inside.any():
        return 0.0
    a = activity.array
    total = float(a.sum(dtype=np.float64))
    if total <= 0:
        return 0.0
    reach = np.ceil(FAR_FROM_LIVER_MM / activity.spacing_mm).astype(int) + 1
    box = activity.copy_with(array=inside).nonzero_box(margin_voxels=reach)
    assert box is not None
    dist = ndimage.distance_transform_edt(~inside[box], sampling=activity.spacing_mm)
    near = float(a[box][dist <= FAR_FROM_LIVER_MM].sum(dtype=np.float64))
    return (total - near) / total


def ct_grid_mass_g(mask: Volume, ct: Volume, name: str) -> float:
    """Mass (g) of ``mask`` x CT density summed on the CT grid (mask resampled nearest if on another grid)."""
    from workstation.dosimetry.density import hu_to_density

    w = roi_weights(mask, ct, supersample=1, name=name)
    rho = hu_to_density(ct.array)
    return float(np.sum(w * rho, dtype=np.float64) * ct.voxel_volume_ml)


def roi_mass_density_note(method: str, tissue_rho: float, have_lungs: bool, have_ct: bool) -> str:
    """Which density the ROI ``mass_g`` and ``energy_j`` of ``method`` use (the one its dose used)."""
    if method == "vsv-density":
        return "CT density (HU->density) sampled on the activity grid, as the vsv-density engine"
    if method == "ldm" and have_lungs:
        lung = "CT density" if have_ct else f"{LUNG_DENSITY_G_PER_ML} g/mL"
        return f"uniform {tissue_rho:g} g/mL; voxels of the lung ROI at the {lung}, as the LDM engine"
    return f"uniform {tissue_rho:g} g/mL (the engine's tissue density; lungs included)"
