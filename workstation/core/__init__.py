"""Core types: the Grid (shape + affine + frame of reference), the Volume (array + affine + frame of reference + units), errors, constants."""

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
    "Radiopharmaceutical",
    "Unit",
    "UnitError",
    "Volume",
    "VolumeMetadata",
    "WorkstationError",
    "affine_from_geometry",
]
