"""Multi-frame NM reconstructions: signed SpacingBetweenSlices, detector geometry, RWVM."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from tests.io.dicom_factory import write_nm_multiframe
from workstation.core import DicomError, Unit
from workstation.io.dicom import read_dicom_image

ATOL_MM = 1e-4  # DS strings of 16 characters: rounding far below this
AXIAL_IOP = [1, 0, 0, 0, 1, 0]
IPP = [-200.0, -150.0, 80.0]
PIXEL_MM = [4.42, 4.42]


@pytest.fixture
def spect_values(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 5000, size=(7, 6, 5)).astype(float)


def frame_positions(vol, n_frames: int, spacing: float) -> np.ndarray:  # noqa: ANN001
    """Where frame f of the file lies, per PS3.3 C.8.4.15: IPP + f · spacing · (row × col)."""
    normal = np.cross(AXIAL_IOP[:3], AXIAL_IOP[3:])
    return np.array(IPP) + np.outer(np.arange(n_frames) * spacing, normal)


@pytest.mark.parametrize("spacing", [4.42, -4.42], ids=["positive", "negative"])
def test_signed_spacing_between_slices(tmp_path, spect_values, spacing):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, spacing,
        slice_thickness=4.42,  # must not decide the direction
    )
    vol = read_dicom_image(path)
    assert vol.modality == "NM" and vol.units == Unit.COUNTS
    # The slice axis of the volume always points along +normal (superior here).
    assert np.allclose(vol.affine[:3, 0], [0, 0, 4.42], atol=ATOL_MM)
    # Each frame's values sit at the frame's position.
    positions = frame_positions(vol, 7, spacing)
    for f, pos in enumerate(positions):
        k = int(round(vol.world_to_index(pos)[0]))
        assert np.allclose(vol.index_to_world([k, 0, 0]), pos, atol=ATOL_MM)
        np.testing.assert_array_equal(vol.array[k], spect_values[f])
    if spacing < 0:
        np.testing.assert_array_equal(vol.array, spect_values[::-1])
        assert np.allclose(vol.origin_mm, np.array(IPP) + [0, 0, 6 * spacing], atol=ATOL_MM)
    else:
        np.testing.assert_array_equal(vol.array, spect_values)
        assert np.allclose(vol.origin_mm, IPP, atol=ATOL_MM)


def test_geometry_only_at_top_level_is_a_fallback(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        geometry_in_detector=False, geometry_top_level=True,
    )
    vol = read_dicom_image(path)
    assert np.allclose(vol.origin_mm, IPP, atol=ATOL_MM)


def test_detector_geometry_wins_over_top_level(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        geometry_in_detector=True,
    )
    ds = pydicom.dcmread(path)
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = AXIAL_IOP
    ds.save_as(path)
    vol = read_dicom_image(path)
    assert np.allclose(vol.origin_mm, IPP, atol=ATOL_MM)


def test_oblique_detector_orientation(tmp_path, spect_values):
    # Rows along (cos a, sin a, 0), columns along (0, 0, -1): a coronal-ish tilt.
    a = np.deg2rad(30)
    iop = [np.cos(a), np.sin(a), 0.0, 0.0, 0.0, -1.0]
    path = write_nm_multiframe(tmp_path / "spect.dcm", spect_values, IPP, iop, PIXEL_MM, -3.0)
    vol = read_dicom_image(path)
    normal = np.cross(iop[:3], iop[3:])
    assert np.allclose(vol.affine[:3, 0], 3.0 * normal, atol=ATOL_MM)
    assert np.allclose(vol.affine[:3, 2], 4.42 * np.array(iop[:3]), atol=ATOL_MM)
    assert np.allclose(vol.affine[:3, 1], 4.42 * np.array(iop[3:]), atol=ATOL_MM)
    # Frame 0 is at IPP; with negative spacing it is the last slice of the volume.
    assert np.allclose(vol.index_to_world([6, 0, 0]), IPP, atol=ATOL_MM)
    np.testing.assert_array_equal(vol.array[6], spect_values[0])


def test_real_world_value_mapping_gives_bq_per_ml(tmp_path, spect_values):
    slope = 12.5  # Bq/mL per stored unit
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values * slope, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        rwvm={"slope": slope, "intercept": 0.0, "units": "Bq/ml"},
    )
    vol = read_dicom_image(path)
    assert vol.units == Unit.BQML
    np.testing.assert_allclose(vol.array, spect_values * slope, rtol=1e-6)


def test_rescale_slope_without_rwvm_stays_counts(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values * 0.5, IPP, AXIAL_IOP, PIXEL_MM, 4.42, rescale_slope=0.5,
    )
    vol = read_dicom_image(path)
    assert vol.units == Unit.COUNTS
    np.testing.assert_allclose(vol.array, spect_values * 0.5, rtol=1e-6)


def test_slice_thickness_fallback_warns(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, None, slice_thickness=4.0,
    )
    vol = read_dicom_image(path)
    assert np.allclose(vol.spacing_mm, [4.0, 4.42, 4.42], atol=ATOL_MM)
    assert any("SliceThickness" in w for w in vol.metadata.warnings)


def test_gated_reconstruction_is_combined(tmp_path, rng):
    gates = rng.integers(0, 100, size=(2, 3, 4, 4)).astype(float)  # (gate, slice, y, x)
    frames = gates.reshape(6, 4, 4)  # gate-major, slice-minor
    path = write_nm_multiframe(
        tmp_path / "gated.dcm", frames, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        image_type=("ORIGINAL", "PRIMARY", "RECON GATED TOMO", "EMISSION"),
    )
    ds = pydicom.dcmread(path)
    ds.SliceVector = [1, 2, 3, 1, 2, 3]
    ds.TimeSlotVector = [1, 1, 1, 2, 2, 2]
    ds.NumberOfSlices = 3
    ds.save_as(path)
    vol = read_dicom_image(path)
    assert vol.shape == (3, 4, 4)
    np.testing.assert_allclose(vol.array, gates.sum(axis=0))  # counts add over gates


def test_projection_data_is_refused(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "proj.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        image_type=("ORIGINAL", "PRIMARY", "TOMO", "EMISSION"),
    )
    with pytest.raises(DicomError, match="not a reconstructed tomographic volume"):
        read_dicom_image(path)


def test_nm_radiopharmaceutical(tmp_path, spect_values):
    path = write_nm_multiframe(
        tmp_path / "spect.dcm", spect_values, IPP, AXIAL_IOP, PIXEL_MM, 4.42,
        radiopharmaceutical={"nuclide_meaning": "^99m^Technetium", "total_dose_bq": 1.5e8,
                             "half_life_s": 21624.12},
    )
    rp = read_dicom_image(path).metadata.radiopharmaceutical
    assert rp.nuclide == "Tc-99m" and rp.administered_activity_bq == pytest.approx(1.5e8)


def test_nm_total_dose_is_in_mbq_in_the_header() -> None:
    # PS3.3 C.8.4.10: the NM Isotope module states RadionuclideTotalDose in MBq (PET: Bq).
    import json

    from workstation.samples import sample_data_dir

    root = sample_data_dir() / "sirt"
    truth = json.loads((root / "ground_truth" / "truth.json").read_text())
    rp = read_dicom_image(root / "spect").metadata.radiopharmaceutical
    assert rp.administered_activity_bq == pytest.approx(truth["administered_gbq"] * 1e9)
