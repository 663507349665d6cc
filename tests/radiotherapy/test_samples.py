"""The sbrt and hdr sample studies: known DVHs recovered from the DICOM files, reports, EQD2 sum.

Tolerances. The known DVH values are the analytic dose at the CT voxel centres; rt-dose
reads the 16-bit RT Dose on a 3 mm grid and interpolates it trilinearly onto the CT.
Trilinear interpolation errs by at most sum_i h_i^2/8 max|D''|: in the SBRT penumbra
(s = 4 mm, D0 = 56 Gy) that is about 2.8 Gy at a point, and D_x values (quantiles over
many voxels) move by less: 3 % of the prescription. The HDR dose varies as 1/r^2 near
the dwell positions, which a 3 mm grid does not resolve; coverage metrics (D90, D98,
D100, V100, V150), set at the target edge 5-15 mm from the sources, are compared (3 %).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from workstation.cli import main
from workstation.io import read_image
from workstation.radiotherapy import run_combine, run_rt_dose
from workstation.samples import sample_data_dir

pytestmark = pytest.mark.slow


def _truth(case: str) -> dict:
    return json.loads((sample_data_dir() / case / "ground_truth" / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sbrt():
    d = sample_data_dir() / "sbrt"
    return run_rt_dose(d / "rt" / "RD.dcm", plan=d / "rt" / "RP.dcm", structures=d / "rt" / "RS.dcm",
                       ct=read_image(d / "ct"))


@pytest.fixture(scope="module")
def hdr():
    d = sample_data_dir() / "hdr"
    return run_rt_dose(d / "rt" / "RD.dcm", plan=d / "rt" / "RP.dcm", structures=d / "rt" / "RS.dcm",
                       ct=read_image(d / "ct"))


def test_sbrt_known_dvh(sbrt) -> None:
    truth = _truth("sbrt")
    rx = truth["prescription_gy"]
    r = sbrt.results
    assert r["prescription_gy"] == rx and r["fractions"] == truth["fractions"] and r["kind"] == "external"
    for roi, known in truth["known_dvh"].items():
        got = r["rois"][roi]
        assert got["volume_ml"] == pytest.approx(known["volume_ml"], rel=1e-9), roi  # contours round-trip exactly
        for key in ("mean_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy"):
            assert got[key] == pytest.approx(known[key], abs=0.03 * rx), (roi, key)
        for key in ("v100_percent", "v95_percent"):
            assert got[key] == pytest.approx(known[key], abs=3.0), (roi, key)
    assert r["conformity"]["target"] == "PTV" and 0.8 < r["conformity"]["paddick"] <= 1.0
    assert all(c["passed"] for c in r["constraints"])
    # EQD2 at alpha/beta 10 in the PTV: 3 fractions of d -> d (d + 10) / 12 per fraction
    eqd2_mean = r["rois"]["PTV"]["eqd2_mean_gy"]
    assert r["rois"]["PTV"]["alpha_beta_gy"] == 10.0
    assert eqd2_mean > r["rois"]["PTV"]["mean_gy"]


def test_hdr_known_dvh_and_plan(hdr) -> None:
    truth = _truth("hdr")
    rx = truth["prescription_gy"]
    r = hdr.results
    assert r["kind"] == "brachy" and r["fractions"] == 1 and r["prescription_gy"] == rx
    known = truth["known_dvh"]["CTV"]
    got = r["rois"]["CTV"]
    for key in ("d90_gy", "d98_gy", "d100_gy"):
        assert got[key] == pytest.approx(known[key], abs=0.03 * rx), key
    for key in ("v100_percent", "v150_percent"):
        assert got[key] == pytest.approx(known[key], abs=3.0), key
    liver = r["rois"]["Liver - GTV"]
    assert liver["mean_gy"] == pytest.approx(truth["known_dvh"]["Liver - GTV"]["mean_gy"], abs=0.03 * rx)
    brachy = r["plan"]["brachy"]
    assert brachy["channels"] == 3 and brachy["dwell_positions"] == 18
    assert brachy["total_dwell_time_s"] == pytest.approx(truth["brachy"]["total_dwell_time_s"], rel=1e-8)
    assert brachy["trak_ugy_at_1m_per_fraction"] == pytest.approx(truth["brachy"]["trak_ugy_at_1m"], rel=1e-6)


def test_rt_dose_cli_writes_the_report(tmp_path: Path) -> None:
    d = sample_data_dir() / "sbrt"
    out = tmp_path / "rt"
    code = main(["--quiet", "rt-dose", "--dose", str(d / "rt" / "RD.dcm"), "--plan", str(d / "rt" / "RP.dcm"),
                 "--structures", str(d / "rt" / "RS.dcm"), "--ct", str(d / "ct"), "-o", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["outputs"]["report"] == "full report"
    for name in ("report.html", "report.pdf", "dvh.csv", "eqd2.nii.gz", "dose.nii.gz", "rtdose_eqd2.dcm"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert html.index("Summary") < html.index("Dose-volume histograms") < html.index("Constants and their sources")
    if shutil.which("dciodvfy"):
        run = subprocess.run(["dciodvfy", str(out / "rtdose_eqd2.dcm")], capture_output=True, text=True, check=False)
        assert not [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("Error")]


def test_combine_sbrt_and_hdr_in_eqd2(tmp_path: Path) -> None:
    """Two treatments of one patient summed on the SBRT CT (identity transform between the studies)."""
    root = sample_data_dir()
    ct = read_image(root / "sbrt" / "ct")
    result = run_combine(
        [f"sbrt={root / 'sbrt' / 'rt' / 'RD.dcm'}:ebrt:3", f"hdr={root / 'hdr' / 'rt' / 'RD.dcm'}:hdr:1"],
        ct, transforms={"hdr": str(root / "hdr" / "ground_truth" / "to_sbrt.tfm")},
        structures=root / "sbrt" / "rt" / "RS.dcm",
    )
    np.testing.assert_allclose(result.total.array, result.parts["sbrt"].array + result.parts["hdr"].array,
                               rtol=1e-6, atol=1e-5)
    liver = result.results["rois"]["Liver"]
    assert liver["total"]["mean_gy"] == pytest.approx(liver["sbrt"]["mean_gy"] + liver["hdr"]["mean_gy"], rel=1e-5)
    # the HDR target lies in this CT too (same anatomy): 20 Gy or more in one fraction is EQD2 >= 20 (20 + ab)/(2 + ab)
    hdr_ctv = read_image(root / "hdr" / "ground_truth" / "ctv.nii.gz").array > 0
    ab = 2.5  # liver alpha/beta: the HDR CTV lies inside the SBRT "Liver" structure
    d = 20.0
    assert float(np.median(result.parts["hdr"].array[hdr_ctv])) > d * (d + ab) / (2 + ab) * 0.9
