"""Research formats through SimpleITK: NIfTI, NRRD, MetaImage."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InvalidInputError(f"{p}: cannot be read as an image ({first}).") from None
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
    return vol


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
