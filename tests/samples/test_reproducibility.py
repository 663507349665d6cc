"""The reproducibility comparison itself: last-bit noise passes, a real change fails (issue 18).

A regeneration on another CPU differs from the committed sample data only in the
last bits of computed floats; these tests simulate that on the committed files and
check that a change of 1e-6 relative (far below anything a user could see, far
above rounding) is still caught.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from tests.samples.reproducibility import compare_files, compare_json, compare_text_numbers

ABLATION_TRUTH = Path("ablation") / "ground_truth" / "truth.json"


def _map_floats(value, fn):  # noqa: ANN001, ANN202 - JSON values
    if isinstance(value, dict):
        return {k: _map_floats(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_floats(v, fn) for v in value]
    if isinstance(value, float):
        return fn(value)
    return value


def _ulps(x: float, n: int = 4) -> float:
    """*x* moved by *n* units in the last place (the size of the cross-CPU differences seen)."""
    for _ in range(n):
        x = float(np.nextafter(x, np.inf))
    return x


def test_json_last_bit_noise_passes_and_a_real_change_fails(committed: Path) -> None:
    truth = json.loads((committed / ABLATION_TRUTH).read_text(encoding="utf-8"))
    noisy = _map_floats(truth, _ulps)
    assert noisy != truth  # the perturbation did change numbers
    assert compare_json(noisy, truth) == []
    changed = json.loads(json.dumps(truth))
    changed["minimal_margin_mm"] *= 1 + 1e-6
    diffs = compare_json(changed, truth)
    assert len(diffs) == 1 and "minimal_margin_mm" in diffs[0]
    # structure and text stay exact
    renamed = dict(truth, description=truth["description"] + " ")
    assert compare_json(renamed, truth) != []
    assert compare_json({**truth, "extra": 1}, truth) != []


def test_transform_file_last_bit_noise_passes_and_a_real_change_fails(committed: Path) -> None:
    text = (committed / "ablation" / "ground_truth" / "transform.tfm").read_text(encoding="utf-8")
    words = text.split()
    numeric = [k for k, w in enumerate(words) if "." in w and w.replace(".", "").replace("-", "").replace("e", "").isdigit()]
    assert len(numeric) > 100
    noisy = list(words)
    for k in numeric:
        noisy[k] = repr(_ulps(float(words[k])))
    assert compare_text_numbers(" ".join(noisy), text, "tfm") == []
    k = numeric[len(numeric) // 2]
    changed = list(words)
    changed[k] = repr(float(words[k]) * (1 + 1e-6))
    assert compare_text_numbers(" ".join(changed), text, "tfm") != []


def test_float_image_noise_passes_and_a_real_change_fails(committed: Path, tmp_path: Path) -> None:
    path = committed / "sirt" / "ground_truth" / "dose_ldm_gy.nii.gz"
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    assert np.issubdtype(array.dtype, np.floating)

    def write(values: np.ndarray, name: str) -> Path:
        out = sitk.GetImageFromArray(values)
        out.CopyInformation(image)
        sitk.WriteImage(out, str(tmp_path / name))
        return tmp_path / name

    noisy = np.nextafter(array, np.inf, dtype=array.dtype)  # one float32 ULP everywhere
    assert compare_files(write(noisy, "noisy.nii.gz"), path, "dose") == []
    changed = array.copy()
    hot = np.unravel_index(np.argmax(array), array.shape)
    changed[hot] *= 1 + 1e-5
    assert compare_files(write(changed, "changed.nii.gz"), path, "dose") != []


def test_label_image_boundary_flip_passes_and_an_interior_change_fails(committed: Path, tmp_path: Path) -> None:
    path = committed / "sirt" / "ground_truth" / "liver.nii.gz"
    image = sitk.ReadImage(str(path))
    labels = sitk.GetArrayFromImage(image)

    def write(values: np.ndarray, name: str) -> Path:
        out = sitk.GetImageFromArray(values)
        out.CopyInformation(image)
        sitk.WriteImage(out, str(tmp_path / name))
        return tmp_path / name

    inside = np.argwhere(labels != 0)
    edge_z = inside[:, 0].min()
    boundary_voxel = tuple(inside[inside[:, 0] == edge_z][0])  # on the liver's lowest slice
    flipped = labels.copy()
    flipped[boundary_voxel] = 0
    assert compare_files(write(flipped, "edge.nii.gz"), path, "liver") == []
    centre = tuple(np.round(inside.mean(axis=0)).astype(int))
    assert labels[centre] != 0
    holed = labels.copy()
    holed[centre] = 0
    assert compare_files(write(holed, "hole.nii.gz"), path, "liver") != []


def test_dicom_rounding_step_passes_and_two_steps_fail(committed: Path, tmp_path: Path) -> None:
    source = sorted((committed / "sirt" / "pet").glob("*.dcm"))[30]
    ds = pydicom.dcmread(source)
    stored = ds.pixel_array.astype(np.int32)
    hot = np.unravel_index(np.argmax(stored), stored.shape)

    def write(delta: int, slope_factor: float, name: str) -> Path:
        copy = pydicom.dcmread(source)
        pixels = stored.copy()
        pixels[hot] += delta
        copy.PixelData = pixels.astype(copy.pixel_array.dtype).tobytes()
        copy.RescaleSlope = f"{float(copy.RescaleSlope) * slope_factor:.10g}"
        copy.save_as(tmp_path / name)
        return tmp_path / name

    # one quantization step and a last-digit change of the slope: what another CPU may write
    assert compare_files(write(-1, 1 + 2e-10, "one_step.dcm"), source, "pet") == []
    assert compare_files(write(-2, 1.0, "two_steps.dcm"), source, "pet") != []
    assert compare_files(write(0, 1 + 1e-6, "slope.dcm"), source, "pet") != []


def test_dicom_text_and_uids_stay_exact(committed: Path, tmp_path: Path) -> None:
    source = sorted((committed / "sirt" / "ct").glob("*.dcm"))[0]
    copy = pydicom.dcmread(source)
    uid = copy.SeriesInstanceUID
    copy.SeriesInstanceUID = uid[:-1] + ("1" if uid[-1] != "1" else "2")
    copy.save_as(tmp_path / "uid.dcm")
    assert compare_files(tmp_path / "uid.dcm", source, "ct") != []
    shutil.copy(source, tmp_path / "same.dcm")
    assert compare_files(tmp_path / "same.dcm", source, "ct") == []
