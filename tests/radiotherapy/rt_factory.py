"""Synthetic RT Dose / RT Plan files written the way planning systems write them.

Every geometry and scaling variant a test checks is written here explicitly
(not through the project's writer), so that the reader is tested against
independent code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_BRACHY_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
FRAME_UID = "1.2.826.0.1.3680043.8.498.4242"
STUDY_UID = "1.2.826.0.1.3680043.8.498.4243"

#: (row direction, column direction) in LPS of the orientations planning systems write.
ORIENTATIONS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "hfs": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),  # head first supine
    "ffs": (np.array([-1.0, 0, 0]), np.array([0, 1.0, 0])),  # feet first supine: normal -z
    "hfp": (np.array([-1.0, 0, 0]), np.array([0, -1.0, 0])),  # head first prone
    "oblique": (np.array([np.cos(0.3), np.sin(0.3), 0.0]),
                np.array([-np.sin(0.3) * np.cos(0.2), np.cos(0.3) * np.cos(0.2), np.sin(0.2)])),
}


def _file(sop_class: str) -> FileDataset:
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("synthetic", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.PatientName = "Phantom^RT"
    ds.PatientID = "RT001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 5
    ds.FrameOfReferenceUID = FRAME_UID
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "test TPS"
    return ds


def dose_grid_points(ipp: np.ndarray, orientation: str, spacing_frc: tuple[float, float, float],
                     shape: tuple[int, int, int], frame_step_sign: float = 1.0) -> np.ndarray:
    """LPS positions (frames, rows, cols, 3) of the voxel centres of a dose grid."""
    row, col = ORIENTATIONS[orientation]
    normal = np.cross(row, col)
    sf, sr, sc = spacing_frc
    f, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return (ipp + (frame_step_sign * sf * f)[..., None] * normal + (sr * r)[..., None] * col
            + (sc * c)[..., None] * row)


def write_rtdose(
    path: Path,
    dose_fn: Callable[[np.ndarray], np.ndarray],
    *,
    ipp: tuple[float, float, float] = (-40.0, -35.0, -30.0),
    spacing_frc: tuple[float, float, float] = (2.5, 2.0, 2.0),
    shape: tuple[int, int, int] = (16, 20, 24),
    orientation: str = "hfs",
    offsets: str = "relative",
    bits: int = 16,
    scaling: float | None = None,
    summation: str = "PLAN",
    units: str = "GY",
    dose_type: str = "PHYSICAL",
    plan_uid: str | None = None,
    pixel_data: bool = True,
) -> Path:
    """Write ``dose_fn(points_lps_mm)`` (Gy) on a grid as one RT Dose file.

    ``offsets``: ``"relative"`` (0, s, 2s, …), ``"decreasing"`` (0, -s, -2s, …: frames
    stacked against the normal) or ``"absolute"`` (z coordinates, HFS/FFS only).
    ``scaling``: DoseGridScaling; by default max / (2^bits - 1).
    """
    ipp_arr = np.asarray(ipp, dtype=float)
    sign = -1.0 if offsets == "decreasing" else 1.0
    pts = dose_grid_points(ipp_arr, orientation, spacing_frc, shape, sign)
    dose = np.asarray(dose_fn(pts), dtype=np.float64)
    max_int = (1 << bits) - 1
    step = scaling if scaling is not None else float(dose.max()) / max_int
    stored = np.clip(np.rint(dose / step), 0, max_int).astype(np.uint32 if bits == 32 else np.uint16)
    ds = _file(RT_DOSE_STORAGE)
    ds.Modality = "RTDOSE"
    row, col = ORIENTATIONS[orientation]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp_arr]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row, *col)]
    ds.PixelSpacing = [f"{spacing_frc[1]:g}", f"{spacing_frc[2]:g}"]
    ds.SliceThickness = f"{spacing_frc[0]:g}"
    n = shape[0]
    if offsets == "absolute":
        normal = np.cross(row, col)
        ds.GridFrameOffsetVector = [f"{ipp_arr[2] + k * spacing_frc[0] * normal[2]:.6f}" for k in range(n)]
    else:
        ds.GridFrameOffsetVector = [f"{sign * k * spacing_frc[0]:g}" for k in range(n)]
    ds.FrameIncrementPointer = 0x3004000C
    ds.NumberOfFrames = n
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = shape[1], shape[2]
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.DoseUnits = units
    ds.DoseType = dose_type
    ds.DoseSummationType = summation
    ds.DoseGridScaling = f"{step:.10g}"
    if plan_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_PLAN_STORAGE
        ref.ReferencedSOPInstanceUID = plan_uid
        ds.ReferencedRTPlanSequence = DicomSequence([ref])
    if pixel_data:
        ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    else:
        del ds.GridFrameOffsetVector
    ds.save_as(path, enforce_file_format=True)
    return path


def write_external_plan(path: Path, fractions: int, prescription_gy: float | None, beams: int = 5,
                        beam_dose_gy: float | None = None) -> FileDataset:
    ds = _file(RT_PLAN_STORAGE)
    ds.Modality = "RTPLAN"
    ds.RTPlanLabel = "SBRT liver"
    ds.RTPlanDate = "20260101"
    ds.RTPlanTime = "120000"
    ds.RTPlanGeometry = "PATIENT"
    if prescription_gy is not None:
        ref = Dataset()
        ref.DoseReferenceNumber = 1
        ref.DoseReferenceStructureType = "VOLUME"
        ref.DoseReferenceType = "TARGET"
        ref.TargetPrescriptionDose = f"{prescription_gy:g}"
        ds.DoseReferenceSequence = DicomSequence([ref])
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = beams
    fg.NumberOfBrachyApplicationSetups = 0
    refs = []
    for b in range(1, beams + 1):
        r = Dataset()
        r.ReferencedBeamNumber = b
        if beam_dose_gy is not None:
            r.BeamDose = f"{beam_dose_gy:g}"
        refs.append(r)
    fg.ReferencedBeamSequence = DicomSequence(refs)
    ds.FractionGroupSequence = DicomSequence([fg])
    items = []
    for b in range(1, beams + 1):
        beam = Dataset()
        beam.BeamNumber = b
        beam.BeamName = f"arc{b}"
        beam.BeamType = "DYNAMIC"
        beam.RadiationType = "PHOTON"
        items.append(beam)
    ds.BeamSequence = DicomSequence(items)
    ds.save_as(path, enforce_file_format=True)
    return ds
