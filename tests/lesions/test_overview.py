"""Lesion overview on the sample SIRT and ablation CTs against the analytic digital patient."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workstation.core import EmptyMaskError, InvalidInputError
from workstation.io import read_image, read_mask
from workstation.lesions import HepaticLandmarks, axial_diameters, couinaud_segment, lesion_overview
from workstation.samples import _anatomy as an
from workstation.samples import _shapes as sh
from workstation.samples import sample_data_dir
from workstation.samples._ablation import ABLATION_TUMOUR
from workstation.samples._patient import SIRT_LESIONS

#: The landmarks of the digital patient (``samples/_anatomy.py``): IVC at the hepatic
#: vein confluence, portal bifurcation, distal points of the three hepatic veins.
LANDMARKS = HepaticLandmarks(
    ivc=(-24.0, 38.0, 18.0), portal_bifurcation=(-35.0, 12.0, -28.0),
    right_hepatic_vein=(-95.0, -5.0, 8.0), middle_hepatic_vein=(-45.0, -40.0, 5.0),
    left_hepatic_vein=(20.0, -25.0, 12.0),
)
DISTANCE_MM = 1.0  # acceptance of issue 13
# The dome is a horizontal surface: on 3 mm slices a voxel-centre mask places it only to
# within half a slice (1.5 mm); 2.5 mm slices: 1.25 mm.


def _liver_sd(x: np.ndarray, y: np.ndarray, z: np.ndarray, lesions: tuple = SIRT_LESIONS) -> np.ndarray:
    """The liver mask of the sample: the liver as ``an.paint_patient`` carves it (its
    neighbours removed) and the lesions (their labels are liver labels), sign exact."""
    cavity = sh.elliptic_cylinder(x, y, (0.0, 5.0), (140.0, 93.0))
    vert = sh.elliptic_cylinder(x, y, (0.0, 66.0), (21.0, 18.0))
    aorta = sh.elliptic_cylinder(x, y, (14.0, 42.0), (12.0, 12.0))
    ivc = sh.elliptic_cylinder(x, y, (-24.0, 38.0), (12.0, 10.0))
    kidney_r = sh.ellipsoid(x, y, z, (-72.0, 62.0, -100.0), (27.0, 24.0, 55.0))
    spleen = sh.intersect(sh.ellipsoid(x, y, z, (98.0, 45.0, -5.0), (32.0, 50.0, 58.0)),
                          z - (an.diaphragm_left(x, y) - 5.0), cavity + 3.0)
    liver = an.liver_sd(x, y, z, cavity)
    liver = sh.subtract(liver, sh.union(kidney_r - 3.0, ivc, aorta - 3.0, vert - 6.0, spleen - 3.0))
    return sh.union(liver, *(sh.sphere(x, y, z, les.centre_lps_mm, les.diameter_mm / 2) for les in lesions))


def _vessel_sd(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The vessel mask of the sample: portal and hepatic veins in the liver, lesions painted over them."""
    capsules = [sh.capsule(x, y, z, a, b, r) for a, b, r in (*an.PORTAL_SEGMENTS, *an.HEPATIC_VEIN_SEGMENTS)]
    lesions = sh.union(*(sh.sphere(x, y, z, les.centre_lps_mm, les.diameter_mm / 2) for les in SIRT_LESIONS))
    return sh.subtract(sh.intersect(sh.union(*capsules), _liver_sd(x, y, z)), lesions)


def _surface_distance(inside_fn, centre: np.ndarray, radius: float, reach: float, h: float = 0.5) -> float:  # type: ignore[no-untyped-def]
    """Distance (mm) from a sphere to the boundary of {inside_fn < 0}, on a fine grid around it.

    Boundary points are the midpoints of neighbouring grid points on either side
    (within h/2 of the surface); 0 when the set reaches into the sphere.
    """
    n = int(np.ceil(2 * (radius + reach) / h)) + 1
    # offset by an odd amount: the approximate ellipsoid distance is 0 (not < 0) at its exact centre
    ax = [c + 0.0137 + (np.arange(n) - (n - 1) / 2) * h for c in centre]
    x, y, z = ax[0][None, None, :], ax[1][None, :, None], ax[2][:, None, None]
    inside = inside_fn(x, y, z) < 0
    best = np.inf
    for axis in range(3):
        a = np.swapaxes(inside, axis, 0)
        change = a[1:] != a[:-1]
        idx = np.argwhere(change).astype(float)
        idx[:, 0] += 0.5
        idx = np.swapaxes(idx[:, None, :], 0, 0)[:, 0, :]
        order = [0, 1, 2]
        order[0], order[axis] = order[axis], order[0]
        idx = idx[:, order]  # back to (z, y, x) index order
        pts = np.stack([ax[0][0] + idx[:, 2] * h, ax[1][0] + idx[:, 1] * h, ax[2][0] + idx[:, 0] * h], axis=-1)
        if len(pts):
            best = min(best, float(np.linalg.norm(pts - centre, axis=1).min()) - radius)
    return max(best, 0.0)


def _roof_distance(centre: np.ndarray, radius: float, reach: float = 35.0, h: float = 0.5,
                   lesions: tuple = SIRT_LESIONS) -> float:
    """Distance (mm) from a sphere to the liver's upper envelope (the highest liver point of each column)."""
    xs = centre[0] + 0.0137 + np.arange(-(radius + reach), radius + reach + h, h)
    ys = centre[1] + 0.0137 + np.arange(-(radius + reach), radius + reach + h, h)
    zs = np.arange(60.0, -120.0, -0.25)
    x, y, z = xs[None, None, :], ys[None, :, None], zs[:, None, None]
    inside = _liver_sd(x, y, z, lesions) < 0
    has = inside.any(axis=0)
    top = zs[np.argmax(inside, axis=0)] + 0.125  # first inside sample from the top, half a step up
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx[has], gy[has], top[has]], axis=-1)
    return max(float(np.linalg.norm(pts - centre, axis=1).min()) - radius, 0.0)


@pytest.fixture(scope="module")
def sirt() -> dict:
    d = sample_data_dir() / "sirt"
    return {"ct": read_image(d / "ct"), "liver": read_mask(d / "ground_truth" / "liver.nii.gz"),
            "lesions": read_mask(d / "ground_truth" / "lesions.nii.gz"),
            "vessels": read_mask(d / "ground_truth" / "liver_vessels.nii.gz")}


def _chord(centre_z: float, diameter: float, ct) -> float:  # type: ignore[no-untyped-def]
    """Largest axial chord of a sphere on a CT's slice grid (mm)."""
    z = ct.index_to_world(np.stack([np.arange(ct.shape[0]), np.zeros(ct.shape[0]), np.zeros(ct.shape[0])], -1))[:, 2]
    delta = float(np.abs(z - centre_z).min())
    return 2.0 * float(np.sqrt((diameter / 2) ** 2 - delta**2))


def test_axial_diameters_within_one_voxel(sirt: dict) -> None:
    ct = sirt["ct"]
    for k, lesion in enumerate(SIRT_LESIONS, start=1):
        d = axial_diameters(sirt["lesions"].array == k, ct)
        truth = _chord(lesion.centre_lps_mm[2], lesion.diameter_mm, ct)
        assert d["longest_diameter_mm"] == pytest.approx(truth, abs=ct.spacing_mm[1])
        assert d["short_axis_mm"] == pytest.approx(truth, abs=ct.spacing_mm[1])  # a sphere: both axes


def test_ablation_tumour_diameter_within_one_voxel() -> None:
    d = sample_data_dir() / "ablation"
    ct = read_image(d / "pre_ct")
    mask = read_mask(d / "ground_truth" / "tumor_pre.nii.gz").array > 0
    got = axial_diameters(mask, ct)
    truth = _chord(ABLATION_TUMOUR.centre_lps_mm[2], ABLATION_TUMOUR.diameter_mm, ct)
    assert got["longest_diameter_mm"] == pytest.approx(truth, abs=ct.spacing_mm[1])


def test_couinaud_segments_of_the_sirt_lesions() -> None:
    """Expected segments from the plane model by hand: lesion 1 posterior-superior right (7), 2 at
    the dome anterior (8), 3 lateral posterior (7), 4 left lateral superior (2)."""
    got = [couinaud_segment(les.centre_lps_mm, LANDMARKS)["segment"] for les in SIRT_LESIONS]
    assert got == ["7", "8", "7", "2"]
    assert couinaud_segment((0.0, 0.0, 0.0), HepaticLandmarks())["segment"] is None


@pytest.fixture(scope="module")
def overview(sirt: dict):  # type: ignore[no-untyped-def]
    return lesion_overview(sirt["ct"], sirt["liver"], sirt["lesions"], sirt["vessels"], LANDMARKS)


@pytest.mark.slow
def test_distances_within_1_mm_of_the_analytic_patient(overview) -> None:  # type: ignore[no-untyped-def]
    for rec, lesion in zip(overview.results["lesions"], SIRT_LESIONS, strict=True):
        c = np.asarray(lesion.centre_lps_mm)
        r = lesion.diameter_mm / 2
        capsule = _surface_distance(_liver_sd, c, r, reach=(rec["capsule_distance_mm"] or 0.0) + 3.0, h=0.6)
        assert rec["capsule_distance_mm"] == pytest.approx(capsule, abs=DISTANCE_MM), f"lesion {rec['label']}"
        dome_tol = max(DISTANCE_MM, overview.lesions.spacing_mm[0] / 2)
        assert rec["dome_distance_mm"] == pytest.approx(_roof_distance(c, r), abs=dome_tol)
        hilum = max(float(np.linalg.norm(c - np.asarray(LANDMARKS.portal_bifurcation))) - r, 0.0)
        assert rec["hilum_distance_mm"] == pytest.approx(hilum, abs=DISTANCE_MM)
        vessel = _surface_distance(_vessel_sd, c, r, reach=(rec["vessel_distance_mm"] or 30.0) + 4.0, h=0.6)
        assert rec["vessel_distance_mm"] == pytest.approx(vessel, abs=DISTANCE_MM)
        assert rec["couinaud"]["segment"] in ("7", "8", "2")


@pytest.mark.slow
def test_ablation_ct_distances_within_1_mm() -> None:
    d = sample_data_dir() / "ablation"
    ct = read_image(d / "pre_ct")
    ov = lesion_overview(ct, read_mask(d / "ground_truth" / "liver_pre.nii.gz"),
                         read_mask(d / "ground_truth" / "tumor_pre.nii.gz"), landmarks=LANDMARKS)
    (rec,) = ov.results["lesions"]
    c = np.asarray(ABLATION_TUMOUR.centre_lps_mm)
    r = ABLATION_TUMOUR.diameter_mm / 2
    lesions = (ABLATION_TUMOUR,)
    capsule = _surface_distance(lambda x, y, z: _liver_sd(x, y, z, lesions), c, r, reach=15.0)
    assert rec["capsule_distance_mm"] == pytest.approx(capsule, abs=DISTANCE_MM)
    assert rec["dome_distance_mm"] == pytest.approx(_roof_distance(c, r, lesions=lesions),
                                                    abs=max(DISTANCE_MM, ct.spacing_mm[0] / 2))
    hilum = float(np.linalg.norm(c - np.asarray(LANDMARKS.portal_bifurcation))) - r
    assert rec["hilum_distance_mm"] == pytest.approx(hilum, abs=DISTANCE_MM)
    truth = _chord(ABLATION_TUMOUR.centre_lps_mm[2], ABLATION_TUMOUR.diameter_mm, ct)
    assert rec["longest_diameter_mm"] == pytest.approx(truth, abs=ct.spacing_mm[1])
    liver = read_mask(d / "ground_truth" / "liver_pre.nii.gz").array > 0
    tumour = read_mask(d / "ground_truth" / "tumor_pre.nii.gz").array > 0
    assert ov.results["tumour_burden_percent"] == pytest.approx(100.0 * (tumour & liver).sum() / liver.sum(), rel=0.01)


@pytest.mark.slow
def test_tumour_burden_within_1_percent(overview, sirt: dict) -> None:  # type: ignore[no-untyped-def]
    res = overview.results
    liver = sirt["liver"].array > 0
    lesions = sirt["lesions"].array > 0
    truth_mask = 100.0 * (lesions & liver).sum() / liver.sum()
    analytic = 100.0 * sum(4 / 3 * np.pi * (les.diameter_mm / 2) ** 3 for les in SIRT_LESIONS) / (
        liver.sum() * sirt["ct"].voxel_volume_ml * 1000.0)
    assert res["tumour_burden_percent"] == pytest.approx(truth_mask, rel=0.01)
    assert res["tumour_burden_percent"] == pytest.approx(analytic, rel=0.01)
    assert res["lesion_count"] == 4
    facts = {f["criterion"] for f in res["lesions"][0]["facts"]}
    assert {"recist_measurable", "milan_single", "ablation_size", "heat_sink", "subcapsular"} <= facts
    assert res["note"] == "Facts against published criteria; no treatment recommendation."
    assert all("source" in f and f["source"] for r in res["lesions"] for f in r["facts"])


def test_bad_inputs(sirt: dict) -> None:
    empty = sirt["lesions"].copy_with(array=np.zeros_like(sirt["lesions"].array))
    with pytest.raises(EmptyMaskError):
        lesion_overview(sirt["ct"], sirt["liver"], empty, segment_vessels=False)
    with pytest.raises(InvalidInputError, match="not a CT"):
        lesion_overview(sirt["liver"], sirt["liver"], sirt["lesions"], segment_vessels=False)


def test_landmarks_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "lm.json"
    bad.write_text('{"ivc": [1, 2]}')
    with pytest.raises(InvalidInputError, match="three numbers"):
        HepaticLandmarks.from_json(bad)
    bad.write_text('{"liver_top": [1, 2, 3]}')
    with pytest.raises(InvalidInputError, match="unknown names"):
        HepaticLandmarks.from_json(bad)
    good = tmp_path / "ok.json"
    good.write_text(json.dumps({"ivc": [-24, 38, 18]}))
    assert HepaticLandmarks.from_json(good).ivc == (-24.0, 38.0, 18.0)
