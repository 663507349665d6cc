"""Encapsulated PDF (PS3.3 A.45.1): a report as a DICOM object in the patient's study.

The PDF is stored unchanged in Encapsulated Document (0042,0011), padded to an
even length with the true length in Encapsulated Document Length (0042,0015).
Patient and study come from the reference image's headers, the Source Instance
Sequence lists the images the report was made from, so a PACS files the report
with the study and a viewer shows it next to the images.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Volume
from workstation.io._atomic import atomic_path
from workstation.io._dicom_attrs import TYPE2_PATIENT_STUDY_KEYWORDS, copy_deidentification

__all__ = ["ENCAPSULATED_PDF_STORAGE", "read_encapsulated_pdf", "write_encapsulated_pdf"]

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
#: Patient/study attributes copied from the reference (beyond the Type 2 ones).
_COPIED = (*TYPE2_PATIENT_STUDY_KEYWORDS, "StudyInstanceUID", "StudyDescription", "IssuerOfPatientID")


def write_encapsulated_pdf(
    pdf: bytes,
    path: str | os.PathLike[str],
    reference: Volume,
    title: str = "Report (workstation)",
    series_description: str = "Report (workstation)",
) -> Path:
    """Write ``pdf`` as an Encapsulated PDF instance in ``reference``'s study, atomically.

    Parameters
    ----------
    pdf:
        The PDF file's bytes (must start with ``%PDF-``).
    path:
        Output file (``.dcm``).
    reference:
        Image the report is about; ``metadata.dicom_headers`` needed.
    title:
        Document Title (0042,0010).
    series_description:
        Series Description of the new document series.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from workstation import __version__

    target = Path(path)
    if not pdf.startswith(b"%PDF-"):
        raise InvalidInputError(f"The report written to {target.name} is not a PDF document.")
    headers = list(reference.metadata.dicom_headers)
    if not headers:
        raise InvalidInputError(
            f"The Encapsulated PDF {target.name} must belong to a DICOM study, but the reference "
            f"image {reference.metadata.source_path or ''} was not read from DICOM."
        )
    header = headers[0]
    now = _dt.datetime.now()
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.UID(ENCAPSULATED_PDF_STORAGE)
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(target), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    for keyword in TYPE2_PATIENT_STUDY_KEYWORDS:
        setattr(ds, keyword, "")
    for keyword in _COPIED:
        value = header.get(keyword)
        if value not in (None, ""):
            setattr(ds, keyword, value)
    copy_deidentification(header, ds)
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = str(reference.metadata.study_instance_uid or generate_uid())
    # Encapsulated Document Series, General Equipment, SC Equipment
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 904
    ds.SeriesDescription = series_description[:64]
    ds.Manufacturer = "workstation (open source)"
    ds.ManufacturerModelName = "workstation"
    ds.SoftwareVersions = __version__
    ds.ConversionType = "WSD"  # workstation
    # Encapsulated Document
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the report shows patient identification
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = DicomSequence()
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    sources = []
    for h in headers:
        if not str(h.get("SOPInstanceUID", "") or ""):
            continue  # an anonymised image without a SOP Instance UID cannot be referenced
        item = Dataset()
        item.ReferencedSOPClassUID = h.SOPClassUID
        item.ReferencedSOPInstanceUID = h.SOPInstanceUID
        sources.append(item)
    if sources:
        ds.SourceInstanceSequence = DicomSequence(sources)  # Type 1C: when the document was made from images
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target


def read_encapsulated_pdf(path: str | os.PathLike[str]) -> bytes:
    """The PDF bytes of an Encapsulated PDF file (padding removed)."""
    import pydicom

    ds: Any = pydicom.dcmread(path)
    if str(ds.get("SOPClassUID", "")) != ENCAPSULATED_PDF_STORAGE:
        raise InvalidInputError(f"{path}: not an Encapsulated PDF.")
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length is not None else data.rstrip(b"\0")
