"""Core types: the Grid (shape + affine + frame of reference), the Volume (array + affine + frame of reference + units), errors, constants, the Progress callback and the output helpers."""

from workstation.core.errors import (
    DicomError,
    EmptyMaskError,
    GeometryMismatchError,
    InvalidInputError,
    NoOverlapError,
    UnitError,
    WorkstationError,
)
from workstation.core.grid import Grid
from workstation.core.outputs import jsonable, report_or_summary, summary_page
from workstation.core.progress import Progress, no_progress
from workstation.core.volume import (
    Radiopharmaceutical,
    Unit,
    Volume,
    VolumeMetadata,
    affine_from_geometry,
)

__all__ = [
    "DicomError",
    "EmptyMaskError",
    "GeometryMismatchError",
    "Grid",
    "InvalidInputError",
    "NoOverlapError",
    "Progress",
    "Radiopharmaceutical",
    "Unit",
    "UnitError",
    "Volume",
    "VolumeMetadata",
    "WorkstationError",
    "affine_from_geometry",
    "jsonable",
    "no_progress",
    "report_or_summary",
    "summary_page",
]
