"""RT Plan reading, the rt-dose workflow on synthetic data (no CT), errors, combine and the viewer hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.radiotherapy.rt_factory import write_external_plan, write_rtdose
from workstation.cli import main
from workstation.core import InvalidInputError, Unit, Volume
from workstation.io import write_image
from workstation.radiotherapy import (
    dose_layers,
    parse_dose_spec,
    read_plan_dose,
    read_rtplan,
    run_rt_dose,
    write_rt_dose_outputs,
)

CENTRE = np.array([0.0, 0.0, 0.0])


def sphere_dose(p: np.ndarray) -> np.ndarray:
    """Uniform 50 Gy in a 15 mm ball with a 3 mm linear edge, 0 outside 18 mm."""
    r = np.linalg.norm(p - CENTRE, axis=-1)
    return 50.0 * np.clip((18.0 - r) / 3.0, 0.0, 1.0)


def _grid_kwargs() -> dict:
    return {"ipp": (-30.0, -30.0, -30.0), "spacing_frc": (1.5, 1.5, 1.5), "shape": (41, 41, 41)}


def test_plan_prescription_fractions_and_derived_prescription(tmp_path: Path) -> None:
    write_external_plan(tmp_path / "RP1.dcm", fractions=5, prescription_gy=40.0)
    plan = read_rtplan(tmp_path / "RP1.dcm")
    assert (plan.kind, plan.fractions, plan.prescription_gy, plan.beams) == ("external", 5, 40.0, 5)
    assert plan.dose_per_fraction_gy == pytest.approx(8.0)
    write_external_plan(tmp_path / "RP2.dcm", fractions=3, prescription_gy=None, beams=2, beam_dose_gy=7.5)
    plan2 = read_rtplan(tmp_path / "RP2.dcm")
    assert plan2.prescription_gy == pytest.approx(45.0) and plan2.prescription_source.startswith("derived")
    write_external_plan(tmp_path / "RP3.dcm", fractions=3, prescription_gy=None)
    assert read_rtplan(tmp_path / "RP3.dcm").prescription_gy is None
    with pytest.raises(InvalidInputError):
        read_rtplan(tmp_path / "missing.dcm")


def _masks(tmp_path: Path, reference: Volume) -> dict[str, str]:
    pts = reference.index_to_world(np.argwhere(np.ones(reference.shape, bool))).reshape(*reference.shape, 3)
    r = np.linalg.norm(pts - CENTRE, axis=-1)
    specs = {}
    for name, mask in (("PTV", r <= 15.0), ("Liver", r <= 28.0)):
        path = tmp_path / f"{name}.nii.gz"
        write_image(Volume(mask.astype(np.uint8), reference.affine, units=Unit.LABEL), path)
        specs[name] = str(path)
    return specs


def test_rt_dose_on_the_dose_grid(tmp_path: Path) -> None:
    dose_path = write_rtdose(tmp_path / "RD.dcm", sphere_dose, **_grid_kwargs())
    plan_path = tmp_path / "RP.dcm"
    write_external_plan(plan_path, fractions=5, prescription_gy=50.0)
    reference = read_plan_dose(dose_path).dose
    result = run_rt_dose(dose_path, plan=plan_path, rois=_masks(tmp_path, reference))
    r = result.results
    ptv = r["rois"]["PTV"]
    # the PTV is inside the 50 Gy plateau: every D_x is 50 Gy (16-bit step 50/65535)
    for key in ("d98_gy", "d95_gy", "d50_gy", "d2_gy", "mean_gy"):
        assert ptv[key] == pytest.approx(50.0, abs=1e-3)
    assert ptv["v100_percent"] == pytest.approx(100.0)
    # EQD2 with alpha/beta 10 (target): 5 x 10 Gy -> 50 (10 + 10) / 12 = 83.33 Gy
    assert ptv["eqd2_mean_gy"] == pytest.approx(50 * 20 / 12, rel=1e-4)
    assert r["rois"]["Liver"]["alpha_beta_gy"] == 2.5
    # the liver is liver in every voxel, the PTV inside it included: its EQD2 uses alpha/beta 2.5
    # throughout (LQ: EQD2 = D (D/n + a/b) / (2 + a/b), n = 5), not the target's 10 where they overlap
    dose = np.asarray(result.dose.array, dtype=np.float64)
    liver = np.linalg.norm(reference.index_to_world(np.argwhere(np.ones(reference.shape, bool))), axis=1)
    liver = (liver <= 28.0).reshape(reference.shape)
    expected = float(np.mean((dose * (dose / 5 + 2.5) / (2 + 2.5))[liver]))
    assert r["rois"]["Liver"]["eqd2_mean_gy"] == pytest.approx(expected, rel=1e-5)
    # Paddick: PIV = the ball of radius ~15 mm plus part of the ramp; TV inside it
    assert 0.5 < r["conformity"]["paddick"] <= 1.0
    assert r["conformity"]["target"] == "PTV"
    assert [c["name"] for c in r["constraints"]] == ["liver_critical_volume", "mean_normal_liver_dose"]
    out = tmp_path / "out"
    write_rt_dose_outputs(result, out)
    results = json.loads((out / "results.json").read_text())
    assert results["radiobiology"]["scheme"]["fractions"] == 5
    layers = dose_layers(out)
    assert set(layers) == {"dose", "eqd2"} and layers["eqd2"].units == Unit.GY
    np.testing.assert_allclose(layers["dose"].array, result.dose.array, rtol=1e-6)
    rows = (out / "dvh.csv").read_text().splitlines()
    assert rows[0] == "quantity,roi,dose_gy,volume_percent" and any(r.startswith("eqd2,PTV,") for r in rows)


def test_cli_exit_code_2_for_a_relative_dose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dose_path = write_rtdose(tmp_path / "RD.dcm", sphere_dose, units="RELATIVE", **_grid_kwargs())
    code = main(["rt-dose", "--dose", str(dose_path), "--fractions", "3", "-o", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "RELATIVE" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_rt_dose_without_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dose_path = write_rtdose(tmp_path / "RD.dcm", sphere_dose, **_grid_kwargs())
    reference = read_plan_dose(dose_path).dose
    rois = _masks(tmp_path, reference)
    code = main(["--quiet", "rt-dose", "--dose", str(dose_path), "--prescription-gy", "50", "--fractions", "5",
                 "--roi", f"PTV={rois['PTV']}", "--alpha-beta", "PTV=3", "-o", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    assert r["rois"]["PTV"]["alpha_beta_gy"] == 3.0
    assert r["rois"]["PTV"]["eqd2_mean_gy"] == pytest.approx(50 * 13 / 5, rel=1e-4)


def test_combine_cli_and_spec_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dose_path = write_rtdose(tmp_path / "RD.dcm", sphere_dose, **_grid_kwargs())
    reference = read_plan_dose(dose_path).dose
    ct = tmp_path / "ct.nii.gz"
    write_image(reference.copy_with(array=np.zeros(reference.shape, np.int16), units=Unit.HU), ct)
    sirt = tmp_path / "sirt.nii.gz"
    write_image(reference.copy_with(array=np.full(reference.shape, 100.0, np.float32), units=Unit.GY), sirt)
    rois = _masks(tmp_path, reference)
    code = main(["--quiet", "combine", "--dose", f"sbrt={dose_path}:ebrt:5", "--dose", f"sirt={sirt}:sirt:Y-90",
                 "--ct", str(ct), "--roi", f"PTV={rois['PTV']}", "-o", str(tmp_path / "sum")])
    assert code == 0, capsys.readouterr().err
    r = json.loads((tmp_path / "sum" / "results.json").read_text())
    assert [t["name"] for t in r["treatments"]] == ["sbrt", "sirt"]
    layers = dose_layers(tmp_path / "sum")
    assert set(layers) == {"eqd2_total", "eqd2_sbrt", "eqd2_sirt"}
    np.testing.assert_allclose(layers["eqd2_total"].array, layers["eqd2_sbrt"].array + layers["eqd2_sirt"].array,
                               rtol=1e-5, atol=1e-4)
    for bad in ("sbrt=RD.dcm", "=RD.dcm:ebrt:3", "x=RD.dcm:proton:3", "x=RD.dcm:ebrt:three"):
        with pytest.raises(InvalidInputError):
            parse_dose_spec(bad)
    assert parse_dose_spec("a=/p/RD.dcm:sirt:Ho-166")[2].nuclide == "Ho-166"
