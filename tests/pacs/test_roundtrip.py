"""The clinical round trip against a real Orthanc, in DIMSE and in DICOMweb.

Store the sample SPECT/CT in Orthanc (our ``pacs send``), find it by query,
run ``sirt`` on it (DIMSE: ``--activity pacs://…`` straight from the node;
DICOMweb: ``pacs get`` into a folder first), send the RTDOSE, SEG, RTSTRUCT,
SR and PDF back, find them in the same study, retrieve them and read them back
equal to what was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.pacs.orthanc import OrthancServer
from workstation.cli import main
from workstation.io import read_mask, read_rtdose
from workstation.io.pdf_dicom import read_encapsulated_pdf
from workstation.io.sr import read_measurement_report
from workstation.pacs.network import dicom_files
from workstation.samples import sample_data_dir

SIRT = sample_data_dir() / "sirt"
GT = SIRT / "ground_truth"
RESULT_MODALITIES = {"RTDOSE", "SEG", "RTSTRUCT", "SR", "DOC"}


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> list[dict[str, str]]:
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_sirt_round_trip_through_orthanc(
    orthanc: OrthancServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, protocol: str,
) -> None:
    node = orthanc.dimse_node if protocol == "dimse" else orthanc.dicomweb_url
    monkeypatch.setenv("WORKSTATION_CACHE", str(tmp_path / "cache"))
    orthanc.clear()
    try:
        assert main(["--quiet", "pacs", "send", "--node", node, str(SIRT / "spect"), str(SIRT / "ct")]) == 0
        studies = _json(capsys, ["pacs", "find", "--node", node, "--patient-id", "WS-SIRT-001", "--json"])
        assert len(studies) == 1
        study = studies[0]["StudyInstanceUID"]
        series = _json(capsys, ["pacs", "find", "--node", node, "--level", "series", "--study-uid", study, "--json"])
        by_modality = {s["Modality"]: s["SeriesInstanceUID"] for s in series}
        assert set(by_modality) == {"CT", "NM"}
        if protocol == "dimse":
            activity = f"pacs://{node}/{by_modality['NM']}"
            ct = f"pacs://{node}/{by_modality['CT']}"
        else:
            assert main(["--quiet", "pacs", "get", "--node", node, "--study-uid", study,
                         "-o", str(tmp_path / "study")]) == 0
            activity = str(tmp_path / "study" / by_modality["NM"])
            ct = str(tmp_path / "study" / by_modality["CT"])
        out = tmp_path / "sirt"
        assert main(["--quiet", "sirt", "--activity", activity, "--ct", ct, "--method", "ldm",
                     "--roi", f"liver={GT / 'liver.nii.gz'}", "--roi", f"lesions={GT / 'lesions.nii.gz'}",
                     "--administered-gbq", "1.6", "--lung-shunt", "0.05", "--dicom-results", "-o", str(out)]) == 0, \
            capsys.readouterr().err
        sent = dicom_files([out])
        assert {pydicom.dcmread(f, stop_before_pixels=True).Modality for f in sent} == RESULT_MODALITIES
        assert main(["--quiet", "pacs", "send", "--node", node, str(out)]) == 0

        series = _json(capsys, ["pacs", "find", "--node", node, "--level", "series", "--study-uid", study, "--json"])
        assert {s["Modality"] for s in series} == {"CT", "NM"} | RESULT_MODALITIES
        back = tmp_path / "back"
        for s in series:
            if s["Modality"] in RESULT_MODALITIES:
                assert main(["--quiet", "pacs", "get", "--node", node, "--series-uid", s["SeriesInstanceUID"],
                             "-o", str(back)]) == 0
        got = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: f for f in dicom_files([back])}
        for written in sent:
            header = pydicom.dcmread(written, stop_before_pixels=True)
            assert header.StudyInstanceUID == study
            retrieved = got[header.SOPInstanceUID]
            if header.Modality == "RTDOSE":
                a, b = read_rtdose(written), read_rtdose(retrieved)
                assert np.array_equal(a.array, b.array) and np.array_equal(a.affine, b.affine)
            elif header.Modality == "SR":
                assert read_measurement_report(retrieved) == read_measurement_report(written)
            elif header.Modality == "DOC":
                assert read_encapsulated_pdf(retrieved) == read_encapsulated_pdf(written)
            elif header.Modality == "SEG":
                a, b = read_mask(written), read_mask(retrieved)
                assert np.array_equal(a.array, b.array) and a.label_names == b.label_names
            else:
                assert pydicom.dcmread(retrieved) == pydicom.dcmread(written)
    finally:
        orthanc.clear()
