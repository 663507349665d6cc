"""Acceptance: the io package on the committed sample studies (``sample_data/``).

Masks of the ground truth onto their CTs, a DICOM SEG and an RT Dose written on
the SIRT study (re-read and checked by dicom3tools' ``dciodvfy``), and the
``info`` and ``convert`` commands on the whole folder, all compared with each
study's ``ground_truth/truth.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.io.test_writers_dciodvfy import _errors
from tests.io.test_writers_dciodvfy import pytestmark as needs_dciodvfy
from workstation.cli import main
from workstation.core import Unit, Volume
from workstation.io import read_image, read_mask, read_rtdose, write_rtdose, write_seg
from workstation.samples import CASE_FOLDERS, RT_FOLDERS, sample_data_dir

pytestmark = pytest.mark.slow

# Geometry written by the sample generator and read back from DICOM headers are the
# same decimal numbers: 1e-3 mm only absorbs decimal-string formatting (DS values).
ATOL_MM = 1e-3
# NIfTI stores spacing and origin as float32: |origin| <= 400 mm gives <= 400 * 2**-24
# = 2.4e-5 mm of rounding, so 1e-4 mm is the tolerance of a NIfTI round trip.
NIFTI_ATOL_MM = 1e-4
# Ground-truth NIfTI files that are images, not masks.
NOT_MASKS = {"activity_bqml.nii.gz", "dose_ldm_gy.nii.gz"}
# DICOM modality of each image folder of the sample studies.
MODALITY = {"ct": "CT", "pre_ct": "CT", "post_ct": "CT", "spect": "NM", "pet": "PT"}
LESION_NAMES = {2: "lesion_1", 3: "lesion_2", 4: "lesion_3", 5: "lesion_4"}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def samples() -> Path:
    return sample_data_dir()


def _truth(samples: Path, case: str) -> dict[str, Any]:
    return json.loads((samples / case / "ground_truth" / "truth.json").read_text())


@pytest.fixture(scope="module")
def sirt_truth(samples: Path) -> dict[str, Any]:
    return _truth(samples, "sirt")


@pytest.fixture(scope="module")
def sirt_ct(samples: Path) -> Volume:
    return read_image(samples / "sirt" / "ct")


@pytest.fixture(scope="module")
def spect_file(samples: Path) -> Path:
    (path,) = sorted((samples / "sirt" / "spect").glob("*.dcm"))
    return path


@pytest.fixture(scope="module")
def sirt_spect(spect_file: Path) -> Volume:
    return read_image(spect_file)


def _sitk_geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spacing (x, y, z), origin (LPS) and direction (rows of the 3x3, columns x, y, z)."""
    return (
        np.array(image.GetSpacing()),
        np.array(image.GetOrigin()),
        np.array(image.GetDirection()).reshape(3, 3),
    )


def _volume_geometry(vol: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same three in SimpleITK order from a Volume (axes z, y, x)."""
    return vol.spacing_mm[::-1], vol.origin_mm, vol.direction[:, ::-1]


# ------------------------------------------------------- ground-truth masks
def _check_mask_on_reference(nifti: Path, reference: Volume) -> Volume:
    """read_mask onto the CT gives the NIfTI's own grid, values and voxel count."""
    mask = read_mask(nifti, reference=reference)
    image = sitk.ReadImage(str(nifti))
    values = sitk.GetArrayFromImage(image)
    spacing, origin, direction = _sitk_geometry(image)
    assert mask.units == Unit.LABEL
    assert mask.same_grid(reference, atol_mm=ATOL_MM), nifti.name
    assert mask.shape == values.shape, nifti.name
    np.testing.assert_allclose(_volume_geometry(mask)[0], spacing, atol=NIFTI_ATOL_MM)
    np.testing.assert_allclose(_volume_geometry(mask)[1], origin, atol=NIFTI_ATOL_MM)
    np.testing.assert_allclose(_volume_geometry(mask)[2], direction, atol=1e-6)
    assert int(np.count_nonzero(mask.array)) == int(np.count_nonzero(values)), nifti.name
    # Same grid: nothing is resampled, label values are kept one for one.
    np.testing.assert_array_equal(mask.array, values, err_msg=nifti.name)
    assert mask.frame_of_reference_uid == reference.frame_of_reference_uid
    return mask


def test_sirt_ground_truth_masks_on_the_ct(samples, sirt_truth, sirt_ct):
    folder = samples / "sirt" / "ground_truth"
    files = {p.name for p in folder.glob("*.nii.gz")} - NOT_MASKS
    expected = set(sirt_truth["ground_truth_files"].values()) - NOT_MASKS
    assert files == expected
    masks = {name: _check_mask_on_reference(folder / name, sirt_ct) for name in sorted(files)}
    # Voxel counts of truth.json's ROIs (exact integers written by the generator).
    rois = sirt_truth["rois"]
    for roi in ("liver", "lungs", "perfused_territory"):
        assert int(np.count_nonzero(masks[f"{roi}.nii.gz"].array)) == rois[roi]["voxels"], roi
    lesions = masks["lesions.nii.gz"].array
    for value, name in sirt_truth["label_names"]["lesions"].items():
        assert int(np.count_nonzero(lesions == int(value))) == rois[name]["voxels"], name


def test_ablation_ground_truth_masks_on_their_cts(samples):
    truth = _truth(samples, "ablation")
    cts = {name: read_image(samples / "ablation" / name) for name in ("pre_ct", "post_ct")}
    folder = samples / "ablation" / "ground_truth"
    files = {p.name for p in folder.glob("*.nii.gz")}
    assert files == {v for v in truth["ground_truth_files"].values() if v.endswith(".nii.gz")}
    # truth.json "ground_truth_grids": *_pre on the pre-CT, the others on the post-CT.
    masks = {
        name: _check_mask_on_reference(
            folder / name, cts["pre_ct"] if name.endswith("_pre.nii.gz") else cts["post_ct"]
        )
        for name in sorted(files)
    }
    assert masks["tumor_pre.nii.gz"].frame_of_reference_uid == truth["pre_ct"]["frame_of_reference_uid"]
    assert masks["tumor_post.nii.gz"].frame_of_reference_uid == truth["post_ct"]["frame_of_reference_uid"]
    # Mask volumes of truth.json: voxel count x voxel volume (1.5 x 1.5 x 2.5 mm).
    voxel_ml = cts["post_ct"].voxel_volume_ml
    (tumor,) = truth["tumors"]
    for name, key in (("tumor_pre.nii.gz", "volume_ml_mask_pre"), ("tumor_post.nii.gz", "volume_ml_mask_post")):
        assert np.count_nonzero(masks[name].array) * voxel_ml == pytest.approx(tumor[key], abs=1e-6)
    assert np.count_nonzero(masks["ablation_zone.nii.gz"].array) * voxel_ml == pytest.approx(
        truth["ablation_zone"]["volume_ml_mask"], abs=1e-6
    )


# ---------------------------------------------------------------- DICOM SEG
@pytest.fixture(scope="module")
def sirt_labels(samples: Path, sirt_ct: Volume) -> Volume:
    """Liver (1) and the four lesions (2..5, drawn over the liver) on the SIRT CT."""
    gt = samples / "sirt" / "ground_truth"
    liver = read_mask(gt / "liver.nii.gz", reference=sirt_ct).array
    lesions = read_mask(gt / "lesions.nii.gz", reference=sirt_ct).array
    arr = np.where(lesions > 0, lesions.astype(np.uint8) + 1, (liver > 0).astype(np.uint8))
    assert set(np.unique(arr).tolist()) == {0, 1, 2, 3, 4, 5}
    return sirt_ct.copy_with(array=arr.astype(np.uint8), units=Unit.LABEL,
                             label_names={1: "liver", **LESION_NAMES})


@pytest.fixture(scope="module")
def sirt_seg(tmp_path_factory: pytest.TempPathFactory, sirt_labels: Volume, sirt_ct: Volume) -> Path:
    return write_seg(sirt_labels, tmp_path_factory.mktemp("seg") / "liver_lesions.dcm", sirt_ct)


def test_seg_on_sirt_ct_reads_back_by_name(sirt_seg, sirt_labels, sirt_ct):
    for value, name in sirt_labels.label_names.items():
        mask = read_mask(f"{sirt_seg}#{name}", reference=sirt_ct)
        assert mask.same_grid(sirt_ct, atol_mm=ATOL_MM)
        assert mask.label_names == {1: name}
        np.testing.assert_array_equal(mask.array != 0, sirt_labels.array == value, err_msg=name)
    whole = read_mask(sirt_seg, reference=sirt_ct)
    np.testing.assert_array_equal(whole.array, sirt_labels.array)
    assert whole.label_names == sirt_labels.label_names


def test_seg_on_sirt_ct_references_the_ct_series(sirt_seg, sirt_truth):
    ds = pydicom.dcmread(sirt_seg, stop_before_pixels=True)
    assert ds.Modality == "SEG"
    assert ds.FrameOfReferenceUID == sirt_truth["frame_of_reference_uid"]
    assert ds.StudyInstanceUID == sirt_truth["study_instance_uid"]
    (ref_series,) = ds.ReferencedSeriesSequence
    assert ref_series.SeriesInstanceUID == sirt_truth["series"]["ct"]
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["liver", *LESION_NAMES.values()]


@needs_dciodvfy
def test_seg_on_sirt_ct_passes_dciodvfy(sirt_seg):
    assert _errors(sirt_seg) == []


# ------------------------------------------------------------------ RT Dose
@pytest.fixture(scope="module")
def spect_dose(samples: Path, sirt_spect: Volume) -> Volume:
    """The ground-truth LDM dose (CT grid) resampled linearly onto the SPECT grid."""
    dose_ct = read_image(samples / "sirt" / "ground_truth" / "dose_ldm_gy.nii.gz", units=Unit.GY)
    dose = dose_ct.resample_to(sirt_spect, interpolation="linear")
    assert dose.units == Unit.GY and dose.same_grid(sirt_spect)
    # Lesion doses are ~100-300 Gy in truth.json: a real dose, not an empty grid.
    assert float(dose.array.max()) > 100.0
    return dose


@pytest.fixture(scope="module")
def spect_rtdose(tmp_path_factory: pytest.TempPathFactory, spect_dose: Volume, sirt_spect: Volume) -> Path:
    return write_rtdose(spect_dose, tmp_path_factory.mktemp("dose") / "rtdose_ldm.dcm", reference=sirt_spect)


@needs_dciodvfy
def test_rtdose_on_spect_grid_passes_dciodvfy(spect_rtdose):
    assert _errors(spect_rtdose) == []


def test_rtdose_on_spect_grid_reads_back(spect_rtdose, spect_dose, sirt_spect, sirt_truth):
    header = pydicom.dcmread(spect_rtdose, stop_before_pixels=True)
    scaling = float(header.DoseGridScaling)
    assert header.DoseUnits == "GY" and header.DoseType == "PHYSICAL"
    assert header.FrameOfReferenceUID == sirt_truth["frame_of_reference_uid"]
    assert header.StudyInstanceUID == sirt_truth["study_instance_uid"]
    dose = read_rtdose(spect_rtdose)
    assert dose.units == Unit.GY and dose.modality == "RTDOSE"
    assert dose.frame_of_reference_uid == sirt_spect.frame_of_reference_uid
    assert dose.shape == sirt_spect.shape
    np.testing.assert_allclose(dose.affine, sirt_spect.affine, atol=ATOL_MM, rtol=0)
    np.testing.assert_allclose(_volume_geometry(dose)[0], sirt_truth["spect"]["spacing_xyz_mm"], atol=ATOL_MM)
    np.testing.assert_allclose(dose.origin_mm, sirt_truth["spect"]["origin_lps_mm"], atol=ATOL_MM)
    # Rounding to the nearest step leaves at most half a step; the float32 of the
    # re-read value adds at most max * 2**-23 (a relative float32 rounding, ~1e-5 Gy).
    bound = scaling / 2 + float(spect_dose.array.max()) * 2.0**-23
    error = np.abs(dose.array.astype(np.float64) - spect_dose.array.astype(np.float64))
    assert float(error.max()) <= bound, (float(error.max()), scaling)
    # A 16-bit grid: the step is max / 65535 (so the test above can fail by a step).
    assert scaling == pytest.approx(float(spect_dose.array.max()) / 65535, rel=1e-6)


# ------------------------------------------------------------- CLI: info
def _expected_series(samples: Path) -> dict[str, dict[str, Any]]:
    """Series UID -> case, folder, modality, frame of reference, size from every truth.json."""
    expected: dict[str, dict[str, Any]] = {}
    for case, folders in CASE_FOLDERS.items():
        truth = _truth(samples, case)
        for folder in folders:
            if folder == "ground_truth":
                continue
            grid = truth[folder]
            if "series" in truth:  # sirt, maa, nema: series UIDs in one table
                uid = truth["series"][folder]
                frame = truth["frame_of_reference_uid"]
                frame = frame[folder] if isinstance(frame, dict) else frame  # nema: one per scanner
            else:  # ablation: per CT
                uid, frame = grid["series_instance_uid"], grid["frame_of_reference_uid"]
            expected[uid] = {"case": case, "folder": folder, "modality": MODALITY[folder],
                             "frame_of_reference_uid": frame, "size": grid["size_xyz"]}
    for case, folders in RT_FOLDERS.items():  # the RT Dose grids of the sbrt and hdr studies
        truth = _truth(samples, case)
        expected[truth["series"]["rtdose"]] = {"case": case, "folder": folders[0], "modality": "RTDOSE",
                                               "frame_of_reference_uid": truth["frame_of_reference_uid"],
                                               "size": truth["rtdose"]["size_xyz"]}
    return expected


def test_info_json_lists_every_sample_series(samples, capsys):
    expected = _expected_series(samples)
    assert len(expected) == 15  # sirt 3 + maa 2 + ablation 2 + tace 2 + nema 2 + sbrt 2 + hdr 2 (CT, RT Dose)
    capsys.readouterr()
    assert main(["info", str(samples), "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    # RT Structure Sets and RT Plans are listed, as objects that are not images
    rt_objects = [e for e in entries if e["modality"] in ("RTSTRUCT", "RTPLAN")]
    assert len(rt_objects) == 2 * len(RT_FOLDERS) and not any(e["readable"] for e in rt_objects)
    entries = [e for e in entries if e["modality"] not in ("RTSTRUCT", "RTPLAN")]
    assert all(e["readable"] and e["problem"] is None for e in entries), entries
    found = {e["series_instance_uid"]: e for e in entries}
    assert len(found) == len(entries)  # one entry (one stack) per series
    assert set(found) == set(expected)
    for uid, want in expected.items():
        entry = found[uid]
        where = f"{want['case']}/{want['folder']}"
        assert entry["modality"] == want["modality"], where
        assert entry["frame_of_reference_uid"] == want["frame_of_reference_uid"], where
        assert entry["size"] == want["size"], where
        folder = (samples / want["case"] / want["folder"]).resolve()
        assert Path(entry["path"]).resolve().is_relative_to(folder), (where, entry["path"])


# ---------------------------------------------------------- CLI: convert
def test_convert_spect_to_nifti_keeps_geometry(spect_file, sirt_spect, tmp_path, capsys):
    out = tmp_path / "spect.nii.gz"
    assert main(["convert", str(spect_file), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    image = sitk.ReadImage(str(out))
    spacing, origin, direction = _sitk_geometry(image)
    want_spacing, want_origin, want_direction = _volume_geometry(sirt_spect)
    np.testing.assert_allclose(spacing, want_spacing, atol=NIFTI_ATOL_MM, rtol=0)
    np.testing.assert_allclose(origin, want_origin, atol=NIFTI_ATOL_MM, rtol=0)
    np.testing.assert_allclose(direction, want_direction, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sirt_spect.array)
    assert not any(p.name != "spect.nii.gz" for p in tmp_path.iterdir())  # no temporary left over
