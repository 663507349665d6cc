"""Reading an ``IMG`` of the command-line contract into a Volume, and IMG specs that are not paths.

:func:`read_image` takes a DICOM folder (``series`` picks one of several), a
single DICOM file (e.g. multi-frame NM), NIfTI, NRRD or MHA. Specs with a
registered scheme (``pacs://NODE/SERIES_UID``) are resolved to a local path
first (:func:`register_image_resolver`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.io.formats import is_sitk_format, read_sitk_image

__all__ = ["IMAGE_RESOLVERS", "read_image", "register_image_resolver", "resolve_image_path"]


#: ``prefix -> resolver(spec) -> local path`` for IMG specs that are not paths
#: (``pacs://NODE/SERIES_UID``); registered by the layer that owns them (the
#: command line registers :func:`workstation.pacs.resolve_pacs_image`), so ``io``
#: imports nothing above it.
IMAGE_RESOLVERS: dict[str, Callable[[str], Path]] = {}


def register_image_resolver(prefix: str, resolver: Callable[[str], Path]) -> None:
    """Let :func:`read_image` and :func:`.masks.read_mask` accept specs starting with ``prefix``.

    ``resolver(spec)`` returns the local file or folder that holds the image
    (e.g. a series retrieved from a PACS into a cache folder).
    """
    IMAGE_RESOLVERS[prefix] = resolver


def resolve_image_path(path: str | os.PathLike[str]) -> Path:
    """The local path of an IMG spec: a registered scheme (``pacs://…``) resolved, else the path itself."""
    text = os.fspath(path)
    for prefix, resolver in IMAGE_RESOLVERS.items():
        if text.startswith(prefix):
            return Path(resolver(text))
    if "://" in text.split("#", 1)[0] and not Path(text).exists():
        scheme = text.split("://", 1)[0]
        raise InvalidInputError(f"{text}: the scheme {scheme}:// is not known here (images are files, folders or pacs://).")
    return Path(text)


def read_image(
    path: str | os.PathLike[str],
    series: str | None = None,
    units: Unit | str | None = None,
) -> Volume:
    """Read one volume from a file or folder (see the module docstring).

    Parameters
    ----------
    path:
        DICOM folder or file, or a NIfTI/NRRD/MHA file.
    series:
        Series Instance UID or a unique prefix of it, when a folder holds several.
    units:
        Units of the voxel values, for formats whose header does not say.
    """
    p = resolve_image_path(path)
    if not p.exists():
        raise InvalidInputError(_missing_image_message(os.fspath(path)))
    if p.is_file() and is_sitk_format(p):
        return read_sitk_image(p, units=units)
    from workstation.io.dicom import read_dicom_image

    vol = read_dicom_image(p, series=series)
    if units is not None and vol.units == Unit.UNKNOWN:
        vol.units = Unit.parse(units)
    return vol


def _missing_image_message(text: str) -> str:
    """Why an IMG path does not exist, and what would help (MASK syntax given as an IMG)."""
    base, sep, name = text.rpartition("#")
    if sep and base and Path(base).exists():
        return (
            f"{text}: '#{name}' selects a segment, which is MASK syntax (FILE.seg.nrrd#Segment, "
            f"SEG.dcm#Label, RTSTRUCT.dcm#ROI, LABELS.nii.gz#N); this takes an IMG, an image. To "
            f"write that segment as a label image, run `workstation mask {text} -o OUT.nii.gz`; "
            f"to use the whole file as an image, give {base} without '#{name}'."
        )
    parent = Path(text).parent
    where = "" if parent.exists() else f" (the folder {parent} does not exist either)"
    return f"{text}: no such file or folder{where}."
