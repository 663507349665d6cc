"""Correcting a mask with inside/outside scribbles (random walker on the CT).

A radiologist paints a few strokes: *inside* where the mask missed tissue
that belongs to it, *outside* where it took tissue that does not. The mask is
then recomputed near its boundary and near the strokes by a random walker
(Grady, IEEE TPAMI 28(11):1768-1783, 2006; scikit-image's
``random_walker``): every undecided voxel takes the label whose markers a
random walk, slowed down by intensity edges, reaches first.

Markers, on a working grid of about 1-2 mm around the mask and the strokes:

* object: the inside strokes, and the mask's core (deeper than
  :data:`CORE_DEPTH_MM`) except within :data:`SCRIBBLE_REACH_MM` of an
  outside stroke;
* background: the outside strokes, and everything farther than
  :data:`MARGIN_MM` from the mask except within :data:`SCRIBBLE_REACH_MM` of
  an inside stroke.

The voxels between are decided by the walker (edge weights from the CT
median-filtered and scaled by its noise, :data:`EDGE_SOFTNESS_SIGMAS`); the
object probability returns to the CT grid by trilinear interpolation (half
is the boundary), and only the parts connected to object markers are kept.
The result is taken within the reach of the strokes (and in the part of the
mask an outside stroke claims: a leak into a whole neighbouring organ);
elsewhere the mask is unchanged, so a correction stays local.

A lesion-sized mask (equivalent radius up to :data:`LESION_SCALE_MM`) is
instead grown again from the strokes by the seeded-lesion method of
:func:`~workstation.segmentation.segment_lesions` (its soft, low-contrast
edge is placed by intensity levels, not by a walk), inside the mask and the
strokes grown by :data:`LESION_ROOM_MM` and out of the outside strokes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.segmentation._common import (
    MAD_TO_SIGMA,
    Canonical,
    dilate,
    erode,
    median_smooth,
    require_ct,
)
from workstation.segmentation._grid import WorkingGrid, bbox_slices

__all__ = ["refine_mask"]

#: Depth (mm) below which the mask's voxels are object markers.
CORE_DEPTH_MM = 6.0
#: Distance (mm) beyond the mask from which voxels are background markers.
MARGIN_MM = 8.0
#: A stroke claims its surroundings up to the mask's equivalent radius, between
#: these distances (mm): markers of the other label there are dropped, so the
#: walker decides them. The object markers lie deeper than 0.3 radius (at most
#: CORE_DEPTH_MM), the background ones farther than 0.4 radius (at most MARGIN_MM).
SCRIBBLE_REACH_MIN_MM = 8.0
SCRIBBLE_REACH_MM = 25.0
#: Masks up to this equivalent radius (mm) are lesions: they are grown again from
#: the strokes by the seeded-lesion method (a random walk from small markers on
#: a soft, low-contrast edge shrinks towards them), within LESION_ROOM_MM of the
#: mask and the strokes.
LESION_SCALE_MM = 30.0
LESION_ROOM_MM = 20.0
#: Radius (mm) of the brush that paints a stroke given as points.
BRUSH_RADIUS_MM = 2.5
#: Edge weights: an intensity step of this many noise standard deviations per
#: voxel halves a walk's chance to cross (exp(-(g/k)^2 / 2) with k this).
EDGE_SOFTNESS_SIGMAS = 2.0
#: Working grid: about a fifteenth of the mask's equivalent radius, between these (mm).
GRID_MIN_MM = 1.0
GRID_MAX_MM = 2.0

Strokes = Volume | np.ndarray | Sequence[Sequence[float]] | None


def refine_mask(
    image: Volume,
    mask: Volume,
    inside: Strokes = None,
    outside: Strokes = None,
    label: int | str | None = None,
    brush_radius_mm: float = BRUSH_RADIUS_MM,
) -> Volume:
    """Refine one label of a mask with inside/outside scribbles.

    Parameters
    ----------
    image:
        The CT (HU) the mask was drawn on; the result is on its grid.
    mask:
        Label volume (any grid; resampled by nearest neighbour onto ``image``).
    inside, outside:
        Strokes: a boolean array on ``image``'s grid (e.g. a napari labels
        layer painted on it), a mask :class:`Volume` (any grid), or LPS points
        in mm (each painted as a ball of ``brush_radius_mm``). At least one
        of the two is needed.
    label:
        The label to refine (value or name); by default every non-zero voxel
        is one region.
    brush_radius_mm:
        Radius (mm) of the ball painted around each point of a stroke given as points.

    Returns
    -------
    Volume
        Label volume on ``image``'s grid: the other labels as they were, the
        refined region with the label's value (1 for a binary mask) and name.

    Raises
    ------
    InvalidInputError
        No stroke, strokes outside the image, or an image that is not a CT.
    EmptyMaskError
        The refined region is empty.
    """
    require_ct(image, "refinement", convert=False)
    labels = mask if mask.same_grid(image) else mask.resample_to(image, interpolation="nearest")
    value, name = _pick_label(labels, label)
    region = labels.array == value if value else labels.array != 0
    ins = _strokes(image, inside, brush_radius_mm, "inside")
    outs = _strokes(image, outside, brush_radius_mm, "outside")
    if ins is None and outs is None:
        raise InvalidInputError("Give inside or outside strokes (or both) to refine a mask.")
    ins = np.zeros(image.shape, bool) if ins is None else ins
    outs = np.zeros(image.shape, bool) if outs is None else outs
    if (ins & outs).any():
        ins = ins & ~outs  # a voxel painted both ways: the later correction (outside) wins
    volume_mm3 = float((region | ins).sum() * np.prod(image.spacing_mm))
    if (3.0 * volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0) <= LESION_SCALE_MM:
        refined = _regrow_lesion(image, region, ins, outs)
    else:
        refined = _refine(image, region, ins, outs)
    if not refined.any():
        raise EmptyMaskError("The refined mask is empty: the outside strokes removed all of it.")
    out_value = value or 1
    dtype = labels.array.dtype if labels.array.dtype.kind in "iu" and out_value <= np.iinfo(labels.array.dtype).max else np.uint16
    out_array = labels.array.astype(dtype)  # a copy: the input mask is not changed
    # only the box of the old and the new region changes
    box = bbox_slices(region | refined)
    assert box is not None
    sub, old, new = out_array[box], region[box], refined[box]
    sub[old & ~new] = 0
    sub[new] = out_value
    names = dict(labels.label_names)
    names[out_value] = name
    out = image.copy_with(array=out_array, units=Unit.LABEL, label_names=names, modality="SEG")
    out.metadata.series_description = f"{name} (refined)"
    return out


def _as_labels(array: np.ndarray) -> np.ndarray:
    """An integer view of a label array for :func:`scipy.ndimage.find_objects` (booleans as 0/1)."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        return arr.view(np.uint8)
    return arr if arr.dtype.kind in "iu" else arr.astype(np.int64)


def _pick_label(labels: Volume, label: int | str | None) -> tuple[int, str]:
    """(value, name) of the label to refine; value 0 means every non-zero voxel."""
    if label is None:
        # one pass over the array (find_objects), not a sort of it: the viewer calls this on whole CTs
        present = [n for n, box in enumerate(ndi.find_objects(_as_labels(labels.array)), start=1) if box is not None]
        if len(present) == 1:
            return present[0], labels.label_names.get(present[0], "mask")
        return 0, "mask"
    if isinstance(label, str):
        for v, n in labels.label_names.items():
            if n == label:
                return int(v), n
        known = ", ".join(repr(n) for n in labels.label_names.values()) or "none"
        raise InvalidInputError(f"The mask has no label named {label!r}; available: {known}.")
    if not (labels.array == label).any():
        raise EmptyMaskError(f"The mask has no voxel with label {label}.")
    return int(label), labels.label_names.get(int(label), f"label {label}")


def _strokes(image: Volume, strokes: Strokes, radius_mm: float, what: str) -> np.ndarray | None:
    if strokes is None:
        return None
    if isinstance(strokes, Volume):
        on = strokes if strokes.same_grid(image) else strokes.resample_to(image, interpolation="nearest")
        arr = on.array != 0
    elif isinstance(strokes, np.ndarray) and strokes.shape == image.shape:
        arr = strokes.astype(bool)
    else:
        points = np.asarray(strokes, dtype=float).reshape(-1, 3)
        if not np.all(np.isfinite(points)):
            raise InvalidInputError(f"The {what} strokes must be finite LPS points (mm).")
        idx = np.rint(image.world_to_index(points)).astype(int)
        keep = np.all((idx >= 0) & (idx < np.array(image.shape)), axis=1)
        if not keep.any():
            raise InvalidInputError(f"The {what} strokes lie outside the image.")
        arr = np.zeros(image.shape, bool)
        arr[tuple(idx[keep].T)] = True
        arr = dilate(arr, radius_mm, image.spacing_mm)
    return arr if arr.any() else None


def _refine(image: Volume, region: np.ndarray, ins: np.ndarray, outs: np.ndarray) -> np.ndarray:
    from skimage.segmentation import random_walker

    spacing_full = image.spacing_mm
    volume_mm3 = float(region.sum() * np.prod(spacing_full)) + 1.0
    radius = (3.0 * volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
    target = float(np.clip(radius / 15.0, GRID_MIN_MM, GRID_MAX_MM))
    margin = np.ceil((SCRIBBLE_REACH_MM + MARGIN_MM) / spacing_full).astype(int)
    box = bbox_slices(region | ins | outs, margin)
    assert box is not None
    grid = WorkingGrid(image.shape, spacing_full, target, box=box)
    work = grid.working_volume(image)
    canon = Canonical(work)
    spacing = canon.spacing
    a = median_smooth(canon.to_canon(work.array), 1)
    reg = canon.to_canon(grid.downsample(region) >= 0.5)
    ins_w = canon.to_canon(grid.downsample(ins) > 0)
    outs_w = canon.to_canon(grid.downsample(outs) > 0)
    # the reach of a stroke and the depth of the markers scale with the mask (a lesion, a liver)
    reach = float(np.clip(radius, SCRIBBLE_REACH_MIN_MM, SCRIBBLE_REACH_MM))
    depth = float(np.clip(0.3 * radius, 2.0 * float(spacing.max()), CORE_DEPTH_MM))
    margin_mm = float(np.clip(0.4 * radius, 2.0 * float(spacing.max()), MARGIN_MM))
    near_ins = dilate(ins_w, reach, spacing) if ins_w.any() else np.zeros_like(ins_w)
    near_outs = _claimed(a, outs_w, reg, spacing, reach)
    obj = (erode(reg, depth, spacing) & ~near_outs) | ins_w
    bkg = (~dilate(reg, margin_mm, spacing) & ~near_ins) | outs_w
    obj &= ~outs_w
    bkg &= ~obj
    if not obj.any():
        return np.zeros(image.shape, bool)
    markers = np.zeros(a.shape, np.int32)
    markers[obj] = 1
    markers[bkg] = 2
    unknown = markers == 0
    # markers far from any undecided voxel do not change the walk: leave them out of the graph
    active = ndi.binary_dilation(unknown, iterations=2)
    markers[~active] = -1
    noise = _noise_sigma(a)
    data = (a / noise).astype(np.float64)
    beta = 10.0 * float(data.std()) / (2.0 * EDGE_SOFTNESS_SIGMAS**2)
    prob_obj = np.where(obj, 1.0, 0.0)
    if unknown.any():
        with warnings.catch_warnings():
            # the conjugate-gradient solution may overshoot [0, 1] by about its tolerance
            # (scikit-image says so in a warning); it is clipped, and the half level is what counts
            warnings.filterwarnings("ignore", message="The probability range is outside", category=UserWarning)
            probs = random_walker(data, markers, beta=beta, mode="cg_j", tol=1e-3,
                                  spacing=tuple(spacing / spacing.min()), return_full_prob=True)
        prob_obj = np.where(unknown, np.clip(probs[0], 0.0, 1.0), prob_obj)
    decided = prob_obj >= 0.5
    lab, _ = ndi.label(decided)
    keep_ids = np.unique(lab[obj & decided])
    keep = np.isin(lab, keep_ids[keep_ids > 0])
    field = np.where(keep, np.maximum(prob_obj, 0.5), np.minimum(prob_obj, 0.499)).astype(np.float32)
    inside_box = grid.threshold_full(canon.from_canon(field), 0.5)
    # strokes correct their surroundings: the walker's boundary is taken within
    # their reach (and in the part of the mask an outside stroke claims); elsewhere
    # the mask stays as drawn, so a good boundary far from the strokes is not re-decided
    zone = near_ins | near_outs | ins_w | outs_w
    zone_full = grid.threshold_full(canon.from_canon(zone.astype(np.float32)), 0.5)
    out = region.copy()
    out[zone_full] = inside_box[zone_full]
    return out


def _regrow_lesion(image: Volume, region: np.ndarray, ins: np.ndarray, outs: np.ndarray) -> np.ndarray:
    """A lesion-sized mask is grown again from the strokes by the seeded-lesion method.

    The seed is the inside stroke's voxel nearest the middle of the mask and
    the strokes (or the mask's deepest point away from the outside strokes);
    the lesion may fill the mask and the strokes grown by
    :data:`LESION_ROOM_MM`, but not the outside strokes; the inside strokes
    are kept in it.
    """
    from workstation.segmentation._lesion_seeded import LesionSeed, grow_lesion

    spacing = image.spacing_mm
    # everything happens within the room around the mask and the strokes: work in its box
    pad = np.ceil((LESION_ROOM_MM + SCRIBBLE_REACH_MIN_MM) / spacing).astype(int) + 2
    box = bbox_slices(region | ins | outs, [int(p) for p in pad])
    assert box is not None
    origin = np.array([b.start for b in box])
    region, ins, outs = region[box], ins[box], outs[box]
    away = dilate(outs, float(spacing.max()), spacing) if outs.any() else np.zeros_like(outs)
    room = dilate(region | ins, LESION_ROOM_MM, spacing) & ~away
    if ins.any():
        pts = np.argwhere(ins)
        middle = np.argwhere(region | ins).mean(axis=0)
        seed = pts[int(np.argmin((((pts - middle) * spacing) ** 2).sum(axis=1)))]
    else:
        kept = region & ~dilate(outs, SCRIBBLE_REACH_MIN_MM, spacing)
        if not kept.any():
            return np.zeros(image.shape, bool)
        depth = ndi.distance_transform_edt(kept, sampling=spacing)
        seed = np.array(np.unravel_index(int(np.argmax(depth)), depth.shape))
    room_full = np.zeros(image.shape, bool)
    room_full[box] = room
    grown = grow_lesion(image, room_full, LesionSeed((seed + origin).astype(float)), "inside stroke of the refined mask")
    lesion = (grown[box] | ins) & ~outs
    lab, _ = ndi.label(lesion)
    out = np.zeros(image.shape, bool)
    out[box] = lab == lab[tuple(seed)] if lab[tuple(seed)] else lesion
    return out


def _claimed(
    a: np.ndarray, strokes: np.ndarray, region: np.ndarray, spacing: np.ndarray, reach_mm: float
) -> np.ndarray:
    """The part of the mask an outside stroke takes from the object markers.

    Its reach, and the part of the mask connected
    to the stroke whose CT number is closer to the stroke's than to the median
    of the rest of the mask: a leak into a whole neighbouring organ is claimed
    by one stroke across it.
    """
    if not strokes.any():
        return np.zeros_like(strokes)
    reach = dilate(strokes, reach_mm, spacing)
    rest = region & ~reach
    if not rest.any():
        return reach
    stroke_hu = float(np.median(a[strokes]))
    mask_hu = float(np.median(a[rest]))
    similar = region & (np.abs(a - stroke_hu) < np.abs(a - mask_hu))
    lab, _ = ndi.label(similar | strokes)
    ids = np.unique(lab[strokes])
    return reach | np.isin(lab, ids[ids > 0])


def _noise_sigma(a: np.ndarray) -> float:
    """Noise standard deviation (HU) of a filtered CT from the differences of neighbouring voxels.

    The MAD of the differences along the last axis over soft tissue
    (-100..300 HU), divided by √2 (two independent voxels).
    """
    diffs = np.diff(a, axis=-1)
    tissue = (a[..., 1:] > -100.0) & (a[..., 1:] < 300.0)
    values = diffs[tissue] if tissue.any() else diffs.ravel()
    sigma = float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values)))) / np.sqrt(2.0)
    return max(sigma, 1.0)
