"""Outputs never go into inputs, and an unusable output path is exit 2 before any work."""

from __future__ import annotations

import shutil

from workstation.cli import main
from workstation.samples import sample_data_dir


def _snapshot(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_qa_refuses_to_write_into_the_bundled_phantom(capsys) -> None:
    nema = sample_data_dir() / "nema"
    before = _snapshot(nema)
    assert main(["qa", "-o", str(nema / "pet" / "qa")]) == 2
    assert "would overwrite or write into the input" in capsys.readouterr().err
    assert _snapshot(nema) == before


def test_a_dicom_file_input_protects_its_folder(tmp_path, capsys) -> None:
    spect = tmp_path / "spect"
    shutil.copytree(sample_data_dir() / "sirt" / "spect", spect)
    before = _snapshot(spect)
    code = main(["sirt", "--activity", str(spect / "NM000001.dcm"), "--administered-gbq", "1.6",
                 "--method", "ldm", "-o", str(spect / "out")])
    assert code == 2
    assert "would overwrite or write into the input" in capsys.readouterr().err
    assert _snapshot(spect) == before


def test_output_that_is_a_file_is_exit_2_before_any_work(tmp_path, capsys) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    code = main(["sirt", "--activity", str(sample_data_dir() / "sirt" / "spect"), "--administered-gbq", "1.6",
                 "--method", "ldm", "-o", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and "is a file, not a folder" in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"
