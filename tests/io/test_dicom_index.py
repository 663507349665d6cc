"""Indexing folders: series, stacks, skipped files, series selection, RT Dose grids."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.io.dicom_factory import write_nm_multiframe, write_single_frame_series
from workstation.core import DicomError, Unit, affine_from_geometry
from workstation.io import read_image
from workstation.io.dicom import index_dicom, read_dicom_image


@pytest.fixture
def mixed_folder(tmp_path, rng):
    """A CT series, a PET series, an NM file in a subfolder and two non-DICOM files."""
    ct = rng.integers(-1000, 1000, size=(4, 6, 5)).astype(float)
    write_single_frame_series(
        tmp_path / "a", ct, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0]),
        rescale_intercept=-1024, series_uid="1.2.826.0.1.111.1", description="CT abdomen",
        prefix="CT",
    )
    pet = rng.uniform(0, 1e4, size=(3, 4, 4))
    write_single_frame_series(
        tmp_path / "a", pet, affine_from_geometry([0, 0, 0], [3.0, 4.0, 4.0]), modality="PT",
        series_uid="1.2.826.0.1.222.1", description="PET Y90", prefix="PT",
    )
    write_nm_multiframe(
        tmp_path / "b" / "spect.dcm", rng.integers(0, 100, size=(5, 4, 4)).astype(float),
        [0, 0, 0], [1, 0, 0, 0, 1, 0], [4.0, 4.0], 4.0, series_uid="1.2.826.0.1.333.1",
    )
    (tmp_path / "README.txt").write_text("not dicom")
    (tmp_path / "b" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return tmp_path, ct


def test_index_lists_series_and_counts_skipped(mixed_folder):
    folder, _ = mixed_folder
    index = index_dicom(folder)
    assert sorted(s.modality for s in index.series) == ["CT", "NM", "PT"]
    assert len(index.skipped) == 2 and not index.unreadable
    ct = next(s for s in index.series if s.modality == "CT")
    assert ct.shape == (4, 6, 5) and len(ct.files) == 4
    entry = ct.to_dict()
    assert entry["size"] == [5, 6, 4] and entry["spacing"] == [1.0, 1.0, 2.0]
    assert entry["units"] == "HU" and entry["description"] == "CT abdomen"


def test_several_series_need_a_choice(mixed_folder):
    folder, ct = mixed_folder
    with pytest.raises(DicomError, match=r"holds 3 image series.*1\.2\.826\.0\.1\.111\.1 \(CT 'CT abdomen', 5x6x4\)"):
        read_dicom_image(folder)
    vol = read_dicom_image(folder, series="1.2.826.0.1.111")  # unique prefix
    np.testing.assert_array_equal(vol.array, ct)
    assert read_image(folder, series="1.2.826.0.1.222.1").units == Unit.BQML
    with pytest.raises(DicomError, match="ambiguous"):
        read_dicom_image(folder, series="1.2.826.0.1.")
    with pytest.raises(DicomError, match="No series .* matches '9.9'"):
        read_dicom_image(folder, series="9.9")


def test_mixed_orientations_split_into_stacks(tmp_path, rng):
    uid = "1.2.826.0.1.444.1"
    values = rng.integers(0, 100, size=(3, 4, 4)).astype(float)
    write_single_frame_series(tmp_path, values, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0]),
                              series_uid=uid, prefix="AX")
    # Sagittal, right-handed: rows along +y, columns along -z, slices along row × column = -x.
    sagittal = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # columns: axes z, y, x
    write_single_frame_series(tmp_path, values, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0], sagittal),
                              series_uid=uid, prefix="SAG")
    index = index_dicom(tmp_path)
    assert [s.key for s in index.series] == [f"{uid}:1", f"{uid}:2"]
    with pytest.raises(DicomError, match="2 stacks with different geometry"):
        read_dicom_image(tmp_path)
    vol = read_dicom_image(tmp_path, series=f"{uid}:2")
    assert np.allclose(vol.direction, sagittal, atol=1e-6)


def test_non_image_objects_are_listed_but_not_chosen(tmp_path, rng):
    values = rng.integers(0, 100, size=(3, 4, 4)).astype(float)
    write_single_frame_series(tmp_path, values, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0]))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(tmp_path / "rs.dcm", enforce_file_format=True)
    index = index_dicom(tmp_path)
    assert sorted(s.modality for s in index.series) == ["CT", "RTSTRUCT"]
    assert read_dicom_image(tmp_path).modality == "CT"
    rs = next(s for s in index.series if s.modality == "RTSTRUCT")
    with pytest.raises(DicomError, match="not an image"):
        read_dicom_image(tmp_path, series=rs.key)


def test_rtdose_grid_is_read_in_gray(tmp_path, rng):
    dose = rng.uniform(0, 80.0, size=(4, 5, 6))
    scaling = 80.0 / 65535
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.ImagePositionPatient = [-10.0, -20.0, 30.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [2.0, 2.5]
    ds.NumberOfFrames = 4
    ds.GridFrameOffsetVector = [0, -3, -6, -9]  # frames stacked towards the feet
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x3004, 0x000C)
    ds.Rows, ds.Columns = 5, 6
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.DoseUnits, ds.DoseType, ds.DoseGridScaling = "GY", "PHYSICAL", f"{scaling:.10g}"
    ds.PixelData = np.round(dose / float(f"{scaling:.10g}")).astype(np.uint16).tobytes()
    ds.save_as(tmp_path / "rd.dcm", enforce_file_format=True)
    vol = read_dicom_image(tmp_path / "rd.dcm")
    assert vol.units == Unit.GY
    assert np.allclose(vol.affine[:3, 0], [0, 0, 3.0]) and np.allclose(vol.origin_mm, [-10, -20, 21])
    # Within half a quantisation step of DoseGridScaling.
    assert np.max(np.abs(vol.array - dose[::-1])) <= scaling / 2 + 1e-6


def _enhanced_ct(tmp_path, values, affine):  # noqa: ANN001, ANN202
    import highdicom as hd

    paths = write_single_frame_series(tmp_path / "sf", values, affine, rescale_intercept=-1024)
    enhanced = hd.legacy.LegacyConvertedEnhancedCTImage(
        [pydicom.dcmread(p) for p in paths], series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1,
    )
    enhanced.save_as(tmp_path / "enhanced.dcm")
    return tmp_path / "sf", tmp_path / "enhanced.dcm"


def test_enhanced_ct_reads_like_its_single_frames(tmp_path, rng):
    values = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(float)
    affine = affine_from_geometry([1.0, 2.0, 3.0], [2.0, 0.5, 0.7])
    affine[:3, 0] *= -1  # frames stacked head to feet
    folder, path = _enhanced_ct(tmp_path, values, affine)
    single = read_dicom_image(folder)
    vol = read_dicom_image(path)
    assert vol.units == Unit.HU
    assert np.allclose(vol.affine, single.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.array, single.array)


def test_uneven_enhanced_frames_are_a_clear_error(tmp_path, rng):
    values = rng.integers(0, 100, size=(4, 4, 4)).astype(float)
    _, path = _enhanced_ct(tmp_path, values, affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0]))
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence[0].ImagePositionPatient = [0, 0, 9.0]
    ds.save_as(path)
    with pytest.raises(DicomError, match=r"enhanced\.dcm .*do not form one regularly spaced volume"):
        read_dicom_image(path)


def test_repeated_acquisitions_become_stacks(tmp_path, rng):
    uid = "1.2.826.0.1.555.1"
    affine = affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0])
    phases = [rng.integers(0, 100, size=(3, 4, 4)).astype(float) for _ in range(2)]
    for n, values in enumerate(phases, start=1):
        write_single_frame_series(tmp_path, values, affine, series_uid=uid, prefix=f"P{n}_",
                                  extra={"AcquisitionNumber": n})
    index = index_dicom(tmp_path)
    assert [s.distinct_by for s in index.series] == ["AcquisitionNumber 1", "AcquisitionNumber 2"]
    with pytest.raises(DicomError, match=r"repeated at the same positions.*AcquisitionNumber 2"):
        read_dicom_image(tmp_path)
    np.testing.assert_array_equal(read_dicom_image(tmp_path, series=f"{uid}:2").array, phases[1])
