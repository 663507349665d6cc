"""DICOM SEG writer: round trip through read_mask, references, codes, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.io.dicom_factory import write_nm_multiframe, write_single_frame_series
from tests.io.mask_factory import dcmread_strict
from workstation.core import (
    EmptyMaskError,
    InvalidInputError,
    Unit,
    Volume,
    affine_from_geometry,
)
from workstation.io.dicom import read_dicom_image
from workstation.io.masks import read_mask
from workstation.io.seg import segment_codes, write_seg


@pytest.fixture
def ct(tmp_path: Path, rng: np.random.Generator, oblique_direction: np.ndarray) -> Volume:
    """A DICOM CT series (oblique, anisotropic) read back by the project's reader."""
    affine = affine_from_geometry([-40.0, -55.0, 90.0], [3.0, 1.5, 1.2], oblique_direction)
    write_single_frame_series(
        tmp_path / "ct",
        rng.normal(0, 30, (10, 24, 28)),
        affine,
        study_uid="1.2.3.7",
        frame_uid="1.2.3.8",
        shuffle_seed=3,
    )
    return read_dicom_image(tmp_path / "ct")


def _labels(ct: Volume) -> Volume:
    arr = np.zeros(ct.shape, np.uint8)
    arr[2:8, 4:20, 5:22] = 1  # liver
    arr[4:6, 8:12, 9:13] = 2  # lesion inside the liver
    arr[3:5, 15:18, 2:5] = 3  # a lung piece on fewer slices
    return ct.copy_with(
        array=arr, units=Unit.LABEL, label_names={1: "liver", 2: "lesion 1", 3: "lungs"}
    )


def test_round_trip_equals_input_labels(tmp_path: Path, ct: Volume) -> None:
    labels = _labels(ct)
    path = write_seg(labels, tmp_path / "out" / "seg.dcm", ct)
    back = read_mask(path, reference=ct)
    assert back.units == Unit.LABEL
    assert back.label_names == {1: "liver", 2: "lesion 1", 3: "lungs"}
    np.testing.assert_array_equal(back.array, labels.array)
    lesion = read_mask(f"{path}#lesion 1", reference=ct)
    np.testing.assert_array_equal(lesion.array, labels.array == 2)
    assert lesion.label_names == {1: "lesion 1"}


def test_dataset_references_source_and_codes(tmp_path: Path, ct: Volume) -> None:
    path = write_seg(_labels(ct), tmp_path / "seg.dcm", ct)
    ds = dcmread_strict(path.read_bytes())
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == "1.2.3.7" and ds.FrameOfReferenceUID == "1.2.3.8"
    assert ds.PatientID == ct.metadata.dicom_headers[0].PatientID
    referenced = {
        item.ReferencedSOPInstanceUID
        for series in ds.ReferencedSeriesSequence
        for item in series.ReferencedInstanceSequence
    }
    assert referenced == {h.SOPInstanceUID for h in ct.metadata.dicom_headers}
    # Empty slices are omitted: frames only where a segment is present.
    assert ds.NumberOfFrames == 6 + 2 + 2
    types = {
        s.SegmentLabel: s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning
        for s in ds.SegmentSequence
    }
    assert types == {"liver": "Liver", "lesion 1": "Neoplasm", "lungs": "Lung"}
    # Frame-level references: every frame derives from the CT slice at its position.
    by_uid = {h.SOPInstanceUID: h for h in ct.metadata.dicom_headers}
    for frame in ds.PerFrameFunctionalGroupsSequence:
        src = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        pos = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(
            pos, [float(v) for v in by_uid[src].ImagePositionPatient], atol=1e-3
        )


def test_labels_on_another_grid_are_resampled(tmp_path: Path, ct: Volume) -> None:
    labels = _labels(ct)
    # The same labels on a grid twice as fine in-plane: nearest resampling must give them back.
    fine_affine = labels.affine @ np.diag([1.0, 0.5, 0.5, 1.0])
    fine_affine[:3, 3] = labels.index_to_world([0, -0.25, -0.25])
    fine = labels.copy_with(
        array=np.repeat(np.repeat(labels.array, 2, axis=1), 2, axis=2), affine=fine_affine
    )
    back = read_mask(write_seg(fine, tmp_path / "seg.dcm", ct), reference=ct)
    np.testing.assert_array_equal(back.array, labels.array)


def test_non_contiguous_labels_are_numbered_from_one(tmp_path: Path, ct: Volume) -> None:
    labels = _labels(ct)
    arr = labels.array.copy()
    arr[arr == 3] = 7
    labels = labels.copy_with(array=arr, label_names={1: "liver", 2: "lesion 1", 7: "lungs"})
    back = read_mask(write_seg(labels, tmp_path / "seg.dcm", ct), reference=ct)
    assert back.label_names == {1: "liver", 2: "lesion 1", 3: "lungs"}
    np.testing.assert_array_equal(back.array == 3, arr == 7)


def test_boolean_mask_without_names(tmp_path: Path, ct: Volume) -> None:
    mask = ct.copy_with(array=_labels(ct).array > 0, units=Unit.LABEL, label_names={})
    ds = dcmread_strict(write_seg(mask, tmp_path / "seg.dcm", ct).read_bytes())
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["Label 1"]


def test_seg_on_multiframe_nm(tmp_path: Path, rng: np.random.Generator) -> None:
    # Negative SpacingBetweenSlices: frames run towards the feet; frame references must follow.
    path = write_nm_multiframe(
        tmp_path / "nm.dcm",
        rng.uniform(0, 100, (9, 16, 16)),
        [-30.0, -30.0, -20.0],
        [1, 0, 0, 0, 1, 0],
        [4.0, 4.0],
        -4.0,
    )
    nm = read_dicom_image(path)
    arr = np.zeros(nm.shape, np.uint8)
    arr[2:5, 4:9, 5:10] = 1
    labels = nm.copy_with(array=arr, units=Unit.LABEL, label_names={1: "uptake"})
    out = write_seg(labels, tmp_path / "seg.dcm", nm)
    np.testing.assert_array_equal(read_mask(out, reference=nm).array, arr)
    ds = dcmread_strict(out.read_bytes())
    for frame in ds.PerFrameFunctionalGroupsSequence:
        z = float(frame.PlanePositionSequence[0].ImagePositionPatient[2])
        number = int(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        assert z == pytest.approx(-20.0 - 4.0 * (number - 1))


def test_reference_without_dicom_headers_is_refused(tmp_path: Path, ct_volume: Volume) -> None:
    labels = ct_volume.copy_with(array=np.ones(ct_volume.shape, np.uint8), units=Unit.LABEL)
    with pytest.raises(InvalidInputError, match="not read from DICOM"):
        write_seg(labels, tmp_path / "seg.dcm", ct_volume)
    assert list(tmp_path.iterdir()) == []


def test_empty_labels_are_refused(tmp_path: Path, ct: Volume) -> None:
    labels = ct.copy_with(array=np.zeros(ct.shape, np.uint8), units=Unit.LABEL)
    with pytest.raises(EmptyMaskError):
        write_seg(labels, tmp_path / "seg.dcm", ct)
    assert not (tmp_path / "seg.dcm").exists()


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("Liver", "Liver"),
        ("tumour 3", "Neoplasm"),
        ("ablation zone", "Necrosis"),
        ("Body", "Entire body"),
        ("foo", "Tissue"),
    ],
)
def test_segment_codes(name: str, meaning: str) -> None:
    assert segment_codes(name)[1].meaning == meaning


def test_round_trip_with_slice_axis_against_the_normal(tmp_path: Path) -> None:
    """Array axis 0 pointing feet-wards (against row × column): frames still land right."""
    from tests.io.mask_factory import dicom_reference

    grid = Volume(
        np.zeros((8, 20, 24), np.int16),
        affine_from_geometry([-50.0, -80.0, 120.0], [2.5, 0.8, 0.7]) @ np.diag([-1.0, 1, 1, 1]),
    )
    ref = dicom_reference(grid)
    arr = np.zeros(grid.shape, np.uint8)
    arr[2:4, 5:10, 5:12] = 1
    arr[5, 1:3, 1:3] = 2
    labels = ref.copy_with(array=arr, units=Unit.LABEL, label_names={1: "liver", 2: "lesion"})
    back = read_mask(write_seg(labels, tmp_path / "seg.dcm", ref), reference=ref)
    np.testing.assert_array_equal(back.array, arr)
