"""Patient and study facts for the summary block, from an image's DICOM metadata."""

from __future__ import annotations

from typing import Any

__all__ = ["person_name", "study_facts"]


def person_name(value: str | None) -> str:
    """A DICOM person name 'FAMILY^Given^Middle' as 'FAMILY, Given Middle'."""
    if not value:
        return ""
    parts = [p for p in str(value).split("=")[0].split("^") if p]
    if not parts:
        return ""
    return parts[0] + (", " + " ".join(parts[1:]) if len(parts) > 1 else "")


def study_facts(volume: Any, image_label: str = "Image") -> list[tuple[str, str]]:
    """(label, value) facts of the image a report is about: patient, study date, series.

    ``volume`` is a :class:`workstation.core.Volume` (or None: no facts). Missing
    metadata (NIfTI inputs) gives fewer facts, never placeholders.
    """
    if volume is None:
        return []
    meta = volume.metadata
    facts: list[tuple[str, str]] = []
    name = person_name(meta.patient_name)
    if name or meta.patient_id:
        facts.append(("Patient", f"{name} ({meta.patient_id})" if name and meta.patient_id
                      else name or str(meta.patient_id)))
    when = meta.acquisition_datetime or meta.reference_datetime
    if when is not None:
        facts.append(("Acquired", when.strftime("%Y-%m-%d %H:%M")))
    description = str(meta.series_description or "")
    modality = str(volume.modality or "")
    # "PT PET Y-90 OSEM": the modality unless the description already starts with it
    series = description if modality and description.upper().startswith(modality.upper()) else (
        " ".join(x for x in (modality, description) if x))
    if series:
        facts.append((image_label, series))
    if meta.study_instance_uid:
        facts.append(("Study UID", str(meta.study_instance_uid)))
    return facts
