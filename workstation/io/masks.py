"""The ``MASK`` syntax of the command-line contract: masks and label images from any source.

``read_mask(spec, reference=None)`` accepts

* any ``IMG`` (NIfTI, NRRD, MHA, a DICOM image file or folder): non-zero voxels
  are inside; integer (or integral float) label images keep their values;
  ``LABELS#N`` picks label value N, ``LABELS#name`` a label by name, the names
  coming from a label table in the NIfTI header (TotalSegmentator ``--ml``),
  a 3D Slicer colour table beside the file, or else TotalSegmentator's class
  map (see :mod:`workstation.io.label_tables`; a warning says so);
* ``FILE.seg.nrrd[#SegmentName]``: a 3D Slicer segmentation. Segment names,
  label values and layers come from the header fields ``SegmentN_Name``,
  ``SegmentN_LabelValue`` and ``SegmentN_Layer``; both the shared-layer (3D,
  several label values in one volume) and the one-segment-per-layer (4D, a
  "list" axis) layouts are read. The NRRD ``space`` may be LPS or RAS: ITK's
  reader converts RAS to LPS (tested against hand-written headers);
* ``SEG.dcm[#SegmentLabel]``: a DICOM Segmentation (binary or fractional; a
  fractional segment is inside where its value is at least 0.5), placed by its
  plane positions, so a SEG whose frames cover only some slices lands where it
  belongs;
* ``RTSTRUCT.dcm[#ROIName]``: a DICOM RT Structure Set, rasterized on the
  ``reference`` grid (required): each closed planar contour is mapped to the
  reference's index space (so oblique grids work), the contours of one plane
  are filled together with the even-odd rule (a contour inside another is a
  hole), and each slice takes the nearest contour plane (see
  :func:`_rasterize_roi`). Contours in planes not parallel to the reference
  slices (an oblique reconstruction) are rasterized in their own planes and
  resampled onto the reference by nearest neighbour.

Without ``#Name`` a multi-segment file gives a label image whose values are the
segments (names in ``label_names``); with ``#Name`` a binary mask (value 1)
named after the segment. A mask on another grid than ``reference`` is resampled
by nearest neighbour in patient space; a mask that does not overlap the
reference is a :class:`~workstation.core.errors.NoOverlapError`, a named
segment with no voxel an :class:`~workstation.core.errors.EmptyMaskError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workstation.core.diagnostics import summarize, warning_source
from workstation.core.errors import EmptyMaskError, InvalidInputError, NoOverlapError
from workstation.core.grid import Grid
from workstation.core.volume import Unit, Volume
from workstation.io._labels import label_volume, select_segment
from workstation.io._rtstruct_masks import read_rtstruct
from workstation.io._seg_masks import (
    FRACTIONAL_THRESHOLD,
    nrrd_has_segments,
    read_dicom_seg,
    read_seg_nrrd,
)
from workstation.io.images import IMAGE_RESOLVERS, resolve_image_path
from workstation.io.plausibility import check_geometry

__all__ = ["FRACTIONAL_THRESHOLD", "mask_needs_reference", "read_mask", "split_mask_spec"]

#: An integer image with more distinct values (or a larger value) than this is an
#: image, not a label map: as a mask, its non-zero voxels are inside.
_MAX_LABELS = 1000
_MAX_LABEL_VALUE = 65536


# --------------------------------------------------------------------- entry
def split_mask_spec(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``"file#Name"`` into the path and the segment name (``None`` without ``#``).

    A ``#`` that is part of an existing file's name is kept in the path.
    """
    text = os.fspath(spec)
    if "#" in text and not Path(text).exists():
        path, name = text.rsplit("#", 1)
        name = name.strip()
        if not name:
            raise InvalidInputError(f"The mask {text!r} has an empty segment name after '#'.")
        return Path(path), name
    return Path(text), None


def _resolved(spec: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """The spec with a registered scheme (``pacs://…``) resolved to its local path, ``#Name`` kept."""
    text = os.fspath(spec)
    if any(text.startswith(prefix) for prefix in IMAGE_RESOLVERS):
        base, sep, name = text.partition("#")
        return f"{resolve_image_path(base)}{sep}{name}"
    return spec


def mask_needs_reference(spec: str | os.PathLike[str]) -> bool:
    """True when the ``MASK`` can only be read on an image grid (an RT Structure Set's contours).

    Every other mask has a grid of its own, so ``read_mask(spec)`` reads it without a
    reference. A missing file is ``False`` (:func:`read_mask` then says it is missing).
    """
    path, _ = split_mask_spec(_resolved(spec))
    return path.is_file() and _kind(path) == "rtstruct"


def read_mask(spec: str | os.PathLike[str], reference: Volume | Grid | None = None) -> Volume:
    """Read a ``MASK`` as a label volume (see the module docstring).

    Parameters
    ----------
    spec:
        ``path`` or ``path#Name``.
    reference:
        Image (or grid) the mask is used with. When given, the mask is returned
        on its grid (nearest-neighbour resampling in patient space); required for
        RTSTRUCT (:func:`mask_needs_reference`).

    Returns
    -------
    Volume
        ``units == Unit.LABEL``, integer array, ``label_names`` filled.

    Raises
    ------
    InvalidInputError
        Missing file, unknown segment name (the message lists the names).
    NoOverlapError
        The mask lies entirely outside ``reference``.
    EmptyMaskError
        The selected segment has no voxel.
    """
    spec = _resolved(spec)
    label = os.fspath(spec)
    path, name = split_mask_spec(spec)
    if not path.exists():
        raise InvalidInputError(f"The mask {label}: no such file or folder.")
    with warning_source(path) as caught:
        mask = _read_any(path, name, label, reference)
    mask.metadata.warnings.extend(summarize(caught))
    return mask


def _read_any(path: Path, name: str | None, label: str, reference: Volume | Grid | None) -> Volume:
    kind = _kind(path)
    mask: Volume | None = None
    if kind == "segnrrd":
        mask = read_seg_nrrd(path, name)  # None: a plain NRRD with a .seg.nrrd name
    elif kind == "seg":
        mask = read_dicom_seg(path, name)
    elif kind == "rtstruct":
        if reference is None:
            raise InvalidInputError(
                f"The RTSTRUCT mask {label} needs the image it is used with to rasterize its "
                "contours; give it with --image IMG (workstation mask) or use the mask with a "
                "command that has an image."
            )
        mask = read_rtstruct(path, name, reference)
    if mask is None:
        mask = _read_image_mask(path, name)
    if kind in ("seg", "segnrrd"):
        # their own grids (an image mask was checked by the image reader; RTSTRUCT is on the reference)
        check_geometry(mask, str(path))

    if not mask.array.any():
        what = f"segment {name!r} of {path}" if name else f"the mask {path}"
        raise EmptyMaskError(f"{what[0].upper()}{what[1:]} is empty (no voxel inside).")
    if reference is not None:
        mask = _onto_reference(mask, reference, label)
    return mask


def _onto_reference(mask: Volume, reference: Volume | Grid, label: str) -> Volume:
    if (
        mask.frame_of_reference_uid
        and reference.frame_of_reference_uid
        and mask.frame_of_reference_uid != reference.frame_of_reference_uid
    ):
        mask.metadata.warnings.append(
            f"The mask {label} is in frame of reference {mask.frame_of_reference_uid}, the image in "
            f"{reference.frame_of_reference_uid}; it was placed by patient coordinates as they are."
        )
    if mask.same_grid(reference):
        return mask.copy_with(
            affine=reference.affine.copy(),
            frame_of_reference_uid=reference.frame_of_reference_uid or mask.frame_of_reference_uid,
        )
    try:
        out = mask.resample_to(reference, interpolation="nearest")
    except NoOverlapError:
        lo, hi = mask.bounding_box_world()
        rlo, rhi = reference.bounding_box_world()
        raise NoOverlapError(
            f"The mask {label} does not overlap the image: the mask spans "
            f"{np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm (LPS), the image "
            f"{np.round(rlo, 1).tolist()} to {np.round(rhi, 1).tolist()} mm."
        ) from None
    if not out.array.any():
        raise NoOverlapError(
            f"The mask {label} does not overlap the image: none of its voxels lies inside the image grid."
        )
    out.frame_of_reference_uid = reference.frame_of_reference_uid or mask.frame_of_reference_uid
    return out


def _kind(path: Path) -> str:
    """``segnrrd``, ``seg``, ``rtstruct`` or ``image``."""
    low = path.name.lower()
    if path.is_dir():
        return "image"
    if low.endswith((".nrrd", ".nhdr")):
        return "segnrrd" if low.endswith(".seg.nrrd") or nrrd_has_segments(path) else "image"
    from workstation.io.formats import is_sitk_format

    if is_sitk_format(path):
        return "image"
    import pydicom
    from pydicom.uid import RTStructureSetStorage, SegmentationStorage

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        sop = str(getattr(ds, "SOPClassUID", ""))
    except Exception:  # noqa: BLE001 - not DICOM or damaged: let the image reader report it
        return "image"
    if sop == SegmentationStorage:
        return "seg"
    if sop == RTStructureSetStorage:
        return "rtstruct"
    return "image"


# ------------------------------------------------------------- plain images
def _read_image_mask(path: Path, name: str | None) -> Volume:
    from workstation.io.images import read_image

    image = read_image(path)
    values = image.array
    # The contract reads any image as a mask (non-zero = inside); say so when it looks like a
    # measurement rather than a segmentation, since that is usually a wrong argument.
    if image.modality in ("CT", "MR", "PT", "NM", "RTDOSE") or image.units in (
        Unit.HU, Unit.BQML, Unit.COUNTS, Unit.GY
    ):
        image.metadata.warnings.append(
            f"{path} is a {image.modality or image.units.value} image used as a mask: every non-zero "
            "voxel counts as inside."
        )
    if values.dtype == bool:
        values = values.astype(np.uint8)
    elif values.dtype.kind == "f":
        finite = np.isfinite(values)
        if finite.all() and values.min(initial=0) >= 0 and np.array_equal(values, np.round(values)):
            values = values.astype(np.uint32)
        else:
            values = (finite & (values != 0)).astype(np.uint8)
    elif values.dtype.kind == "i" and values.min(initial=0) < 0:
        values = (values != 0).astype(np.uint8)
    names = dict(image.label_names)
    if not names:
        present = _label_values(values)
        if present is None:  # an image, not a label map: non-zero is inside
            values = (values != 0).astype(np.uint8)
            present = [1] if values.any() else []
        known = _known_label_names(path)
        names = {v: known.get(v, f"label {v}") for v in present}
    mask = label_volume(
        values, image.affine, names, path, image.modality, image.frame_of_reference_uid,
        warnings=image.metadata.warnings,
    )
    if name is not None and name not in names.values() and name.isdigit():
        value = int(name)
        return mask.copy_with(
            array=(mask.array == value).astype(np.uint8), label_names={1: names.get(value, name)}
        )
    if name is not None and not any(c.casefold() == name.casefold() for c in names.values()):
        class_value = _totalsegmentator_value(name)
        if class_value is not None and class_value in names:
            mask.metadata.warnings.append(
                f"{path.name}: {name!r} is label {class_value} of TotalSegmentator's class map (total task, v2); "
                "the file names none of its labels."
            )
            return mask.copy_with(array=(mask.array == class_value).astype(np.uint8), label_names={1: name})
    return select_segment(mask, name, path)


def _known_label_names(path: Path) -> dict[int, str]:
    """Names of label values given with the file: its NIfTI label table, or a Slicer colour table beside it."""
    from workstation.io.label_tables import (
        colour_table_beside,
        nifti_label_table,
        read_colour_table,
    )

    names = nifti_label_table(path)
    if names:
        return names
    table = colour_table_beside(path)
    return read_colour_table(table) if table is not None else {}


def _totalsegmentator_value(name: str) -> int | None:
    from workstation.io.label_tables import TOTALSEGMENTATOR_TOTAL_V2

    for value, structure in TOTALSEGMENTATOR_TOTAL_V2.items():
        if structure.casefold() == name.casefold():
            return value
    return None


def _label_values(values: np.ndarray) -> list[int] | None:
    """Non-zero values of a label map, or ``None`` when there are too many for one.

    Counting with ``bincount`` is linear (``np.unique`` would sort the volume).
    """
    top = int(values.max(initial=0))
    if top >= _MAX_LABEL_VALUE:
        return None
    counts = np.bincount(values.ravel().astype(np.intp, copy=False), minlength=top + 1)
    present = [int(v) for v in np.flatnonzero(counts) if v]
    return present if len(present) <= _MAX_LABELS else None


