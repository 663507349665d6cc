"""The ``sirt``, ``kernel`` and ``plan`` commands end to end on a synthetic SPECT/CT liver phantom."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from workstation.cli import main
from workstation.core import Volume
from workstation.dosimetry.pipeline import run_sirt
from workstation.io import write_image

F_LDM = 49.67


def _write(tmp: Path, phantom: dict[str, Volume]) -> dict[str, str]:
    paths = {}
    for name, vol in phantom.items():
        p = tmp / f"{name}.nii.gz"
        write_image(vol, p)
        paths[name] = str(p)
    return paths


def _expected_ldm(phantom: dict[str, Volume], administered: float, lsf: float) -> np.ndarray:
    counts = np.clip(phantom["spect"].array.astype(np.float64), 0, None)
    region = (phantom["liver"].array > 0) | (phantom["lesions"].array > 0)
    scale_bq = administered * (1 - lsf) * 1e9 / counts[region].sum()
    voxel_kg = phantom["spect"].voxel_volume_ml * 1.03e-3  # at the default 1.03 g/mL
    return counts * scale_bq * 1e-9 * F_LDM / voxel_kg


def test_sirt_cli_outputs_and_values(tmp_path: Path, liver_phantom: dict[str, Volume], capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, liver_phantom)
    out = tmp_path / "out"
    code = main([
        "--quiet", "sirt", "--activity", p["spect"], "--activity-units", "counts", "--ct", p["ct"],
        "--roi", f"liver={p['liver']}", "--roi", f"lesions={p['lesions']}", "--roi", f"lungs={p['lungs']}",
        "--administered-gbq", "2.5", "--lung-shunt", "0.06", "--method", "all", "-o", str(out),
    ])
    assert code == 0, capsys.readouterr().err
    for name in ("dose_ldm.nii.gz", "dose_vsv.nii.gz", "dose_vsv-density.nii.gz", "dvh.csv", "results.json",
                 "report.html", "report.pdf"):
        assert (out / name).is_file(), name
    assert not list(out.glob("rtdose_*.dcm"))  # NIfTI inputs: no DICOM reference
    r = json.loads((out / "results.json").read_text())
    assert r["outputs"]["report"].startswith("full report")  # not the minimal fallback
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert r["nuclide"] == "Y-90"
    assert r["constants"]["ldm_gy_kg_per_gbq"] == F_LDM and r["constants"]["sources"]
    assert r["activity"]["calibration"] == "administered"
    assert r["activity"]["administered_gbq"] == 2.5 and r["activity"]["lung_shunt_fraction"] == 0.06
    assert set(r["methods"]) == {"ldm", "vsv", "vsv-density"}
    liver = r["methods"]["ldm"]["rois"]["liver"]
    for key in ("volume_ml", "mass_g", "mean_gy", "min_gy", "max_gy", "d2_gy", "d50_gy", "d70_gy", "d90_gy", "d95_gy", "d98_gy"):
        assert isinstance(liver[key], float), key
    assert set(liver["v_gy_percent"]) == {"20", "40", "70", "100", "120", "205"}
    # per-label lesion ROIs and the derived normal liver
    assert {"lesions_1", "lesions_2", "normal_liver"} <= set(r["methods"]["ldm"]["rois"])
    # LDM means equal the analytic calibration (same grid: exact up to float32)
    exp = _expected_ldm(liver_phantom, 2.5, 0.06)
    for roi, mask in (("liver", liver_phantom["liver"].array > 0), ("lesions_1", liver_phantom["lesions"].array == 1)):
        assert r["methods"]["ldm"]["rois"][roi]["mean_gy"] == pytest.approx(exp[mask].mean(), rel=1e-4)
    # TNR: lesion union vs normal liver concentration, about (400*n1 + 200*n2)/(n1+n2)/100
    assert 2.0 < r["tumor_to_normal_ratio"] < 4.0
    # LDM: lung voxels at their CT density (-800 HU -> 0.207 g/mL, Schneider 2000 table)
    assert r["methods"]["ldm"]["lung_density"].startswith("CT")
    lungs_mask = liver_phantom["lungs"].array > 0
    assert r["methods"]["ldm"]["rois"]["lungs"]["mean_gy"] == pytest.approx(
        float((exp[lungs_mask] * 1.03 / (0.00121 + 200 / 902 * (0.93 - 0.00121))).mean()), rel=1e-3
    )
    # lung formula: 49.67 * 2.5 * 0.06 / M_lung (lung ROI mass from CT densities at -800 HU)
    lung = r["lung"]
    assert lung["lung_mass_source"].startswith("lung ROI")
    assert lung["formula_mean_gy"] == pytest.approx(F_LDM * 2.5 * 0.06 / (lung["lung_mass_g"] / 1000), rel=1e-9)
    # VSV spills about 5 % of the energy of a 40 mm ball across its surface (absorbed
    # fraction ~0.95 for 90Y, cf. test_engines sphere test), so its mean is lower
    means = {m: r["methods"][m]["rois"]["liver"]["mean_gy"] for m in r["methods"]}
    assert 0.90 * means["ldm"] < means["vsv"] < means["ldm"]
    # the engines deposit the emitted energy inside the image, except what the noise
    # voxels at the image border send out of it (< 0.5 %)
    assert r["methods"]["ldm"]["energy_deposited_fraction"] == pytest.approx(1.0, abs=1e-6)
    assert r["methods"]["vsv"]["energy_deposited_fraction"] == pytest.approx(1.0, abs=5e-3)
    with open(out / "dvh.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["method", "roi", "dose_gy", "volume_percent"]
    first = [row for row in rows if row["method"] == "vsv" and row["roi"] == "liver"]
    assert float(first[0]["volume_percent"]) == pytest.approx(100.0)


def test_sirt_dose_grid_ct(tmp_path: Path, liver_phantom: dict[str, Volume]) -> None:
    p = _write(tmp_path, liver_phantom)
    out = tmp_path / "out"
    code = main([
        "--quiet", "sirt", "--activity", p["spect"], "--activity-units", "counts", "--ct", p["ct"],
        "--roi", f"liver={p['liver']}", "--administered-gbq", "2.0", "--method", "ldm",
        "--dose-grid", "ct", "-o", str(out),
    ])
    assert code == 0
    from workstation.io import read_image

    dose = read_image(out / "dose_ldm.nii.gz")
    assert dose.shape == liver_phantom["ct"].shape


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_overlap", "do not overlap"),
        ("empty_roi", "empty"),
        ("no_administered", "administered"),
        ("bad_nuclide", "Unknown nuclide"),
        ("density_without_ct", "needs a CT"),
    ],
)
def test_sirt_bad_input_exit_2(
    tmp_path: Path, liver_phantom: dict[str, Volume], capsys: pytest.CaptureFixture[str], change: str, message: str
) -> None:
    ph = dict(liver_phantom)
    if change == "no_overlap":
        ct = ph["ct"]
        aff = ct.affine.copy()
        aff[:3, 3] += 1000.0
        ph["ct"] = ct.copy_with(affine=aff)
    if change == "empty_roi":
        ph["liver"] = ph["liver"].copy_with(array=np.zeros_like(ph["liver"].array))
    p = _write(tmp_path, ph)
    args = ["--quiet", "sirt", "--activity", p["spect"], "--activity-units", "counts",
            "--roi", f"liver={p['liver']}", "-o", str(tmp_path / "out")]
    if change != "density_without_ct":
        args += ["--ct", p["ct"]]
    else:
        args += ["--method", "vsv-density"]
    if change != "no_administered":
        args += ["--administered-gbq", "2.0"]
    if change == "bad_nuclide":
        args += ["--nuclide", "Lu-177"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_run_sirt_quantitative_pet(liver_phantom: dict[str, Volume]) -> None:
    """A quantitative image keeps its activity (no scaling), and is reported as such."""
    from workstation.core import Unit

    pet = liver_phantom["spect"].copy_with(units=Unit.BQML)
    res = run_sirt(pet, rois={"liver": liver_phantom["liver"]}, method="ldm")
    r = res.results
    assert r["activity"]["calibration"] == "quantitative"
    total = float(np.clip(pet.array, 0, None).sum() * pet.voxel_volume_ml * 1e-9)
    assert r["activity"]["total_in_image_gbq"] == pytest.approx(total, rel=1e-5)


def test_kernel_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k.npy"
    assert main(["kernel", "--nuclide", "Y-90", "--spacing", "4", "4", "2", "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    k = np.load(out)
    assert list(k.shape) == info["shape"] and info["spacing_mm"] == [2.0, 4.0, 4.0]  # z, y, x
    assert k[tuple(s // 2 for s in k.shape)] == pytest.approx(info["centre_value"])
    assert info["energy_closure"] >= 0.99 and info["unit"] == "mGy/(MBq*s)"
    assert main(["kernel", "--nuclide", "I-131", "--spacing", "4", "4", "4"]) == 2


def test_plan_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", "mird", "--target-gy", "120", "--liver-ml", "1500", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["prescribed_activity_gbq"] == pytest.approx(120 * 1.5 * 1.03 / F_LDM)
    assert main(["plan", "--model", "partition", "--territory", "R:100:900:3", "--territory", "L:0:400:1",
                 "--target-normal-gy", "40", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["model"] == "multi-compartment" and len(plan["territories"]) == 2
    assert main(["plan", "--model", "bsa", "--height-cm", "170"]) == 2
    assert "--weight-kg" in capsys.readouterr().err


def test_sirt_dicom_pet_writes_rtdose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DICOM PET input (Bq/mL, decay corrected to the scan start) gives RTDOSE files referencing it."""
    import pydicom

    from tests.io.dicom_factory import write_single_frame_series
    from workstation.core import affine_from_geometry
    from workstation.io import read_image

    values = np.zeros((12, 16, 16))
    values[3:9, 4:12, 4:12] = 5.0e5  # Bq/mL
    affine = affine_from_geometry([-30.0, -30.0, 10.0], [4.0, 4.0, 4.0])
    write_single_frame_series(tmp_path / "pet", values, affine, modality="PT",
                              pet={"total_dose_bq": 2.0e9, "decay_correction": "START"})
    out = tmp_path / "out"
    code = main(["--quiet", "sirt", "--activity", str(tmp_path / "pet"), "--method", "ldm,vsv", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert r["activity"]["calibration"] == "quantitative"
    assert r["activity"]["decay_factor"] >= 1.0
    for m in ("ldm", "vsv"):
        ds = pydicom.dcmread(out / f"rtdose_{m}.dcm")
        assert ds.Modality == "RTDOSE" and ds.DoseUnits == "GY"
        assert int(ds.NumberOfFrames) == 12 and (ds.Rows, ds.Columns) == (16, 16)
        dose = ds.pixel_array * float(ds.DoseGridScaling)
        nifti = np.asarray(read_image(out / f"dose_{m}.nii.gz").array)
        # 16-bit quantisation: half a step of max/65535
        assert np.abs(dose - nifti).max() <= 0.5 * float(ds.DoseGridScaling) + 1e-6 * nifti.max()
