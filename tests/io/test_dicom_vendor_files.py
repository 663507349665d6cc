"""Real scanner files shipped with pydicom: encodings, a truncated file, RT objects.

The files live in pydicom's package (``pydicom/data/test_files``); they are read
from there directly so that no test touches the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from workstation.core import DicomError, Unit
from workstation.io.dicom import index_dicom, read_dicom_image

FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def test_ct_small_matches_pydicom_and_header():
    path = FILES / "CT_small.dcm"
    vol = read_dicom_image(path)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(vol.array[0], expected)
    assert vol.units == Unit.HU
    assert np.allclose(vol.origin_mm, [float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    assert np.allclose(vol.direction[:, 2], iop[:3]) and np.allclose(vol.direction[:, 1], iop[3:])
    assert np.allclose(vol.spacing_mm[1:], [float(v) for v in ds.PixelSpacing])


@pytest.mark.parametrize(
    "name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_RLE.dcm",
             "MR_small_padded.dcm"],
)
def test_encodings_give_the_same_volume(name):
    reference = read_dicom_image(FILES / "MR_small.dcm")
    vol = read_dicom_image(FILES / name)
    np.testing.assert_array_equal(vol.array, reference.array)
    assert np.allclose(vol.affine, reference.affine)


def test_truncated_real_file_is_named(tmp_path):
    shutil.copy(FILES / "MR_truncated.dcm", tmp_path / "MR_truncated.dcm")
    with pytest.raises(DicomError, match=r"MR_truncated\.dcm is truncated"):
        read_dicom_image(tmp_path)


def test_rtdose_and_rtstruct_in_one_folder(tmp_path):
    for name in ("rtdose.dcm", "rtstruct.dcm"):
        shutil.copy(FILES / name, tmp_path / name)
    index = index_dicom(tmp_path)
    assert sorted(s.modality for s in index.series) == ["RTDOSE", "RTSTRUCT"]
    dose = read_dicom_image(tmp_path)  # the only image object
    ds = pydicom.dcmread(FILES / "rtdose.dcm")
    assert dose.shape == (int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    assert np.allclose(dose.origin_mm, [float(v) for v in ds.ImagePositionPatient])
    assert dose.spacing_mm[0] == pytest.approx(5.0)  # GridFrameOffsetVector step
    np.testing.assert_allclose(dose.array, ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    assert dose.units == Unit.UNKNOWN  # DoseUnits RELATIVE is not gray
