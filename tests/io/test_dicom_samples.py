"""Acceptance: the bundled sample studies read back with the geometry their truth.json states."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from workstation.core import Unit
from workstation.io import read_image
from workstation.samples import CASE_FOLDERS, sample_data_dir

IMAGE_FOLDERS = ("ct", "spect", "pet", "pre_ct", "post_ct")
# Geometry in truth.json and in the DICOM headers are the same decimal numbers;
# 1e-3 mm only absorbs float formatting.
ATOL_MM = 1e-3


@pytest.fixture(scope="module")
def samples():
    return sample_data_dir()


def _cases():
    return [(case, folder) for case, folders in CASE_FOLDERS.items()
            for folder in folders if folder in IMAGE_FOLDERS]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "folder"), _cases(), ids=lambda v: str(v))
def test_sample_geometry_matches_truth(samples, case, folder):
    truth = json.loads((samples / case / "ground_truth" / "truth.json").read_text())
    vol = read_image(samples / case / folder)
    expected = truth[folder]
    assert list(vol.shape[::-1]) == expected["size_xyz"]
    assert np.allclose(vol.spacing_mm[::-1], expected["spacing_xyz_mm"], atol=ATOL_MM)
    assert np.allclose(vol.origin_mm, expected["origin_lps_mm"], atol=ATOL_MM)
    assert np.allclose(vol.direction, np.diag([1.0, 1.0, 1.0])[:, ::-1], atol=1e-6)
    if folder in ("ct", "pre_ct", "post_ct"):
        assert vol.units == Unit.HU
    if folder == "pet":
        assert vol.units == Unit.BQML
        assert vol.metadata.decay_correction == expected["decay_correction"].split()[0]
    if folder in ("spect", "pet") and "nuclide" in truth:
        rp = vol.metadata.radiopharmaceutical
        assert rp is not None and rp.nuclide == truth["nuclide"]
        if "injection_datetime" in truth:
            assert rp.injection_datetime == dt.datetime.fromisoformat(truth["injection_datetime"])
    if folder == "spect" and "total_counts" in expected:
        assert vol.units == Unit.COUNTS
        assert float(vol.array.sum()) == pytest.approx(expected["total_counts"], rel=1e-6)


@pytest.mark.slow
def test_sirt_ct_is_on_the_ground_truth_grid(samples):
    ct = read_image(samples / "sirt" / "ct")
    liver = read_image(samples / "sirt" / "ground_truth" / "liver.nii.gz")
    assert ct.same_grid(liver, atol_mm=ATOL_MM)
