"""BED/EQD2: textbook cases, Dale's permanent-implant closed form, sums of schemes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from workstation.core import InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.dosimetry.nuclides import Y90
from workstation.dosimetry.radiobiology import (
    Scheme,
    TreatmentDose,
    bed_fractionated,
    bed_permanent_implant,
    eqd2,
    eqd2_from_bed,
    eqd2_sum,
    physical_dose_for_eqd2,
)

# Values computed by hand below are exact in decimal arithmetic; 1e-12 relative
# only absorbs binary floating point.
RTOL = 1e-12


def test_three_times_fifteen_gy_at_alpha_beta_10_and_3() -> None:
    """SBRT 3 x 15 Gy, the worked example of the LQ formula (Fowler JF, Br J Radiol 62:679, 1989):

    alpha/beta 10: BED = 45 (1 + 15/10) = 112.5 Gy, EQD2 = 112.5 / 1.2 = 93.75 Gy;
    alpha/beta 3:  BED = 45 (1 + 15/3)  = 270 Gy,   EQD2 = 270 / (5/3) = 162 Gy.
    """
    scheme = Scheme("ebrt", fractions=3)
    assert bed_fractionated(45.0, 3, 10.0) == pytest.approx(112.5, rel=RTOL)
    assert eqd2(45.0, scheme, 10.0) == pytest.approx(93.75, rel=RTOL)
    assert bed_fractionated(45.0, 3, 3.0) == pytest.approx(270.0, rel=RTOL)
    assert eqd2(45.0, scheme, 3.0) == pytest.approx(162.0, rel=RTOL)


def test_two_gy_fractions_are_their_own_eqd2() -> None:
    """30 x 2 Gy has EQD2 = 60 Gy whatever alpha/beta (the definition of EQD2)."""
    for ab in (1.5, 3.0, 10.0):
        assert eqd2(60.0, Scheme("ebrt", fractions=30), ab) == pytest.approx(60.0, rel=RTOL)


def test_hdr_single_fraction() -> None:
    """HDR 1 x 20 Gy at alpha/beta 10: BED = 20 (1 + 2) = 60 Gy, EQD2 = 50 Gy."""
    assert eqd2(20.0, Scheme("hdr", fractions=1), 10.0) == pytest.approx(50.0, rel=RTOL)


def _lea_catcheside_bed(dose_gy: float, half_life_h: float, ab: float, trep_h: float) -> float:
    """BED = D + (2/ab) int_0^inf R(t) int_0^t R(s) exp(-mu (t-s)) ds dt, by quadrature.

    The LQ BED of any dose-rate history (Lea-Catcheside; Dale RG, Br J Radiol 58:515,
    1985, eq. 3): an independent route to the closed form.
    """
    lam = math.log(2) / half_life_h
    mu = math.log(2) / trep_h
    r0 = dose_gy * lam

    def inner(t: float) -> float:
        # int_0^t R0 e^{-lam s} e^{-mu (t-s)} ds, evaluated by quadrature too
        val, _ = integrate.quad(lambda s: r0 * math.exp(-lam * s - mu * (t - s)), 0.0, t, limit=200)
        return r0 * math.exp(-lam * t) * val

    outer, _ = integrate.quad(inner, 0.0, 60 * half_life_h, limit=400, points=[trep_h, half_life_h])
    return dose_gy + 2.0 / ab * outer


@pytest.mark.parametrize(("dose", "ab", "trep"), [(100.0, 2.5, 2.5), (250.0, 10.0, 1.5), (40.0, 3.0, 0.5)])
def test_permanent_y90_implant_against_the_lea_catcheside_integral(dose: float, ab: float, trep: float) -> None:
    """Dale 1985 closed form D (1 + D lam / ((mu + lam) ab)) equals the integral within 1e-6."""
    closed = float(bed_permanent_implant(dose, Y90.half_life_h, ab, trep))
    assert closed == pytest.approx(_lea_catcheside_bed(dose, Y90.half_life_h, ab, trep), rel=1e-6)


def test_permanent_y90_implant_hand_value() -> None:
    """100 Gy of 90Y (T1/2 64.053 h) in normal liver (ab 2.5 Gy, Trep 2.5 h):

    G = lam / (mu + lam) = (1/64.053) / (1/64.053 + 1/2.5) = 2.5 / 66.553 = 0.0375641…,
    BED = 100 (1 + 100 x 0.0375641 / 2.5) = 250.2562… Gy.
    """
    g = 2.5 / (64.053 + 2.5)
    assert float(bed_permanent_implant(100.0, 64.053, 2.5, 2.5)) == pytest.approx(100 * (1 + 100 * g / 2.5), rel=RTOL)


def test_eqd2_of_two_identical_halves_equals_the_scheme() -> None:
    """A 6-fraction dose map given as two courses of 3 fractions with half the dose each.

    Same dose per fraction in every voxel, so the EQD2 of the halves adds up to the scheme's.
    """
    rng = np.random.default_rng(5)
    whole = rng.uniform(0.0, 60.0, size=(6, 7, 8))
    aff = affine_from_geometry((0, 0, 0), (3.0, 2.0, 2.0))
    ref = Volume(np.zeros(whole.shape, np.float32), aff)
    halves = [TreatmentDose(f"half{i}", Volume((whole / 2).astype(np.float32), aff, units=Unit.GY),
                            Scheme("ebrt", fractions=3)) for i in range(2)]
    total, parts = eqd2_sum(halves, ref, alpha_beta_gy=3.0)
    expected = eqd2(whole.astype(np.float32), Scheme("ebrt", fractions=6), 3.0)
    assert len(parts) == 2
    np.testing.assert_allclose(total.array, expected, rtol=1e-5, atol=1e-5)  # float32 storage


def test_eqd2_sum_uses_each_structure_alpha_beta() -> None:
    aff = affine_from_geometry((0, 0, 0), (2.0, 2.0, 2.0))
    dose = Volume(np.full((4, 4, 4), 30.0, np.float32), aff, units=Unit.GY)
    tumour = np.zeros((4, 4, 4), np.float32)
    tumour[:2] = 1.0
    total, _ = eqd2_sum([TreatmentDose("sbrt", dose, Scheme("ebrt", fractions=3))], dose,
                        alpha_beta_gy={"gtv": 10.0}, structures={"gtv": tumour}, default_tissue="liver")
    # tumour: 30 (1 + 10/10) / 1.2 = 50 Gy; elsewhere liver ab 2.5: 30 (1 + 4) / 1.8 = 83.33 Gy
    assert total.array[0, 0, 0] == pytest.approx(50.0, rel=1e-6)
    assert total.array[3, 3, 3] == pytest.approx(150.0 / 1.8, rel=1e-6)


def test_inverse_of_eqd2() -> None:
    for scheme in (Scheme("ebrt", fractions=5), Scheme.parse("sirt:Y-90"), Scheme.parse("hdr:1")):
        d = physical_dose_for_eqd2(70.0, scheme, 3.0, 1.5)
        assert float(eqd2(d, scheme, 3.0, 1.5)) == pytest.approx(70.0, rel=1e-10)


def test_scheme_syntax_and_errors() -> None:
    s = Scheme.parse("sirt:Y90")
    assert s.nuclide == "Y-90" and s.half_life_h == pytest.approx(64.053)
    assert Scheme.parse("ebrt:5").fractions == 5
    for bad in ("ebrt", "ebrt:five", "proton:3", "ebrt:0", "sirt:Cs-137"):
        with pytest.raises(InvalidInputError):
            Scheme.parse(bad)
    with pytest.raises(InvalidInputError, match="negative"):
        bed_fractionated(np.array([-1.0, 2.0]), 3, 10.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        bed_fractionated(np.array([np.nan]), 3, 10.0)
    with pytest.raises(InvalidInputError, match="α/β"):
        eqd2_from_bed(10.0, 0.0)
