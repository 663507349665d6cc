"""DICOM RT Dose: write an absorbed-dose Volume (Gy) and read one back.

The writer produces one multi-frame RT Dose Storage instance (PS3.3 A.18) with

* the dose grid's own geometry: ``ImagePositionPatient`` of the first frame,
  ``ImageOrientationPatient`` (row and column directions, oblique allowed),
  ``PixelSpacing`` and ``GridFrameOffsetVector`` (relative offsets along the
  slice normal, first element 0, increasing), ``FrameIncrementPointer`` →
  (3004,000C);
* unsigned integer pixels (16 bit by default, 32 on request) and a
  ``DoseGridScaling`` chosen so that the maximum dose fits; the scaling
  written to the file is the exact one used for quantization, so a re-read
  dose is within half a step of the input. 16 bits by default because it is
  what every RT system reads and what the DICOM validator ``dciodvfy``
  (dicom3tools 2022, Debian) can check: it aborts on 32-bit pixel data. The
  16-bit step is max/65535, e.g. 0.015 Gy for a 1000 Gy hot spot, well below
  any clinical dose threshold;
* ``DoseUnits`` GY, ``DoseType`` PHYSICAL and ``DoseSummationType`` PLAN_OVERVIEW
  (see :data:`DOSE_SUMMATION_TYPE`);
* patient, study and frame of reference of the reference image, so that a
  planning system or PACS shows the dose over the images it came from.
"""

from __future__ import annotations

import datetime as _dt
import os
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import DicomError, GeometryMismatchError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.io._atomic import atomic_path
from workstation.io._dicom_attrs import TYPE2_PATIENT_STUDY_KEYWORDS

__all__ = ["DOSE_SUMMATION_TYPE", "read_rtdose", "write_rtdose"]

#: RT Dose Module (PS3.3 C.8.8.3) attribute Dose Summation Type (3004,000A).
#: Its defined terms tie the dose to other objects through Type 1C references:
#: PLAN, MULTI_PLAN, FRACTION, BEAM, BRACHY, *_SESSION and CONTROL_POINT require
#: the Referenced RT Plan Sequence (300C,0002), RECORD requires the Referenced
#: Treatment Record Sequence (3008,0030). A radioembolization dose is computed
#: from the imaged activity; there is no RT Plan and no treatment record object.
#: PLAN_OVERVIEW ("dose calculated with respect to plan overview parameters")
#: is the one defined term with no conditional reference, so the file is
#: complete on its own. Checked with dciodvfy for every term
#: (tests/io/test_writers_dciodvfy.py checks the written files).
DOSE_SUMMATION_TYPE = "PLAN_OVERVIEW"

_FRAME_INCREMENT_POINTER = 0x3004000C  # GridFrameOffsetVector
# Attributes copied from the reference image's header (patient, study, frame of reference).
_COPIED_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "PositionReferenceIndicator",
)
# Type 2 attributes written empty unless the reference header has them (Frame of Reference: C.7.4.1).
_TYPE2_EMPTY = (*TYPE2_PATIENT_STUDY_KEYWORDS, "PositionReferenceIndicator")
#: Tolerance (direction cosines) for the dose grid's axes being orthogonal:
#: RT Dose frames share one orientation and are stacked along its normal.
_ORTHOGONALITY_TOL = 1e-4


def _grid_geometry(dose: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """Row/column directions, first-frame position, slice spacing and whether to flip frames."""
    direction = dose.direction
    spacing = dose.spacing_mm
    row_dir = direction[:, 2]  # along a row: array axis 2 (columns index i)
    col_dir = direction[:, 1]  # down a column: array axis 1 (rows index j)
    slice_dir = direction[:, 0]
    normal = np.cross(row_dir, col_dir)
    if (
        abs(float(row_dir @ col_dir)) > _ORTHOGONALITY_TOL
        or abs(abs(float(normal @ slice_dir)) - 1.0) > _ORTHOGONALITY_TOL
    ):
        raise GeometryMismatchError(
            "The dose grid is sheared (its slice axis is not perpendicular to its rows and "
            "columns), which RT Dose cannot store; resample the dose onto an orthogonal grid first."
        )
    flip = float(normal @ slice_dir) < 0
    origin = dose.origin_mm
    if flip:
        origin = dose.index_to_world([dose.shape[0] - 1, 0, 0])
    return row_dir, col_dir, origin, float(spacing[0]), flip


def _ds_value(value: float) -> str:
    """A decimal string (VR DS, at most 16 characters) for ``value``."""
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(value)))


def _dose_grid_scaling(max_gy: float, max_int: int) -> tuple[str, float]:
    """Scaling (Gy per stored unit) as written (DS string) and as float, max fits ``max_int``.

    The scaling is ``max_gy / max_int`` rounded *up* to 10 significant digits,
    so the written value is at most 1e-9 (relative) coarser than ideal and the
    maximum dose never overflows the integer range.
    """
    if max_gy <= 0:
        return "1", 1.0
    exact = Decimal(max_gy) / Decimal(max_int)
    quantum = Decimal(1).scaleb(exact.adjusted() - 9)
    rounded = exact.quantize(quantum, rounding=ROUND_CEILING)
    text = f"{rounded:.9E}"  # e.g. "2.742864201E-03": 15 characters, within VR DS's 16
    return text, float(text)


def _header_source(reference: Volume | None) -> Any | None:
    if reference is None or not reference.metadata.dicom_headers:
        return None
    return reference.metadata.dicom_headers[0]


def write_rtdose(
    dose_gy: Volume,
    path: str | os.PathLike[str],
    reference: Volume | None = None,
    series_description: str = "Absorbed dose (workstation)",
    bits_allocated: int = 16,
    dose_type: str = "PHYSICAL",
    dose_comment: str = "Absorbed dose for complete decay of the imaged activity",
) -> Path:
    """Write an absorbed-dose volume as a DICOM RT Dose file, atomically.

    Parameters
    ----------
    dose_gy:
        Absorbed dose in gray on its own grid (may be oblique, must not be sheared).
        Values must be finite and non-negative (tiny negative rounding noise,
        above ``-1e-6`` of the maximum, is set to 0).
    path:
        Output file (``.dcm``).
    reference:
        Image the dose belongs to: its patient, study and frame of reference
        (from ``reference.metadata.dicom_headers[0]`` when present, else from its
        metadata) are written into the dose. Without it new study and frame of
        reference UIDs are generated (the dose's own frame of reference is kept).
    series_description:
        Series Description (0008,103E) of the new dose series.
    bits_allocated:
        16 (default, quantization step max/65535) or 32 (step max/4294967295;
        correct DICOM, but dicom3tools' ``dciodvfy`` cannot check it).
    dose_type:
        Dose Type (3004,0004): ``PHYSICAL`` (absorbed dose) or ``EFFECTIVE``
        (a biologically weighted dose such as an EQD2 map).
    dose_comment:
        Dose Comment (3004,0006), at most 64 characters.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RTDoseStorage, generate_uid

    from workstation import __version__

    target = Path(path)
    if dose_type not in ("PHYSICAL", "EFFECTIVE"):
        raise InvalidInputError(f"dose_type must be PHYSICAL or EFFECTIVE, not {dose_type!r}.")
    if bits_allocated not in (16, 32):
        raise InvalidInputError(f"bits_allocated must be 16 or 32, not {bits_allocated}.")
    if dose_gy.units not in (Unit.GY, Unit.UNKNOWN):
        raise InvalidInputError(
            f"The dose written to {target.name} must be in Gy, but the volume is in {dose_gy.units.value}."
        )
    values = np.asarray(dose_gy.array)
    if values.dtype.kind not in "fiub":
        raise InvalidInputError(
            f"The dose written to {target.name} is not numeric ({values.dtype})."
        )
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InvalidInputError(
            f"The dose written to {target.name} contains NaN or infinite values."
        )
    max_gy = float(values.max()) if values.size else 0.0
    min_gy = float(values.min()) if values.size else 0.0
    if min_gy < 0 and min_gy < -1e-6 * max(max_gy, 0.0):
        raise InvalidInputError(
            f"The dose written to {target.name} has negative values (minimum {min_gy:.3g} Gy); "
            "a physical dose cannot be negative."
        )

    row_dir, col_dir, position, slice_spacing, flip = _grid_geometry(dose_gy)
    max_int = (1 << bits_allocated) - 1
    scaling_text, scaling = _dose_grid_scaling(max_gy, max_int)
    pixel_dtype = np.dtype("<u4") if bits_allocated == 32 else np.dtype("<u2")
    nz = values.shape[0]
    pixels = np.empty(values.shape, dtype=pixel_dtype)
    # Slice by slice in float64 (exact enough for 32-bit steps) to keep memory near the output size.
    for k in range(nz):
        plane = values[nz - 1 - k] if flip else values[k]
        work = plane.astype(np.float64)
        np.divide(work, scaling, out=work)
        np.rint(work, out=work)
        np.clip(work, 0, max_int, out=work)  # also zeroes tiny negative rounding noise
        pixels[k] = work

    # Where patient, study and frame of reference come from.
    header = _header_source(reference)
    frame_of_reference = None
    if reference is not None:
        frame_of_reference = reference.frame_of_reference_uid or (
            getattr(header, "FrameOfReferenceUID", None) if header is not None else None
        )
        if (
            frame_of_reference
            and dose_gy.frame_of_reference_uid
            and dose_gy.frame_of_reference_uid != frame_of_reference
        ):
            raise GeometryMismatchError(
                f"The dose (frame of reference {dose_gy.frame_of_reference_uid}) is not in the "
                f"frame of reference of its reference image ({frame_of_reference}); register and "
                "resample it onto that image first."
            )
    frame_of_reference = frame_of_reference or dose_gy.frame_of_reference_uid or generate_uid()

    now = _dt.datetime.now()
    sop_instance_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTDoseStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(target), {}, file_meta=meta, preamble=b"\0" * 128)

    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RTDoseStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    # Patient, General Study, Frame of Reference (Type 2 attributes present, maybe empty)
    for keyword in _TYPE2_EMPTY:
        setattr(ds, keyword, "")
    if header is not None:
        for keyword in _COPIED_KEYWORDS:
            value = getattr(header, keyword, None)
            if value not in (None, ""):
                setattr(ds, keyword, value)
    if reference is not None:
        md = reference.metadata
        if not ds.PatientID and md.patient_id:
            ds.PatientID = md.patient_id
        if not ds.PatientName and md.patient_name:
            ds.PatientName = md.patient_name
        if "StudyInstanceUID" not in ds and md.study_instance_uid:
            ds.StudyInstanceUID = md.study_instance_uid
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = dose_gy.metadata.study_instance_uid or generate_uid()
    if not ds.StudyDate:
        ds.StudyDate = now.strftime("%Y%m%d")
        ds.StudyTime = now.strftime("%H%M%S")
    ds.FrameOfReferenceUID = frame_of_reference
    # RT Series, General Equipment
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 900
    ds.SeriesDescription = series_description
    ds.OperatorsName = ""
    ds.Manufacturer = "workstation (open source)"
    ds.ManufacturerModelName = "workstation"
    ds.SoftwareVersions = __version__
    # General Image
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    # Image Plane
    spacing = dose_gy.spacing_mm
    ds.PixelSpacing = [_ds_value(spacing[1]), _ds_value(spacing[2])]  # row spacing, column spacing
    ds.ImageOrientationPatient = [_ds_value(v) for v in (*row_dir, *col_dir)]
    ds.ImagePositionPatient = [_ds_value(v) for v in position]
    ds.SliceThickness = _ds_value(slice_spacing)
    # Image Pixel, Multi-frame, RT Dose
    _, ny, nx = dose_gy.shape  # the shape of pixels
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ny
    ds.Columns = nx
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_allocated
    ds.HighBit = bits_allocated - 1
    ds.PixelRepresentation = 0
    if nz > 1:
        ds.NumberOfFrames = nz
        ds.FrameIncrementPointer = _FRAME_INCREMENT_POINTER
        ds.GridFrameOffsetVector = [_ds_value(k * slice_spacing) for k in range(nz)]
    # else: single-frame dose (a 2D reference): the Multi-frame module and the Grid Frame
    # Offset Vector (Type 1C, VM 2-n) apply to multi-frame pixel data only (PS3.3 C.8.8.3.2)
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = DOSE_SUMMATION_TYPE
    ds.DoseGridScaling = scaling_text
    ds.DoseComment = dose_comment[:64]
    ds.PixelData = pixels.tobytes()

    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target


def read_rtdose(path: str | os.PathLike[str]) -> Volume:
    """Read a grid-based DICOM RT Dose file into a Volume (Gy).

    The geometry (``ImagePositionPatient``, ``ImageOrientationPatient``,
    ``PixelSpacing``, relative or absolute ``GridFrameOffsetVector``) and the
    ``DoseGridScaling`` are decoded by the project's DICOM reader
    (:func:`workstation.io.dicom.read_dicom_image`); this function only checks
    that the file is an RT Dose.

    Parameters
    ----------
    path:
        An RT Dose file.

    Returns
    -------
    Volume
        Dose in Gy (``units`` unknown when ``DoseUnits`` is RELATIVE), modality
        ``"RTDOSE"``, float32.
    """
    import pydicom
    from pydicom.uid import RTDoseStorage

    from workstation.io.dicom import read_dicom_image

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such file.")
    try:
        header = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{p}: cannot be read as DICOM ({exc}).") from None
    sop = str(getattr(header, "SOPClassUID", "") or "missing")
    if sop != RTDoseStorage:
        raise DicomError(f"{p}: not an RT Dose file (SOP Class UID {sop}).")
    return read_dicom_image(p)
