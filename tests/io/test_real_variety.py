"""The variety of real DICOM (issue 14, item 4): missing UIDs, character sets, compression, corpus.

Real files come from the PyPI package ``pydicom-data`` (installed with the test
extra), pydicom's own test files and ``../shared/real`` (skipped when absent).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.corpus import (
    PYDICOM_FILES,
    compare_with_sitk,
    corpus_entries,
    pydicom_data_files,
    read_entry,
    sitk_volume,
)
from tests.io.dicom_factory import write_single_frame_series
from tests.io.fuzz_harness import run_cli
from workstation.core import Unit, affine_from_geometry
from workstation.io import read_image, read_mask, write_seg
from workstation.io.dicom import index_dicom

#: Files SimpleITK/GDCM reads wrongly, checked against pydicom's decoding instead.
#: rtdose_expb.dcm: 32-bit big-endian RT Dose; GDCM returns byte-swapped values
#: (4.29e9 where pydicom and we read 1254000 × 1e-6 Gy).
SITK_WRONG = {"rtdose_expb.dcm"}


# ------------------------------------------------------------- missing UIDs
def test_series_without_uids_grouped_with_a_warning(tmp_path: Path, rng: np.random.Generator) -> None:
    affine = affine_from_geometry([-20.0, -10.0, 5.0], [3.0, 0.8, 0.8])
    values = rng.normal(40.0, 10.0, (5, 8, 9)).round()
    write_single_frame_series(tmp_path / "anon", values, affine, shuffle_seed=3)
    write_single_frame_series(tmp_path / "anon", values + 100, affine_from_geometry([0, 0, 0], [2.0, 1, 1]), prefix="OTHER")
    for path in (tmp_path / "anon").glob("IM*"):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = ""  # present and empty, as anonymisers leave it
        del ds.StudyInstanceUID
        ds.save_as(path)
    index = index_dicom(tmp_path / "anon")
    assert sorted(s.key for s in index.images)[1] == "no-uid"
    volume = read_image(tmp_path / "anon", series="no-uid")
    np.testing.assert_array_equal(volume.array, values)
    assert np.allclose(volume.affine, affine)
    assert volume.metadata.series_instance_uid is None
    (note,) = [w for w in volume.metadata.warnings if "no-uid" in w]
    assert "no SeriesInstanceUID and no StudyInstanceUID" in note and "5 file(s)" in note


@pytest.mark.slow
def test_real_anonymised_ct_without_uids_equals_gdcm(shared_real: Path, tmp_path: Path) -> None:
    folder = shared_real / "totalsegmentator_example" / "ct_dicom"
    out = tmp_path / "out" / "ct.nii.gz"
    result = run_cli(["convert", str(folder), "-o", str(out)])
    assert result.code == 0, result.stderr
    assert "have no SeriesInstanceUID and no StudyInstanceUID" in result.stderr
    volume = read_image(folder)
    assert volume.shape == (20, 512, 512)
    assert compare_with_sitk(volume, sitk_volume(folder)) is None


# ------------------------------------------------------- character sets, SEG
def _write_seg_on(folder: Path, tmp_path: Path) -> Path:
    ct = read_image(folder)
    labels = ct.copy_with(array=(ct.array > 0).astype(np.uint8), units=Unit.LABEL, label_names={1: "liver"})
    return write_seg(labels, tmp_path / "seg.dcm", ct)


def test_seg_on_a_series_with_empty_character_set(tmp_path: Path, rng: np.random.Generator) -> None:
    affine = affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0])
    values = rng.normal(0.0, 50.0, (3, 10, 12)).round()
    write_single_frame_series(tmp_path / "ct", values, affine, extra={"SpecificCharacterSet": ""})
    seg = _write_seg_on(tmp_path / "ct", tmp_path)
    written = pydicom.dcmread(seg)
    assert written.SpecificCharacterSet == "ISO_IR 192"
    assert str(written.PatientName) == "Phantom^Synthetic"
    np.testing.assert_array_equal(read_mask(seg, reference=read_image(tmp_path / "ct")).array, values > 0)


def test_seg_on_real_ct_with_empty_character_set(shared_real: Path, tmp_path: Path) -> None:
    """dcmqi's CT (empty SpecificCharacterSet, one-component patient name), via the CLI."""
    folder = shared_real / "dcmqi_liver_seg"
    out = tmp_path / "out" / "liver.dcm"
    result = run_cli(["mask", str(folder / "liver.dcm"), "--image", str(folder / "ct"), "-o", str(out)])
    assert result.code == 0, result.stderr
    assert not result.leaked
    # highdicom's remark on the patient name is ours, once, naming the output.
    (line,) = [x for x in result.stderr.splitlines() if "person name" in x]
    assert line.startswith("warning: liver.dcm: highdicom:")
    ct = read_image(folder / "ct")
    np.testing.assert_array_equal(
        read_mask(out, reference=ct).array, read_mask(folder / "liver.dcm", reference=ct).array
    )


# --------------------------------------------------------- transfer syntaxes
@pytest.mark.parametrize(
    "name",
    ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm"],
)
def test_compressed_and_big_endian_equal_the_uncompressed(name: str) -> None:
    reference = read_image(PYDICOM_FILES / "MR_small.dcm")
    volume = read_image(PYDICOM_FILES / name)
    np.testing.assert_array_equal(volume.array, reference.array)
    assert np.allclose(volume.affine, reference.affine)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [("JPGExtended.dcm", "1.2.840.10008.1.2.4.51"), ("JPEG-LL.dcm", "1.2.840.10008.1.2.4.70"),
     ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91")],
)
def test_jpeg_pixel_data_decoded(name: str, syntax: str, tmp_path: Path) -> None:
    """JPEG extended, lossless (process 14 SV1) and JPEG 2000 through the decoder plugins.

    These NM planar images have no patient geometry; the header is given one
    (the pixel data is untouched) so that they read as a one-slice volume.
    """
    source = PYDICOM_FILES / name if (PYDICOM_FILES / name).exists() else (pydicom_data_files() or PYDICOM_FILES) / name
    if not source.exists():
        pytest.skip(f"{name} is not installed (pydicom-data)")
    ds = pydicom.dcmread(source)
    assert ds.file_meta.TransferSyntaxUID == syntax
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.Modality = "OT"
    target = tmp_path / name
    ds.save_as(target)
    volume = read_image(target)
    expected = pydicom.dcmread(target).pixel_array.astype(np.float64)
    np.testing.assert_allclose(volume.array[0], expected.reshape(volume.shape[1:]))


# -------------------------------------------------------------------- corpus
def _corpus(shared: Path | None) -> tuple[dict[str, int], list[str]]:
    counts = {"read": 0, "refused": 0, "failed": 0, "equal to SimpleITK": 0}
    problems: list[str] = []
    for entry in corpus_entries(shared):
        outcome = read_entry(entry)
        counts[outcome.kind] += 1
        if outcome.kind == "failed":
            problems.append(f"{entry}: {outcome.detail}")
        if outcome.kind == "refused" and str(entry) not in outcome.detail and entry.name not in outcome.detail:
            problems.append(f"{entry}: the reason does not name the file: {outcome.detail}")
        if outcome.kind != "read" or outcome.volume is None:
            continue
        if entry.name in SITK_WRONG:
            ds = pydicom.dcmread(entry)
            expected = ds.pixel_array * float(ds.get("DoseGridScaling", 1.0))
            if not np.allclose(outcome.volume.array, expected, rtol=1e-6, atol=1e-6):
                problems.append(f"{entry}: differs from pydicom's decoding")
            continue
        reference = sitk_volume(entry)
        if reference is None:
            continue
        if (difference := compare_with_sitk(outcome.volume, reference)) is not None:
            problems.append(f"{entry}: {difference}")
        else:
            counts["equal to SimpleITK"] += 1
    return counts, problems


@pytest.mark.slow
def test_corpus_reads_or_refuses_every_file(request: pytest.FixtureRequest) -> None:
    """pydicom-data + pydicom's test files + shared/real: failed = 0; reads equal SimpleITK/GDCM."""
    if pydicom_data_files() is None:
        pytest.skip("the PyPI package pydicom-data is not installed (pip install workstation[test])")
    try:
        shared: Path | None = request.getfixturevalue("shared_real")
    except pytest.skip.Exception:
        shared = None
    counts, problems = _corpus(shared)
    print(f"DICOM corpus: {counts}")
    assert counts["failed"] == 0 and not problems, problems
    assert counts["read"] >= 25 and counts["equal to SimpleITK"] >= counts["read"] - len(SITK_WRONG)


def test_corpus_sample_in_the_default_run(tmp_path: Path) -> None:
    """A few corpus files of each kind (compressed, big endian, enhanced, RT Dose, 2D, SEG)."""
    names = ["693_J2KR.dcm", "eCT_Supplemental.dcm", "rtdose.dcm", "rtdose_expb.dcm", "CT_small.dcm",
             "OBXXXX1A.dcm", "liver.dcm", "emri_small.dcm", "MR_truncated.dcm", "bad_sequence.dcm"]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in names:
        for root in (pydicom_data_files(), PYDICOM_FILES):
            if root is not None and (root / name).exists():
                shutil.copy(root / name, folder / name)
                break
    entries = sorted(folder.iterdir())
    counts = {"read": 0, "refused": 0, "failed": 0}
    for entry in entries:
        outcome = read_entry(entry)
        counts[outcome.kind] += 1
        assert outcome.kind != "failed", outcome.detail
        if outcome.kind == "read" and entry.name not in SITK_WRONG and (ref := sitk_volume(entry)) is not None:
            assert compare_with_sitk(outcome.volume, ref) is None, entry.name
    assert counts["read"] >= 4 and counts["refused"] >= 3, counts


# ------------------------------------------------------ legacy multi-frame
@pytest.mark.parametrize("reverse", [False, True], ids=["feet-first", "head-first"])
def test_legacy_converted_multiframe_equals_its_single_frames(
    tmp_path: Path, rng: np.random.Generator, oblique_direction: np.ndarray, reverse: bool
) -> None:
    """Geometry per frame (Legacy Converted Enhanced CT, highdicom): the same volume as the slices.

    Oblique, anisotropic, in both slice orders (frames stored in ascending or
    descending position along the normal).
    """
    import highdicom as hd

    affine = affine_from_geometry([-40.0, 12.0, 30.0], [2.5, 0.9, 0.7], oblique_direction)
    values = rng.normal(20.0, 30.0, (5, 9, 11)).round()
    paths = write_single_frame_series(tmp_path / "slices", values, affine, shuffle_seed=5)
    slices = read_image(tmp_path / "slices")
    datasets = [pydicom.dcmread(p) for p in (paths[::-1] if reverse else paths)]
    legacy = hd.legacy.LegacyConvertedEnhancedCTImage(datasets, hd.UID(), 7, hd.UID(), 1)
    (tmp_path / "legacy").mkdir()
    legacy.save_as(tmp_path / "legacy" / "ct.dcm", enforce_file_format=True)
    volume = read_image(tmp_path / "legacy" / "ct.dcm")
    np.testing.assert_array_equal(volume.array, slices.array)
    np.testing.assert_allclose(volume.affine, slices.affine, atol=1e-4)


# ------------------------------------------------------ vendor PET variants
def test_philips_pet_in_counts_with_activity_scale_factor(tmp_path: Path, rng: np.random.Generator) -> None:
    """Philips PET: Units CNTS, Bq/mL = rescaled counts × (7053,1009) of each image."""
    affine = affine_from_geometry([-100.0, -100.0, -50.0], [4.0, 4.07, 4.07])
    counts = rng.uniform(0, 3000.0, size=(4, 6, 5)).round()
    paths = write_single_frame_series(tmp_path / "pet", counts, affine, "PT", rescale_slope=1.0, pet={"units": "CNTS"})
    factors = [41.7, 41.7, 41.9, 41.7]  # Bq/mL per count, per image as the scanner writes it
    for path, factor in zip(paths, factors, strict=True):
        ds = pydicom.dcmread(path)
        block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        block.add_new(0x09, "DS", f"{factor:g}")
        ds.save_as(path)
    volume = read_image(tmp_path / "pet")
    assert volume.units == Unit.BQML
    expected = counts * np.array(factors)[:, None, None]
    np.testing.assert_allclose(volume.array, expected, rtol=1e-6)  # float32 of the exact product
    assert any("Activity Concentration Scale Factor (7053,1009)" in w for w in volume.metadata.warnings)


def test_pet_in_counts_without_a_scale_factor_stays_counts(tmp_path: Path, rng: np.random.Generator) -> None:
    affine = affine_from_geometry([0.0, 0.0, 0.0], [4.0, 4.0, 4.0])
    counts = rng.uniform(0, 3000.0, size=(3, 5, 5)).round()
    write_single_frame_series(tmp_path / "pet", counts, affine, "PT", rescale_slope=1.0, pet={"units": "CNTS"})
    volume = read_image(tmp_path / "pet")
    assert volume.units == Unit.COUNTS
    np.testing.assert_array_equal(volume.array, counts)
