"""166Ho: nuclide constants, the modelled dose point kernel and its voxel S-values.

The Graves et al. (2019) 166Ho kernel is not available here; the packaged kernel is
computed by :mod:`workstation.dosimetry.kernel_model` (Berger's scaled kernel with the
Katz-Penfold range, calibrated on the Graves 90Y kernel, folded with the ICRP-107 166Ho
spectra). These tests check the model where an answer is known and the voxel S-values
against an independent numerical integration of the kernel (the issue's acceptance, 3 %).
"""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import InvalidInputError
from workstation.dosimetry import kernel_model as km
from workstation.dosimetry import voxel_s_kernel
from workstation.dosimetry.kernels import MEV_PER_G_TO_MGY_PER_MBQ_S, dose_point_kernel
from workstation.dosimetry.nuclides import HO166, Y90, get_nuclide, ldm_factor_from_physics


def _x(outer: np.ndarray, energy: np.ndarray, fraction: float) -> float:
    c = np.cumsum(energy)
    return float(np.interp(fraction * c[-1], c, outer))


def test_nuclide_constants_and_names() -> None:
    for name in ("Ho-166", "ho166", "166Ho", "Holmium-166"):
        assert get_nuclide(name) is HO166
    assert HO166.half_life_h == pytest.approx(26.80)
    # LDM 15.87 Gy kg/GBq with T1/2 26.80 h implies 0.7116 MeV absorbed per decay: more than the
    # electrons (0.6650 + 0.0284 + 0.0029 MeV, ICRP 107) and less than electrons + photons (+0.030 MeV)
    e_abs = HO166.energy_per_decay_mev_for_ldm()
    assert e_abs == pytest.approx(0.7116, abs=5e-4)
    assert 0.6963 < e_abs < 0.6963 + 0.0301
    assert ldm_factor_from_physics(26.80, e_abs) == pytest.approx(15.87, rel=1e-12)
    # the 60 Gy rule: A = 3780 MBq per kg (van Roekel 2021) <-> 60 / 15.87 = 3.781 GBq/kg
    assert 60.0 / HO166.ldm_gy_kg_per_gbq == pytest.approx(3.780, abs=2e-3)
    with pytest.raises(InvalidInputError, match="Y-90, Ho-166"):
        get_nuclide("Lu-177")


def test_model_reproduces_the_graves_y90_kernel() -> None:
    """Calibration check: the model folded with the ICRP-107 90Y spectrum vs the Monte Carlo kernel.

    Energy within any radius within 1 % of the total; X90 (5.42 mm) within 2 %.
    """
    outer, model = km.model_shell_energies("Y-90", Y90.icrp107_mean_beta_energy_mev, include_discrete=False)
    graves = dose_point_kernel("Y-90").energy_mev[: outer.size]
    assert np.max(np.abs(np.cumsum(model) - np.cumsum(graves))) < 0.01 * graves.sum()
    assert _x(outer, model, 0.9) == pytest.approx(_x(outer, graves, 0.9), rel=0.02)


def test_ho166_kernel_energy_range_and_model_spread() -> None:
    """The packaged kernel deposits the ICRP-107 electron energy within the 8.7 mm maximum range.

    Maximum range of the 1.855 MeV endpoint: 8.7 mm (EANM guideline, Weber et al. 2022; Katz-Penfold
    8.68 mm). Model spread: Flammersfeld's range relation instead of Katz-Penfold moves X50 and X90
    by less than 3 % (1.5 % and 1.2 % at the time of writing).
    """
    dpk = dose_point_kernel("Ho-166")
    electrons = 0.6650 + 0.02840 + 0.00295  # beta + conversion + Auger, MeV per decay (ICRP 107)
    assert dpk.total_energy_mev == pytest.approx(electrons, rel=2e-3)
    assert float(km.katz_penfold_range_mm(1.855)) == pytest.approx(8.7, abs=0.05)
    assert dpk.energy_within_mev(8.7) > 0.999 * dpk.total_energy_mev
    outer = dpk.outer_radius_mm
    other_outer, other = km.ho166_shell_energies("flammersfeld")
    for f in (0.5, 0.9):
        assert _x(outer, dpk.energy_mev, f) == pytest.approx(_x(other_outer, other, f), rel=0.03)
    # softer than 90Y: X90 3.86 mm vs 5.42 mm
    assert _x(outer, dpk.energy_mev, 0.9) < 0.8 * _x(dose_point_kernel("Y-90").outer_radius_mm,
                                                       dose_point_kernel("Y-90").energy_mev, 0.9)


@pytest.mark.slow
def test_packaged_kernel_is_the_model_output() -> None:
    """The CSV in the package is what kernel_model computes (regeneration, about 6 s)."""
    outer, energy = km.ho166_shell_energies()
    dpk = dose_point_kernel("Ho-166")
    np.testing.assert_allclose(dpk.outer_radius_mm, outer, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dpk.energy_mev, energy, rtol=1e-9, atol=0)


def _mc_s_value(offset: tuple[int, int, int], h: np.ndarray, density: float, radius: float,
                rng: np.random.Generator, n: int = 2_000_000) -> tuple[float, float]:
    """Mean dose per decay (MeV/g) in a target voxel, by Monte Carlo in spherical coordinates.

    S(o) = int T_o(u) K(|u|) d3u with T_o the density of the difference of two uniform points
    (one per voxel); with u = r w, r uniform on [r0, r1] and w uniform on the sphere,
    S = (r1 - r0) E[T_o(r w) g(r)] / rho (g = dE/dr). Independent of the kernel code's
    Fibonacci sphere, midpoint and Gauss-Legendre quadratures. Returns (estimate, standard error).
    """
    dpk = dose_point_kernel("Ho-166")
    o = np.asarray(offset, dtype=float) * h
    if max(abs(v) for v in offset) >= 2:  # voxels apart: K is bounded, sample point pairs directly
        u = o + (rng.uniform(-0.5, 0.5, (n, 3)) - rng.uniform(-0.5, 0.5, (n, 3))) * h
        k = dpk.dose_per_decay(np.linalg.norm(u, axis=1), density, radius)
        return float(k.mean()), float(k.std() / np.sqrt(n))
    half_diag = float(np.linalg.norm(h))
    r0 = max(0.0, float(np.linalg.norm(o)) - half_diag)
    r1 = min(radius, float(np.linalg.norm(o)) + half_diag)
    r = rng.uniform(r0, r1, n)
    w = rng.normal(size=(n, 3))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    u = r[:, None] * w
    t = np.prod(np.clip(1.0 - np.abs(u - o) / h, 0.0, None) / h, axis=1)
    f = t * dpk.radial_energy_density(r, density, radius) * (r1 - r0) / (density * 1e-3)
    return float(f.mean()), float(f.std() / np.sqrt(n))


@pytest.mark.slow
@pytest.mark.parametrize("edge_mm", [2.0, 4.42])
def test_voxel_s_values_against_independent_integration(edge_mm: float) -> None:
    """Voxel S-values of 166Ho in soft tissue (1.04 g/mL) vs Monte Carlo integration of its DPK: 3 %.

    Offsets whose S-value is below 1 % of the self-dose (beyond the 166Ho range) are not compared.
    """
    density = 1.04
    kernel = voxel_s_kernel((edge_mm,) * 3, density, "Ho-166")
    h = np.full(3, edge_mm)
    c = np.array(kernel.shape) // 2
    rng = np.random.default_rng(166)
    for off in [(0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1), (0, 0, 2), (1, 1, 2)]:
        value = float(kernel.values_mev_per_g[tuple(c + np.array(off))])
        if value < 0.01 * float(kernel.values_mev_per_g[tuple(c)]):
            continue
        mc, se = _mc_s_value(off, h, density, kernel.radius_mm, rng)
        assert se < 0.0075 * mc, (off, se / mc)  # 3 % is at least four standard errors
        assert value == pytest.approx(mc, rel=0.03), (off, value / mc)
    assert kernel.centre_mgy_per_mbq_s == pytest.approx(
        float(kernel.values_mev_per_g[tuple(c)]) * MEV_PER_G_TO_MGY_PER_MBQ_S)
    assert kernel.summary()["nuclide"] == "Ho-166"


def test_engines_use_the_166ho_constants() -> None:
    """LDM: D = 15.87 Gy kg/GBq x A / M; VSV deposits the same energy per decay (0.7116 MeV)."""
    from workstation.core import Unit, Volume, affine_from_geometry
    from workstation.dosimetry import (
        absorbed_dose_ldm,
        absorbed_dose_vsv,
        deposited_energy_j,
        emitted_energy_j,
    )

    conc = np.zeros((20, 20, 20), np.float32)
    conc[6:14, 6:14, 6:14] = 2.0e6  # Bq/mL
    act = Volume(conc, affine_from_geometry((0, 0, 0), (4.0, 4.0, 4.0)), units=Unit.BQML)
    ldm = absorbed_dose_ldm(act, nuclide="Ho-166", tissue_density_g_per_ml=1.0)
    # 2 MBq/mL = 2e-3 GBq per g = 2 GBq/kg -> 15.87 x 2 = 31.74 Gy
    assert float(ldm.array[10, 10, 10]) == pytest.approx(15.87 * 2.0, rel=1e-5)
    assert "Ho-166" in (ldm.metadata.series_description or "")
    vsv = absorbed_dose_vsv(act, nuclide="Ho-166", tissue_density_g_per_ml=1.0)
    emitted = emitted_energy_j(act, nuclide="Ho-166")
    assert deposited_energy_j(vsv, 1.0) == pytest.approx(emitted, rel=0.01)  # a little leaves the grid
    assert deposited_energy_j(ldm, 1.0) == pytest.approx(emitted, rel=1e-5)


def test_lung_dose_formula_takes_the_nuclide_factor() -> None:
    """f x A x (1 - R) x LSF / M_lung with the nuclide's LDM factor, never 90Y's by accident."""
    from workstation.dosimetry.metrics import lung_dose_formula_gy

    # 166Ho: 15.87 Gy kg/GBq x 3 GBq x 10 % / 1 kg = 4.761 Gy (90Y would give 14.90 Gy)
    assert lung_dose_formula_gy(3.0, 0.10, nuclide="Ho-166") == pytest.approx(15.87 * 0.3, rel=1e-12)
    assert lung_dose_formula_gy(3.0, 0.10, nuclide=HO166) == pytest.approx(HO166.ldm_gy_kg_per_gbq * 0.3, rel=1e-12)
    assert lung_dose_formula_gy(3.0, 0.10, nuclide="Y-90") == pytest.approx(Y90.ldm_gy_kg_per_gbq * 0.3, rel=1e-12)
    # an explicit factor wins over the nuclide's
    assert lung_dose_formula_gy(3.0, 0.10, ldm_gy_kg_per_gbq=50.0, nuclide="Ho-166") == pytest.approx(15.0, rel=1e-12)
