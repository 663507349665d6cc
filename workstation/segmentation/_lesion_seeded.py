"""One lesion from a click or from its long axis, on a working grid of about 1 mm.

The lesion is everything around the seed that differs from the parenchyma in
the lesion's direction (not only the part as dark as the seed): real
metastases are heterogeneous, darker in the core than at the soft edge, and
a threshold half-way between the core and the parenchyma returns the core.

1. A box of :data:`ROI_RADIUS_MM` around the seed (or the line's middle) is
   block-averaged onto a grid of about :data:`LESION_GRID_MM`.
2. Parenchyma: the histogram mode (and robust spread σ) of the liver voxels
   of the box in the image smoothed at :data:`DETECT_SIGMA_MM`.
3. Lesion: the median near the seed (or along the middle of the line); its
   contrast to the parenchyma must reach :data:`MIN_LESION_CONTRAST_HU`.
4. Detection: the voxels beyond the parenchyma by more than
   max(:data:`DETECT_SIGMAS` σ, :data:`DETECT_MIN_HU`) (at most half the
   contrast) in the lesion's direction, connected to the seed (to the middle
   of the line), inside the liver's envelope and the reach of the seed; an
   enhancing rim (the opposite direction, around most of the region) joins;
   necks narrower than the lesion's own inner radius are cut (vessels of the
   same density), holes are filled.
5. Edge: each boundary voxel goes to the side of the 50 % level between the
   lesion's CT number just inside the boundary and the parenchyma's just
   outside (both local), in the image smoothed at :data:`EDGE_SIGMA_MM`,
   which is where a blurred edge of any softness lies.
6. The inside fraction (partial volume between those two local levels on the
   boundary, the smoothed mask elsewhere) returns to the CT grid trilinearly.

A long axis (two points across the lesion, RECIST style) gives the lesion's
CT number along its middle half, and bounds its reach to a ball of
:data:`LINE_REACH_FACTOR` times its length around its middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Volume
from workstation.segmentation._common import (
    MAD_TO_SIGMA,
    Canonical,
    closing,
    component_at,
    dilate,
    erode,
    fill_holes_3d_and_slices,
    opening,
)
from workstation.segmentation._grid import WorkingGrid

#: Working-grid spacing (mm) of the lesion segmentation.
LESION_GRID_MM = 1.0
#: Half-size (mm) of the box around a click, and the largest distance (mm) a
#: lesion grown from a click may reach from it.
ROI_RADIUS_MM = 45.0
MAX_RADIUS_MM = 75.0
#: Radius (mm) of the neighbourhood of a click whose median is the lesion's CT number.
CLICK_RADIUS_MM = 3.5
#: Smallest lesion/parenchyma contrast (HU) of a seed's neighbourhood in the
#: smoothed image (issue 11: lesions of 15-40 HU contrast; 10 HU leaves room for noise).
MIN_LESION_CONTRAST_HU = 8.0
#: Smoothing (mm, Gaussian σ) for detection and for placing the edge:
#: SCALE_PER_RADIUS times the radius of the lesion's core, between the light
#: smoothing (seed value, core, rim) and DETECT_SIGMA_MM (noise of 10-25 HU
#: needs about 2.5 mm for a 20 HU lesion).
LIGHT_SIGMA_MM = 1.0
DETECT_SIGMA_MM = 2.5
SCALE_PER_RADIUS = 0.25
#: Smoothing (mm, Gaussian σ) of the final mask: noise makes the voxel decisions ragged.
EDGE_SMOOTH_MM = 1.0
#: Detection threshold beyond the parenchyma: max(SIGMAS σ, MIN_HU), at most half the contrast.
DETECT_SIGMAS = 2.5
DETECT_MIN_HU = 6.0
#: An enhancing rim: the layers within RIM_SHELL_MM outside the region exceed
#: the parenchyma (in the opposite direction) by RIM_MIN_HU on average, in the
#: lightly smoothed image.
RIM_SHELL_MM = 5.0
RIM_MIN_HU = 8.0
#: Largest difference (HU) of a rim from the parenchyma (beyond it: fat, air, bone).
RIM_MAX_HU = 80.0
#: The liver's own edge (mm) is left out of the detection (partial volume with
#: what lies outside looks hypodense).
LIVER_EDGE_MARGIN_MM = 1.0
#: A hyperdense lesion stops where the tissue is brighter than
#: max(FACTOR × its contrast, contrast + EXCESS): the enhanced vessels.
HYPER_MAX_FACTOR = 1.8
HYPER_MAX_EXCESS_HU = 20.0
#: A click's lesion reaches at most max(FACTOR × its core's radius, core + MIN mm),
#: its core being where it is beyond CORE_FRACTION of the seed's contrast.
CORE_FRACTION = 0.6
CLICK_REACH_FACTOR = 2.2
CLICK_REACH_MIN_MM = 8.0
#: Necks narrower than this fraction of the lesion's inner radius are cut.
NECK_FRACTION = 0.75
#: A long axis bounds the lesion to a ball of this many times its length around its middle.
LINE_REACH_FACTOR = 0.65
#: Closing radius (mm) of the liver's envelope a lesion may fill, and how far
#: (mm) outside the liver mask a seed may lie (a subcapsular lesion left out of it).
ENVELOPE_CLOSING_MM = 10.0
SUBCAPSULAR_MARGIN_MM = 15.0
#: Star-shaped envelope: (θ, φ) ray grid, how far a direction may exceed the
#: median of its neighbours (factor) and of all directions (factor), and for a
#: long axis the cap in half-lengths. A click's centre is the region's deepest
#: point within STAR_CENTRE_SEARCH_MM of it.
STAR_DIRECTIONS = (24, 48)
STAR_TOLERANCE = 1.25
STAR_MAX_FACTOR = 1.6
STAR_LINE_CAP = 1.25
STAR_CENTRE_SEARCH_MM = 10.0
#: Depth (mm) of the shells inside and outside the boundary whose local means
#: (within a box of EDGE_REFERENCE_MM) are the lesion's and the parenchyma's levels at the edge.
EDGE_SHELL_MM = 3.0
EDGE_REFERENCE_MM = 10.0
EDGE_ITERATIONS = 3


@dataclass
class LesionSeed:
    """A click (``end`` None) or a long axis from ``start`` to ``end`` (full-grid indices, k j i)."""

    start: np.ndarray
    end: np.ndarray | None = None

    @property
    def centre(self) -> np.ndarray:
        return self.start if self.end is None else 0.5 * (self.start + self.end)


def grow_lesion(ct: Volume, liver_full: np.ndarray, seed: LesionSeed, what: str) -> np.ndarray:
    """One lesion as a boolean array on the CT grid.

    ``liver_full`` is the liver mask on the CT grid; the lesion may fill the
    liver's envelope (closing by :data:`ENVELOPE_CLOSING_MM`, holes filled),
    and a seed up to :data:`SUBCAPSULAR_MARGIN_MM` outside it (a subcapsular
    lesion left out of the liver mask) may grow there too. Raises
    :class:`InvalidInputError` for a seed outside the liver or on no lesion.
    """
    spacing_full = ct.spacing_mm
    centre = seed.centre
    if seed.end is None:
        radius = ROI_RADIUS_MM
    else:
        length = float(np.linalg.norm((seed.end - seed.start) * spacing_full))
        radius = min(MAX_RADIUS_MM, LINE_REACH_FACTOR * length + 10.0)
    for attempt in range(2):
        half = np.ceil(radius / spacing_full).astype(int)
        box = tuple(
            slice(max(int(np.floor(c)) - h, 0), min(int(np.ceil(c)) + h + 1, n))
            for c, h, n in zip(centre, half, ct.shape, strict=True)
        )
        grid = WorkingGrid(ct.shape, spacing_full, LESION_GRID_MM, box=box)
        fraction, touches_box = _grow_in_box(ct, liver_full, seed, grid, what, radius)
        if not touches_box or seed.end is not None or radius >= MAX_RADIUS_MM or attempt:
            break
        radius = MAX_RADIUS_MM
    return grid.threshold_full(fraction, 0.5)


def _grow_in_box(
    ct: Volume,
    liver_full: np.ndarray,
    seed: LesionSeed,
    grid: WorkingGrid,
    what: str,
    radius_mm: float,
) -> tuple[np.ndarray, bool]:
    work = grid.working_volume(ct)
    canon = Canonical(work)
    a = canon.to_canon(work.array)
    spacing = canon.spacing
    liver_w = canon.to_canon(grid.downsample(liver_full) >= 0.5)
    light = ndi.gaussian_filter(a, LIGHT_SIGMA_MM / spacing)

    def to_canon_index(full_index: np.ndarray) -> np.ndarray:
        w = grid.to_working_index(full_index)
        w = np.clip(np.rint(w), 0, np.array(work.shape) - 1).astype(int)
        return np.array(canon.index_to_canon(w))

    start = to_canon_index(seed.start)
    env = fill_holes_3d_and_slices(closing(liver_w, ENVELOPE_CLOSING_MM, spacing))
    if not env[tuple(start)]:
        # a subcapsular lesion may have been left out of the liver mask
        near_liver = dilate(liver_w, SUBCAPSULAR_MARGIN_MM, spacing)
        if not near_liver[tuple(start)]:
            raise InvalidInputError(f"The {what} lies outside the liver mask.")
        env |= near_liver
    if seed.end is None:
        cores = [start]
        centre = start.astype(float)
    else:
        end = to_canon_index(seed.end)
        steps = max(int(np.abs(end - start).max()) * 2, 2)
        t = np.linspace(0.25, 0.75, steps)
        cores = [np.rint(start + (end - start) * f).astype(int) for f in t]
        centre = 0.5 * (start + end)
    grids = np.ogrid[tuple(slice(0, n) for n in a.shape)]
    dist2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    reach = dist2 <= radius_mm**2
    liver = env & reach
    if liver.sum() < 50:
        raise InvalidInputError(f"The {what} lies outside the liver mask.")
    # parenchyma: the dominant tissue of the liver in the box
    parenchyma, _ = _mode_and_spread(light[liver])
    near_seed = np.zeros(a.shape, bool)
    for c in cores:
        near_seed[tuple(c)] = True
    if seed.end is None:
        near_seed = dilate(near_seed, max(CLICK_RADIUS_MM, float(spacing.max())), spacing) & liver
    lesion_hu = float(np.median(light[near_seed]))
    contrast = lesion_hu - parenchyma
    if abs(contrast) < MIN_LESION_CONTRAST_HU:
        # in noisy images (low-dose CT) a faint lesion shows at a coarser scale
        coarse = ndi.gaussian_filter(a, DETECT_SIGMA_MM / spacing)
        coarse_hu = float(np.median(coarse[near_seed]))
        if abs(coarse_hu - parenchyma) >= MIN_LESION_CONTRAST_HU:
            lesion_hu, contrast = coarse_hu, coarse_hu - parenchyma
    if abs(contrast) < MIN_LESION_CONTRAST_HU:
        raise InvalidInputError(
            f"The {what} is not on a lesion: its neighbourhood ({lesion_hu:.0f} HU) is within "
            f"{MIN_LESION_CONTRAST_HU:.0f} HU of the liver parenchyma ({parenchyma:.0f} HU)."
        )
    # the lesion's scale sets the smoothing: its core is where it is beyond
    # CORE_FRACTION of the seed's contrast (in the lightly smoothed image)
    sign_light = 1.0 if contrast > 0 else -1.0
    core = _components_at(((sign_light * (light - parenchyma) > CORE_FRACTION * abs(contrast)) & liver) | near_seed, cores)
    core_radius = float((3.0 * core.sum() * np.prod(spacing) / (4.0 * np.pi)) ** (1.0 / 3.0))
    scale = float(np.clip(SCALE_PER_RADIUS * core_radius, LIGHT_SIGMA_MM, DETECT_SIGMA_MM))
    detect = ndi.gaussian_filter(a, scale / spacing)
    edge_img = detect
    parenchyma, sigma = _mode_and_spread(detect[liver])
    contrast = float(np.median(detect[near_seed])) - parenchyma
    if contrast * sign_light <= 0:
        contrast = sign_light * MIN_LESION_CONTRAST_HU
    sign = 1.0 if contrast > 0 else -1.0
    delta = min(max(DETECT_SIGMAS * sigma, DETECT_MIN_HU), 0.5 * abs(contrast))
    # what the parenchyma looks like at each voxel: near the liver's edge it is
    # blurred with the tissue outside (partial volume), which is not a lesion
    expected = ndi.gaussian_filter(np.where(liver_w | ~env, np.where(liver_w, parenchyma, a), parenchyma), scale / spacing)
    beyond = sign * (detect - expected)
    inner_liver = liver & erode(env, LIVER_EDGE_MARGIN_MM, spacing) if sign < 0 else liver.copy()
    if sign > 0:
        # vessels are brighter than a hyperdense lesion in contrast CT
        bound = max(HYPER_MAX_FACTOR * abs(contrast), abs(contrast) + HYPER_MAX_EXCESS_HU)
        inner_liver &= ndi.binary_erosion(light - parenchyma <= bound, iterations=1)
    abnormal = (beyond > delta) & inner_liver
    abnormal |= near_seed & liver
    region = _components_at(abnormal, cores)
    region, has_rim = _add_rim(region, light, parenchyma, sign, inner_liver, spacing)
    region = fill_holes_3d_and_slices(region) & liver
    region = _cut_necks(region, cores, spacing)
    if seed.end is None:
        # a click gives no size: the lesion's core sets how far it may reach
        cap = max(CLICK_REACH_FACTOR * core_radius, core_radius + CLICK_REACH_MIN_MM)
    else:
        cap = 0.5 * float(np.linalg.norm((end - start) * spacing)) * STAR_LINE_CAP
    star_centre = _star_centre(region, centre, spacing)
    region = _star_limit(region, star_centre, spacing, cap)
    if not has_rim:
        # (a rim's outer edge is already at its half-excess layer)
        region = _place_edge(edge_img, region, inner_liver, sign, expected, spacing)
        # what the edge regrew along a vessel is cut again
        region = _cut_necks(region, cores, spacing)
        region = _star_limit(region, star_centre, spacing, cap)
    # a smooth boundary: the mask smoothed at EDGE_SMOOTH_MM, its core components
    fraction = ndi.gaussian_filter(region.astype(np.float32), EDGE_SMOOTH_MM / spacing)
    region = fill_holes_3d_and_slices(fraction >= 0.5) & liver
    keep = np.zeros(a.shape, bool)
    lab, _ = ndi.label(region)
    for c in cores:
        if lab[tuple(c)]:
            keep |= lab == lab[tuple(c)]
    if not keep.any():
        keep = region
    fraction = np.where(keep | ~region, fraction, 0.0).astype(np.float32)
    fraction[keep & (fraction < 0.5)] = 0.5
    shell = ~ndi.binary_erosion(np.ones(a.shape, bool), border_value=0)
    touches_box = bool((keep & shell).any())
    return canon.from_canon(fraction), touches_box


def _star_centre(region: np.ndarray, centre: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The deepest point of the region within :data:`STAR_CENTRE_SEARCH_MM` of ``centre`` (a click off the middle)."""
    depth = ndi.distance_transform_edt(region, sampling=spacing)
    grids = np.ogrid[tuple(slice(0, n) for n in region.shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    near = np.where(d2 <= STAR_CENTRE_SEARCH_MM**2, depth, 0.0)
    if near.max() <= 0:
        return np.asarray(centre, float)
    return np.array(np.unravel_index(int(np.argmax(near)), region.shape), float)


def _star_limit(
    region: np.ndarray, centre: np.ndarray, spacing: np.ndarray, cap_mm: float | None
) -> np.ndarray:
    """Keep the region within a star-shaped envelope around ``centre``.

    Rays on a (θ, φ) grid find where the region ends in each direction; a
    direction may reach :data:`STAR_TOLERANCE` times the median of its
    neighbouring directions (a 5 × 5 window) plus one voxel, and at most
    :data:`STAR_MAX_FACTOR` times the median over all directions (and
    ``cap_mm``): a vessel or a noise finger leaving the lesion in a few
    directions is cut where the lesion ends around it.
    """
    n_theta, n_phi = STAR_DIRECTIONS
    theta = (np.arange(n_theta) + 0.5) * np.pi / n_theta
    phi = (np.arange(n_phi) + 0.5) * 2.0 * np.pi / n_phi
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    dirs = np.stack([np.cos(tt), np.sin(tt) * np.sin(pp), np.sin(tt) * np.cos(pp)], axis=-1)  # (z, y, x) unit
    extent = float(np.max(np.array(region.shape) * spacing))
    step = 0.5 * float(spacing.min())
    radii = np.arange(0.0, extent, step)
    pts = centre[None, None, None, :] + dirs[:, :, None, :] * radii[None, None, :, None] / spacing
    idx = np.rint(pts).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(region.shape)), axis=-1)
    idx = np.clip(idx, 0, np.array(region.shape) - 1)
    hit = region[idx[..., 0], idx[..., 1], idx[..., 2]] & inside
    # where the region ends along each ray: its first gap
    first_out = np.argmax(~hit, axis=-1)
    first_out[hit.all(axis=-1)] = len(radii) - 1
    r = radii[first_out]
    if not np.any(r > 0):
        return region
    local = ndi.median_filter(r, size=5, mode="wrap")
    cap = np.minimum(STAR_TOLERANCE * local + float(spacing.max()), STAR_MAX_FACTOR * float(np.median(r)) + float(spacing.max()))
    if cap_mm is not None:
        cap = np.minimum(cap, cap_mm)
    # the cap of every voxel's direction
    grids = np.ogrid[tuple(slice(0, n) for n in region.shape)]
    dz, dy, dx = ((g - c) * s for g, c, s in zip(grids, centre, spacing, strict=True))
    dist = np.sqrt(dz**2 + dy**2 + dx**2)
    vt = np.arccos(np.clip(dz / np.maximum(dist, 1e-9), -1.0, 1.0))
    vp = np.mod(np.arctan2(dy, dx), 2.0 * np.pi)
    it = np.clip((vt / np.pi * n_theta).astype(int), 0, n_theta - 1)
    ip = np.clip((vp / (2.0 * np.pi) * n_phi).astype(int), 0, n_phi - 1)
    return region & (dist <= cap[it, ip])


def _mode_and_spread(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    lo, hi = np.percentile(values, [1, 99])
    bins = np.arange(lo - 1.0, hi + 2.0, 1.0)
    hist, edges = np.histogram(values, bins=bins)
    hist = ndi.gaussian_filter1d(hist.astype(float), 2.0)
    mode = float(edges[int(np.argmax(hist))] + 0.5)
    # spread from the side of the mode away from the lesions' tail: the
    # parenchyma is one peak, lesions and vessels add tails on either side
    near = values[np.abs(values - mode) <= 30.0]
    sigma = float(MAD_TO_SIGMA * np.median(np.abs(near - mode)))
    return mode, max(sigma, 1.0)


def _components_at(mask: np.ndarray, cores: list[np.ndarray]) -> np.ndarray:
    """The connected components of ``mask`` that hold one of the ``cores`` points."""
    out = np.zeros(mask.shape, bool)
    lab, _ = ndi.label(mask)
    for c in cores:
        if lab[tuple(c)]:
            out |= lab == lab[tuple(c)]
    return out


def _add_rim(
    region: np.ndarray, image: np.ndarray, parenchyma: float, sign: float, liver: np.ndarray, spacing: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Add an enhancing rim (the opposite contrast) that surrounds the region.

    The mean CT number of 1 mm layers outside the region (a radial profile
    averaged over the whole surface, so a vessel touching one side hardly
    counts) rises above the parenchyma by at least :data:`RIM_MIN_HU` within
    :data:`RIM_SHELL_MM`: the rim reaches the layer where that excess falls to
    half its peak. Returns the region and whether it had a rim.
    """
    if not region.any():
        return region, False
    dist = ndi.distance_transform_edt(~region, sampling=spacing)
    # a rim is soft tissue: fat or air beside the liver is not one
    liver = liver & (np.abs(image - parenchyma) <= RIM_MAX_HU)
    layers = np.arange(0.5, RIM_SHELL_MM + 3.0, 1.0)
    excess = []
    for d in layers:
        ring = liver & (dist > d - 0.5) & (dist <= d + 0.5)
        excess.append(-sign * (float(image[ring].mean()) - parenchyma) if ring.sum() >= 10 else 0.0)
    prof = np.array(excess)
    near = layers <= RIM_SHELL_MM
    peak_at = int(np.argmax(np.where(near, prof, -np.inf)))
    peak = float(prof[peak_at])
    if peak < RIM_MIN_HU:
        return region, False
    after = np.flatnonzero(prof[peak_at:] < 0.5 * peak)
    edge = float(layers[peak_at + after[0]] - 0.5) if after.size else float(layers[-1])
    return region | (liver & (dist <= edge)), True


def _cut_necks(region: np.ndarray, cores: list[np.ndarray], spacing: np.ndarray) -> np.ndarray:
    """Open with a ball of a fraction of the lesion's inner radius: vessels touching it fall off."""
    depth = ndi.distance_transform_edt(region, sampling=spacing)
    inner = float(max(depth[tuple(c)] for c in cores))
    inner = max(inner, float(depth.max()) if len(cores) > 1 else inner)
    radius = NECK_FRACTION * inner
    if radius < 1.01 * float(spacing.max()):
        return region
    opened = opening(region, radius, spacing)
    keep = np.zeros(region.shape, bool)
    lab, _ = ndi.label(opened)
    for c in cores:
        if lab[tuple(c)]:
            keep |= lab == lab[tuple(c)]
    if not keep.any():
        deepest = np.unravel_index(int(np.argmax(np.where(opened, depth, 0))), depth.shape)
        keep = component_at(opened, deepest) if opened[deepest] else region
    # the opening rounds the region's own edge too: give back what lies within one voxel of it
    return region & dilate(keep, 1.01 * float(spacing.max()), spacing)


def _inside_level(image: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local CT number of the lesion just inside its boundary, and where it exists.

    The mean over a shell (:data:`EDGE_SHELL_MM` deep, one voxel away from
    the boundary) within a box of :data:`EDGE_REFERENCE_MM`: the periphery of
    a heterogeneous lesion, not its core.
    """
    voxel = float(spacing.max())
    inside = region & ~erode(region, voxel + EDGE_SHELL_MM, spacing) & erode(region, voxel, spacing)
    if not inside.any():
        inside = region
    size = np.maximum(3, 2 * np.round(EDGE_REFERENCE_MM / spacing).astype(int) + 1)
    w_in = ndi.uniform_filter(inside.astype(np.float32), size)
    m_in = ndi.uniform_filter(np.where(inside, image, 0.0).astype(np.float32), size)
    return m_in / np.maximum(w_in, 1e-3), w_in > 1e-3


def _place_edge(
    image: np.ndarray,
    region: np.ndarray,
    liver: np.ndarray,
    sign: float,
    parenchyma: np.ndarray,
    spacing: np.ndarray,
) -> np.ndarray:
    """Move the boundary to the local 50 % level between the lesion's edge and the parenchyma.

    Within two voxels of the boundary, a voxel is lesion when the image is
    beyond the middle of the two local levels; repeated so the boundary can
    travel, then the component(s) holding the region's core are kept.
    """
    st = ndi.generate_binary_structure(3, 1)
    out = region.copy()
    for _ in range(EDGE_ITERATIONS):
        level_in, valid = _inside_level(image, out, spacing)
        mid = 0.5 * (level_in + parenchyma)
        lesion_side = sign * (image - mid) > 0
        valid &= sign * (level_in - parenchyma) > 0
        band = ndi.binary_dilation(out, st, iterations=2) & ~ndi.binary_erosion(out, st, iterations=2) & liver
        new = np.where(band & valid, lesion_side, out) & liver
        if np.array_equal(new, out):
            break
        out = new
    return out
