"""``workstation mask``: MASK → label image or SEG; bad masks give exit 2 and write nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.io.dicom_factory import write_single_frame_series
from tests.io.mask_factory import circle, dicom_reference, write_rtstruct
from workstation.cli import main
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.io import read_image, read_mask, write_image


@pytest.fixture
def ct_dir(tmp_path: Path, rng: np.random.Generator) -> Path:
    affine = affine_from_geometry([-20.0, -20.0, 0.0], [2.0, 1.0, 1.0])
    write_single_frame_series(tmp_path / "ct", rng.normal(0, 10, (6, 40, 40)), affine)
    return tmp_path / "ct"


def test_rtstruct_to_nifti_and_seg(
    tmp_path: Path, ct_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct = read_image(ct_dir)
    contour = circle(ct.index_to_world([3, 20, 20]), 8.0)
    rs = write_rtstruct(tmp_path / "rs.dcm", dicom_reference(ct), {"Lesion": [contour]})
    out = tmp_path / "out" / "lesion.nii.gz"
    assert main(["mask", f"{rs}#Lesion", "--image", str(ct_dir), "-o", str(out)]) == 0
    written = read_image(out)
    assert written.same_grid(ct, atol_mm=1e-4)
    assert abs(int(written.array.sum()) - np.pi * 64) < 2 * np.pi * 8 * np.sqrt(2) / 2
    seg = tmp_path / "out" / "lesion.dcm"
    assert main(["mask", str(out), "--image", str(ct_dir), "-o", str(seg)]) == 0
    np.testing.assert_array_equal(read_mask(seg, reference=ct).array, written.array)


def test_disjoint_mask_exit_2_and_nothing_written(
    tmp_path: Path, ct_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    far = Volume(
        np.ones((3, 3, 3), np.uint8),
        affine_from_geometry([400.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
        units=Unit.LABEL,
    )
    mask_path = write_image(far, tmp_path / "far.nii.gz")
    out = tmp_path / "out" / "m.nii.gz"
    assert main(["mask", str(mask_path), "--image", str(ct_dir), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "far.nii.gz does not overlap the image" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_unknown_segment_exit_2(
    tmp_path: Path, ct_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct = read_image(ct_dir)
    rs = write_rtstruct(
        tmp_path / "rs.dcm", dicom_reference(ct), {"Liver": [circle([0, 0, 4.0], 5)]}
    )
    assert (
        main(["mask", f"{rs}#Spleen", "--image", str(ct_dir), "-o", str(tmp_path / "x.nii.gz")])
        == 2
    )
    assert "no segment named 'Spleen'; available: 'Liver'" in capsys.readouterr().err


def test_seg_output_needs_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_image(
        Volume(np.ones((2, 2, 2), np.uint8), np.eye(4), units=Unit.LABEL), tmp_path / "m.nii.gz"
    )
    assert main(["mask", str(path), "-o", str(tmp_path / "m.dcm")]) == 2
    assert "needs --image" in capsys.readouterr().err
    assert not (tmp_path / "m.dcm").exists()
