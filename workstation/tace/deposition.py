"""Lipiodol deposition on post-TACE unenhanced CT: segmentation inside the liver and density maps.

Method (:func:`segment_lipiodol`), every number from :mod:`workstation.tace.constants`:

1. **Background of this scan.** The liver's attenuation and noise are measured on
   the scan itself (median and 1.4826 x MAD of the liver voxels, after removing
   the bright tail), so the thresholds follow the scanner, the kV and the
   patient (steatosis, iron) rather than fixed HU.
2. **Seeds.** Voxels of the lightly smoothed image (Gaussian, 0.5 voxel) above
   background + max(:data:`LIPIODOL_MIN_CONTRAST_HU`, :data:`NOISE_K` x noise).
   On a contrast-enhanced CT (liver background above
   :data:`CONTRAST_ENHANCED_LIVER_HU`) the seed contrast is
   :data:`CONTRAST_CT_MIN_CONTRAST_HU`, above enhancing vessels, and a warning says so.
3. **Edges at half contrast.** A deposit extends to where the image falls to
   :data:`EDGE_FRACTION` of the way from the background to the local deposit
   density (maximum within :data:`PLATEAU_RADIUS_MM`), never below
   :data:`LOW_THRESHOLD_HU` of contrast: the half level of a partial-volume or
   blurred step is its true edge, so volumes are unbiased for dense and faint
   deposits alike. Voxels above that level connected to a seed (hysteresis) form
   the deposits.
4. **Not lipiodol.** (a) Metal: compact objects above :data:`METAL_HU` (clips,
   coils) and :data:`METAL_MARGIN_MM` around them. (b) Streaks: within
   :data:`STREAK_ZONE_MM` of metal, in the metal's slices, a deposit must contain
   a disc of :data:`STREAK_OPENING_MM` radius (streaks are thin lines). (c)
   Bright structures mostly outside the liver (ribs, vertebrae, bowel contrast)
   that reach into an imperfect liver mask, and bright objects touching the
   mask's edge that nowhere reach :data:`EDGE_DEPTH_MM` into it. (d) With a registered pre-TACE CT:
   whatever was already above :data:`PRE_EXISTING_HU` before the treatment
   (calcifications, clips, an earlier session's lipiodol), grown by
   :data:`PRE_EXISTING_MARGIN_MM`. Without it a calcification cannot be told
   from lipiodol on one unenhanced scan; the result says so.
5. **Density map.** Inside the deposits: the attenuation above the liver
   background (HU), and the absolute attenuation (HU) for the dense-retention fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError, NoOverlapError
from workstation.core.volume import Unit, Volume
from workstation.tace import constants as K

__all__ = ["EXCLUSION_LABELS", "LipiodolSegmentation", "liver_background", "segment_lipiodol"]

#: Label values of :attr:`LipiodolSegmentation.excluded`.
EXCLUSION_LABELS: dict[int, str] = {
    1: "metal",
    2: "streak artefact",
    3: "pre-existing hyperdensity",
    4: "structure outside or at the edge of the liver",
}


@dataclass
class LipiodolSegmentation:
    """The deposits found on one CT.

    Attributes
    ----------
    mask:
        Label volume on the CT grid, 1 = lipiodol (``label_names`` {1: "lipiodol"}).
    density_hu:
        float32 on the CT grid: attenuation above the liver background (HU) inside
        the deposits, 0 elsewhere.
    excluded:
        Label volume of the bright voxels rejected as not lipiodol (values of
        :data:`EXCLUSION_LABELS`), for review and the viewer.
    stats:
        Background, noise, thresholds, volumes and warnings (for results.json).
    """

    mask: Volume
    density_hu: Volume
    excluded: Volume
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.stats.get("warnings", []))


def _check_ct(ct: Volume) -> np.ndarray:
    arr = ct.array
    if arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise InvalidInputError(f"The post-TACE CT {ct.metadata.source_path or ''} is not an image of numbers.")
    if ct.is_label():
        raise InvalidInputError(f"The post-TACE CT {ct.metadata.source_path or ''} is a label mask, not a CT.")
    if ct.modality not in (None, "CT") or ct.units not in (Unit.HU, Unit.UNKNOWN):
        raise InvalidInputError(
            f"The post-TACE image {ct.metadata.source_path or ''} is {ct.modality or ct.units.value}, "
            "not a CT in HU."
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"The post-TACE CT {ct.metadata.source_path or ''} contains NaN or infinite values.")
    return arr


def _mask_on(ct: Volume, mask: Volume, what: str) -> np.ndarray:
    if not mask.same_grid(ct):
        if not mask.overlaps(ct):
            raise NoOverlapError(f"The {what} mask {mask.metadata.source_path or ''} does not overlap the CT.")
        mask = mask.resample_to(ct, interpolation="nearest", fill_value=0)
    arr = np.asarray(mask.array)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"The {what} mask {mask.metadata.source_path or ''} contains NaN values.")
        return arr >= 0.5
    return arr != 0


def liver_background(hu: np.ndarray) -> tuple[float, float]:
    """Median (HU) and robust noise SD (HU) of liver voxels, bright tail removed.

    Parameters
    ----------
    hu:
        Attenuation values (HU) of the liver voxels.

    Returns
    -------
    median_hu, sd_hu:
        The background and 1.4826 x the median absolute deviation of the values
        below median + max(4 SD, 40 HU) (deposits removed; iterated once).
    """
    v = np.asarray(hu, dtype=np.float64).ravel()
    if v.size < 10:
        raise EmptyMaskError("The liver mask holds fewer than 10 CT voxels; no background can be measured.")
    if v.size > 2_000_000:
        v = v[:: v.size // 1_000_000]
    med = float(np.median(v))
    sd = 1.4826 * float(np.median(np.abs(v - med)))
    for _ in range(2):
        keep = v[v < med + max(4.0 * sd, 40.0)]
        med = float(np.median(keep))
        sd = 1.4826 * float(np.median(np.abs(keep - med)))
    return med, max(sd, 1.0)


def _box(lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _dilate_mm(mask: np.ndarray, radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    return ndi.distance_transform_edt(~mask, sampling=spacing) <= radius_mm


def _disc(radius_mm: float, spacing_yx: np.ndarray) -> np.ndarray:
    ry, rx = (max(1, int(np.floor(radius_mm / s))) for s in spacing_yx)
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    disc = (yy * spacing_yx[0]) ** 2 + (xx * spacing_yx[1]) ** 2 <= radius_mm**2 + 1e-9
    return disc[None, :, :]


def segment_lipiodol(
    ct: Volume,
    liver: Volume,
    pre_ct_on_post: Volume | None = None,
    min_contrast_hu: float | None = None,
) -> LipiodolSegmentation:
    """Segment lipiodol deposits inside the liver on a post-TACE CT (see the module docstring).

    Parameters
    ----------
    ct:
        Post-TACE CT (HU), ideally unenhanced.
    liver:
        Liver mask (any grid overlapping the CT; nearest-neighbour resampled).
    pre_ct_on_post:
        The pre-TACE CT already resampled onto ``ct``'s grid (registered); its
        hyperdensities are pre-existing, not lipiodol.
    min_contrast_hu:
        Override of the seed contrast (HU above the liver background).

    Returns
    -------
    LipiodolSegmentation

    Raises
    ------
    InvalidInputError
        The image is not a CT in HU, or holds NaN.
    EmptyMaskError, NoOverlapError
        The liver mask is empty or does not overlap the CT.
    """
    arr = _check_ct(ct)
    liver_full = _mask_on(ct, liver, "liver")
    if not liver_full.any():
        raise EmptyMaskError(f"The liver mask {liver.metadata.source_path or ''} has no voxel on the CT.")
    if pre_ct_on_post is not None and not pre_ct_on_post.same_grid(ct):
        raise InvalidInputError("The pre-TACE CT must be resampled onto the post-TACE CT grid first.")
    spacing = ct.spacing_mm
    voxel_ml = ct.voxel_volume_ml
    warnings: list[str] = []

    # crop: the liver's box plus the streak zone (metal just outside the liver casts streaks in)
    nz = np.argwhere(liver_full)
    pad = np.ceil((K.STREAK_ZONE_MM + K.PLATEAU_RADIUS_MM) / spacing).astype(int)
    pad[0] = int(np.ceil((K.PLATEAU_RADIUS_MM + 2 * spacing[0]) / spacing[0])) + 1
    lo = np.maximum(nz.min(axis=0) - pad, 0)
    hi = np.minimum(nz.max(axis=0) + pad + 1, np.array(ct.shape))
    box = _box(lo, hi)
    hu = arr[box].astype(np.float32)
    in_liver = liver_full[box]

    background, noise = liver_background(hu[in_liver])
    enhanced = background > K.CONTRAST_ENHANCED_LIVER_HU
    if min_contrast_hu is not None:
        if not min_contrast_hu > 0:
            raise InvalidInputError(f"The minimum lipiodol contrast must be positive, got {min_contrast_hu} HU.")
        seed_contrast = float(min_contrast_hu)
    elif enhanced:
        seed_contrast = max(K.CONTRAST_CT_MIN_CONTRAST_HU, K.NOISE_K * noise)
        warnings.append(
            f"The liver measures {background:.0f} HU: this CT looks contrast-enhanced. Lipiodol is read on "
            f"an unenhanced CT; here seeds need {seed_contrast:.0f} HU above the liver to stay clear of "
            "enhancing vessels, so faint deposits are missed."
        )
    else:
        seed_contrast = max(K.LIPIODOL_MIN_CONTRAST_HU, K.NOISE_K * noise)
    low_contrast = max(K.LOW_THRESHOLD_HU, 3.0 * noise, 0.5 * seed_contrast) if enhanced else max(
        K.LOW_THRESHOLD_HU, 3.0 * noise)

    smooth = ndi.gaussian_filter(hu, 0.5, mode="nearest", truncate=2.0)
    seeds = smooth > background + seed_contrast
    size = np.maximum(1, np.round(K.PLATEAU_RADIUS_MM / spacing)).astype(int) * 2 + 1
    # the local deposit density from a smoother image: the maximum of noisy voxels is biased high
    plateau = ndi.maximum_filter(ndi.gaussian_filter(hu, 1.0, mode="nearest", truncate=2.0),
                                 size=tuple(int(s) for s in size), mode="nearest")
    level = background + np.maximum(low_contrast, K.EDGE_FRACTION * (plateau - background))
    candidate = smooth > level
    del plateau, level
    excluded = np.zeros(hu.shape, dtype=np.uint8)

    # (a) metal, (b) streaks
    metal_core = hu >= K.METAL_HU
    metal = np.zeros(hu.shape, dtype=bool)
    dense_pools = 0
    if metal_core.any():
        lab, n = ndi.label(metal_core, structure=np.ones((3, 3, 3), bool))
        sizes = np.bincount(lab.ravel())[1:] * voxel_ml
        small = np.flatnonzero(sizes <= K.METAL_MAX_ML) + 1
        metal = np.isin(lab, small)
        dense_pools = int(n - small.size)
    if dense_pools:
        warnings.append(
            f"{dense_pools} region(s) above {K.METAL_HU:g} HU larger than {K.METAL_MAX_ML:g} mL were kept as "
            "lipiodol (too large for a clip); check them for metal (coils, stents)."
        )
    if metal.any():
        blooming = _dilate_mm(metal, K.METAL_MARGIN_MM, spacing)
        slices = np.flatnonzero(blooming.any(axis=(1, 2)))
        zone = np.zeros(hu.shape, dtype=bool)
        in_plane = ndi.distance_transform_edt(~metal.any(axis=0), sampling=spacing[1:]) <= K.STREAK_ZONE_MM
        zone[slices] = in_plane[None]
        opened = ndi.binary_opening(candidate & zone, structure=_disc(K.STREAK_OPENING_MM, spacing[1:]))
        streak = candidate & zone & ~opened & ~blooming
        excluded[streak] = 2
        excluded[blooming & candidate] = 1
        excluded[metal] = 1
        candidate &= ~(streak | blooming)
        seeds &= candidate

    # (d) pre-existing hyperdensities
    if pre_ct_on_post is not None:
        pre = np.asarray(pre_ct_on_post.array[box], dtype=np.float32)
        before = _dilate_mm(pre > K.PRE_EXISTING_HU, K.PRE_EXISTING_MARGIN_MM, spacing) & candidate
        excluded[before & (excluded == 0)] = 3
        candidate &= ~before
        seeds &= candidate

    # hysteresis; (c) components mostly outside the liver
    lab, n = ndi.label(candidate, structure=np.ones((3, 3, 3), bool))
    keep = np.zeros(n + 1, dtype=bool)
    if n:
        seeded = np.bincount(lab[seeds], minlength=n + 1) > 0
        total = np.bincount(lab.ravel(), minlength=n + 1)
        inside = np.bincount(lab[in_liver], minlength=n + 1)
        mostly_in = inside >= 0.5 * np.maximum(total, 1)
        keep = seeded & mostly_in
        keep[0] = False
        outside = seeded & ~mostly_in
        outside[0] = False
        excluded[outside[lab] & in_liver & (excluded == 0)] = 4
    deposits = keep[lab] & in_liver
    if deposits.any():  # (c') thin objects along the mask's edge: depth within the deposits' box only
        pad_e = np.ceil(K.EDGE_DEPTH_MM / spacing).astype(int) + 2
        where = np.argwhere(deposits)
        e_lo = np.maximum(where.min(axis=0) - pad_e, 0)
        e_hi = np.minimum(where.max(axis=0) + pad_e + 1, np.array(deposits.shape))
        ebox = _box(e_lo, e_hi)
        # outside the box counts as liver: only depths below EDGE_DEPTH_MM matter, and the box
        # reaches that far beyond every deposit
        depth = ndi.distance_transform_edt(np.pad(in_liver[ebox], 1, constant_values=True),
                                           sampling=spacing)[1:-1, 1:-1, 1:-1]
        lab_d, n_d = ndi.label(deposits[ebox], structure=np.ones((3, 3, 3), bool))
        deepest = np.zeros(n_d + 1)
        inside_d = lab_d > 0
        np.maximum.at(deepest, lab_d[inside_d], depth[inside_d])
        edge = deepest < K.EDGE_DEPTH_MM
        edge[0] = False
        at_edge = np.zeros(deposits.shape, dtype=bool)
        at_edge[ebox] = edge[lab_d]
        excluded[at_edge & (excluded == 0)] = 4
        deposits &= ~at_edge
    if deposits.any():
        lab2, n2 = ndi.label(deposits, structure=np.ones((3, 3, 3), bool))
        counts = np.bincount(lab2.ravel())
        big = counts * voxel_ml >= K.MIN_DEPOSIT_ML
        big[0] = False
        deposits = big[lab2]
        n_deposits = int(big.sum())
    else:
        n_deposits = 0

    mask = np.zeros(ct.shape, dtype=np.uint8)
    mask[box][deposits] = 1
    density = np.zeros(ct.shape, dtype=np.float32)
    density[box][deposits] = hu[deposits] - background
    excl = np.zeros(ct.shape, dtype=np.uint8)
    # metal is shown also where it lies outside the liver mask
    excl[box] = np.where(in_liver | (excluded == 1), excluded, 0)

    volume_ml = float(deposits.sum() * voxel_ml)
    values = hu[deposits]
    if pre_ct_on_post is None:
        warnings.append(
            "No pre-TACE CT: calcifications cannot be told from lipiodol on one unenhanced CT and are "
            "counted as deposits; give the pre-TACE CT to exclude what was there before."
        )
    stats: dict[str, Any] = {
        "liver_background_hu": round(background, 2),
        "liver_noise_sd_hu": round(noise, 2),
        "contrast_enhanced": bool(enhanced),
        "seed_threshold_hu": round(background + seed_contrast, 2),
        "seed_contrast_hu": round(seed_contrast, 2),
        "edge_rule": f"HU > background + max({low_contrast:.0f} HU, {K.EDGE_FRACTION:g} x (local maximum within "
        f"{K.PLATEAU_RADIUS_MM:g} mm - background)), connected to a seed",
        "lowest_edge_contrast_hu": round(low_contrast, 2),
        "deposit_count": n_deposits,
        "lipiodol_volume_ml": round(volume_ml, 4),
        "mean_hu": round(float(values.mean()), 1) if values.size else None,
        "max_hu": round(float(values.max()), 1) if values.size else None,
        "excluded_in_liver_ml": {name: round(float(((excluded == v) & in_liver).sum() * voxel_ml), 4)
                                 for v, name in EXCLUSION_LABELS.items()},
        "metal_objects": int(ndi.label(metal, structure=np.ones((3, 3, 3), bool))[1]) if metal.any() else 0,
        "pre_existing_checked": pre_ct_on_post is not None,
        "warnings": warnings,
    }
    frame = ct.frame_of_reference_uid
    mask_vol = ct.copy_with(array=mask, units=Unit.LABEL, label_names={1: "lipiodol"}, modality=None,
                            frame_of_reference_uid=frame)
    density_vol = ct.copy_with(array=density, units=Unit.HU, label_names={}, modality=None)
    excluded_vol = ct.copy_with(array=excl, units=Unit.LABEL, label_names=dict(EXCLUSION_LABELS), modality=None)
    return LipiodolSegmentation(mask_vol, density_vol, excluded_vol, stats)
