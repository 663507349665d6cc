"""RT Dose import: every GridFrameOffsetVector / scaling / orientation variant equals the analytic dose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.radiotherapy.rt_factory import FRAME_UID, dose_grid_points, write_rtdose
from workstation.core import GeometryMismatchError, InvalidInputError, Volume, affine_from_geometry
from workstation.radiotherapy import read_plan_dose

CENTRE = np.array([-12.0, 4.0, 3.0])
SIGMA_MM = 25.0
PEAK_GY = 60.0
GRAD = np.array([0.15, -0.1, 0.25])  # Gy/mm


def gaussian(p: np.ndarray) -> np.ndarray:
    return PEAK_GY * np.exp(-np.sum((p - CENTRE) ** 2, axis=-1) / (2 * SIGMA_MM**2))


def ramp(p: np.ndarray) -> np.ndarray:
    return 30.0 + (p - CENTRE) @ GRAD


VARIANTS = [
    # (orientation, offsets, bits, explicit scaling)
    ("hfs", "relative", 16, None),
    ("hfs", "decreasing", 16, None),
    ("hfs", "absolute", 16, None),
    ("ffs", "relative", 16, None),
    ("ffs", "absolute", 16, None),
    ("hfp", "decreasing", 32, None),
    ("oblique", "relative", 32, None),
    ("hfs", "relative", 32, 1e-6),
    ("hfs", "relative", 16, 0.001),
]


@pytest.mark.parametrize(("orientation", "offsets", "bits", "scaling"), VARIANTS)
@pytest.mark.parametrize("field", [gaussian, ramp], ids=["gaussian", "ramp"])
def test_import_equals_the_analytic_dose_at_the_voxel_centres(
    tmp_path: Path, orientation: str, offsets: str, bits: int, scaling: float | None, field
) -> None:
    """At the dose grid's voxel centres the only error is the DoseGridScaling step (< 0.1 %)."""
    ipp = (-40.0, -35.0, -30.0)
    spacing, shape = (2.5, 2.0, 1.8), (16, 20, 24)
    path = write_rtdose(tmp_path / "RD.dcm", field, ipp=ipp, spacing_frc=spacing, shape=shape,
                        orientation=orientation, offsets=offsets, bits=bits, scaling=scaling)
    dose = read_plan_dose(path).dose
    assert dose.frame_of_reference_uid == FRAME_UID
    centres = dose.index_to_world(np.argwhere(np.ones(dose.shape, bool))).reshape(*dose.shape, 3)
    expected = field(centres)
    # geometry: the set of voxel centres is the written grid (whatever the slice order)
    sign = -1.0 if offsets == "decreasing" else 1.0
    written = dose_grid_points(np.asarray(ipp), orientation, spacing, shape, sign).reshape(-1, 3)
    lo, hi = np.sort(written, axis=0)[[0, -1]], np.sort(centres.reshape(-1, 3), axis=0)[[0, -1]]
    np.testing.assert_allclose(lo, hi, atol=1e-4)
    peak = float(np.max(expected))
    np.testing.assert_allclose(dose.array, expected, rtol=0, atol=1e-3 * peak)
    # and tighter: half a quantization step (+ float32)
    step = scaling if scaling is not None else float(np.max(field(written))) / ((1 << bits) - 1)
    assert float(np.max(np.abs(dose.array - expected))) <= 0.5 * step + 2.0**-22 * peak + 1e-5


@pytest.mark.parametrize("orientation", ["hfs", "oblique"])
@pytest.mark.parametrize("offsets", ["relative", "decreasing"])
def test_import_onto_an_oblique_anisotropic_ct_grid(tmp_path: Path, orientation: str, offsets: str,
                                                    oblique_direction: np.ndarray) -> None:
    """Trilinear placement in patient space: exact for the ramp, 0.1 % of the peak for the Gaussian.

    Trilinear interpolation of a Gaussian errs by at most sum_i h_i^2 / 8 * max|f''| =
    (1.0^2 + 0.9^2 + 1.1^2)/8/25^2 = 0.06 % of the peak on this 1.0 x 0.9 x 1.1 mm dose grid.
    """
    from workstation.radiotherapy import run_rt_dose

    spacing, shape = (1.0, 0.9, 1.1), (70, 80, 70)
    ipp = (-45.0, -32.0, -34.0) if offsets == "relative" else (-45.0, -32.0, 35.0)
    for field, name in ((gaussian, "g"), (ramp, "r")):
        path = write_rtdose(tmp_path / f"RD_{name}.dcm", field, ipp=ipp, spacing_frc=spacing, shape=shape,
                            orientation=orientation, offsets=offsets)
        plan_dose = read_plan_dose(path).dose
        lo, hi = plan_dose.bounding_box_world()
        ct_aff = affine_from_geometry(CENTRE + np.array([-14.0, -12.0, -10.0]), (2.2, 1.7, 1.3), oblique_direction)
        ct = Volume(np.zeros((14, 16, 18), np.int16), ct_aff, frame_of_reference_uid=FRAME_UID, modality="CT")
        result = run_rt_dose(path, ct=ct)
        pts = ct.index_to_world(np.argwhere(np.ones(ct.shape, bool))).reshape(*ct.shape, 3)
        inside = plan_dose.world_to_index(pts)
        interior = np.all((inside > 0.5) & (inside < np.array(plan_dose.shape) - 1.5), axis=-1)
        assert interior.mean() > 0.9  # the test grid lies inside the dose grid
        err = np.abs(result.dose.array - field(pts))[interior]
        assert float(err.max()) <= 1e-3 * PEAK_GY, (name, float(err.max()))
        assert np.all(lo < hi)


def test_relative_dose_is_refused(tmp_path: Path) -> None:
    path = write_rtdose(tmp_path / "RD.dcm", gaussian, units="RELATIVE")
    with pytest.raises(InvalidInputError, match="RELATIVE"):
        read_plan_dose(path)


def test_error_dose_and_dvh_only_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="ERROR"):
        read_plan_dose(write_rtdose(tmp_path / "RD1.dcm", gaussian, dose_type="ERROR"))
    with pytest.raises(InvalidInputError, match="no dose grid"):
        read_plan_dose(write_rtdose(tmp_path / "RD2.dcm", gaussian, pixel_data=False))


def test_beam_doses_add_up_and_session_doses_scale(tmp_path: Path) -> None:
    folder = tmp_path / "beams"
    folder.mkdir()
    for b in range(3):
        write_rtdose(folder / f"RD_beam{b}.dcm", lambda p, b=b: gaussian(p) * (b + 1) / 6.0, summation="BEAM")
    total = read_plan_dose(folder)
    single = read_plan_dose(write_rtdose(tmp_path / "RD.dcm", gaussian))
    np.testing.assert_allclose(total.dose.array, single.dose.array, rtol=0, atol=2e-3)
    assert total.summation_type == "BEAM" and len(total.files) == 3
    session = write_rtdose(tmp_path / "RD_s.dcm", lambda p: gaussian(p) / 5.0, summation="FRACTION_SESSION")
    with pytest.raises(InvalidInputError, match="fractions"):
        read_plan_dose(session)
    scaled = read_plan_dose(session, fractions=5)
    assert scaled.per_session and scaled.fractions_applied == 5
    np.testing.assert_allclose(scaled.dose.array, single.dose.array, rtol=0, atol=2e-3)


def test_alternative_plan_doses_and_mixed_types_are_refused(tmp_path: Path) -> None:
    a = write_rtdose(tmp_path / "RD_a.dcm", gaussian, summation="PLAN")
    b = write_rtdose(tmp_path / "RD_b.dcm", gaussian, summation="PLAN")
    c = write_rtdose(tmp_path / "RD_c.dcm", gaussian, summation="BEAM")
    with pytest.raises(InvalidInputError, match="alternatives"):
        read_plan_dose([a, b])
    with pytest.raises(InvalidInputError, match="mix"):
        read_plan_dose([a, c])


def test_dose_in_another_frame_of_reference_needs_a_transform(tmp_path: Path) -> None:
    from workstation.radiotherapy import run_rt_dose

    path = write_rtdose(tmp_path / "RD.dcm", gaussian)
    ct = Volume(np.zeros((4, 5, 6), np.int16), affine_from_geometry((-20, -20, -20), (3, 3, 3)),
                frame_of_reference_uid="1.2.3.999", modality="CT")
    with pytest.raises(GeometryMismatchError, match="frames of reference"):
        run_rt_dose(path, ct=ct)
