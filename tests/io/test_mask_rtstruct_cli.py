"""``workstation mask MASK --image IMG --rtstruct -o OUT.dcm``: a label image as an RT Structure Set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.io.dicom_factory import write_single_frame_series
from workstation.cli import main
from workstation.core import Unit, affine_from_geometry
from workstation.io import read_image, read_mask, write_image


def test_mask_to_rtstruct_and_back(tmp_path: Path, rng: np.random.Generator,
                                   oblique_direction: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    affine = affine_from_geometry([-20.0, -30.0, 50.0], [2.5, 1.1, 0.9], oblique_direction)
    write_single_frame_series(tmp_path / "ct", rng.normal(0, 20, (8, 22, 26)), affine)
    ct = read_image(tmp_path / "ct")
    labels = np.zeros(ct.shape, np.uint8)
    labels[1:7, 3:15, 4:20] = 1
    labels[2:5, 16:20, 6:12] = 2
    write_image(ct.copy_with(array=labels, units=Unit.LABEL), tmp_path / "labels.nii.gz")
    out = tmp_path / "rs.dcm"
    assert main(["--quiet", "mask", str(tmp_path / "labels.nii.gz"), "--image", str(tmp_path / "ct"),
                 "--rtstruct", "-o", str(out)]) == 0
    back = read_mask(out, reference=ct)
    assert np.array_equal(back.array, labels)
    assert main(["mask", str(tmp_path / "labels.nii.gz"), "--rtstruct", "-o", str(tmp_path / "x.nii.gz")]) == 2
    assert ".dcm" in capsys.readouterr().err
    assert main(["mask", str(tmp_path / "labels.nii.gz"), "--rtstruct", "-o", str(tmp_path / "x.dcm")]) == 2
    assert "--image" in capsys.readouterr().err
