"""Reading one DICOM file's header (no pixel data) and small header helpers."""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
from pydicom import uid as _uids
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from workstation.core.diagnostics import warning_source

#: Transfer syntaxes whose pixel data we read straight from the file
#: (little endian, not encapsulated, not deflated): UID -> implicit VR.
_NATIVE_LITTLE_ENDIAN: dict[str, bool] = {_uids.ImplicitVRLittleEndian: True, _uids.ExplicitVRLittleEndian: False}

_PIXEL_DATA_TAG = 0x7FE00010
_FLOAT_PIXEL_TAGS = (0x7FE00008, 0x7FE00009)  # Float / Double Float Pixel Data

#: SOP classes that hold no image we read as a volume, with the modality they stand for.
NON_IMAGE_SOP_CLASSES: dict[str, str] = {
    _uids.RTStructureSetStorage: "RTSTRUCT",
    _uids.SegmentationStorage: "SEG",
    _uids.RTPlanStorage: "RTPLAN",
    _uids.SpatialRegistrationStorage: "REG",
    _uids.DeformableSpatialRegistrationStorage: "REG",
    _uids.BasicTextSRStorage: "SR",
    _uids.EnhancedSRStorage: "SR",
    _uids.ComprehensiveSRStorage: "SR",
    _uids.EncapsulatedPDFStorage: "DOC",
}
NM_IMAGE_STORAGE: str = _uids.NuclearMedicineImageStorage
#: Image SOP classes (a file of one of these without pixel data is damaged).
IMAGE_SOP_CLASSES: set[str] = {
    _uids.CTImageStorage,
    _uids.EnhancedCTImageStorage,
    _uids.MRImageStorage,
    _uids.EnhancedMRImageStorage,
    _uids.PositronEmissionTomographyImageStorage,
    _uids.EnhancedPETImageStorage,
    _uids.NuclearMedicineImageStorage,
    _uids.RTDoseStorage,
    _uids.RTImageStorage,
    _uids.SecondaryCaptureImageStorage,
    _uids.LegacyConvertedEnhancedCTImageStorage,
    _uids.LegacyConvertedEnhancedMRImageStorage,
    _uids.LegacyConvertedEnhancedPETImageStorage,
}
RTDOSE_STORAGE: str = _uids.RTDoseStorage
DICOMDIR_SOP_CLASS: str = _uids.MediaStorageDirectoryStorage


@dataclass
class FileRecord:
    """One DICOM file: its header and where its (native) pixel data lies.

    ``pixel_offset`` is the byte offset of the first pixel byte for native
    little-endian files (``None`` otherwise); ``pixel_length`` the length of
    the pixel data element in bytes as written in the file.
    """

    path: Path
    header: Dataset
    pixel_offset: int | None = None
    pixel_length: int | None = None
    file_size: int = 0
    has_pixels: bool = True
    # Values parsed once from the raw header bytes (see ``_parse_fast``); the
    # geometry and pixel code uses these instead of pydicom's slower accessors.
    rows: int = 0
    columns: int = 0
    bits_allocated: int = 16
    bits_stored: int = 16
    signed: bool = False
    samples_per_pixel: int = 1
    number_of_frames: int = 1
    position: np.ndarray | None = None
    orientation: np.ndarray | None = None
    pixel_spacing: np.ndarray | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    sop_uid: str = ""
    sop_class: str = ""
    #: Library warnings raised while reading this file, as sentences naming it.
    warnings: list[str] = field(default_factory=list)

    @property
    def sop_instance_uid(self) -> str:
        return self.sop_uid

    @property
    def sop_class_uid(self) -> str:
        return self.sop_class


@dataclass
class Unreadable:
    """A file that starts like DICOM but cannot be parsed."""

    path: Path
    reason: str
    #: The file's SeriesInstanceUID when its header could be parsed that far.
    series_uid: str | None = None


def read_header(path: Path) -> FileRecord | Unreadable | None:
    """See :func:`_read_header`; an :class:`Unreadable` carries the file's series when known."""
    result = _read_header(path)
    if isinstance(result, Unreadable) and result.series_uid is None:
        result.series_uid = _LAST_SERIES.pop(path, None)
    else:
        _LAST_SERIES.pop(path, None)
    return result


#: SeriesInstanceUID of each file being read, while it is read (thread-safe by key).
_LAST_SERIES: dict[Path, str] = {}


def _read_header(path: Path) -> FileRecord | Unreadable | None:
    """Read a file's header without pixel data.

    Returns ``None`` for a file that is not DICOM (no ``DICM`` marker and not
    parseable as a DICOM data set), an :class:`Unreadable` for a DICOM file
    that cannot be parsed or whose geometry, pixel layout or rescale elements
    are malformed (the reason names the element and its value), else a
    :class:`FileRecord`. Library warnings raised while reading (pydicom's
    "Invalid value for VR …") are kept in ``FileRecord.warnings``, naming
    the file; none is printed. Safe to call from worker threads while a
    :func:`~workstation.core.diagnostics.capture_warnings` is active.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp, warning_source(path) as caught:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            except InvalidDicomError:
                # No preamble/"DICM": accept only a data set that starts with a
                # group 0x0002 or 0x0008 element (old exports) and identifies itself.
                fp.seek(0)
                if fp.read(2) not in (b"\x02\x00", b"\x08\x00"):
                    return None
                fp.seek(0)
                try:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
                except Exception:  # noqa: BLE001 - not parseable: not DICOM
                    return None
                if not (_present(ds, 0x00080016) and _present(ds, 0x00080060)):
                    return None
            tell = fp.tell()
            _remember_series(path, ds)
            head = _element_header(fp, ds)
            decoded = _decode_used(ds, path)
    except _PARSE_ERRORS as exc:
        return Unreadable(path, f"its header cannot be parsed ({_exception_text(exc)})")
    if isinstance(decoded, Unreadable):
        return decoded
    truncated = [w for w in caught if "End of file" in w or "EOF" in w]
    if truncated:
        return Unreadable(path, "the file ends in the middle of its header (truncated)")
    if not ds.get("SOPClassUID") and "MediaStorageSOPClassUID" in ds.file_meta:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    sop_class = str(ds.get("SOPClassUID", "") or "").strip(" \x00")
    if sop_class == DICOMDIR_SOP_CLASS:
        return None
    if sop_class and not _UID.fullmatch(sop_class):
        return Unreadable(path, f"its SOPClassUID {_shown(sop_class)} is not a UID, so its kind is unknown")
    series_uid = ds.get("SeriesInstanceUID")
    if series_uid not in (None, "") and not (
        isinstance(series_uid, str) and _UID.fullmatch(series_uid.strip(" \x00"))
    ):
        return Unreadable(
            path, f"its SeriesInstanceUID {_shown(series_uid)} is not a UID, so its series is unknown"
        )
    if head is None and sop_class in IMAGE_SOP_CLASSES:
        return Unreadable(path, "the image has no pixel data: the file is truncated or its header is damaged")
    record = FileRecord(
        path=path, header=ds, file_size=size, has_pixels=head is not None, sop_class=sop_class
    )
    record.warnings = list(caught) + decoded
    try:
        problem = _parse_fast(record)
    except _PARSE_ERRORS as exc:
        problem = f"its pixel layout elements cannot be read ({_exception_text(exc)})"
    if problem is not None:
        return Unreadable(path, problem)
    if head is not None:
        header_len, value_len, ts_native = head
        if ts_native:
            record.pixel_offset = tell + header_len
            record.pixel_length = value_len
    return record


def _remember_series(path: Path, ds: Dataset) -> None:
    try:
        uid = ds.get("SeriesInstanceUID")
    except Exception:  # noqa: BLE001 - an undecodable UID is reported later
        return
    if isinstance(uid, str) and _UID.fullmatch(uid.strip(" \x00")):
        _LAST_SERIES[path] = uid.strip(" \x00")


#: What parsing a damaged file can raise inside pydicom: besides the builtin
#: errors, pydicom's own (BytesLengthException derives from Exception
#: directly). Only the parsing of one file's bytes is guarded with this, so any
#: failure there is a property of the file.
_PARSE_ERRORS = (Exception,)


_KNOWN_VRS = {str(v.value) for v in pydicom.valuerep.VR}
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def failure_text(exc: BaseException) -> str:
    """A library's exception as a short reason (a missing attribute said as such)."""
    missing = re.search(r"has no attribute '(\w+)'", str(exc))
    if isinstance(exc, AttributeError) and missing:
        return f"{missing.group(1)} is missing"
    return _exception_text(exc)


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _present(ds: Dataset, tag: int) -> bool:
    try:
        return bool(ds.get(tag) is not None and ds[tag].value not in (None, "", b""))
    except _PARSE_ERRORS:
        return False


#: Elements the readers use: decoded (converted from the raw bytes) when the
#: header is read, so that a malformed one is reported there, naming it. Those
#: in ``_DESCRIPTIVE`` are dropped with a warning when they cannot be decoded;
#: any other one makes the file unreadable.
_USED_TAGS = (
    0x00080008, 0x00080016, 0x00080018, 0x00080020, 0x00080021, 0x00080022, 0x00080030,
    0x00080031, 0x00080032, 0x0008002A, 0x00080060, 0x0008103E, 0x00100010, 0x00100020,
    0x00180050, 0x00180088, 0x00181120, 0x0020000D, 0x0020000E, 0x00200011, 0x00200012,
    0x00200032, 0x00200037, 0x00200052, 0x00200100, 0x00180086, 0x00181060, 0x00280002,
    0x00280004, 0x00280008, 0x00280010, 0x00280011, 0x00280030, 0x00280100, 0x00280101,
    0x00280103, 0x00281052, 0x00281053, 0x00281054, 0x00540011, 0x00540013, 0x00540016,
    0x00540021, 0x00540022, 0x00540080, 0x00540081, 0x00540070, 0x00541001, 0x00541102,
    0x00409096, 0x30040002, 0x30040004, 0x3004000A, 0x3004000C, 0x3004000E,
)
_DESCRIPTIVE = {
    0x00080008, 0x00080018, 0x00080020, 0x00080021, 0x00080022, 0x00080030, 0x00080031,
    0x00080032, 0x0008002A, 0x0008103E, 0x00100010, 0x00100020, 0x0020000D, 0x00200011,
    0x00200012, 0x00181120, 0x00200100, 0x00180086, 0x00181060, 0x00280004,
}
#: Elements that :func:`_parse_fast` parses and validates from their raw bytes
#: (converting them with pydicom costs ~0.2 ms each); only their VR and binary
#: length are checked here. Other used elements of the VRs in ``_DECODED_VRS``
#: are decoded, so that a damaged value (an IS of 'inf') is reported here,
#: naming the file, and pydicom's remarks on it are attributed to the file.
_RAW_PARSED = {
    0x00200032, 0x00200037, 0x00280030, 0x00280010, 0x00280011, 0x00280100, 0x00280101,
    0x00280103, 0x00280002, 0x00281052, 0x00281053, 0x00280008,
}
#: Sequences whose items' elements are used (their items are decoded too).
_USED_SEQUENCES = (0x00540022, 0x00409096, 0x00540016)


def _element_name(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    name = keyword_for_tag(tag) or "element"
    return f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


#: Value sizes (bytes) of the binary VRs; a raw value of another length cannot be decoded.
_BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "UV": 8, "SV": 8}


#: VRs whose conversion can fail on a damaged value (numbers as text: an IS of
#: 'inf'; sequences), or whose remarks must name the file (UIDs). Other text VRs
#: (CS, LO, SH, PN, DA, TM, …) decode with at most a warning, so they are left
#: for later (decoding a PN or DA costs ~0.1 ms).
_DECODED_VRS = {"IS", "DS", "SQ", "UI"}


def _vr_of(ds: Dataset, tag: int) -> str:
    element = ds.get_item(tag)
    return str(element.VR) if element is not None and element.VR is not None else ""


def _check_raw(ds: Dataset, tag: int) -> None:
    """Raise as pydicom's conversion would for an unknown VR or a binary value of the wrong length.

    Cheaper than converting (a decimal-string conversion costs ~0.1 ms), and these
    are the two ways a damaged header makes pydicom raise instead of warn.
    """
    element = ds.get_item(tag)
    if element is None or not isinstance(element, RawDataElement):
        return
    vr = str(element.VR) if element.VR is not None else None
    if vr is not None and vr not in _KNOWN_VRS:
        raise NotImplementedError(f"Unknown Value Representation {vr!r}")
    size = _BINARY_SIZES.get(vr or "")
    if size and element.value is not None and len(element.value) % size:
        raise ValueError(f"{len(element.value)} bytes are not a whole number of {vr} values")


def _decode_used(ds: Dataset, path: Path) -> list[str] | Unreadable:
    """Check the used elements now (sequences decoded); drop bad descriptive ones with a warning."""
    notes: list[str] = []
    for tag in _USED_TAGS:
        try:
            if tag not in ds:
                continue
            if tag not in _USED_SEQUENCES and (tag in _RAW_PARSED or _vr_of(ds, tag) not in _DECODED_VRS):
                _check_raw(ds, tag)  # parsed from the raw bytes, or text that decodes safely
                continue
            value = ds[tag].value
            if tag in _USED_SEQUENCES and not isinstance(value, DicomSequence):
                raise ValueError(f"its value representation is {_vr_of(ds, tag)}, not SQ (a sequence)")
            if tag in _USED_SEQUENCES and value:
                for item in value:
                    for sub in list(item.keys()):
                        item[sub]
        except _PARSE_ERRORS as exc:
            if tag in _DESCRIPTIVE:
                del ds[tag]
                notes.append(
                    f"{path}: {_element_name(tag)} cannot be decoded ({_exception_text(exc)}) "
                    "and was ignored."
                )
                continue
            return Unreadable(path, f"{_element_name(tag)} cannot be decoded ({_exception_text(exc)})")
    return notes


def _element_header(fp: Any, ds: Dataset) -> tuple[int, int, bool] | None:
    """Parse the Pixel Data element header at the file position (if it is there).

    Returns (header length, value length, native-readable) or ``None`` when the
    data set has no pixel data element at this position. Files whose pixel data
    cannot be located in the file (deflated, big endian, encapsulated) report
    ``(0, 0, False)`` and are decoded by pydicom.
    """
    ts = str(getattr(ds.file_meta, "TransferSyntaxUID", "") or "")
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit = _NATIVE_LITTLE_ENDIAN.get(ts, True)
    order: Literal["big", "little"] = "big" if little is False else "little"
    if ts == "1.2.840.10008.1.2.1.99":  # deflated: the file position says nothing
        return (0, 0, False)
    raw = fp.read(12)
    if len(raw) < 8:
        return None
    group, elem = int.from_bytes(raw[0:2], order), int.from_bytes(raw[2:4], order)
    if (group << 16 | elem) not in (_PIXEL_DATA_TAG, *_FLOAT_PIXEL_TAGS):
        return None
    if (ts and ts not in _NATIVE_LITTLE_ENDIAN) or order == "big" or (group << 16 | elem) != _PIXEL_DATA_TAG:
        return (0, 0, False)
    if implicit:
        return (8, int.from_bytes(raw[4:8], "little"), True)
    if len(raw) < 12:
        return None
    return (12, int.from_bytes(raw[8:12], "little"), True)


# ------------------------------------------------------------ fast values
_US_TAGS = {
    "rows": 0x00280010,
    "columns": 0x00280011,
    "bits_allocated": 0x00280100,
    "bits_stored": 0x00280101,
    "samples_per_pixel": 0x00280002,
}


def _raw(ds: Dataset, tag: int) -> Any:
    """The element's raw bytes when not yet converted (else its value), ``None`` if absent."""
    try:
        elem = ds.get_item(tag)
    except KeyError:
        return None
    if elem is None:
        return None
    return elem.value  # bytes for a RawDataElement, the converted value otherwise


def _text_numbers(raw: Any) -> list[float] | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        parts = raw.decode("ascii", "replace").strip(" \x00").split("\\")
    elif isinstance(raw, list | tuple | MultiValue):
        parts = list(raw)
    else:
        parts = [raw]
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        return None


def _us(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        # one US value is two bytes; more is a second value (these elements have VM 1)
        return int.from_bytes(raw, "little") if len(raw) == 2 else None
    if isinstance(raw, list | tuple | MultiValue):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


#: Raw-parsed elements stored as text numbers, with their dictionary VR.
_TEXT_NUMBER_VRS = {
    0x00200032: "DS", 0x00200037: "DS", 0x00280030: "DS", 0x00281052: "DS", 0x00281053: "DS",
    0x00280008: "IS",
}


def _shown(raw: Any) -> str:
    """A raw element value for messages (decoded text, at most 40 characters)."""
    if isinstance(raw, bytes):
        text = raw.decode("latin-1").strip(" \x00")
    elif isinstance(raw, list | tuple | MultiValue):
        text = "\\".join(str(v) for v in raw)
    else:
        text = str(raw)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _absent(raw: Any) -> bool:
    if isinstance(raw, bytes):
        return not raw.strip(b" \x00")
    if isinstance(raw, str):
        return not raw.strip(" \x00")
    return raw is None


def _wrong_vr(ds: Dataset, tag: int, expected: str) -> str | None:
    """A sentence when a raw-parsed element has another VR than the dictionary's."""
    vr = _vr_of(ds, tag)
    if vr in (expected, "UN", ""):
        return None
    return f"{_element_name(tag).split(' ')[0]} has the value representation {vr!r}, not {expected}"


def _parse_fast(rec: FileRecord) -> str | None:
    """Fill the record's numeric fields from raw element bytes (little endian files).

    Returns a sentence naming the element when a geometry, layout or rescale
    element is present but malformed (NaN, inf, text, wrong multiplicity, a
    zero or negative pixel spacing, a zero rescale slope), else ``None``.
    """
    ds = rec.header
    encoding = getattr(ds, "original_encoding", (None, True))
    if encoding[1] is False:  # big endian: use pydicom's conversions
        for name, tag in _US_TAGS.items():
            element = ds.get(tag)
            if element is not None and element.value is not None:
                value = element.value
                setattr(rec, name, int(value[0] if isinstance(value, MultiValue) else value))
        rec.signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    else:
        for name, tag in _US_TAGS.items():
            raw = _raw(ds, tag)
            if raw is None:
                continue
            if _vr_of(ds, tag) not in ("US", "SS", "UN", ""):  # "": implicit VR
                keyword = _element_name(tag).split(" ")[0]
                return f"{keyword} has the value representation {_vr_of(ds, tag)!r}, not US"
            value = _us(raw)
            if value is None:
                keyword = _element_name(tag).split(" ")[0]
                return f"{keyword} is {_shown(raw)}, not one whole number"
            setattr(rec, name, value)
        if 0x00280103 in ds and (problem := _wrong_vr(ds, 0x00280103, "US")):
            return problem
        rec.signed = _us(_raw(ds, 0x00280103)) == 1
    if rec.has_pixels:
        for keyword, tag, value in (("Rows", 0x00280010, rec.rows), ("Columns", 0x00280011, rec.columns)):
            if _raw(ds, tag) is None:
                return f"{keyword} is missing, so the image size is unknown"
            if value < 1:
                return f"{keyword} is {value}; an image needs at least one row and one column"
    for tag, expected in _TEXT_NUMBER_VRS.items():
        if tag in ds and (problem := _wrong_vr(ds, tag, expected)):
            return problem
    raw = _raw(ds, 0x00280008)
    if not _absent(raw):
        frames = _text_numbers(raw)
        if not frames or len(frames) != 1 or not np.isfinite(frames[0]) or frames[0] < 1 or frames[0] != int(frames[0]):
            return f"NumberOfFrames is {_shown(raw)}, not a positive whole number"
        rec.number_of_frames = int(frames[0])
    for name, tag, n, keyword in (
        ("position", 0x00200032, 3, "ImagePositionPatient"),
        ("orientation", 0x00200037, 6, "ImageOrientationPatient"),
        ("pixel_spacing", 0x00280030, 2, "PixelSpacing"),
    ):
        raw = _raw(ds, tag)
        if _absent(raw):
            continue
        values = _text_numbers(raw)
        if values is None or len(values) != n or not all(np.isfinite(values)):
            return f"{keyword} is {_shown(raw)}, not {n} finite numbers"
        array = np.array(values)
        if name == "pixel_spacing" and np.any(array <= 0):
            return f"PixelSpacing is {_shown(raw)} mm: a pixel spacing must be positive"
        if name == "orientation" and np.any(np.linalg.norm(array.reshape(2, 3), axis=1) < 1e-6):
            return f"ImageOrientationPatient is {_shown(raw)}: a direction cosine vector is zero"
        setattr(rec, name, array)
    for keyword, tag in (("RescaleSlope", 0x00281053), ("RescaleIntercept", 0x00281052)):
        raw = _raw(ds, tag)
        if _absent(raw):
            continue
        values = _text_numbers(raw)
        if values is None or len(values) != 1 or not np.isfinite(values[0]):
            return f"{keyword} is {_shown(raw)}, not one finite number"
        if keyword == "RescaleSlope":
            if values[0] == 0:
                return "RescaleSlope is 0, which would make every value equal to the intercept"
            rec.rescale_slope = values[0]
        else:
            rec.rescale_intercept = values[0]
    uid = _raw(ds, 0x00080018)
    rec.sop_uid = (uid.decode("ascii", "replace") if isinstance(uid, bytes) else str(uid or "")).strip(" \x00")
    if rec.bits_stored <= 0 or rec.bits_stored > rec.bits_allocated:
        rec.bits_stored = rec.bits_allocated
    elif rec.has_pixels and rec.bits_stored < rec.bits_allocated:
        # Bits above BitsStored are cleared when reading, so a wrong BitsStored would garble every
        # voxel; HighBit is BitsStored - 1 (PS3.3 C.7.6.3.1.1) and tells which of the two is wrong.
        if encoding[1] is False:  # big endian: pydicom's conversion
            element = ds.get(0x00280102)
            value = None if element is None else element.value
            high = int(value) if isinstance(value, int) else None
        else:
            high = _us(_raw(ds, 0x00280102))
        if high is not None and high != rec.bits_stored - 1:
            return (f"BitsStored is {rec.bits_stored} but HighBit is {high} (it must be BitsStored - 1), "
                    "so which bits hold the pixel values is unknown")
    return None


# ------------------------------------------------------------------ values
def floats(value: Any, n: int | None = None) -> np.ndarray | None:
    """A DS/FD multi-value as a float array (``None`` when absent or malformed)."""
    if value is None:
        return None
    try:
        seq = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
        arr = np.array([float(v) for v in seq], dtype=float)
    except (TypeError, ValueError):
        return None
    if n is not None and arr.size != n:
        return None
    if not np.all(np.isfinite(arr)):
        return None
    return arr


def number(value: Any, default: float | None = None) -> float | None:
    """A DS/IS/US value as a float, ``default`` when absent or malformed."""
    if value is None or value == "":
        return default
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def parse_da_tm(date: Any, time: Any) -> _dt.datetime | None:
    """Combine a DICOM DA and TM value into a naive datetime (``None`` if malformed)."""
    if not date:
        return None
    try:
        d = _dt.datetime.strptime(str(date).strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    t = parse_tm(time) if time else None
    return _dt.datetime.combine(d, t or _dt.time(0, 0))


def parse_tm(value: Any) -> _dt.time | None:
    """A DICOM TM value (HHMMSS.FFFFFF, components optional, ':' tolerated)."""
    text = str(value).strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", text)
    if not m:
        return None
    hh, mm, ss, frac = m.groups()
    try:
        return _dt.time(
            int(hh), int(mm or 0), min(int(ss or 0), 59), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None


def parse_dt(value: Any) -> _dt.datetime | None:
    """A DICOM DT value as a naive local datetime (a UTC offset suffix is dropped)."""
    if not value:
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?", text)
    if not m:
        return None
    return parse_da_tm(m.group(1), m.group(2) or "000000")


def describe(ds: Dataset) -> str:
    """Modality and description of a series, for messages: ``CT 'Abdomen'``."""
    modality = str(ds.get("Modality", "?"))
    desc = str(ds.get("SeriesDescription", "") or "").strip()
    return f"{modality} {desc!r}" if desc else modality


def int_or_none(value: Any) -> int | None:
    """A header value as a whole number (truncated), or ``None`` when it is not a number."""
    n = number(value)
    return None if n is None else int(n)
