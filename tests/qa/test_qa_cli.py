"""`workstation qa`: bundled phantom passes; a user's phantom with a wrong sphere fails clearly."""

from __future__ import annotations

import json

import pytest

from tests.qa.conftest import BACKGROUND_BQML, SPHERE_BQML, make_phantom
from workstation.cli import main
from workstation.io import write_image


@pytest.mark.slow
def test_qa_on_bundled_phantom_passes(tmp_path, capsys) -> None:
    out = tmp_path / "qa"
    assert main(["qa", "-o", str(out)]) == 0
    qa = json.loads((out / "qa.json").read_text())
    assert qa["passed"] is True
    assert {p["name"] for p in qa["phantoms"]} == {"bundled NEMA PET", "bundled NEMA SPECT"}
    # physics self-checks are part of the table
    assert any(r["group"] == "physics" for r in qa["table"])
    for ph in qa["phantoms"]:
        # dose recovery of the largest sphere: the VSV dose of the blurred image against
        # that of the ideal phantom; blur loses activity from the sphere, so it is below 1
        big = ph["spheres"][-1]
        assert 0.5 < big["dose_recovery"] < 1.05
    html = (out / "report.html").read_text()
    assert "Recovery coefficient per sphere" in html and "data:image/png;base64," in html
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_qa_user_phantom_with_misplaced_sphere_fails(tmp_path, capsys) -> None:
    vol, _ = make_phantom(sphere_shift_mm={37.0: (12.0, 8.0, 0.0)})
    img = tmp_path / "phantom.nii.gz"
    write_image(vol, img)
    code = main(["qa", "--no-physics", "--phantom", str(img), "--sphere-concentration",
                 str(SPHERE_BQML), "--background", str(BACKGROUND_BQML), "-o", str(tmp_path / "out")])
    assert code == 3
    text = capsys.readouterr().out
    assert "FAIL" in text and "37 mm sphere" in text
    qa = json.loads((tmp_path / "out" / "qa.json").read_text())
    assert qa["passed"] is False


def test_qa_phantom_without_concentrations_is_usage_error(tmp_path, capsys) -> None:
    code = main(["qa", "--phantom", str(tmp_path / "x.nii.gz"), "-o", str(tmp_path / "o")])
    assert code == 2
    assert "--sphere-concentration" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
