"""DICOM RT Structure Set writer: masks → closed planar contours on a reference series.

Written by hand with pydicom rather than with rt-utils: rt-utils (last release
January 2023) pulls in OpenCV, assumes a single-frame axial series and rebuilds
its own geometry, while every piece needed here already exists in the project
(the reference's affine and headers, scikit-image's marching squares, and the
even-odd rasterizer of the RTSTRUCT reader that the tests use to read back).
highdicom writes SEG and SR but has no RT Structure Set.

Contours: on each slice of the reference grid, the 0.5 iso-line of the binary
mask (scikit-image ``find_contours`` on the slice padded with zeros, so every
line closes) passes half-way between inside and outside voxel centres; mapped
to patient coordinates (LPS, mm) through the reference's affine, each is a
CLOSED_PLANAR contour in the plane of its slice (oblique grids included). A
hole is a contour inside another; readers fill with the even-odd rule (as
:func:`workstation.io.read_mask` does), which gives back exactly the voxels of
the mask, since every voxel centre lies 0.5 voxel from the iso-line.

Each contour references the image of its slice (Contour Image Sequence; for a
multi-frame reference, the frame number) and all of them the reference's frame
of reference, study and series.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.volume import Volume
from workstation.io._atomic import atomic_path
from workstation.io._dicom_attrs import TYPE2_PATIENT_STUDY_KEYWORDS, copy_deidentification

__all__ = ["RT_STRUCTURE_SET_STORAGE", "write_rtstruct"]

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Display colours (RGB) given to ROIs in order; a planning system may change them.
_COLOURS = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)


def _interpreted_type(name: str) -> str:
    """RT ROI Interpreted Type (PS3.3 C.8.8.8) from the name: GTV for lesions, ORGAN otherwise."""
    low = name.lower()
    if any(k in low for k in ("lesion", "tumor", "tumour", "gtv", "metasta")):
        return "GTV"
    if any(k in low for k in ("ablat", "ptv")):
        return "PTV"
    if any(k in low for k in ("body", "external", "outline")):
        return "EXTERNAL"
    return "ORGAN"


def _slice_images(reference: Volume, headers: list[Any]) -> list[tuple[str, str, int | None]]:
    """(SOP class, SOP instance, frame number or None) of each reference slice, in array order."""
    nz = reference.shape[0]
    if len(headers) == 1 and int(getattr(headers[0], "NumberOfFrames", 1) or 1) == nz and nz > 1:
        h = headers[0]
        return [(str(h.SOPClassUID), str(h.SOPInstanceUID), f + 1) for f in range(nz)]
    if len(headers) != nz:
        raise InvalidInputError(
            f"The reference series has {len(headers)} images for {nz} slices; an RTSTRUCT needs one "
            "image per slice (or one multi-frame image)."
        )
    # Match headers to slices by position along the slice normal.
    normal = reference.direction[:, 0]
    origin = reference.index_to_world([0, 0, 0])
    step = float(reference.spacing_mm[0])
    by_slice: dict[int, tuple[str, str, int | None]] = {}
    for h in headers:
        pos = np.asarray([float(v) for v in h.ImagePositionPatient])
        k = int(round(float(np.dot(pos - origin, normal)) / step))
        if 0 <= k < nz:
            by_slice[k] = (str(h.SOPClassUID), str(h.SOPInstanceUID), None)
    if len(by_slice) != nz:
        raise InvalidInputError("The reference images cannot be matched one to one to its slices.")
    return [by_slice[k] for k in range(nz)]


_CONTOUR_DATA = 0x30060050
#: Contour coordinates are written with 4 decimals (0.1 µm): as text, within the
#: 16 characters of VR DS for any coordinate below 1e9 mm.
_DS_DECIMALS = 4


def _ds_values(values: np.ndarray) -> Any:
    """A multi-valued DS element from floats, encoded at once (pydicom's per-value DSfloat
    conversion took 3 s for the 40 000 contour points of the sample liver/lesions/lungs)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag
    from pydicom.valuerep import format_number_as_ds

    v = np.asarray(values, dtype=np.float64)
    if np.all(np.abs(v) < 1e9):
        text = "\\".join(np.char.mod(f"%.{_DS_DECIMALS}f", v).tolist())
    else:
        text = "\\".join(str(format_number_as_ds(float(x))) for x in v)
    raw = text.encode("ascii")
    if len(raw) % 2:
        raw += b" "
    return RawDataElement(Tag(_CONTOUR_DATA), "DS", len(raw), raw, 0, False, True)


def _contours(mask2d: np.ndarray) -> list[np.ndarray]:
    from skimage.measure import find_contours

    padded = np.pad(mask2d.astype(np.float32), 1)
    lines = find_contours(padded, 0.5)
    out = []
    for line in lines:
        pts = line - 1.0  # back to unpadded (row, column) indices
        if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]
        if len(pts) >= 3:
            out.append(pts)
    return out


def write_rtstruct(
    masks: Mapping[str, Volume],
    path: str | os.PathLike[str],
    reference: Volume,
    label: str = "workstation",
    series_description: str = "Structures (workstation)",
    generation: str = "SEMIAUTOMATIC",
) -> Path:
    """Write masks as one RT Structure Set on ``reference``'s series, atomically.

    Parameters
    ----------
    masks:
        ROI name → mask (non-zero = inside; any grid: resampled by nearest
        neighbour onto ``reference`` first). ROIs may overlap.
    path:
        Output file (``.dcm``).
    reference:
        DICOM image series the contours are drawn on (``metadata.dicom_headers``).
    label:
        Structure Set Label (3006,0002).
    generation:
        ROI Generation Algorithm: ``"AUTOMATIC"``, ``"SEMIAUTOMATIC"`` or ``"MANUAL"``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from workstation import __version__

    target = Path(path)
    headers = list(reference.metadata.dicom_headers)
    if not headers:
        raise InvalidInputError(
            f"An RTSTRUCT ({target.name}) must reference DICOM images, but the reference image "
            f"{reference.metadata.source_path or ''} was not read from DICOM."
        )
    if not masks:
        raise InvalidInputError(f"Nothing to write to {target.name}: no mask given.")
    if generation.upper() not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        raise InvalidInputError(f"generation must be AUTOMATIC, SEMIAUTOMATIC or MANUAL, not {generation!r}.")
    frame_of_reference = reference.frame_of_reference_uid or str(getattr(headers[0], "FrameOfReferenceUID", ""))
    if not frame_of_reference:
        raise InvalidInputError(
            f"The reference series of {target.name} has no Frame of Reference UID, so contours cannot be placed."
        )
    slices = _slice_images(reference, headers)
    header = headers[0]
    now = _dt.datetime.now()
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.UID(RT_STRUCTURE_SET_STORAGE)
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(target), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    for keyword in TYPE2_PATIENT_STUDY_KEYWORDS:
        setattr(ds, keyword, "")
    copy_deidentification(header, ds)
    for keyword in (*TYPE2_PATIENT_STUDY_KEYWORDS, "StudyInstanceUID", "StudyDescription"):
        value = header.get(keyword)
        if value not in (None, ""):
            setattr(ds, keyword, value)
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = str(reference.metadata.study_instance_uid or generate_uid())
    # Frame of Reference module (dicom3tools checks it in the RT Structure Set IOD)
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = header.get("PositionReferenceIndicator", "") or ""
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 902
    ds.SeriesDescription = series_description[:64]
    ds.OperatorsName = ""
    ds.Manufacturer = "workstation (open source)"
    ds.ManufacturerModelName = "workstation"
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    ds.StructureSetLabel = label[:16]
    ds.StructureSetDate = now.strftime("%Y%m%d")
    ds.StructureSetTime = now.strftime("%H%M%S")

    def image_item(sop_class: str, sop_instance: str, frame: int | None) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        if frame is not None:
            item.ReferencedFrameNumber = frame
        return item

    series_item = Dataset()
    series_item.SeriesInstanceUID = str(header.SeriesInstanceUID)
    unique_images = list(dict.fromkeys(slices))
    series_item.ContourImageSequence = DicomSequence([image_item(*s) for s in unique_images])
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired), as PS3.3 C.8.8.5 prescribes
    study_item.ReferencedSOPInstanceUID = ds.StudyInstanceUID
    study_item.RTReferencedSeriesSequence = DicomSequence([series_item])
    # An anonymised series without SOP Instance or Series UIDs cannot be referenced image by image:
    # the contours are then tied to the frame of reference only (RT Referenced Study Sequence and
    # Contour Image Sequence are Type 3, PS3.3 C.8.8.5 and C.8.8.6).
    referenceable = all(s[1] for s in slices) and bool(str(header.get("SeriesInstanceUID", "") or ""))
    for_item = Dataset()
    for_item.FrameOfReferenceUID = frame_of_reference
    if referenceable:
        for_item.RTReferencedStudySequence = DicomSequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([for_item])

    roi_items, contour_items, observation_items = [], [], []
    for number, (name, mask) in enumerate(masks.items(), start=1):
        vol = mask if mask.same_grid(reference) else mask.resample_to(reference, interpolation="nearest")
        inside = np.asarray(vol.array) != 0
        if not inside.any():
            raise EmptyMaskError(f"The ROI {name!r} written to {target.name} has no voxel on the reference grid.")
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_of_reference
        roi.ROIName = str(name)[:64]
        roi.ROIGenerationAlgorithm = generation.upper()
        roi_items.append(roi)
        contours = []
        for k in np.flatnonzero(inside.any(axis=(1, 2))):
            for pts in _contours(inside[k]):
                index = np.column_stack([np.full(len(pts), float(k)), pts, np.ones(len(pts))])
                world = (reference.affine @ index.T).T[:, :3]
                contour = Dataset()
                if referenceable:
                    contour.ContourImageSequence = DicomSequence([image_item(*slices[int(k)])])
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(world)
                contour[_CONTOUR_DATA] = _ds_values(world.ravel())
                contours.append(contour)
        item = Dataset()
        item.ROIDisplayColor = list(_COLOURS[(number - 1) % len(_COLOURS)])
        item.ReferencedROINumber = number
        item.ContourSequence = DicomSequence(contours)
        contour_items.append(item)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = _interpreted_type(str(name))
        observation.ROIInterpreter = ""
        observation_items.append(observation)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observation_items)
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target
