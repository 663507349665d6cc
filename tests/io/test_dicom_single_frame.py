"""Single-frame DICOM series (CT, PT): geometry against what was written and against SimpleITK."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.io.dicom_factory import write_single_frame_series
from workstation.core import DicomError, Unit, Volume, affine_from_geometry
from workstation.io.dicom import index_dicom, nuclide_name, read_dicom_image

# Geometry is written as decimal strings of up to 16 characters; 1e-4 mm is
# far above that rounding and far below any real geometric error.
ATOL_MM = 1e-4


def _values(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    return rng.integers(-1000, 2000, size=shape).astype(float)


def assert_same_voxels(vol: Volume, values: np.ndarray, affine: np.ndarray) -> None:
    """Every voxel of ``vol`` sits where the writer put the same value."""
    idx = np.indices(vol.shape).reshape(3, -1).T
    world = vol.index_to_world(idx)
    written = (world - affine[:3, 3]) @ np.linalg.inv(affine[:3, :3]).T
    rounded = np.round(written)
    assert np.allclose(written, rounded, atol=1e-4)
    k, j, i = rounded.astype(int).T
    np.testing.assert_array_equal(vol.array.reshape(-1), values[k, j, i])


def sitk_volume(folder) -> Volume:  # noqa: ANN001
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return Volume.from_sitk(reader.Execute())


@pytest.mark.parametrize("slice_sign", [1.0, -1.0], ids=["feet-to-head", "head-to-feet"])
def test_axial_both_orders_match_written_and_sitk(tmp_path, rng, slice_sign):
    values = _values(rng, (6, 9, 11))
    # Anisotropic voxels: 3 mm slices, 0.8 mm rows, 0.6 mm columns.
    affine = affine_from_geometry([-120.5, -80.25, 40.0], [3.0, 0.8, 0.6])
    affine[:3, 0] *= slice_sign
    write_single_frame_series(tmp_path, values, affine, rescale_intercept=-1024, shuffle_seed=7)
    vol = read_dicom_image(tmp_path)
    assert vol.array.dtype == np.int16
    assert vol.units == Unit.HU and vol.modality == "CT"
    assert_same_voxels(vol, values, affine)
    # The slice axis always points along the slice normal (+z for axial).
    assert np.allclose(vol.affine[:3, 0], [0, 0, 3.0], atol=ATOL_MM)
    expected_origin = affine[:3, 3] if slice_sign > 0 else affine[:3, 3] + 5 * affine[:3, 0]
    assert np.allclose(vol.origin_mm, expected_origin, atol=ATOL_MM)
    ref = sitk_volume(tmp_path)
    assert np.allclose(vol.affine, ref.affine, atol=ATOL_MM)
    np.testing.assert_array_equal(vol.array, ref.array)
    # Headers are kept in slice order, without pixel data.
    z = [float(h.ImagePositionPatient[2]) for h in vol.metadata.dicom_headers]
    assert z == sorted(z) and "PixelData" not in vol.metadata.dicom_headers[0]


def test_oblique_orientation_matches_written_and_sitk(tmp_path, rng, oblique_direction):
    values = _values(rng, (5, 8, 10))
    affine = affine_from_geometry([10.0, -30.0, 55.0], [2.5, 1.1, 0.9], oblique_direction)
    write_single_frame_series(tmp_path, values, affine, shuffle_seed=3, rescale_intercept=-1024)
    vol = read_dicom_image(tmp_path)
    assert np.allclose(vol.affine, affine, atol=ATOL_MM)
    np.testing.assert_array_equal(vol.array, values)
    ref = sitk_volume(tmp_path)
    assert np.allclose(vol.affine, ref.affine, atol=ATOL_MM)
    np.testing.assert_array_equal(vol.array, ref.array)


def test_per_slice_rescale_gives_float_values(tmp_path, rng):
    values = rng.uniform(0, 3000.0, size=(4, 6, 6))  # fits int16 at the smallest slope
    affine = affine_from_geometry([0, 0, 0], [2.0, 2.0, 2.0])
    slopes = [0.5, 0.25, 0.125, 1.0]
    write_single_frame_series(tmp_path, values, affine, rescale_slope=slopes, rescale_intercept=-10.0)
    vol = read_dicom_image(tmp_path)
    assert vol.array.dtype == np.float32
    # Stored values are rounded to the slice's quantisation step (slope).
    for k, slope in enumerate(slopes):
        assert np.max(np.abs(vol.array[k] - values[k])) <= slope / 2 + 1e-3


def test_unsigned_storage_with_negative_intercept(tmp_path, rng):
    # The common CT encoding: uint16 stored values, RescaleIntercept -1024,
    # including stored values above 32767 whose rescaled values still fit int16.
    # (MR: such values are beyond any CT scale and a CT would be refused, see
    # workstation.io.plausibility.)
    values = rng.integers(-1024, 31000, size=(3, 5, 5)).astype(float)
    values[0, 0, 0] = 31743.0  # stored 32767 + 1 = 32768: beyond int16 as a stored value
    affine = affine_from_geometry([0, 0, 0], [1.0, 1.0, 1.0])
    write_single_frame_series(
        tmp_path, values, affine, "MR", stored_dtype=np.uint16, rescale_intercept=-1024
    )
    vol = read_dicom_image(tmp_path)
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, values)


def test_int16_overflow_falls_back_to_float(tmp_path):
    values = np.full((3, 4, 4), 40000.0)  # MR: a CT with 40000 HU is refused (plausibility)
    affine = affine_from_geometry([0, 0, 0], [1.0, 1.0, 1.0])
    write_single_frame_series(tmp_path, values, affine, "MR", stored_dtype=np.uint16, rescale_intercept=0.0)
    vol = read_dicom_image(tmp_path)
    assert vol.array.dtype == np.float32 and np.all(vol.array == 40000.0)


def test_pet_bqml_with_radiopharmaceutical(tmp_path, rng):
    values = rng.uniform(0, 2.0e5, size=(4, 6, 5))
    affine = affine_from_geometry([-100, -100, -50], [4.0, 4.07, 4.07])
    write_single_frame_series(
        tmp_path, values, affine, modality="PT",
        pet={"total_dose_bq": 2.5e9, "start_datetime": dt.datetime(2026, 11, 27, 9, 15, 0),
             "half_life_s": 230400.0, "nuclide_meaning": "^90^Yttrium"},
    )
    vol = read_dicom_image(tmp_path)
    assert vol.units == Unit.BQML and vol.modality == "PT"
    # Per-slice slopes span the int16 range: relative error below 1/32767 of the slice max.
    assert np.max(np.abs(vol.array - values)) <= 2.0e5 / 32767
    meta = vol.metadata
    rp = meta.radiopharmaceutical
    assert rp is not None and rp.nuclide == "Y-90"
    assert rp.administered_activity_bq == pytest.approx(2.5e9)
    assert rp.injection_datetime == dt.datetime(2026, 11, 27, 9, 15, 0)
    assert rp.half_life_s == pytest.approx(230400.0)
    assert meta.decay_correction == "START"
    assert meta.reference_datetime == dt.datetime(2026, 11, 27, 10, 30, 0)


def test_pet_series_time_after_acquisition_uses_earliest_acquisition(tmp_path, rng):
    values = rng.uniform(0, 1e4, size=(3, 3, 3))
    affine = affine_from_geometry([0, 0, 0], [2.0, 2.0, 2.0])
    # The factory writes AcquisitionTime 10:30:00; a SeriesTime rewritten later.
    write_single_frame_series(tmp_path, values, affine, modality="PT", extra={"SeriesTime": "113000"})
    vol = read_dicom_image(tmp_path)
    assert vol.metadata.reference_datetime == dt.datetime(2026, 11, 27, 10, 30, 0)
    assert any("earliest acquisition time" in w for w in vol.metadata.warnings)


def test_pet_start_time_without_date_uses_series_date(tmp_path, rng):
    values = rng.uniform(0, 1e4, size=(2, 3, 3))
    affine = affine_from_geometry([0, 0, 0], [2.0, 2.0, 2.0])
    write_single_frame_series(
        tmp_path, values, affine, modality="PT",
        pet={"start_time": dt.time(8, 5, 0), "decay_correction": "ADMIN",
             "nuclide_meaning": "^18^Fluorine", "half_life_s": 6586.2},
    )
    vol = read_dicom_image(tmp_path)
    rp = vol.metadata.radiopharmaceutical
    assert rp.nuclide == "F-18"
    assert rp.injection_datetime == dt.datetime(2026, 11, 27, 8, 5, 0)
    assert vol.metadata.decay_correction == "ADMIN"
    assert vol.metadata.reference_datetime == rp.injection_datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [("^90^Yttrium", "Y-90"), ("^99m^Technetium", "Tc-99m"), ("^18^Fluorine", "F-18"),
     ("Yttrium-90", "Y-90"), ("Tc99m", "Tc-99m"), ("Ga-68", "Ga-68"), ("unobtainium", None)],
)
def test_nuclide_names(text, expected):
    assert nuclide_name(text) == expected


def test_gantry_tilt_is_resampled_with_warning(tmp_path):
    # A 3-slice stack whose origins slide by 2 pixels per slice along the rows.
    nz, ny, nx = 3, 12, 12
    base = np.zeros((ny, nx))
    base[4:8, 4:8] = 100.0
    affine = affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0])
    affine[:3, 0] = [0.0, 2.0, 2.0]  # each slice 2 mm further along +y (one row = 1 mm)
    values = np.stack([np.roll(base, -2 * k, axis=0) for k in range(nz)])  # same object in space
    write_single_frame_series(tmp_path, values, affine, rescale_intercept=0.0)
    vol = read_dicom_image(tmp_path)
    assert any("gantry tilt" in w for w in vol.metadata.warnings)
    assert np.allclose(vol.affine[:3, 0], [0, 0, 2.0], atol=ATOL_MM)
    # After the correction every slice shows the object at the same rows/columns.
    np.testing.assert_allclose(vol.array[2][4:6], base[4:6], atol=1e-4)


def test_duplicate_instances_are_deduplicated(tmp_path, rng):
    values = _values(rng, (3, 4, 4))
    affine = affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0])
    paths = write_single_frame_series(tmp_path, values, affine, rescale_intercept=-1024)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "dup.dcm").write_bytes(paths[1].read_bytes())
    vol = read_dicom_image(tmp_path)
    assert vol.shape == (3, 4, 4)
    assert any("duplicate" in w for w in vol.metadata.warnings)


@pytest.mark.parametrize("problem", ["missing", "duplicate-position", "uneven"])
def test_stack_problems_are_clear_errors(tmp_path, rng, problem):
    values = _values(rng, (6, 4, 4))
    affine = affine_from_geometry([0, 0, 0], [2.5, 1.0, 1.0])
    paths = write_single_frame_series(tmp_path, values, affine, rescale_intercept=-1024)
    if problem == "missing":
        paths[3].unlink()
        match = r"1 slice\(s\) appear to be missing.*5\.00 mm.*2\.50 mm apart"
    elif problem == "duplicate-position":
        ds = pydicom.dcmread(paths[2])
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(tmp_path / "other_phase.dcm")
        match = "share a slice position"
    else:
        ds = pydicom.dcmread(paths[5])
        ds.ImagePositionPatient = [0, 0, 13.9]
        ds.save_as(paths[5])
        match = "not uniform"
    with pytest.raises(DicomError, match=match):
        read_dicom_image(tmp_path)
    # The index still lists the series, with the problem.
    [info] = index_dicom(tmp_path).series
    assert info.problem is not None and info.plan is None
