"""Liver lesions, ablation zones and uptake regions.

Methods
-------
* Lesions, seeded: the lesion's CT number is learnt from the seed neighbourhood
  and the parenchyma's from the liver (median, MAD); the lesion is the
  connected region beyond the midpoint of the two (the 50 % partial-volume
  level), grown twice (the second time with the lesion value re-measured in its
  core), kept inside the liver, and opened with a ball sized to the lesion's
  own inner radius so that vessels of similar density touching it are cut off.
* Lesions, automatic: voxels of the liver (3 mm inside its edge) more than
  max(4 σ, 20 HU) from the parenchyma median on a median-filtered CT form the
  candidates; each is segmented as if seeded at its deepest voxel and kept when
  its equivalent-sphere diameter reaches ``min_diameter_mm`` and it is not
  tubular (vessels).
* Ablation zone: hypodense region around the seed on a median-filtered CT,
  threshold at the midpoint between the zone and the parenchyma around it,
  gas inside filled, needle track and thin leaks removed by an opening, edge
  smoothed.
* Uptake: voxels at or above a percentage of the maximum (within the mask), or
  an absolute threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.segmentation._common import (
    Canonical,
    ball,
    closing,
    component_at,
    dilate,
    erode,
    fill_holes_3d_and_slices,
    half_contrast_refine,
    label_volume,
    mask_on,
    median_smooth,
    neighbourhood_values,
    opening,
    require_ct,
    robust_stats,
    seed_index,
)
from workstation.segmentation._lesion_seeded import LesionSeed, grow_lesion

__all__ = ["segment_lesions", "segment_ablation_zone", "segment_uptake"]

#: Smallest lesion/parenchyma contrast (HU) a seeded lesion may have.
MIN_LESION_CONTRAST_HU = 15.0
#: Shortest long axis (mm) accepted as a lesion line.
MIN_LINE_MM = 3.0
#: Largest distance (mm) from a seed that a lesion or an ablation zone may reach.
MAX_RADIUS_MM = 75.0
#: Closing radius (mm) of the liver envelope within which lesions may grow.
ENVELOPE_CLOSING_MM = 10.0
#: A seed this close (mm) to the liver mask still counts as in the liver (subcapsular lesions).
SUBCAPSULAR_MARGIN_MM = 15.0
#: Tubular components (ratio of the largest to the smallest principal axis
#: above this) are vessels, not lesions.
MAX_ELONGATION = 3.0


def _point_text(p: Sequence[float] | np.ndarray) -> str:
    return f"({float(p[0]):.1f}, {float(p[1]):.1f}, {float(p[2]):.1f}) mm"


def _within_radius(shape: tuple[int, ...], centre: Sequence[int], radius_mm: float, spacing: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
    """Slices of a box around ``centre`` and the ball mask of ``radius_mm`` inside it."""
    half = np.ceil(radius_mm / spacing).astype(int)
    sl = tuple(slice(max(c - h, 0), min(c + h + 1, n)) for c, h, n in zip(centre, half, shape, strict=True))
    grids = np.meshgrid(
        *[(np.arange(s.start, s.stop) - c) * sp for s, c, sp in zip(sl, centre, spacing, strict=True)],
        indexing="ij",
    )
    return sl, (grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2) <= radius_mm**2


def _elongation(mask: np.ndarray, spacing: np.ndarray) -> float:
    pts = np.argwhere(mask) * spacing
    if len(pts) < 4:
        return 1.0
    ev = np.linalg.eigvalsh(np.cov(pts.T))
    return float(np.sqrt(max(ev[-1], 1e-9) / max(ev[0], 1e-9)))


def _equivalent_diameter_mm(mask: np.ndarray, spacing: np.ndarray) -> float:
    volume = mask.sum() * float(np.prod(spacing))
    return float((6.0 * volume / np.pi) ** (1.0 / 3.0))


def _liver_stats(a: np.ndarray, liver: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    core = erode(liver, 5.0, spacing)
    if core.sum() < 50:
        core = liver
    return robust_stats(a[core])


def _grow_lesion(
    a: np.ndarray,
    seed: tuple[int, int, int],
    liver_allowed: np.ndarray,
    parenchyma_hu: float,
    spacing: np.ndarray,
) -> np.ndarray | None:
    """One lesion grown from ``seed``; None when the seed is not on a lesion."""
    lesion_hu = float(np.median(neighbourhood_values(a, seed, max(3.0, float(spacing.max())), spacing)))
    if abs(lesion_hu - parenchyma_hu) < MIN_LESION_CONTRAST_HU:
        return None
    sl, in_ball = _within_radius(a.shape, seed, MAX_RADIUS_MM, spacing)
    sub = a[sl]
    allowed = liver_allowed[sl] & in_ball
    local_seed = tuple(s - b.start for s, b in zip(seed, sl, strict=True))
    hypo = lesion_hu < parenchyma_hu
    region = None
    for _ in range(2):
        mid = 0.5 * (lesion_hu + parenchyma_hu)
        # two-sided band, symmetric about the lesion value: keeps fat out of
        # hypodense lesions and contrast-filled structures out of hyperdense ones
        far = 2.0 * lesion_hu - mid
        beyond = ((sub <= mid) & (sub >= far)) if hypo else ((sub >= mid) & (sub <= far))
        beyond = ndi.binary_closing(beyond & allowed, iterations=1) & allowed
        beyond[local_seed] = True
        region = component_at(beyond, local_seed)
        core = erode(region, float(spacing.max()), spacing)
        vals = sub[core] if core.sum() >= 8 else sub[region]
        lesion_hu = float(np.median(vals))
        if abs(lesion_hu - parenchyma_hu) < MIN_LESION_CONTRAST_HU:
            return None
    assert region is not None
    region = fill_holes_3d_and_slices(region) & allowed
    # open with a ball sized to the lesion's inner radius: cuts vessels of similar density
    depth = ndi.distance_transform_edt(region, sampling=spacing)
    sl2, near = _within_radius(region.shape, local_seed, 10.0, spacing)
    near_depth = np.zeros_like(depth)
    near_depth[sl2] = depth[sl2] * near
    deepest = np.unravel_index(int(np.argmax(near_depth)), depth.shape)
    open_mm = 0.75 * float(near_depth[deepest])
    if open_mm >= float(spacing.max()):
        opened = opening(region, open_mm, spacing)
        keep = component_at(opened, local_seed if opened[local_seed] else deepest)
        if keep.any():
            # the opening of a voxelised sphere loses part of its edge: give back
            # the region's voxels within one voxel of the kept core
            region = region & dilate(keep, 1.01 * float(spacing.max()), spacing)
    # the edge against other tissue than parenchyma (fat at the capsule) sits at
    # the 50 % level between the lesion and that tissue, not the parenchyma
    region = half_contrast_refine(sub, region, lesion_hu, spacing, allowed=allowed, iterations=1)
    out = np.zeros(a.shape, bool)
    out[sl] = region
    return out


def segment_lesions(
    ct: Volume,
    liver: Volume,
    seeds_lps: Sequence[Sequence[float]] | None = None,
    min_diameter_mm: float = 10.0,
    seed_lines_lps: Sequence[tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Volume:
    """Liver lesions, one label per lesion, from clicks, long axes, or automatic.

    Parameters
    ----------
    ct:
        CT volume in HU.
    liver:
        Liver mask (any grid; lesions inside it included), e.g. from :func:`segment_liver`.
    seeds_lps:
        One point (LPS, mm) inside each lesion (one click per lesion).
    min_diameter_mm:
        Smallest equivalent-sphere diameter (mm) of an automatically found lesion.
    seed_lines_lps:
        Long axes, one per lesion: two points (LPS, mm) across the lesion,
        as drawn for RECIST (its ends on the lesion's edge).

    Without seeds or lines the lesions are found automatically as regions
    hypo- or hyperdense to the parenchyma.

    Returns
    -------
    Volume
        Label volume on the CT grid, labels ``1..N`` named ``"lesion_1"``, …
        (clicks first, then lines, in the order given; decreasing volume when
        automatic). Where two lesions overlap, the first keeps the voxels.
    """
    require_ct(ct, "lesions", convert=False)
    liver_arr = mask_on(ct, liver, "liver")
    assert liver_arr is not None
    seeds: list[tuple[str, LesionSeed]] = []
    for n, point in enumerate(seeds_lps or [], start=1):
        what = f"lesion seed {n} {_point_text(point)}"
        seeds.append((what, LesionSeed(np.array(seed_index(ct, point, f"lesion seed {n}"), float))))
    for n, line in enumerate(seed_lines_lps or [], start=1):
        if len(line) != 2:
            raise InvalidInputError(f"The lesion line {n} needs two points X1 Y1 Z1 X2 Y2 Z2 (LPS mm).")
        p1, p2 = (np.asarray(v, float) for v in line)
        seed_index(ct, p1, f"start of lesion line {n}")  # both ends in the image
        seed_index(ct, p2, f"end of lesion line {n}")
        length = float(np.linalg.norm(p2 - p1))
        if length < MIN_LINE_MM:
            raise InvalidInputError(
                f"The lesion line {n} is {length:.1f} mm long; a long axis spans the lesion "
                f"(at least {MIN_LINE_MM:g} mm)."
            )
        # continuous indices: the line's middle need not be on a voxel centre
        seeds.append(
            (f"lesion line {n} {_point_text(p1)}-{_point_text(p2)}",
             LesionSeed(ct.world_to_index(p1), ct.world_to_index(p2)))
        )
    if seeds:
        labels = np.zeros(ct.shape, np.uint16)
        for n, (what, seed) in enumerate(seeds, start=1):
            region = grow_lesion(ct, liver_arr, seed, what)
            labels[region & (labels == 0)] = n
        names = {n: f"lesion_{n}" for n in range(1, len(seeds) + 1)}
        return label_volume(ct, labels, names, "lesions")
    arr = require_ct(ct, "lesions")
    canon = Canonical(ct)
    a = canon.to_canon(arr)
    spacing = canon.spacing
    liver_c = canon.to_canon(liver_arr)
    parenchyma_hu, _ = _liver_stats(a, liver_c, spacing)
    # the liver's envelope: a lesion at the edge may have been left out of the liver mask
    allowed = fill_holes_3d_and_slices(closing(liver_c, ENVELOPE_CLOSING_MM, spacing))
    labels = np.zeros(a.shape, np.uint16)
    count = _automatic_lesions(a, liver_c, allowed, parenchyma_hu, spacing, min_diameter_mm, labels)
    names = {n: f"lesion_{n}" for n in range(1, count + 1)}
    if count == 0:
        raise EmptyMaskError(
            f"No lesion of at least {min_diameter_mm:g} mm was found in the liver; give seed points to segment lesions."
        )
    return label_volume(ct, canon.from_canon(labels), names, "lesions")


def _automatic_lesions(
    a: np.ndarray,
    liver: np.ndarray,
    allowed: np.ndarray,
    parenchyma_hu: float,
    spacing: np.ndarray,
    min_diameter_mm: float,
    labels: np.ndarray,
) -> int:
    smooth = median_smooth(a, 1)
    inner = erode(liver, 3.0, spacing)
    centre, sigma = robust_stats(smooth[inner])
    delta = max(4.0 * sigma, 20.0)
    found: list[np.ndarray] = []
    for candidates in (inner & (smooth < centre - delta), inner & (smooth > centre + delta)):
        lab, n = ndi.label(candidates)
        for idx, sl in enumerate(ndi.find_objects(lab), start=1):
            comp = lab[sl] == idx
            if _equivalent_diameter_mm(comp, spacing) < 0.5 * min_diameter_mm:
                continue
            depth = ndi.distance_transform_edt(np.pad(comp, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
            local = np.unravel_index(int(np.argmax(depth)), comp.shape)
            seed = tuple(int(s.start + v) for s, v in zip(sl, local, strict=True))
            if any(f[seed] for f in found):
                continue
            region = _grow_lesion(a, seed, allowed, parenchyma_hu, spacing)  # type: ignore[arg-type]
            if region is None or _equivalent_diameter_mm(region, spacing) < min_diameter_mm:
                continue
            if abs(float(np.median(a[region])) - parenchyma_hu) < delta:
                continue  # a faint region (partial volume of a vessel, the vena cava)
            if _elongation(region, spacing) > MAX_ELONGATION:
                continue
            if region.sum() > 0.5 * liver.sum():
                continue
            found.append(region)
    found.sort(key=lambda r: -int(r.sum()))
    n = 0
    for region in found:
        free = region & (labels == 0)
        if _equivalent_diameter_mm(free, spacing) < min_diameter_mm:
            continue
        n += 1
        labels[free] = n
    return n


def segment_ablation_zone(ct: Volume, seed_lps: Sequence[float], within: Volume | None = None) -> Volume:
    """Ablation zone on a post-ablation CT: the hypodense region around a seed.

    Parameters
    ----------
    ct:
        Post-ablation CT in HU.
    seed_lps:
        A point inside the ablation zone (LPS, mm).
    within:
        Optional mask (e.g. the liver) the zone must stay in.

    Returns
    -------
    Volume
        Label volume, label 1 ``"ablation_zone"``.
    """
    arr = require_ct(ct, "ablation zone")
    canon = Canonical(ct)
    a = canon.to_canon(arr)
    spacing = canon.spacing
    seed = canon.index_to_canon(seed_index(ct, seed_lps, "ablation-zone seed"))
    within_arr = mask_on(ct, within, "within")
    allowed_all = np.ones(a.shape, bool) if within_arr is None else canon.to_canon(within_arr)
    if not allowed_all[seed]:
        raise InvalidInputError(f"The ablation-zone seed {_point_text(seed_lps)} lies outside the --within mask.")
    around = neighbourhood_values(a, seed, 5.0, spacing)
    if float(np.median(around)) < -500.0:
        raise InvalidInputError(
            f"The ablation-zone seed {_point_text(seed_lps)} lies in air ({float(np.median(around)):.0f} HU)."
        )
    sl, in_ball = _within_radius(a.shape, seed, MAX_RADIUS_MM, spacing)
    sub = median_smooth(a[sl], 1)
    allowed = allowed_all[sl] & in_ball
    local = tuple(s - b.start for s, b in zip(seed, sl, strict=True))
    zone_hu, sigma = robust_stats(neighbourhood_values(sub, local, 5.0, spacing))
    first = allowed & (sub <= zone_hu + float(np.clip(3.5 * sigma, 20.0, 40.0)))
    first[local] = True
    first = component_at(first, local)
    first = opening(first, 2.0, spacing) | _seed_ball(first.shape, local, spacing)
    first = component_at(first, local) & allowed
    shell = dilate(first, 15.0, spacing) & ~dilate(first, 5.0, spacing) & allowed & (sub > -200.0)
    if shell.sum() < 20:
        raise InvalidInputError(
            f"The ablation zone grown from {_point_text(seed_lps)} fills its surroundings; "
            "it is not a hypodense region in the liver."
        )
    parenchyma_hu = float(np.median(sub[shell]))
    if parenchyma_hu - zone_hu < MIN_LESION_CONTRAST_HU:
        raise InvalidInputError(
            f"The ablation-zone seed {_point_text(seed_lps)} ({zone_hu:.0f} HU) is not in a region "
            f"hypodense to its surroundings ({parenchyma_hu:.0f} HU)."
        )
    mid = 0.5 * (zone_hu + parenchyma_hu)
    region = allowed & (sub <= mid)
    region[local] = True
    region = component_at(region, local)
    region = fill_holes_3d_and_slices(region) & allowed
    open_mm = max(2.5, 1.01 * float(spacing.max()))
    opened = opening(region, open_mm, spacing)
    if opened[local]:
        region = component_at(opened, local)
    elif opened.any():
        region = component_at(opened, np.unravel_index(int(np.argmax(ndi.distance_transform_edt(opened, sampling=spacing))), opened.shape))
    smooth_edge = ndi.gaussian_filter(region.astype(np.float32), 1.5 / spacing) >= 0.5
    region = fill_holes_3d_and_slices(smooth_edge & allowed)
    if region[local]:
        region = component_at(region, local)
    if np.any(region & ~erode(in_ball, float(spacing.max()), spacing)):
        raise InvalidInputError(
            f"The ablation zone grown from {_point_text(seed_lps)} reaches {MAX_RADIUS_MM:.0f} mm from the "
            "seed; it leaks into the surroundings (use --within to restrict it)."
        )
    out = np.zeros(a.shape, np.uint8)
    out[sl] = region
    return label_volume(ct, canon.from_canon(out), {1: "ablation_zone"}, "ablation zone")


def _seed_ball(shape: tuple[int, ...], centre: Sequence[int], spacing: np.ndarray) -> np.ndarray:
    out = np.zeros(shape, bool)
    b = ball(2.0, spacing)
    half = np.array(b.shape) // 2
    for off in np.argwhere(b) - half:
        p = np.asarray(centre) + off
        if np.all(p >= 0) and np.all(p < np.array(shape)):
            out[tuple(p)] = True
    return out


def segment_uptake(
    image: Volume,
    within: Volume | None = None,
    percent: float | None = None,
    absolute: float | None = None,
) -> Volume:
    """Uptake region on SPECT/PET by a percent-of-maximum or an absolute threshold.

    Parameters
    ----------
    image:
        Emission image (counts, Bq/mL, SUV…).
    within:
        Optional mask; the maximum and the region are taken inside it.
    percent:
        Threshold as a percentage (0-100] of the maximum voxel value.
    absolute:
        Threshold in the image's own units.

    Returns
    -------
    Volume
        Label volume, label 1 ``"uptake"``.
    """
    if (percent is None) == (absolute is None):
        raise InvalidInputError("Give exactly one of --percent and --threshold for the uptake segmentation.")
    if percent is not None and not 0.0 < percent <= 100.0:
        raise InvalidInputError(f"--percent must be in (0, 100], not {percent:g}.")
    arr = np.asarray(image.array, dtype=np.float64)
    inside = mask_on(image, within, "within")
    if inside is None:
        inside = np.ones(arr.shape, bool)
    if percent is not None:
        peak = float(arr[inside].max())
        if peak <= 0.0:
            raise EmptyMaskError("The uptake segmentation is empty: the image has no positive value inside the mask.")
        threshold = peak * percent / 100.0
    else:
        threshold = float(absolute)  # type: ignore[arg-type]
    region = inside & (arr >= threshold)
    unit = image.units.value if image.units != Unit.UNKNOWN else "image units"
    if not region.any():
        raise EmptyMaskError(
            f"The uptake segmentation is empty: no voxel reaches the threshold {threshold:g} {unit}."
        )
    out = label_volume(image, region.astype(np.uint8), {1: "uptake"}, "uptake")
    out.metadata.extra["uptake_threshold"] = threshold
    return out
