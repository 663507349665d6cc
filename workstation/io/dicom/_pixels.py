"""Stored pixel values of one file: straight from the file when native, else via pydicom."""

from __future__ import annotations

import numpy as np
import pydicom

from workstation.core.diagnostics import warning_source
from workstation.core.errors import DicomError
from workstation.io.dicom._headers import FileRecord


def stored_dtype(record: FileRecord) -> np.dtype:
    """NumPy dtype of the stored values (little endian) from BitsAllocated/PixelRepresentation."""
    bits = record.bits_allocated
    if bits not in (8, 16, 32):
        raise DicomError(
            f"{record.path}: BitsAllocated is {bits}; only 8, 16 or 32 bit greyscale images "
            "can be read as volumes."
        )
    if record.samples_per_pixel != 1:
        raise DicomError(
            f"{record.path}: has {record.samples_per_pixel} samples per pixel (colour); "
            "only greyscale images can be read as volumes."
        )
    return np.dtype(f"<{'i' if record.signed else 'u'}{bits // 8}")


def expected_bytes(record: FileRecord, n_frames: int) -> int:
    return record.rows * record.columns * n_frames * stored_dtype(record).itemsize


def truncation_problem(record: FileRecord, n_frames: int) -> str | None:
    """A sentence when the pixel data does not fit the header, else ``None``.

    Native pixel data must hold Rows × Columns × frames × BitsAllocated/8
    bytes: a shorter Pixel Data element means the header and the pixel data
    disagree (Rows, Columns, BitsAllocated or NumberOfFrames is wrong); a long
    enough element in a shorter file means the file is truncated; an element
    longer by a whole frame or more means the header announces too few.
    """
    if record.pixel_offset is None:
        return None
    need = expected_bytes(record, n_frames)
    layout = (
        f"{n_frames} frame(s) of {record.rows} rows x {record.columns} columns x "
        f"{record.bits_allocated} bits"
    )
    if record.pixel_length is not None and record.pixel_length != 0xFFFFFFFF:
        if record.pixel_length < need:
            return (
                f"{record.path}: its Pixel Data holds {record.pixel_length} bytes but the header "
                f"announces {need} ({layout}); Rows, Columns, BitsAllocated or NumberOfFrames is wrong"
            )
        frame = max(need // max(n_frames, 1), 1)
        if record.pixel_length - need >= frame:
            return (
                f"{record.path}: its Pixel Data holds {record.pixel_length} bytes, at least one "
                f"frame more than the {need} the header announces ({layout}); Rows, Columns, "
                "BitsAllocated or NumberOfFrames is wrong"
            )
    have = record.file_size - record.pixel_offset
    if have < need:
        return (
            f"{record.path} is truncated: it holds {max(have, 0)} of the {need} bytes "
            "of pixel data its header announces"
        )
    return None


def excess_padding_warning(record: FileRecord, n_frames: int) -> str | None:
    """A warning when the native pixel data is longer than needed by more than odd-length padding."""
    if record.pixel_offset is None or record.pixel_length is None or record.pixel_length == 0xFFFFFFFF:
        return None
    extra = record.pixel_length - expected_bytes(record, n_frames)
    if extra > 1:
        return (
            f"{record.path}: the Pixel Data is {extra} bytes longer than Rows x Columns x "
            "BitsAllocated need; the excess was ignored (if Rows or Columns were wrong, the "
            "image would be misread)."
        )
    return None


def read_stored(record: FileRecord, n_frames: int) -> np.ndarray:
    """Stored values of all frames, shape (frames, rows, cols), bits above BitsStored masked."""
    rows, cols = record.rows, record.columns
    dtype = stored_dtype(record)
    count = rows * cols * n_frames
    nbytes = count * dtype.itemsize
    # Longer pixel data than needed is padding (odd length, or vendors' excess
    # padding); only the first ``nbytes`` are image values.
    if record.pixel_offset is not None and record.pixel_length is not None and record.pixel_length >= nbytes:
        problem = truncation_problem(record, n_frames)
        if problem:
            raise DicomError(problem + ".")
        out = np.empty(count, dtype=dtype)
        try:
            with open(record.path, "rb") as fp:
                fp.seek(record.pixel_offset)
                got = fp.readinto(out.view(np.uint8))  # type: ignore[arg-type]
        except OSError as exc:
            raise DicomError(f"{record.path}: cannot be read ({exc.strerror or exc}).") from None
        if got != nbytes:
            raise DicomError(f"{record.path} is truncated: its pixel data ends early.")
        arr = out.reshape(n_frames, rows, cols)
    else:
        arr = _read_with_pydicom(record, n_frames, dtype)
    return _mask_bits(arr, record.bits_stored)


def _read_with_pydicom(record: FileRecord, n_frames: int, dtype: np.dtype) -> np.ndarray:
    try:
        with warning_source(record.path) as caught:
            full = pydicom.dcmread(record.path)
            arr = full.pixel_array
        record.warnings.extend(w for w in caught if w not in record.warnings)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a property of the file
        ts = getattr(record.header.file_meta, "TransferSyntaxUID", None)
        name = getattr(ts, "name", str(ts))
        raise DicomError(
            f"{record.path}: the pixel data cannot be decoded (transfer syntax {name}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})."
        ) from None
    arr = np.asarray(arr)
    try:
        return arr.reshape(n_frames, record.rows, record.columns)
    except ValueError:
        raise DicomError(
            f"{record.path}: the pixel data has shape {arr.shape}, which does not match "
            f"{n_frames} frame(s) of {record.rows}x{record.columns}."
        ) from None


def _mask_bits(arr: np.ndarray, stored: int) -> np.ndarray:
    """Clear bits above BitsStored (overlays, garbage) and sign-extend signed values."""
    allocated = arr.dtype.itemsize * 8
    if stored >= allocated or stored <= 0:
        return arr
    shift = allocated - stored
    if arr.dtype.kind == "i":
        return (arr << shift) >> shift
    return arr & np.array((1 << stored) - 1, dtype=arr.dtype)
