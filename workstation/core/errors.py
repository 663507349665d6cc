"""Domain exceptions.

Every error a user can cause by giving the workstation bad input derives from
:class:`WorkstationError`. The command line turns these into exit status 2 and
the exception's message, which must be one clear sentence naming the file,
series or option and what is wrong with it.
"""

from __future__ import annotations

__all__ = [
    "WorkstationError",
    "InvalidInputError",
    "DicomError",
    "GeometryMismatchError",
    "NoOverlapError",
    "EmptyMaskError",
    "UnitError",
]


class WorkstationError(Exception):
    """Base class of all user-facing errors (bad input or usage, exit code 2)."""


class InvalidInputError(WorkstationError, ValueError):
    """An input file, option or value is not acceptable."""


class DicomError(InvalidInputError):
    """A DICOM file or series cannot be read or is inconsistent."""


class GeometryMismatchError(InvalidInputError):
    """Two volumes or a volume and a mask do not have compatible geometry."""


class NoOverlapError(GeometryMismatchError):
    """Two volumes do not overlap in patient space."""


class EmptyMaskError(InvalidInputError):
    """A mask or region of interest contains no voxel."""


class UnitError(InvalidInputError):
    """A quantity has missing or incompatible units."""
