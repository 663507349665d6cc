"""Acceptance on the bundled sample studies (issue 5): liver, lungs, lesions, ablation zone.

The sample CTs (``sample_data/sirt/ct``, ``sample_data/ablation/post_ct``) are read
through the DICOM reader; ground truth masks are on the CT grids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.segmentation.phantoms import dice
from workstation.cli import main
from workstation.core import Volume
from workstation.io import read_image
from workstation.samples import sample_data_dir
from workstation.segmentation import (
    segment_ablation_zone,
    segment_body,
    segment_lesions,
    segment_liver,
    segment_lungs,
)

#: A point in the parenchyma of the right lobe, away from the lesions (LPS mm).
LIVER_SEED_LPS = (-90.0, 30.0, 10.0)


@pytest.fixture(scope="module")
def sirt() -> dict:
    root = sample_data_dir() / "sirt"
    ct = read_image(root / "ct")
    truth = {name: read_image(root / "ground_truth" / f"{name}.nii.gz") for name in ("liver", "lungs", "body", "lesions")}
    for name, vol in truth.items():
        assert vol.same_grid(ct), name
    info = json.loads((root / "ground_truth" / "truth.json").read_text())
    body = segment_body(ct)
    lungs = segment_lungs(ct, body=body)
    liver = segment_liver(ct, body=body, lungs=lungs)
    return {"ct": ct, "truth": truth, "info": info, "body": body, "lungs": lungs, "liver": liver}


def test_sample_body_and_lungs(sirt: dict) -> None:
    assert dice(sirt["body"].array > 0, sirt["truth"]["body"].array > 0) >= 0.98
    # acceptance: lungs Dice >= 0.95
    assert dice(sirt["lungs"].array > 0, sirt["truth"]["lungs"].array > 0) >= 0.95


def test_sample_liver_automatic_and_seeded(sirt: dict) -> None:
    truth = sirt["truth"]["liver"].array > 0
    # acceptance: liver Dice >= 0.95, automatic and seeded; and no worse than before the
    # working grid (issue 11): measured 0.9617 / 0.9602 before, 0.9651 / 0.9630 now
    assert dice(sirt["liver"].array > 0, truth) >= 0.96
    seeded = segment_liver(sirt["ct"], seed_lps=LIVER_SEED_LPS, body=sirt["body"], lungs=sirt["lungs"])
    assert dice(seeded.array > 0, truth) >= 0.96


@pytest.mark.parametrize("liver_source", ["ground_truth", "automatic"])
def test_sample_seeded_lesions(sirt: dict, liver_source: str) -> None:
    # acceptance: every lesion >= 1 cm found with Dice >= 0.8 when seeded (at its centre);
    # measured 0.916-1.000 in the reference liver and 0.916-0.974 in the automatic one
    # (before issue 11: 0.925-0.973 and 0.872-0.973; the subcapsular lesion 3 differs by
    # 5 of its 444 voxels), so 0.9 guards against a regression
    liver: Volume = sirt["truth"]["liver"] if liver_source == "ground_truth" else sirt["liver"]
    lesions_info = sirt["info"]["lesions"]
    seeds = [les["centre_lps_mm"] for les in lesions_info]
    lesions = segment_lesions(sirt["ct"], liver, seeds_lps=seeds)
    truth = sirt["truth"]["lesions"].array
    for n, les in enumerate(lesions_info, start=1):
        assert les["diameter_mm"] >= 10.0
        assert dice(lesions.array == n, truth == les["label"]) >= 0.9, les["description"]


def test_sample_automatic_lesions(sirt: dict) -> None:
    """Every lesion >= 1 cm is found without seeds (in the reference liver) and nothing else is reported."""
    lesions = segment_lesions(sirt["ct"], sirt["truth"]["liver"])
    truth = sirt["truth"]["lesions"].array
    found = [lesions.array == v for v in lesions.label_names]
    for les in sirt["info"]["lesions"]:
        assert max(dice(f, truth == les["label"]) for f in found) >= 0.7, les["description"]
    for f in found:
        assert max(dice(f, truth == les["label"]) for les in sirt["info"]["lesions"]) >= 0.7


@pytest.fixture(scope="module")
def post_ct() -> tuple[Path, Volume, np.ndarray]:
    root = sample_data_dir() / "ablation"
    ct = read_image(root / "post_ct")
    zone = read_image(root / "ground_truth" / "ablation_zone.nii.gz")
    assert zone.same_grid(ct)
    return root / "post_ct", ct, zone.array > 0


def test_sample_ablation_zone(post_ct: tuple[Path, Volume, np.ndarray], tmp_path: Path) -> None:
    folder, ct, truth = post_ct
    seed = ct.index_to_world(np.argwhere(truth).mean(axis=0))  # where a user would click: the zone's middle
    zone = segment_ablation_zone(ct, seed)
    # acceptance: ablation zone Dice >= 0.9
    assert dice(zone.array > 0, truth) >= 0.9
    # the same through the command line, reading the DICOM folder
    out = tmp_path / "zone.nii.gz"
    args = ["-q", "segment", "ablation-zone", "--image", str(folder), "--seed", *[f"{v:.2f}" for v in seed], "-o", str(out)]
    assert main(args) == 0
    assert dice(read_image(out).array > 0, truth) >= 0.9
