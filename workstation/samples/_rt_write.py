"""Deterministic writers of the RT objects of the sample studies: RT Structure Set, RT Dose, RT Plan.

Like :mod:`._dicom_write`: UIDs hashed from fixed strings, fixed dates, nothing
from the clock. The objects carry what a planning system writes (PS3.3 A.19,
A.18, A.20): contours traced on the CT slices, a multi-frame dose with
``DoseGridScaling`` and a relative ``GridFrameOffsetVector``, an external-beam
or HDR brachytherapy plan with its fraction scheme and prescription.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import RTDoseStorage, RTPlanStorage, RTStructureSetStorage

from workstation.samples import _dicom_write as dw

RT_STRUCTURE_SET_STORAGE = RTStructureSetStorage
RT_DOSE_STORAGE = RTDoseStorage
RT_PLAN_STORAGE = RTPlanStorage
CT_IMAGE_STORAGE = dw.CT_IMAGE_STORAGE

#: Display colours (RGB) of the structures, by name prefix.
_COLOURS = {"gtv": (255, 0, 0), "ctv": (255, 128, 0), "ptv": (255, 0, 255), "liver": (160, 82, 45),
            "body": (0, 255, 0), "lung": (0, 160, 255), "catheter": (255, 255, 0)}


@dataclass(frozen=True)
class StructureSpec:
    """A structure to contour: name, mask on the CT grid, RT ROI Interpreted Type."""

    name: str
    mask: np.ndarray
    interpreted_type: str


def _rt_series(ds: Dataset, keep_content: bool = False) -> None:
    ds.OperatorsName = ""
    drop = ("AcquisitionDate", "AcquisitionTime") + (() if keep_content else ("ContentDate", "ContentTime"))
    for keyword in drop:
        if keyword in ds:
            delattr(ds, keyword)


def _contours_of_slice(mask2d: np.ndarray) -> list[np.ndarray]:
    """Closed polygons (row, col index coordinates) around the voxel centres of a 2D mask."""
    from skimage import measure

    padded = np.pad(mask2d.astype(np.float32), 1)
    out = []
    for c in measure.find_contours(padded, 0.5):
        c = measure.approximate_polygon(c, tolerance=0.2) - 1.0
        if len(c) >= 4:
            out.append(c[:-1] if np.allclose(c[0], c[-1]) else c)
    return out


def write_rtstruct(
    path: Path,
    structures: Sequence[StructureSpec],
    ct_affine: np.ndarray,
    ct_sop_uids: Sequence[str],
    ct_series_uid: str,
    patient: dw.Patient,
    study: dw.Study,
    series: dw.Series,
    label: str,
) -> str:
    """Write an RT Structure Set with one closed planar contour per connected outline and slice.

    ``ct_sop_uids[k]`` is the SOP Instance UID of the CT slice with array index ``k``.
    Returns the SOP Instance UID.
    """
    sop_uid = dw.derived_uid(series.uid, "rtstruct")
    ds = dw._base(patient, study, series, "RTSTRUCT", RT_STRUCTURE_SET_STORAGE, sop_uid)
    _rt_series(ds)
    ds.StructureSetLabel = label
    ds.StructureSetDate = series.date
    ds.StructureSetTime = series.time
    ref_frame = Dataset()
    ref_frame.FrameOfReferenceUID = series.frame_of_reference_uid
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired), as TPSs write
    ref_study.ReferencedSOPInstanceUID = study.uid
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = ct_series_uid
    images = []
    for uid in ct_sop_uids:
        item = Dataset()
        item.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        item.ReferencedSOPInstanceUID = uid
        images.append(item)
    ref_series.ContourImageSequence = DicomSequence(images)
    ref_study.RTReferencedSeriesSequence = DicomSequence([ref_series])
    ref_frame.RTReferencedStudySequence = DicomSequence([ref_study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_frame])
    origin = ct_affine[:3, 3]
    dz, dy, dx = ct_affine[2, 0], ct_affine[1, 1], ct_affine[0, 2]
    rois, contours, observations = [], [], []
    for number, s in enumerate(structures, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = series.frame_of_reference_uid
        roi.ROIName = s.name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        rc = Dataset()
        key = next((k for k in _COLOURS if s.name.lower().startswith(k)), None)
        rc.ROIDisplayColor = list(_COLOURS.get(key or "", (255, 255, 255)))
        items = []
        for k in range(s.mask.shape[0]):
            if not s.mask[k].any():
                continue
            z = origin[2] + k * dz
            for poly in _contours_of_slice(s.mask[k]):
                pts = np.column_stack([origin[0] + poly[:, 1] * dx, origin[1] + poly[:, 0] * dy,
                                       np.full(len(poly), z)])
                c = Dataset()
                image = Dataset()
                image.ReferencedSOPClassUID = CT_IMAGE_STORAGE
                image.ReferencedSOPInstanceUID = ct_sop_uids[k]
                c.ContourImageSequence = DicomSequence([image])
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = len(pts)
                c.ContourData = [f"{v:.2f}" for v in pts.ravel()]
                items.append(c)
        rc.ContourSequence = DicomSequence(items)
        rc.ReferencedROINumber = number
        contours.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = s.interpreted_type
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    dw._save(ds, path)
    return sop_uid


def write_rtdose(
    path: Path,
    dose_gy: np.ndarray,
    affine: np.ndarray,
    patient: dw.Patient,
    study: dw.Study,
    series: dw.Series,
    plan_uid: str,
    comment: str,
) -> str:
    """Write a PLAN-summed physical dose (Gy) on an axial grid as 16-bit RT Dose; returns its UID."""
    origin, dz, dy, dx = dw._check_axial(affine)
    nz, ny, nx = dose_gy.shape
    max_gy = float(dose_gy.max())
    scaling = float(dw._ds(max_gy / 65535.0 * (1 + 1e-9), 10))
    stored = np.clip(np.rint(dose_gy / scaling), 0, 65535).astype("<u2")
    sop_uid = dw.derived_uid(series.uid, "rtdose")
    ds = dw._base(patient, study, series, "RTDOSE", RT_DOSE_STORAGE, sop_uid)
    _rt_series(ds, keep_content=True)
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [dw._ds(v) for v in origin]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceThickness = dw._ds(dz)
    dw._pixel_format(ds, ny, nx, dy, dx, signed=False)
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = 0x3004000C
    ds.GridFrameOffsetVector = [dw._ds(k * dz) for k in range(nz)]
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseComment = comment[:64]
    ds.DoseGridScaling = dw._ds(scaling, 10)
    ref = Dataset()
    ref.ReferencedSOPClassUID = RT_PLAN_STORAGE
    ref.ReferencedSOPInstanceUID = plan_uid
    ds.ReferencedRTPlanSequence = DicomSequence([ref])
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    dw._save(ds, path)
    return sop_uid


def _plan_base(patient: dw.Patient, study: dw.Study, series: dw.Series, label: str, structure_set_uid: str,
               sop_uid: str) -> Dataset:
    ds = dw._base(patient, study, series, "RTPLAN", RT_PLAN_STORAGE, sop_uid)
    _rt_series(ds)
    ds.RTPlanLabel = label
    ds.RTPlanName = label
    ds.RTPlanDate = series.date
    ds.RTPlanTime = series.time
    ds.RTPlanGeometry = "PATIENT"
    ref = Dataset()
    ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
    ref.ReferencedSOPInstanceUID = structure_set_uid
    ds.ReferencedStructureSetSequence = DicomSequence([ref])
    return ds


def _prescription(ds: Dataset, target_roi_number: int, prescription_gy: float, description: str) -> None:
    ref = Dataset()
    ref.DoseReferenceNumber = 1
    ref.DoseReferenceStructureType = "VOLUME"
    ref.DoseReferenceDescription = description
    ref.ReferencedROINumber = target_roi_number
    ref.DoseReferenceType = "TARGET"
    ref.TargetPrescriptionDose = dw._ds(prescription_gy)
    ds.DoseReferenceSequence = DicomSequence([ref])


@dataclass(frozen=True)
class Arc:
    """A static-field approximation of a VMAT arc (jaws only): gantry start/stop, field size."""

    start_deg: float
    stop_deg: float
    direction: str
    field_mm: tuple[float, float]
    meterset_mu: float


def write_external_plan(
    path: Path,
    patient: dw.Patient,
    study: dw.Study,
    series: dw.Series,
    structure_set_uid: str,
    target_roi_number: int,
    prescription_gy: float,
    fractions: int,
    isocenter_lps_mm: Sequence[float],
    arcs: Sequence[Arc],
    label: str,
) -> str:
    """Write a photon (6 MV FFF) arc plan: prescription, fraction scheme, beams; returns its UID."""
    sop_uid = dw.derived_uid(series.uid, "rtplan")
    ds = _plan_base(patient, study, series, label, structure_set_uid, sop_uid)
    _prescription(ds, target_roi_number, prescription_gy, "PTV")
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = "HFS"
    ds.PatientSetupSequence = DicomSequence([setup])
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = len(arcs)
    fg.NumberOfBrachyApplicationSetups = 0
    refs, beams = [], []
    for number, arc in enumerate(arcs, start=1):
        r = Dataset()
        r.ReferencedBeamNumber = number
        r.BeamDose = dw._ds(prescription_gy / fractions / len(arcs))
        r.BeamMeterset = dw._ds(arc.meterset_mu)
        refs.append(r)
        beam = Dataset()
        beam.BeamNumber = number
        beam.BeamName = f"Arc{number}"
        beam.BeamType = "DYNAMIC"
        beam.RadiationType = "PHOTON"
        beam.TreatmentMachineName = "SampleLinac"
        beam.PrimaryDosimeterUnit = "MU"
        beam.SourceAxisDistance = "1000"
        devices = []
        for kind in ("ASYMX", "ASYMY"):
            d = Dataset()
            d.RTBeamLimitingDeviceType = kind
            d.NumberOfLeafJawPairs = 1
            devices.append(d)
        beam.BeamLimitingDeviceSequence = DicomSequence(devices)
        beam.TreatmentDeliveryType = "TREATMENT"
        beam.NumberOfWedges = 0
        beam.NumberOfCompensators = 0
        beam.NumberOfBoli = 0
        beam.NumberOfBlocks = 0
        beam.FinalCumulativeMetersetWeight = "1"
        beam.NumberOfControlPoints = 2
        beam.ReferencedPatientSetupNumber = 1
        points = []
        for index, (angle, weight) in enumerate(((arc.start_deg, 0.0), (arc.stop_deg, 1.0))):
            cp = Dataset()
            cp.ControlPointIndex = index
            cp.CumulativeMetersetWeight = dw._ds(weight)
            cp.GantryAngle = dw._ds(angle)
            if index == 0:
                cp.NominalBeamEnergy = "6"
                cp.DoseRateSet = "1400"
                positions = []
                for kind, size in (("ASYMX", arc.field_mm[0]), ("ASYMY", arc.field_mm[1])):
                    p = Dataset()
                    p.RTBeamLimitingDeviceType = kind
                    p.LeafJawPositions = [dw._ds(-size / 2), dw._ds(size / 2)]
                    positions.append(p)
                cp.BeamLimitingDevicePositionSequence = DicomSequence(positions)
                cp.GantryRotationDirection = arc.direction
                cp.BeamLimitingDeviceAngle = "0"
                cp.BeamLimitingDeviceRotationDirection = "NONE"
                cp.PatientSupportAngle = "0"
                cp.PatientSupportRotationDirection = "NONE"
                cp.TableTopEccentricAngle = "0"
                cp.TableTopEccentricRotationDirection = "NONE"
                cp.TableTopVerticalPosition = ""
                cp.TableTopLongitudinalPosition = ""
                cp.TableTopLateralPosition = ""
                cp.IsocenterPosition = [dw._ds(v) for v in isocenter_lps_mm]
            else:
                cp.GantryRotationDirection = "NONE"
            points.append(cp)
        beam.ControlPointSequence = DicomSequence(points)
        beams.append(beam)
    fg.ReferencedBeamSequence = DicomSequence(refs)
    ds.FractionGroupSequence = DicomSequence([fg])
    ds.BeamSequence = DicomSequence(beams)
    dw._save(ds, path)
    return sop_uid


@dataclass(frozen=True)
class Source:
    """An HDR afterloader source."""

    isotope: str
    half_life_days: float
    air_kerma_rate_ugy_per_h: float  #: reference air kerma rate at 1 m (µGy/h), = U
    calibration: tuple[str, str]  #: (date, time)
    model: str


def write_brachy_plan(
    path: Path,
    patient: dw.Patient,
    study: dw.Study,
    series: dw.Series,
    structure_set_uid: str,
    target_roi_number: int,
    prescription_gy: float,
    fractions: int,
    source: Source,
    channels: Sequence[tuple[np.ndarray, np.ndarray]],
    trak_ugy: float,
    label: str,
    step_mm: float,
) -> str:
    """Write an interstitial HDR plan; ``channels`` = (dwell positions (N, 3) LPS mm, dwell times s)."""
    sop_uid = dw.derived_uid(series.uid, "rtplan-brachy")
    ds = _plan_base(patient, study, series, label, structure_set_uid, sop_uid)
    _prescription(ds, target_roi_number, prescription_gy, "CTV")
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = 0
    fg.NumberOfBrachyApplicationSetups = 1
    ref = Dataset()
    ref.ReferencedBrachyApplicationSetupNumber = 1
    ref.BrachyApplicationSetupDose = dw._ds(prescription_gy / fractions)
    fg.ReferencedBrachyApplicationSetupSequence = DicomSequence([ref])
    ds.FractionGroupSequence = DicomSequence([fg])
    ds.BrachyTreatmentTechnique = "INTERSTITIAL"
    ds.BrachyTreatmentType = "HDR"
    machine = Dataset()
    machine.TreatmentMachineName = "SampleHDR"
    machine.Manufacturer = dw.MANUFACTURER
    ds.TreatmentMachineSequence = DicomSequence([machine])
    src = Dataset()
    src.SourceNumber = 1
    src.SourceType = "POINT"
    src.SourceManufacturer = source.model
    src.SourceIsotopeName = source.isotope
    src.SourceIsotopeHalfLife = dw._ds(source.half_life_days)
    src.ReferenceAirKermaRate = dw._ds(source.air_kerma_rate_ugy_per_h)
    src.SourceStrengthReferenceDate = source.calibration[0]
    src.SourceStrengthReferenceTime = source.calibration[1]
    ds.SourceSequence = DicomSequence([src])
    setup = Dataset()
    setup.ApplicationSetupType = "CUSTOM"
    setup.ApplicationSetupNumber = 1
    setup.TotalReferenceAirKerma = dw._ds(trak_ugy)
    items = []
    for number, (positions, times) in enumerate(channels, start=1):
        ch = Dataset()
        ch.ChannelNumber = number
        total = float(np.sum(times))
        ch.ChannelTotalTime = dw._ds(total)
        ch.SourceMovementType = "STEPWISE"
        ch.NumberOfControlPoints = 2 * len(times)
        ch.ChannelLength = "1200"
        ch.SourceApplicatorNumber = number
        ch.SourceApplicatorID = ""
        ch.SourceApplicatorType = "FLEXIBLE"
        ch.SourceApplicatorLength = "1200"
        ch.SourceApplicatorStepSize = dw._ds(step_mm)
        ch.TransferTubeNumber = ""
        ch.ReferencedROINumber = ""
        ch.ReferencedSourceNumber = 1
        ch.FinalCumulativeTimeWeight = dw._ds(total)
        cps = []
        cumulative = 0.0
        tip = positions[-1]
        for k, (pos, t) in enumerate(zip(positions, times, strict=True)):
            for j, w in enumerate((cumulative, cumulative + float(t))):
                cp = Dataset()
                cp.ControlPointIndex = 2 * k + j
                cp.ControlPointRelativePosition = dw._ds(1200.0 - float(np.linalg.norm(tip - pos)))
                cp.ControlPoint3DPosition = [dw._ds(v) for v in pos]
                cp.CumulativeTimeWeight = dw._ds(w)
                cps.append(cp)
            cumulative += float(t)
        ch.BrachyControlPointSequence = DicomSequence(cps)
        items.append(ch)
    setup.ChannelSequence = DicomSequence(items)
    ds.ApplicationSetupSequence = DicomSequence([setup])
    dw._save(ds, path)
    return sop_uid


def structure_uids(series: dw.Series, n: int) -> list[str]:
    """SOP Instance UIDs of a CT series written by :func:`._dicom_write.write_ct_series`, by array index."""
    # write_ct_series numbers instances from the top: instance n = array index nz - n
    return [dw.derived_uid(series.uid, "ct-slice", str(n - k)) for k in range(n)]


def dvh_truth(dose: np.ndarray, masks: Mapping[str, np.ndarray], voxel_ml: float, prescription_gy: float,
              brachy: bool) -> dict[str, dict[str, float]]:
    """Per-structure metrics of the analytic dose on the CT grid (the sample's known DVH values)."""
    from workstation.radiotherapy.coverage import structure_metrics

    return {name: structure_metrics(dose, m.astype(np.float32), voxel_ml, prescription_gy,
                                    brachy=brachy and name.upper().startswith(("CTV", "GTV", "PTV")), name=name)
            for name, m in masks.items()}
