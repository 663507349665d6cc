"""DVH metrics on a sphere in a uniform and in a gradient field, conformity of concentric spheres."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from workstation.radiotherapy import conformity, structure_metrics, threshold_for_fractions
from workstation.radiotherapy.constants import LIVER_CRITICAL_VOLUME_THRESHOLD_GY

H_MM = 0.5  # voxel edge
R_MM = 20.0  # sphere radius
N = 128  # grid size (64 mm)
VOXEL_ML = H_MM**3 / 1000.0


def _coords() -> tuple[np.ndarray, np.ndarray]:
    """(z offsets from the sphere centre in mm, radius in mm) on the grid; centre at a voxel centre."""
    c = (N // 2) * H_MM
    z, y, x = np.meshgrid(*(np.arange(N) * H_MM - c for _ in range(3)), indexing="ij")
    return z, np.sqrt(x * x + y * y + z * z)


def _cap_fraction(t: float) -> float:
    """Fraction of a ball of radius R above the plane z = t (|t| <= R): (R - t)^2 (2R + t) / (4 R^3)."""
    return (R_MM - t) ** 2 * (2 * R_MM + t) / (4 * R_MM**3)


def test_uniform_field() -> None:
    z, r = _coords()
    sphere = (r <= R_MM).astype(np.float32)
    dose = np.full(sphere.shape, 50.0, np.float32)
    m = structure_metrics(dose, sphere, VOXEL_ML, prescription_gy=50.0, brachy=True)
    for key in ("mean_gy", "min_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy", "d100_gy", "d90_gy"):
        assert m[key] == pytest.approx(50.0, rel=1e-6), key
    assert m["v100_percent"] == pytest.approx(100.0) and m["v95_percent"] == pytest.approx(100.0)
    assert m["v150_percent"] == pytest.approx(0.0)
    # voxelized ball volume vs 4/3 pi R^3 = 33.51 mL: within 0.5 % at R/h = 40
    assert m["volume_ml"] == pytest.approx(4 / 3 * np.pi * R_MM**3 / 1000, rel=5e-3)
    c = conformity(dose, sphere, 50.0, VOXEL_ML)
    # the whole grid receives the prescription: CI = TV / PIV, GI = 1
    assert c["paddick"] == pytest.approx(m["volume_ml"] / (N**3 * VOXEL_ML), rel=1e-9)
    assert c["gradient_index"] == pytest.approx(1.0)


def test_gradient_field() -> None:
    """D = 50 + 1.2 Gy/mm * z across the ball: D_x from the spherical-cap volume.

    Hand values: the hottest x % of the ball lies above the plane t with cap fraction x/100,
    so D_x = 50 + 1.2 t(x); mean = 50 (symmetry); V_Rx = cap fraction above (Rx - 50)/1.2.
    Tolerance: half a voxel of the gradient (1.2 Gy/mm x 0.25 mm = 0.3 Gy) plus the ball's
    voxelization (0.5 % of the volume).
    """
    g = 1.2
    z, r = _coords()
    sphere = (r <= R_MM).astype(np.float32)
    dose = (50.0 + g * z).astype(np.float32)
    rx = 50.0 + g * 7.3  # plane at t = 7.3 mm (between slices)
    m = structure_metrics(dose, sphere, VOXEL_ML, prescription_gy=rx)
    for x in (98, 95, 50, 2):
        t = optimize.brentq(lambda t, x=x: _cap_fraction(t) - x / 100.0, -R_MM, R_MM)
        assert m[f"d{x}_gy"] == pytest.approx(50.0 + g * t, abs=g * H_MM / 2 + 1e-6), x
    assert m["mean_gy"] == pytest.approx(50.0, abs=1e-4)
    assert m["min_gy"] == pytest.approx(50.0 - g * R_MM, abs=1e-4)
    assert m["v100_percent"] == pytest.approx(100 * _cap_fraction(7.3), abs=0.5)
    assert m["v95_percent"] == pytest.approx(100 * _cap_fraction((0.95 * rx - 50.0) / g), abs=0.5)


def test_concentric_spheres_conformity_and_gradient_index() -> None:
    """Dose 100 exp(-r^2 / (2 s^2)): the Rx isodose is a ball of radius s sqrt(2 ln(100/Rx)).

    Target ball R = 20 mm, s = 15 mm, Rx = 35 Gy: r_100 = 21.74 mm, r_50 = 28.00 mm;
    Paddick CI = TV^2 / (TV PIV) = (R / r_100)^3 (target inside the isodose); GI = (r_50 / r_100)^3.
    Voxelization: 1 % (volumes of balls of 40-70 voxels radius).
    """
    s, rx = 15.0, 35.0
    _, r = _coords()
    sphere = (r <= R_MM).astype(np.float32)
    dose = (100.0 * np.exp(-r**2 / (2 * s**2))).astype(np.float32)
    r100 = s * np.sqrt(2 * np.log(100.0 / rx))
    r50 = s * np.sqrt(2 * np.log(100.0 / (0.5 * rx)))
    assert r50 < N * H_MM / 2  # the 50 % isodose fits the grid
    c = conformity(dose, sphere, rx, VOXEL_ML)
    assert c["paddick"] == pytest.approx((R_MM / r100) ** 3, rel=0.01)
    assert c["gradient_index"] == pytest.approx((r50 / r100) ** 3, rel=0.01)
    assert c["tv_piv_ml"] == pytest.approx(c["tv_ml"], rel=1e-9)


def test_liver_thresholds_for_fractions() -> None:
    """TG-101: 3 fractions 19.2 Gy as tabulated; 4 fractions derived by LQ (alpha/beta 2.5) from 3 or 5."""
    assert threshold_for_fractions(LIVER_CRITICAL_VOLUME_THRESHOLD_GY, 3) == (19.2, False)
    thr, derived = threshold_for_fractions(LIVER_CRITICAL_VOLUME_THRESHOLD_GY, 4)
    assert derived
    # nearest tabulated (ties to the smaller): 3 fractions of 6.4 Gy, EQD2 = 19.2 (6.4 + 2.5) / 4.5
    eqd2_3 = 19.2 * (6.4 + 2.5) / 4.5
    assert thr * (thr / 4 + 2.5) / 4.5 == pytest.approx(eqd2_3, rel=1e-10)
