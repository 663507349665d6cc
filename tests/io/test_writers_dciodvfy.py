"""Every RTDOSE and SEG the project writes passes dicom3tools' ``dciodvfy`` with no error.

Warnings are allowed. The ones left, with reasons:

* "Missing attribute or value that would be needed to build DICOMDIR - Patient
  ID / Study ID": synthetic references without those values; real headers
  carry them and they are copied.
* RTDOSE "Unrecognized defined term <PLAN_OVERVIEW>": dicom3tools 2022 predates
  the term in its table of defined terms, yet it is the only Dose Summation
  Type with no conditional reference (see ``workstation.io.rtdose``), and
  dciodvfy's own condition checks accept it.

dciodvfy (2022) aborts on 32-bit pixel data, so the 32-bit RT Dose variant is
not validated here (see ``write_rtdose``; 16 bit is the default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.io.dicom_factory import write_nm_multiframe, write_single_frame_series
from tests.io.mask_factory import dcmread_strict
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.io.dicom import read_dicom_image
from workstation.io.rtdose import write_rtdose
from workstation.io.seg import write_seg

DCIODVFY = shutil.which("dciodvfy")

# Skip only on a developer machine without dicom3tools; in CI a missing dciodvfy fails.
pytestmark = pytest.mark.skipif(
    DCIODVFY is None and not os.environ.get("CI"), reason="dciodvfy (dicom3tools) is not installed"
)


def _errors(path: Path) -> list[str]:
    if DCIODVFY is None:
        pytest.fail("dciodvfy (Debian package dicom3tools) is required in CI but is not installed.")
    run = subprocess.run(
        [DCIODVFY, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    output = (run.stdout + run.stderr).splitlines()
    # dciodvfy aborts (assertion, unreadable file) without "Error" lines: treat as failure.
    assert not any(line.startswith(("Abort", "dciodvfy:")) for line in output), output
    return [line for line in output if line.startswith("Error")]


@pytest.fixture
def ct(tmp_path: Path, rng: np.random.Generator, oblique_direction: np.ndarray) -> Volume:
    affine = affine_from_geometry([-40.0, -55.0, 90.0], [3.0, 1.5, 1.2], oblique_direction)
    write_single_frame_series(tmp_path / "ct", rng.normal(0, 30, (6, 20, 22)), affine)
    return read_dicom_image(tmp_path / "ct")


def test_rtdose_with_dicom_reference(tmp_path: Path, ct: Volume, rng: np.random.Generator) -> None:
    dose = ct.copy_with(array=rng.uniform(0, 90, ct.shape).astype(np.float32), units=Unit.GY)
    path = write_rtdose(dose, tmp_path / "dose.dcm", reference=ct)
    dcmread_strict(path.read_bytes())
    assert _errors(path) == []


def test_rtdose_without_reference(tmp_path: Path, rng: np.random.Generator) -> None:
    dose = Volume(
        rng.uniform(0, 300, (4, 5, 6)).astype(np.float32),
        affine_from_geometry([0.0, 0.0, 0.0], [4.0, 4.0, 4.0]),
        units=Unit.GY,
    )
    path = write_rtdose(dose, tmp_path / "dose.dcm")
    dcmread_strict(path.read_bytes())
    assert _errors(path) == []


def test_seg_on_ct(tmp_path: Path, ct: Volume) -> None:
    arr = np.zeros(ct.shape, np.uint8)
    arr[1:5, 3:15, 4:18] = 1
    arr[2:4, 6:9, 7:10] = 2
    labels = ct.copy_with(array=arr, units=Unit.LABEL, label_names={1: "liver", 2: "lesion 1"})
    path = write_seg(labels, tmp_path / "seg.dcm", ct)
    dcmread_strict(path.read_bytes())
    assert _errors(path) == []


def test_seg_on_nm(tmp_path: Path, rng: np.random.Generator) -> None:
    nm = read_dicom_image(
        write_nm_multiframe(
            tmp_path / "nm.dcm",
            rng.uniform(0, 100, (8, 16, 16)),
            [-30.0, -30.0, -20.0],
            [1, 0, 0, 0, 1, 0],
            [4.0, 4.0],
            4.0,
        )
    )
    arr = np.zeros(nm.shape, np.uint8)
    arr[2:5, 4:9, 5:10] = 1
    path = write_seg(
        nm.copy_with(array=arr, units=Unit.LABEL, label_names={1: "uptake"}), tmp_path / "s.dcm", nm
    )
    dcmread_strict(path.read_bytes())
    assert _errors(path) == []
