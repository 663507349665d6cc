"""Mutations of input files for the reader fuzz tests, as Hypothesis strategies.

Each mutation is a small record (what was done, to which element) with an
``apply(data: bytes) -> bytes`` that turns the bytes of a valid file into the
mutated bytes; Hypothesis draws the record, so a failure shrinks to the
simplest mutation and prints it (``repr`` names the operation and the tag).

DICOM mutations work on the raw elements (pydicom ``RawDataElement`` written
back as they are), so malformed values reach the file exactly as drawn:
truncation, byte flips in the header, tag deletion, garbage values per VR
(NaN/inf strings, huge numbers, empty, text in numbers), wrong VRs (a known VR
of another length class or unknown letters), and Rows/Columns/BitsAllocated/
NumberOfFrames inconsistent with the pixel data length. Text-header formats
(NRRD, MetaImage) get field deletions and garbage field values; every format
gets truncation and byte flips.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import pydicom
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

#: Garbage values for text numbers (DS, IS) and other text VRs.
NUMBER_GARBAGE = [
    "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "0", "-0", "-1", "-5.5", "99999999",
    "1e30", "abc", "", " ", "1\\2\\3\\4\\5\\6\\7", "1.2.3", "\x00\x00", "+", "1e", "0x10",
]
TEXT_GARBAGE = ["", " ", "\\", "a" * 70, "ÿþ", "\x00", "???", "ISO_IR 999", "1.2.abc"]
#: Binary values (2 or 4 bytes) for US/SS/UL/SL and FL/FD-like garbage.
BINARY_GARBAGE_16 = [b"\x00\x00", b"\xff\xff", b"\x01\x00", b"\x00\x80", b"\x03\x00", b"\x20\x00"]
BINARY_GARBAGE_32 = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f"]
BINARY_GARBAGE_64 = [
    b"\x00\x00\x00\x00\x00\x00\xf8\x7f",  # NaN
    b"\x00\x00\x00\x00\x00\x00\xf0\x7f",  # +inf
    b"\x00\x00\x00\x00\x00\x00\xf0\xbf",  # -1.0
    b"\x00" * 8,
]
VR_GARBAGE = ["Uv", "XX", "UL", "US", "OB", "SQ", "UN", "DS", "FD", "  ", "\x00\x00"]


def _raw_dataset(data: bytes) -> Any:
    return pydicom.dcmread(io.BytesIO(data), force=True)


def _save(ds: Any) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _pixel_offset(data: bytes) -> int:
    """Byte offset of the Pixel Data element header (little endian), else the file length."""
    pos = data.rfind(b"\xe0\x7f\x10\x00")
    return pos if pos > 0 else len(data)


@dataclass(frozen=True)
class Truncate:
    """Keep the first ``fraction`` of the file."""

    fraction: float

    def apply(self, data: bytes) -> bytes:
        return data[: int(len(data) * self.fraction)]


@dataclass(frozen=True)
class FlipHeaderByte:
    """Set the byte at ``position`` (a fraction of the header length) to ``value``."""

    position: float
    value: int

    def apply(self, data: bytes) -> bytes:
        end = _pixel_offset(data)
        if end <= 0:
            return data
        i = min(int(end * self.position), end - 1)
        out = bytearray(data)
        out[i] = self.value if self.value != out[i] else (self.value + 1) % 256
        return bytes(out)


@dataclass(frozen=True)
class DeleteTag:
    tag: int

    def apply(self, data: bytes) -> bytes:
        ds = _raw_dataset(data)
        if self.tag in ds:
            del ds[self.tag]
        return _save(ds)


@dataclass(frozen=True)
class RawValue:
    """Replace the value bytes of ``tag`` (kept with its VR) by ``value``."""

    tag: int
    value: bytes

    def apply(self, data: bytes) -> bytes:
        ds = _raw_dataset(data)
        if self.tag not in ds:
            return data
        elem = ds.get_item(self.tag)
        vr = elem.VR
        value = self.value
        if len(value) % 2:
            value += b"\x00" if vr in ("UI", "OB") else b" "
        ds[self.tag] = RawDataElement(Tag(self.tag), vr, len(value), value, 0, False, True)
        try:
            return _save(ds)
        except Exception:  # noqa: BLE001 - pydicom will not write it (e.g. a garbage character set)
            return _replace_bytes(data, self.tag, value)


_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def _replace_bytes(data: bytes, tag: int, value: bytes) -> bytes:
    """Replace an element's value in the bytes of an explicit VR little endian file."""
    needle = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
    pos = data.find(needle, 132, _pixel_offset(data))
    if pos < 0 or data[pos + 4 : pos + 6] in _LONG_VRS or not re.fullmatch(rb"[A-Z]{2}", data[pos + 4 : pos + 6]):
        return data
    length = int.from_bytes(data[pos + 6 : pos + 8], "little")
    head = data[pos : pos + 6] + len(value).to_bytes(2, "little")
    return data[:pos] + head + value + data[pos + 8 + length :]


@dataclass(frozen=True)
class WrongVR:
    """Rewrite the VR letters of ``tag`` in the file (explicit VR little endian)."""

    tag: int
    vr: str

    def apply(self, data: bytes) -> bytes:
        group, elem = self.tag >> 16, self.tag & 0xFFFF
        needle = group.to_bytes(2, "little") + elem.to_bytes(2, "little")
        end = _pixel_offset(data)
        pos = data.find(needle, 132, end)
        if pos < 0 or not re.fullmatch(rb"[A-Z]{2}", data[pos + 4 : pos + 6]):
            return data
        out = bytearray(data)
        out[pos + 4 : pos + 6] = self.vr.encode("latin-1")[:2].ljust(2, b" ")
        return bytes(out)


@dataclass(frozen=True)
class ResizePixels:
    """Set Rows/Columns/BitsAllocated/NumberOfFrames to ``value`` with the pixel data unchanged."""

    tag: int
    value: int

    def apply(self, data: bytes) -> bytes:
        ds = _raw_dataset(data)
        if self.tag == 0x00280008:  # NumberOfFrames is IS (text)
            text = str(self.value).encode()
            if len(text) % 2:
                text += b" "
            ds[self.tag] = RawDataElement(Tag(self.tag), "IS", len(text), text, 0, False, True)
        else:
            raw = int(self.value).to_bytes(2, "little")
            ds[self.tag] = RawDataElement(Tag(self.tag), "US", 2, raw, 0, False, True)
        return _save(ds)


@dataclass(frozen=True)
class CutPixels:
    """Shorten (``keep`` < 1) or lengthen the pixel data element, header unchanged."""

    keep: float

    def apply(self, data: bytes) -> bytes:
        ds = _raw_dataset(data)
        if "PixelData" not in ds:
            return data
        pixels = bytes(ds.PixelData)
        n = int(len(pixels) * self.keep) & ~1
        ds.PixelData = pixels[:n] if n <= len(pixels) else pixels + b"\x00" * (n - len(pixels))
        return _save(ds)


#: Elements that decide geometry, pixel layout and values (fuzzed more often).
DICOM_KEY_TAGS = [
    0x00080016, 0x00080060, 0x00080008, 0x0020000E, 0x0020000D, 0x00200052, 0x00200032,
    0x00200037, 0x00280030, 0x00180050, 0x00180088, 0x00280010, 0x00280011, 0x00280100,
    0x00280101, 0x00280103, 0x00280002, 0x00280004, 0x00280008, 0x00281052, 0x00281053,
    0x00281054, 0x00541001, 0x00540081, 0x00540080, 0x00540022, 0x00409096, 0x30040006,
    0x3004000A, 0x3004000C, 0x3004000E, 0x00080018, 0x00080005, 0x00100010, 0x0008103E,
    0x00200011, 0x00540016, 0x00541102,
]
PIXEL_LAYOUT_TAGS = [0x00280010, 0x00280011, 0x00280100, 0x00280008]


def dicom_mutations(extra_tags: list[int] | None = None) -> st.SearchStrategy[Any]:
    """One DICOM mutation (see the module docstring)."""
    tags = st.sampled_from(DICOM_KEY_TAGS + list(extra_tags or []))
    text_value = st.sampled_from(NUMBER_GARBAGE + TEXT_GARBAGE).map(lambda s: s.encode("latin-1"))
    binary_value = st.sampled_from(BINARY_GARBAGE_16 + BINARY_GARBAGE_32 + BINARY_GARBAGE_64)
    return st.one_of(
        st.builds(Truncate, st.floats(0.0, 0.999)),
        st.builds(FlipHeaderByte, st.floats(0.0, 1.0), st.integers(0, 255)),
        st.builds(DeleteTag, tags),
        st.builds(RawValue, tags, st.one_of(text_value, binary_value)),
        st.builds(WrongVR, tags, st.sampled_from(VR_GARBAGE)),
        st.builds(ResizePixels, st.sampled_from(PIXEL_LAYOUT_TAGS), st.sampled_from([0, 1, 2, 7, 8, 15, 17, 32, 64, 255, 4096, 65535])),
        st.builds(CutPixels, st.sampled_from([0.0, 0.5, 0.999, 1.001, 1.5, 2.0])),
    )


# ------------------------------------------------------------- text headers
@dataclass(frozen=True)
class HeaderField:
    """Replace (or, with ``value=None``, delete) the value of field ``index`` of a text header."""

    index: int
    value: str | None

    def apply(self, data: bytes) -> bytes:
        end = data.find(b"\n\n")
        if end < 0:
            end = data.find(b"ElementDataFile")
            end = data.find(b"\n", end) if end >= 0 else -1
        if end < 0:
            return data
        lines = data[:end].split(b"\n")
        fields = [i for i, line in enumerate(lines) if re.match(rb"^[A-Za-z][^:=]*(:=|:| =)", line)]
        fields = [i for i in fields if not lines[i].startswith((b"ElementDataFile", b"NRRD"))]
        if not fields:
            return data
        i = fields[self.index % len(fields)]
        if self.value is None:
            del lines[i]
        else:
            m = re.match(rb"^([^:=]*(?::=|: | = ))", lines[i])
            key = m.group(1) if m else lines[i]
            lines[i] = key + self.value.encode("latin-1")
        return b"\n".join(lines) + data[end:]


FIELD_GARBAGE = [
    "nan", "inf", "-inf", "0", "-1", "1e309", "abc", "", "0 0 0", "nan nan nan", "1 2",
    "(nan,0,0) (0,1,0) (0,0,1)", "(0,0,0) (0,0,0) (0,0,0)", "(1,0,0) (1,0,0) (0,0,1)",
    "(-1,0,0) (0,-1,0) (0,0,-1)", "99999 99999 99999", "-5 4 3", "unknown", "raw", "gzip",
    "double", "signed char", "1 0 0 0 1 0 0 0 0", "0 0 0 0 0 0 0 0 0", "4", "2", "1e30 1 1",
]


def text_header_mutations() -> st.SearchStrategy[Any]:
    """A NRRD/MetaImage mutation: header field garbage or deletion, byte flips, truncation."""
    return st.one_of(
        st.builds(HeaderField, st.integers(0, 40), st.one_of(st.none(), st.sampled_from(FIELD_GARBAGE))),
        st.builds(FlipHeaderByte, st.floats(0.0, 1.0), st.integers(0, 255)),
        st.builds(Truncate, st.floats(0.0, 0.999)),
    )


@dataclass(frozen=True)
class FlipByte:
    """Set byte ``position`` (fraction of the first ``span`` bytes) to ``value`` (binary headers)."""

    position: float
    value: int
    span: int = 352

    def apply(self, data: bytes) -> bytes:
        end = min(self.span, len(data))
        if end <= 0:
            return data
        i = min(int(end * self.position), end - 1)
        out = bytearray(data)
        out[i] = self.value if self.value != out[i] else (self.value + 1) % 256
        return bytes(out)


@dataclass(frozen=True)
class NiftiField:
    """Write ``value`` (packed as ``fmt``) at NIfTI-1 header ``offset``."""

    offset: int
    fmt: str
    value: float

    def apply(self, data: bytes) -> bytes:
        import struct

        out = bytearray(data)
        try:
            packed = struct.pack("<" + self.fmt, self.value)
        except (struct.error, OverflowError):
            return data
        out[self.offset : self.offset + len(packed)] = packed
        return bytes(out)


#: NIfTI-1 header fields (offset, struct format): dim[0..3], datatype, bitpix,
#: pixdim[0..3], vox_offset, scl_slope, scl_inter, qform/sform codes, quatern
#: b/c/d, qoffset x, srow_x[0].
NIFTI_FIELDS = [
    (40, "h"), (42, "h"), (44, "h"), (46, "h"), (70, "h"), (72, "h"), (76, "f"), (80, "f"),
    (84, "f"), (88, "f"), (108, "f"), (112, "f"), (116, "f"), (252, "h"), (254, "h"),
    (256, "f"), (260, "f"), (264, "f"), (268, "f"), (280, "f"),
]
NIFTI_VALUES = [0.0, -1.0, 1.0, 3.0, 7.0, 64.0, 1e30, float("nan"), float("inf"), -32768.0, 32767.0, 2.0, 16.0]


def nifti_mutations() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(
            lambda field, value: NiftiField(field[0], field[1], value),
            st.sampled_from(NIFTI_FIELDS),
            st.sampled_from(NIFTI_VALUES),
        ),
        st.builds(FlipByte, st.floats(0.0, 1.0), st.integers(0, 255)),
        st.builds(Truncate, st.floats(0.0, 0.999)),
    )
