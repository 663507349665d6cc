"""DICOM input: index a folder by series and read image volumes with exact geometry.

* :func:`index_dicom` scans a folder (recursively) or a file, reading headers
  only, in parallel; series are split into stacks of equal geometry, non-DICOM
  files are counted, not fatal.
* :func:`read_dicom_image` reads one volume: single-frame CT/PT/MR (sorted along
  the slice normal, per-slice rescale, missing/duplicate slices and mixed
  orientation reported, gantry tilt resampled with a warning), multi-frame NM
  reconstructions (signed SpacingBetweenSlices, DetectorInformationSequence
  geometry, Real World Value Mapping) and RT Dose grids.
"""

from workstation.io.dicom._index import DicomIndex, SeriesInfo, index_dicom
from workstation.io.dicom._pet import nuclide_name
from workstation.io.dicom._read import read_dicom_image, read_indexed

__all__ = ["DicomIndex", "SeriesInfo", "index_dicom", "nuclide_name", "read_dicom_image", "read_indexed"]
