"""Correcting a mask in the viewer: paint/erase, inside/outside strokes refined on the CT, undo, save."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

pytestmark = pytest.mark.gui

WAIT_MS = 120_000  # worker threads on a loaded 2-core machine; only guards a hang


def _dice(a, b):
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _lesion_study(contrast_hu: float = 30.0, edge_sigma_mm: float = 1.5, seed: int = 5) -> dict:
    """A contrast CT: liver 110 HU with a 12 mm hypodense lesion (``contrast_hu`` below it), soft edge
    (Gaussian ``edge_sigma_mm``), correlated noise about 12 HU (``seed``); the lesion's truth mask, a
    deliberately bad mask (a 6 mm ball off-centre by 4 mm: Dice about 0.2) and one that misses the
    lesion's part beyond x = 2 mm (Dice 0.76).

    Grid 32 × 64 × 64 of (z, y, x) = (2.0, 1.2, 1.2) mm, origin (-38.4, -38.4, -32) mm.
    """
    from scipy import ndimage as ndi

    shape, spacing = (32, 64, 64), (2.0, 1.2, 1.2)
    affine = affine_from_geometry([-38.4, -38.4, -32.0], list(spacing))
    kk, jj, ii = np.indices(shape).astype(float)
    x, y, z = -38.4 + ii * 1.2, -38.4 + jj * 1.2, -32.0 + kk * 2.0
    r = np.sqrt(x**2 + y**2 + z**2)
    liver = (np.abs(x) < 34) & (np.abs(y) < 34) & (np.abs(z) < 28)
    hu = np.where(liver, 110.0, 30.0)
    hu = np.where(r <= 12.0, 110.0 - contrast_hu, hu)
    sigma_vox = [edge_sigma_mm / s for s in spacing]
    rng = np.random.default_rng(seed)
    hu = ndi.gaussian_filter(hu, sigma_vox) + ndi.gaussian_filter(rng.normal(0.0, 20.0, shape), 0.6)
    truth = (r <= 12.0).astype(np.uint8)
    bad = (np.sqrt((x - 4.0) ** 2 + y**2 + z**2) <= 6.0).astype(np.uint8)
    partial = (truth.astype(bool) & (x < 2.0)).astype(np.uint8)
    return {
        "ct": Volume(hu.astype(np.float32), affine, modality="CT", units=Unit.HU),
        "truth": truth,
        "bad": Volume(bad, affine, units=Unit.LABEL, label_names={1: "lesion"}),
        "partial": Volume(partial, affine, units=Unit.LABEL, label_names={1: "lesion"}),
        "index": lambda lps: tuple(np.rint(np.asarray([(lps[2] + 32.0) / 2.0, (lps[1] + 38.4) / 1.2,
                                                       (lps[0] + 38.4) / 1.2])).astype(int)),
    }


@pytest.fixture
def lesion_ct():
    return _lesion_study()


def _refine(widget, qtbot):
    widget.run_button.click()
    assert widget.worker is not None, widget.status.text()
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=WAIT_MS)
    assert widget.result is not None, widget.status.text()


def test_strokes_refine_a_bad_lesion_mask_undo_and_save(make_napari_viewer, qtbot, lesion_ct, tmp_path):
    from workstation.io import read_mask
    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.correct import STROKE_INSIDE, STROKE_OUTSIDE, CorrectWidget

    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(lesion_ct["ct"], name="ct"))
    original_layer = add_layer(viewer, labels_layer(lesion_ct["bad"], name="lesion", contour=0))
    widget = CorrectWidget(viewer)
    assert (widget.image.currentText(), widget.mask.currentText()) == ("ct", "lesion")
    assert widget.chosen_label() == 1
    original = np.array(original_layer.data, copy=True)
    dice_before = _dice(original, lesion_ct["truth"])
    assert dice_before < 0.4
    # Strokes as a reader draws them, with napari's brush (5 voxels wide, in the slice): inside across the
    # missed part of the lesion (x from -9 to +9 mm in the middle slice), outside a ring at 18 mm around it.
    strokes = widget.draw(STROKE_INSIDE)
    assert strokes.mode == "paint" and strokes.selected_label == STROKE_INSIDE and strokes.brush_size == 5
    assert strokes.data.shape == lesion_ct["ct"].shape
    # The first edit copies the mask: edits go to "lesion corrected", chosen in the picker; the original
    # becomes an outline.
    mask = viewer.layers["lesion corrected"]
    assert widget.mask.currentText() == "lesion corrected" and widget.chosen_label() == 1
    assert strokes.name == "lesion corrected strokes" and original_layer.contour == 1
    assert viewer.layers.index(mask) < viewer.layers.index(original_layer)  # the outline drawn over the fill
    np.testing.assert_allclose(original_layer.colormap.map(1)[..., :3].ravel(), 1.0)  # white
    np.testing.assert_array_equal(mask.data, original)
    index = lesion_ct["index"]
    for x in np.arange(-9.0, 9.5, 1.2):
        strokes.paint(index((x, 0.0, 0.0)), STROKE_INSIDE)
    widget.draw(STROKE_OUTSIDE)
    for angle in np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False):
        strokes.paint(index((18.0 * np.cos(angle), 18.0 * np.sin(angle), 0.0)), strokes.selected_label)
    assert np.count_nonzero(strokes.data == STROKE_INSIDE) > 50 and np.count_nonzero(strokes.data == 2) > 200
    # The strokes layer is no mask: no picker offers it.
    assert not widget.mask.offers(strokes)
    _refine(widget, qtbot)
    refined = np.array(mask.data, copy=True)
    # The refinement improves the deliberately bad mask (issue 11's acceptance: "scribble refinement improves
    # a deliberately bad result"); its accuracy is the segmentation package's (tested there).
    dice_after = _dice(refined, lesion_ct["truth"])
    assert dice_after >= dice_before + 0.3, (dice_before, dice_after, widget.status.text())
    assert "mL" in widget.status.text() and not strokes.data.any()  # strokes cleared after use
    np.testing.assert_array_equal(original_layer.data, original)  # the original is untouched
    # One Undo takes the whole refinement back.
    widget.undo()
    np.testing.assert_array_equal(mask.data, original)
    mask.redo()
    np.testing.assert_array_equal(mask.data, refined)
    # Paint and erase with napari's brush on the corrected layer, each undone.
    widget.edit_mask("erase")
    assert mask.mode == "erase" and viewer.layers.selection.active is mask
    widget.edit_mask("paint")
    assert mask.mode == "paint" and mask.selected_label == 1
    corner = (2, 2, 2)
    mask.paint(corner, 1)
    assert mask.data[corner] == 1
    widget.undo()
    assert mask.data[corner] == 0
    np.testing.assert_array_equal(mask.data, refined)
    np.testing.assert_array_equal(original_layer.data, original)
    # Saved as the masks the other commands take: NIfTI read back by MASK, on the CT's grid.
    path = widget.save_mask(tmp_path / "lesion_corrected.nii.gz")
    back = read_mask(str(path), reference=lesion_ct["ct"])
    np.testing.assert_array_equal(back.array != 0, refined != 0)


def test_an_inside_stroke_adds_the_part_a_mask_missed(make_napari_viewer, qtbot):
    """A mask missing the lesion's part beyond x = 2 mm (Dice 0.76), one inside stroke across that part
    (x 6 to 10 mm, in the middle slice, drawn with the brush through the layer's own paint): the corrected
    mask gains at least 0.12 in Dice against the truth. At 20 HU contrast and 2 mm edges (issue 11's lesion
    acceptance) this widget path gave Dice 0.93-0.95 from 0.76 over noise seeds 5-7 at 20 and 30 HU
    (+0.17 to +0.20), so the margin leaves room for the noise without letting a no-op or a core-only
    regrowth pass.
    """
    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.correct import STROKE_INSIDE, CorrectWidget

    study = _lesion_study(contrast_hu=20.0, edge_sigma_mm=2.0, seed=6)
    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(study["ct"], name="ct"))
    original_layer = add_layer(viewer, labels_layer(study["partial"], name="lesion"))
    widget = CorrectWidget(viewer)
    dice_before = _dice(original_layer.data, study["truth"])
    assert 0.7 < dice_before < 0.8
    strokes = widget.draw(STROKE_INSIDE)
    for x in np.arange(6.0, 10.0, 1.2):
        strokes.paint(study["index"]((x, 0.0, 0.0)), STROKE_INSIDE)
    assert not (strokes.data.astype(bool) & (original_layer.data != 0)).any()  # only in the missed part
    _refine(widget, qtbot)
    corrected = viewer.layers["lesion corrected"]
    dice_after = _dice(corrected.data, study["truth"])
    assert dice_after >= dice_before + 0.12, (dice_before, dice_after, widget.status.text())
    np.testing.assert_array_equal(original_layer.data, study["partial"].array)


def test_refine_needs_strokes_and_a_ct(make_napari_viewer, lesion_ct):
    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.correct import CorrectWidget

    viewer = make_napari_viewer()
    widget = CorrectWidget(viewer)  # docked before any layer, as `workstation view` does
    assert widget.chosen_label() is None
    add_layer(viewer, labels_layer(lesion_ct["bad"], name="lesion"))
    assert widget.mask.currentText() == "lesion" and widget.chosen_label() == 1
    widget.run_button.click()
    assert "Choose the CT" in widget.status.text()
    add_layer(viewer, volume_layer(lesion_ct["ct"], name="ct"))
    widget.run_button.click()
    assert "Draw inside or outside strokes first" in widget.status.text() and widget.worker is None
    widget.undo_button.click()
    assert "Nothing to undo on lesion" in widget.status.text()


def test_a_mask_on_another_grid_is_corrected_on_the_ct_grid_and_a_replaced_mask_gets_a_new_copy(
    make_napari_viewer, lesion_ct
):
    """The copy of a mask drawn on a coarser grid (2.4 mm in plane) lies on the CT's grid (nearest
    neighbour: the same voxels as the ball on the CT grid, up to the 1.2 mm half-voxel at its edge); a mask
    layer removed and added again under the same name (Segment run again) gets a new copy, not the old one.
    """
    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.correct import STROKE_INSIDE, CorrectWidget

    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(lesion_ct["ct"], name="ct"))
    coarse_affine = affine_from_geometry([-38.4, -38.4, -32.0], [2.0, 2.4, 2.4])
    coarse = Volume(lesion_ct["truth"][:, ::2, ::2].copy(), coarse_affine, units=Unit.LABEL,
                    label_names={1: "lesion"})
    first = add_layer(viewer, labels_layer(coarse, name="lesion"))
    widget = CorrectWidget(viewer)
    copy = widget.edit_mask("paint")
    assert copy.name == "lesion corrected" and copy.data.shape == lesion_ct["ct"].shape
    assert first.data.shape == coarse.shape  # the original keeps its grid and data
    overlap = _dice(copy.data, lesion_ct["truth"])
    assert overlap > 0.85, overlap
    copy.paint((16, 32, 32), 1)
    # Segmented again: the old mask goes, a new one of the same name comes.
    viewer.layers.remove(first)
    viewer.layers.remove(copy)
    add_layer(viewer, labels_layer(lesion_ct["bad"], name="lesion"))
    widget.mask.select("lesion")
    strokes = widget.draw(STROKE_INSIDE)
    fresh = viewer.layers["lesion corrected"]
    assert fresh is not copy and widget.mask.currentText() == "lesion corrected"
    np.testing.assert_array_equal(fresh.data, lesion_ct["bad"].array)
    assert strokes.name == "lesion corrected strokes" and not strokes.data.any()


@pytest.mark.slow  # a random walker on a liver-sized box: 4-8 s on the shared 2-core machine
def test_an_outside_stroke_takes_a_leak_into_a_touching_organ_out_of_a_liver(make_napari_viewer, qtbot):
    """A liver (ellipsoid, semi-axes 60 × 50 × 40 mm, 110 HU) touching a spleen at 100 HU (10 HU apart,
    no fat plane), edges blurred σ 1.5 mm, correlated noise (σ 25 HU before a 0.7-voxel blur, seed 1); the
    liver mask leaked into the whole spleen (Dice 0.92). One outside stroke across the spleen in the middle
    slice: refine_mask's random walker (the liver path, not the lesion regrowth) gave Dice 0.92 -> 0.97
    (noise seeds 1 and 2) and kept 0.2 % of the spleen (seed 1); asserted: +0.03 in Dice (the whole leak
    is worth +0.08) and at most a quarter of the spleen left.
    """
    from scipy import ndimage as ndi

    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.correct import STROKE_OUTSIDE, CorrectWidget

    shape, spacing, origin = (40, 96, 96), (2.5, 2.0, 2.0), (-96.0, -96.0, -50.0)
    affine = affine_from_geometry(list(origin), list(spacing))
    kk, jj, ii = np.indices(shape).astype(float)
    x, y, z = origin[0] + ii * 2.0, origin[1] + jj * 2.0, origin[2] + kk * 2.5
    liver = ((x + 20.0) / 60.0) ** 2 + (y / 50.0) ** 2 + (z / 40.0) ** 2 <= 1.0
    spleen = (((x - 55.0) / 25.0) ** 2 + (y / 30.0) ** 2 + (z / 30.0) ** 2 <= 1.0) & ~liver
    hu = np.where(liver, 110.0, np.where(spleen, 100.0, -50.0))
    rng = np.random.default_rng(1)
    hu = ndi.gaussian_filter(hu, [1.5 / s for s in spacing]) + ndi.gaussian_filter(rng.normal(0.0, 25.0, shape), 0.7)
    ct = Volume(hu.astype(np.float32), affine, modality="CT", units=Unit.HU)
    leaked = Volume((liver | spleen).astype(np.uint8), affine, units=Unit.LABEL, label_names={1: "liver"})

    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(ct, name="ct"))
    add_layer(viewer, labels_layer(leaked, name="liver"))
    widget = CorrectWidget(viewer)
    dice_before = _dice(leaked.array, liver)
    strokes = widget.draw(STROKE_OUTSIDE)
    for xv in np.arange(45.0, 66.0, 2.0):
        strokes.paint((20, 48, int(round((xv - origin[0]) / 2.0))), STROKE_OUTSIDE)
    _refine(widget, qtbot)
    corrected = np.asarray(viewer.layers["liver corrected"].data) != 0
    dice_after = _dice(corrected, liver)
    spleen_left = np.count_nonzero(corrected & spleen) / np.count_nonzero(spleen)
    assert dice_after >= dice_before + 0.03, (dice_before, dice_after)
    assert spleen_left <= 0.25, spleen_left


@pytest.mark.slow  # reading the sample study's DICOM CT and writing the SEG: 7-10 s
def test_a_corrected_sample_truth_saves_as_dicom_seg_on_its_dicom_ct(make_napari_viewer, tmp_path):
    """The SIRT sample's lesions (ground truth on its DICOM CT): a voxel erased in the corrected copy is
    saved as DICOM SEG referencing the CT and read back by MASK, label by label, as the copy."""
    from workstation.io import read_mask
    from workstation.samples import sample_data_dir
    from workstation.viewer import add_layer
    from workstation.viewer._plugin import sample_sirt
    from workstation.viewer.correct import CorrectWidget

    assert (sample_data_dir() / "sirt" / "ct").is_dir(), "the committed sample studies are missing"
    viewer = make_napari_viewer()
    for item in sample_sirt():
        if item[1]["name"] in ("sirt ct", "sirt lesions"):
            add_layer(viewer, item)
    widget = CorrectWidget(viewer)
    assert widget.image.currentText() == "sirt ct"
    widget.mask.select("sirt lesions")
    assert widget.label.count() >= 2  # one entry per lesion
    copy = widget.edit_mask("paint")
    first = copy.selected_label
    widget.label.setCurrentIndex(1)  # another lesion chosen while painting: the brush follows
    value = widget.chosen_label()
    assert value != first and copy.selected_label == value
    copy = widget.edit_mask("erase")
    assert copy.name == "sirt lesions corrected" and copy.metadata["roi_role"] == "lesion"
    voxel = tuple(int(i) for i in np.argwhere(np.asarray(copy.data) == value)[0])
    copy.paint(voxel, 0)
    assert copy.data[voxel] == 0 and viewer.layers["sirt lesions"].data[voxel] == value
    path = widget.save_mask(tmp_path / "lesions_corrected.dcm")
    ct = viewer.layers["sirt ct"].metadata["volume"]
    back = read_mask(str(path), reference=ct)
    np.testing.assert_array_equal(back.array, np.asarray(copy.data))
