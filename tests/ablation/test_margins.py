"""Margins against analytic answers: spheres, offsets, ellipsoids, negative margins, grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.ablation.conftest import ANISO, ISO
from workstation.ablation import analyse_margins, compute_margins
from workstation.core.errors import EmptyMaskError, InvalidInputError, NoOverlapError

X = np.array([1.0, 0.0, 0.0])  # LPS x: array axis 2 (spacing index 2)
Z = np.array([0.0, 0.0, 1.0])  # LPS z: array axis 0


def on_faces(radius_mm: float, spacing_mm: float) -> float:
    """The radius (n + 0.5)·h nearest to ``radius_mm``: the surface lies on voxel faces."""
    return (round(radius_mm / spacing_mm - 0.5) + 0.5) * spacing_mm


def offset_fraction_below(m: float, r1: float, r2: float, d: float) -> float:
    """Exact area fraction of a sphere (r1) with margin < m to a sphere (r2) offset by d.

    Margin at the point at angle θ from the offset direction: r2 - |r1·n - d·e|;
    area is uniform in cos θ (Archimedes).
    """
    if r2 - m <= 0:
        return 1.0
    u = (r1**2 + d**2 - (r2 - m) ** 2) / (2 * r1 * d)
    return (min(max(u, -1.0), 1.0) + 1.0) / 2.0


def check_fractions(tumor: dict, r1: float, r2: float, d: float, tol: float) -> None:
    f = tumor["surface_fraction"]
    below = [offset_fraction_below(m, r1, r2, d) for m in (0.0, 5.0, 10.0)]
    exact = {
        "below_0mm": below[0],
        "0_to_5mm": below[1] - below[0],
        "5_to_10mm": below[2] - below[1],
        "at_least_10mm": 1.0 - below[2],
    }
    for key, value in exact.items():
        assert f[key] == pytest.approx(value, abs=tol), key


@pytest.mark.parametrize("spacing", [ISO, ANISO], ids=["iso", "aniso"])
@pytest.mark.parametrize("fractional", [False, True], ids=["binary", "fractional"])
def test_concentric_spheres(make_volume, spacing, fractional):
    r1, r2 = 10.0, 17.0
    tumor = make_volume(spacing, 60.0, [(np.zeros(3), (r1,) * 3, 1)], fractional)
    zone = make_volume(spacing, 60.0, [(np.zeros(3), (r2,) * 3, 1)], fractional)
    res = compute_margins(tumor, zone)
    t = res["tumors"][0]
    # The thinnest margin is in every direction, including along the 2.5 mm slices:
    # half the largest voxel size (binary); fractional masks carry the sub-voxel
    # surface and must do twice as well (the polar caps within one thick slice
    # remain ambiguous even with partial volumes).
    tol = 0.5 * max(spacing) if not fractional else 0.25 * max(spacing)
    assert t["minimal_margin_mm"] == pytest.approx(r2 - r1, abs=tol)
    assert res["minimal_margin_mm"] == t["minimal_margin_mm"]
    assert t["margin_percentiles_mm"]["50"] == pytest.approx(7.0, abs=0.1)
    assert t["surface_fraction"]["5_to_10mm"] == pytest.approx(1.0, abs=0.02)
    assert t["volume_ml"] == pytest.approx(4 / 3 * math.pi * r1**3 / 1000, rel=0.03)
    assert res["mask_kind"]["tumor"] == ("fractional" if fractional else "binary")
    assert res["registration"] is None


@pytest.mark.parametrize("spacing", [ISO, ANISO], ids=["iso", "aniso"])
@pytest.mark.parametrize("axis", ["x", "z"])
def test_offset_spheres_binary_on_voxel_faces(make_volume, spacing, axis):
    """Thinnest margin along x (0.7 or 1 mm voxels) or z (2.5 or 1 mm slices)."""
    h = spacing[2] if axis == "x" else spacing[0]
    e = X if axis == "x" else Z
    r1, r2 = on_faces(8.0, h), on_faces(14.0, h)
    d = round(3.0 / h) * h  # zone centre on a voxel centre
    tumor = make_volume(spacing, 60.0, [(np.zeros(3), (r1,) * 3, 1)])
    zone = make_volume(spacing, 60.0, [(d * e, (r2,) * 3, 1)])
    t = compute_margins(tumor, zone)["tumors"][0]
    exact = r2 - d - r1
    # Acceptance: within half the voxel size along the thinnest margin.
    assert t["minimal_margin_mm"] == pytest.approx(exact, abs=0.5 * h)
    # Where it is thin: on the tumour surface opposite the zone offset.
    loc = np.array(t["minimal_margin_location_lps_mm"])
    assert float(loc @ e) == pytest.approx(-r1, abs=1.5 * h)
    check_fractions(t, r1, r2, d, tol=0.02)


@pytest.mark.parametrize("spacing", [ISO, ANISO], ids=["iso", "aniso"])
def test_tumour_partly_outside_zone(make_volume, spacing):
    h = spacing[2]
    r1, r2 = on_faces(10.0, h), on_faces(12.0, h)
    d = round(6.0 / h) * h
    tumor = make_volume(spacing, 60.0, [(np.zeros(3), (r1,) * 3, 1)])
    zone = make_volume(spacing, 60.0, [(d * X, (r2,) * 3, 1)])
    t = compute_margins(tumor, zone)["tumors"][0]
    exact = r2 - d - r1
    assert exact < -3.0
    assert t["minimal_margin_mm"] == pytest.approx(exact, abs=0.5 * h)
    check_fractions(t, r1, r2, d, tol=0.02)
    assert t["surface_fraction"]["below_0mm"] > 0.4


@pytest.mark.parametrize("spacing", [ISO, ANISO], ids=["iso", "aniso"])
def test_ellipsoids(make_volume, spacing):
    """Sphere in a prolate zone (long along z) and an ellipsoidal tumour in a sphere."""
    h = spacing[2]
    r1 = on_faces(8.0, h)
    b = on_faces(13.0, h)  # zone semi-axes x, y; long axis along z
    tumor = make_volume(spacing, 70.0, [(np.zeros(3), (r1,) * 3, 1)])
    zone = make_volume(spacing, 70.0, [(np.zeros(3), (b, b, 22.0), 1)])
    t = compute_margins(tumor, zone)["tumors"][0]
    # The inscribed sphere of radius b touches the zone at the minor vertices: b - r1.
    assert t["minimal_margin_mm"] == pytest.approx(b - r1, abs=0.5 * h)

    a = on_faces(11.0, h)  # tumour ellipsoid, long along x
    R = on_faces(16.0, h)
    tumor = make_volume(spacing, 70.0, [(np.zeros(3), (a, 7.0, 6.0), 1)])
    zone = make_volume(spacing, 70.0, [(np.zeros(3), (R,) * 3, 1)])
    t = compute_margins(tumor, zone)["tumors"][0]
    assert t["minimal_margin_mm"] == pytest.approx(R - a, abs=0.5 * h)


def test_fractional_masks_beat_binary(make_volume, rng):
    """Partial-volume masks carry the sub-voxel surface: smaller errors than binary ones."""
    errors: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        # surfaces deliberately off the voxel faces
        r1, r2, d = rng.uniform(7.0, 10.0), rng.uniform(14.0, 16.0), rng.uniform(1.0, 3.0)
        for fractional in (False, True):
            tumor = make_volume(ANISO, 56.0, [(np.zeros(3), (r1,) * 3, 1)], fractional)
            zone = make_volume(ANISO, 56.0, [(d * X, (r2,) * 3, 1)], fractional)
            t = compute_margins(tumor, zone)["tumors"][0]
            errors[fractional].append(abs(t["minimal_margin_mm"] - (r2 - d - r1)))
    assert max(errors[True]) < 0.15  # about a fifth of the 0.7 mm pixel
    assert np.mean(errors[True]) < np.mean(errors[False])


def test_different_grids_and_oblique(make_volume, oblique_direction):
    """Tumour on an oblique 1 mm grid, zone on an axial anisotropic grid with another origin."""
    r1, r2, d = 9.0, 15.0, 2.0
    tumor = make_volume(ISO, 50.0, [(np.zeros(3), (r1,) * 3, 1)], fractional=True,
                        origin=np.array([-24.3, -25.1, -23.7]), direction=oblique_direction)
    zone = make_volume(ANISO, 70.0, [(d * X, (r2,) * 3, 1)], fractional=True)
    t = compute_margins(tumor, zone)["tumors"][0]
    assert t["minimal_margin_mm"] == pytest.approx(r2 - d - r1, abs=0.2)
    check_fractions(t, r1, r2, d, tol=0.02)


def test_several_tumours_components_and_labels(make_volume):
    shapes = [(np.array([-14.0, 0.0, 0.0]), (5.5,) * 3, 1), (np.array([14.0, 0.0, 0.0]), (4.5,) * 3, 2)]
    zones = [(np.array([-14.0, 0.0, 0.0]), (10.5,) * 3, 1), (np.array([15.0, 0.0, 0.0]), (9.5,) * 3, 1)]
    labels = make_volume(ISO, 64.0, shapes)
    zone = make_volume(ISO, 64.0, zones)
    res = compute_margins(labels, zone)
    assert res["mask_kind"]["tumor"] == "label"
    got = {t["label"]: t["minimal_margin_mm"] for t in res["tumors"]}
    assert got[1] == pytest.approx(5.0, abs=0.5)
    assert got[2] == pytest.approx(9.5 - 1.0 - 4.5, abs=0.5)
    assert res["minimal_margin_mm"] == min(got.values())
    binary = labels.copy_with(array=(labels.array > 0).astype(np.uint8))
    res_b = compute_margins(binary, zone)
    assert res_b["mask_kind"]["tumor"] == "binary"
    assert sorted(t["minimal_margin_mm"] for t in res_b["tumors"]) == pytest.approx(
        sorted(got.values()), abs=1e-6
    )


def test_subcapsular_exclusion(make_volume):
    """Liver capsule 3 mm from the tumour on the side where the margin is thinnest."""
    r1, r2, d = 10.5, 15.5, 2.0  # zone shifted away from the capsule: thinnest towards it (+x)
    cap_x = r1 + 3.0  # capsule plane, on a voxel face (x = 13.5 mm)
    tumour_far = np.array([-14.0, 22.0, 0.0])  # a second tumour far from the capsule
    tumor = make_volume(ISO, 80.0, [(np.zeros(3), (r1,) * 3, 1), (tumour_far, (4.5,) * 3, 2)])
    zone = make_volume(ISO, 80.0, [(-d * X, (r2,) * 3, 1), (tumour_far, (9.5,) * 3, 1)])
    liver_arr = np.zeros(tumor.shape, dtype=np.uint8)
    x_centres = tumor.index_to_world(np.array([[0, 0, i] for i in range(tumor.shape[2])]))[:, 0]
    liver_arr[:, :, x_centres < cap_x] = 1
    liver = tumor.copy_with(array=liver_arr)
    plain = {t["label"]: t for t in compute_margins(tumor, zone)["tumors"]}
    res = {t["label"]: t for t in compute_margins(tumor, zone, liver, subcapsular_mm=5.0)["tumors"]}
    # Points with x >= cap_x - 5 are excluded: cos θ >= (r1 - 2) / r1; area fraction 1/r1.
    cos0 = (r1 - 2.0) / r1
    assert res[1]["subcapsular_excluded_fraction"] == pytest.approx((1 - cos0) / 2, abs=0.02)
    exact_min = r2 - math.sqrt(r1**2 + d**2 + 2 * r1 * d * cos0)
    assert plain[1]["minimal_margin_mm"] == pytest.approx(r2 - d - r1, abs=0.5)
    assert res[1]["minimal_margin_mm"] == pytest.approx(exact_min, abs=0.5)
    assert res[1]["minimal_margin_all_points_mm"] == plain[1]["minimal_margin_mm"]
    # Elsewhere nothing is excluded.
    assert res[2]["subcapsular_excluded_fraction"] == 0.0
    assert res[2]["minimal_margin_mm"] == plain[2]["minimal_margin_mm"]


def test_margin_map(make_volume):
    tumor = make_volume(ISO, 50.0, [(np.zeros(3), (8.5,) * 3, 1)])
    zone = make_volume(ISO, 50.0, [(np.zeros(3), (14.5,) * 3, 1)])
    analysis = analyse_margins(tumor, zone)
    m = analysis.margin_map
    # A crop of the tumour grid: same spacing and axes, voxel centres on the tumour's.
    assert np.allclose(m.affine[:3, :3], tumor.affine[:3, :3])
    offset = np.round(tumor.world_to_index(m.origin_mm)).astype(int)
    assert np.allclose(tumor.index_to_world(offset), m.origin_mm)
    values = m.array[np.isfinite(m.array)]
    sub = tuple(slice(o, o + n) for o, n in zip(offset, m.shape, strict=True))
    inside = tumor.array[sub] > 0
    # Only surface voxels of the tumour carry a value; every one ≈ 6 mm.
    assert np.all(inside[np.isfinite(m.array)])
    assert values.size > 100
    assert np.all(np.abs(values - 6.0) < 0.6)
    centre = np.round(m.world_to_index(np.zeros(3))).astype(int)
    assert np.isnan(m.array[tuple(centre)])


def test_bad_input(make_volume):
    tumor = make_volume(ISO, 30.0, [(np.zeros(3), (5.0,) * 3, 1)])
    zone = make_volume(ISO, 30.0, [(np.zeros(3), (8.0,) * 3, 1)])
    with pytest.raises(EmptyMaskError, match="tumor mask"):
        compute_margins(tumor.copy_with(array=np.zeros_like(tumor.array)), zone)
    with pytest.raises(EmptyMaskError, match="ablation mask"):
        compute_margins(tumor, zone.copy_with(array=np.zeros_like(zone.array)))
    far = make_volume(ISO, 30.0, [(np.zeros(3), (8.0,) * 3, 1)], origin=np.array([500.0, 0, 0]))
    with pytest.raises(NoOverlapError, match="do not overlap"):
        compute_margins(tumor, far)
    ct_like = tumor.copy_with(array=np.arange(tumor.array.size, dtype=np.int16).reshape(tumor.shape) % 2000)
    with pytest.raises(InvalidInputError, match="looks like an image"):
        compute_margins(ct_like, zone)
    with pytest.raises(InvalidInputError, match="outside 0..1"):
        compute_margins(tumor.copy_with(array=tumor.array * 1.7), zone)
