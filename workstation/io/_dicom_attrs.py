"""DICOM attribute lists shared by the writers (RT Dose, SEG, RTSTRUCT, SR, Encapsulated PDF)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEIDENTIFICATION_KEYWORDS", "TYPE2_PATIENT_STUDY_KEYWORDS", "copy_deidentification",
           "missing_reference_uids"]

#: Type 2 attributes (present, maybe empty) of the Patient module (PS3.3 C.7.1.1)
#: and the General Study module (PS3.3 C.7.2.1). The writers take them from the
#: reference image's header and write them empty where it lacks them, which is
#: what DICOM prescribes for an unknown Type 2 value.
TYPE2_PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)

#: Patient module attributes of a de-identified patient (PS3.3 C.7.1.1): a derived
#: object of a de-identified study says so too; De-identification Method or its
#: code sequence is Type 1C when Patient Identity Removed is YES.
DEIDENTIFICATION_KEYWORDS = (
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
)


def copy_deidentification(source: Any, target: Any) -> None:
    """Carry the de-identification attributes of ``source`` over to ``target`` (pydicom datasets).

    A source marked de-identified without saying how (some public data sets) gets
    a method that says so, since the method is Type 1C once Patient Identity
    Removed is YES.
    """
    for keyword in DEIDENTIFICATION_KEYWORDS:
        value = source.get(keyword)
        if value not in (None, ""):
            setattr(target, keyword, value)
    if str(target.get("PatientIdentityRemoved", "")).upper() == "YES" and not (
        target.get("DeidentificationMethod") or target.get("DeidentificationMethodCodeSequence")
    ):
        target.DeidentificationMethod = "as the source images (method not recorded there)"


#: The UIDs by which a derived object (SEG, SR) references its source images
#: (SOP Instance Reference Macro, PS3.3 10.8; Series and Study in the Hierarchical
#: SOP Instance Reference Macro, PS3.3 10.6).
REFERENCE_UID_KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")


def missing_reference_uids(headers: list[Any]) -> list[str]:
    """The reference UIDs that some of ``headers`` lack (empty or absent).

    Some anonymised public series drop them; a SEG or SR cannot reference such
    images, and the writers refuse with this list in the reason.
    """
    return [k for k in REFERENCE_UID_KEYWORDS if not all(str(h.get(k, "") or "") for h in headers)]
