"""Write small synthetic DICOM series with exactly known geometry (test helper).

Owned by the "dicom-read" work; other test packages may import it but should
not modify it. Every writer takes the geometry as a 4×4 affine in the project's
convention (array index (k, j, i) → LPS mm, ``Volume.affine``) so that a test
can compare what a reader returns with what was written.

Functions
---------
write_single_frame_series
    One file per slice (CT, PT, MR), optional per-slice rescale, shuffled names.
write_nm_multiframe
    One NM Image Storage file (RECON TOMO), geometry in the Detector
    Information Sequence or at top level, signed Spacing Between Slices,
    optional Real World Value Mapping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"

_SOP_CLASS = {"CT": CT_IMAGE_STORAGE, "PT": PET_IMAGE_STORAGE, "MR": MR_IMAGE_STORAGE}


def _ds(value: float) -> str:
    """A DS string of at most 16 characters with as many digits as fit."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        if len(text) <= 16:
            return text
    return f"{value:.6g}"


def geometry_from_affine(affine: np.ndarray) -> tuple[list[float], list[float], float]:
    """Split an affine into (IOP row+column cosines, PixelSpacing [row, col], slice step mm)."""
    a = np.asarray(affine, dtype=float)
    col_step = a[:3, 2]  # along a row (array axis 2, x)
    row_step = a[:3, 1]  # down the columns (array axis 1, y)
    dx, dy = np.linalg.norm(col_step), np.linalg.norm(row_step)
    iop = list(col_step / dx) + list(row_step / dy)
    return iop, [float(dy), float(dx)], float(np.linalg.norm(a[:3, 0]))


def _base_dataset(sop_class: str, modality: str, uids: dict[str, str]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "SYN001"
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.StudyDate = "20261127"
    ds.StudyTime = "101500"
    ds.SeriesDate = "20261127"
    ds.SeriesTime = "103000"
    ds.AcquisitionDate = "20261127"
    ds.AcquisitionTime = "103000"
    ds.SeriesNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    return ds


def _uids(series_uid: str | None, study_uid: str | None, frame_uid: str | None) -> dict[str, str]:
    return {
        "series": series_uid or generate_uid(),
        "study": study_uid or generate_uid(),
        "frame": frame_uid or generate_uid(),
    }


def write_single_frame_series(
    folder: str | Path,
    values: np.ndarray,
    affine: np.ndarray,
    modality: str = "CT",
    *,
    rescale_slope: float | Sequence[float] | None = None,
    rescale_intercept: float = 0.0,
    stored_dtype: type = np.int16,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    description: str = "synthetic",
    shuffle_seed: int | None = None,
    prefix: str = "IM",
    extra: dict[str, object] | None = None,
    pet: dict[str, object] | None = None,
) -> list[Path]:
    """Write ``values`` (z, y, x) as one DICOM file per slice with the given geometry.

    Parameters
    ----------
    values:
        Real-world voxel values (HU, Bq/mL, …). Stored = round((value - intercept) / slope).
    affine:
        Index (k, j, i) → LPS mm; slice k is written at ``affine @ (k, 0, 0, 1)``.
    rescale_slope:
        One slope for all slices, a list (one per slice), or ``None`` for 1
        (CT/MR) or a per-slice slope that uses the full int16 range (PT).
    shuffle_seed:
        When given, files are named in a random (seeded) order so that name
        order says nothing about slice order.
    pet:
        For ``modality="PT"``: keys ``units`` (default "BQML"), ``decay_correction``
        ("START"), ``nuclide_meaning`` ("^90^Yttrium"), ``nuclide_code``,
        ``total_dose_bq``, ``start_datetime`` (``datetime``, written as
        RadiopharmaceuticalStartDateTime) or ``start_time`` (``time``, written as
        RadiopharmaceuticalStartTime), ``half_life_s``.

    Returns
    -------
    The written file paths in slice order (k = 0, 1, …).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values = np.asarray(values, dtype=float)
    nz, ny, nx = values.shape
    iop, pixel_spacing, step = geometry_from_affine(affine)
    uids = _uids(series_uid, study_uid, frame_uid)
    info = np.iinfo(stored_dtype)
    if rescale_slope is None:
        if modality == "PT":
            peaks = np.abs(values - rescale_intercept).reshape(nz, -1).max(axis=1)
            slopes = [float(p) / info.max if p > 0 else 1.0 for p in peaks]
        else:
            slopes = [1.0] * nz
    elif np.ndim(rescale_slope) == 0:
        slopes = [float(rescale_slope)] * nz  # type: ignore[arg-type]
    else:
        slopes = [float(s) for s in rescale_slope]  # type: ignore[union-attr]
    order = np.arange(nz)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(nz)
    sop_class = _SOP_CLASS.get(modality, CT_IMAGE_STORAGE)
    paths: list[Path] = []
    for k in range(nz):
        ds = _base_dataset(sop_class, modality, uids)
        ds.SeriesDescription = description
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [_ds(v) for v in iop]
        pos = np.asarray(affine, dtype=float) @ np.array([k, 0.0, 0.0, 1.0])
        ds.ImagePositionPatient = [_ds(v) for v in pos[:3]]
        ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
        ds.SliceThickness = _ds(step)
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated = info.bits
        ds.BitsStored = info.bits
        ds.HighBit = info.bits - 1
        ds.PixelRepresentation = 1 if info.min < 0 else 0
        ds.RescaleSlope = _ds(slopes[k])
        ds.RescaleIntercept = _ds(rescale_intercept)
        stored = np.round((values[k] - rescale_intercept) / slopes[k])
        stored = np.clip(stored, info.min, info.max).astype(stored_dtype)
        ds.PixelData = stored.tobytes()
        if modality == "PT":
            _add_pet(ds, pet or {})
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        path = folder / f"{prefix}{int(order[k]):05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _radiopharmaceutical_item(pet: dict[str, object], dose_unit_per_bq: float = 1.0) -> Dataset:
    """RadiopharmaceuticalInformationSequence item; NM headers state the dose in MBq (1e-6 per Bq)."""
    item = Dataset()
    code = Dataset()
    code.CodeValue = str(pet.get("nuclide_code", "C-162A3"))
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = str(pet.get("nuclide_meaning", "^90^Yttrium"))
    item.RadionuclideCodeSequence = DicomSequence([code])
    item.Radiopharmaceutical = str(pet.get("radiopharmaceutical", "Y-90 microspheres"))
    item.RadionuclideTotalDose = _ds(float(pet.get("total_dose_bq", 2.0e9)) * dose_unit_per_bq)  # type: ignore[arg-type]
    item.RadionuclideHalfLife = _ds(float(pet.get("half_life_s", 230400.0)))  # type: ignore[arg-type]
    start = pet.get("start_datetime", dt.datetime(2026, 11, 27, 9, 0, 0))
    if "start_time" in pet:
        item.RadiopharmaceuticalStartTime = pet["start_time"].strftime("%H%M%S")  # type: ignore[union-attr]
    elif start is not None:
        item.RadiopharmaceuticalStartDateTime = start.strftime("%Y%m%d%H%M%S")  # type: ignore[union-attr]
    return item


def _add_pet(ds: Dataset, pet: dict[str, object]) -> None:
    ds.Units = str(pet.get("units", "BQML"))
    ds.DecayCorrection = str(pet.get("decay_correction", "START"))
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([_radiopharmaceutical_item(pet)])


def write_nm_multiframe(
    path: str | Path,
    values: np.ndarray,
    first_position: Sequence[float],
    iop: Sequence[float],
    pixel_spacing: Sequence[float],
    spacing_between_slices: float | None,
    *,
    slice_thickness: float | None = None,
    geometry_in_detector: bool = True,
    geometry_top_level: bool = False,
    rescale_slope: float | None = None,
    rescale_intercept: float = 0.0,
    rwvm: dict[str, object] | None = None,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    description: str = "synthetic SPECT",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"),
    radiopharmaceutical: dict[str, object] | None = None,
) -> Path:
    """Write a multi-frame NM (RECON TOMO) file; frame f holds ``values[f]``.

    Frame ``f`` lies at ``first_position + f * spacing_between_slices * n`` where
    ``n = row_cosine × column_cosine`` (DICOM PS3.3 C.8.4.15). Stored values are
    uint16: ``stored = round((value - intercept) / slope)`` with the RWVM slope
    when ``rwvm`` is given (``{"slope": s, "intercept": b, "units": "Bq/ml"}``),
    else the rescale slope (default 1).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.asarray(values, dtype=float)
    nf, ny, nx = values.shape
    uids = _uids(series_uid, study_uid, frame_uid)
    ds = _base_dataset(NM_IMAGE_STORAGE, "NM", uids)
    ds.SeriesDescription = description
    ds.InstanceNumber = 1
    ds.ImageType = list(image_type)
    ds.NumberOfFrames = nf
    ds.FrameIncrementPointer = [pydicom.tag.Tag(0x0054, 0x0080)]
    ds.SliceVector = list(range(1, nf + 1))
    ds.NumberOfSlices = nf
    ds.NumberOfDetectors = 1
    ds.NumberOfRotations = 1
    ds.Rows, ds.Columns = ny, nx
    ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
    if spacing_between_slices is not None:
        ds.SpacingBetweenSlices = _ds(spacing_between_slices)
    if slice_thickness is not None:
        ds.SliceThickness = _ds(slice_thickness)
    detector = Dataset()
    if geometry_in_detector:
        detector.ImagePositionPatient = [_ds(v) for v in first_position]
        detector.ImageOrientationPatient = [_ds(v) for v in iop]
    ds.DetectorInformationSequence = DicomSequence([detector])
    if geometry_top_level:
        ds.ImagePositionPatient = [_ds(v) for v in first_position]
        ds.ImageOrientationPatient = [_ds(v) for v in iop]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    slope, intercept = 1.0, rescale_intercept
    if rwvm is not None:
        slope = float(rwvm.get("slope", 1.0))  # type: ignore[arg-type]
        intercept = float(rwvm.get("intercept", 0.0))  # type: ignore[arg-type]
        item = Dataset()
        item.RealWorldValueFirstValueMapped = 0
        item.RealWorldValueLastValueMapped = 65535
        item.RealWorldValueSlope = slope
        item.RealWorldValueIntercept = intercept
        item.LUTLabel = "BQML"
        item.LUTExplanation = "activity concentration"
        unit = Dataset()
        unit.CodeValue = str(rwvm.get("units", "Bq/ml"))
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = str(rwvm.get("units", "Bq/ml"))
        item.MeasurementUnitsCodeSequence = DicomSequence([unit])
        ds.RealWorldValueMappingSequence = DicomSequence([item])
    elif rescale_slope is not None:
        slope = float(rescale_slope)
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(rescale_intercept)
    stored = np.clip(np.round((values - intercept) / slope), 0, 65535).astype(np.uint16)
    ds.PixelData = stored.tobytes()
    if radiopharmaceutical is not None:
        ds.RadiopharmaceuticalInformationSequence = DicomSequence(
            [_radiopharmaceutical_item(radiopharmaceutical, dose_unit_per_bq=1e-6)]
        )
    ds.save_as(path, enforce_file_format=True)
    return path
