"""RT Plan (external beam and brachytherapy): fractions, prescription, sources and dwell totals.

What is read (PS3.3 C.8.8.9 - C.8.8.15):

* Fraction Group Sequence: ``NumberOfFractionsPlanned`` (summed over fraction
  groups when there are several), beams or brachy application setups;
* prescription: ``TargetPrescriptionDose`` (Gy, the total dose to a dose
  reference of type TARGET) from the Dose Reference Sequence; else the sum of
  the fraction group's ``BrachyApplicationSetupDose`` (Gy per fraction) or
  ``BeamDose`` (Gy per fraction) × fractions, flagged as derived;
* brachytherapy: treatment technique and type, each source (isotope, half-life,
  reference air kerma rate in µGy h⁻¹ at 1 m and its date), channels, dwell
  positions (pairs of control points at one position with increasing
  cumulative time weight) and the total dwell time; the total reference air
  kerma TRAK (µGy at 1 m) = Σ RAKR(t) × dwell time, with the source decayed from
  its calibration date to the treatment date when both are known.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import RTIonPlanStorage

from workstation.core.errors import DicomError, InvalidInputError

__all__ = ["BrachySource", "BrachySummary", "PlanSummary", "read_rtplan"]

_SECONDS_PER_DAY = 86400.0


@dataclass
class BrachySource:
    """One brachytherapy source of the plan."""

    number: int
    isotope: str
    half_life_days: float | None
    reference_air_kerma_rate_ugy_per_h: float | None
    calibration_datetime: _dt.datetime | None
    model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "isotope": self.isotope, "half_life_days": self.half_life_days,
                "reference_air_kerma_rate_ugy_per_h_at_1m": self.reference_air_kerma_rate_ugy_per_h,
                "calibration_datetime": self.calibration_datetime.isoformat() if self.calibration_datetime else None,
                "model": self.model}


@dataclass
class BrachySummary:
    """Brachytherapy totals of one fraction."""

    technique: str
    treatment_type: str
    sources: list[BrachySource]
    channels: int
    dwell_positions: int
    total_dwell_time_s: float
    trak_ugy_at_1m: float | None
    trak_note: str

    def as_dict(self) -> dict[str, Any]:
        return {"technique": self.technique, "treatment_type": self.treatment_type,
                "sources": [s.as_dict() for s in self.sources], "channels": self.channels,
                "dwell_positions": self.dwell_positions, "total_dwell_time_s": self.total_dwell_time_s,
                "trak_ugy_at_1m_per_fraction": self.trak_ugy_at_1m, "trak_note": self.trak_note}


@dataclass
class PlanSummary:
    """What the coverage analysis needs from an RT Plan."""

    path: Path
    label: str
    sop_instance_uid: str
    frame_of_reference_uid: str | None
    kind: str  #: "external" or "brachy"
    fractions: int | None
    prescription_gy: float | None
    prescription_source: str
    beams: int = 0
    brachy: BrachySummary | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def dose_per_fraction_gy(self) -> float | None:
        if self.prescription_gy is None or not self.fractions:
            return None
        return self.prescription_gy / self.fractions

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "label": self.label, "sop_instance_uid": self.sop_instance_uid,
                "kind": self.kind, "fractions": self.fractions, "prescription_gy": self.prescription_gy,
                "prescription_source": self.prescription_source,
                "dose_per_fraction_gy": self.dose_per_fraction_gy, "beams": self.beams,
                "brachy": self.brachy.as_dict() if self.brachy else None}


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _datetime(date: Any, time: Any) -> _dt.datetime | None:
    d = str(date or "").strip()
    if len(d) != 8 or not d.isdigit():
        return None
    t = str(time or "").strip().split(".")[0].ljust(6, "0")[:6]
    try:
        return _dt.datetime.strptime(d + (t if t.isdigit() else "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def _sources(ds: Any) -> list[BrachySource]:
    out: list[BrachySource] = []
    for item in ds.get("SourceSequence", []):
        out.append(BrachySource(
            number=int(item.get("SourceNumber", len(out) + 1) or len(out) + 1),
            isotope=str(item.get("SourceIsotopeName", "") or "unknown"),
            half_life_days=_num(item.get("SourceIsotopeHalfLife")),
            reference_air_kerma_rate_ugy_per_h=_num(item.get("ReferenceAirKermaRate")),
            calibration_datetime=_datetime(item.get("SourceStrengthReferenceDate"),
                                           item.get("SourceStrengthReferenceTime")),
            model=str(item.get("SourceManufacturer", "") or "") or None,
        ))
    return out


def _channel_dwells(channel: Any) -> tuple[int, float, int | None]:
    """(dwell positions, dwell time s, source number) of one channel."""
    total_time = _num(channel.get("ChannelTotalTime")) or 0.0
    final = _num(channel.get("FinalCumulativeTimeWeight"))
    points = list(channel.get("BrachyControlPointSequence", []))
    source = channel.get("ReferencedSourceNumber") if "ReferencedSourceNumber" in channel else None
    src = int(source) if source is not None else None
    if not points or final is None or final <= 0:
        return 0, total_time, src
    weights = [(_num(p.get("CumulativeTimeWeight")) or 0.0) for p in points]
    positions = [tuple(np.round([float(v) for v in p.get("ControlPoint3DPosition", [0, 0, 0])], 3))
                 if "ControlPoint3DPosition" in p else None for p in points]
    dwells = 0
    for a in range(len(points) - 1):
        dw = weights[a + 1] - weights[a]
        if dw > 0 and positions[a] == positions[a + 1]:
            dwells += 1
    return dwells, total_time, src


def _brachy(ds: Any, plan_date: _dt.datetime | None, warnings: list[str]) -> BrachySummary:
    sources = _sources(ds)
    by_number = {s.number: s for s in sources}
    channels = dwells = 0
    total_time = 0.0
    trak = 0.0
    trak_known = True
    decayed = False
    for setup in ds.get("ApplicationSetupSequence", []):
        for channel in setup.get("ChannelSequence", []):
            channels += 1
            n, t, src_number = _channel_dwells(channel)
            dwells += n
            total_time += t
            src = by_number.get(src_number) if src_number is not None else (sources[0] if sources else None)
            if src is None or src.reference_air_kerma_rate_ugy_per_h is None:
                trak_known = False
                continue
            rate = src.reference_air_kerma_rate_ugy_per_h
            if plan_date is not None and src.calibration_datetime is not None and src.half_life_days:
                days = (plan_date - src.calibration_datetime).total_seconds() / _SECONDS_PER_DAY
                rate *= math.exp(-math.log(2.0) * days / src.half_life_days)
                decayed = True
            trak += rate * t / 3600.0
    note = ("RAKR decayed from the source calibration to the plan date" if decayed
            else "RAKR at the source calibration date (no decay applied)")
    if not trak_known:
        warnings.append("The total reference air kerma is unknown: a channel's source has no Reference Air Kerma Rate.")
    return BrachySummary(
        technique=str(ds.get("BrachyTreatmentTechnique", "") or ""),
        treatment_type=str(ds.get("BrachyTreatmentType", "") or ""),
        sources=sources, channels=channels, dwell_positions=dwells, total_dwell_time_s=total_time,
        trak_ugy_at_1m=trak if trak_known and sources else None, trak_note=note,
    )


def _prescription(ds: Any, fractions: int | None, brachy: bool) -> tuple[float | None, str]:
    values = [_num(item.get("TargetPrescriptionDose")) for item in ds.get("DoseReferenceSequence", [])
              if str(item.get("DoseReferenceType", "")).upper() == "TARGET"]
    targets = [t for t in values if t is not None and t > 0]
    if targets:
        return max(targets), "TargetPrescriptionDose of the TARGET dose reference (total, Gy)"
    per_fraction = 0.0
    for group in ds.get("FractionGroupSequence", []):
        seq = group.get("ReferencedBrachyApplicationSetupSequence" if brachy else "ReferencedBeamSequence", [])
        key = "BrachyApplicationSetupDose" if brachy else "BeamDose"
        per_fraction += sum(_num(item.get(key)) or 0.0 for item in seq)
    if per_fraction > 0 and fractions:
        return per_fraction * fractions, (
            f"derived: sum of the fraction group's {'BrachyApplicationSetupDose' if brachy else 'BeamDose'} "
            "(Gy per fraction) x fractions"
        )
    return None, "none in the plan"


def read_rtplan(path: str | os.PathLike[str]) -> PlanSummary:
    """Read an RT Plan (photon/electron, ion or brachytherapy) into a :class:`PlanSummary`."""
    import pydicom

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such file.")
    try:
        ds = pydicom.dcmread(p)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{p}: cannot be read as DICOM ({exc}).") from None
    sop_class = str(getattr(ds, "SOPClassUID", "") or "")
    if str(ds.get("Modality", "")).upper() != "RTPLAN":
        raise DicomError(f"{p}: not an RT Plan (Modality {ds.get('Modality', 'missing')}).")
    warnings: list[str] = []
    groups = list(ds.get("FractionGroupSequence", []))
    counts = [int(g.NumberOfFractionsPlanned) for g in groups if g.get("NumberOfFractionsPlanned") not in (None, "")]
    fractions = sum(counts) if counts else None
    if len(groups) > 1:
        warnings.append(f"The plan has {len(groups)} fraction groups; their fractions are added ({fractions}).")
    brachy = "ApplicationSetupSequence" in ds or "SourceSequence" in ds
    plan_date = _datetime(ds.get("RTPlanDate"), ds.get("RTPlanTime"))
    prescription, source = _prescription(ds, fractions, brachy)
    summary = PlanSummary(
        path=p,
        label=str(ds.get("RTPlanLabel", "") or ""),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or "") or None,
        kind="brachy" if brachy else "external",
        fractions=fractions,
        prescription_gy=prescription,
        prescription_source=source,
        beams=len(ds.get("IonBeamSequence" if sop_class == RTIonPlanStorage else "BeamSequence", [])),
        warnings=warnings,
    )
    if brachy:
        summary.brachy = _brachy(ds, plan_date, warnings)
    return summary
