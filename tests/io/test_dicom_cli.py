"""Bad DICOM inputs through the command line: exit code 2, one sentence, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.io.dicom_factory import write_single_frame_series
from workstation.cli import main
from workstation.core import affine_from_geometry


@pytest.fixture
def ct_folder(tmp_path, rng):
    values = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(float)
    folder = tmp_path / "ct"
    paths = write_single_frame_series(folder, values, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0]),
                                      rescale_intercept=-1024, description="CT test")
    return folder, paths


def run_convert(folder, out_dir, capsys) -> tuple[int, str]:  # noqa: ANN001
    out = out_dir / "out.nii.gz"
    code = main(["convert", str(folder), "-o", str(out)])
    err = capsys.readouterr().err
    return code, err


def assert_nothing_written(out_dir) -> None:  # noqa: ANN001
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_convert_and_info_work(ct_folder, tmp_path, capsys):
    folder, _ = ct_folder
    assert main(["convert", str(folder), "-o", str(tmp_path / "out" / "ct.nii.gz")]) == 0
    assert (tmp_path / "out" / "ct.nii.gz").is_file()
    capsys.readouterr()
    (folder / "notes.txt").write_text("hello")
    assert main(["info", str(folder), "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["modality"] == "CT" and entry["size"] == [7, 6, 5]
    assert entry["spacing"] == [1.0, 1.0, 2.0] and entry["origin"] == [0.0, 0.0, 0.0]
    assert entry["direction"] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert entry["units"] == "HU" and entry["number_of_files"] == 5
    assert entry["skipped_non_dicom_files"] == 1 and entry["frame_of_reference_uid"]
    assert main(["info", str(folder)]) == 0
    table = capsys.readouterr().out
    assert "CT test" in table and "1 non-DICOM file(s) skipped" in table


@pytest.mark.parametrize("where", ["pixels", "header"])
def test_truncated_file(ct_folder, tmp_path, capsys, where):
    folder, paths = ct_folder
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 30] if where == "pixels" else data[:300])
    code, err = run_convert(folder, tmp_path / "out", capsys)
    assert code == 2
    assert paths[2].name in err and "truncated" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert_nothing_written(tmp_path / "out")


def test_folder_without_dicom(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    code, err = run_convert(folder, tmp_path / "out", capsys)
    assert code == 2 and "no DICOM files found" in err and str(folder) in err
    assert main(["info", str(folder)]) == 2
    assert_nothing_written(tmp_path / "out")


def test_missing_slice(ct_folder, tmp_path, capsys):
    folder, paths = ct_folder
    paths[2].unlink()
    code, err = run_convert(folder, tmp_path / "out", capsys)
    assert code == 2 and "missing" in err and paths[1].name in err and paths[3].name in err
    assert_nothing_written(tmp_path / "out")


def test_mixed_orientations(ct_folder, tmp_path, capsys, rng, oblique_direction):
    folder, _ = ct_folder
    from workstation.io.dicom import index_dicom

    uid = index_dicom(folder).series[0].series_instance_uid
    write_single_frame_series(folder, rng.normal(size=(2, 6, 7)),
                              affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0], oblique_direction),
                              series_uid=uid, prefix="OBL")
    code, err = run_convert(folder, tmp_path / "out", capsys)
    assert code == 2 and "different geometry" in err and "orientation" in err and uid in err
    assert_nothing_written(tmp_path / "out")


def test_unknown_series(ct_folder, tmp_path, capsys):
    folder, _ = ct_folder
    out = tmp_path / "out" / "x.nii.gz"
    assert main(["convert", str(folder), "--series", "9.9.9", "-o", str(out)]) == 2
    assert "9.9.9" in capsys.readouterr().err
    assert_nothing_written(tmp_path / "out")


def test_single_file_of_a_series_reads_as_one_slice(ct_folder, tmp_path):
    _, paths = ct_folder
    from workstation.io.dicom import read_dicom_image

    vol = read_dicom_image(paths[0])
    assert vol.shape == (1, 6, 7) and np.allclose(vol.spacing_mm, [2.0, 1.0, 1.0])
