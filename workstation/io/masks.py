"""The ``MASK`` syntax of the command-line contract: masks and label images from any source.

``read_mask(spec, reference=None)`` accepts

* any ``IMG`` (NIfTI, NRRD, MHA, a DICOM image file or folder): non-zero voxels
  are inside; integer (or integral float) label images keep their values;
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

import functools
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.diagnostics import capture_native_stderr, summarize, warning_source
from workstation.core.errors import (
    DicomError,
    EmptyMaskError,
    GeometryMismatchError,
    InvalidInputError,
    NoOverlapError,
)
from workstation.core.volume import Unit, Volume, VolumeMetadata, affine_from_geometry

__all__ = ["read_mask", "split_mask_spec"]

_SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
_RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: A closed planar contour whose points spread over more than this many slices
#: (in the reference's index space) is not parallel to the reference slices.
_PLANARITY_TOL_SLICES = 0.5
#: An integer image with more distinct values (or a larger value) than this is an
#: image, not a label map: as a mask, its non-zero voxels are inside.
_MAX_LABELS = 1000
_MAX_LABEL_VALUE = 65536
#: A fractional SEG segment is inside where its fraction is at least this.
FRACTIONAL_THRESHOLD = 0.5


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


def read_mask(spec: str | os.PathLike[str], reference: Volume | None = None) -> Volume:
    """Read a ``MASK`` as a label volume (see the module docstring).

    Parameters
    ----------
    spec:
        ``path`` or ``path#Name``.
    reference:
        Image the mask is used with. When given, the mask is returned on its
        grid (nearest-neighbour resampling in patient space); required for
        RTSTRUCT.

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
    path, name = split_mask_spec(spec)
    label = os.fspath(spec)
    if not path.exists():
        raise InvalidInputError(f"The mask {label}: no such file or folder.")
    with warning_source(path) as caught:
        mask = _read_any(path, name, label, reference)
    mask.metadata.warnings.extend(summarize(caught))
    return mask


def _read_any(path: Path, name: str | None, label: str, reference: Volume | None) -> Volume:
    kind = _kind(path)
    if kind == "segnrrd":
        mask = _read_seg_nrrd(path, name)
    elif kind == "seg":
        mask = _read_dicom_seg(path, name)
    elif kind == "rtstruct":
        if reference is None:
            raise InvalidInputError(
                f"The RTSTRUCT mask {label} needs the image it is used with to rasterize its "
                "contours; give it with --image IMG (workstation mask) or use the mask with a "
                "command that has an image."
            )
        mask = _read_rtstruct(path, name, reference)
    else:
        mask = _read_image_mask(path, name)

    if not mask.array.any():
        what = f"segment {name!r} of {path}" if name else f"the mask {path}"
        raise EmptyMaskError(f"{what[0].upper()}{what[1:]} is empty (no voxel inside).")
    if reference is not None:
        mask = _onto_reference(mask, reference, label)
    return mask


def _onto_reference(mask: Volume, reference: Volume, label: str) -> Volume:
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
        return "segnrrd" if low.endswith(".seg.nrrd") or _nrrd_has_segments(path) else "image"
    from workstation.io.formats import is_sitk_format

    if is_sitk_format(path):
        return "image"
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        sop = str(getattr(ds, "SOPClassUID", ""))
    except Exception:  # noqa: BLE001 - not DICOM or damaged: let the image reader report it
        return "image"
    if sop == _SEG_STORAGE:
        return "seg"
    if sop == _RTSTRUCT_STORAGE:
        return "rtstruct"
    return "image"


def _select(labels: Volume, name: str | None, path: Path) -> Volume:
    """A binary mask of the segment ``name`` (exact, then case-insensitive match), or all."""
    if name is None:
        return labels
    value = _find_name(labels.label_names, name, path)
    binary = (labels.array == value).astype(np.uint8)
    return labels.copy_with(array=binary, label_names={1: labels.label_names[value]})


def _find_name(names: dict[int, str], name: str, path: Path) -> int:
    for value, candidate in names.items():
        if candidate == name:
            return value
    folded = [v for v, c in names.items() if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    available = ", ".join(repr(n) for n in names.values()) or "none"
    raise InvalidInputError(f"{path} has no segment named {name!r}; available: {available}.")


def _label_volume(
    array: np.ndarray,
    affine: np.ndarray,
    names: dict[int, str],
    path: Path,
    modality: str | None,
    frame_of_reference_uid: str | None = None,
    warnings: list[str] | None = None,
) -> Volume:
    top = int(array.max(initial=0))
    dtype = np.uint8 if top < 256 else (np.uint16 if top < 65536 else np.uint32)
    return Volume(
        np.ascontiguousarray(array, dtype=dtype),
        affine,
        frame_of_reference_uid=frame_of_reference_uid,
        modality=modality,
        units=Unit.LABEL,
        label_names=dict(names),
        metadata=VolumeMetadata(source_path=str(path), warnings=list(warnings or [])),
    )


def _combine(
    masks: list[np.ndarray], values: list[int], path: Path
) -> tuple[np.ndarray, list[str]]:
    """Label image from binary masks; later masks win where they overlap (with a warning)."""
    out = np.zeros(masks[0].shape, dtype=np.uint32)
    count = np.zeros(masks[0].shape, dtype=np.uint8)
    for mask, value in zip(masks, values, strict=True):
        out[mask] = value
        count += mask
    warnings = []
    overlapping = int((count > 1).sum())
    if overlapping:
        warnings.append(
            f"{path.name}: segments overlap in {overlapping} voxels; the label image keeps the "
            "later segment there (select one with #Name to get it whole)."
        )
    return out, warnings


# ------------------------------------------------------------- plain images
def _read_image_mask(path: Path, name: str | None) -> Volume:
    from workstation.io import read_image

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
        names = {v: f"label {v}" for v in present}
    mask = _label_volume(
        values, image.affine, names, path, image.modality, image.frame_of_reference_uid,
        warnings=image.metadata.warnings,
    )
    if name is not None and name not in names.values() and name.isdigit():
        value = int(name)
        return mask.copy_with(
            array=(mask.array == value).astype(np.uint8), label_names={1: names.get(value, name)}
        )
    return _select(mask, name, path)


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


# ------------------------------------------------------------- Slicer .seg.nrrd
def _nrrd_has_segments(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return b"Segment0_" in head


def _int_field(keys: dict[str, str], key: str, default: int, path: Path) -> int:
    """A whole-number header field of a Slicer segmentation (``default`` when absent)."""
    text = keys.get(key)
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{path}: the header field {key} is {text.strip()[:40]!r}, not a whole number; "
            "the segmentation cannot be read (save it again from 3D Slicer)."
        ) from None


@functools.lru_cache(maxsize=1)
def _load_seg_nrrd(
    path_text: str, mtime_ns: int, size: int
) -> tuple[np.ndarray, np.ndarray, dict[str, str], int, tuple[str, ...]]:
    """The layers (z, y, x, layers; read-only), affine, header fields, layer count and ITK's warnings.

    Cached for the last file (keyed by path, modification time and size): a command
    that takes several segments of one ``.seg.nrrd`` (``--roi liver=S#Liver --roi
    tumor=S#Tumor``) decompresses it once.
    """
    import SimpleITK as sitk

    path = Path(path_text)
    try:
        with capture_native_stderr(path) as native:
            image = sitk.ReadImage(path_text)
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InvalidInputError(
            f"{path}: cannot be read as a NRRD segmentation ({last})."
        ) from None
    if image.GetDimension() != 3:
        raise InvalidInputError(
            f"{path}: a 3D segmentation (with an optional layer axis) is needed, "
            f"but it is {image.GetDimension()}D."
        )
    try:
        keys = {k: image.GetMetaData(k) for k in image.GetMetaDataKeys()}
    except (TypeError, UnicodeError, RuntimeError):
        raise InvalidInputError(
            f"{path}: its header fields cannot be read as text (the header is damaged); "
            "save the segmentation again from 3D Slicer."
        ) from None
    layers = image.GetNumberOfComponentsPerPixel()
    array = sitk.GetArrayFromImage(image)  # (z, y, x) or (z, y, x, layers)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    array.flags.writeable = False
    spacing = np.array(image.GetSpacing())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = affine_from_geometry(image.GetOrigin(), spacing[::-1], direction[:, ::-1])
    return array, affine, keys, layers, tuple(native)


def _read_seg_nrrd(path: Path, name: str | None) -> Volume:
    stat = path.stat()
    array, affine, keys, layers, itk_warnings = _load_seg_nrrd(
        str(path.resolve()), stat.st_mtime_ns, stat.st_size
    )
    native = list(itk_warnings)
    affine = affine.copy()

    numbers = sorted(int(m.group(1)) for k in keys if (m := re.fullmatch(r"Segment(\d+)_Name", k)))
    if not numbers:
        # A plain NRRD with a .seg.nrrd name: read it as a label image.
        return _read_image_mask(path, name)
    segments: list[tuple[str, int, int]] = []  # (name, layer, label value)
    for n in numbers:
        seg_name = keys[f"Segment{n}_Name"].strip()
        # Files from Slicer before 4.11 have neither field: one segment per layer with
        # value 1 (4D) or the segment index + 1 in a single volume (3D).
        layer = _int_field(keys, f"Segment{n}_Layer", n if layers > 1 else 0, path)
        value = _int_field(keys, f"Segment{n}_LabelValue", 1 if layers > 1 else n + 1, path)
        if not 0 <= layer < layers:
            raise InvalidInputError(
                f"{path}: segment {seg_name!r} is on layer {layer}, but the file has {layers} layer(s)."
            )
        segments.append((seg_name, layer, value))

    if name is not None:
        names = {i: s[0] for i, s in enumerate(segments)}
        index = _find_name(names, name, path)
        seg_name, layer, value = segments[index]
        binary = (array[..., layer] == value).astype(np.uint8)
        return _label_volume(binary, affine, {1: seg_name}, path, "SEG", warnings=native)

    if layers == 1:
        # Shared layer: keep the file's label values.
        names = {value: seg_name for seg_name, _, value in segments}
        kept = np.where(np.isin(array[..., 0], list(names)), array[..., 0], 0)
        return _label_volume(kept, affine, names, path, "SEG", warnings=native)
    masks = [array[..., layer] == value for _, layer, value in segments]
    values = list(range(1, len(segments) + 1))
    combined, warnings = _combine(masks, values, path)
    names = {v: s[0] for v, s in zip(values, segments, strict=True)}
    return _label_volume(combined, affine, names, path, "SEG", warnings=native + warnings)


# ------------------------------------------------------------------ DICOM SEG
def _read_dicom_seg(path: Path, name: str | None) -> Volume:
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{path}: cannot be read as a DICOM SEG ({_why(exc)}).") from None
    try:
        described = {int(item.SegmentNumber): str(item.SegmentLabel) for item in seg.SegmentSequence}
    except Exception as exc:  # noqa: BLE001 - a malformed segment description is the file's
        raise DicomError(
            f"{path}: cannot be read as a DICOM SEG: its SegmentSequence is malformed ({_why(exc)})."
        ) from None
    if name is not None:
        number = _find_name(described, name, path)
        numbers = [number]
    else:
        numbers = sorted(described)
    if not int(getattr(seg, "NumberOfFrames", 0) or 0):
        raise EmptyMaskError(f"{path}: the SEG has no frames (every segment is empty).")
    fractional = str(seg.SegmentationType).upper() == "FRACTIONAL"
    try:
        volume = seg.get_volume(
            segment_numbers=numbers,
            combine_segments=False,
            rescale_fractional=True,
            allow_missing_positions=True,
        )
    except Exception as exc:  # noqa: BLE001 - highdicom's failures on a damaged SEG are the file's
        raise DicomError(
            f"{path}: the SEG frames cannot be placed on a regular 3D grid ({_why(exc)})."
        ) from None
    stacked = np.asarray(volume.array)
    if stacked.ndim == 3:
        stacked = stacked[..., np.newaxis]
    binary = stacked >= FRACTIONAL_THRESHOLD if fractional else stacked > 0
    affine = np.asarray(volume.affine, dtype=float)
    frame_of_reference = str(getattr(seg, "FrameOfReferenceUID", "") or "") or None
    if name is not None:
        return _label_volume(
            binary[..., 0].astype(np.uint8),
            affine,
            {1: described[numbers[0]]},
            path,
            "SEG",
            frame_of_reference,
        )
    masks = [binary[..., c] for c in range(binary.shape[-1])]
    combined, warnings = _combine(masks, numbers, path)
    names = {n: described[n] for n in numbers}
    return _label_volume(combined, affine, names, path, "SEG", frame_of_reference, warnings)


# ----------------------------------------------------------------- RTSTRUCT
def _read_rtstruct(path: Path, name: str | None, reference: Volume) -> Volume:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        return _parse_rtstruct(ds, path, name, reference)
    except (DicomError, GeometryMismatchError, EmptyMaskError, InvalidInputError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged structure set is the file's problem
        raise DicomError(
            f"{path}: cannot be read as an RT Structure Set ({_why(exc)}); check it with "
            "`workstation info` or export it again from the planning system."
        ) from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _parse_rtstruct(ds: Any, path: Path, name: str | None, reference: Volume) -> Volume:
    rois = {
        int(item.ROINumber): str(getattr(item, "ROIName", f"ROI {item.ROINumber}"))
        for item in getattr(ds, "StructureSetROISequence", [])
    }
    roi_for = {
        int(item.ROINumber): str(getattr(item, "ReferencedFrameOfReferenceUID", "") or "")
        for item in getattr(ds, "StructureSetROISequence", [])
    }
    contours_by_roi: dict[int, list[np.ndarray]] = defaultdict(list)
    skipped_types: dict[str, int] = defaultdict(int)
    for item in getattr(ds, "ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        for contour in getattr(item, "ContourSequence", []):
            geometric = str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR")).upper()
            if geometric != "CLOSED_PLANAR":
                skipped_types[geometric] += 1
                continue
            try:
                points = _contour_points(contour)
            except (AttributeError, KeyError, ValueError, UnicodeDecodeError):
                raise DicomError(
                    f"{path}: a contour of ROI {rois.get(number, number)!r} has malformed ContourData."
                ) from None
            contours_by_roi[number].append(points)
    if not rois:
        raise DicomError(f"{path}: the RT Structure Set defines no ROI.")
    numbers = [_find_name(rois, name, path)] if name is not None else sorted(rois)
    warnings = [
        f"{path.name}: {count} {kind} contour(s) ignored (only CLOSED_PLANAR contours are areas)."
        for kind, count in skipped_types.items()
    ]
    frame_of_reference = next((roi_for[n] for n in numbers if roi_for.get(n)), None)
    masks = []
    for number in numbers:
        mask, roi_warnings = _rasterize_roi_any_plane(
            contours_by_roi.get(number, []), reference, f"ROI {rois[number]!r} of {path}"
        )
        warnings += roi_warnings
        masks.append(mask)
    if name is not None:
        if not masks[0].any():
            raise EmptyMaskError(
                f"ROI {name!r} of {path} has no voxel on the image grid "
                "(no closed contour on or near its slices)."
            )
        return _finish_rtstruct(
            masks[0].astype(np.uint8),
            {1: rois[numbers[0]]},
            reference,
            path,
            frame_of_reference,
            warnings,
        )
    combined, overlap = _combine(masks, numbers, path)
    return _finish_rtstruct(
        combined,
        {n: rois[n] for n in numbers},
        reference,
        path,
        frame_of_reference,
        warnings + overlap,
    )


def _contour_points(contour: Any) -> np.ndarray:
    """ContourData (3006,0050) as an (N, 3) float array.

    The raw decimal string is split and converted by numpy: pydicom's
    per-value DS objects cost ~20 µs each, i.e. seconds for a body contour set.
    """
    from pydicom.dataelem import RawDataElement

    element = contour.get_item(0x30060050)
    if element is None:
        raise KeyError("ContourData")
    if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
        text = element.value.decode("ascii").strip(" \x00")
        values = np.array(text.split("\\"), dtype=float) if text else np.empty(0)
    else:
        values = np.asarray(contour.ContourData, dtype=float)
    if values.size % 3:
        raise ValueError("ContourData is not a list of (x, y, z) triplets")
    return values.reshape(-1, 3)


def _finish_rtstruct(
    array: np.ndarray,
    names: dict[int, str],
    reference: Volume,
    path: Path,
    frame_of_reference: str | None,
    warnings: list[str],
) -> Volume:
    return _label_volume(
        array,
        reference.affine.copy(),
        names,
        path,
        "RTSTRUCT",
        frame_of_reference or None,
        warnings,
    )


def _parallel_to_slices(contours: list[np.ndarray], reference: Volume) -> bool:
    for points in contours:
        if len(points) >= 3:
            k = reference.world_to_index(points)[:, 0]
            if float(np.ptp(k)) > _PLANARITY_TOL_SLICES:
                return False
    return True


def _rasterize_roi_any_plane(
    contours: list[np.ndarray], reference: Volume, what: str
) -> tuple[np.ndarray, list[str]]:
    """Rasterize on the reference grid, through a contour-aligned grid when the planes differ.

    Contours parallel to the reference slices are rasterized directly. Otherwise
    (e.g. axial contours and an oblique SPECT reconstruction) they are
    rasterized on an auxiliary grid whose slices are the contour planes (normal
    from the contours, in-plane axes closest to the reference's, in-plane
    spacing the reference's finest, slice spacing the contours' median
    spacing), which is then resampled onto the reference by nearest neighbour.
    """
    if _parallel_to_slices(contours, reference):
        return _rasterize_roi(contours, reference, what)
    usable = [c for c in contours if len(c) >= 3]
    largest = max(usable, key=len)
    centred = largest - largest.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][2]
    heights = [points @ normal for points in usable]
    if max(float(np.ptp(h)) for h in heights) > 0.5 * float(reference.spacing_mm.min()):
        raise GeometryMismatchError(
            f"The contours of {what} are not planar or not parallel to each other, "
            "so they cannot be rasterized."
        )
    # In-plane axes: the reference's column direction projected on the contour plane, then
    # the row axis completing a right-handed frame with the normal.
    axis_i = reference.direction[:, 2] - (reference.direction[:, 2] @ normal) * normal
    if np.linalg.norm(axis_i) < 1e-3:
        axis_i = reference.direction[:, 1] - (reference.direction[:, 1] @ normal) * normal
    axis_i /= np.linalg.norm(axis_i)
    axis_j = np.cross(normal, axis_i)
    pixel = float(reference.spacing_mm[1:].min())
    levels = np.unique(np.round([float(h.mean()) for h in heights], 3))
    step = float(np.median(np.diff(levels))) if len(levels) > 1 else float(reference.spacing_mm[0])
    points = np.concatenate(usable)
    u, v = points @ axis_j, points @ axis_i
    lo = np.array([levels[0], u.min() - 2 * pixel, v.min() - 2 * pixel])
    size = np.array(
        [
            int(round((levels[-1] - levels[0]) / step)) + 1,
            int(np.ceil((u.max() - u.min()) / pixel)) + 5,
            int(np.ceil((v.max() - v.min()) / pixel)) + 5,
        ]
    )
    direction = np.column_stack([normal, axis_j, axis_i])
    origin = direction @ lo
    aux = Volume(
        np.zeros(tuple(int(n) for n in size), dtype=np.uint8),
        affine_from_geometry(origin, [step, pixel, pixel], direction),
    )
    mask, warnings = _rasterize_roi(contours, aux, what)
    if not mask.any():
        return np.zeros(reference.shape, dtype=bool), warnings
    try:
        resampled = aux.copy_with(array=mask.astype(np.uint8)).resample_to(
            reference, interpolation="nearest"
        )
    except NoOverlapError:
        return np.zeros(reference.shape, dtype=bool), warnings
    warnings.append(
        f"{what}: the contours are not parallel to the image slices; they were rasterized in "
        "their own planes and resampled onto the image by nearest neighbour."
    )
    return resampled.array.astype(bool), warnings


def _rasterize_roi(
    contours: list[np.ndarray], reference: Volume, what: str
) -> tuple[np.ndarray, list[str]]:
    """Rasterize one ROI's closed planar contours on the reference grid.

    Contours are grouped by plane (their mean position along the reference's
    slice axis, in slice units); the contours of one plane are filled together
    with the even-odd rule, so a contour inside another is a hole. Each
    reference slice then takes the plane nearest to its centre (nearest
    neighbour along the slice axis, like every other mask resampling) when that
    plane lies within half the ROI's contour spacing (median distance between
    its planes); an ROI drawn on a single plane goes to the nearest slice.
    Planes equally near are united. So contours drawn on the reference's own
    slices map one to one; dense contours (e.g. 1 mm CT planes) on a coarse
    SPECT grid give each slice the cross-section at its centre rather than the
    union of all planes in the slab; sparse contours on a fine grid fill the
    slices between them up to half-way, without gaps.
    """
    from workstation.io._polygon import fill_even_odd

    nz, ny, nx = reference.shape
    out = np.zeros((nz, ny, nx), dtype=bool)
    warnings: list[str] = []
    planes: dict[float, list[np.ndarray]] = defaultdict(list)
    for points in contours:
        if len(points) < 3:
            continue
        index = reference.world_to_index(points)  # (N, 3) continuous (k, j, i)
        k = index[:, 0]
        if float(np.ptp(k)) > _PLANARITY_TOL_SLICES:
            raise GeometryMismatchError(
                f"The contours of {what} are not parallel to the image slices (a contour spans "
                f"{float(np.ptp(k)):.1f} slices); use an image whose slices are in the contours' planes."
            )
        planes[round(float(k.mean()), 3)].append(index[:, 1:])
    if not planes:
        return out, warnings
    positions = np.array(sorted(planes))
    spacing = float(np.median(np.diff(positions))) if len(positions) > 1 else 0.0
    # Nearest neighbour on the stack of contour planes: a slice centre farther than half
    # the contour spacing from every plane is outside the ROI. A single plane reaches the
    # slice it falls on (half a slice).
    reach = 0.5 * spacing if len(positions) > 1 else 0.5
    filled: dict[float, np.ndarray] = {}
    for s in range(nz):
        distance = np.abs(positions - s)
        nearest = float(distance.min())
        if nearest > reach + 1e-6:
            continue
        for position in positions[distance <= nearest + 1e-3]:
            key = float(position)
            if key not in filled:
                filled[key] = fill_even_odd(planes[key], (ny, nx))
            out[s] |= filled[key]
    outside = sum(len(planes[float(p)]) for p in positions if not -0.5 <= p < nz - 0.5)
    if outside:
        warnings.append(
            f"{what}: {outside} contour(s) lie outside the image slices and were not used."
        )
    return out, warnings
