"""Segmentation files as masks: 3D Slicer ``.seg.nrrd`` and DICOM SEG (see :mod:`.masks`)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from workstation.core.diagnostics import capture_native_stderr
from workstation.core.errors import DicomError, EmptyMaskError, InvalidInputError
from workstation.core.volume import Volume, affine_from_geometry
from workstation.io._labels import combine_segments, failure_reason, find_segment, label_volume

#: A fractional SEG segment is inside where its fraction is at least this.
FRACTIONAL_THRESHOLD = 0.5


# ------------------------------------------------------------- Slicer .seg.nrrd
def nrrd_has_segments(path: Path) -> bool:
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


def read_seg_nrrd(path: Path, name: str | None) -> Volume | None:
    """The segments of a 3D Slicer segmentation (one with ``#Name``); ``None`` for a plain NRRD."""
    stat = path.stat()
    array, affine, keys, layers, itk_warnings = _load_seg_nrrd(
        str(path.resolve()), stat.st_mtime_ns, stat.st_size
    )
    native = list(itk_warnings)
    affine = affine.copy()

    numbers = sorted(int(m.group(1)) for k in keys if (m := re.fullmatch(r"Segment(\d+)_Name", k)))
    if not numbers:
        return None  # a plain NRRD with a .seg.nrrd name: the caller reads it as a label image
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
        index = find_segment(names, name, path)
        seg_name, layer, value = segments[index]
        binary = (array[..., layer] == value).view(np.uint8)  # bool and uint8 share their bytes: no copy
        return label_volume(binary, affine, {1: seg_name}, path, "SEG", warnings=native)

    if layers == 1:
        # Shared layer: keep the file's label values.
        names = {value: seg_name for seg_name, _, value in segments}
        kept = np.where(np.isin(array[..., 0], list(names)), array[..., 0], 0)
        return label_volume(kept, affine, names, path, "SEG", warnings=native)
    masks = [array[..., layer] == value for _, layer, value in segments]
    values = list(range(1, len(segments) + 1))
    combined, warnings = combine_segments(masks, values, path)
    names = {v: s[0] for v, s in zip(values, segments, strict=True)}
    return label_volume(combined, affine, names, path, "SEG", warnings=native + warnings)


# ------------------------------------------------------------------ DICOM SEG
def read_dicom_seg(path: Path, name: str | None) -> Volume:
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{path}: cannot be read as a DICOM SEG ({failure_reason(exc)}).") from None
    try:
        described = {int(item.SegmentNumber): str(item.SegmentLabel) for item in seg.SegmentSequence}
    except Exception as exc:  # noqa: BLE001 - a malformed segment description is the file's
        raise DicomError(
            f"{path}: cannot be read as a DICOM SEG: its SegmentSequence is malformed ({failure_reason(exc)})."
        ) from None
    if name is not None:
        number = find_segment(described, name, path)
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
            f"{path}: the SEG frames cannot be placed on a regular 3D grid ({failure_reason(exc)})."
        ) from None
    stacked = np.asarray(volume.array)
    if stacked.ndim == 3:
        stacked = stacked[..., np.newaxis]
    binary = stacked >= FRACTIONAL_THRESHOLD if fractional else stacked > 0
    affine = np.asarray(volume.affine, dtype=float)
    frame_of_reference = str(getattr(seg, "FrameOfReferenceUID", "") or "") or None
    if name is not None:
        return label_volume(
            binary[..., 0].astype(np.uint8),
            affine,
            {1: described[numbers[0]]},
            path,
            "SEG",
            frame_of_reference,
        )
    masks = [binary[..., c] for c in range(binary.shape[-1])]
    combined, warnings = combine_segments(masks, numbers, path)
    names = {n: described[n] for n in numbers}
    return label_volume(combined, affine, names, path, "SEG", frame_of_reference, warnings)
