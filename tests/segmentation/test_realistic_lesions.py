"""Seeded lesions on the realistic abdomen (issue 11): one click or a long axis gives the whole lesion.

The liver mask is the ground truth, so the lesion method is tested alone.
Acceptance: Dice >= 0.85 at 20 HU contrast with σ 2 mm edges, from a click
and from a long axis. The other kinds (rim, necrosis, heterogeneous core,
subcapsular, lobulated, hyperdense beside veins, 15 HU, 12 mm) are held to
the level the method reaches with some room (measured 0.71-0.91).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.segmentation.phantoms import dice
from tests.segmentation.realistic import RealisticCT
from workstation.core import InvalidInputError, Unit, Volume
from workstation.segmentation import segment_lesions

MIN_DICE = {
    "hypo_20hu": 0.85, "rim": 0.80, "necrotic": 0.83, "heterogeneous": 0.82, "subcapsular": 0.80,
    "lobulated": 0.80, "hyper_25hu": 0.68, "faint_15hu": 0.65, "small": 0.70,
}


def _liver(ph: RealisticCT) -> Volume:
    return ph.ct.copy_with(array=ph.truth["liver"].astype(np.uint8), units=Unit.LABEL, label_names={1: "liver"})


def test_acceptance_lesion_from_a_click_and_from_its_long_axis(portal_ct: RealisticCT) -> None:
    name = "hypo_20hu"
    spec = portal_ct.specs[name]
    assert spec.contrast_hu == -20.0 and spec.edge_sigma_mm == 2.0
    # a click on one lesion and a long axis across another: labels in that order
    labels = segment_lesions(portal_ct.ct, _liver(portal_ct), seeds_lps=[spec.centre],
                             seed_lines_lps=[portal_ct.long_axis("necrotic")])
    assert labels.label_names == {1: "lesion_1", 2: "lesion_2"} and labels.same_grid(portal_ct.ct)
    assert dice(labels.array == 1, portal_ct.lesions[name]) >= 0.85
    assert dice(labels.array == 2, portal_ct.lesions["necrotic"]) >= MIN_DICE["necrotic"]
    line_only = segment_lesions(portal_ct.ct, _liver(portal_ct), seed_lines_lps=[portal_ct.long_axis(name)])
    assert dice(line_only.array == 1, portal_ct.lesions[name]) >= 0.85


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MIN_DICE))
@pytest.mark.parametrize("mode", ["click", "off-centre click", "long axis"])
def test_lesion_kinds(portal_ct: RealisticCT, name: str, mode: str) -> None:
    spec = portal_ct.specs[name]
    if mode == "click":
        kwargs = {"seeds_lps": [spec.centre]}
    elif mode == "off-centre click":
        # where a hurried click lands: a third of the radius off the middle
        kwargs = {"seeds_lps": [tuple(np.array(spec.centre) + np.array([0.35, -0.2, 0.0]) * spec.radius_mm)]}
    else:
        kwargs = {"seed_lines_lps": [portal_ct.long_axis(name)]}
    labels = segment_lesions(portal_ct.ct, _liver(portal_ct), **kwargs)
    assert dice(labels.array == 1, portal_ct.lesions[name]) >= MIN_DICE[name]


def test_heterogeneous_lesion_is_not_its_core(portal_ct: RealisticCT) -> None:
    """A metastasis darker in its core than at its soft edge: the click returns most of it, not the core."""
    name = "heterogeneous"
    labels = segment_lesions(portal_ct.ct, _liver(portal_ct), seeds_lps=[portal_ct.specs[name].centre])
    found = (labels.array == 1).sum()
    truth = portal_ct.lesions[name].sum()
    # the half-way threshold between core (-40 HU) and parenchyma keeps r < 0.63 R: 25 % of the volume
    assert found >= 0.7 * truth


def test_lesion_line_errors(portal_ct: RealisticCT) -> None:
    liver = _liver(portal_ct)
    c = np.array(portal_ct.specs["hypo_20hu"].centre)
    with pytest.raises(InvalidInputError, match="long axis"):
        segment_lesions(portal_ct.ct, liver, seed_lines_lps=[(tuple(c), tuple(c + 1.0))])
    with pytest.raises(InvalidInputError, match="outside the image"):
        segment_lesions(portal_ct.ct, liver, seed_lines_lps=[(tuple(c), (900.0, 0.0, 0.0))])
    with pytest.raises(InvalidInputError, match="outside the liver"):
        segment_lesions(portal_ct.ct, liver, seed_lines_lps=[((120.0, 60.0, -90.0), (130.0, 60.0, -90.0))])
    with pytest.raises(InvalidInputError, match="not on a lesion"):
        segment_lesions(portal_ct.ct, liver, seed_lines_lps=[((-100.0, 20.0, 30.0), (-80.0, 20.0, 30.0))])
