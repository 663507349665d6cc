"""RT Dose writer: geometry, quantization, required attributes, references, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.io.dicom_factory import write_single_frame_series
from tests.io.mask_factory import dcmread_strict
from workstation.core import (
    GeometryMismatchError,
    InvalidInputError,
    Unit,
    Volume,
    affine_from_geometry,
)
from workstation.io.dicom import read_dicom_image
from workstation.io.rtdose import DOSE_SUMMATION_TYPE, read_rtdose, write_rtdose


def _dose(rng: np.random.Generator, direction: np.ndarray | None = None) -> Volume:
    arr = rng.uniform(0.0, 180.0, size=(6, 9, 11)).astype(np.float32)
    arr[0, 0, 0] = 0.0
    affine = affine_from_geometry([-40.0, 25.0, 110.0], [3.0, 2.2, 1.8], direction)
    return Volume(arr, affine, frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1", units=Unit.GY)


def _step(path: Path) -> float:
    return float(dcmread_strict(path.read_bytes()).DoseGridScaling)


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("geometry", ["axial", "oblique", "reversed"])
def test_round_trip_within_quantization_step(
    tmp_path: Path,
    rng: np.random.Generator,
    oblique_direction: np.ndarray,
    bits: int,
    geometry: str,
) -> None:
    direction = {"axial": None, "oblique": oblique_direction, "reversed": None}[geometry]
    dose = _dose(rng, direction)
    if geometry == "reversed":  # slice axis against the row × column normal: frames are flipped
        dose = dose.copy_with(affine=dose.affine @ np.diag([-1.0, 1.0, 1.0, 1.0]))
    path = write_rtdose(dose, tmp_path / "dose.dcm", bits_allocated=bits)
    back = read_rtdose(path)
    step = _step(path)
    assert step <= float(dose.array.max()) / ((1 << bits) - 1) * (1 + 1e-6)
    # Rounding to the nearest stored integer errs by at most half a step; the
    # reader returns float32, whose own rounding (2^-24 relative) matters only
    # for 32-bit steps (2^-32 relative).
    tol = 0.5 * step + float(dose.array.max()) * 2.0**-23
    assert back.units == Unit.GY and back.modality == "RTDOSE"
    if geometry == "reversed":
        assert np.allclose(back.index_to_world([5, 0, 0]), dose.origin_mm, atol=1e-4)
        np.testing.assert_allclose(back.array[::-1], dose.array, rtol=0, atol=tol)
    else:
        # 1e-4 mm: positions are written as 16-character decimal strings.
        np.testing.assert_allclose(back.affine, dose.affine, rtol=0, atol=1e-4)
        np.testing.assert_allclose(back.array, dose.array, rtol=0, atol=tol)
    assert back.array[back.array > 0].size > 0


def test_required_attributes(tmp_path: Path, rng: np.random.Generator) -> None:
    dose = _dose(rng)
    path = write_rtdose(dose, tmp_path / "dose.dcm", series_description="SIRT LDM dose")
    ds = dcmread_strict(path.read_bytes())
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2"
    assert ds.Modality == "RTDOSE"
    assert ds.NumberOfFrames == 6
    assert [float(v) for v in ds.GridFrameOffsetVector] == pytest.approx([0, 3, 6, 9, 12, 15])
    assert ds.FrameIncrementPointer == 0x3004000C
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN_OVERVIEW")
    assert DOSE_SUMMATION_TYPE == "PLAN_OVERVIEW"
    assert "ReferencedRTPlanSequence" not in ds
    assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
    assert ds.FrameOfReferenceUID == dose.frame_of_reference_uid
    assert ds.SeriesDescription == "SIRT LDM dose"
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([2.2, 1.8])
    assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx([1, 0, 0, 0, 1, 0])
    # The maximum dose uses the top of the integer range.
    stored = ds.pixel_array
    assert stored.max() == pytest.approx(65535, abs=1)


def test_patient_study_and_frame_of_reference_copied_from_dicom_reference(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    ct_affine = affine_from_geometry([-60.0, -60.0, 80.0], [4.0, 3.0, 3.0])
    write_single_frame_series(
        tmp_path / "ct",
        rng.normal(0, 20, (5, 16, 16)),
        ct_affine,
        study_uid="1.2.3.44",
        frame_uid="1.2.3.55",
    )
    ct = read_dicom_image(tmp_path / "ct")
    dose = Volume(
        np.full(ct.shape, 2.5, np.float32), ct.affine, frame_of_reference_uid=None, units=Unit.GY
    )
    path = write_rtdose(dose, tmp_path / "out" / "dose.dcm", reference=ct)
    ds = dcmread_strict(path.read_bytes())
    src = ct.metadata.dicom_headers[0]
    assert ds.StudyInstanceUID == "1.2.3.44" == src.StudyInstanceUID
    assert ds.FrameOfReferenceUID == "1.2.3.55"
    assert ds.PatientID == src.PatientID and str(ds.PatientName) == str(src.PatientName)
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    back = read_rtdose(path)
    assert back.same_grid(ct, atol_mm=1e-4)
    np.testing.assert_allclose(back.array, 2.5, rtol=0, atol=0.5 * float(ds.DoseGridScaling))


def test_without_reference_new_study(tmp_path: Path, rng: np.random.Generator) -> None:
    dose = _dose(rng).copy_with(frame_of_reference_uid=None)
    ds = dcmread_strict(write_rtdose(dose, tmp_path / "d.dcm").read_bytes())
    assert ds.StudyInstanceUID and ds.FrameOfReferenceUID
    assert ds.PatientID == ""


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ("negative", InvalidInputError, "negative"),
        ("nan", InvalidInputError, "NaN"),
        ("sheared", GeometryMismatchError, "sheared"),
        ("frame", GeometryMismatchError, "frame of reference"),
        ("units", InvalidInputError, "Gy"),
    ],
)
def test_bad_dose_is_refused_and_nothing_written(
    tmp_path: Path, rng: np.random.Generator, change: str, error: type, words: str
) -> None:
    dose = _dose(rng)
    reference = None
    if change == "negative":
        dose.array[1, 1, 1] = -5.0
    elif change == "nan":
        dose.array[1, 1, 1] = np.nan
    elif change == "sheared":
        affine = dose.affine.copy()
        affine[0, 0] = 1.0  # slice axis tilted within the x–z plane, rows/columns unchanged
        dose = dose.copy_with(affine=affine)
    elif change == "frame":
        reference = dose.copy_with(frame_of_reference_uid="1.2.3.999")
    elif change == "units":
        dose = dose.copy_with(units=Unit.BQML)
    with pytest.raises(error, match=words):
        write_rtdose(dose, tmp_path / "d.dcm", reference=reference)
    assert list(tmp_path.iterdir()) == []


def test_tiny_negative_rounding_noise_is_zeroed(tmp_path: Path, rng: np.random.Generator) -> None:
    dose = _dose(rng)
    dose.array[2, 2, 2] = -1e-9
    back = read_rtdose(write_rtdose(dose, tmp_path / "d.dcm"))
    assert back.array[2, 2, 2] == 0.0


def test_all_zero_dose(tmp_path: Path, rng: np.random.Generator) -> None:
    dose = _dose(rng).copy_with(array=np.zeros((6, 9, 11), np.float32))
    back = read_rtdose(write_rtdose(dose, tmp_path / "d.dcm"))
    assert not back.array.any()


def test_read_rtdose_refuses_other_objects(tmp_path: Path, rng: np.random.Generator) -> None:
    files = write_single_frame_series(
        tmp_path / "ct", rng.normal(0, 20, (2, 4, 4)), affine_from_geometry([0, 0, 0], [1, 1, 1])
    )
    with pytest.raises(InvalidInputError, match="not an RT Dose"):
        read_rtdose(files[0])
