"""Messages that point the way (issue 19, item 3): each "cannot be read" names what is
missing or wrong and the command or option that would help; exit 2, one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.dicom_factory import write_single_frame_series
from tests.io.fuzz_harness import run_cli
from tests.io.mask_factory import circle, dicom_reference, write_nrrd, write_rtstruct
from workstation.core import affine_from_geometry
from workstation.io import read_image

AFFINE = affine_from_geometry([-10.0, -10.0, 0.0], [2.0, 1.0, 1.0])


def _error(args: list[str]) -> str:
    result = run_cli(args)
    assert result.code == 2, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    return line


@pytest.fixture
def ct(tmp_path: Path, rng: np.random.Generator) -> Path:
    write_single_frame_series(tmp_path / "ct", rng.normal(30, 10, (4, 16, 16)).round(), AFFINE)
    return tmp_path / "ct"


def test_segment_syntax_given_to_convert_names_mask_syntax_and_the_command(tmp_path: Path) -> None:
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[1, 2:5, 2:5] = 1
    seg = write_nrrd(tmp_path / "liver.seg.nrrd", labels, np.eye(3), [0, 0, 0],
                     fields={"Segment0_Name": "Liver", "Segment0_LabelValue": "1", "Segment0_Layer": "0"})
    line = _error(["convert", f"{seg}#Liver", "-o", str(tmp_path / "out" / "x.nii.gz")])
    assert "'#Liver' selects a segment, which is MASK syntax" in line
    assert f"workstation mask {seg}#Liver -o OUT.nii.gz" in line
    assert "no such file" not in line


def test_missing_file_says_so_and_which_folder_is_missing(tmp_path: Path) -> None:
    line = _error(["convert", str(tmp_path / "nowhere" / "ct"), "-o", str(tmp_path / "x.nii.gz")])
    assert "no such file or folder" in line and "the folder" in line and "does not exist either" in line


def test_a_file_that_is_not_dicom_says_what_an_img_can_be(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    junk = tmp_path / "in" / "scan.dcm"
    junk.write_bytes(b"\x00" * 64)
    line = _error(["convert", str(junk), "-o", str(tmp_path / "x.nii.gz")])
    assert "is not a DICOM file" in line and ".nii/.nii.gz, .nrrd/.nhdr or .mha/.mhd" in line


def test_damaged_nifti_names_the_format_and_info(tmp_path: Path) -> None:
    bad = tmp_path / "ct.nii"
    bad.write_bytes(b"not a nifti header")
    line = _error(["convert", str(bad), "-o", str(tmp_path / "out.nii.gz")])
    assert "cannot be read as a NIfTI image" in line and "`workstation info FILE`" in line


def test_several_series_name_the_series_option(tmp_path: Path, rng: np.random.Generator) -> None:
    write_single_frame_series(tmp_path / "two", rng.normal(0, 1, (3, 8, 8)), AFFINE, prefix="A")
    write_single_frame_series(tmp_path / "two", rng.normal(0, 1, (3, 8, 8)), AFFINE, prefix="B")
    line = _error(["convert", str(tmp_path / "two"), "-o", str(tmp_path / "out.nii.gz")])
    assert "holds 2 image series; choose one with --series UID" in line


def test_a_seg_given_as_an_image_points_to_mask(tmp_path: Path, ct: Path) -> None:
    from workstation.core import Unit
    from workstation.io import write_seg

    image = read_image(ct)
    labels = image.copy_with(array=(image.array > 30).astype(np.uint8), units=Unit.LABEL)
    (tmp_path / "seg").mkdir()
    write_seg(labels, tmp_path / "seg" / "seg.dcm", image)
    line = _error(["convert", str(tmp_path / "seg"), "-o", str(tmp_path / "out.nii.gz")])
    assert "holds no image series, only SEG objects" in line and "`workstation mask`" in line


def test_rtstruct_without_image_names_the_option(tmp_path: Path, ct: Path) -> None:
    image = read_image(ct)
    rs = write_rtstruct(tmp_path / "rs.dcm", dicom_reference(image), {"Lesion": [circle(image.index_to_world([1, 8, 8]), 3.0)]})
    line = _error(["mask", f"{rs}#Lesion", "-o", str(tmp_path / "out.nii.gz")])
    assert "needs the image it is used with" in line and "--image IMG" in line


def test_missing_geometry_names_the_element(tmp_path: Path, ct: Path) -> None:
    path = sorted(ct.iterdir())[1]
    ds = pydicom.dcmread(path)
    del ds.ImagePositionPatient
    ds.save_as(path)
    line = _error(["convert", str(ct), "-o", str(tmp_path / "out.nii.gz")])
    assert f"{path.name} has no ImagePositionPatient, so its place is unknown" in line


def test_malformed_rescale_names_the_element_and_value(tmp_path: Path, ct: Path) -> None:
    path = sorted(ct.iterdir())[2]
    ds = pydicom.dcmread(path)
    with pytest.warns(UserWarning, match="Invalid value for VR DS"):
        ds.RescaleSlope = "inf"  # pydicom warns when it is set: the test writes it anyway
    ds.save_as(path)
    line = _error(["convert", str(ct), "-o", str(tmp_path / "out.nii.gz")])
    assert f"{path.name}: this DICOM file cannot be read (RescaleSlope is 'inf', not one finite number)" in line


def test_zero_pixel_spacing_is_refused_by_name(tmp_path: Path, ct: Path) -> None:
    path = sorted(ct.iterdir())[0]
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = ["0", "1"]
    ds.save_as(path)
    line = _error(["convert", str(ct), "-o", str(tmp_path / "out.nii.gz")])
    assert "PixelSpacing is '0\\\\1' mm: a pixel spacing must be positive" in line


def test_a_2d_radiograph_says_only_cross_sections_are_volumes(tmp_path: Path) -> None:
    from tests.io.corpus import pydicom_data_files

    root = pydicom_data_files()
    if root is None or not (root / "US1_UNCR.dcm").exists():
        pytest.skip("pydicom-data is not installed")
    line = _error(["convert", str(root / "US1_UNCR.dcm"), "-o", str(tmp_path / "out.nii.gz")])
    assert "is a 2D US without patient geometry" in line and "only cross-sectional images" in line


def test_a_broken_file_of_another_series_does_not_block_this_one(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    values = rng.normal(30, 10, (3, 8, 8)).round()
    write_single_frame_series(tmp_path / "mixed", values, AFFINE, prefix="CT")
    (broken,) = write_single_frame_series(tmp_path / "mixed", values[:1], AFFINE, "PT", prefix="PT")
    ds = pydicom.dcmread(broken)
    with pytest.warns(UserWarning):
        ds.RescaleSlope = "nan"
    ds.save_as(broken)
    result = run_cli(["convert", str(tmp_path / "mixed"), "-o", str(tmp_path / "out" / "ct.nii.gz")])
    assert result.code == 0, result.stderr
    assert f"{broken} (series {ds.SeriesInstanceUID}) cannot be read and was left out" in result.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "ct.nii.gz").array, values)
