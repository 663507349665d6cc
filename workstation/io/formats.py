"""Research formats through SimpleITK: NIfTI, NRRD, MetaImage."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from workstation.core.diagnostics import capture_native_stderr
from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume, VolumeMetadata
from workstation.io._atomic import atomic_path

__all__ = ["SITK_SUFFIXES", "is_sitk_format", "read_sitk_image", "write_image"]

#: File endings read and written through SimpleITK.
SITK_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_sitk_format(path: str | os.PathLike[str]) -> bool:
    name = str(path).lower()
    return name.endswith(SITK_SUFFIXES)


def read_sitk_image(path: str | os.PathLike[str], units: Unit | str | None = None) -> Volume:
    """Read a NIfTI/NRRD/MHA file into a :class:`Volume` (LPS geometry from SimpleITK)."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such file.")
    if p.name.lower().endswith((".mha", ".mhd")):
        _check_metaimage_header(p)
    try:
        with capture_native_stderr(p) as native:
            image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        first = re.sub(r"^.*?(?:ERROR|Exception)[^:]*:\s*", "", first)[:300]
        raise InvalidInputError(
            f"{p}: cannot be read as a {_format_name(p)} image ({first}); the file is damaged or "
            "not of the kind its name says (`workstation info FILE` shows what can be read)."
        ) from None
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise InvalidInputError(f"{p}: a 3D image is needed, but it is {image.GetDimension()}D.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInputError(
            f"{p}: a scalar image is needed, but it has "
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel."
        )
    vol = Volume.from_sitk(image, units=Unit.parse(units), metadata=VolumeMetadata(source_path=str(p)))
    from workstation.io.plausibility import check_geometry, check_values

    check_geometry(vol, str(p))
    vol.metadata.warnings.extend(native)
    vol.metadata.warnings.extend(check_values(vol, str(p)))
    if vol.array.dtype.kind == "f" and p.name.lower().endswith((".nii", ".nii.gz")):
        _restore_nifti_nan(p, vol.array)
    return vol


#: MetaImage header fields that are booleans (ITK's MetaIO reads anything else as
#: "true", and then decompresses raw data into an uninitialised buffer).
_METAIMAGE_BOOLEANS = ("CompressedData", "BinaryData", "BinaryDataByteOrderMSB")
#: Numeric MetaImage fields and how many numbers each holds (n = NDims). ITK's
#: MetaIO does not check them: NDims = 99999 crashes the process (found by the
#: reader fuzzing), so they are checked here first.
_METAIMAGE_VECTORS = {
    "DimSize": 1, "ElementSpacing": 1, "ElementSize": 1, "Offset": 1, "Position": 1, "Origin": 1,
    "CenterOfRotation": 1, "TransformMatrix": 2, "Rotation": 2, "Orientation": 2,
}


def _check_metaimage_header(path: Path) -> None:
    """Refuse a MetaImage header that ITK would misread or crash on, naming the field."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    text = head.split(b"ElementDataFile", 1)[0].decode("latin-1")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()

    def bad(key: str, what: str) -> InvalidInputError:
        return InvalidInputError(
            f"{path}: the MetaImage header field {key} is {fields[key][:40]!r}, not {what}; "
            "the header is damaged."
        )

    for key in _METAIMAGE_BOOLEANS:
        if key in fields and fields[key].lower() not in ("true", "false"):
            raise bad(key, "True or False")
    ndims_text = fields.get("NDims", "3")
    if not re.fullmatch(r"[1-4]", ndims_text):
        fields.setdefault("NDims", ndims_text)
        raise bad("NDims", "a number of dimensions from 1 to 4")
    ndims = int(ndims_text)
    for key, power in _METAIMAGE_VECTORS.items():
        if key not in fields:
            continue
        try:
            values = [float(v) for v in fields[key].split()]
        except ValueError:
            raise bad(key, f"{ndims ** power} numbers") from None
        if len(values) != ndims**power or not all(np.isfinite(values)):
            raise bad(key, f"{ndims ** power} finite numbers")
        if key == "DimSize" and not all(v >= 1 and v == int(v) for v in values):
            raise bad(key, "positive whole numbers")
    channels = fields.get("ElementNumberOfChannels", "1")
    if not re.fullmatch(r"[1-9][0-9]{0,2}", channels):
        fields.setdefault("ElementNumberOfChannels", channels)
        raise bad("ElementNumberOfChannels", "a small positive whole number")


def _format_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "NIfTI"
    if name.endswith((".nrrd", ".nhdr")):
        return "NRRD"
    return "MetaImage"


#: NIfTI-1 float datatypes (code -> numpy dtype). Source: nifti1.h (NIFTI_TYPE_FLOAT32/64).
_NIFTI_FLOAT_TYPES = {16: np.float32, 64: np.float64}


def _restore_nifti_nan(path: Path, array: np.ndarray) -> None:
    """Put back the NaN voxels of a float NIfTI file, which ITK's reader turns into 0.

    NaN marks "undefined" in our outputs (e.g. the margin map off the tumour
    surface). The voxel data are read straight from the file (NIfTI-1 header:
    dim at byte 40, datatype at 70, vox_offset at 108, scl_slope at 112) and
    have the same (z, y, x) layout as SimpleITK's array.
    """
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 352:
        return
    for endian in ("<", ">"):
        if int(np.frombuffer(raw[0:4], f"{endian}i4")[0]) == 348:
            break
    else:
        return  # not NIfTI-1 (e.g. NIfTI-2): leave ITK's values
    dims = np.frombuffer(raw[40:56], f"{endian}i2")
    code = int(np.frombuffer(raw[70:72], f"{endian}i2")[0])
    offset = int(np.frombuffer(raw[108:112], f"{endian}f4")[0])
    dtype = _NIFTI_FLOAT_TYPES.get(code)
    n = int(np.prod(dims[1 : 1 + max(int(dims[0]), 1)]))
    if dtype is None or n != array.size:
        return
    data = np.frombuffer(raw, np.dtype(dtype).newbyteorder(endian), count=n, offset=offset)
    nan = np.isnan(data)
    if nan.any():
        array.reshape(-1)[nan] = np.nan


def write_image(volume: Volume, path: str | os.PathLike[str], compress: bool = True) -> Path:
    """Write a volume as NIfTI/NRRD/MHA (chosen by the ending), atomically.

    Label images are written as unsigned integers; boolean masks as uint8.
    """
    import SimpleITK as sitk

    target = Path(path)
    if not is_sitk_format(target):
        raise InvalidInputError(
            f"{target}: unknown output format; use one of {', '.join(SITK_SUFFIXES)}."
        )
    vol = volume
    if vol.array.dtype == bool:
        vol = vol.copy_with(array=vol.array.astype(np.uint8))
    elif vol.array.dtype == np.float16:
        vol = vol.copy_with(array=vol.array.astype(np.float32))
    image = vol.to_sitk()
    with atomic_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return target
