"""Reading medical images and masks into Volumes; writing NIfTI, RTDOSE and SEG.

The entry points follow the command-line contract (``../shared/spec/CLI.md``):

* :func:`read_image` takes an ``IMG``: a DICOM folder (``series`` picks one of
  several), a single DICOM file (e.g. multi-frame NM), NIfTI, NRRD or MHA.
* :func:`read_mask` takes a ``MASK``: any ``IMG`` (non-zero = inside),
  ``FILE.seg.nrrd#Segment``, ``SEG.dcm#Label`` or ``RTSTRUCT.dcm#ROI``, and
  resamples it by nearest neighbour onto a reference grid when one is given;
  :func:`mask_needs_reference` says whether a spec can be read without one.

Implemented in :mod:`.images`, :mod:`.masks`, :mod:`.formats`, :mod:`.rtdose`
and :mod:`.seg`; this module is the package's face.
"""

from __future__ import annotations

from workstation.io._atomic import atomic_directory, atomic_path, ensure_not_input
from workstation.io.formats import write_image
from workstation.io.images import read_image, register_image_resolver, resolve_image_path
from workstation.io.masks import mask_needs_reference, read_mask
from workstation.io.rtdose import read_rtdose, write_rtdose
from workstation.io.seg import write_seg

__all__ = [
    "atomic_directory",
    "atomic_path",
    "ensure_not_input",
    "mask_needs_reference",
    "read_image",
    "read_mask",
    "read_rtdose",
    "register_image_resolver",
    "resolve_image_path",
    "write_image",
    "write_rtdose",
    "write_seg",
]
