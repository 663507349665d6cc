"""DICOM Segmentation (SEG) writer: a label Volume → one BINARY SEG instance.

The SEG references the source series it was drawn on (``reference``): patient,
study and frame of reference come from the source headers, and highdicom
records the source images and, where frames coincide with source slices, the
frame-level correspondences. Only headers are needed (highdicom documents that
``PixelData`` need not be loaded), so the headers that the DICOM reader keeps in
``reference.metadata.dicom_headers`` are passed as they are; nothing is re-read
from disk.

Segments: one per label value present in the array, numbered 1..N in increasing
label order (DICOM requires segment numbers 1, 2, … without gaps), labelled with
``labels.label_names`` and coded with SNOMED CT category/type codes chosen from
the name (liver, lung, lesion/tumour, body, …; anything else is "Tissue").
Frames with no segment are omitted, so the SEG covers only the slices that hold
a segment; readers place them by their plane positions.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.diagnostics import warning_source
from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Volume
from workstation.io._atomic import atomic_path
from workstation.io._dicom_attrs import TYPE2_PATIENT_STUDY_KEYWORDS, missing_reference_uids

__all__ = ["segment_codes", "write_seg"]


def segment_codes(name: str) -> tuple[Any, Any]:
    """SNOMED CT (category, type) codes for a segment name (case-insensitive heuristics).

    Parameters
    ----------
    name:
        Segment label, e.g. ``"liver"``, ``"lesion 2"``, ``"lungs"``.

    Returns
    -------
    tuple
        ``(SegmentedPropertyCategory, SegmentedPropertyType)`` as pydicom ``Code``s.
    """
    from pydicom.sr.codedict import codes

    sct = codes.SCT
    low = name.lower()
    abnormal = sct.MorphologicallyAbnormalStructure
    table: list[tuple[str, Any, Any]] = [
        (r"ablat|necros|coagulat", abnormal, sct.Necrosis),
        (r"lesion|tumou?r|metasta|neoplas|hcc|nodul", abnormal, sct.Neoplasm),
        (r"liver|hepat", sct.AnatomicalStructure, sct.Liver),
        (r"lung|pulmo", sct.AnatomicalStructure, sct.Lung),
        (r"spleen", sct.AnatomicalStructure, sct.Spleen),
        (r"kidney|renal", sct.AnatomicalStructure, sct.Kidney),
        (r"heart|cardi", sct.AnatomicalStructure, sct.Heart),
        (r"stomach|gastr", sct.AnatomicalStructure, sct.Stomach),
        (r"body|patient|outline|external", sct.AnatomicalStructure, sct.EntireBody),
    ]
    for pattern, category, kind in table:
        if re.search(pattern, low):
            return category, kind
    return sct.Tissue, sct.Tissue


def _segment_description(number: int, name: str, algorithm_type: str) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    category, kind = segment_codes(name)
    algo = hd.seg.SegmentAlgorithmTypeValues(algorithm_type.upper())
    identification = None
    if algo != hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        # The project's segmentations are threshold and region-growing methods:
        # CID 7162 "Histogram analysis" is the closest algorithm family.
        identification = hd.AlgorithmIdentificationSequence(
            name="workstation", version=_version(), family=codes.cid7162.HistogramAnalysis
        )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name[:64],
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type=algo,
        algorithm_identification=identification,
    )


def _version() -> str:
    from workstation import __version__

    return __version__


#: Character set of a SEG whose reference declares none or an unusual one: UTF-8.
_UTF8 = "ISO_IR 192"


def _complete_headers(headers: list[Any]) -> list[Any]:
    """Copies of the headers that highdicom accepts as sources.

    Missing Type 2 patient/study attributes are added empty (some vendors omit
    them; highdicom copies them). A SpecificCharacterSet that is empty (the
    default repertoire, written by some anonymisers and dcmqi) or not one of
    the defined terms is replaced by UTF-8 (ISO_IR 192): highdicom copies the
    reference's character set and refuses those, while the text values are
    already decoded, so UTF-8 represents them exactly.
    """
    missing = [k for k in TYPE2_PATIENT_STUDY_KEYWORDS if k not in headers[0]]
    charset_ok = _charset_accepted(headers[0].get("SpecificCharacterSet"))
    if not missing and charset_ok:
        return headers
    out = []
    for header in headers:
        ds = copy.copy(header)  # shallow: only top-level elements are added or replaced
        for keyword in missing:
            if keyword not in ds:
                setattr(ds, keyword, "")
        if not charset_ok:
            ds.SpecificCharacterSet = _UTF8
        out.append(ds)
    return out


def _with_slice_thickness(headers: list[Any], reference: Volume) -> list[Any]:
    """Copies of single-frame headers without Slice Thickness given the reference's slice spacing.

    highdicom takes the SEG's Pixel Measures from the source images, where Slice
    Thickness is Type 2 (may be absent); in the SEG it is Type 1C (PS3.3 C.7.6.16.2.1),
    so a source without it gave an invalid SEG. The slice spacing is what the
    reader stacked the slices with.
    """
    if all("SliceThickness" in h and h.SliceThickness not in (None, "") for h in headers):
        return headers
    if len(headers) == 1 and int(getattr(headers[0], "NumberOfFrames", 1) or 1) > 1:
        return headers
    out = []
    for header in headers:
        if "SliceThickness" in header and header.SliceThickness not in (None, ""):
            out.append(header)
            continue
        ds = copy.copy(header)
        ds.SliceThickness = float(reference.spacing_mm[0])
        out.append(ds)
    return out


def _charset_accepted(value: Any) -> bool:
    """True when highdicom accepts the SpecificCharacterSet value (absent counts as accepted)."""
    import highdicom as hd

    if value is None:
        return True
    values = [value] if isinstance(value, str) else list(value)
    defined = {v.value for v in hd.SpecificCharacterSetValues}
    return bool(values) and all(str(v).strip() in defined for v in values)


def _enhanced_geometry_shim(header: Any, reference: Volume) -> Any:
    """A copy of a legacy multi-frame header (NM) with its geometry as functional groups.

    highdicom reads the plane positions of a multi-frame source image from the
    (enhanced) functional group sequences, which NM Image Storage does not
    have: NM stores the first frame's position (Detector Information Sequence
    or top level) and a slice spacing. The reader already turned these into
    ``reference.affine``; frame ``f`` is slice ``SliceVector[f] - 1`` (or ``f``)
    counted from the end of the volume that holds the first frame's position.
    Only this in-memory copy gets the sequences; the SEG references the
    original instance.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    frames = int(getattr(header, "NumberOfFrames", 1) or 1)
    nz = reference.shape[0]
    if frames != nz:
        raise InvalidInputError(
            f"The reference series has {frames} frames for {nz} slices (a gated or dynamic "
            "acquisition); a SEG can only reference a series with one frame per slice."
        )
    detector = header.get("DetectorInformationSequence")
    first = None
    if detector and "ImagePositionPatient" in detector[0]:
        first = detector[0].ImagePositionPatient
    elif "ImagePositionPatient" in header:
        first = header.ImagePositionPatient
    slice_vector = header.get("SliceVector")
    slices = (
        np.asarray([int(v) for v in slice_vector]) - 1
        if slice_vector is not None and len(slice_vector) == frames
        else np.arange(frames)
    )
    if first is not None:
        k0 = float(reference.world_to_index([float(v) for v in first])[0])
        if abs(k0 - (nz - 1)) < 0.01 and abs(k0) >= 0.01:
            slices = nz - 1 - slices
        elif abs(k0) >= 0.01:
            raise InvalidInputError(
                "The reference series' first frame is not at either end of its volume, so the "
                "SEG frames cannot be matched to it."
            )
    spacing = reference.spacing_mm
    direction = reference.direction
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[1]), float(spacing[2])]
    measures.SliceThickness = float(spacing[0])
    measures.SpacingBetweenSlices = float(spacing[0])
    orientation = Dataset()
    orientation.ImageOrientationPatient = [float(v) for v in (*direction[:, 2], *direction[:, 1])]
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    per_frame = []
    for f in range(frames):
        position = Dataset()
        position.ImagePositionPatient = [
            float(v) for v in reference.index_to_world([int(slices[f]), 0, 0])
        ]
        item = Dataset()
        item.PlanePositionSequence = DicomSequence([position])
        per_frame.append(item)
    shim = copy.copy(header)
    shim.SharedFunctionalGroupsSequence = DicomSequence([shared])
    shim.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    return shim


def write_seg(
    labels: Volume,
    path: str | os.PathLike[str],
    reference: Volume,
    series_description: str = "Segmentation (workstation)",
    algorithm_type: str = "SEMIAUTOMATIC",
) -> Path:
    """Write a label volume as a DICOM SEG referencing ``reference``'s series, atomically.

    Parameters
    ----------
    labels:
        Label image (integer values, 0 = background) or boolean mask; names from
        ``labels.label_names`` (missing names become ``"Label <value>"``). On
        another grid than ``reference`` it is first resampled by nearest
        neighbour in patient space.
    path:
        Output file (``.dcm``).
    reference:
        The DICOM image the segmentation belongs to; its
        ``metadata.dicom_headers`` (pydicom datasets, pixel data not needed)
        must be present.
    series_description:
        Series Description (0008,103E) of the new SEG series.
    algorithm_type:
        Segment Algorithm Type of every segment: ``"AUTOMATIC"``,
        ``"SEMIAUTOMATIC"`` (default) or ``"MANUAL"``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import highdicom as hd
    from pydicom.uid import ExplicitVRLittleEndian

    target = Path(path)
    labels_in = labels
    headers = list(reference.metadata.dicom_headers)
    if not headers:
        raise InvalidInputError(
            f"A DICOM SEG ({target.name}) must reference DICOM source images, but the reference "
            f"image {reference.metadata.source_path or ''} was not read from DICOM; "
            "write the mask as NIfTI instead."
        )
    frame_of_reference = reference.frame_of_reference_uid or getattr(
        headers[0], "FrameOfReferenceUID", None
    )
    if not frame_of_reference:
        raise InvalidInputError(
            f"The reference series of {target.name} has no Frame of Reference UID, "
            "so a SEG cannot be placed on it."
        )
    missing = missing_reference_uids(headers)
    if missing:
        raise InvalidInputError(
            f"A DICOM SEG ({target.name}) must reference its source images by UID, but the reference "
            f"series has no {', '.join(missing)} (anonymised without them); write the mask as NIfTI "
            "or an RTSTRUCT instead."
        )
    values = labels.array
    if values.dtype == bool:
        values = values.astype(np.uint8)
    elif values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise InvalidInputError(
                f"The labels written to {target.name} must be integers, but they have fractional values."
            )
        values = values.astype(np.int64)
    if values.min(initial=0) < 0:
        raise InvalidInputError(f"The labels written to {target.name} must not be negative.")
    labels = labels.copy_with(array=values)
    if not labels.same_grid(reference):
        labels = labels.resample_to(reference, interpolation="nearest")
    if str(algorithm_type).upper() not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        raise InvalidInputError(
            f"algorithm_type must be AUTOMATIC, SEMIAUTOMATIC or MANUAL, not {algorithm_type!r}."
        )
    present = [int(v) for v in np.unique(labels.array) if v != 0]
    if not present:
        raise EmptyMaskError(f"Nothing to write to {target.name}: the label image is empty.")
    if len(present) > 65535:
        raise InvalidInputError(f"Too many labels ({len(present)}) for one SEG.")
    lookup = np.zeros(int(max(present)) + 1, dtype=np.uint16)
    for number, value in enumerate(present, start=1):
        lookup[value] = number
    relabelled = lookup[labels.array]
    relabelled = relabelled.astype(np.uint8 if len(present) < 256 else np.uint16)
    descriptions = [
        _segment_description(
            number, labels.label_names.get(value, f"Label {value}"), algorithm_type
        )
        for number, value in enumerate(present, start=1)
    ]
    volume = hd.Volume(
        relabelled,
        labels.affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=frame_of_reference,
    )
    sources = _with_slice_thickness(_complete_headers(headers), reference)
    if (
        len(sources) == 1
        and int(getattr(sources[0], "NumberOfFrames", 1) or 1) > 1
        and "SharedFunctionalGroupsSequence" not in sources[0]
    ):
        sources = [_enhanced_geometry_shim(sources[0], reference)]
    try:
        with warning_source(target.name) as caught:
            seg = hd.seg.Segmentation(
                source_images=sources,
                pixel_array=volume,
                segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=descriptions,
                series_instance_uid=hd.UID(),
                series_number=901,
                sop_instance_uid=hd.UID(),
                instance_number=1,
                manufacturer="workstation (open source)",
                manufacturer_model_name="workstation",
                software_versions=_version(),
                device_serial_number="0",
                series_description=series_description,
                content_label="SEGMENTATION",
                content_description=series_description[:64],
                transfer_syntax_uid=ExplicitVRLittleEndian,
                omit_empty_frames=True,
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"Cannot build the SEG {target.name} on the reference series: {exc}"
        ) from None
    # highdicom's remarks on the reference headers (e.g. a one-component patient name)
    # are the user's to see, as ours, with the output named; the caller prints them.
    labels_in.metadata.warnings.extend(w for w in caught if w not in labels_in.metadata.warnings)
    with atomic_path(target) as tmp:
        seg.save_as(tmp, enforce_file_format=True)
    return target
