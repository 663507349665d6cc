"""The ``margin`` and ``plan-ablation`` commands: outputs per the contract, exit codes."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from tests.ablation.conftest import ISO
from workstation.cli import main
from workstation.io import read_image, write_image

CONTRACT_TUMOR_KEYS = {
    "label", "volume_ml", "minimal_margin_mm", "margin_percentiles_mm", "surface_fraction",
    "insufficient_coverage_ml", "subcapsular_excluded_fraction",
}


@pytest.fixture
def mask_files(make_volume, tmp_path):
    tumor = make_volume(ISO, 50.0, [(np.zeros(3), (8.5,) * 3, 1)])
    zone = make_volume(ISO, 50.0, [(np.array([1.0, 0.0, 0.0]), (14.5,) * 3, 1)])
    paths = {"tumor": tmp_path / "in" / "tumor.nii.gz", "zone": tmp_path / "in" / "zone.nii.gz"}
    write_image(tumor, paths["tumor"])
    write_image(zone, paths["zone"])
    return paths


def test_margin_command_outputs(mask_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["--quiet", "margin", "--tumor", str(mask_files["tumor"]),
                 "--ablation", str(mask_files["zone"]), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert {"workstation_version", "minimal_margin_mm", "tumors", "registration"} <= set(res)
    assert res["registration"] is None
    t = res["tumors"][0]
    assert set(t) >= CONTRACT_TUMOR_KEYS
    assert set(t["margin_percentiles_mm"]) == {"5", "25", "50", "75", "95"}
    assert set(t["surface_fraction"]) == {"below_0mm", "0_to_5mm", "5_to_10mm", "at_least_10mm"}
    assert set(t["insufficient_coverage_ml"]) == {"0", "5", "10"}
    assert res["minimal_margin_mm"] == pytest.approx(14.5 - 1.0 - 8.5, abs=0.5)
    # ITK's NIfTI reader turns NaN into 0, so read the voxels straight from the file.
    raw = gzip.decompress((out / "margin_map.nii.gz").read_bytes())
    vox_offset = int(np.frombuffer(raw[108:112], np.float32)[0])
    values = np.frombuffer(raw[vox_offset:], np.float32)
    finite = values[np.isfinite(values)]
    assert np.isnan(values).sum() > finite.size > 50
    assert finite.min() == pytest.approx(res["minimal_margin_mm"], abs=0.5)
    margin_map = read_image(out / "margin_map.nii.gz")
    assert margin_map.array.size == values.size
    html = (out / "report.html").read_text()
    assert "<table>" in html and "minimal margin" in html
    assert not list(out.glob(".partial-*"))


def test_margin_command_bad_input(mask_files, make_volume, tmp_path, capsys):
    empty = make_volume(ISO, 50.0, [])
    write_image(empty, tmp_path / "empty.nii.gz")
    code = main(["margin", "--tumor", str(tmp_path / "empty.nii.gz"),
                 "--ablation", str(mask_files["zone"]), "-o", str(tmp_path / "o1")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "empty" in err and "Traceback" not in err and len(err.splitlines()) == 1
    far = make_volume(ISO, 50.0, [(np.zeros(3), (8.0,) * 3, 1)], origin=np.array([400.0, 0, 0]))
    write_image(far, tmp_path / "far.nii.gz")
    code = main(["margin", "--tumor", str(mask_files["tumor"]),
                 "--ablation", str(tmp_path / "far.nii.gz"), "-o", str(tmp_path / "o2")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "do not overlap" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o1" / "results.json").exists()
    code = main(["margin", "--tumor", str(mask_files["tumor"]), "--ablation", str(mask_files["zone"]),
                 "--pre-ct", str(mask_files["tumor"]), "-o", str(tmp_path / "o3")])
    assert code == 2 and "--post-ct" in capsys.readouterr().err


def test_plan_ablation_command(mask_files, tmp_path, capsys):
    table = tmp_path / "device.csv"
    table.write_text("power_w,time_s,length_mm,diameter_mm,tip_to_centre_mm\n100,300,40,30,5\n")
    out = tmp_path / "plan"
    code = main(["--quiet", "plan-ablation", "--tumor", str(mask_files["tumor"]),
                 "--device-table", str(table), "--applicator", "0,0,5,0,0,1,100,300", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["minimal_margin_mm"] == pytest.approx(15.0 - 8.5, abs=0.5)
    assert res["plan_covers_margin_mm"]["5"] is True and res["plan_covers_margin_mm"]["10"] is False
    zone = read_image(out / "predicted_zone.nii.gz")
    assert zone.array.max() == pytest.approx(1.0)
    assert (out / "report.html").exists() and (out / "margin_map.nii.gz").exists()
    code = main(["plan-ablation", "--tumor", str(mask_files["tumor"]), "--device-table", str(table),
                 "--applicator", "0,0,5,0,0,1,90,300", "-o", str(tmp_path / "plan2")])
    assert code == 2 and "no row for 90 W" in capsys.readouterr().err
