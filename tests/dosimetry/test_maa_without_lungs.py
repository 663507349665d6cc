"""MAA planning when the SPECT field of view misses the lungs (issue 19 item 1).

The real case: a 99mTc-MAA SPECT (NRRD) whose 3D Slicer segmentation has liver,
lesions and the perfused territory but no lungs, the shunt measured on planar
images. Shaped like it here: the sample MAA SPECT/CT cropped to the slices
below the lung bases and written as NRRD, with the sample's liver, lesion and
territory masks. A given lung shunt (or planar counts) makes the lungs ROI
optional; the tumour-to-normal ratio and volumes are those measured with a
dummy lungs mask (the lungs do not enter them), and the lung dose uses the
given fraction and lung mass.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from workstation.cli import main
from workstation.core import Unit
from workstation.core.errors import InvalidInputError
from workstation.dosimetry.maa import maa_uptake, planar_lung_shunt_fraction
from workstation.dosimetry.nuclides import Y90
from workstation.io import read_image, read_mask, write_image
from workstation.samples import sample_data_dir


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    maa = sample_data_dir() / "maa"
    spect = read_image(maa / "spect")
    liver = read_image(maa / "ground_truth" / "liver.nii.gz")
    # a field of view that ends one slice above the liver dome: most of the lungs are outside it,
    # only the lung bases beside the dome remain, and the segmentation has no lungs
    dome_z = liver.index_to_world(np.argwhere(liver.array != 0))[:, 2].max()
    z_of_slice = spect.index_to_world(np.stack([np.arange(spect.shape[0]), np.zeros(spect.shape[0]),
                                                np.zeros(spect.shape[0])], axis=1))[:, 2]
    below = np.flatnonzero(z_of_slice < dome_z + spect.spacing_mm[0])
    cropped = spect.crop((slice(int(below.min()), int(below.max()) + 1), slice(None), slice(None)))
    folder = tmp_path_factory.mktemp("maa_no_lungs")
    paths = {"spect": folder / "SPECT.nrrd", "ct": maa / "ct"}
    write_image(cropped, paths["spect"])
    for name, file in (("liver", "liver"), ("lesions", "lesions"), ("perfused", "perfused_territory")):
        paths[name] = maa / "ground_truth" / f"{file}.nii.gz"
    # a dummy lungs mask (as a user would draw to get past the old error): a small block on the
    # liver's grid, outside the liver, inside the cropped field of view
    dummy = liver.copy_with(array=np.zeros(liver.shape, np.uint8), units=Unit.LABEL)
    centre_z = cropped.index_to_world([cropped.shape[0] / 2, 0, 0])[2]
    k = int(round(liver.world_to_index([0.0, 0.0, centre_z])[0]))
    dummy.array[k - 1:k + 2, 10:13, 10:13] = 1
    assert not np.any(dummy.array & (liver.array != 0))
    paths["dummy_lungs"] = folder / "dummy_lungs.nii.gz"
    write_image(dummy, paths["dummy_lungs"])
    return paths


def _rois(study: dict[str, Path], *names: str) -> list[str]:
    return [a for n in names for a in ("--roi", f"{n}={study[n]}")]


def test_a_given_lung_shunt_makes_the_lungs_roi_optional(study: dict[str, Path]) -> None:
    spect = read_image(study["spect"], units="counts")
    ct = read_image(study["ct"])
    masks = {n: read_mask(str(study[n]), reference=ct) for n in ("liver", "lesions", "perfused")}
    without = maa_uptake(spect, masks, lung_shunt_fraction=0.05, lung_shunt_source="planar images")
    dummy = read_mask(str(study["dummy_lungs"]))
    with_dummy = maa_uptake(spect, {**masks, "lungs": dummy})
    assert without["lung_shunt_fraction"] == 0.05
    assert "given (planar images)" in without["lung_shunt_method"]
    assert without["lungs_volume_ml"] is None and without["regions"]["lungs"] is None
    assert any("No lungs ROI" in w for w in without["warnings"])
    # the lungs take no part in the TNR and the volumes: equal to the dummy-lungs run (float sums
    # of the same voxels in the same order)
    assert without["tumor_to_normal_ratio"] == pytest.approx(with_dummy["tumor_to_normal_ratio"], rel=1e-12)
    for key in ("tumor_volume_ml", "normal_liver_volume_ml", "perfused_volume_ml"):
        assert without[key] == pytest.approx(with_dummy[key], rel=1e-12)
    assert 1.5 < without["tumor_to_normal_ratio"] < 10  # a plausible TNR on the real-like crop
    with pytest.raises(InvalidInputError, match="--lung-shunt"):
        maa_uptake(spect, masks)
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        maa_uptake(spect, masks, lung_shunt_fraction=1.2)


def test_plan_cli_without_lungs_uses_the_given_shunt_and_says_so(
    study: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["plan", "--model", "partition", "--maa", str(study["spect"]), "--maa-ct", str(study["ct"]),
            *_rois(study, "liver", "lesions", "perfused"), "--target-tumor-gy", "150", "--lung-mass-g", "900"]
    assert main([*base, "--lung-shunt", "0.05", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["inputs"]["lung_shunt_fraction"] == 0.05
    assert plan["lung_shunt_source"] == "given (--lung-shunt)"
    assert "--lung-shunt" not in plan["maa"]["used_for_plan"]
    # lung dose of the partition model: f x A x LSF / M_lung (Ho et al. 1996), f = 49.67 Gy kg/GBq
    a = plan["prescribed_activity_gbq"]
    assert plan["doses"]["lung_gy"] == pytest.approx(Y90.ldm_gy_kg_per_gbq * a * 0.05 / 0.9, rel=1e-9)
    # the table says where the shunt came from
    assert main(base + ["--lung-shunt", "0.05"]) == 0
    text = capsys.readouterr().out
    assert "(given)" in text and "given (--lung-shunt)" in text and "lung mass of 900 g" in text
    # without any shunt: exit 2, one sentence naming both ways to give it
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "--lung-shunt" in err and "--planar-counts" in err and len(err.strip().splitlines()) == 1


def test_planar_geometric_mean_lung_shunt(study: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # AAPM Report 144: LSF = GM(lungs) / (GM(lungs) + GM(liver)), GM = sqrt(anterior x posterior)
    gm_lung, gm_liver = math.sqrt(1200.0 * 1800.0), math.sqrt(20000.0 * 14000.0)
    expected = gm_lung / (gm_lung + gm_liver)  # 0.080743...
    assert planar_lung_shunt_fraction(1200, 1800, 20000, 14000) == pytest.approx(expected, rel=1e-14)
    assert expected == pytest.approx(0.08074, abs=1e-5)
    with pytest.raises(InvalidInputError, match="liver counts"):
        planar_lung_shunt_fraction(10, 10, 0, 100)
    with pytest.raises(InvalidInputError, match="lung anterior"):
        planar_lung_shunt_fraction(-1, 10, 10, 10)
    base = ["plan", "--model", "partition", "--maa", str(study["spect"]), "--maa-ct", str(study["ct"]),
            *_rois(study, "liver", "lesions", "perfused"), "--target-tumor-gy", "150"]
    assert main([*base, "--planar-counts", "1200,1800,20000,14000", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["inputs"]["lung_shunt_fraction"] == pytest.approx(expected, rel=1e-14)
    assert "AAPM Report 144" in plan["lung_shunt_source"]
    assert main([*base, "--planar-counts", "1200,1800,20000"]) == 2
    assert "four numbers" in capsys.readouterr().err
    assert main([*base, "--planar-counts", "1,1,1,1", "--lung-shunt", "0.1"]) == 2
    assert "not both" in capsys.readouterr().err
