"""``workstation tace`` and ``workstation lesions``: outputs, contract keys, DICOM SEG, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import config as pydicom_config

from workstation.cli import main
from workstation.io import read_image


@pytest.fixture(scope="module")
def tace_run(tmp_path_factory: pytest.TempPathFactory, tace_sample: Path) -> Path:
    """One run with the sample's true transform (the registration has its own slow test)."""
    out = tmp_path_factory.mktemp("tace") / "out"
    gt = tace_sample / "ground_truth"
    code = main(["--quiet", "tace", "--post-ct", str(tace_sample / "post_ct"), "--pre-ct", str(tace_sample / "pre_ct"),
                 "--tumor", str(gt / "tumor_pre.nii.gz"), "--liver", str(gt / "liver_post.nii.gz"),
                 "--transform", str(gt / "transform.tfm"), "-o", str(out)])
    assert code == 0
    return out


@pytest.mark.slow
def test_outputs_follow_the_contract(tace_run: Path, tace_sample: Path) -> None:
    res = json.loads((tace_run / "results.json").read_text(encoding="utf-8"))
    assert {"workstation_version", "tumors", "non_target_ml", "registration"} <= set(res)
    for t in res["tumors"]:
        assert {"label", "volume_ml", "lipiodol_coverage_percent", "rim_coverage_fraction", "largest_gap_ml",
                "class"} <= set(t)
    assert res["report"] == "full report"
    for name in ("lipiodol.nii.gz", "lipiodol_density_hu.nii.gz", "lipiodol_excluded.nii.gz",
                 "tumor_on_post_ct.nii.gz", "report.html", "report.pdf", "lipiodol_seg.dcm"):
        assert (tace_run / name).is_file(), name
    lip = read_image(tace_run / "lipiodol.nii.gz")
    post = read_image(tace_sample / "post_ct")
    assert lip.same_grid(post)
    assert lip.array.sum() * post.voxel_volume_ml == pytest.approx(res["lipiodol"]["lipiodol_volume_ml"], rel=1e-3)
    html = (tace_run / "report.html").read_text(encoding="utf-8")
    assert html.index("Summary") < html.index("Deposition scale") < html.index("Slices")
    assert "doi:10.1186/s40644-016-0090-4" in html


@pytest.mark.slow
def test_seg_is_valid_dicom(tace_run: Path, tace_sample: Path) -> None:
    path = tace_run / "lipiodol_seg.dcm"
    old = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        ds = pydicom.dcmread(BytesIO(path.read_bytes()))
    finally:
        pydicom_config.settings.reading_validation_mode = old
    assert ds.Modality == "SEG"
    post = pydicom.dcmread(next((tace_sample / "post_ct").glob("*.dcm")), stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == post.FrameOfReferenceUID
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    lip = read_image(tace_run / "lipiodol.nii.gz").array > 0
    assert int(frames.sum()) == int(lip.sum())
    if shutil.which("dciodvfy"):
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        assert [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")] == []


def test_bad_inputs_exit_2_and_write_nothing(tmp_path: Path, tace_sample: Path) -> None:
    gt = tace_sample / "ground_truth"
    base = ["tace", "--post-ct", str(tace_sample / "post_ct"), "--tumor", str(gt / "tumor_post.nii.gz"),
            "--liver", str(gt / "liver_post.nii.gz")]
    assert main([*base, "-o", str(tace_sample / "post_ct" / "out")]) == 2  # into an input folder
    assert not (tace_sample / "post_ct" / "out").exists()
    assert main([*base[:-2], "--liver", str(tmp_path / "missing.nii.gz"), "-o", str(tmp_path / "a")]) == 2
    assert main([*base, "--registration-mode", "elastic", "-o", str(tmp_path / "b")]) == 2
    assert main([*base, "--transform", str(gt / "transform.tfm"), "-o", str(tmp_path / "c")]) == 2  # no pre-CT
    assert not any((tmp_path / n).exists() for n in "abc")


@pytest.mark.slow
def test_lesions_command(tmp_path: Path) -> None:
    from workstation.samples import sample_data_dir

    d = sample_data_dir() / "ablation"
    out = tmp_path / "les"
    assert main(["--quiet", "lesions", "--ct", str(d / "pre_ct"), "--liver", str(d / "ground_truth" / "liver_pre.nii.gz"),
                 "--lesions", str(d / "ground_truth" / "tumor_pre.nii.gz"), "-o", str(out)]) == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["lesion_count"] == 1
    assert 0 < res["tumour_burden_percent"] < 2
    assert (out / "report.pdf").is_file() and (out / "lesions.nii.gz").is_file()
    rec = res["lesions"][0]
    assert np.isfinite(rec["capsule_distance_mm"]) and rec["longest_diameter_mm"] > 20
    bad = tmp_path / "lm.json"
    bad.write_text("[1, 2]")
    assert main(["lesions", "--ct", str(d / "pre_ct"), "--liver", str(d / "ground_truth" / "liver_pre.nii.gz"),
                 "--lesions", str(d / "ground_truth" / "tumor_pre.nii.gz"), "--landmarks", str(bad),
                 "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
