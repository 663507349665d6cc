"""Reading the viewer: pickers of the right kind, ROI roles, status read-out, layer order and fusion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

pytestmark = pytest.mark.gui


@pytest.fixture
def suv_study(study):
    """The study of conftest plus an NM image (Bq/mL), a margin map (mm) and a second CT, one grid."""
    ct = study["ct"]
    rng = np.random.default_rng(22)
    activity = np.where(ct.array > 0, 1.0e4, 0.0) + np.where(study["lesion"].array > 0, 9.0e4, 0.0)
    activity = (activity * rng.gamma(50.0, 1 / 50.0, size=activity.shape)).astype(np.float32)  # 14 % noise
    margin = np.full(ct.shape, np.nan, np.float32)
    margin[10:14, 25:35, 35:45] = -3.0
    return {
        **study,
        "spect": ct.copy_with(array=activity, modality="NM", units=Unit.BQML),
        "margin": ct.copy_with(array=margin, modality=None, units=Unit.MM),
        "pre_ct": ct.copy_with(array=np.roll(ct.array, 3, axis=2), modality="CT"),
    }


def _add(viewer, vol, name, **kwargs):
    from workstation.viewer import add_layer, volume_layer

    return add_layer(viewer, volume_layer(vol, name=name, **kwargs))


def test_pickers_offer_only_layers_of_their_kind(make_napari_viewer, suv_study):
    from workstation.viewer.steps import MarginWidget, RegisterWidget, SirtWidget
    from workstation.viewer.widgets import OverlayWidget

    viewer = make_napari_viewer()
    _add(viewer, suv_study["ct"], "ct")
    sirt = SirtWidget(viewer)
    # Only a CT: the activity picker offers nothing (never the CT) and says so when run.
    assert [sirt.activity.itemText(i) for i in range(sirt.activity.count())] == ["(none)"]
    sirt._clicked()
    assert "Choose an activity image" in sirt.status.text()
    _add(viewer, suv_study["dose"], "dose")
    _add(viewer, suv_study["margin"], "margin")
    _add(viewer, suv_study["spect"], "spect")
    _add(viewer, suv_study["lesion"], "lesion")
    offered = [sirt.activity.itemText(i) for i in range(sirt.activity.count())]
    assert offered == ["(none)", "spect (Bq/mL)"] and sirt.activity.currentText() == "spect (Bq/mL)"
    assert sirt.ct.currentText() == "ct"
    overlay = OverlayWidget(viewer)
    assert overlay.dose.currentText() == "dose (Gy)" and overlay.margin.currentText() == "margin (mm)"
    assert {overlay.dose.itemText(i) for i in range(overlay.dose.count())} == {"(none)", "dose (Gy)"}
    register = RegisterWidget(viewer)
    assert (register.fixed.currentText(), register.moving.currentText()) == ("ct", "spect (Bq/mL)")
    margins = MarginWidget(viewer)
    assert margins.tumor.currentText() == "lesion"
    assert margins.ablation.currentText() == "(none)"  # no layer looks like an ablation zone: nothing
    margins._clicked()
    assert "Choose an ablation-zone labels layer" in margins.status.text()


def test_roi_table_roles_prefilled_chosen_and_renamed(make_napari_viewer, suv_study):
    from workstation.viewer.steps import SirtWidget

    viewer = make_napari_viewer()
    unnamed = _add(viewer, suv_study["lesion"].copy_with(label_names={}), "label 1")
    widget = SirtWidget(viewer)
    _add(viewer, suv_study["lesion"], "whole liver")
    assert widget.roi_names() == ["label 1", "whole liver"]
    assert widget.roi_roles() == {"whole liver": "liver"}  # "label 1" is "other", left out until chosen
    # Renaming refreshes the list; a role prefilled from the name follows the new name …
    unnamed.name = "lungs"
    assert widget.roi_names() == ["lungs", "whole liver"]
    assert widget.roi_roles() == {"lungs": "lung", "whole liver": "liver"}
    assert widget.rois.cellWidget(0, 1).currentData() == "lung"
    # … a chosen one stays.
    widget.set_role("whole liver", "lesion")
    viewer.layers["whole liver"].name = "liver"
    assert widget.roi_roles()["liver"] == "lesion"
    with pytest.raises(Exception, match="Unknown ROI role"):
        widget.set_role("liver", "kidney")


def test_status_shows_every_layer_with_its_unit_in_lps(make_napari_viewer, suv_study):
    from workstation.viewer import isodose_layer, readout_text
    from workstation.viewer._app import add_layer

    viewer = make_napari_viewer()
    _add(viewer, suv_study["ct"], "ct")
    _add(viewer, suv_study["spect"], "spect")
    dose = _add(viewer, suv_study["dose"], "dose")
    add_layer(viewer, isodose_layer(suv_study["dose"], [30.0]))
    _add(viewer, suv_study["lesion"], "lesion")
    viewer.layers.selection = {dose}  # whichever layer is selected, every layer is read
    index = (12, 30, 40)  # the lesion centre, inside the 60 Gy cube
    lps = suv_study["ct"].index_to_world(index)
    text = readout_text(viewer, lps[::-1])
    spect = suv_study["spect"].array[index]
    assert text.startswith(f"LPS x {lps[0]:.1f}, y {lps[1]:.1f}, z {lps[2]:.1f} mm")
    for part in ("lesion: lesion", "dose (Gy): 60 Gy", f"spect (Bq/mL): {spect:.4g} Bq/mL", "ct: 40 HU"):
        assert part in text, text
    assert text.index("lesion:") < text.index("dose (Gy)") < text.index("ct: 40 HU")  # top layer first
    # An isodose line is read as its level; a hidden layer is not read; outside a layer, no value.
    edge = suv_study["ct"].index_to_world((12, 20, 30))
    assert "isodose 30 Gy: 30 Gy" in readout_text(viewer, edge[::-1])
    viewer.layers["spect (Bq/mL)"].visible = False
    assert "spect" not in readout_text(viewer, lps[::-1])
    assert readout_text(viewer, (0.0, 1e4, 1e4)).count(":") == 0
    # napari's status bar text comes from the read-out for this viewer.
    viewer.mouse_over_canvas = True
    viewer.cursor.position = tuple(lps[::-1])
    status, _ = viewer._calc_status_from_cursor()
    assert status == readout_text(viewer, lps[::-1])


def test_new_images_go_below_the_overlays_with_a_blend(make_napari_viewer, suv_study):
    viewer = make_napari_viewer()
    _add(viewer, suv_study["ct"], "ct")
    _add(viewer, suv_study["dose"], "dose")
    _add(viewer, suv_study["lesion"], "lesion")
    spect = _add(viewer, suv_study["spect"], "spect")
    pre = _add(viewer, suv_study["pre_ct"], "pre ct")
    assert [layer.name for layer in viewer.layers] == ["ct", "pre ct", "spect (Bq/mL)", "dose (Gy)", "lesion"]
    assert pre.opacity == pytest.approx(0.5)  # a CT over a CT: a 50/50 blend
    assert spect.blending == "additive" and spect.metadata["emission_role"] == "fused"
    # Outlines of the sample studies and of --labels are drawn as contours.
    assert viewer.layers["lesion"].contour == 0
    from workstation.viewer import add_layer, labels_layer

    outlined = add_layer(viewer, labels_layer(suv_study["lesion"], name="outlined", contour=2))
    assert outlined.contour == 2


def test_emission_base_without_ct_and_colour_bar_titles(make_napari_viewer, suv_study):
    from workstation.viewer import emission_base_window

    viewer = make_napari_viewer()
    spect = _add(viewer, suv_study["spect"], "spect")
    lo, hi = emission_base_window(suv_study["spect"])
    # Body uptake 1e4 Bq/mL (x noise), median of the body ~1e4: the window tops at 3 medians.
    assert lo == 0.0 and hi == pytest.approx(3.0e4, rel=0.05)
    assert spect.metadata["emission_role"] == "base" and spect.colormap.name == "gray"
    assert tuple(spect.contrast_limits) == pytest.approx((lo, hi)) and spect.opacity == 1.0
    ct = _add(viewer, suv_study["ct"], "ct")
    assert viewer.layers.index(ct) == 0 and spect.metadata["emission_role"] == "fused"
    assert spect.blending == "additive"
    viewer.layers.remove(ct)
    assert spect.metadata["emission_role"] == "base"

    # Colour bars: each titled with its layer name, which ends with the unit; the isodose legend.
    from workstation.viewer import add_volumes

    viewer.layers.clear()
    add_volumes(viewer, [suv_study["ct"], suv_study["spect"]], dose=suv_study["dose"], isodose_levels_gy=[30, 50])
    titled = {layer.name for layer in viewer.layers if layer._overlays["layer_name"].visible}
    bars = {layer.name for layer in viewer.layers if getattr(layer, "colorbar", None) and layer.colorbar.visible}
    assert bars == {"dose (Gy)", suv_study["spect"].metadata.series_description or "NM (Bq/mL)"}
    assert titled == bars | {"isodose 30, 50 Gy"}  # the title of each bar, and the isodose legend
    for layer in viewer.layers:
        if layer.name in titled:
            assert layer._overlays["layer_name"].position == "top_right"
    assert viewer.canvas.overlay_tiling.top_right == "vertical"  # stacked, not on top of each other
    viewer.layers["dose (Gy)"].colorbar.visible = False
    assert not viewer.layers["dose (Gy)"]._overlays["layer_name"].visible
    # A colour bar the user turns on (napari's layer controls) says its unit too.
    ct = viewer.layers["CT"]
    ct.colorbar.visible = True
    assert ct.name == "CT (HU)" and ct._overlays["layer_name"].visible


def _register_pair(viewer, suv_study):
    import SimpleITK as sitk

    from workstation.viewer.steps import RegisterWidget

    fixed = _add(viewer, suv_study["ct"], "ct")
    moving = _add(viewer, suv_study["pre_ct"], "pre ct")
    widget = RegisterWidget(viewer)
    # pre ct is the CT shifted by 3 columns (3.75 mm along +x): the transform fixed -> moving.
    transform = sitk.TranslationTransform(3, (3.75, 0.0, 0.0))
    result = SimpleNamespace(transform=transform, report={"metric": {"name": "correlation", "before": -0.62,
                                                                      "after": -0.98}})
    return widget, fixed, moving, result


def test_registration_fusion_views_and_worse_metric(make_napari_viewer, suv_study):
    viewer = make_napari_viewer()
    widget, fixed, moving, result = _register_pair(viewer, suv_study)
    widget.show_result(fixed, moving, suv_study["pre_ct"], suv_study["ct"], result)
    assert "registered to ct" in widget.status.text() and widget.fusion.isEnabled()
    rows = {widget.table.item(r, 0).text(): widget.table.item(r, 1).text() for r in range(widget.table.rowCount())}
    assert rows["Metric before (lower is better)"] == "-0.62" and rows["Metric after"] == "-0.98"
    assert not any("_" in name or "." in name for name in rows)  # what a reader needs, not report keys
    assert moving.opacity == pytest.approx(0.5)  # blend: the moving CT at half opacity over the fixed
    widget.checker_mm.setValue(10.0)
    board = widget.show_fusion("checkerboard")
    assert not fixed.visible and not moving.visible and board.visible
    # Squares of 10 mm alternate fixed / registered moving; both are the same CT once registered, so the
    # board is the CT everywhere (through its window), with no seam: the registration is right.
    ct_fraction = np.clip((suv_study["ct"].array - fixed.contrast_limits[0]) / np.ptp(fixed.contrast_limits), 0, 1)
    inner = (slice(None), slice(4, -4), slice(8, -8))  # away from the wrapped-around columns of np.roll
    np.testing.assert_allclose(board.data[inner], ct_fraction[inner], atol=1e-6)
    # Without the registration (identity) the shifted columns show at the square edges.
    moving.metadata["transform"] = None
    shifted = widget.show_fusion("checkerboard")
    assert np.abs(shifted.data[inner] - ct_fraction[inner]).max() > 0.4  # 40 HU (0.475) against air (0)
    widget.show_fusion("blend")
    assert fixed.visible and moving.visible and not any(lay.name.startswith("checkerboard") for lay in viewer.layers)

    # A registration whose metric got worse is not applied without the user's say.
    viewer.layers.remove(moving)
    moving = _add(viewer, suv_study["pre_ct"], "pre ct")
    result.report["metric"].update(before=-0.98, after=-0.41)  # lower is better: it got worse
    before = tuple(moving.translate)
    widget.show_result(fixed, moving, suv_study["pre_ct"], suv_study["ct"], result)
    assert "made the correlation metric worse" in widget.status.text() and widget.apply_anyway.isVisibleTo(widget)
    assert tuple(moving.translate) == before and "transform" not in moving.metadata
    widget.apply_anyway.click()
    assert moving.metadata["transform"] is result.transform
    assert moving.translate[2] == pytest.approx(before[2] - 3.75)  # moved back by the registration


def test_gui_text_has_no_command_line_syntax():
    from workstation.viewer._widget_base import gui_text

    assert gui_text("lung activity was not deposited locally (give --roi lungs=MASK).") == (
        "lung activity was not deposited locally (give an ROI with the lungs role).")
    assert gui_text("the image is relative (counts): give the administered activity with --administered-gbq.") \
        .endswith("with the administered activity (Administered).")
    assert "--" not in gui_text("--method vsv-density needs a CT image (--ct) and --dose-grid ct.")


def test_labels_named_after_name_segment_or_file(study, tmp_path):
    import SimpleITK as sitk

    from workstation.io import write_image
    from workstation.viewer import read_view_inputs
    from workstation.viewer.layers import labels_layer

    write_image(study["ct"], tmp_path / "ct.nii.gz")
    plain = study["lesion"].copy_with(label_names={})
    write_image(plain, tmp_path / "tumour_mask.nii.gz")
    two = plain.copy_with(array=plain.array * np.where(np.indices(plain.shape)[2] < 40, 1, 2).astype(np.uint8))
    write_image(two, tmp_path / "parts.nii.gz")
    seg = plain.copy_with(array=plain.array * 3).to_sitk()
    seg.SetMetaData("Segment0_Name", "segment A")
    seg.SetMetaData("Segment0_LabelValue", "3")
    seg.SetMetaData("Segment0_Layer", "0")
    sitk.WriteImage(seg, str(tmp_path / "seg.seg.nrrd"))
    _, _, masks = read_view_inputs(
        [str(tmp_path / "ct.nii.gz")],
        labels=[f"liver={tmp_path / 'tumour_mask.nii.gz'}", str(tmp_path / "tumour_mask.nii.gz"),
                str(tmp_path / "parts.nii.gz"), f"{tmp_path / 'seg.seg.nrrd'}#segment A"],
    )
    names = [labels_layer(m)[1]["name"] for m in masks]
    assert names == ["liver", "tumour_mask", "parts", "segment A"]
    assert masks[0].label_names == {1: "liver"} and masks[2].label_names == {1: "parts 1", 2: "parts 2"}


def test_open_sample_outlines_masks_and_names_roles(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("workstation", "ablation")
    for name, role in (("ablation tumor", "lesion"), ("ablation ablation zone", "other"), ("ablation liver", "liver")):
        assert viewer.layers[name].contour >= 1, name  # outlines, not fills
        assert viewer.layers[name].metadata["roi_role"] == role
    from workstation.viewer.steps import MarginWidget, RegisterWidget

    margins = MarginWidget(viewer)
    assert (margins.tumor.currentText(), margins.ablation.currentText(), margins.liver.currentText()) == (
        "ablation tumor", "ablation ablation zone", "ablation liver")
    register = RegisterWidget(viewer)
    assert (register.fixed.currentText(), register.moving.currentText()) == ("ablation post_ct", "ablation pre_ct")


def test_anisotropic_oblique_readout(make_napari_viewer, oblique_direction):
    """The read-out is in LPS on an oblique, anisotropic grid: the voxel at a known point is read."""
    from workstation.viewer import readout_text

    affine = affine_from_geometry([10.0, -20.0, 30.0], [2.0, 0.9, 0.8], oblique_direction)
    arr = np.zeros((6, 7, 8), np.float32)
    arr[3, 4, 5] = 42.0
    vol = Volume(arr, affine, modality="RTDOSE", units=Unit.GY)
    viewer = make_napari_viewer()
    _add(viewer, vol, "dose")
    lps = vol.index_to_world((3, 4, 5))
    text = readout_text(viewer, lps[::-1])
    assert "dose (Gy): 42 Gy" in text and text.startswith(f"LPS x {lps[0]:.1f}, y {lps[1]:.1f}, z {lps[2]:.1f}")
