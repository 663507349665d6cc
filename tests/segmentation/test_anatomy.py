"""Body, lungs and liver on the synthetic abdominal phantom (ground truth exact by construction)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.segmentation.phantoms import Phantom, dice
from workstation.core import InvalidInputError, Unit, Volume
from workstation.segmentation import segment_body, segment_liver, segment_lungs


def test_body_outline_excludes_table(abdomen: Phantom, body_seg: Volume) -> None:
    assert body_seg.units == Unit.LABEL and body_seg.label_names == {1: "body"}
    assert body_seg.same_grid(abdomen.ct)
    # >= 0.99: only voxels exactly half covered (a tie at -547 HU vs the -500 HU cut) may differ
    assert dice(body_seg.array > 0, abdomen.truth["body"]) >= 0.99
    # the table (y >= 125 mm) is not part of the body
    table_rows = abdomen.ct.index_to_world(np.array([[0, j, 0] for j in range(abdomen.ct.shape[1])]))[:, 1] >= 125.0
    assert not body_seg.array[:, table_rows, :].any()


def test_lungs_dice_and_sides(abdomen: Phantom, lungs_seg: Volume) -> None:
    # acceptance: lungs Dice >= 0.95 (issue 5); trachea and main bronchi removed
    assert dice(lungs_seg.array > 0, abdomen.truth["lungs"]) >= 0.95
    assert lungs_seg.label_names == {1: "lung_right", 2: "lung_left"}
    ct = abdomen.ct
    for value, sign in ((1, -1.0), (2, 1.0)):  # LPS: the patient's right is -x
        centroid = ct.index_to_world(np.argwhere(lungs_seg.array == value).mean(axis=0))
        assert np.sign(centroid[0]) == sign
    trachea_point = np.rint(ct.world_to_index([5.0, -5.0, 160.0])).astype(int)
    assert lungs_seg.array[tuple(trachea_point)] == 0


def test_lungs_without_body_given(abdomen: Phantom, lungs_seg: Volume) -> None:
    again = segment_lungs(abdomen.ct)
    np.testing.assert_array_equal(again.array, lungs_seg.array)


def test_liver_automatic(abdomen: Phantom, liver_auto: Volume) -> None:
    # acceptance: liver Dice >= 0.95 without a seed
    assert liver_auto.label_names == {1: "liver"}
    assert dice(liver_auto.array > 0, abdomen.truth["liver"]) >= 0.95


def test_liver_seeded_includes_vessels_and_lesions(abdomen: Phantom) -> None:
    liver = segment_liver(abdomen.ct, seed_lps=(-60.0, 20.0, -20.0))
    assert dice(liver.array > 0, abdomen.truth["liver"]) >= 0.95
    # the 30 mm hypodense lesion and the hyperdense one lie inside the liver mask (holes filled)
    for n in (0, 1):
        inside = (liver.array > 0)[abdomen.lesions[n]].mean()
        assert inside >= 0.95


def test_liver_on_flipped_grid(abdomen: Phantom, liver_auto: Volume) -> None:
    """The heuristics work in patient space: a grid stored right-to-left and upside down gives the same mask."""
    ct = abdomen.ct
    flip = np.diag([-1.0, 1.0, -1.0, 1.0])
    affine = ct.affine.copy()
    affine[:3, 3] = ct.index_to_world([ct.shape[0] - 1, 0, ct.shape[2] - 1])
    affine[:3, :3] = ct.affine[:3, :3] @ flip[:3, :3]
    flipped = Volume(ct.array[::-1, :, ::-1].copy(), affine, modality="CT", units=Unit.HU)
    liver = segment_liver(flipped)
    np.testing.assert_array_equal(liver.array[::-1, :, ::-1], liver_auto.array)


def test_liver_seed_errors(abdomen: Phantom) -> None:
    with pytest.raises(InvalidInputError, match="outside the image"):
        segment_liver(abdomen.ct, seed_lps=(0.0, 0.0, 900.0))
    with pytest.raises(InvalidInputError, match="in air or lung"):
        segment_liver(abdomen.ct, seed_lps=(-80.0, 0.0, 120.0))  # right lung


def test_liver_needs_lung_bases_without_seed(abdomen: Phantom) -> None:
    ct = abdomen.ct
    lower = ct.copy_with(array=ct.array[:40].copy())  # stops below the diaphragm
    with pytest.raises(InvalidInputError, match="--seed"):
        segment_liver(lower)


def test_not_a_ct_is_refused(abdomen: Phantom) -> None:
    spect = abdomen.ct.copy_with(array=np.abs(abdomen.ct.array), units=Unit.BQML)
    with pytest.raises(InvalidInputError, match="needs a CT"):
        segment_body(spect)


def test_lungs_ignore_abdominal_gas(abdomen: Phantom) -> None:
    """Gas in the stomach under the left dome is pure gas (-1000 HU), not aerated lung (-850 HU).

    The CT is cut just above the domes, as an abdominal CT is, so the gas lies as
    high as the lung bases, and the left lung is replaced by soft tissue (as after
    a pneumonectomy), so the gas is the second largest air region.
    """
    ct = abdomen.ct
    top = int(np.rint(ct.world_to_index([0.0, 0.0, 38.0])[0]))
    crop = ct.copy_with(array=ct.array[: top + 1].copy())
    k, j, i = np.indices(crop.shape)
    world = crop.index_to_world(np.stack([k, j, i], axis=-1))
    crop.array[(world[..., 0] > 30.0) & (world[..., 2] > 0.0) & (crop.array < -400.0) & (np.abs(world[..., 0]) < 120.0)] = 40.0
    gas = np.linalg.norm((world - np.array([60.0, -30.0, 0.0])) / np.array([30.0, 25.0, 15.0]), axis=-1) <= 1.0
    rng = np.random.default_rng(3)
    with_gas = crop.array.copy()
    with_gas[gas] = -1000.0 + rng.normal(0.0, 12.0, int(gas.sum()))
    reference = segment_lungs(crop)
    lungs = segment_lungs(crop.copy_with(array=with_gas))
    assert gas.sum() * crop.voxel_volume_ml > 0.1 * (reference.array > 0).sum() * crop.voxel_volume_ml
    assert not (lungs.array > 0)[gas].any()
    np.testing.assert_array_equal(lungs.array > 0, reference.array > 0)
