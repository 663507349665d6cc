"""The synthetic cohort's outcome models and its ablation geometry (the SIRT patients: slow tests)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from workstation.io import read_image
from workstation.samples._cohort import (
    DOSE_RESPONSE,
    MARGIN_PROGRESSION,
    MarginProgressionModel,
    _margin_patient,
)


def test_dose_response_model_draws_its_probability() -> None:
    rng = np.random.default_rng(1)
    assert DOSE_RESPONSE.d50_gy == pytest.approx(150.0)
    assert DOSE_RESPONSE.probability(DOSE_RESPONSE.d50_gy) == pytest.approx(0.5)
    for dose in (50.0, 150.0, 250.0):
        p = float(DOSE_RESPONSE.probability(dose))
        draws = DOSE_RESPONSE.draw(np.full(40000, dose), rng)
        # binomial sd sqrt(p (1-p) / 40000) <= 0.0025: 4 sd
        assert draws.mean() == pytest.approx(p, abs=0.01)


def test_margin_model_hazard_per_mm() -> None:
    """Without censoring the mean time is 1 / (h0 HR^m); censoring at the follow-up otherwise."""
    never_censored = MarginProgressionModel(0.03, 0.8, (1e9, 1e9 + 1))
    rng = np.random.default_rng(2)
    for margin in (-2.0, 0.0, 5.0):
        months, progressed = never_censored.draw(np.full(40000, margin), rng)
        assert progressed.all()
        # exponential: sd of the mean = mean / sqrt(40000) = 0.5 %
        assert months.mean() == pytest.approx(1.0 / (0.03 * 0.8 ** margin), rel=0.02)
    months, progressed = MARGIN_PROGRESSION.draw(np.full(2000, 3.0), rng)
    assert months.max() <= MARGIN_PROGRESSION.follow_up_months[1]
    assert 0 < progressed.mean() < 1


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_ablation_masks_have_the_analytic_minimal_margin(tmp_path: Path, seed: int) -> None:
    truth = _margin_patient(tmp_path, 1, np.random.default_rng(seed))
    r, big_r, offset = truth["tumour_radius_mm"], truth["ablation_radius_mm"], truth["centre_offset_mm"]
    assert truth["true_minimal_margin_mm"] == pytest.approx(big_r - r - offset)
    assert big_r >= r  # an uncovered edge comes from an off-centre zone, never a zone smaller than the tumour
    tumour = read_image(tmp_path / "tumor.nii.gz")
    zone = read_image(tmp_path / "ablation_zone.nii.gz")
    assert tumour.same_grid(zone)
    voxel_ml = float(np.prod(tumour.spacing_mm)) / 1000.0
    # voxelised spheres: volume within the surface layer (area x half the mean voxel size)
    for vol, radius in ((tumour, r), (zone, big_r)):
        exact = 4 / 3 * math.pi * radius**3 / 1000.0
        layer = 4 * math.pi * radius**2 * float(np.mean(vol.spacing_mm)) / 2 / 1000.0
        assert int((vol.array > 0).sum()) * voxel_ml == pytest.approx(exact, abs=layer)
    # the nearest uncovered point: dense sampling of the tumour sphere gives R - |p - c| >= margin
    centre = np.asarray(truth["tumour_centre_lps_mm"])
    u = np.random.default_rng(0).standard_normal((20000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    zone_centre = zone.index_to_world((np.asarray(zone.shape) - 1) / 2.0)
    margins = big_r - np.linalg.norm(centre + r * u - zone_centre, axis=1)
    assert margins.min() == pytest.approx(truth["true_minimal_margin_mm"], abs=0.05)
