"""Liver lesions, ablation zone and uptake thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.segmentation.phantoms import Phantom, dice
from workstation.core import EmptyMaskError, InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.segmentation import segment_ablation_zone, segment_lesions, segment_uptake


def _truth_liver(ph: Phantom) -> Volume:
    return ph.ct.copy_with(array=ph.truth["liver"].astype(np.uint8), units=Unit.LABEL, label_names={1: "liver"})


def test_seeded_lesions_with_reference_liver(abdomen: Phantom) -> None:
    # acceptance: every lesion >= 1 cm found with Dice >= 0.8 when seeded
    lesions = segment_lesions(abdomen.ct, _truth_liver(abdomen), seeds_lps=abdomen.lesion_centres)
    assert lesions.label_names == {n: f"lesion_{n}" for n in range(1, len(abdomen.lesions) + 1)}
    for n, (truth, diameter) in enumerate(zip(abdomen.lesions, abdomen.lesion_diameters_mm, strict=True), start=1):
        if diameter >= 10.0:
            assert dice(lesions.array == n, truth) >= 0.8, f"lesion {n} ({diameter} mm)"


def test_seeded_lesions_with_segmented_liver(abdomen: Phantom, liver_auto: Volume) -> None:
    """End to end (automatic liver, then seeded lesions): the lesions away from vessels and capsule."""
    lesions = segment_lesions(abdomen.ct, liver_auto, seeds_lps=abdomen.lesion_centres)
    for n in (1, 2, 3, 4, 7):  # all but the subcapsular one (see the xfail below)
        assert dice(lesions.array == n, abdomen.lesions[n - 1]) >= 0.8, f"lesion {n}"


@pytest.mark.xfail(reason="known limit: with the automatic liver mask, a hypodense subcapsular lesion of the "
                   "same density as the abdominal wall muscle it touches is left out of the liver and over-grown", strict=True)
def test_subcapsular_lesion_next_to_muscle_with_segmented_liver(abdomen: Phantom, liver_auto: Volume) -> None:
    lesions = segment_lesions(abdomen.ct, liver_auto, seeds_lps=[abdomen.lesion_centres[4]])
    assert dice(lesions.array == 1, abdomen.lesions[4]) >= 0.8


def test_automatic_lesions_find_every_lesion_of_1cm(abdomen: Phantom) -> None:
    lesions = segment_lesions(abdomen.ct, _truth_liver(abdomen), min_diameter_mm=10.0)
    found = [lesions.array == v for v in lesions.label_names]
    for truth, diameter in zip(abdomen.lesions, abdomen.lesion_diameters_mm, strict=True):
        best = max(dice(f, truth) for f in found)
        if diameter >= 10.0:
            assert best >= 0.5, f"{diameter} mm lesion not found"
        else:
            assert best == 0.0, "a sub-centimetre lesion was reported"
    # no vessel and nothing outside the lesions: every finding matches a true lesion
    for f in found:
        assert max(dice(f, t) for t in abdomen.lesions) >= 0.5


def test_lesion_seed_errors(abdomen: Phantom) -> None:
    liver = _truth_liver(abdomen)
    with pytest.raises(InvalidInputError, match="outside the liver"):
        segment_lesions(abdomen.ct, liver, seeds_lps=[(90.0, 40.0, -5.0)])  # spleen
    with pytest.raises(InvalidInputError, match="not on a lesion"):
        segment_lesions(abdomen.ct, liver, seeds_lps=[(-95.0, 30.0, 10.0)])  # plain parenchyma


def test_ablation_zone(ablation_ct: Phantom) -> None:
    # acceptance: ablation zone Dice >= 0.9 (gas inside, hyperdense rim, needle track, vein nearby)
    zone = segment_ablation_zone(ablation_ct.ct, ablation_ct.extra["centre"])
    assert zone.label_names == {1: "ablation_zone"}
    assert dice(zone.array > 0, ablation_ct.truth["ablation_zone"]) >= 0.9


def test_ablation_zone_errors(ablation_ct: Phantom) -> None:
    ct = ablation_ct.ct
    with pytest.raises(InvalidInputError, match="outside the image"):
        segment_ablation_zone(ct, (500.0, 0.0, 0.0))
    with pytest.raises(InvalidInputError, match="hypodense|leaks"):
        segment_ablation_zone(ct, (-70.0, 0.0, 0.0))  # plain parenchyma
    air = ct.copy_with(array=np.where(np.arange(ct.shape[2])[None, None, :] < 15, -1000.0, ct.array).astype(np.float32))
    with pytest.raises(InvalidInputError, match="in air"):
        segment_ablation_zone(air, tuple(air.index_to_world([25, 50, 3])))


def _sphere_image() -> tuple[Volume, np.ndarray]:
    shape = (30, 40, 40)
    k, j, i = np.indices(shape)
    r = np.sqrt(((k - 15) * 2.0) ** 2 + ((j - 20) * 1.5) ** 2 + ((i - 20) * 1.5) ** 2)
    arr = np.where(r <= 12.0, 1000.0, 0.0) + np.where(r <= 6.0, 1000.0, 0.0)  # hot core 2000, shell 1000
    vol = Volume(arr.astype(np.float32), affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.5, 1.5]), modality="NM", units=Unit.BQML)
    return vol, r


def test_uptake_percent_and_absolute() -> None:
    vol, r = _sphere_image()
    hot = segment_uptake(vol, percent=60.0)  # 60 % of 2000 = 1200: only the core
    np.testing.assert_array_equal(hot.array > 0, r <= 6.0)
    both = segment_uptake(vol, absolute=500.0)
    np.testing.assert_array_equal(both.array > 0, r <= 12.0)
    assert both.metadata.extra["uptake_threshold"] == 500.0


def test_uptake_within_mask_uses_the_local_maximum() -> None:
    vol, r = _sphere_image()
    shell = vol.copy_with(array=((r > 7.0) & (r <= 12.0)).astype(np.uint8), units=Unit.LABEL)
    out = segment_uptake(vol, within=shell, percent=90.0)  # 90 % of the shell maximum 1000
    np.testing.assert_array_equal(out.array > 0, (r > 7.0) & (r <= 12.0))


def test_uptake_errors() -> None:
    vol, _ = _sphere_image()
    with pytest.raises(InvalidInputError, match="exactly one"):
        segment_uptake(vol)
    with pytest.raises(InvalidInputError, match="--percent"):
        segment_uptake(vol, percent=150.0)
    with pytest.raises(EmptyMaskError, match="empty"):
        segment_uptake(vol, absolute=5000.0)


def test_ablation_zone_on_a_crop_without_air(ablation_ct: Phantom) -> None:
    """A liver-only crop (no air anywhere) is still a CT for the ablation-zone method."""
    ct = ablation_ct.ct
    crop = ct.copy_with(array=np.maximum(ct.array, -150.0).astype(np.float32))
    zone = segment_ablation_zone(crop, ablation_ct.extra["centre"])
    # gas bubbles are clipped to -150 HU here, still far below the zone (38 HU): same accuracy
    assert dice(zone.array > 0, ablation_ct.truth["ablation_zone"]) >= 0.9
