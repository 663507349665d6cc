"""Private helpers shared by the segmentation methods.

The heuristics (superior, patient's right, …) run on a *canonical* copy of the
array whose axes point, as closely as the grid allows, to +z (superior), +y
(posterior) and +x (patient's left) in LPS. :class:`Canonical` does the axis
permutation and flips and undoes them, so every method works on axial, coronal,
sagittal or flipped acquisitions alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.morphology import (  # noqa: F401 - the segmentation modules take them from here
    ball,
    closing,
    component_at,
    dilate,
    erode,
    largest_component,
    opening,
    padded_bbox,
)
from workstation.core.volume import Unit, Volume

#: Voxels below this CT number are air (HU); the usual body/air split
#: (e.g. Hu, Hoffman & Reinhardt, IEEE TMI 20(6):490-498, 2001 use an adaptive
#: threshold near -500 HU for the air/tissue separation).
AIR_THRESHOLD_HU = -500.0

#: Normal-distribution consistency factor of the median absolute deviation.
MAD_TO_SIGMA = 1.4826


class Canonical:
    """Axis permutation and flips between an array and its canonical (z+, y+, x+) view."""

    def __init__(self, volume: Volume) -> None:
        direction = volume.direction
        world_of_axis = np.argmax(np.abs(direction), axis=0)  # LPS component (x=0, y=1, z=2)
        if sorted(world_of_axis.tolist()) != [0, 1, 2]:
            raise InvalidInputError(
                "The image grid is too oblique to tell its superior, posterior and left directions."
            )
        # canonical axis c holds world component 2 - c (z, y, x)
        self.perm = tuple(int(np.where(world_of_axis == 2 - c)[0][0]) for c in range(3))
        self.flip = tuple(
            bool(direction[2 - c, self.perm[c]] < 0) for c in range(3)
        )
        self.shape = tuple(volume.shape[a] for a in self.perm)
        self.spacing = np.array([volume.spacing_mm[a] for a in self.perm])

    def to_canon(self, array: np.ndarray) -> np.ndarray:
        out = np.transpose(array, self.perm)
        for c, f in enumerate(self.flip):
            if f:
                out = np.flip(out, axis=c)
        return np.ascontiguousarray(out)

    def from_canon(self, array: np.ndarray) -> np.ndarray:
        out = array
        for c, f in enumerate(self.flip):
            if f:
                out = np.flip(out, axis=c)
        return np.ascontiguousarray(np.transpose(out, np.argsort(self.perm)))

    def index_to_canon(self, index: Sequence[int]) -> tuple[int, int, int]:
        idx = [int(index[a]) for a in self.perm]
        for c, f in enumerate(self.flip):
            if f:
                idx[c] = self.shape[c] - 1 - idx[c]
        return (idx[0], idx[1], idx[2])


def seed_index(volume: Volume, seed_lps: Sequence[float] | np.ndarray, what: str = "seed") -> tuple[int, int, int]:
    """Nearest voxel index (k, j, i) of an LPS point; error when outside the image."""
    point = np.asarray(seed_lps, dtype=float).reshape(-1)
    if point.size != 3 or not np.all(np.isfinite(point)):
        raise InvalidInputError(f"The {what} must be three finite LPS coordinates X Y Z in mm.")
    idx = np.rint(volume.world_to_index(point)).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(volume.shape)):
        lo, hi = volume.bounding_box_world()
        raise InvalidInputError(
            f"The {what} ({point[0]:.1f}, {point[1]:.1f}, {point[2]:.1f}) mm LPS lies outside the "
            f"image, whose extent is {np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm."
        )
    return (int(idx[0]), int(idx[1]), int(idx[2]))


def ball_offsets(radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Integer offsets (n, 3) of the voxels within ``radius_mm`` of a centre voxel."""
    half = np.floor(radius_mm / spacing).astype(int)
    grids = np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij")
    offs = np.stack([g.ravel() for g in grids], axis=1)
    dist = np.sqrt(((offs * spacing) ** 2).sum(axis=1))
    return offs[dist <= radius_mm + 1e-9]


def neighbourhood_values(
    array: np.ndarray, index: Sequence[int], radius_mm: float, spacing: np.ndarray
) -> np.ndarray:
    """Values of ``array`` within ``radius_mm`` of ``index`` (clipped to the array)."""
    offs = ball_offsets(radius_mm, spacing) + np.asarray(index)[None, :]
    keep = np.all((offs >= 0) & (offs < np.array(array.shape)[None, :]), axis=1)
    offs = offs[keep]
    return array[offs[:, 0], offs[:, 1], offs[:, 2]]


def robust_stats(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based standard deviation of ``values``."""
    values = np.asarray(values, dtype=float)
    med = float(np.median(values))
    sigma = float(MAD_TO_SIGMA * np.median(np.abs(values - med)))
    return med, sigma


















def _fill_holes_within(mask: np.ndarray, structure: np.ndarray, open_axes: Sequence[int]) -> np.ndarray:
    """``mask`` with the background components that touch no face across ``open_axes`` filled."""
    background, n = ndi.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    touching = np.zeros(n + 1, bool)
    for ax in open_axes:
        for end in (0, -1):
            touching[np.take(background, end, axis=ax)] = True
    touching[0] = True
    return mask | ~touching[background]


def fill_holes_3d_and_slices(mask: np.ndarray, axes: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """Fill holes in 3D, then in every 2D slice along each of ``axes``.

    Holes are the background components (face connectivity) that reach no
    border; a slice's holes are found for all slices at once by labelling the
    background with a connectivity that stays within the slices.
    """
    out = _fill_holes_within(np.asarray(mask, bool), ndi.generate_binary_structure(3, 1), (0, 1, 2))
    for ax in axes:
        structure = np.zeros((3, 3, 3), bool)
        plane: list[slice | int] = [slice(None)] * 3
        plane[ax] = 1
        structure[tuple(plane)] = ndi.generate_binary_structure(2, 1)
        out = _fill_holes_within(out, structure, [a for a in range(3) if a != ax])
    return out


#: Quantum (HU) of the integer copy the median filter sorts: a quarter of a
#: Hounsfield unit, far below the noise, lets it sort 16-bit integers.
MEDIAN_QUANTUM_HU = 0.25


def median_smooth(array: np.ndarray, radius: int = 1) -> np.ndarray:
    """Edge-preserving median filter (SimpleITK, multi-threaded) of a float array (float32 out).

    CT numbers are sorted as 16-bit integers in steps of
    :data:`MEDIAN_QUANTUM_HU` when they fit (about 30 % faster than floats).
    """
    import SimpleITK as sitk

    arr = np.asarray(array)
    scaled = arr / MEDIAN_QUANTUM_HU
    if arr.size and np.isfinite(arr).all() and float(scaled.min()) > -32000 and float(scaled.max()) < 32000:
        img = sitk.GetImageFromArray(np.rint(scaled).astype(np.int16))
        out = sitk.GetArrayFromImage(sitk.Median(img, [radius] * 3)).astype(np.float32)
        return out * np.float32(MEDIAN_QUANTUM_HU)
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr, dtype=np.float32))
    return sitk.GetArrayFromImage(sitk.Median(img, [radius] * 3))


def half_contrast_refine(
    image: np.ndarray,
    mask: np.ndarray,
    inside_value: float,
    spacing: np.ndarray,
    allowed: np.ndarray | None = None,
    iterations: int = 2,
    max_outside_spread: float = 60.0,
    noise_margin: float = 25.0,
) -> np.ndarray:
    """Move the edge of ``mask`` to the 50 % partial-volume level.

    A voxel of the one-voxel ring around the mask is added when its value lies
    on the inside's side of the midpoint between ``inside_value`` and the local
    mean of the voxels just outside the ring; a voxel of the inner ring is
    removed when it lies on the outside's side. This puts the boundary where a
    voxel is half inside, which is how a voxel-centre ground truth is drawn.
    """
    img = image.astype(np.float32, copy=False)
    st = ndi.generate_binary_structure(3, 1)
    out = mask.copy()
    for _ in range(iterations):
        if not out.any():
            break
        sl = padded_bbox(out, 4 * float(spacing.max()), spacing)
        sub = out[sl]
        sub_img = img[sl]
        ring = ndi.binary_dilation(sub, st) & ~sub
        far = ndi.binary_dilation(sub, st, iterations=3) & ~ndi.binary_dilation(sub, st)
        w_far = ndi.uniform_filter(far.astype(np.float32), 5)
        m_far = ndi.uniform_filter(np.where(far, sub_img, 0).astype(np.float32), 5)
        m2_far = ndi.uniform_filter(np.where(far, sub_img, 0).astype(np.float32) ** 2, 5)
        outside = np.where(w_far > 1e-3, m_far / np.maximum(w_far, 1e-3), np.nan)
        spread = np.sqrt(np.maximum(m2_far / np.maximum(w_far, 1e-3) - outside**2, 0.0))
        mid = 0.5 * (inside_value + outside)
        brighter_inside = inside_value > outside
        on_inside_side = np.where(brighter_inside, sub_img >= mid, sub_img <= mid)
        # only where the outside is one tissue: a thin layer with something else
        # behind it (diaphragm then lung) gives no usable 50 % level
        valid = np.isfinite(outside) & (spread <= max_outside_spread)
        # a partial-volume voxel lies between the two tissues (within the noise):
        # a rib behind a layer of muscle must not pull the muscle in
        lo = np.minimum(inside_value, outside) - noise_margin
        hi = np.maximum(inside_value, outside) + noise_margin
        valid &= (sub_img >= lo) & (sub_img <= hi)
        add = ring & valid & on_inside_side
        inner = sub & ~ndi.binary_erosion(sub, st)
        remove = inner & valid & ~on_inside_side & ~add
        new = (sub | add) & ~remove
        if allowed is not None:
            new &= allowed[sl]
        changed = (new != sub).sum()
        out[sl] = new
        if changed == 0:
            break
    return out


def label_volume(reference: Volume, labels: np.ndarray, names: dict[int, str], what: str) -> Volume:
    """Wrap a label array as a LABEL volume on ``reference``'s grid; error when empty."""
    if not np.any(labels):
        raise EmptyMaskError(f"The {what} segmentation is empty: nothing in the image matched.")
    dtype = np.uint8 if max(names, default=1) < 256 else np.uint16
    array = np.ascontiguousarray(labels, dtype=dtype)
    # one pass over the CT-sized array (find_objects), not a sort or a histogram of it
    present = {n for n, box in enumerate(ndi.find_objects(array), start=1) if box is not None}
    out = reference.copy_with(
        array=array,
        units=Unit.LABEL,
        label_names={k: v for k, v in names.items() if k in present},
        modality="SEG",
    )
    out.metadata.dicom_headers = list(reference.metadata.dicom_headers)
    out.metadata.series_description = what
    return out


def require_ct(ct: Volume, what: str, need_air: bool = False, convert: bool = True) -> np.ndarray:
    """The CT array (float32 with ``convert``, else as stored); error when it clearly is not in HU.

    ``need_air``: the method needs air around or inside the patient (body,
    lungs); a crop without air is then refused as "not a CT".
    """
    if ct.units not in (Unit.HU, Unit.UNKNOWN):
        raise InvalidInputError(
            f"The {what} segmentation needs a CT in HU, but the image has units {ct.units.value}."
        )
    arr = np.asarray(ct.array, dtype=np.float32) if convert else np.asarray(ct.array)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"The {what} segmentation needs a CT with numeric voxels, not {arr.dtype}.")
    if need_air and float(arr.min()) > -200.0:
        raise InvalidInputError(
            f"The {what} segmentation needs a CT in HU, but the image has no air "
            f"(minimum {float(arr.min()):.0f}); is it a CT?"
        )
    return arr


def mask_on(ct: Volume, mask: Volume | None, what: str) -> np.ndarray | None:
    """A boolean array of ``mask`` on ``ct``'s grid (nearest neighbour), or None."""
    if mask is None:
        return None
    m = mask if mask.same_grid(ct) else mask.resample_to(ct, interpolation="nearest")
    arr = m.array != 0
    if not arr.any():
        raise EmptyMaskError(f"The {what} mask is empty on the image grid.")
    return arr
