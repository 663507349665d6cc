"""RTSTRUCT, SR (TID 1500) and Encapsulated PDF writers on synthetic references.

Every object is read back strictly (pydicom validation raising) and checked
against what was written: the RTSTRUCT contours rasterize back to exactly the
mask voxels (the 0.5 iso-line lies half a voxel from every voxel centre), on an
oblique, anisotropic grid in both slice orders; the SR's numbers and
references; the PDF's bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.mask_factory import dcmread_strict, dicom_reference
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.io import read_mask
from workstation.io.pdf_dicom import read_encapsulated_pdf, write_encapsulated_pdf
from workstation.io.rtstruct_writer import write_rtstruct
from workstation.io.seg import write_seg
from workstation.io.sr import (
    SrGroup,
    SrMeasurement,
    local_code,
    read_measurement_report,
    ucum,
    write_measurement_report,
)


def _reference(direction: np.ndarray | None, flip: bool) -> Volume:
    affine = affine_from_geometry([-30.0, -40.0, 60.0], [3.0, 1.2, 0.9], direction)
    if flip:  # the other slice order: slice 0 at the far end
        flip_z = np.eye(4)
        flip_z[0, 0], flip_z[0, 3] = -1.0, 9.0
        affine = affine @ flip_z
    vol = Volume(np.zeros((10, 24, 28), np.int16), affine, frame_of_reference_uid="1.2.3.4.5", units=Unit.HU)
    return dicom_reference(vol)


def _blob(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A lumpy ROI with a hole, so that nested contours are exercised."""
    z, y, x = np.indices(shape, dtype=float)
    r = np.sqrt(((z - 4.5) / 3.5) ** 2 + ((y - 11) / 8) ** 2 + ((x - 13) / 9) ** 2)
    wobble = 0.15 * np.sin(3 * np.arctan2(y - 11, x - 13)) + rng.normal(0, 0.03, shape)
    inside = r + wobble < 1.0
    inside[3:6, 10:13, 12:15] = False  # a hole
    return inside


@pytest.mark.parametrize("flip", [False, True])
def test_rtstruct_round_trip_exact(tmp_path: Path, rng: np.random.Generator, oblique_direction: np.ndarray,
                                   flip: bool) -> None:
    ref = _reference(oblique_direction, flip)
    inside = _blob(ref.shape, rng)
    second = np.zeros(ref.shape, bool)
    second[2:8, 4:9, 18:25] = True
    masks = {"liver": ref.copy_with(array=inside.astype(np.uint8)), "lesion 1": ref.copy_with(array=second)}
    path = write_rtstruct(masks, tmp_path / "rs.dcm", ref)
    ds = dcmread_strict(path.read_bytes())
    assert [r.ROIName for r in ds.StructureSetROISequence] == ["liver", "lesion 1"]
    assert [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence] == ["ORGAN", "GTV"]
    assert ds.StudyInstanceUID == ref.metadata.dicom_headers[0].StudyInstanceUID
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == "1.2.3.4.5"
    sops = {h.SOPInstanceUID for h in ref.metadata.dicom_headers}
    for contour in ds.ROIContourSequence[0].ContourSequence:
        assert contour.ContourImageSequence[0].ReferencedSOPInstanceUID in sops
    assert np.array_equal(read_mask(f"{path}#liver", reference=ref).array != 0, inside)
    assert np.array_equal(read_mask(f"{path}#lesion 1", reference=ref).array != 0, second)


def test_rtstruct_refuses_empty_roi_and_non_dicom_reference(tmp_path: Path) -> None:
    ref = _reference(None, False)
    with pytest.raises(EmptyMaskError, match="'empty'"):
        write_rtstruct({"empty": ref.copy_with(array=np.zeros(ref.shape, np.uint8))}, tmp_path / "a.dcm", ref)
    plain = Volume(np.zeros((2, 3, 4)), np.eye(4))
    with pytest.raises(InvalidInputError, match="not read from DICOM"):
        write_rtstruct({"x": plain.copy_with(array=np.ones((2, 3, 4)))}, tmp_path / "b.dcm", plain)
    assert not list(tmp_path.iterdir())


def test_sr_numbers_and_references(tmp_path: Path) -> None:
    from pydicom.sr.codedict import codes

    ref = _reference(None, False)
    labels = np.zeros(ref.shape, np.uint8)
    labels[2:6, 5:15, 5:15] = 1
    seg_path = write_seg(ref.copy_with(array=labels, units=Unit.LABEL, label_names={1: "liver"}),
                         tmp_path / "seg.dcm", ref)
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    groups = [
        SrGroup("liver", [SrMeasurement(codes.SCT.Volume, 1234.5, ucum("ml")),
                          SrMeasurement(codes.DCM.AbsorbedDose, 41.25, ucum("Gy"), codes.SCT.Mean),
                          SrMeasurement(codes.DCM.AbsorbedDose, float("nan"), ucum("Gy"), codes.SCT.Minimum)],
                method=local_code("LDM", "Local deposition method"), finding_site=codes.SCT.Liver,
                segment=(seg, 1)),
        SrGroup("normal_liver", [SrMeasurement(local_code("D90", "Minimum absorbed dose to the hottest 90 % of the volume"),
                                               12.0, ucum("Gy"))]),
    ]
    path = write_measurement_report(groups, tmp_path / "sr.dcm", ref, evidence=[seg])
    ds = dcmread_strict(path.read_bytes())
    assert ds.StudyInstanceUID == ref.metadata.dicom_headers[0].StudyInstanceUID
    evidence = {i.ReferencedSOPInstanceUID for s in ds.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert seg.SOPInstanceUID in evidence
    assert read_measurement_report(path) == {
        "liver (Local deposition method)": {"Volume": 1234.5, "Absorbed Dose [Mean]": 41.25},
        "normal_liver": {"Minimum absorbed dose to the hottest 90 % of the volume": 12.0},
    }
    with pytest.raises(InvalidInputError, match="no measurement"):
        write_measurement_report([SrGroup("x")], tmp_path / "empty.dcm", ref)


def test_encapsulated_pdf_round_trip(tmp_path: Path) -> None:
    from fpdf import FPDF

    ref = _reference(None, False)
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.cell(text="odd length?")
    data = bytes(pdf.output())
    for payload in (data, data + b"\n"):  # both parities of the length
        path = write_encapsulated_pdf(payload, tmp_path / "r.dcm", ref, title="SIRT report")
        ds = dcmread_strict(path.read_bytes())
        assert ds.Modality == "DOC" and ds.DocumentTitle == "SIRT report"
        assert ds.PatientID == "SYN001" and ds.StudyInstanceUID == ref.metadata.dicom_headers[0].StudyInstanceUID
        assert read_encapsulated_pdf(path) == payload
    with pytest.raises(InvalidInputError, match="not a PDF"):
        write_encapsulated_pdf(b"<html>", tmp_path / "x.dcm", ref)


def test_a_reference_without_instance_uids_is_not_referenced_by_uid(tmp_path: Path) -> None:
    """An anonymised series without SOP Instance / Series / Study UIDs (the TotalSegmentator example).

    RTSTRUCT and the PDF are written without image references (those are Type 3 / 1C); SEG and SR,
    which must reference their source images, are refused with the reason and write nothing.
    """
    from pydicom.sr.codedict import codes

    ref = _reference(None, False)
    for h in ref.metadata.dicom_headers:
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            setattr(h, keyword, "")
    inside = _blob(ref.shape, np.random.default_rng(5))
    rs = dcmread_strict(write_rtstruct({"liver": ref.copy_with(array=inside.astype(np.uint8))},
                                       tmp_path / "rs.dcm", ref).read_bytes())
    assert "RTReferencedStudySequence" not in rs.ReferencedFrameOfReferenceSequence[0]
    assert all("ContourImageSequence" not in c for c in rs.ROIContourSequence[0].ContourSequence)
    assert rs.StudyInstanceUID  # a new study, not an empty UID
    assert np.array_equal(read_mask(f"{tmp_path / 'rs.dcm'}#liver", reference=ref).array != 0, inside)
    pdf = dcmread_strict(write_encapsulated_pdf(b"%PDF-1.4\n%%EOF\n", tmp_path / "r.dcm", ref).read_bytes())
    assert "SourceInstanceSequence" not in pdf
    labels = ref.copy_with(array=inside.astype(np.uint8), units=Unit.LABEL, label_names={1: "liver"})
    with pytest.raises(InvalidInputError, match="SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID"):
        write_seg(labels, tmp_path / "seg.dcm", ref)
    with pytest.raises(InvalidInputError, match="by UID"):
        write_measurement_report([SrGroup("liver", [SrMeasurement(codes.SCT.Volume, 1.0, ucum("ml"))])],
                                 tmp_path / "sr.dcm", ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dcm", "rs.dcm"]
