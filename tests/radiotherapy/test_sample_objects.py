"""The RT objects of the sample studies: valid DICOM (dciodvfy), readable plans."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from workstation.radiotherapy import read_plan_dose, read_rtplan
from workstation.samples import RT_FOLDERS, sample_data_dir


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_rt_objects_pass_dciodvfy() -> None:
    failures = {}
    for case, folders in RT_FOLDERS.items():
        for folder in folders:
            for path in sorted((sample_data_dir() / case / folder).glob("*.dcm")):
                run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
                errors = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("Error")]
                if errors:
                    failures[f"{case}/{folder}/{path.name}"] = errors
    assert failures == {}


def test_sample_plans_and_doses_read() -> None:
    root = sample_data_dir()
    sbrt = read_rtplan(root / "sbrt" / "rt" / "RP.dcm")
    assert (sbrt.kind, sbrt.fractions, sbrt.prescription_gy, sbrt.beams) == ("external", 3, 45.0, 2)
    assert sbrt.dose_per_fraction_gy == pytest.approx(15.0)
    hdr = read_rtplan(root / "hdr" / "rt" / "RP.dcm")
    assert (hdr.kind, hdr.fractions, hdr.prescription_gy) == ("brachy", 1, 20.0)
    assert hdr.brachy is not None and hdr.brachy.sources[0].isotope == "IR192"
    assert hdr.brachy.technique == "INTERSTITIAL" and hdr.brachy.treatment_type == "HDR"
    dose = read_plan_dose(root / "sbrt" / "rt" / "RD.dcm")
    assert dose.summation_type == "PLAN" and dose.referenced_plan_uids == [sbrt.sop_instance_uid]
