"""DICOM SR measurement report (TID 1500, Comprehensive 3D SR, with highdicom).

A report holds measurement groups, one per region (ROI, tumour): each has a
tracking identifier (the region's name and a UID), optionally a finding site
and a method, and numeric measurements (concept, value, UCUM unit, derivation).
A group whose region was written as a DICOM SEG references that segment
(TID 1411, Volumetric ROI Measurements); otherwise it is a TID 1501 group that
references the source images. The report is placed in the study of the
reference image (patient, study, frame of reference from its headers); every
referenced object is listed as evidence.

Concepts without a standard code (dose-volume quantities such as D90, margin
percentiles) use the private coding scheme :data:`LOCAL_SCHEME` (PS3.16 8.2:
designators beginning with "99" are private), with a meaning that says exactly
what the number is.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Volume
from workstation.io._atomic import atomic_path
from workstation.io._dicom_attrs import (
    TYPE2_PATIENT_STUDY_KEYWORDS,
    copy_deidentification,
    missing_reference_uids,
)

__all__ = [
    "LOCAL_SCHEME",
    "SrGroup",
    "SrMeasurement",
    "local_code",
    "read_measurement_report",
    "ucum",
    "write_measurement_report",
]

#: Private coding scheme designator of this project's concepts (PS3.16 Section 8.2).
LOCAL_SCHEME = "99WKSTN"


def local_code(value: str, meaning: str) -> Any:
    """A concept of the project's private coding scheme."""
    from pydicom.sr.coding import Code

    return Code(value=value, scheme_designator=LOCAL_SCHEME, meaning=meaning)


def ucum(unit: str, meaning: str | None = None) -> Any:
    """A UCUM unit code (``"Gy"``, ``"ml"``, ``"g"``, ``"mm"``, ``"%"``)."""
    from pydicom.sr.coding import Code

    return Code(value=unit, scheme_designator="UCUM", meaning=meaning or unit)


@dataclass(frozen=True)
class SrMeasurement:
    """One numeric measurement of a group.

    Parameters
    ----------
    concept:
        Concept name (pydicom ``Code``).
    value:
        The number, in ``unit``; must be finite.
    unit:
        UCUM unit code (:func:`ucum`).
    derivation:
        How it derives from the region's values (e.g. SCT Mean, Minimum), or None.
    """

    concept: Any
    value: float
    unit: Any
    derivation: Any | None = None


@dataclass
class SrGroup:
    """A measurement group: one region and its measurements.

    Parameters
    ----------
    name:
        Tracking identifier text (the ROI or tumour name).
    measurements:
        Its measurements.
    method:
        Measurement method of the whole group (e.g. a dose engine), or None.
    finding_site:
        Anatomic location code, or None.
    segment:
        ``(seg_dataset, segment_number)`` when the region is a segment of a SEG
        written beside the report; the group then references it.
    """

    name: str
    measurements: list[SrMeasurement] = field(default_factory=list)
    method: Any | None = None
    finding_site: Any | None = None
    segment: tuple[Any, int] | None = None


def _completed(header: Any) -> Any:
    """A shallow copy with the Type 2 patient/study attributes present and a usable character set.

    An empty Specific Character Set means the default repertoire (PS3.3 C.12.1.1.2),
    which highdicom refuses as a value; it is dropped from the copy (same meaning).
    """
    ds = copy.copy(header)
    if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
        del ds.SpecificCharacterSet
    for keyword in TYPE2_PATIENT_STUDY_KEYWORDS:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def _referenced_segment(seg: Any, number: int) -> Any:
    """A reference to segment ``number`` of ``seg`` and the series it was drawn on.

    Built from the SEG's attributes rather than highdicom's ``from_segmentation``,
    which needs the segment in every per-frame item (highdicom moves it to the
    shared functional groups when the SEG has one segment).
    """
    import highdicom as hd

    numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    if number not in numbers:
        raise InvalidInputError(f"The SEG has no segment {number} (it has {numbers}).")
    source_series = str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return hd.sr.ReferencedSegment(
        sop_class_uid=str(seg.SOPClassUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        segment_number=number,
        source_series=hd.sr.SourceSeriesForSegmentation(source_series),
    )


def _version() -> str:
    from workstation import __version__

    return __version__


def _measurement_groups(groups: Sequence[SrGroup], source_refs: list[Any]) -> list[Any]:
    """highdicom measurement groups (TID 1411 with a segment, else TID 1501)."""
    import highdicom as hd
    import numpy as np

    measurement_groups: list[Any] = []
    for group in groups:
        measurements = []
        for m in group.measurements:
            if not np.isfinite(m.value):
                continue  # an undefined metric (e.g. D98 of an empty ROI) is left out, not written as NaN
            measurements.append(
                hd.sr.Measurement(
                    name=m.concept, value=float(m.value), unit=m.unit, derivation=m.derivation,
                )
            )
        if not measurements:
            continue
        tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=group.name[:64])
        sites = [hd.sr.FindingSite(anatomic_location=group.finding_site)] if group.finding_site else None
        if group.segment is not None:
            seg, number = group.segment
            measurement_groups.append(
                hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    referenced_segment=_referenced_segment(seg, number),
                    method=group.method,
                    finding_sites=sites,
                    measurements=measurements,
                )
            )
        else:
            measurement_groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    method=group.method,
                    finding_sites=sites,
                    measurements=measurements,
                    source_images=source_refs,
                )
            )
    return measurement_groups


def write_measurement_report(
    groups: Sequence[SrGroup],
    path: str | os.PathLike[str],
    reference: Volume,
    procedure: Any | None = None,
    evidence: Sequence[Any] = (),
    series_description: str = "Measurements (workstation)",
) -> Path:
    """Write a TID 1500 measurement report as a Comprehensive 3D SR, atomically.

    Parameters
    ----------
    groups:
        Measurement groups (at least one measurement in all).
    path:
        Output file (``.dcm``).
    reference:
        The image the measurements were made on; its ``metadata.dicom_headers``
        are needed (patient, study, source images).
    procedure:
        Procedure reported (a ``Code``); default "Imaging procedure" (CID 100).
    evidence:
        Further objects the report rests on (headers of SEG, RTDOSE, …); each is
        listed in the Current Requested Procedure Evidence Sequence.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    target = Path(path)
    headers = list(reference.metadata.dicom_headers)
    if not headers:
        raise InvalidInputError(
            f"The SR {target.name} must reference DICOM source images, but the reference image "
            f"{reference.metadata.source_path or ''} was not read from DICOM."
        )
    if not any(g.measurements for g in groups):
        raise InvalidInputError(f"Nothing to write to {target.name}: no measurement.")
    missing = missing_reference_uids(headers)
    if missing:
        raise InvalidInputError(
            f"The SR {target.name} must reference its source images by UID, but the reference series "
            f"has no {', '.join(missing)} (anonymised without them)."
        )
    sources = [_completed(h) for h in headers]
    source_refs = [hd.sr.SourceImageForMeasurementGroup.from_source_image(s) for s in sources[:1]]
    observer = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=hd.UID(), name="workstation", manufacturer_name="workstation (open source)",
                model_name="workstation",
            ),
        )
    )
    try:
        measurement_groups = _measurement_groups(groups, source_refs)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"Cannot build the measurements of the SR {target.name}: {exc}") from None
    report = hd.sr.MeasurementReport(
        observation_context=observer,
        procedure_reported=procedure or codes.cid100.ImagingProcedure,
        imaging_measurements=measurement_groups,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    all_evidence = [*sources, *(_completed(e) for e in evidence)]
    try:
        sr = hd.sr.Comprehensive3DSR(
            evidence=all_evidence,
            content=report,
            series_instance_uid=hd.UID(),
            series_number=903,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="workstation (open source)",
            is_complete=True,
            series_description=series_description[:64],
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"Cannot build the SR {target.name} on the reference series: {exc}") from None
    copy_deidentification(headers[0], sr)  # highdicom copies only Patient Identity Removed
    sr.SoftwareVersions = _version()
    sr.ManufacturerModelName = "workstation"
    with atomic_path(target) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return target


def read_measurement_report(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """The numbers of a TID 1500 report: ``{group: {concept meaning [derivation]: value}}``.

    A group is named by its tracking identifier, followed by its measurement
    method in parentheses when it has one.

    Used to check a report read back from a PACS against what was written.
    """
    import pydicom

    out: dict[str, dict[str, float]] = {}
    for group in _iter_groups(pydicom.dcmread(path)):
        name = _tracking_text(group)
        method = _method_text(group)
        values = out.setdefault(f"{name} ({method})" if method else name, {})
        for item in group.ContentSequence:
            if getattr(item, "ValueType", "") != "NUM":
                continue
            key = str(item.ConceptNameCodeSequence[0].CodeMeaning)
            for modifier in getattr(item, "ContentSequence", []):
                if (
                    getattr(modifier, "ValueType", "") == "CODE"
                    and str(modifier.ConceptNameCodeSequence[0].CodeValue) == "121401"  # Derivation
                ):
                    key += f" [{modifier.ConceptCodeSequence[0].CodeMeaning}]"
            values[key] = float(item.MeasuredValueSequence[0].NumericValue)
    return out


def _iter_groups(ds: Any) -> list[Any]:
    groups = []
    for item in getattr(ds, "ContentSequence", []):
        code = item.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in item else ""
        if getattr(item, "ValueType", "") == "CONTAINER" and str(code) == "125007":  # Measurement Group
            groups.append(item)
        elif getattr(item, "ValueType", "") == "CONTAINER":
            groups.extend(_iter_groups(item))
    return groups


def _method_text(group: Any) -> str:
    for item in group.ContentSequence:
        if (
            getattr(item, "ValueType", "") == "CODE"
            and str(item.ConceptNameCodeSequence[0].CodeValue) == "370129005"  # Measurement Method
        ):
            return str(item.ConceptCodeSequence[0].CodeMeaning)
    return ""


def _tracking_text(group: Any) -> str:
    for item in group.ContentSequence:
        if (
            getattr(item, "ValueType", "") == "TEXT"
            and str(item.ConceptNameCodeSequence[0].CodeValue) == "112039"  # Tracking Identifier
        ):
            return str(item.TextValue)
    return ""
