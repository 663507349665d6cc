"""Operations on masks in millimetres, and import of TotalSegmentator output.

Distances use the Euclidean distance transform with the voxel spacing
(``scipy.ndimage.distance_transform_edt(sampling=...)``), so a 5 mm dilation is
5 mm along every axis of an anisotropic grid. Every function takes and returns
label :class:`~workstation.core.volume.Volume` s; a mask on another grid than
the first one is resampled onto it by nearest neighbour.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.segmentation import _common as C

__all__ = [
    "dilate_mm",
    "erode_mm",
    "union",
    "intersection",
    "difference",
    "fill_holes",
    "largest_component",
    "remove_small_components",
    "import_totalsegmentator",
    "import_multilabel",
]


def _binary(mask: Volume, label: int | str | None) -> np.ndarray:
    return mask.mask(label)


def _as_mask(reference: Volume, array: np.ndarray, name: str) -> Volume:
    out = reference.copy_with(array=array.astype(np.uint8), units=Unit.LABEL, label_names={1: name})
    return out


def _name(mask: Volume, label: int | str | None, default: str = "mask") -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, int) and label in mask.label_names:
        return mask.label_names[label]
    if len(mask.label_names) == 1:
        return next(iter(mask.label_names.values()))
    return default


def dilate_mm(mask: Volume, radius_mm: float, label: int | str | None = None) -> Volume:
    """Grow a mask by ``radius_mm`` (every voxel within that distance of the mask).

    Parameters
    ----------
    mask:
        Label volume; ``label`` picks one label (value or name), default all non-zero.
    radius_mm:
        Distance in millimetres (>= 0).
    """
    if radius_mm < 0:
        raise InvalidInputError(f"The dilation radius must be >= 0 mm, not {radius_mm:g}.")
    arr = C.dilate(_binary(mask, label), float(radius_mm), mask.spacing_mm)
    return _as_mask(mask, arr, _name(mask, label))


def erode_mm(mask: Volume, radius_mm: float, label: int | str | None = None) -> Volume:
    """Shrink a mask by ``radius_mm`` (keep voxels farther than that from the outside).

    The array edge is not treated as outside (the mask may continue beyond the field of view).
    """
    if radius_mm < 0:
        raise InvalidInputError(f"The erosion radius must be >= 0 mm, not {radius_mm:g}.")
    arr = C.erode(_binary(mask, label), float(radius_mm), mask.spacing_mm)
    return _as_mask(mask, arr, _name(mask, label))


def _on_grid(reference: Volume, other: Volume) -> np.ndarray:
    if other.same_grid(reference):
        return other.array != 0
    return other.resample_to(reference, interpolation="nearest").array != 0


def union(first: Volume, *others: Volume, name: str = "union") -> Volume:
    """Voxels in any of the masks (on the first mask's grid)."""
    arr = first.array != 0
    for other in others:
        arr = arr | _on_grid(first, other)
    return _as_mask(first, arr, name)


def intersection(first: Volume, *others: Volume, name: str = "intersection") -> Volume:
    """Voxels in all of the masks (on the first mask's grid)."""
    arr = first.array != 0
    for other in others:
        arr = arr & _on_grid(first, other)
    return _as_mask(first, arr, name)


def difference(first: Volume, second: Volume, name: str | None = None) -> Volume:
    """Voxels of ``first`` that are not in ``second`` (on the first mask's grid)."""
    arr = (first.array != 0) & ~_on_grid(first, second)
    return _as_mask(first, arr, name or _name(first, None))


def fill_holes(mask: Volume, per_slice: bool = False, label: int | str | None = None) -> Volume:
    """Fill enclosed cavities in 3D and, with ``per_slice``, in every axial, coronal and sagittal slice."""
    binary = _binary(mask, label)
    arr = C.fill_holes_3d_and_slices(binary) if per_slice else ndi.binary_fill_holes(binary)
    return _as_mask(mask, arr, _name(mask, label))


def largest_component(mask: Volume, label: int | str | None = None) -> Volume:
    """The largest 6-connected component of the mask."""
    binary = _binary(mask, label)
    if not binary.any():
        raise EmptyMaskError("The mask is empty; it has no largest component.")
    return _as_mask(mask, C.largest_component(binary), _name(mask, label))


def remove_small_components(mask: Volume, min_volume_ml: float, label: int | str | None = None) -> Volume:
    """Drop 6-connected components smaller than ``min_volume_ml`` millilitres."""
    if min_volume_ml < 0:
        raise InvalidInputError(f"The minimum component volume must be >= 0 mL, not {min_volume_ml:g}.")
    binary = _binary(mask, label)
    lab, n = ndi.label(binary)
    if n == 0:
        return _as_mask(mask, binary, _name(mask, label))
    counts = np.bincount(lab.ravel()) * mask.voxel_volume_ml
    keep = counts >= min_volume_ml
    keep[0] = False
    return _as_mask(mask, keep[lab], _name(mask, label))


#: TotalSegmentator file names (regular expressions) merged into one named region:
#: the five lung lobes of the ``total`` task into ``lungs`` (not ``lung_vessels`` or
#: ``lung_trachea_bronchia`` of the ``lung_vessels`` task), the Couinaud segments
#: of the ``liver_segments`` task into ``liver``.
_TOTALSEG_MERGE: dict[str, str] = {
    r"lung_(upper|middle|lower)_lobe_(left|right)": "lungs",
    r"liver_segment_\d+": "liver",
}


def import_multilabel(
    path: str | os.PathLike[str],
    image: Volume | None = None,
    totalsegmentator: bool = False,
) -> Volume:
    """A multi-label file (TotalSegmentator ``--ml``, a label map from another tool) with its names.

    The label values stay those of the file. Names come from the label table
    in the NIfTI header (TotalSegmentator writes one), a 3D Slicer colour
    table beside the file, or, with ``totalsegmentator`` (or when neither
    exists and every value is one of its classes), TotalSegmentator's class map
    of the ``total`` task (v2, :data:`workstation.io.label_tables.TOTALSEGMENTATOR_TOTAL_V2`).

    Parameters
    ----------
    path:
        The label file (NIfTI, NRRD, MHA).
    image:
        When given, the labels are resampled onto its grid (nearest neighbour,
        patient space; no overlap is an error).
    totalsegmentator:
        Name the values by TotalSegmentator's class map whatever the file says.
    """
    from workstation.io.label_tables import TOTALSEGMENTATOR_TOTAL_V2
    from workstation.io.masks import read_mask

    labels = read_mask(path, reference=image)
    present = sorted(int(v) for v in labels.label_names)
    generic = all(labels.label_names[v] == f"label {v}" for v in present)
    if totalsegmentator or generic:
        unknown = [v for v in present if v not in TOTALSEGMENTATOR_TOTAL_V2]
        if totalsegmentator and unknown:
            raise InvalidInputError(
                f"{path}: values {unknown[:5]} are not classes of TotalSegmentator's total task (1-117)."
            )
        if not unknown:
            labels.label_names = {v: TOTALSEGMENTATOR_TOTAL_V2[v] for v in present}
            labels.metadata.warnings.append(
                f"{Path(path).name}: label names from TotalSegmentator's class map (total task, v2)."
            )
    labels.modality = "SEG"
    labels.metadata.source_path = str(path)
    return labels


def import_totalsegmentator(folder: str | os.PathLike[str]) -> Volume:
    """Read a TotalSegmentator output folder (one ``<structure>.nii.gz`` per structure) as named labels.

    Non-empty structures become labels 1..N named by their file name (``liver``,
    ``spleen``, …); the five lung lobes ``lung_*_lobe_*`` are merged into ``lungs`` and the
    Couinaud segments ``liver_segment_*`` into ``liver`` (when there is no
    ``liver.nii.gz``). Files on another grid are resampled by nearest neighbour
    onto the grid of the first file.

    Parameters
    ----------
    folder:
        The folder TotalSegmentator wrote (``TotalSegmentator -i ct.nii.gz -o folder``).
    """
    from workstation.io.formats import read_sitk_image

    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a folder; a TotalSegmentator output folder is expected.")
    files = sorted(p for p in root.iterdir() if p.name.endswith((".nii.gz", ".nii")) and p.is_file())
    if not files:
        raise InvalidInputError(f"{root}: holds no .nii.gz files; it is not a TotalSegmentator output folder.")
    stems = {p.name.split(".nii")[0]: p for p in files}
    known = {"liver", "spleen", "stomach", "aorta", "heart", "kidney_left", "kidney_right", "pancreas"}
    if not (known & stems.keys()) and not any(s.startswith("lung_") for s in stems):
        raise InvalidInputError(
            f"{root}: no TotalSegmentator structure file (liver.nii.gz, lung_*.nii.gz, …) found."
        )
    groups: dict[str, list[Path]] = {}
    for stem, path in stems.items():
        name = stem
        for pattern, merged in _TOTALSEG_MERGE.items():
            if re.fullmatch(pattern, stem):
                name = merged
        if name == "liver" and stem != "liver" and "liver" in stems:
            continue
        groups.setdefault(name, []).append(path)
    reference: Volume | None = None
    labels: np.ndarray | None = None
    names: dict[int, str] = {}
    value = 0
    for name in sorted(groups):
        combined: np.ndarray | None = None
        for path in groups[name]:
            vol = read_sitk_image(path)
            if reference is None:
                reference = vol
                labels = np.zeros(vol.shape, np.uint16)
            arr = _on_grid(reference, vol)
            combined = arr if combined is None else combined | arr
        if combined is None or not combined.any():
            continue
        value += 1
        assert labels is not None
        labels[combined & (labels == 0)] = value
        names[value] = name
    if reference is None or labels is None or not names:
        raise EmptyMaskError(f"{root}: every TotalSegmentator structure file is empty.")
    dtype = np.uint8 if value < 256 else np.uint16
    out = reference.copy_with(array=labels.astype(dtype), units=Unit.LABEL, label_names=names, modality="SEG")
    out.metadata.source_path = str(root)
    return out
