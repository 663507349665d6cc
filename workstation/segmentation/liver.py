"""Liver on CT, automatic or from one seed, on a working grid of about 2 mm.

Method
------
1. Working grid: the CT is block-averaged by integer factors onto a grid of
   about :data:`LIVER_GRID_MM` (an anti-aliased, noise-reducing downsampling)
   and median-filtered (3×3×3).
2. Candidate: the parenchyma's CT number is the histogram mode of the filtered
   values within :data:`SEED_RADIUS_MM` of the seed (a seed on a vessel or a
   lesion still finds the parenchyma around it); the candidate is the tissue
   connected to the seed within ±max(:data:`WINDOW_SIGMAS` σ,
   :data:`WINDOW_MIN_HALF_WIDTH_HU`) of it, in the body and out of the lungs.
3. Thin bridges: the candidate is reduced to the union of the balls of radius
   :data:`CORE_RADIUS_MM` whose centres connect to the seed (an opening
   restricted to the seed's component): bridges, walls and sheets thinner than
   twice that radius no longer carry it into the next organ.
4. Touching organs at nearly the liver's CT number
   (:mod:`~workstation.segmentation._liver_blobs`, which holds the constants
   of this step): the candidate is split into blobs by a watershed of the gradient magnitude (edges) from the deep
   points of its distance map; from the seed's blob, a neighbouring blob joins
   when the CT number changes smoothly across their interface
   (:data:`INTERFACE_STEP_HU`, no darker plane between them:
   :data:`INTERFACE_VALLEY_HU`) and its median is close to the liver's
   (:data:`BLOB_DELTA_BASE_HU` + :data:`BLOB_DELTA_PER_ENHANCEMENT` × the
   liver's enhancement). Tubes leaving the liver's bulk (the vena cava, a
   vein at the liver's CT number) are dropped by their shape. Where a remnant
   of a neighbour stays attached, the boundary moves to the intensity edge
   between the liver and the neighbour's local CT number.
5. Vessels and lesions are filled in: hyper- and hypodense regions mostly
   enclosed by the liver are absorbed, then closing and hole filling; the
   rejected neighbours stay out.
6. Smooth return to the CT grid: an inside fraction per working voxel (the
   partial-volume fraction between the parenchyma and the local outside tissue
   where their contrast is at least :data:`PV_MIN_CONTRAST_HU`, a smoothed
   mask elsewhere) is interpolated trilinearly onto the CT grid and
   thresholded at one half (:class:`~workstation.segmentation._grid.WorkingGrid`).

Without a seed, the seed is the deepest voxel of the dominant soft-tissue
class just under the right hemidiaphragm (patient's right is -x in LPS),
which needs the lung bases in the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Volume
from workstation.segmentation._common import (
    AIR_THRESHOLD_HU,
    MAD_TO_SIGMA,
    Canonical,
    closing,
    component_at,
    dilate,
    fill_holes_3d_and_slices,
    label_volume,
    largest_component,
    median_smooth,
    neighbourhood_values,
    require_ct,
    seed_index,
)
from workstation.segmentation._grid import WorkingGrid, bbox_slices
from workstation.segmentation._liver_blobs import split_touching

__all__ = ["segment_liver"]

#: Working-grid spacing (mm) of the liver segmentation: fine enough for a
#: 1 mm boundary after the smooth return, coarse enough for 10 s on a
#: 512 × 512 × 300 CT (issue 11).
LIVER_GRID_MM = 2.0
#: Radius (mm) of the neighbourhood of the seed whose histogram mode is the parenchyma.
SEED_RADIUS_MM = 12.0
#: Half-width of the parenchyma window in robust standard deviations of the
#: filtered parenchyma around the seed, and its bounds (HU): wide enough for
#: the heterogeneity of a real liver (the TotalSegmentator example has lobes
#: 10 HU apart and a posterior segment 30 HU darker; with ±22 HU a seed there
#: or elsewhere gave Dice 0.62-0.95, with ±30 HU 0.95-0.96), narrow enough to
#: keep muscle (~55 HU) out of an enhanced liver (~110 HU); the neighbours it
#: lets in are parted in step 4.
WINDOW_SIGMAS = 3.0
WINDOW_MIN_HALF_WIDTH_HU = 30.0
WINDOW_MAX_HALF_WIDTH_HU = 40.0
#: Radius (mm) of the balls whose union is the liver before filling: necks and
#: sheets thinner than twice this are cut.
CORE_RADIUS_MM = 4.5
#: The liver's bulk (opening radius, mm) and the margin (mm) beyond which its
#: appendages are examined; an appendage of at least TUBE_MIN_ML (mL) is a
#: vessel when its longest principal axis is TUBE_ELONGATION times its middle
#: one and its cross-section round (middle/shortest at most TUBE_ROUNDNESS).
BULK_RADIUS_MM = 12.0
BULK_MARGIN_MM = 6.0
TUBE_MIN_ML = 1.0
TUBE_ELONGATION = 1.8
TUBE_ROUNDNESS = 1.6
#: Reach (mm) of the neighbour refinement from the neighbouring tissue, the
#: width (mm, Gaussian σ) of the neighbourhood of its local reference, and the
#: smallest neighbour/parenchyma contrast (HU) it acts on.
REFINE_DEPTH_MM = 8.0
REFINE_REFERENCE_MM = 6.0
REFINE_MIN_CONTRAST_HU = 4.0
REFINE_PASSES = 3
REFINE_MIN_NEIGHBOUR_ML = 5.0
#: Closing radius (mm) that brings vessels at the liver's edge into it.
CLOSING_MM = 6.0
#: Lesions and vessels at the capsule are looked for in the organ's closing by this radius (mm).
NOTCH_CLOSING_MM = 15.0
#: Lesions and vessels within this distance (mm) of the grown organ may be absorbed into it.
ABSORB_BAND_MM = 20.0
#: Lesions and vessels at the organ's edge are absorbed when at least this
#: fraction of their surface touches the organ (its envelope after a
#: :data:`CLOSING_MM` closing) or the lungs.
ENCLOSED_SURFACE_FRACTION = 0.6
#: Smallest parenchyma/outside contrast (HU) for which the partial-volume
#: fraction places the boundary; below it the mask itself is smoothed.
PV_MIN_CONTRAST_HU = 40.0
#: Lung parenchyma / soft-tissue split (HU), as in :mod:`.anatomy`.
LUNG_THRESHOLD_HU = -400.0
#: Bone at the liver's edge (ribs, spine): components of the CT above this value
#: (cortical bone is 400-1000 HU; enhancing liver vessels stay below ~300 HU in the
#: portal phase) reaching outside the liver mask are not liver (see
#: :func:`_without_edge_bone`). Engineering threshold; enclosed lipiodol stays.
BONE_HU = 350.0
#: A bright component counts as bone when at least this fraction of it lies
#: outside the liver mask (a rib cut by the capsule: 20-25 % outside on HCC_048;
#: lipiodol and calcification inside the liver: none). Engineering threshold.
BONE_OUTSIDE_FRACTION = 0.15
#: Marrow and partial-volume rim of such bone: voxels above this value (above the
#: enhanced parenchyma of any phase, ~60-130 HU) within :data:`BONE_RIM_VOXELS`
#: voxels of it go with it. Engineering thresholds.
BONE_RIM_HU = 150.0
BONE_RIM_VOXELS = 3


def segment_liver(
    ct: Volume,
    seed_lps: Sequence[float] | None = None,
    body: Volume | None = None,
    lungs: Volume | None = None,
) -> Volume:
    """Liver on a contrast-enhanced or plain CT, seeded or automatic.

    Parameters
    ----------
    ct:
        CT volume in HU.
    seed_lps:
        A point inside the liver parenchyma (LPS, mm). Without it the liver is
        found under the right hemidiaphragm, which needs the lung bases in the image.
    body, lungs:
        Masks already computed (any grid); computed when needed and not given.

    Returns
    -------
    Volume
        Label volume on the CT grid, label 1 ``"liver"``, vessels and lesions
        inside included.
    """
    require_ct(ct, "liver", convert=False)
    grid = WorkingGrid(ct.shape, ct.spacing_mm, LIVER_GRID_MM)
    work = grid.working_volume(ct)
    canon = Canonical(work)
    a = canon.to_canon(work.array)
    spacing = canon.spacing
    seed: tuple[int, int, int] | None = None
    if seed_lps is not None:
        full_index = seed_index(ct, seed_lps, "liver seed")
        seed = canon.index_to_canon(grid.nearest_working_index(full_index))
        _check_seed_tissue(a, seed, spacing, "liver seed", seed_lps)
    body_c = _mask_on_working(work, body, canon, "body")
    smooth = median_smooth(a, 1)
    if body_c is None:
        if seed is None:
            from workstation.segmentation.anatomy import _body_canonical

            body_c = _body_canonical(a, spacing)
        else:
            # seeded: the window keeps air out; any tissue may hold the liver
            body_c = a > AIR_THRESHOLD_HU
    lungs_c = _mask_on_working(work, lungs, canon, "lungs")
    if lungs_c is None:
        if seed is not None:
            lungs_c = (a < LUNG_THRESHOLD_HU) & body_c
        else:
            from workstation.segmentation.anatomy import _lungs_canonical

            try:
                lab, _ = _lungs_canonical(a, spacing, body_c, smooth)
            except EmptyMaskError:
                raise InvalidInputError(
                    "The automatic liver segmentation needs the lung bases in the image, but no lung "
                    "was found; give a seed point inside the liver with --seed."
                ) from None
            lungs_c = lab > 0
    if seed is None:
        from workstation.segmentation.anatomy import _automatic_liver_seed

        seed = _automatic_liver_seed(smooth, spacing, body_c, lungs_c)
    fraction = _liver_fraction(a, smooth, spacing, seed, body_c & ~lungs_c)
    liver = grid.threshold_full(canon.from_canon(fraction), 0.5)
    liver = _without_edge_bone(ct.array, liver)
    if not liver.any():
        raise EmptyMaskError("The liver segmentation is empty after region growing from the seed.")
    return label_volume(ct, liver.astype(np.uint8), {1: "liver"}, "liver")


def _without_edge_bone(hu: np.ndarray, liver: np.ndarray) -> np.ndarray:
    """``liver`` without the ribs (and spine) its smooth boundary took in at the capsule.

    The mask comes back from the working grid as a smooth surface, which can cut
    through a rib lying on the capsule. A bright (> :data:`BONE_HU`) component of
    the CT around the liver with at least :data:`BONE_OUTSIDE_FRACTION` of it
    outside the mask is bone: it, its marrow and its partial-volume rim (above
    :data:`BONE_RIM_HU`, within :data:`BONE_RIM_VOXELS` voxels) leave the mask. Lipiodol or calcification inside the liver is
    enclosed by it and stays. Computed in the mask's box (plus 3 voxels).
    """
    box = bbox_slices(liver, 3)
    if box is None:
        return liver
    sub_hu, sub_liver = hu[box], liver[box]
    labels, n = ndi.label(sub_hu > BONE_HU)
    if n == 0:
        return liver
    inside = np.bincount(labels[sub_liver], minlength=n + 1)
    outside = np.bincount(labels[~sub_liver], minlength=n + 1)
    bone_ids = np.flatnonzero((outside >= BONE_OUTSIDE_FRACTION * (inside + outside)) & (inside > 0))
    bone_ids = bone_ids[bone_ids > 0]
    if bone_ids.size == 0:
        return liver
    bone = ndi.binary_dilation(np.isin(labels, bone_ids), structure=np.ones((3, 3, 3), bool),
                               iterations=BONE_RIM_VOXELS, mask=sub_hu > BONE_RIM_HU)
    remove = bone & sub_liver
    out = liver.copy()
    out[box] = sub_liver & ~remove
    return out


def _mask_on_working(work: Volume, mask: Volume | None, canon: Canonical, what: str) -> np.ndarray | None:
    if mask is None:
        return None
    m = mask if mask.same_grid(work) else mask.resample_to(work, interpolation="nearest")
    arr = m.array != 0
    if not arr.any():
        raise EmptyMaskError(f"The {what} mask is empty on the image grid.")
    return canon.to_canon(arr)


def _check_seed_tissue(
    a: np.ndarray, seed: tuple[int, int, int], spacing: np.ndarray, what: str, seed_lps: Sequence[float]
) -> None:
    value = float(np.median(neighbourhood_values(a, seed, 3.0, spacing)))
    if value < AIR_THRESHOLD_HU:
        x, y, z = (float(v) for v in seed_lps)
        raise InvalidInputError(
            f"The {what} ({x:.1f}, {y:.1f}, {z:.1f}) mm lies in air or lung ({value:.0f} HU), not in soft tissue."
        )


def parenchyma_stats(values: np.ndarray) -> tuple[float, float]:
    """Mode and robust spread (HU) of soft-tissue values: the dominant tissue of a neighbourhood.

    The mode comes from a histogram of 2 HU bins smoothed over 3 bins; the
    spread is the MAD-based standard deviation of the values within 40 HU of it.
    """
    values = np.asarray(values, dtype=float)
    values = values[(values > -200.0) & (values < 400.0)]
    if values.size < 10:
        raise InvalidInputError("The seed neighbourhood holds no soft tissue.")
    hist, edges = np.histogram(values, bins=np.arange(-200.0, 402.0, 2.0))
    hist = ndi.gaussian_filter1d(hist.astype(float), 3.0)
    mode = float(edges[int(np.argmax(hist))] + 1.0)
    near = values[np.abs(values - mode) <= 40.0]
    med = float(np.median(near))
    sigma = float(MAD_TO_SIGMA * np.median(np.abs(near - med)))
    return 0.5 * (mode + med), max(sigma, 2.0)


def _liver_fraction(
    a: np.ndarray,
    smooth: np.ndarray,
    spacing: np.ndarray,
    seed: tuple[int, int, int],
    allowed: np.ndarray,
) -> np.ndarray:
    """Inside fraction (0-1) of the liver on the working grid."""
    centre, sigma = parenchyma_stats(neighbourhood_values(smooth, seed, SEED_RADIUS_MM, spacing))
    half = float(np.clip(WINDOW_SIGMAS * sigma, WINDOW_MIN_HALF_WIDTH_HU, WINDOW_MAX_HALF_WIDTH_HU))
    window = allowed & (np.abs(smooth - centre) <= half)
    if not window[seed]:
        # the seed on a vessel or a lesion: start from the nearest parenchyma
        near = window & _ball_mask(window.shape, seed, SEED_RADIUS_MM, spacing)
        if not near.any():
            raise InvalidInputError("No liver parenchyma was found around the seed.")
        pts = np.argwhere(near)
        nearest = pts[int(np.argmin((((pts - np.asarray(seed)) * spacing) ** 2).sum(axis=1)))]
        seed = (int(nearest[0]), int(nearest[1]), int(nearest[2]))
    grown = component_at(window, seed)
    # work inside the box of the grown region (+ what filling may add)
    margin = np.ceil((ABSORB_BAND_MM + CLOSING_MM) / spacing).astype(int) + 3
    box = bbox_slices(grown, margin)
    assert box is not None
    sub_seed = tuple(s - b.start for s, b in zip(seed, box, strict=True))
    grown, smooth_b, allowed_b = grown[box], smooth[box], allowed[box]
    cut = _cut_leaks(grown, sub_seed, spacing)
    kept, parenchyma_hu = split_touching(cut, smooth_b, sigma, sub_seed, spacing)
    kept = _drop_tubes(kept, sub_seed, spacing)
    organ = _refine_against_neighbours(kept, grown, smooth_b, parenchyma_hu, sub_seed, spacing)
    # neighbouring tissue at the liver's CT number stays out when the liver is filled
    forbidden = _open_rejected(cut & ~kept, kept) | (kept & ~organ)
    forbidden = fill_holes_3d_and_slices(forbidden) & ~organ
    organ = _fill_organ(organ, smooth_b, centre, half, allowed_b & ~forbidden, spacing, sub_seed)
    fraction = np.zeros(a.shape, np.float32)
    fraction[box] = _inside_fraction(a[box], organ, parenchyma_hu, grown & ~organ)
    return fraction


def _ball_mask(shape: tuple[int, ...], centre: Sequence[int], radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    return d2 <= radius_mm**2


def _drop_tubes(organ: np.ndarray, seed: tuple[int, ...], spacing: np.ndarray) -> np.ndarray:
    """Drop tubes leaving the liver: the vena cava or a vein at the liver's CT number.

    The organ's bulk is its opening by :data:`BULK_RADIUS_MM`; the parts
    farther than :data:`BULK_MARGIN_MM` from the bulk are its appendages. An
    appendage of at least :data:`TUBE_MIN_ML` whose principal axes make it a
    tube (longest over middle axis at least :data:`TUBE_ELONGATION`, round
    cross-section) is a vessel; the thin edges and tips of the liver are
    wedges and plates, not tubes.
    """
    depth = ndi.distance_transform_edt(np.pad(organ, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    centres = depth > BULK_RADIUS_MM
    if not centres.any():
        return organ
    lab, _ = ndi.label(centres)
    own = lab[seed] if lab[seed] else int(np.argmax(np.bincount(lab.ravel())[1:])) + 1
    bulk = ndi.distance_transform_edt(lab != own, sampling=spacing) <= BULK_RADIUS_MM + BULK_MARGIN_MM
    rest = organ & ~bulk
    parts, n = ndi.label(rest)
    out = organ.copy()
    voxel_ml = float(np.prod(spacing)) / 1000.0
    for idx, sl in enumerate(ndi.find_objects(parts), start=1):
        if sl is None:
            continue
        comp = parts[sl] == idx
        if comp.sum() * voxel_ml < TUBE_MIN_ML:
            continue
        pts = np.argwhere(comp) * spacing
        ev = np.sort(np.linalg.eigvalsh(np.cov(pts.T)))[::-1]
        if ev[2] <= 0:
            continue
        if ev[0] / ev[1] >= TUBE_ELONGATION**2 and ev[1] / ev[2] <= TUBE_ROUNDNESS**2:
            out[sl] &= ~comp
    return component_at(out, seed) if out[seed] else out


def _open_rejected(rejected: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The rejected candidate tissue that is not enclosed by the liver (the vena cava, the spleen).

    A rejected region whose surface touches the kept liver over at least
    :data:`ENCLOSED_SURFACE_FRACTION` of it (a vessel inside the liver) may
    still be filled in; the others must stay out of the liver.
    """
    out = np.zeros_like(rejected)
    lab, _ = ndi.label(rejected)
    st = ndi.generate_binary_structure(3, 1)
    for idx, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None:
            continue
        pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        comp = lab[pad] == idx
        surface = ndi.binary_dilation(comp, st) & ~comp
        if kept[pad][surface].mean() < ENCLOSED_SURFACE_FRACTION:
            out[pad] |= comp
    return out


def _refine_against_neighbours(
    organ: np.ndarray,
    grown: np.ndarray,
    smooth: np.ndarray,
    parenchyma_hu: float,
    seed: tuple[int, ...],
    spacing: np.ndarray,
) -> np.ndarray:
    """Move the boundary to the intensity edge where the liver touches tissue of nearly its CT number.

    The neighbouring tissue is the candidate left outside the organ's
    envelope (a rejected neighbouring organ, the rest of a muscle sheet),
    away from the candidate's own edge; its local CT number is its mean within
    :data:`REFINE_REFERENCE_MM` (a box) in the image smoothed once more
    (σ = one working voxel). Within :data:`REFINE_DEPTH_MM` of that tissue, a
    voxel whose smoothed value is closer to the neighbour's than to the
    parenchyma's goes to the neighbour, and the other way round, where the two
    differ by at least :data:`REFINE_MIN_CONTRAST_HU`.
    """
    st = ndi.generate_binary_structure(3, 1)
    clear = ndi.binary_erosion(grown, st)
    heavy = ndi.gaussian_filter(smooth.astype(np.float32), 1.0)
    out = organ.copy()
    # neighbouring tissue lies outside the organ's envelope: the soft edge of a
    # lesion inside the liver is not a neighbour
    envelope = ndi.binary_fill_holes(closing(organ, CLOSING_MM, spacing))
    reference = grown & ~envelope & clear
    # a neighbouring organ or sheet is large; small pieces are the soft edges of
    # lesions at the capsule and partial-volume remnants
    lab, n = ndi.label(reference)
    if n:
        volume_ml = np.bincount(lab.ravel()) * float(np.prod(spacing)) / 1000.0
        big = volume_ml >= REFINE_MIN_NEIGHBOUR_ML
        big[0] = False
        reference = big[lab]
    size_ref = np.maximum(3, 2 * np.round(REFINE_REFERENCE_MM / spacing).astype(int) + 1)
    size_near = np.maximum(3, 2 * np.round(REFINE_DEPTH_MM / spacing).astype(int) + 1)
    for _ in range(REFINE_PASSES):
        if not reference.any():
            break
        ref_f = reference.astype(np.float32)
        weight = ndi.uniform_filter(ref_f, size_ref)
        ref_out = ndi.uniform_filter(np.where(reference, heavy, 0.0).astype(np.float32), size_ref)
        ref_out /= np.maximum(weight, 1e-6)
        near = ndi.uniform_filter(ref_f, size_near) > 0.0
        valid = near & clear & (weight > 0.02) & (np.abs(ref_out - parenchyma_hu) >= REFINE_MIN_CONTRAST_HU)
        closer_out = np.abs(heavy - ref_out) < np.abs(heavy - parenchyma_hu)
        leaving = out & valid & closer_out
        joining = grown & ~out & valid & ~closer_out & ndi.binary_dilation(out, st, iterations=2)
        if not leaving.any() and not joining.any():
            break
        out = (out & ~leaving) | joining
        # what left is neighbouring tissue too: the next pass reaches deeper with it
        reference = (reference | (leaving & clear)) & ~joining
    if not out[seed]:
        return organ
    return component_at(out, seed)


def _cut_leaks(grown: np.ndarray, seed: tuple[int, ...], spacing: np.ndarray) -> np.ndarray:
    """Union of the balls of radius :data:`CORE_RADIUS_MM` in ``grown`` whose centres connect to the seed."""
    depth = ndi.distance_transform_edt(np.pad(grown, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    centres = depth > CORE_RADIUS_MM
    if not centres.any():
        return grown
    lab, n = ndi.label(centres)
    own = lab[seed]
    if own == 0:
        # the seed lies in a thin part: the centre component nearest to it
        _, nearest = ndi.distance_transform_edt(lab == 0, sampling=spacing, return_indices=True)
        own = lab[tuple(idx[seed] for idx in nearest)]
    core = lab == own
    reach = ndi.distance_transform_edt(~core, sampling=spacing)
    organ = grown & (reach <= CORE_RADIUS_MM + float(spacing.max()))
    return component_at(organ, seed) if organ[seed] else largest_component(organ)


def _fill_organ(
    organ: np.ndarray,
    smooth: np.ndarray,
    centre: float,
    half: float,
    allowed: np.ndarray,
    spacing: np.ndarray,
    seed: tuple[int, ...],
) -> np.ndarray:
    organ = _absorb_enclosed(organ, smooth, centre - half, centre + half, allowed, spacing)
    organ = closing(organ, CLOSING_MM, spacing) & allowed
    organ = fill_holes_3d_and_slices(organ) & allowed
    organ = component_at(organ, seed) if organ[seed] else largest_component(organ)
    if not organ.any():
        raise EmptyMaskError("The liver segmentation is empty after region growing from the seed.")
    return organ


def _absorb_enclosed(
    organ: np.ndarray,
    smooth: np.ndarray,
    low: float,
    high: float,
    allowed: np.ndarray,
    spacing: np.ndarray,
) -> np.ndarray:
    """Add hyper- and hypodense regions (lesions, vessels) mostly surrounded by the organ.

    Hole filling only closes what is enclosed on every side; a lesion at the
    capsule leaves a notch. Such a region joins the organ when
    :data:`ENCLOSED_SURFACE_FRACTION` of its surface touches it (lung contact
    counts as enclosing, for lesions at the dome). Fat (below -20 HU) is never absorbed.
    """
    near = dilate(organ, ABSORB_BAND_MM, spacing)
    # the organ's envelope: the notches of vessels and lesions at its edge closed
    envelope = closing(organ, CLOSING_MM, spacing)
    # candidates lie in the notches of the organ (a wide closing), so a lesion at
    # the capsule does not join the muscle sheet or fat beyond it
    notches = fill_holes_3d_and_slices(closing(organ, NOTCH_CLOSING_MM, spacing))
    outside = allowed & ~organ & notches
    out = organ.copy()
    st = ndi.generate_binary_structure(3, 1)
    centre = 0.5 * (low + high)
    margin = max(0.5 * (high - low), 20.0)
    for cls in (outside & (smooth > centre + margin), outside & (smooth < centre - margin) & (smooth > -20.0)):
        lab, _ = ndi.label(cls)
        for idx, sl in enumerate(ndi.find_objects(lab), start=1):
            if sl is None:
                continue
            pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
            comp = lab[pad] == idx
            if comp.sum() < 2 or not near[pad][comp].all():
                continue  # tiny, or reaching beyond the organ (e.g. the vena cava)
            surface = ndi.binary_dilation(comp, st) & ~comp
            on_organ = envelope[pad][surface]
            enclosed = on_organ | ~allowed[pad][surface] | (smooth[pad][surface] < -300.0)
            if enclosed.mean() >= ENCLOSED_SURFACE_FRACTION and on_organ.mean() >= 0.3:
                out[pad] |= comp
    return out


def _inside_fraction(a: np.ndarray, organ: np.ndarray, inside_hu: float, candidate: np.ndarray) -> np.ndarray:
    """Inside fraction of each working voxel, for the smooth return to the CT grid.

    The outside tissue's CT number is the mean of the voxels two rings out
    within two voxels; where it differs from the parenchyma by at least
    :data:`PV_MIN_CONTRAST_HU`, the block-averaged CT number gives the
    partial-volume fraction ``(v - outside) / (inside - outside)`` of the
    organ's inner ring (which may leave) and of the voxels of its outer ring
    that lie in the candidate window (which may join); a voxel outside the
    window does not join, so a thin muscle layer with fat behind it is not
    read as liver mixed with fat. Elsewhere the mask is smoothed (Gaussian,
    σ = 0.5 working voxel), which puts the boundary half-way between inside
    and outside voxel centres.
    """
    frac = ndi.gaussian_filter(organ.astype(np.float32), 0.5)
    st = ndi.generate_binary_structure(3, 1)
    ring1 = ndi.binary_dilation(organ, st)
    outer = ring1 & ~organ
    inner = organ & ~ndi.binary_erosion(organ, st)
    far = ndi.binary_dilation(ring1, st) & ~ring1
    band = (outer & candidate) | inner
    if not band.any() or not far.any():
        return frac
    # the outside tissue: the mean of the voxels two rings out nearby
    weight = ndi.uniform_filter(far.astype(np.float32), 5)
    total = ndi.uniform_filter(np.where(far, a, 0.0).astype(np.float32), 5)
    band &= weight > 1e-3
    idx = np.nonzero(band)
    outside = total[idx] / weight[idx]
    contrast = inside_hu - outside
    ok = np.abs(contrast) >= PV_MIN_CONTRAST_HU
    pv = np.clip((a[idx] - outside) / np.where(ok, contrast, 1.0), 0.0, 1.0)
    frac[tuple(i[ok] for i in idx)] = pv[ok]
    return frac
