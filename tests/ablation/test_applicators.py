"""Applicator zones from a device table: geometry, union, plan margins, table errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.ablation.conftest import ISO
from workstation.ablation import Applicator, DeviceTable, ZoneSize, evaluate_plan, predicted_zone
from workstation.ablation.applicators import parse_applicator
from workstation.core.errors import InvalidInputError

TABLE = "power_w,time_s,length_mm,diameter_mm,tip_to_centre_mm\n100,300,40,30,5\n100,600,50,36,6\n"


@pytest.fixture
def table(tmp_path) -> DeviceTable:
    p = tmp_path / "device.csv"
    p.write_text(TABLE)
    return DeviceTable.from_csv(p)


def test_table_lookup_and_errors(tmp_path, table):
    assert table.lookup(100, 600) == ZoneSize(100, 600, 50, 36, 6)
    with pytest.raises(InvalidInputError, match="no row for 90 W and 300 s"):
        table.lookup(90, 300)
    bad = tmp_path / "bad.csv"
    bad.write_text("power,time\n1,2\n")
    with pytest.raises(InvalidInputError, match="lacks the column"):
        DeviceTable.from_csv(bad)
    bad.write_text("power_w,time_s,length_mm,diameter_mm\n100,300,forty,30\n")
    with pytest.raises(InvalidInputError, match="line 2"):
        DeviceTable.from_csv(bad)
    with pytest.raises(InvalidInputError, match="8 numbers"):
        parse_applicator("1,2,3", table)


def test_predicted_zone_volume_and_position(make_volume, table):
    ref = make_volume(ISO, 40.0, [(np.zeros(3), (5.0,) * 3, 1)])
    tip = np.array([0.0, 0.0, 20.0])
    direction = np.array([0.0, 0.0, 1.0])  # shaft along +z (towards the tip)
    app = Applicator(tip, direction, table.lookup(100, 300))
    zone = predicted_zone([app], ref)
    vol_ml = float(zone.array.sum() * zone.voxel_volume_ml)
    exact = 4 / 3 * math.pi * 20 * 15 * 15 / 1000  # semi-axes 20, 15, 15 mm
    assert vol_ml == pytest.approx(exact, rel=0.01)
    # Centre 5 mm back from the tip along the shaft; zone not clipped by the small reference.
    w = zone.array / zone.array.sum()
    idx = np.argwhere(np.ones(zone.shape, bool))
    centroid = (zone.index_to_world(idx) * w.reshape(-1, 1)).sum(axis=0)
    assert centroid == pytest.approx(tip - 5.0 * direction, abs=0.05)


def test_plan_margins_and_union(make_volume, table):
    tumor = make_volume(ISO, 60.0, [(np.zeros(3), (9.5,) * 3, 1)])
    # One applicator through the tumour centre: minor semi-axis 15 -> margin 5.5 mm.
    single = [Applicator(np.array([0.0, 0.0, 5.0]), np.array([0, 0, 1.0]), table.lookup(100, 300))]
    analysis, zone = evaluate_plan(tumor, single, device_table=table)
    res = analysis.results
    assert res["minimal_margin_mm"] == pytest.approx(5.5, abs=0.3)
    assert res["plan_covers_margin_mm"] == {"0": True, "5": True, "10": False}
    assert res["mask_kind"]["ablation"] == "fractional"
    assert len(res["applicators"]) == 1
    # Two applicators side by side: the union is larger and the margin across x grows.
    pair = [
        Applicator(np.array([-6.0, 0.0, 5.0]), np.array([0, 0, 1.0]), table.lookup(100, 600)),
        Applicator(np.array([6.0, 0.0, 5.0]), np.array([0, 0, 1.0]), table.lookup(100, 600)),
    ]
    analysis2, zone2 = evaluate_plan(tumor, pair, device_table=table)
    assert analysis2.results["predicted_zone_ml"] > analysis.results["predicted_zone_ml"]
    exact = _union_margin_bruteforce(pair, 9.5)
    assert 7.0 < exact < 8.0  # the crease between the two zones at x = 0 is the thinnest
    # Binary tumour on a 1 mm grid: half a voxel.
    assert analysis2.results["minimal_margin_mm"] == pytest.approx(exact, abs=0.5)


def _union_margin_bruteforce(apps: list[Applicator], r_tumour: float) -> float:
    """Min distance from a centred sphere to the union's boundary, by dense sampling."""
    from scipy.spatial import cKDTree

    n = 100_000  # Fibonacci sphere: even spacing (~0.25 mm on the zones), no duplicate poles
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    unit = np.stack([np.sqrt(1 - z**2) * np.cos(phi), np.sqrt(1 - z**2) * np.sin(phi), z], -1)
    boundary = []
    for a in apps:  # shafts along z: semi-axes (d/2, d/2, l/2)
        semi = np.array([a.size.diameter_mm, a.size.diameter_mm, a.size.length_mm]) / 2
        pts = a.centre_lps_mm + unit * semi
        others = [b for b in apps if b is not a]
        outside = np.ones(len(pts), bool)
        for b in others:
            outside &= ~b.inside(pts)
        boundary.append(pts[outside])
    tree = cKDTree(unit[::10] * r_tumour)  # the small set in the tree: fast queries
    d, _ = tree.query(np.concatenate(boundary))
    return float(d.min())
