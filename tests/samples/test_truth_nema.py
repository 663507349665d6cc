"""Ground truth of the NEMA IEC phantom: geometry, volumes, concentrations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.samples.conftest import load_truth
from workstation.io import read_image


@pytest.fixture(scope="module")
def nema(committed: Path) -> dict:
    gt = committed / "nema" / "ground_truth"
    out = {n: read_image(gt / f"{n}.nii.gz") for n in ("spheres", "lung_insert", "background", "phantom", "activity_bqml")}
    out["truth"] = load_truth(committed, "nema")
    return out


def test_spheres_are_the_standard_ones_in_increasing_order(nema: dict) -> None:
    t = nema["truth"]
    assert [s["diameter_mm"] for s in t["spheres"]] == [10.0, 13.0, 17.0, 22.0, 28.0, 37.0]
    assert [s["label"] for s in t["spheres"]] == [1, 2, 3, 4, 5, 6]
    for s in t["spheres"]:
        c = np.asarray(s["centre_lps_mm"])
        assert np.hypot(c[0], c[1]) == pytest.approx(114.4 / 2, abs=1e-9)  # NEMA NU 2-2012 circle
    spheres = nema["spheres"]
    volumes = [(spheres.array == k).sum() * spheres.voxel_volume_ml for k in range(1, 7)]
    assert volumes == sorted(volumes)


def test_sphere_volumes_against_four_thirds_pi_r_cubed(nema: dict) -> None:
    spheres = nema["spheres"]
    h = 2.0
    for s in nema["truth"]["spheres"]:
        r = s["diameter_mm"] / 2
        analytic = 4 / 3 * np.pi * r**3 / 1000
        assert s["volume_ml_analytic"] == pytest.approx(analytic, rel=1e-12)
        mask_ml = (spheres.array == s["label"]).sum() * spheres.voxel_volume_ml
        assert mask_ml == pytest.approx(s["volume_ml_mask"], rel=1e-12)
        # voxel-centre count of a ball on a 2 mm grid: error at most the shell of
        # half a voxel around the surface, 4 pi r^2 x h/2, i.e. relative 1.5 h / r
        assert mask_ml == pytest.approx(analytic, rel=1.5 * h / r)


def test_activity_map_holds_the_analytic_sphere_activity(nema: dict) -> None:
    """The truth map is partial-volume weighted: each sphere's excess activity is analytic."""
    t = nema["truth"]
    act = nema["activity_bqml"]
    bg = t["background_bq_per_ml"]
    grid_idx = np.indices(act.shape).reshape(3, -1).T
    pts = act.index_to_world(grid_idx).reshape(*act.shape, 3)
    for s in t["spheres"]:
        r = s["diameter_mm"] / 2
        near = np.linalg.norm(pts - np.asarray(s["centre_lps_mm"]), axis=-1) < r + 3.0
        excess_bq = (act.array[near].astype(np.float64) - bg).sum() * act.voxel_volume_ml
        expected = (s["concentration_bq_per_ml"] - bg) * s["volume_ml_analytic"]
        # first-order (curvature) bias removed by the generator; what remains is the
        # midpoint-rule error of a ball only 2.5 voxels in radius for the 10 mm sphere
        assert excess_bq == pytest.approx(expected, rel=0.03 if r < 6 else 0.01)
    assert t["sphere_bq_per_ml"] / t["background_bq_per_ml"] == t["sphere_to_background_ratio"] == 8.0
    total = act.array.astype(np.float64).sum() * act.voxel_volume_ml * 1e-9
    assert total == pytest.approx(t["total_activity_in_truth_gbq"], rel=1e-9)
    assert total == pytest.approx(t["total_activity_analytic_gbq"], rel=0.01)  # phantom wall ramp on 2 mm voxels


def test_regions_partition_the_phantom(nema: dict) -> None:
    phantom = nema["phantom"].array > 0
    lung = nema["lung_insert"].array > 0
    spheres = nema["spheres"].array > 0
    background = nema["background"].array > 0
    assert not (lung & spheres).any() and not (background & (lung | spheres)).any()
    assert np.array_equal(phantom, lung | spheres | background)
    act = nema["activity_bqml"].array
    from scipy import ndimage

    assert not act[ndimage.binary_erosion(lung, iterations=2)].any()  # cold lung insert
    inner_bg = ndimage.binary_erosion(background, iterations=2)
    assert np.allclose(act[inner_bg], nema["truth"]["background_bq_per_ml"], rtol=1e-6)
    t = nema["truth"]
    lung_ml = lung.sum() * nema["lung_insert"].voxel_volume_ml
    assert lung_ml == pytest.approx(t["lung_insert"]["volume_ml_analytic"], rel=0.03)
    assert phantom.sum() * 8e-3 == pytest.approx(t["interior"]["volume_ml_analytic"], rel=0.01)
