"""Reading medical images and masks into Volumes; writing NIfTI, RTDOSE and SEG.

The entry points follow the command-line contract (``../shared/spec/CLI.md``):

* :func:`read_image` takes an ``IMG``: a DICOM folder (``series`` picks one of
  several), a single DICOM file (e.g. multi-frame NM), NIfTI, NRRD or MHA.
* :func:`read_mask` takes a ``MASK``: any ``IMG`` (non-zero = inside),
  ``FILE.seg.nrrd#Segment``, ``SEG.dcm#Label`` or ``RTSTRUCT.dcm#ROI``, and
  resamples it by nearest neighbour onto a reference grid when one is given.
"""

from __future__ import annotations

import os
from pathlib import Path

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.io._atomic import atomic_directory, atomic_path, ensure_not_input
from workstation.io.formats import is_sitk_format, read_sitk_image, write_image
from workstation.io.rtdose import read_rtdose, write_rtdose
from workstation.io.seg import write_seg

__all__ = [
    "atomic_directory",
    "atomic_path",
    "ensure_not_input",
    "read_image",
    "read_mask",
    "read_rtdose",
    "write_image",
    "write_rtdose",
    "write_seg",
]


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
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"{p}: no such file or folder.")
    if p.is_file() and is_sitk_format(p):
        return read_sitk_image(p, units=units)
    from workstation.io.dicom import read_dicom_image

    vol = read_dicom_image(p, series=series)
    if units is not None and vol.units == Unit.UNKNOWN:
        vol.units = Unit.parse(units)
    return vol


def read_mask(spec: str | os.PathLike[str], reference: Volume | None = None) -> Volume:
    """Read a ``MASK`` (see the module docstring) as a label volume.

    With ``reference`` the mask is resampled by nearest neighbour onto the
    reference grid in patient space; a mask that does not overlap it is an error.
    """
    from workstation.io.masks import read_mask as _read_mask

    return _read_mask(spec, reference=reference)
