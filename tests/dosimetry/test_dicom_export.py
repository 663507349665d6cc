"""``sirt`` on DICOM inputs also writes its ROIs, metrics and report as DICOM objects of the study.

Synthetic PET (Bq/mL) with a liver and two lesions (one label image): the SEG
files, the RTSTRUCT, the TID 1500 SR and the Encapsulated PDF are in the PET's
study; the SR holds exactly the numbers of results.json, and its lesion groups
reference the lesion segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.dicom_factory import write_single_frame_series
from workstation.cli import main
from workstation.core import Unit, affine_from_geometry
from workstation.io import read_image, read_mask, write_image
from workstation.io.pdf_dicom import read_encapsulated_pdf
from workstation.io.sr import read_measurement_report


@pytest.mark.slow
def test_sirt_writes_seg_rtstruct_sr_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = np.zeros((12, 18, 18))
    values[2:10, 3:15, 3:15] = 2.0e5  # liver, Bq/mL
    values[4:7, 5:8, 5:8] = 8.0e5  # lesion 1
    values[5:8, 10:13, 10:13] = 6.0e5  # lesion 2
    affine = affine_from_geometry([-36.0, -36.0, 10.0], [4.0, 4.0, 4.0])
    write_single_frame_series(tmp_path / "pet", values, affine, modality="PT",
                              pet={"total_dose_bq": 2.0e9, "decay_correction": "START"})
    pet = read_image(tmp_path / "pet")
    liver = (values > 0).astype(np.uint8)
    lesions = np.zeros(values.shape, np.uint8)
    lesions[4:7, 5:8, 5:8] = 1
    lesions[5:8, 10:13, 10:13] = 2
    write_image(pet.copy_with(array=liver, units=Unit.LABEL), tmp_path / "liver.nii.gz")
    write_image(pet.copy_with(array=lesions, units=Unit.LABEL), tmp_path / "lesions.nii.gz")
    args = ["--quiet", "sirt", "--activity", str(tmp_path / "pet"), "--method", "ldm",
            "--roi", f"liver={tmp_path / 'liver.nii.gz'}", "--roi", f"lesions={tmp_path / 'lesions.nii.gz'}"]
    # by default only the RT Dose goes with the DICOM input: the PACS objects are asked for
    assert main([*args, "-o", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())["outputs"]["files"]
    assert "rtdose_ldm.dcm" in plain and not any(f.startswith(("seg_", "measurements_sr")) for f in plain)
    out = tmp_path / "out"
    code = main(["--quiet", "sirt", "--activity", str(tmp_path / "pet"), "--method", "ldm",
                 "--roi", f"liver={tmp_path / 'liver.nii.gz'}", "--roi", f"lesions={tmp_path / 'lesions.nii.gz'}",
                 "--dicom-results", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["outputs"]["dicom_notes"] == []
    names = {"seg_liver.dcm", "seg_lesions.dcm", "rois_rtstruct.dcm", "measurements_sr.dcm", "report_pdf.dcm"}
    assert names <= set(results["outputs"]["files"])
    study = pet.metadata.dicom_headers[0].StudyInstanceUID
    for name in (*names, "rtdose_ldm.dcm"):
        assert pydicom.dcmread(out / name, stop_before_pixels=True).StudyInstanceUID == study, name
    # SEG: the multi-label lesions keep one segment per lesion
    assert np.array_equal(read_mask(f"{out / 'seg_lesions.dcm'}#lesions_2", reference=pet).array != 0, lesions == 2)
    assert np.array_equal(read_mask(f"{out / 'rois_rtstruct.dcm'}#liver", reference=pet).array != 0, liver == 1)
    # SR: the numbers of results.json, lesion groups referencing their segments
    report = read_measurement_report(out / "measurements_sr.dcm")
    for roi, met in results["methods"]["ldm"]["rois"].items():
        group = report[f"{roi} (Local deposition method)"]
        assert group["Absorbed Dose [Mean]"] == pytest.approx(met["mean_gy"], rel=1e-12)
        assert group["Volume"] == pytest.approx(met["volume_ml"], rel=1e-12)
        assert group["Minimum absorbed dose to the hottest 90 % of the volume"] == pytest.approx(met["d90_gy"], rel=1e-12)
        assert group["Percent of the volume receiving at least 100 Gy"] == pytest.approx(
            met["v_gy_percent"]["100"], rel=1e-12)
    sr = pydicom.dcmread(out / "measurements_sr.dcm")
    seg_uid = pydicom.dcmread(out / "seg_lesions.dcm", stop_before_pixels=True).SOPInstanceUID
    assert seg_uid in str(sr)  # the TID 1411 groups of lesions_1 and lesions_2 reference the SEG
    assert read_encapsulated_pdf(out / "report_pdf.dcm") == (out / "report.pdf").read_bytes()
