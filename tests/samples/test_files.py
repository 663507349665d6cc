"""The written files: deterministic, valid DICOM, loadable by SimpleITK, pydicom and our readers."""

from __future__ import annotations

import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom import config as pydicom_config

from tests.samples.conftest import load_truth
from tests.samples.reproducibility import compare_trees
from workstation.cli import main
from workstation.core.volume import Volume
from workstation.io import read_image
from workstation.samples import CASE_FOLDERS, CASES, sample_data_dir

SERIES_FOLDERS = {"ct", "pet", "pre_ct", "post_ct"}
# Geometry in truth.json and in the headers are the same decimal numbers written
# with 10 significant digits; 1e-4 mm only absorbs that formatting.
ATOL_MM = 1e-4


def _data_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.parts[-2] != "previews")


def test_regeneration_reproduces_the_committed_copy(generated: Path, committed: Path) -> None:
    """Same files, same headers and UIDs; computed numbers equal within the tolerances of
    ``reproducibility`` (byte identity of floats is not portable across CPUs, issue 18)."""
    fresh = _data_files(generated)
    assert fresh == [p for p in _data_files(committed) if p.parts[0] in CASES and p.name != "README.md"]
    assert compare_trees(generated, committed, fresh) == []


def test_layout_is_the_agreed_one(committed: Path) -> None:
    for case, folders in CASE_FOLDERS.items():
        for folder in folders:
            assert (committed / case / folder).is_dir(), f"{case}/{folder}"
        for folder in folders:
            if folder in ("spect",):
                assert [p.name for p in (committed / case / folder).iterdir()] == ["NM000001.dcm"]
    assert (committed / "sirt" / "ct" / "CT0001.dcm").is_file()
    assert (committed / "README.md").is_file()


def test_sample_data_dir_is_the_repository_copy(committed: Path) -> None:
    assert sample_data_dir() == committed


def _dicom_samples(root: Path) -> list[Path]:
    """Every NM file, and the first, middle and last file of every series.

    All slices of a series come from one code path with only the position and
    pixel values changing, so three per series exercise every header branch.
    """
    files = []
    for case, folders in CASE_FOLDERS.items():
        for folder in folders:
            paths = sorted((root / case / folder).glob("*.dcm"))
            if folder == "spect":
                files += paths
            elif paths:
                files += [paths[0], paths[len(paths) // 2], paths[-1]]
    return files


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dicom_files_pass_dciodvfy_without_errors(committed: Path) -> None:
    failures = {}
    for path in _dicom_samples(committed):
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
        if errors:
            failures[str(path.relative_to(committed))] = errors
    assert failures == {}


def test_dicom_files_read_with_strict_pydicom(committed: Path) -> None:
    old = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        for path in _dicom_samples(committed):
            ds = pydicom.dcmread(BytesIO(path.read_bytes()))
            assert ds.Manufacturer == "workstation sample generator"
            assert ds.pixel_array.size == ds.Rows * ds.Columns * int(ds.get("NumberOfFrames", 1))
    finally:
        pydicom_config.settings.reading_validation_mode = old


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize(("case", "folder"), [(c, f) for c, fs in CASE_FOLDERS.items() for f in fs
                                               if f != "ground_truth"])
def test_simpleitk_reads_the_geometry_of_truth_json(committed: Path, case: str, folder: str) -> None:
    truth = load_truth(committed, case)
    if folder == "spect":
        image = sitk.ReadImage(str(committed / case / folder / "NM000001.dcm"))
    else:
        image = _sitk_series(committed / case / folder)
    grid = truth[folder]
    assert list(image.GetSize()) == grid["size_xyz"]
    assert np.allclose(image.GetSpacing(), grid["spacing_xyz_mm"], atol=ATOL_MM)
    assert np.allclose(image.GetOrigin(), grid["origin_lps_mm"], atol=ATOL_MM)
    assert np.allclose(image.GetDirection(), np.eye(3).ravel())


def test_project_reader_agrees_with_simpleitk_on_the_ct(committed: Path) -> None:
    for case, folder in (("sirt", "ct"), ("ablation", "post_ct"), ("maa", "ct")):
        ours = read_image(committed / case / folder)
        image = _sitk_series(committed / case / folder)
        theirs = Volume.from_sitk(image)
        assert np.allclose(ours.affine, theirs.affine, atol=ATOL_MM)
        assert np.array_equal(ours.array.astype(np.float32), theirs.array.astype(np.float32))


def test_project_reader_nm_geometry_is_what_was_written(committed: Path) -> None:
    truth = load_truth(committed, "sirt")
    nm = read_image(committed / "sirt" / "spect" / "NM000001.dcm")
    grid = truth["spect"]
    assert list(nm.shape[::-1]) == grid["size_xyz"]
    assert np.allclose(nm.origin_mm, grid["origin_lps_mm"], atol=ATOL_MM)
    assert np.allclose(nm.spacing_mm[::-1], grid["spacing_xyz_mm"], atol=ATOL_MM)
    assert int(nm.array.sum()) == grid["total_counts"]
    assert nm.frame_of_reference_uid == truth["frame_of_reference_uid"]


def test_pet_values_are_bq_per_ml_decay_corrected_to_administration(committed: Path) -> None:
    truth = load_truth(committed, "nema")
    pet = read_image(committed / "nema" / "pet")
    spheres = read_image(committed / "nema" / "ground_truth" / "background.nii.gz")
    background = spheres.resample_to(pet, interpolation="nearest").array > 0
    # erode by the blur (6 mm FWHM -> 3 voxels of 4 mm) so that edges do not bias the mean
    from scipy import ndimage

    inner = ndimage.binary_erosion(background, iterations=3)
    # tens of thousands of voxels with ~22 % Poisson noise: the mean is known to well below 1 %;
    # 1.5 % allows for the int16 quantisation and the trilinear sampling
    assert pet.array[inner].mean() == pytest.approx(truth["background_bq_per_ml"], rel=0.015)


def test_cli_writes_one_case_and_rejects_an_unknown_one(tmp_path: Path, committed: Path) -> None:
    assert main(["--quiet", "sample-data", "-o", str(tmp_path / "out"), "--case", "nema"]) == 0
    written = _data_files(tmp_path / "out")
    assert written and all(p.parts[0] == "nema" for p in written)
    truth = Path("nema") / "ground_truth" / "truth.json"
    assert compare_trees(tmp_path / "out", committed, [truth]) == []
    assert main(["sample-data", "-o", str(tmp_path / "bad"), "--case", "liver"]) == 2
    assert not (tmp_path / "bad").exists()


def test_sample_data_dir_generates_once_into_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workstation.samples as samples

    calls = []

    def fake_generate(out: Path, cases=None, previews=False, progress=None):  # noqa: ANN001, ANN202
        calls.append(Path(out))
        for case in CASES:
            (Path(out) / case / "ground_truth").mkdir(parents=True, exist_ok=True)
            (Path(out) / case / "ground_truth" / "truth.json").write_text("{}")
        return {}

    monkeypatch.setattr(samples, "_repository_copy", lambda: tmp_path / "no-repo-copy")
    monkeypatch.setattr(samples, "generate", fake_generate)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = samples.sample_data_dir()
    second = samples.sample_data_dir()
    assert first == second and first.is_relative_to(tmp_path / "cache" / "workstation")
    assert calls == [first]


@pytest.mark.parametrize("case", ["sirt", "nema"])
def test_simpleitk_applies_the_per_slice_pet_rescale(committed: Path, case: str) -> None:
    image = _sitk_series(committed / case / "pet")
    ours = read_image(committed / case / "pet")
    theirs = sitk.GetArrayFromImage(image)
    assert image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64)
    # same stored integers x the same slopes; 1 Bq/mL covers float32 rounding of ~1e7 values
    assert np.abs(theirs - ours.array).max() < 1.0
