"""Workflow widgets on small synthetic studies: layers and tables they add."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

pytestmark = pytest.mark.gui

WAIT_MS = 120_000  # worker threads on a loaded 2-core machine; only guards a hang


def _wait(qtbot, widget, worker):
    """Wait for the worker's result to be handled (the run button is enabled again).

    Waiting for ``worker.finished`` would race: a fast worker can finish
    before the signal is watched.
    """
    assert worker is not None
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=WAIT_MS)


def _sphere(shape, centre, radius_mm, spacing):
    idx = np.indices(shape).astype(float)
    r2 = sum(((idx[a] - centre[a]) * spacing[a]) ** 2 for a in range(3))
    return r2 <= radius_mm**2


def test_register_widget_moves_the_moving_layer(make_napari_viewer, qtbot):
    from workstation.viewer import add_layer, volume_layer
    from workstation.viewer.steps import RegisterWidget

    spacing = (3.0, 3.0, 3.0)
    shape = (24, 32, 32)
    affine = affine_from_geometry([-48.0, -48.0, -36.0], spacing)
    body = _sphere(shape, (12, 16, 16), 36.0, spacing)
    bone = _sphere(shape, (10, 12, 20), 9.0, spacing)
    fixed_arr = np.where(body, 40.0, -1000.0) + np.where(bone, 600.0, 0.0)
    fixed = Volume(fixed_arr.astype(np.float32), affine, modality="CT", units=Unit.HU)
    # The moving image is the same object 12 mm further along +x (4 voxels), more
    # than the bone radius, so an unapplied registration would show no bone there.
    moving = fixed.copy_with(array=np.roll(fixed_arr, 4, axis=2).astype(np.float32), modality="CT")
    moving.metadata.series_description = "moving CT"
    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(fixed, name="fixed"))
    moving_layer = add_layer(viewer, volume_layer(moving, name="moving"))
    widget = RegisterWidget(viewer)
    widget.fixed.select("fixed")
    widget.moving.select("moving")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    # The transform (fixed -> moving) is the 12 mm shift along +x; 1 mm covers the
    # optimiser's tolerance on a 3 mm grid.
    bone_lps = fixed.index_to_world((10, 12, 20))
    mapped = np.array(widget.result.transform.TransformPoint(tuple(bone_lps)))
    np.testing.assert_allclose(mapped - bone_lps, (12.0, 0.0, 0.0), atol=1.0)
    # Displayed, the moving image's bone lies on the fixed image's bone, whether
    # the layer was placed through its affine or (a small out-of-slice rotation)
    # resampled: the moving layer's value at the fixed bone centre is bone.
    index = np.round(moving_layer.world_to_data(bone_lps[::-1])).astype(int)
    assert moving_layer.data[tuple(index)] > 300.0
    assert widget.table.rowCount() > 3


def test_sirt_widget_dose_table_and_dvh(make_napari_viewer, qtbot):
    from workstation.viewer import add_layer, volume_layer
    from workstation.viewer.steps import SirtWidget

    spacing = (4.0, 4.0, 4.0)
    shape = (20, 24, 24)
    affine = affine_from_geometry([-48.0, -48.0, -40.0], spacing)
    liver = np.zeros(shape, np.uint8)
    liver[4:16, 6:18, 6:18] = 1
    activity = Volume(np.where(liver, 1.0e6, 0.0).astype(np.float32), affine, modality="NM", units=Unit.BQML)
    roi = Volume(np.zeros(shape, np.uint8), affine, units=Unit.LABEL, label_names={1: "core"})
    roi.array[8:12, 10:14, 10:14] = 1  # well inside the uniform region
    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(activity, name="spect"))
    add_layer(viewer, volume_layer(Volume(np.full(shape, 40, np.int16), affine, modality="CT", units=Unit.HU),
                                   name="ct"))
    add_layer(viewer, volume_layer(roi, name="core"))
    widget = SirtWidget(viewer)
    assert widget.activity.currentText() == "spect (Bq/mL)"  # the only activity image, chosen by default
    assert widget.roi_roles() == {}  # "core" says no role: listed as "other", not used until chosen
    widget.select_rois(["core"])
    widget.method.setCurrentText("ldm")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    # A run without a liver role says what it could not compute, in the widget's words.
    status = widget.status.text()
    assert "No ROI has the liver role" in status and "No ROI has the lung role" in status
    assert "--" not in status and "MASK" not in status
    dose = viewer.layers["dose ldm (Gy)"]
    # The layer shows the engine's dose map itself, placed on the activity grid.
    assert dose.data is widget.result.doses["ldm"].array
    np.testing.assert_allclose(dose.data_to_world((3, 4, 5)), activity.index_to_world((3, 4, 5))[::-1])
    assert dose.colorbar.visible and dose.contrast_limits[1] == pytest.approx(float(dose.data.max()))
    core = widget.result.results["methods"]["ldm"]["rois"]["core"]
    assert widget.table.item(0, 5).text() == f"{core['mean_gy']:.4g}"
    assert widget.table.rowCount() == 1 and widget.table.item(0, 1).text() == "core"
    assert widget.table.item(0, 2).text() == "other"
    assert len(widget.figure.axes[0].lines) == 1
    # The role is chosen, not the name: "core" as the liver; the quantitative image's dose is the same.
    widget.set_role("core", "liver")
    _wait(qtbot, widget, widget.run())
    assert widget.result.results["roi_roles"] == {"core": "liver"}
    assert "No ROI has the liver role" not in widget.status.text()
    again = widget.result.results["methods"]["ldm"]["rois"]["core"]["mean_gy"]
    assert again == pytest.approx(core["mean_gy"], rel=1e-9)  # same voxels, same arithmetic


def test_planning_widget_mird(make_napari_viewer):
    from workstation.viewer.steps import PlanningWidget

    viewer = make_napari_viewer()
    widget = PlanningWidget(viewer)
    widget.set_model("mird")
    widget.inputs["mird"]["target_dose_gy"].setValue(120.0)
    widget.inputs["mird"]["perfused_mass_g"].setValue(1500.0)
    widget.inputs["mird"]["lung_shunt_fraction"].setValue(5.0)  # in %, as in the SIRT widget
    result = widget.run()
    # A = D m / (49.67 Gy kg/GBq (1 - LSF)) = 120 × 1.5 / (49.67 × 0.95) GBq
    assert result["prescribed_activity_gbq"] == pytest.approx(120 * 1.5 / (49.67 * 0.95), rel=1e-6)
    rows = {widget.table.item(r, 0).text(): widget.table.item(r, 1).text() for r in range(widget.table.rowCount())}
    # Readable labels with units, never the raw keys; the lung shunt in % as it was entered.
    assert rows["Prescribed activity"] == f"{120 * 1.5 / (49.67 * 0.95):.4g} GBq"
    assert rows["Input: lung shunt"] == "5 %" and rows["Dose: lungs"].endswith(" Gy")
    assert not any("_" in name for name in rows), rows


def test_margin_widget_table_map_and_jump(make_napari_viewer, qtbot):
    from workstation.viewer import add_layer, labels_layer
    from workstation.viewer.steps import MarginWidget

    spacing = (1.5, 1.5, 1.5)
    shape = (40, 40, 40)
    affine = affine_from_geometry([-30.0, -30.0, 20.0], spacing)
    tumor = Volume(_sphere(shape, (20, 20, 20), 8.0, spacing).astype(np.uint8), affine,
                   units=Unit.LABEL, label_names={1: "tumour"})
    # Ablation zone: radius 14 mm centred 3 mm along +x, so the margin is 3 mm
    # thinnest at the -x side and 9 mm at the +x side.
    zone = Volume(_sphere(shape, (20, 20, 22), 14.0, spacing).astype(np.uint8), affine,
                  units=Unit.LABEL, label_names={1: "ablation zone"})
    viewer = make_napari_viewer()
    add_layer(viewer, labels_layer(tumor, name="tumour"))
    add_layer(viewer, labels_layer(zone, name="zone"))
    widget = MarginWidget(viewer)
    widget.tumor.select("tumour")
    widget.ablation.select("zone")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    assert "margin (mm)" in viewer.layers
    assert widget.table.rowCount() == 1
    minimal = widget.result.results["tumors"][0]["minimal_margin_mm"]
    assert minimal == pytest.approx(3.0, abs=1.5)  # voxelised spheres on a 1.5 mm grid
    point = widget.jump_to_thinnest(0)
    centre = tumor.index_to_world((20, 20, 20))
    assert point[0] < centre[0] - 5.0  # on the -x side of the tumour
    assert viewer.dims.point[0] == pytest.approx(point[2])
    assert "thinnest margin" in viewer.layers


def test_segment_widget_body_uptake_and_seed_errors(make_napari_viewer, qtbot, study):
    from workstation.viewer import add_layer, volume_layer
    from workstation.viewer.steps import SegmentWidget

    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(study["ct"], name="ct"))
    widget = SegmentWidget(viewer)
    widget.image.select("ct")
    widget.kind.setCurrentText("body")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    body = viewer.layers["body"]
    # The body is the 40 HU box of the phantom (rows 8:56, columns 8:72).
    assert body.data[12, 30, 40] != 0 and body.data[12, 2, 2] == 0
    assert body.metadata["reference"] is study["ct"]
    np.testing.assert_allclose(body.data_to_world((1, 2, 3)), study["ct"].index_to_world((1, 2, 3))[::-1])
    # A seed point placed in world coordinates reaches the backend in LPS.
    point_lps = study["ct"].index_to_world((12, 30, 40))
    viewer.add_points([point_lps[::-1]], name="seeds")
    widget.seeds.select("seeds")
    np.testing.assert_allclose(widget.seed_points_lps(), [point_lps])
    widget.kind.setCurrentText("lesions")
    widget._clicked()
    assert "Within" in widget.status.text()


@pytest.mark.slow
def test_sirt_widget_on_the_sample_study(make_napari_viewer, qtbot, tmp_path):
    """Acceptance: the SIRT step on the bundled study gives the CLI's doses, whatever the layer names.

    The layers are called "sirt liver", "sirt lesions", "sirt lungs"; their roles come from the
    sample truth, so the doses equal those of ``workstation sirt --roi liver=… --roi lesions=…
    --roi lungs=…`` (1.6 GBq, 5 % lung shunt).
    """
    import json

    from workstation.cli import main
    from workstation.samples import sample_data_dir
    from workstation.viewer.steps import SirtWidget

    viewer = make_napari_viewer()
    viewer.open_sample("workstation", "sirt")
    widget = SirtWidget(viewer)
    assert (widget.activity.currentText(), widget.ct.currentText()) == ("sirt spect (counts)", "sirt ct")
    assert widget.roi_roles() == {"sirt liver": "liver", "sirt lesions": "lesion", "sirt lungs": "lung"}
    widget.method.setCurrentText("ldm")
    widget.administered.setValue(1.6)
    widget.lsf.setValue(5.0)
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    assert "dose ldm (Gy)" in viewer.layers
    rois = {widget.table.item(r, 1).text() for r in range(widget.table.rowCount())}
    assert {"sirt liver", "sirt lesions", "sirt lungs", "normal_liver"} <= rois
    assert len(widget.figure.axes[0].lines) == widget.table.rowCount()
    assert "role" not in widget.status.text()  # liver and lungs present: no missing-role warning

    study = sample_data_dir() / "sirt"
    truth = study / "ground_truth"
    out = tmp_path / "cli"
    code = main([
        "--quiet", "sirt", "--activity", str(study / "spect"), "--ct", str(study / "ct"),
        "--roi", f"liver={truth / 'liver.nii.gz'}", "--roi", f"lesions={truth / 'lesions.nii.gz'}",
        "--roi", f"lungs={truth / 'lungs.nii.gz'}", "--administered-gbq", "1.6", "--lung-shunt", "0.05",
        "--method", "ldm", "-o", str(out),
    ])
    assert code == 0
    cli = json.loads((out / "results.json").read_text())
    gui = widget.result.results
    # Same images, masks on the same CT grid, same roles: the same arithmetic, equal to rounding.
    for cli_name, gui_name in (("liver", "sirt liver"), ("lesions", "sirt lesions"), ("lungs", "sirt lungs"),
                               ("normal_liver", "normal_liver"), ("lesions_1", "sirt lesions_1")):
        for key in ("mean_gy", "d90_gy", "volume_ml"):
            assert gui["methods"]["ldm"]["rois"][gui_name][key] == pytest.approx(
                cli["methods"]["ldm"]["rois"][cli_name][key], rel=1e-9), (gui_name, key)
    assert gui["tumor_to_normal_ratio"] == pytest.approx(cli["tumor_to_normal_ratio"], rel=1e-9)
    assert gui["lung_mean_dose_gy"] == pytest.approx(cli["lung_mean_dose_gy"], rel=1e-9)
    block = gui["methods"]["ldm"]["rois"]
    assert block["sirt lesions"]["mean_gy"] > block["sirt liver"]["mean_gy"]


@pytest.mark.slow
def test_margin_widget_on_the_sample_study(make_napari_viewer, qtbot):
    """Acceptance: the margin step on the bundled ablation study: table, map, thinnest point."""
    import json

    from workstation.samples import sample_data_dir
    from workstation.viewer.steps import MarginWidget

    viewer = make_napari_viewer()
    viewer.open_sample("workstation", "ablation")
    widget = MarginWidget(viewer)
    widget.tumor.select("ablation tumor")
    widget.ablation.select("ablation ablation zone")
    widget.liver.select("ablation liver")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    assert "margin (mm)" in viewer.layers and widget.table.rowCount() >= 1
    point = widget.jump_to_thinnest(0)
    assert viewer.dims.point[0] == pytest.approx(point[2])
    truth = json.loads((sample_data_dir() / "ablation" / "ground_truth" / "truth.json").read_text())
    expected = truth["tumors"][0]["minimal_margin_location_post_lps_mm"]
    # The view jumps to the analytic thinnest point within one slice thickness (2.5 mm).
    assert np.linalg.norm(point - np.asarray(expected)) <= 2.5


def test_segment_widget_on_the_sample_study(make_napari_viewer, qtbot):
    """Acceptance: body segmentation of the sample SIRT CT covers the ground-truth liver."""
    from workstation.viewer.steps import SegmentWidget

    viewer = make_napari_viewer()
    viewer.open_sample("workstation", "sirt")
    widget = SegmentWidget(viewer)
    widget.image.select("sirt ct")
    widget.kind.setCurrentText("body")
    _wait(qtbot, widget, widget.run())
    assert widget.result is not None, widget.status.text()
    body = viewer.layers["body"].data != 0
    liver = viewer.layers["sirt liver"].data != 0  # same grid as the CT
    assert body.shape == liver.shape and np.all(body[liver])
