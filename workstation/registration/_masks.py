"""Masks of a registration: which space each lives in, the metric regions, sample points.

A mask is kept as a boolean volume on the grid of the image of its space
(fixed or moving); the metric region of a space is the union of its metric
masks minus its excluded regions dilated by a margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from workstation.core.errors import EmptyMaskError, NoOverlapError
from workstation.core.morphology import dilate
from workstation.core.volume import Unit, Volume
from workstation.registration._transforms import _name

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "Mask",
    "MaskRole",
    "Space",
    "collect_masks",
    "mask_image",
    "metric_regions",
    "region_points",
]

MaskRole = Literal["fixed_mask", "moving_mask", "exclude", "rigid"]
Space = Literal["fixed", "moving"]


@dataclass
class Mask:
    """A boolean mask on the grid of the image of its space."""

    name: str
    role: MaskRole
    space: Space
    volume: Volume

    def swapped(self) -> Mask:
        """The same mask for the reverse registration (fixed and moving exchanged)."""
        role: MaskRole = self.role
        if role == "fixed_mask":
            role = "moving_mask"
        elif role == "moving_mask":
            role = "fixed_mask"
        space: Space = "moving" if self.space == "fixed" else "fixed"
        return Mask(self.name, role, space, self.volume)


def to_bool_on(mask: Volume, image: Volume, what: str) -> Volume:
    """The mask as a boolean volume on ``image``'s grid (nearest neighbour, patient space)."""
    if not mask.same_grid(image):
        try:
            mask = mask.resample_to(image, interpolation="nearest", fill_value=0)
        except NoOverlapError:
            raise NoOverlapError(
                f"The {what} {_name(mask)} does not overlap the image {_name(image)} in patient space."
            ) from None
    arr = mask.array != 0
    if not arr.any():
        raise EmptyMaskError(f"The {what} {_name(mask)} has no voxel inside the image {_name(image)}.")
    return mask.copy_with(array=arr, units=Unit.LABEL, label_names={1: _name(mask)})


def space_of(mask: Volume, default: Space, fixed: Volume, moving: Volume) -> Space:
    """A mask lives in its default space unless it lies on the other image's grid only."""
    other = moving if default == "fixed" else fixed
    own = fixed if default == "fixed" else moving
    if mask.same_grid(other) and not mask.same_grid(own):
        return "moving" if default == "fixed" else "fixed"
    return default


def collect_masks(
    fixed: Volume,
    moving: Volume,
    fixed_mask: Volume | None,
    moving_mask: Volume | None,
    exclude: list[Volume] | None,
    exclude_moving: list[Volume] | None,
    rigid_masks: list[Volume] | None,
) -> list[Mask]:
    """Every mask of a registration on the grid of the image of its space.

    Metric masks and excluded regions default to the space their argument names
    (rigid regions to the moving space), unless they lie on the other image's grid only.
    """
    masks: list[Mask] = []

    def add(vol: Volume | None, role: MaskRole, default: Space, what: str) -> None:
        if vol is None:
            return
        space = space_of(vol, default, fixed, moving)
        image = fixed if space == "fixed" else moving
        if role == "fixed_mask" and space == "moving":
            role = "moving_mask"
        elif role == "moving_mask" and space == "fixed":
            role = "fixed_mask"
        masks.append(Mask(_name(vol), role, space, to_bool_on(vol, image, what)))

    add(fixed_mask, "fixed_mask", "fixed", "fixed mask")
    add(moving_mask, "moving_mask", "moving", "moving mask")
    for vol in exclude or []:
        add(vol, "exclude", "fixed", "excluded mask")
    for vol in exclude_moving or []:
        add(vol, "exclude", "moving", "excluded mask")
    for vol in rigid_masks or []:
        add(vol, "rigid", "moving", "rigid mask")
    return masks




def metric_regions(
    masks: list[Mask], fixed: Volume, moving: Volume, exclude_margin_mm: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The fixed and moving metric regions (``None``: the whole image).

    Each is the union of the space's metric masks (the whole image without any)
    minus its excluded regions dilated by ``exclude_margin_mm``.
    """
    out: list[np.ndarray | None] = []
    for space, image in (("fixed", fixed), ("moving", moving)):
        base_role = "fixed_mask" if space == "fixed" else "moving_mask"
        base = [m.volume.array for m in masks if m.space == space and m.role == base_role]
        excl = [m.volume.array for m in masks if m.space == space and m.role == "exclude"]
        if not base and not excl:
            out.append(None)
            continue
        region = np.logical_or.reduce(base) if base else np.ones(image.shape, dtype=bool)
        if excl:
            removed = dilate(np.logical_or.reduce(excl), exclude_margin_mm, image.spacing_mm)
            region = region & ~removed
        if not region.any():
            raise EmptyMaskError(
                f"Nothing is left of the {space} metric mask after removing the excluded regions "
                f"(dilated by {exclude_margin_mm:g} mm); give a larger mask or fewer exclusions."
            )
        out.append(region)
    return out[0], out[1]


def region_points(image: Volume, region: np.ndarray | None, n_points: int, seed: int) -> np.ndarray:
    """Up to ``n_points`` random voxel centres (LPS mm) of a region of ``image`` (all of it if None)."""
    rng = np.random.default_rng(seed)
    if region is None:
        n = int(np.prod(image.shape))
        flat = rng.choice(n, size=min(n, n_points), replace=False)
        idx = np.column_stack(np.unravel_index(flat, image.shape))
    else:
        idx = np.argwhere(region)
        if len(idx) > n_points:
            idx = idx[rng.choice(len(idx), size=n_points, replace=False)]
    return image.index_to_world(idx.astype(float))


def mask_image(mask: np.ndarray | None, image: Volume) -> sitk.Image | None:
    """A boolean array on ``image``'s grid as a SimpleITK uint8 mask (``None`` stays ``None``)."""
    if mask is None:
        return None
    return image.copy_with(array=mask.astype(np.uint8)).to_sitk()
