"""Activity calibration, partial-voxel ROI weights, DVH and metrics."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from workstation.core import Radiopharmaceutical, Unit, Volume, VolumeMetadata, affine_from_geometry
from workstation.core.errors import EmptyMaskError, InvalidInputError, UnitError
from workstation.dosimetry.activity import calibrate_activity
from workstation.dosimetry.dvh import (
    cumulative_dvh,
    differential_dvh,
    dose_at_volume,
    roi_weights,
    volume_at_dose,
)
from workstation.dosimetry.metrics import lung_dose_formula_gy, roi_metrics
from workstation.dosimetry.nuclides import Y90

from .conftest import make_volume


def test_counts_scaled_to_administered_in_region() -> None:
    a = np.zeros((10, 10, 10), np.float32)
    a[2:6, 2:6, 2:6] = 50.0
    a[8, 8, 8] = 500.0  # outside the region
    region = np.zeros(a.shape)
    region[2:6, 2:6, 2:6] = 1
    cal = calibrate_activity(
        make_volume(a, units=Unit.COUNTS),
        administered_gbq=2.0,
        lung_shunt_fraction=0.1,
        residual_fraction=0.05,
        normalisation_weights=region,
        normalisation_region="liver",
    )
    act = cal.activity
    in_region_gbq = float((act.array * region).sum() * act.voxel_volume_ml * 1e-9)
    assert in_region_gbq == pytest.approx(2.0 * 0.9 * 0.95, rel=1e-6)
    assert cal.calibration == "administered"
    assert cal.total_in_image_gbq == pytest.approx(in_region_gbq * (64 * 50 + 500) / (64 * 50), rel=1e-6)


def test_quantitative_decay_correction_to_administration() -> None:
    t0 = dt.datetime(2026, 11, 27, 9, 0, 0)
    meta = VolumeMetadata(
        acquisition_datetime=t0 + dt.timedelta(hours=64.053),  # one half-life later
        radiopharmaceutical=Radiopharmaceutical(nuclide="Y-90", injection_datetime=t0),
    )
    a = np.full((4, 4, 4), 1000.0, np.float32)
    cal = calibrate_activity(make_volume(a, units=Unit.BQML, metadata=meta))
    assert cal.decay_factor == pytest.approx(2.0, rel=1e-9)
    assert float(cal.activity.array[0, 0, 0]) == pytest.approx(2000.0, rel=1e-6)
    # already corrected to the administration (PET DecayCorrection ADMIN): unchanged
    meta.decay_correction = "ADMIN"
    assert calibrate_activity(make_volume(a, units=Unit.BQML, metadata=meta)).decay_factor == 1.0
    # unknown times: no correction, with a warning
    cal2 = calibrate_activity(make_volume(a, units=Unit.BQML))
    assert cal2.decay_factor == 1.0 and any("No decay correction" in w for w in cal2.warnings)


def test_negative_voxels_clipped_and_reported() -> None:
    a = np.full((4, 4, 4), 10.0, np.float32)
    a[0, 0, :2] = -5.0
    cal = calibrate_activity(make_volume(a, units=Unit.BQML))
    assert cal.negative_voxels == 2
    assert float(cal.activity.array.min()) == 0.0
    assert cal.negative_activity_fraction == pytest.approx(10.0 / (62 * 10 + 10), rel=1e-6)
    assert any("negative" in w for w in cal.warnings)


def test_activity_errors() -> None:
    a = np.ones((4, 4, 4), np.float32)
    with pytest.raises(InvalidInputError, match="administered"):
        calibrate_activity(make_volume(a, units=Unit.COUNTS))
    with pytest.raises(UnitError, match="activity-units"):
        calibrate_activity(make_volume(a, units=Unit.UNKNOWN))
    bad = a.copy()
    bad[1, 1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        calibrate_activity(make_volume(bad, units=Unit.BQML))
    with pytest.raises(InvalidInputError, match="lung shunt"):
        calibrate_activity(make_volume(a, units=Unit.BQML), lung_shunt_fraction=1.5)


def test_roi_weights_partial_voxels() -> None:
    """A mask on a 2x finer grid covering half of each boundary voxel gives weight 0.5 there."""
    ref = make_volume(np.zeros((6, 6, 6), np.float32), (4.0, 4.0, 4.0))
    fine = np.zeros((12, 12, 12), np.uint8)
    fine[:, :, :5] = 1  # x < 5 fine voxels = 2.5 coarse voxels
    # fine grid: voxel centres at -1 + 2 i mm, so its edges coincide with the coarse ones
    mask = make_volume(fine, (2.0, 2.0, 2.0), origin=(-1.0, -1.0, -1.0), units=Unit.LABEL)
    w = roi_weights(mask, ref, supersample=4)
    np.testing.assert_allclose(w[0, 0, :4], [1.0, 1.0, 0.5, 0.0])
    assert float(w.sum() * ref.voxel_volume_ml) == pytest.approx(12 * 12 * 5 * 0.008, rel=1e-6)
    with pytest.raises(EmptyMaskError, match="'x'"):
        roi_weights(mask.copy_with(array=np.zeros_like(fine)), ref, name="x")


def test_dvh_and_dose_volume_metrics() -> None:
    dose = np.arange(1, 101, dtype=np.float64).reshape(4, 5, 5)  # 1..100 Gy, one voxel each
    w = np.ones_like(dose)
    dx = dose_at_volume(dose, w, [2, 50, 98])
    assert dx == {"2": 99.0, "50": 51.0, "98": 3.0}  # hottest 2 % = {100, 99}: minimum 99
    vx = volume_at_dose(dose, w, [20, 100, 205])
    assert vx == {"20": 81.0, "100": 1.0, "205": 0.0}
    edges, cum = cumulative_dvh(dose, w, bin_width_gy=1.0)
    assert cum[0] == pytest.approx(100.0) and np.all(np.diff(cum) <= 1e-12)
    assert cum[np.searchsorted(edges, 50.0)] == pytest.approx(51.0)
    e2, diff = differential_dvh(dose, w, bin_width_gy=1.0)
    assert diff.sum() == pytest.approx(100.0)
    met = roi_metrics(dose, w, voxel_volume_ml=0.064, density_g_per_ml=1.03)
    assert met["volume_ml"] == pytest.approx(6.4)
    assert met["mass_g"] == pytest.approx(6.4 * 1.03)
    assert met["mean_gy"] == pytest.approx(50.5)
    assert met["min_gy"] == 1.0 and met["max_gy"] == 100.0
    assert set(met["v_gy_percent"]) == {"20", "40", "70", "100", "120", "205"}
    for key in ("d2_gy", "d50_gy", "d70_gy", "d90_gy", "d95_gy", "d98_gy"):
        assert key in met
    # fractional weights: half weight on the hot half moves the mean accordingly
    w2 = np.where(dose > 50, 0.5, 1.0)
    assert roi_metrics(dose, w2, 0.064)["mean_gy"] == pytest.approx(
        (np.sum(dose[dose <= 50]) + 0.5 * np.sum(dose[dose > 50])) / 75.0
    )


def test_lung_dose_formula() -> None:
    # Ho et al. 1997 convention: 1 kg lungs; 3 GBq, LSF 10 % -> 49.67 * 0.3 = 14.9 Gy
    assert lung_dose_formula_gy(3.0, 0.10) == pytest.approx(14.901, abs=1e-3)
    assert lung_dose_formula_gy(3.0, 0.10, lung_mass_g=800.0, residual_fraction=0.1) == pytest.approx(
        49.67 * 3.0 * 0.9 * 0.1 / 0.8
    )
    assert math.isclose(Y90.decay_factor(Y90.half_life_s), 0.5)


def _full_grid_weights(mask, reference, n):  # noqa: ANN001, ANN202 - the reference implementation
    """Partial-voxel weights the direct way: supersample the whole reference grid, sample, average."""
    fine = reference.grid.supersampled(n)
    sampled = mask.copy_with(array=(mask.array != 0).astype(np.uint8)).resample_to(fine, "nearest").array
    nz, ny, nx = reference.shape
    return sampled.reshape(nz, n, ny, n, nx, n).mean(axis=(1, 3, 5))


@pytest.mark.parametrize("oblique", [False, True])
def test_roi_weights_in_the_roi_box_equal_the_full_grid_computation(oblique: bool) -> None:
    """The box-restricted weights (issue 16) are the full-grid ones, for a ROI on a finer,
    rotated, anisotropic grid that runs off the edge of the dose grid."""
    a = np.radians(12.0 if oblique else 0.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    axial = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # spacings and origins without common multiples: no sub-voxel centre ties with a mask voxel
    # boundary, where nearest-neighbour rounding could go either way
    fine_aff = affine_from_geometry((-40.13, -35.27, -30.41), (2.03, 0.913, 0.717), rot @ axial)
    zz, yy, xx = np.indices((40, 90, 110))
    pts = np.stack([zz, yy, xx], -1) @ fine_aff[:3, :3].T + fine_aff[:3, 3]
    ellipsoid = (((pts[..., 0] - 2.0) / 22.0) ** 2 + ((pts[..., 1] + 1.0) / 15.0) ** 2
                 + ((pts[..., 2] - 8.0) / 18.0) ** 2) <= 1.0
    mask = Volume(ellipsoid.astype(np.uint8), fine_aff, units=Unit.LABEL)
    # the dose grid stops inside the ROI along z (the ROI runs off its edge)
    ref = Volume(np.zeros((14, 16, 9), np.float32),
                 affine_from_geometry((-25.07, -40.19, -45.31), (4.79, 4.83, 4.77)))
    fast = roi_weights(mask, ref, supersample=3)
    slow = _full_grid_weights(mask, ref, 3)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow, atol=1e-6)  # identical sub-voxel samples; float32 rounding only
    assert 0 < fast.sum() < ellipsoid.sum()  # partial voxels and a truncated ROI
