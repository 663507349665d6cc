"""Margins as DICOM: SEGs of tumours and ablation zone, a TID 1500 SR, the PDF, in the post-CT's study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.mask_factory import dicom_reference
from workstation.ablation.dicom_export import write_margin_dicom
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.io import read_mask
from workstation.io.sr import read_measurement_report

RESULTS = {
    "tumors": [
        {"label": 1, "volume_ml": 7.27, "minimal_margin_mm": 0.55,
         "margin_percentiles_mm": {"5": 2.08, "50": 5.72, "95": 9.29},
         "surface_fraction": {"below_0mm": 0.0, "0_to_5mm": 0.405, "5_to_10mm": 0.585, "at_least_10mm": 0.01},
         "insufficient_coverage_ml": {"0": 0.0, "5": 1.9, "10": 18.6}},
        # no segment of its own in this mask: a TID 1501 group; all subcapsular: minimum left out
        {"label": 2, "volume_ml": 1.5, "minimal_margin_mm": None,
         "margin_percentiles_mm": {"5": -1.5}, "surface_fraction": {}, "insufficient_coverage_ml": {}},
    ]
}


@pytest.mark.slow  # highdicom's first SEG and SR take ~7 s on the shared machine
def test_margin_seg_sr_pdf(tmp_path: Path) -> None:
    from fpdf import FPDF

    ct = dicom_reference(Volume(np.zeros((8, 20, 20), np.int16),
                                affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0]),
                                frame_of_reference_uid="1.2.3.9", units=Unit.HU))
    tumour = np.zeros(ct.shape, np.float32)
    tumour[2:5, 4:9, 4:9] = 1.0
    tumour[2:5, 3, 4:9] = 0.4  # partial voxels of a registered fractional mask: below half are outside
    ablation = np.zeros(ct.shape, np.uint8)
    ablation[1:7, 2:12, 2:12] = 1
    pdf = FPDF()
    pdf.add_page()
    files, notes = write_margin_dicom(
        RESULTS, ct, ct.copy_with(array=tumour),
        ct.copy_with(array=ablation), tmp_path, bytes(pdf.output()),
    )
    assert notes == []
    assert {f.name for f in files} == {"seg_tumor.dcm", "seg_ablation.dcm", "margins_sr.dcm", "report_pdf.dcm"}
    study = ct.metadata.dicom_headers[0].StudyInstanceUID
    assert all(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID == study for f in files)
    assert np.array_equal(read_mask(f"{tmp_path / 'seg_tumor.dcm'}#tumour 1", reference=ct).array != 0, tumour >= 0.5)
    assert np.array_equal(read_mask(tmp_path / "seg_ablation.dcm", reference=ct).array != 0, ablation == 1)
    report = read_measurement_report(tmp_path / "margins_sr.dcm")
    one = report["tumour 1"]
    assert one["Ablative margin (signed, positive inside the ablation zone) [Minimum]"] == 0.55
    assert one["Ablative margin, 50th percentile over the tumour surface"] == 5.72
    assert one["Percent of the tumour surface with a margin from 0 to 5 mm"] == 40.5
    assert one["Tumour volume not covered with a 10 mm margin"] == 18.6
    assert "Ablative margin (signed, positive inside the ablation zone) [Minimum]" not in report["tumour 2"]
    seg_uid = pydicom.dcmread(tmp_path / "seg_tumor.dcm", stop_before_pixels=True).SOPInstanceUID
    assert seg_uid in str(pydicom.dcmread(tmp_path / "margins_sr.dcm"))
