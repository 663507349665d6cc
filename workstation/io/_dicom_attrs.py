"""DICOM attribute lists shared by the writers (RT Dose, SEG)."""

from __future__ import annotations

__all__ = ["TYPE2_PATIENT_STUDY_KEYWORDS"]

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
