"""Writers of DICOM objects as a scanner writes them: CT and PET series, NM multi-frame.

Everything is deterministic: UIDs are hashes of fixed strings
(:func:`derived_uid`), dates and times are fixed, and no attribute depends on
the clock or the machine.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    NuclearMedicineImageStorage,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

CT_IMAGE_STORAGE = CTImageStorage
NM_IMAGE_STORAGE = NuclearMedicineImageStorage
PET_IMAGE_STORAGE = PositronEmissionTomographyImageStorage

MANUFACTURER = "workstation sample generator"
IMPLEMENTATION_CLASS_UID = UID("1.2.826.0.1.3680043.8.498.90190001")  # pydicom's root + a fixed suffix
#: Tags used as Frame Increment Pointer.
_SLICE_VECTOR_TAG = 0x00540080


def derived_uid(*parts: str) -> str:
    """A UID that is a pure function of ``parts`` (pydicom's hashed 2.25-style UID)."""
    return generate_uid(entropy_srcs=["workstation-sample-data-v1", *parts])


@dataclass(frozen=True)
class Patient:
    name: str
    patient_id: str
    birth_date: str
    sex: str
    weight_kg: float
    size_m: float


@dataclass(frozen=True)
class Study:
    uid: str
    date: str
    time: str
    description: str
    study_id: str
    accession: str


@dataclass(frozen=True)
class Series:
    uid: str
    number: int
    description: str
    frame_of_reference_uid: str
    date: str
    time: str
    station: str = "SAMPLE-SCANNER"
    model: str = "Digital Patient"


@dataclass(frozen=True)
class Radiopharmaceutical:
    """Injected radiopharmaceutical (DICOM RadiopharmaceuticalInformationSequence)."""

    nuclide_code: tuple[str, str, str]  # (value, scheme, meaning), e.g. SCT 14691008 ^90^Yttrium
    agent_code: tuple[str, str, str] | None
    agent_name: str
    total_dose_bq: float
    half_life_s: float
    start: _dt.datetime
    positron_fraction: float | None = None
    route: str = "Intra-arterial"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _ds(value: float, digits: int = 10) -> str:
    """A DS string of at most 16 characters."""
    text = f"{value:.{digits}g}"
    while len(text) > 16:
        digits -= 1
        text = f"{value:.{digits}g}"
    return text


def _base(patient: Patient, study: Study, series: Series, modality: str, sop_class: str, sop_uid: str) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    # fixed, so that the bytes do not depend on the installed pydicom version
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "WS_SAMPLES_1"
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study.date
    ds.SeriesDate = series.date
    ds.AcquisitionDate = series.date
    ds.ContentDate = series.date
    ds.StudyTime = study.time
    ds.SeriesTime = series.time
    ds.AcquisitionTime = series.time
    ds.ContentTime = series.time
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = "Sample Hospital"
    ds.ReferringPhysicianName = ""
    ds.StationName = series.station
    ds.StudyDescription = study.description
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = series.model
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientSize = _ds(patient.size_m, 4)
    ds.PatientWeight = _ds(patient.weight_kg, 4)
    ds.SoftwareVersions = "workstation-samples 1"
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.FrameOfReferenceUID = series.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _radiopharmaceutical_item(rp: Radiopharmaceutical, dose_unit_scale: float) -> Dataset:
    item = Dataset()
    item.Radiopharmaceutical = rp.agent_name
    item.RadiopharmaceuticalRoute = rp.route
    item.RadiopharmaceuticalStartTime = rp.start.strftime("%H%M%S")
    item.RadiopharmaceuticalStartDateTime = rp.start.strftime("%Y%m%d%H%M%S")
    item.RadionuclideTotalDose = _ds(rp.total_dose_bq * dose_unit_scale)
    item.RadionuclideHalfLife = _ds(rp.half_life_s)
    if rp.positron_fraction is not None:
        item.RadionuclidePositronFraction = _ds(rp.positron_fraction)
    item.RadionuclideCodeSequence = Sequence([_code(*rp.nuclide_code)])
    if rp.agent_code is not None:
        item.RadiopharmaceuticalCodeSequence = Sequence([_code(*rp.agent_code)])
    return item


def _check_axial(affine: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Origin and spacings (z, y, x) of an axis-aligned axial grid (axes +z, +y, +x)."""
    expected = np.diag(np.abs(np.array([affine[2, 0], affine[1, 1], affine[0, 2]])))
    m = affine[:3, :3]
    if not np.allclose(m, np.array([[0, 0, expected[2, 2]], [0, expected[1, 1], 0], [expected[0, 0], 0, 0]])):
        raise ValueError("the sample writers only write axis-aligned axial grids (+z, +y, +x)")
    return affine[:3, 3], float(m[2, 0]), float(m[1, 1]), float(m[0, 2])


def _axial_plane(ds: Dataset, origin: np.ndarray, k: int, dz: float) -> None:
    """Position, orientation and slice location of slice ``k`` of an axial grid (``origin`` in LPS mm)."""
    pos = origin + k * np.array([0.0, 0.0, dz])
    ds.ImagePositionPatient = [_ds(v) for v in pos]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = _ds(pos[2])


def _pixel_format(ds: Dataset, rows: int, columns: int, dy: float, dx: float, signed: bool) -> None:
    """16-bit MONOCHROME2 frames of ``rows`` x ``columns`` pixels spaced ``dy`` x ``dx`` mm."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [_ds(dy), _ds(dx)]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0


def write_ct_series(
    hu: np.ndarray,
    affine: np.ndarray,
    out_dir: Path,
    patient: Patient,
    study: Study,
    series: Series,
    kvp: float = 120.0,
    tube_current_ma: int = 200,
    kernel: str = "B30f",
) -> list[Path]:
    """Write a CT series, one file per slice, head to feet (``CT0001.dcm`` is the top slice).

    Parameters
    ----------
    hu:
        Attenuation in HU, axes (z, y, x) with axis 0 pointing superior.
    affine:
        Index→LPS affine of ``hu`` (axis-aligned).
    """
    origin, dz, dy, dx = _check_axial(affine)
    nz, ny, nx = hu.shape
    stored = (np.clip(np.rint(hu), -1024, 3071) + 1024).astype(np.int16)
    paths = []
    for n in range(1, nz + 1):
        k = nz - n  # instance 1 = most superior slice, as a head-first scan runs
        sop_uid = derived_uid(series.uid, "ct-slice", str(n))
        ds = _base(patient, study, series, "CT", CT_IMAGE_STORAGE, sop_uid)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BodyPartExamined = "ABDOMEN"
        ds.SliceThickness = _ds(dz)
        ds.KVP = _ds(kvp)
        ds.DataCollectionDiameter = "500"
        ds.ReconstructionDiameter = _ds(nx * dx)
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = "160"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = tube_current_ma
        ds.ConvolutionKernel = kernel
        ds.PatientPosition = "HFS"
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = n
        _axial_plane(ds, origin, k, dz)
        _pixel_format(ds, ny, nx, dy, dx, signed=True)
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = out_dir / f"CT{n:04d}.dcm"
        _save(ds, path)
        paths.append(path)
    return paths


def _nm_pet_orientation(ds: Dataset) -> None:
    # CID 19, 20 and 21 (SNOMED CT): recumbent, supine, headfirst = HFS
    ds.PatientOrientationCodeSequence = Sequence([_code("102538003", "SCT", "recumbent")])
    ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence = Sequence(
        [_code("40199007", "SCT", "supine")]
    )
    ds.PatientGantryRelationshipCodeSequence = Sequence([_code("102540008", "SCT", "headfirst")])


def write_nm_tomo(
    counts: np.ndarray,
    affine: np.ndarray,
    path: Path,
    patient: Patient,
    study: Study,
    series: Series,
    radiopharmaceutical: Radiopharmaceutical,
    energy_window: tuple[str, float, float],
    frame_duration_ms: int,
    collimator: str = "MEGP",
) -> Path:
    """Write a reconstructed SPECT volume as one NM multi-frame object (RECON TOMO).

    Frame ``f`` (1-based) is array slice ``f - 1``; the first frame's position
    and the orientation are in DetectorInformationSequence and the frames
    advance along the normal by ``SpacingBetweenSlices`` (positive: towards +z).
    """
    origin, dz, dy, dx = _check_axial(affine)
    nz, ny, nx = counts.shape
    if counts.min() < 0 or counts.max() > 65535:
        raise ValueError("NM counts must fit in uint16")
    sop_uid = derived_uid(series.uid, "nm-object")
    ds = _base(patient, study, series, "NM", NM_IMAGE_STORAGE, sop_uid)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = _SLICE_VECTOR_TAG
    _pixel_format(ds, ny, nx, dy, dx, signed=False)
    ds.SliceThickness = _ds(dz)
    ds.SpacingBetweenSlices = _ds(dz)
    ds.CountsAccumulated = int(counts.sum())
    ds.BodyPartExamined = "ABDOMEN"
    ds.ConvolutionKernel = "OSEM 4i8s"
    ds.CorrectedImage = ["ATTN", "SCAT"]
    _nm_pet_orientation(ds)
    # NM Isotope module
    name, low_kev, high_kev = energy_window
    window = Dataset()
    rng = Dataset()
    rng.EnergyWindowLowerLimit = _ds(low_kev)
    rng.EnergyWindowUpperLimit = _ds(high_kev)
    window.EnergyWindowRangeSequence = Sequence([rng])
    window.EnergyWindowName = name
    ds.EnergyWindowInformationSequence = Sequence([window])
    item = _radiopharmaceutical_item(radiopharmaceutical, 1e-6)  # NM: MBq
    if "RadionuclidePositronFraction" in item:
        del item.RadionuclidePositronFraction  # not part of the NM Isotope module
    # RadionuclideHalfLife and RadiopharmaceuticalStartDateTime are kept although the NM
    # IOD does not list them (dciodvfy warns): readers need them to decay-correct.
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    ds.NumberOfEnergyWindows = 1
    ds.NumberOfDetectors = 1
    # NM Detector module: geometry of the reconstructed volume
    det = Dataset()
    det.CollimatorGridName = collimator
    det.CollimatorType = "PARA"
    det.FocalDistance = 0
    det.ImagePositionPatient = [_ds(v) for v in origin]
    det.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.DetectorInformationSequence = Sequence([det])
    # NM TOMO Acquisition module
    rot = Dataset()
    rot.StartAngle = "0"
    rot.AngularStep = "3"
    rot.RotationDirection = "CW"
    rot.ScanArc = "360"
    rot.ActualFrameDuration = frame_duration_ms
    rot.NumberOfFramesInRotation = 60
    ds.RotationInformationSequence = Sequence([rot])
    ds.TypeOfDetectorMotion = "STEP AND SHOOT"
    ds.NumberOfRotations = 1
    ds.NumberOfSlices = nz
    ds.SliceVector = list(range(1, nz + 1))
    ds.PixelData = np.ascontiguousarray(counts.astype(np.uint16)).tobytes()
    _save(ds, path)
    return path


def write_pet_series(
    bqml: np.ndarray,
    affine: np.ndarray,
    out_dir: Path,
    patient: Patient,
    study: Study,
    series: Series,
    radiopharmaceutical: Radiopharmaceutical,
    acquisition_start: _dt.datetime,
    frame_duration_ms: int,
    decay_correction: str = "ADMIN",
) -> list[Path]:
    """Write a PET series (Units BQML), one int16 file per slice with its own RescaleSlope.

    ``decay_correction`` ``"ADMIN"`` means the values are activity concentrations
    at the administration time (RadiopharmaceuticalStartDateTime); DecayFactor
    records the factor applied (``2**(Δt / T½)``, Δt from administration to
    acquisition start).
    """
    origin, dz, dy, dx = _check_axial(affine)
    nz, ny, nx = bqml.shape
    dt_s = (acquisition_start - radiopharmaceutical.start).total_seconds()
    decay_factor = 2.0 ** (dt_s / radiopharmaceutical.half_life_s) if decay_correction == "ADMIN" else 1.0
    paths = []
    for n in range(1, nz + 1):
        k = nz - n
        sl = np.maximum(bqml[k], 0.0)
        # never a slope of exactly 1 (an empty slice): readers such as ITK's series
        # reader take the pixel type from the first slice and would skip rescaling
        slope = float(_ds(max(float(sl.max()), 1.0) / 32767.0, 8))
        stored = np.clip(np.rint(sl / slope), 0, 32767).astype(np.int16)
        sop_uid = derived_uid(series.uid, "pet-slice", str(n))
        ds = _base(patient, study, series, "PT", PET_IMAGE_STORAGE, sop_uid)
        ds.AcquisitionDate = acquisition_start.strftime("%Y%m%d")
        ds.AcquisitionTime = acquisition_start.strftime("%H%M%S")
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.BodyPartExamined = "ABDOMEN"
        ds.SliceThickness = _ds(dz)
        ds.InstanceNumber = n
        ds.ImageIndex = n
        _axial_plane(ds, origin, k, dz)
        _pixel_format(ds, ny, nx, dy, dx, signed=True)
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = _ds(slope, 8)
        # PET Series module
        ds.Units = "BQML"
        ds.CountsSource = "EMISSION"
        ds.SeriesType = ["STATIC", "IMAGE"]
        ds.NumberOfSlices = nz
        ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "RAN", "NORM", "DTIM"]
        ds.DecayCorrection = decay_correction
        ds.RandomsCorrectionMethod = "DLYD"
        ds.AttenuationCorrectionMethod = "CT-based"
        ds.ReconstructionMethod = "OSEM 3i21s TOF (simulated: Gaussian PSF + Poisson noise)"
        ds.CollimatorType = "NONE"
        ds.FrameReferenceTime = "0"
        ds.ActualFrameDuration = frame_duration_ms
        ds.DecayFactor = _ds(decay_factor)
        ds.RadiopharmaceuticalInformationSequence = Sequence(
            [_radiopharmaceutical_item(radiopharmaceutical, 1.0)]  # PET: Bq
        )
        _nm_pet_orientation(ds)
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        path = out_dir / f"PT{n:04d}.dcm"
        _save(ds, path)
        paths.append(path)
    return paths
