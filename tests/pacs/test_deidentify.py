"""De-identification of the sample SPECT/CT study (plus an RTDOSE, SEG and RTSTRUCT on it).

Checked by walking every element, sequences included: no attribute of the
PS3.15 profile table keeps an identifying value, no original UID, name, ID or
date is left anywhere, private attributes and the Original Attributes Sequence
are gone; the frame of reference shared by SPECT and CT, the geometry, the
references of the derived objects and the dose results are intact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from workstation.cli import main
from workstation.core import Unit
from workstation.io import read_image, read_mask
from workstation.io.rtdose import write_rtdose
from workstation.io.rtstruct_writer import write_rtstruct
from workstation.io.seg import write_seg
from workstation.pacs.deidentify import Deidentifier, anonymize, profile_actions
from workstation.pacs.network import dicom_files
from workstation.samples import sample_data_dir

SIRT = sample_data_dir() / "sirt"
KEY = "test-key"


def _walk(ds: Dataset):
    for elem in ds:
        yield ds, elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Input study (SPECT, CT copies with private tags and an Original Attributes Sequence,
    RTDOSE, SEG, RTSTRUCT) and its anonymised copy."""
    root = tmp_path_factory.mktemp("deid")
    inp = root / "in"
    for sub in ("spect", "ct"):
        # 24 contiguous CT slices through the liver keep the test fast; the SPECT is one file
        for f in sorted((SIRT / sub).glob("*.dcm"))[slice(30, 54) if sub == "ct" else slice(None)]:
            ds = pydicom.dcmread(f)
            block = ds.private_block(0x0011, "ACME HOSPITAL", create=True)
            block.add_new(0x01, "LO", "private note about SAMPLE^SIRT")
            original = Dataset()
            original.PatientName = "OLD^NAME"
            modified = Dataset()
            modified.ModifiedAttributesSequence = DicomSequence([original])
            modified.AttributeModificationDateTime = "20251231120000"
            modified.ModifyingSystem = "PACS"
            modified.ReasonForTheAttributeModification = "CORRECT"
            ds.OriginalAttributesSequence = DicomSequence([modified])
            ds.OtherPatientIDsSequence = DicomSequence([Dataset()])
            ds.OtherPatientIDsSequence[0].PatientID = "OTHER-ID-77"
            (inp / sub).mkdir(parents=True, exist_ok=True)
            ds.save_as(inp / sub / f.name, enforce_file_format=True)
    ct = read_image(inp / "ct")
    spect = read_image(inp / "spect")
    liver = read_mask(SIRT / "ground_truth" / "liver.nii.gz", reference=ct)
    derived = inp / "derived"
    write_seg(liver.copy_with(label_names={1: "liver"}), derived / "seg.dcm", ct)
    write_rtstruct({"liver": liver}, derived / "rtstruct.dcm", ct)
    dose = spect.copy_with(array=np.linspace(0, 50, spect.array.size).reshape(spect.shape).astype(np.float32),
                           units=Unit.GY)
    write_rtdose(dose, derived / "rtdose.dcm", reference=spect)
    out = root / "out"
    anonymize([inp], out, Deidentifier(key=KEY))
    return inp, out


def _originals(folder: Path) -> tuple[set[str], set[str], set[str]]:
    uids, texts, dates = set(), set(), set()
    for f in dicom_files([folder]):
        for _ds, elem in _walk(pydicom.dcmread(f)):
            if elem.VR == "UI" and not elem.keyword.endswith("ClassUID") and elem.keyword != "TransferSyntaxUID":
                uids.update(str(v) for v in (elem.value if elem.VM > 1 else [elem.value]) if v)
            if elem.keyword in ("PatientName", "PatientID", "AccessionNumber", "InstitutionName") and elem.value:
                texts.add(str(elem.value))
            if elem.VR == "DA" and elem.value:
                dates.add(str(elem.value))
    return uids, texts, dates


def test_no_identifying_attribute_left(study: tuple[Path, Path]) -> None:
    inp, out = study
    uids, texts, dates = _originals(inp)
    exact, _masked = profile_actions()
    files = dicom_files([out])
    assert len(files) == len(dicom_files([inp]))
    for f in files:
        ds = pydicom.dcmread(f)
        assert ds.PatientIdentityRemoved == "YES"
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113107"]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for _parent, elem in _walk(ds):
            assert not elem.tag.is_private, f"{f.name}: private {elem.tag}"
            assert elem.keyword not in ("OriginalAttributesSequence", "OtherPatientIDsSequence"), f.name
            action = exact.get((elem.tag.group, elem.tag.element))
            name = getattr(action, "__name__", "")
            if name == "delete" and elem.VR not in ("DA", "DT", "TM"):
                pytest.fail(f"{f.name}: {elem.keyword} should have been removed (X)")
            values = [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])] if elem.VR != "SQ" else []
            for v in values:
                assert v not in uids, f"{f.name}: original UID in {elem.keyword}"
                assert v not in texts, f"{f.name}: original value in {elem.keyword}"
                if elem.VR == "DA":
                    assert v not in dates, f"{f.name}: original date in {elem.keyword}"
                assert "private note" not in v, f"{f.name}: private text in {elem.keyword}"


def test_frame_of_reference_geometry_and_references_kept(study: tuple[Path, Path]) -> None:
    inp, out = study
    series = {pydicom.dcmread(f, stop_before_pixels=True).Modality: f.parent for f in dicom_files([out])}
    ct, spect = read_image(series["CT"]), read_image(series["NM"])
    ct0, spect0 = read_image(inp / "ct"), read_image(inp / "spect")
    assert ct.frame_of_reference_uid == spect.frame_of_reference_uid != ct0.frame_of_reference_uid
    for a, b in ((ct, ct0), (spect, spect0)):
        assert np.array_equal(a.affine, b.affine) and np.array_equal(a.array, b.array)
    seg = pydicom.dcmread(next(series["SEG"].glob("*.dcm")))
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.metadata.series_instance_uid
    referenced = {i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced <= set(ct.metadata.sop_instance_uids)
    assert read_mask(next(series["SEG"].glob("*.dcm")), reference=ct).array.sum() > 0
    rs = next(series["RTSTRUCT"].glob("*.dcm"))
    # ROI Name is action Z of the profile (it may hold names): the contours stay, the name goes
    assert pydicom.dcmread(rs).StructureSetROISequence[0].ROIName == ""
    assert np.array_equal(read_mask(rs, reference=ct).array != 0,
                          read_mask(inp / "derived" / "rtstruct.dcm", reference=ct0).array != 0)
    dose = pydicom.dcmread(next(series["RTDOSE"].glob("*.dcm")))
    assert dose.FrameOfReferenceUID == spect.frame_of_reference_uid
    assert dose.StudyInstanceUID == pydicom.dcmread(next(series["CT"].glob("*.dcm"))).StudyInstanceUID


def test_same_key_same_result_and_dates_shifted_by_whole_days(study: tuple[Path, Path], tmp_path: Path) -> None:
    inp, out = study
    again = anonymize([inp / "spect"], tmp_path / "again", Deidentifier(key=KEY))
    first = pydicom.dcmread(next(f for f in dicom_files([out]) if pydicom.dcmread(f).Modality == "NM"))
    second = pydicom.dcmread(again.files[0])
    assert (second.SOPInstanceUID, second.PatientID, second.StudyDate) == (
        first.SOPInstanceUID, first.PatientID, first.StudyDate)
    original = pydicom.dcmread(next((inp / "spect").glob("*.dcm")))
    shift = dt.datetime.strptime(original.StudyDate, "%Y%m%d") - dt.datetime.strptime(first.StudyDate, "%Y%m%d")
    assert shift.days == again.date_shift_days and 365 <= shift.days <= 3650 and shift.seconds == 0
    start = first.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime
    start0 = original.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime
    assert dt.datetime.strptime(start0[:14], "%Y%m%d%H%M%S") - dt.datetime.strptime(start[:14], "%Y%m%d%H%M%S") == shift
    other = anonymize([inp / "spect"], tmp_path / "other", Deidentifier(key="another key"))
    assert pydicom.dcmread(other.files[0]).SOPInstanceUID != first.SOPInstanceUID


def test_cli_anonymize_skips_documents_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fpdf import FPDF

    from workstation.io.pdf_dicom import write_encapsulated_pdf

    spect = read_image(SIRT / "spect")
    pdf = FPDF()
    pdf.add_page()
    inp = tmp_path / "in"
    write_encapsulated_pdf(bytes(pdf.output()), inp / "report.dcm", spect)
    (inp / "notes.txt").write_text("not DICOM")
    out = tmp_path / "out"
    assert main(["--quiet", "anonymize", str(inp), str(SIRT / "spect"), "-o", str(out), "--key", "k"]) == 0
    assert "Encapsulated PDF" in capsys.readouterr().err
    assert len(dicom_files([out])) == 1
    assert main(["anonymize", str(SIRT / "spect"), "-o", str(SIRT / "spect" / "anon")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "input" in err and not (SIRT / "spect" / "anon").exists()
    assert main(["anonymize", str(inp / "notes.txt"), "-o", str(tmp_path / "o2")]) == 2
    assert "not a DICOM file" in capsys.readouterr().err


def test_dose_results_identical_after_anonymisation(study: tuple[Path, Path], tmp_path: Path) -> None:
    from workstation.dosimetry.pipeline import run_sirt

    inp, out = study
    series = {pydicom.dcmread(f, stop_before_pixels=True).Modality: f.parent for f in dicom_files([out])}
    liver = SIRT / "ground_truth" / "liver.nii.gz"
    results = []
    for spect_dir, ct_dir in ((inp / "spect", inp / "ct"), (series["NM"], series["CT"])):
        ct = read_image(ct_dir)
        res = run_sirt(read_image(spect_dir), ct=ct, rois={"liver": read_mask(liver, reference=ct)},
                       administered_gbq=1.6, lung_shunt_fraction=0.05, method="ldm")
        results.append(res.results["methods"]["ldm"]["rois"]["liver"])
    # same pixels, same geometry, same time intervals: the same computation, so exactly equal
    assert results[0] == results[1]
