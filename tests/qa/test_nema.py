"""NEMA IEC phantom analysis on synthetic phantoms with known geometry and resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from tests.qa.conftest import BACKGROUND_BQML, FWHM_MM, SPHERE_BQML, make_phantom
from workstation.core import InvalidInputError, Unit
from workstation.qa import analyse_nema_phantom, sphere_recovery_model


def test_recovery_model_matches_numerical_convolution() -> None:
    # Blur a finely sampled ball (0.25 mm) numerically and compare the mean and
    # the centre value inside the ball with the closed form. The 0.25 mm grid
    # discretises the sphere edge to ~1 % in volume, hence the 1.5 % tolerance.
    d, fwhm, h = 10.0, 6.0, 0.25
    n = int(40 / h)
    g = (np.arange(n) - n / 2 + 0.5) * h
    z, y, x = np.meshgrid(g, g, g, indexing="ij", sparse=True)
    ball = (x**2 + y**2 + z**2 <= (d / 2) ** 2).astype(np.float32)
    blurred = ndimage.gaussian_filter(ball, fwhm / 2.3548 / h)
    rc_mean, rc_max = sphere_recovery_model(d, fwhm)
    assert rc_mean == pytest.approx(float(blurred[ball > 0].mean()), rel=0.015)
    assert rc_max == pytest.approx(float(blurred[n // 2, n // 2, n // 2]), rel=0.015)
    # limits: no blur recovers everything, huge blur recovers nothing
    # a 0.01 mm blur still moves a thin edge shell: loss ~ 3 * 0.4 * sigma / R ~ 3e-4
    assert sphere_recovery_model(37.0, 0.01)[0] == pytest.approx(1.0, abs=1e-3)
    assert sphere_recovery_model(10.0, 200.0)[0] < 0.01


def test_bundled_style_phantom_passes(phantom) -> None:
    vol, centres = phantom
    res = analyse_nema_phantom(vol, SPHERE_BQML, BACKGROUND_BQML)
    assert res.passed, [c for c in res.checks if not c["passed"]]
    assert res.lung_insert_found
    # Template positions: the fit uses all six spheres; 1 mm is a quarter voxel.
    for s, c in zip(res.spheres, centres, strict=True):
        assert np.linalg.norm(np.array(s.centre_lps_mm) - c) < 1.0
    # The image blur is the 8 mm Gaussian plus 4 mm voxel averaging
    # (sigma_vox^2 = 4^2/12 per axis): about 8.6 mm FWHM; allow 10 %.
    expected = math.sqrt(FWHM_MM**2 + 8 * math.log(2) * 16 / 12)
    assert res.fitted_fwhm_mm == pytest.approx(expected, rel=0.10)
    # background: 3 % noise; 37 mm ROIs average ~ 300 voxels -> well within 2 %
    assert res.background_measured == pytest.approx(BACKGROUND_BQML, rel=0.02)
    assert res.background_variability_percent < 5
    rcs = [s.rc_mean for s in res.spheres]
    assert rcs == sorted(rcs)
    assert res.lung_insert_residual_percent is not None and res.lung_insert_residual_percent < 30


def test_mirrored_phantom_and_counts_image() -> None:
    vol, centres = make_phantom(start_angle_deg=200.0, handedness=-1, units=Unit.COUNTS)
    res = analyse_nema_phantom(vol, SPHERE_BQML, BACKGROUND_BQML)
    assert res.passed
    assert res.calibration.startswith("counts")
    for s, c in zip(res.spheres, centres, strict=True):
        assert np.linalg.norm(np.array(s.centre_lps_mm) - c) < 1.5


def test_misplaced_sphere_fails_with_reason() -> None:
    vol, _ = make_phantom(sphere_shift_mm={28.0: (0.0, 0.0, 14.0)})
    res = analyse_nema_phantom(vol, SPHERE_BQML, BACKGROUND_BQML)
    assert not res.passed
    failed = [c for c in res.checks if c["passed"] is False]
    assert any("28 mm sphere" in c["reason"] and "expected place" in c["reason"] for c in failed)


def test_misscaled_sphere_fails_with_reason() -> None:
    vol, _ = make_phantom(sphere_scale={37.0: 0.6})
    res = analyse_nema_phantom(vol, SPHERE_BQML, BACKGROUND_BQML)
    assert not res.passed
    failed = [c for c in res.checks if c["passed"] is False]
    assert any("37 mm sphere" in c["reason"] and "concentration" in c["reason"] for c in failed)


def test_wrong_stated_background_fails_for_quantitative_image(phantom) -> None:
    vol, _ = phantom
    res = analyse_nema_phantom(vol, SPHERE_BQML * 1.3, BACKGROUND_BQML * 1.3)
    assert not res.passed
    assert any(c["check"] == "background concentration" and not c["passed"] for c in res.checks)


def test_bad_input(phantom) -> None:
    vol, _ = phantom
    with pytest.raises(InvalidInputError):
        analyse_nema_phantom(vol, -1.0, BACKGROUND_BQML)
    with pytest.raises(InvalidInputError):
        analyse_nema_phantom(vol.copy_with(array=np.zeros(vol.shape, np.float32)), 1.0, 1.0)
