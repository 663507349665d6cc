"""Body outline, lungs and liver on CT by classical image processing (no trained weights).

Methods
-------
* Body: air/tissue threshold at -500 HU, the largest component after a 3 mm
  opening (drops the table and tubing), holes filled slice by slice.
* Lungs: air (< -400 HU) inside the body, after removing the airway grown from
  the trachea with an adaptive threshold on a median-filtered CT, as in Hu,
  Hoffman & Reinhardt, IEEE TMI 20(6):490-498 (2001); the components whose top
  reaches the lung apices are kept; right and left lungs are told apart by their
  position and, when joined, by iterative erosion.
* Liver: region growing on a median-filtered CT inside an intensity window learnt
  from the seed neighbourhood (median ± 3.5 robust standard deviations, at
  least ±25 HU), an opening that cuts thin bridges to neighbouring organs, the
  edge moved to the 50 % partial-volume level, then closing and hole filling
  (vessels, lesions) inside the envelope. Without a seed, the seed is the
  deepest voxel of the dominant soft-tissue class just under the right
  hemidiaphragm (patient's right is -x in LPS).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Volume
from workstation.segmentation._common import (
    AIR_THRESHOLD_HU,
    Canonical,
    component_at,
    dilate,
    erode,
    fill_holes_3d_and_slices,
    label_volume,
    largest_component,
    mask_on,
    median_smooth,
    require_ct,
    robust_stats,
)
from workstation.segmentation._grid import bbox_slices

__all__ = ["segment_body", "segment_lungs"]

#: Lung parenchyma / soft-tissue split (HU); aerated lung is about -850 HU,
#: soft tissue about 0-60 HU (Hu et al. 2001 derive an optimal threshold near
#: -400 to -500 HU for this split).
LUNG_THRESHOLD_HU = -400.0
#: Start value of the airway-lumen threshold (HU) on the median-filtered CT;
#: tightened in 25 HU steps while the airway leaks into the lungs.
AIRWAY_THRESHOLD_HU = -950.0
#: Air regions whose median (median-filtered CT) is below this are gas in the
#: bowel, stomach or airway, not aerated lung (about -850 HU; even emphysematous
#: lung keeps a median above about -950 HU).
GAS_MEDIAN_HU = -960.0
#: Lesions and vessels within this distance (mm) of the grown organ may be absorbed into it.
ABSORB_BAND_MM = 20.0
#: Smallest half-width (HU) of the organ window on the median-filtered CT: 5 standard
#: deviations of 12 HU image noise after a 3x3x3 median (sigma ~ 1.25 x 12 / sqrt(27) ~ 3 HU);
#: narrow enough to keep the vena cava (~135 HU) out of a 110 HU liver.
WINDOW_MIN_HALF_WIDTH_HU = 15.0
#: Largest plausible trachea + main bronchi volume (mL) before it counts as a leak.
AIRWAY_MAX_ML = 250.0


def segment_body(ct: Volume) -> Volume:
    """Body outline: everything that is not air around the patient, table removed.

    Parameters
    ----------
    ct:
        CT volume in HU.

    Returns
    -------
    Volume
        Label volume on the CT grid, label 1 ``"body"``.
    """
    arr = require_ct(ct, "body", need_air=True)
    canon = Canonical(ct)
    body = _body_canonical(canon.to_canon(arr), canon.spacing)
    return label_volume(ct, canon.from_canon(body).astype(np.uint8), {1: "body"}, "body")


def _body_canonical(a: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    tissue = a > AIR_THRESHOLD_HU
    core = largest_component(erode(tissue, 3.0, spacing))
    if not core.any():
        raise EmptyMaskError("The body segmentation is empty: the CT holds no tissue above -500 HU.")
    body = dilate(core, 3.0 + float(spacing.max()), spacing) & tissue
    body = component_at(body, np.argwhere(core)[0])
    return fill_holes_3d_and_slices(body, axes=(0,))


def segment_lungs(ct: Volume, body: Volume | None = None) -> Volume:
    """Lungs: aerated lung inside the body, trachea and main bronchi removed.

    Parameters
    ----------
    ct:
        CT volume in HU.
    body:
        Body mask (any grid); computed when not given.

    Returns
    -------
    Volume
        Label volume: ``1 = "lung_right"``, ``2 = "lung_left"`` when the lungs
        could be told apart, otherwise ``1 = "lungs"``.
    """
    arr = require_ct(ct, "lungs", need_air=True)
    canon = Canonical(ct)
    a = canon.to_canon(arr)
    body_c = mask_on(ct, body, "body")
    body_c = _body_canonical(a, canon.spacing) if body_c is None else canon.to_canon(body_c)
    labels, names = _lungs_canonical(a, canon.spacing, body_c)
    return label_volume(ct, canon.from_canon(labels), names, "lungs")


def _find_airway(
    a: np.ndarray, smooth: np.ndarray | None, spacing: np.ndarray, air: np.ndarray
) -> np.ndarray:
    """Trachea and main bronchi grown from the trachea in the top slices (or empty)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    pixel_cm2 = float(spacing[1] * spacing[2]) / 100.0
    top_slices = np.flatnonzero(air.any(axis=(1, 2)))
    if top_slices.size == 0:
        return np.zeros_like(air)
    seed_pixels = None
    # the trachea: a small, round air region near the left-right middle of the top slices
    for k in top_slices[::-1][: max(3, int(30.0 / spacing[0]))]:
        lab, n = ndi.label(air[k])
        if n == 0:
            continue
        xs = np.flatnonzero(air[k].any(axis=0))
        mid_x = 0.5 * (xs[0] + xs[-1])
        width = max(xs[-1] - xs[0], 1)
        best = None
        for idx, sl in enumerate(ndi.find_objects(lab), start=1):
            comp = lab[sl] == idx
            area = comp.sum() * pixel_cm2
            if not 0.5 <= area <= 8.0:
                continue
            cx = sl[1].start + np.argwhere(comp)[:, 1].mean()
            if abs(cx - mid_x) > 0.25 * width and n > 1:
                continue
            if best is None or area > best[0]:
                best = (area, idx)
        if best is not None:
            seed_pixels = np.argwhere(lab == best[1])
            seed_k = k
            break
    if seed_pixels is None:
        return np.zeros_like(air)
    if smooth is None:
        # only the air-bearing box needs the filter (the airway lies in it)
        box = tuple(
            slice(int(idx.min()), int(idx.max()) + 1)
            for idx in (np.flatnonzero(air.any(axis=ax)) for ax in ((1, 2), (0, 2), (0, 1)))
        )
        smooth = np.full(a.shape, 1000.0, np.float32)
        smooth[box] = median_smooth(a[box], 1)
    threshold = AIRWAY_THRESHOLD_HU
    while threshold >= -1010.0:
        lumen = smooth < threshold
        seeds = [(seed_k, j, i) for j, i in seed_pixels if lumen[seed_k, j, i]]
        if not seeds:
            return np.zeros_like(air)
        airway = component_at(lumen, seeds[len(seeds) // 2])
        if airway.sum() * voxel_ml <= AIRWAY_MAX_ML:
            return airway
        threshold -= 25.0
    return np.zeros_like(air)


def _lungs_canonical(
    a: np.ndarray, spacing: np.ndarray, body: np.ndarray, smooth: np.ndarray | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    voxel_ml = float(np.prod(spacing)) / 1000.0
    air = (a < LUNG_THRESHOLD_HU) & body
    airway = _find_airway(a, smooth, spacing, air)
    if airway.any():
        air &= ~dilate(airway, float(spacing.max()) * 1.01, spacing)
    lab, n = ndi.label(air)
    if n == 0:
        raise EmptyMaskError("The lungs segmentation is empty: no air inside the body.")
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    objects = ndi.find_objects(lab)
    cands = [i for i in range(1, n + 1) if counts[i] * voxel_ml >= 20.0]
    if cands:
        # aerated lung is about -850 HU; bowel or stomach gas and airway lumen are pure gas
        values = a if smooth is None else smooth
        cands = [i for i in cands if np.median(values[objects[i - 1]][lab[objects[i - 1]] == i]) >= GAS_MEDIAN_HU]
    if not cands:
        raise EmptyMaskError("The lungs segmentation is empty: no air region inside the body larger than 20 mL.")
    tops = {i: objects[i - 1][0].stop - 1 for i in cands}
    top = max(tops.values())
    near_top = [i for i in cands if (top - tops[i]) * spacing[0] <= 60.0]
    biggest = max(counts[i] for i in near_top)
    keep = sorted((i for i in near_top if counts[i] >= 0.1 * biggest), key=lambda i: -counts[i])
    if len(keep) > 2:
        keep = keep[:2]
    if len(keep) == 1:
        lung = lab == keep[0]
        parts = _split_lungs(lung)
        if parts is None:
            filled = _fill_vessels(lung, spacing) & body
            return filled.astype(np.uint8), {1: "lungs"}
        right, left = parts
    else:
        m0, m1 = (lab == keep[0]), (lab == keep[1])
        x0 = np.argwhere(m0)[:, 2].mean()
        x1 = np.argwhere(m1)[:, 2].mean()
        right, left = (m0, m1) if x0 < x1 else (m1, m0)
    out = np.zeros(a.shape, np.uint8)
    out[_fill_vessels(right, spacing) & body] = 1
    out[_fill_vessels(left, spacing) & body & (out == 0)] = 2
    return out, {1: "lung_right", 2: "lung_left"}


#: Largest in-slice hole (cm²) of a lung mask that is filled as a vessel; the
#: liver or heart dome seen through a ring of lung in one slice is larger.
LUNG_VESSEL_MAX_CM2 = 3.0


def _fill_vessels(lung: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Fill the lung's vessels: holes enclosed in 3D, and small holes of each axial slice."""
    out = ndi.binary_fill_holes(lung)
    st = np.zeros((3, 3, 3), bool)
    st[1] = ndi.generate_binary_structure(2, 1)
    per_slice = np.stack([ndi.binary_fill_holes(s) if s.any() else s for s in out])
    holes = per_slice & ~out
    lab, n = ndi.label(holes, structure=st)
    if n:
        area_cm2 = np.bincount(lab.ravel()) * float(spacing[1] * spacing[2]) / 100.0
        small = area_cm2 <= LUNG_VESSEL_MAX_CM2
        small[0] = False
        out |= small[lab]
    return out


def _split_lungs(lung: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split joined lungs by in-plane erosion; (right, left) or None."""
    st = np.zeros((3, 3, 3), bool)
    st[1] = ndi.generate_binary_structure(2, 1)
    eroded = lung.copy()
    total = lung.sum()
    for _ in range(6):
        eroded = ndi.binary_erosion(eroded, st)
        lab, n = ndi.label(eroded)
        if n < 2:
            continue
        counts = np.bincount(lab.ravel())
        counts[0] = 0
        order = np.argsort(counts)[::-1]
        if counts[order[1]] < 0.15 * total:
            continue
        seeds = np.zeros(lung.shape, np.int32)
        seeds[lab == order[0]] = 1
        seeds[lab == order[1]] = 2
        _, nearest = ndi.distance_transform_edt(seeds == 0, return_indices=True)
        owner = seeds[tuple(nearest)]
        p0, p1 = lung & (owner == 1), lung & (owner == 2)
        x0 = np.argwhere(p0)[:, 2].mean()
        x1 = np.argwhere(p1)[:, 2].mean()
        return (p0, p1) if x0 < x1 else (p1, p0)
    return None


def _automatic_liver_seed(
    smooth: np.ndarray, spacing: np.ndarray, body: np.ndarray, lungs: np.ndarray
) -> tuple[int, int, int]:
    """Deepest voxel of the dominant soft tissue just below the right lung base."""
    nz, ny, nx = smooth.shape
    xs = np.flatnonzero(body.any(axis=(0, 1)))
    mid_x = 0.5 * (xs[0] + xs[-1])
    right_lung = lungs.copy()
    right_lung[:, :, int(np.ceil(mid_x)) :] = False
    if right_lung.sum() * np.prod(spacing) / 1000.0 < 5.0:
        raise InvalidInputError(
            "The automatic liver segmentation needs the base of the right lung in the image; "
            "give a seed point inside the liver with --seed."
        )
    has = np.asarray(right_lung.any(axis=0))
    base = np.where(has, np.argmax(right_lung, axis=0), -1)  # lowest lung slice per column
    k = np.arange(nz)[:, None, None]
    depth_mm = (base[None, :, :] - k) * spacing[0]
    under = has[None, :, :] & (depth_mm >= 10.0) & (depth_mm <= 60.0)
    # everything below happens under the right lung base: work in that box
    # (the 15 mm erosion of the body needs the body 15 mm around it)
    reach = np.ceil(15.0 / spacing).astype(int) + 1
    box = bbox_slices(under, [int(r) for r in reach])
    if box is None:
        raise InvalidInputError(
            "The automatic liver segmentation found no soft tissue under the right hemidiaphragm; "
            "give a seed point inside the liver with --seed."
        )
    origin = np.array([b.start for b in box])
    smooth, body, lungs, under = smooth[box], body[box], lungs[box], under[box]
    region = under & erode(body, 15.0, spacing) & ~lungs
    values = smooth[region & (smooth > 0.0) & (smooth < 250.0)]
    if values.size < 100:
        raise InvalidInputError(
            "The automatic liver segmentation found no soft tissue under the right hemidiaphragm; "
            "give a seed point inside the liver with --seed."
        )
    hist, edges = np.histogram(values, bins=np.arange(0.0, 252.5, 2.5))
    hist = ndi.gaussian_filter1d(hist.astype(float), 2.0)
    mode = float(edges[np.argmax(hist)] + 1.25)
    near = values[np.abs(values - mode) <= 30.0]
    _, sigma = robust_stats(near)
    half = max(2.5 * sigma, 15.0)
    tissue = region & (np.abs(smooth - mode) <= half)
    tissue = largest_component(tissue)
    depth = ndi.distance_transform_edt(tissue, sampling=spacing)
    seed = np.array(np.unravel_index(int(np.argmax(depth)), depth.shape)) + origin
    return (int(seed[0]), int(seed[1]), int(seed[2]))
