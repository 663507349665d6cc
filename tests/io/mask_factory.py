"""Synthetic DICOM objects for the mask and writer tests (CT series headers, RTSTRUCT, NRRD).

Small, explicit writers so that every geometry value a test checks was written
by the test itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from workstation.core import Unit, Volume

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
_DATE = "20260101"


def _file_dataset(sop_class: str, sop_instance: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("synthetic", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    return ds


def _patient_study(ds: Dataset, study_uid: str) -> None:
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "SYN001"
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = _DATE
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""


def ct_series_datasets(volume: Volume, with_pixels: bool = True) -> list[FileDataset]:
    """One CT Image Storage dataset per slice of ``volume`` (in array order).

    The geometry is taken from ``volume.affine``: row direction = array axis 2,
    column direction = array axis 1, slice k at ``index_to_world([k, 0, 0])``.
    """
    study_uid = volume.metadata.study_instance_uid or generate_uid()
    series_uid = volume.metadata.series_instance_uid or generate_uid()
    for_uid = volume.frame_of_reference_uid or generate_uid()
    direction = volume.direction
    spacing = volume.spacing_mm
    out: list[FileDataset] = []
    for k in range(volume.shape[0]):
        ds = _file_dataset(CTImageStorage, generate_uid())
        _patient_study(ds, study_uid)
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 2
        ds.SeriesDescription = "synthetic CT"
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.Manufacturer = "test"
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ContentDate = _DATE
        ds.ContentTime = "120000"
        ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
        ds.SliceThickness = float(spacing[0])
        ds.ImageOrientationPatient = [float(v) for v in (*direction[:, 2], *direction[:, 1])]
        ds.ImagePositionPatient = [float(v) for v in volume.index_to_world([k, 0, 0])]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.KVP = 120
        if with_pixels:
            ds.PixelData = np.asarray(volume.array[k], dtype="<i2").tobytes()
        out.append(ds)
    return out


def dicom_reference(volume: Volume) -> Volume:
    """``volume`` as the DICOM reader would return it: headers (no pixels) in slice order."""
    headers = ct_series_datasets(volume, with_pixels=False)
    ref = volume.copy_with(frame_of_reference_uid=headers[0].FrameOfReferenceUID)
    ref.metadata.dicom_headers = headers
    ref.metadata.study_instance_uid = headers[0].StudyInstanceUID
    ref.metadata.series_instance_uid = headers[0].SeriesInstanceUID
    ref.units = Unit.HU
    ref.modality = "CT"
    return ref


def write_rtstruct(
    path: str | Path,
    reference: Volume,
    rois: dict[str, Sequence[np.ndarray]],
    frame_of_reference_uid: str | None = None,
) -> Path:
    """Write an RT Structure Set with closed planar contours (LPS mm, each (N, 3)).

    ``rois`` maps ROI name → list of contour point arrays.
    """
    headers = reference.metadata.dicom_headers
    study_uid = headers[0].StudyInstanceUID if headers else generate_uid()
    for_uid = frame_of_reference_uid or reference.frame_of_reference_uid or generate_uid()
    ds = _file_dataset(RT_STRUCTURE_SET_STORAGE, generate_uid())
    _patient_study(ds, study_uid)
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 3
    ds.Manufacturer = "test"
    ds.StructureSetLabel = "synthetic"
    ds.StructureSetDate = _DATE
    ds.StructureSetTime = "120000"
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    roi_items, contour_items, obs_items = [], [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = for_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        roi_items.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, 0, 0]
        items = []
        for pts in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.6g}" for v in np.asarray(pts, dtype=float).ravel()]
            items.append(c)
        if items:
            rc.ContourSequence = DicomSequence(items)
        contour_items.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = "ORGAN"
        obs.ROIInterpreter = ""
        obs_items.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(obs_items)
    target = Path(path)
    ds.save_as(target, enforce_file_format=True)
    return target


def circle(
    center_lps: Sequence[float],
    radius_mm: float,
    n: int = 180,
    u=(1.0, 0.0, 0.0),
    v=(0.0, 1.0, 0.0),
) -> np.ndarray:
    """``n`` points of a circle in the plane spanned by unit vectors ``u``, ``v``."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c = np.asarray(center_lps, dtype=float)
    return c + radius_mm * (np.cos(t)[:, None] * np.asarray(u) + np.sin(t)[:, None] * np.asarray(v))


def write_nrrd(
    path: str | Path,
    data_zyx: np.ndarray,
    space_directions_xyz: np.ndarray,
    origin: Sequence[float],
    space: str = "left-posterior-superior",
    layers_last: bool = False,
    fields: dict[str, str] | None = None,
) -> Path:
    """Write a raw NRRD by hand.

    ``data_zyx`` is (z, y, x) or, with ``layers_last``, (z, y, x, layers) — the
    layer axis is then written as the fastest ("list") axis, as 3D Slicer does.
    ``space_directions_xyz`` rows are the direction vectors (in ``space``
    coordinates, mm) of the x, y, z index axes. ``fields`` are extra
    ``key:=value`` lines (Slicer segment metadata).
    """
    data = np.ascontiguousarray(data_zyx, dtype=np.uint8)
    sizes = list(data.shape[::-1])
    dirs = [
        "({!r},{!r},{!r})".format(*tuple(float(x) for x in d))
        for d in np.asarray(space_directions_xyz)
    ]
    kinds = ["domain"] * 3
    if layers_last:
        dirs = ["none", *dirs]
        kinds = ["list", *kinds]
    lines = [
        "NRRD0004",
        "type: unsigned char",
        f"dimension: {data.ndim}",
        f"space: {space}",
        "sizes: " + " ".join(str(s) for s in sizes),
        "space directions: " + " ".join(dirs),
        "kinds: " + " ".join(kinds),
        "encoding: raw",
        "space origin: ({!r},{!r},{!r})".format(*tuple(float(o) for o in origin)),
    ]
    lines += [f"{k}:={v}" for k, v in (fields or {}).items()]
    target = Path(path)
    with open(target, "wb") as fh:
        fh.write(("\n".join(lines) + "\n\n").encode("ascii"))
        fh.write(data.tobytes())
    return target


def dcmread_strict(data: bytes) -> Dataset:
    """Read bytes with pydicom validation set to raise (as highdicom's tests do)."""
    from io import BytesIO

    old = pydicom.config.settings.reading_validation_mode
    pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE
    try:
        return pydicom.dcmread(BytesIO(data))
    finally:
        pydicom.config.settings.reading_validation_mode = old
