"""Therapy results in the viewer: radiotherapy doses and their sum, TACE coverage, lesion overview.

Synthetic studies with analytic answers (tests/viewer/conftest.py); the numbers
themselves are the therapy packages' (tested there): here the layers must show
them where they are, with the conventions of the viewer, and the tables must
lead to them.
"""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import InvalidInputError, Unit

pytestmark = pytest.mark.gui

WAIT_MS = 120_000  # worker threads on a loaded 2-core machine; only guards a hang


def _wait(qtbot, widget, worker):
    assert worker is not None
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=WAIT_MS)


def _render(viewer):
    """The canvas pixels (RGB) after the view was centred; the canvas centre shows the centred point."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)


def _centre_pixel(img, half=1):
    h, w = img.shape[:2]
    return img[h // 2 - half: h // 2 + half + 1, w // 2 - half: w // 2 + half + 1].reshape(-1, 3).mean(axis=0)


def _world(layer, index):
    return np.asarray(layer.data_to_world(index), dtype=float)


# ------------------------------------------------------------------ reading
def test_read_results_recognises_folders_and_finds_their_ct(rt_folders, tmp_path):
    from workstation.viewer import read_results

    sbrt = read_results(rt_folders["sbrt"])
    assert sbrt.kind == "rt-dose" and sbrt.name == "sbrt"
    # results.json names the CT relative to where the command ran (two levels up).
    assert sbrt.ct_path is not None and sbrt.ct_path.resolve() == (rt_folders["root"] / "ct.nii.gz").resolve()
    assert set(sbrt.volumes) == {"dose", "eqd2"} and sbrt.volumes["dose"].units == Unit.GY
    np.testing.assert_array_equal(sbrt.volumes["dose"].array, rt_folders["dose"])  # float32, stored exactly
    assert {q for q, *_ in sbrt.dvh_rows} == {"physical", "eqd2"}
    summed = read_results(rt_folders["sum"])
    assert summed.kind == "combine" and set(summed.volumes) == {"eqd2_total", "eqd2_sbrt", "eqd2_hdr"}
    # Not a results folder: one sentence naming it.
    with pytest.raises(InvalidInputError, match="no results.json"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not an output folder of rt-dose, combine, tace, lesions"):
        read_results(tmp_path)
    with pytest.raises(InvalidInputError, match="not a folder"):
        read_results(tmp_path / "missing")


def test_dose_layers_one_scale_per_quantity_one_shown(rt_folders):
    from workstation.viewer import read_results, result_layers

    layers = {kw["name"]: (data, kw) for data, kw, _ in result_layers(read_results(rt_folders["sbrt"]))}
    assert list(layers) == ["sbrt dose (Gy)", "sbrt EQD2 (Gy)", "sbrt isodose 22.5, 45 Gy"]
    dose_top, eqd2_top = float(rt_folders["dose"].max()), float(rt_folders["eqd2"].max())
    # Physical dose and EQD2 are different quantities: each on its own scale (threshold 5 % of it).
    assert layers["sbrt dose (Gy)"][1]["contrast_limits"] == pytest.approx((0.05 * dose_top, dose_top))
    assert layers["sbrt EQD2 (Gy)"][1]["contrast_limits"] == pytest.approx((0.05 * eqd2_top, eqd2_top))
    assert layers["sbrt dose (Gy)"][1]["visible"] and not layers["sbrt EQD2 (Gy)"][1]["visible"]
    assert layers["sbrt isodose 22.5, 45 Gy"][1]["metadata"]["levels_gy"] == [22.5, 45.0]  # 50 and 100 % of 45 Gy
    # The parts of a sum and the sum share one scale: the same colour is the same EQD2.
    summed = {kw["name"]: kw for _, kw, _ in result_layers(read_results(rt_folders["sum"]))}
    top = float(rt_folders["total"].max())
    for name in ("sum EQD2 total (Gy)", "sum EQD2 sbrt (Gy)", "sum EQD2 hdr (Gy)"):
        assert summed[name]["contrast_limits"] == pytest.approx((0.05 * top, top)), name
    assert [n for n, kw in summed.items() if kw["visible"]] == ["sum EQD2 total (Gy)"]


# ------------------------------------------------------------------ radiotherapy
def test_radiotherapy_widget_shows_each_dose_and_the_sum(make_napari_viewer, qtbot, rt_folders):
    from workstation.viewer.therapy import RadiotherapyWidget

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(900, 700)
    widget = RadiotherapyWidget(viewer)
    _wait(qtbot, widget, widget.open_results(rt_folders["sum"]))
    assert widget.results is not None, widget.status.text()
    # The CT named in results.json is opened below the doses.
    names = [layer.name for layer in viewer.layers]
    assert names[0] == "sum CT" and viewer.layers["sum CT"].data.shape == rt_folders["ct"].shape
    assert [widget.shown.itemText(i) for i in range(widget.shown.count())] == [
        "sum EQD2 hdr (Gy)", "sum EQD2 sbrt (Gy)", "sum EQD2 total (Gy)"]
    assert widget.shown.currentData() == "eqd2_total"
    total = viewer.layers["sum EQD2 total (Gy)"]
    assert total.visible and total.colorbar.visible and total._overlays["layer_name"].visible
    # Every dose at one point, shown or hidden, is the stored voxel; the sum is the sum of the parts.
    index = (10, 20, 27)  # between the two dose centres
    lps = rt_folders["ct"].index_to_world(index)
    values = widget.values_at(lps)
    assert values["sum EQD2 sbrt (Gy)"] == pytest.approx(float(rt_folders["eqd2"][index]), rel=1e-6)
    assert values["sum EQD2 hdr (Gy)"] == pytest.approx(float(rt_folders["eqd2_hdr"][index]), rel=1e-6)
    assert values["sum EQD2 total (Gy)"] == pytest.approx(
        values["sum EQD2 sbrt (Gy)"] + values["sum EQD2 hdr (Gy)"], rel=1e-5)
    viewer.cursor.position = tuple(lps[::-1])
    assert "sum EQD2 hdr (Gy): " in widget.at_cursor.text()
    # The table: ROI rows with the total and each treatment.
    assert widget.table.item(0, 0).text() == "GTV"
    assert widget.table.horizontalHeaderItem(5).text() == "sbrt EQD2 mean (Gy)"
    # Switch to one part: only it is shown.
    widget.show_dose("eqd2_hdr")
    assert [layer.name for layer in viewer.layers if layer.visible and "EQD2" in layer.name] == ["sum EQD2 hdr (Gy)"]
    # The view centred on the sum's maximum shows the dose wash there (coloured, not grey).
    widget.show_dose("eqd2_total")
    widget.go_to(0)
    img = _render(viewer)
    r, g, b = _centre_pixel(img)
    assert max(r, g, b) - min(r, g, b) > 30, (r, g, b)


def test_radiotherapy_widget_dvh_follows_the_dose_shown(make_napari_viewer, qtbot, rt_folders):
    from workstation.viewer.therapy import RadiotherapyWidget

    viewer = make_napari_viewer()
    widget = RadiotherapyWidget(viewer)
    _wait(qtbot, widget, widget.open_results(rt_folders["sbrt"]))
    assert "45 Gy in 3 fraction(s)" in widget.status.text()
    assert widget.table.item(0, 0).text() == "GTV"
    mean = widget.results.results["rois"]["GTV"]["mean_gy"]
    assert widget.table.item(0, 2).text() == f"{mean:.4g}"
    curves = widget.dvh_curves()
    assert list(curves) == ["GTV"]
    gtv_max = {q: max(d for qq, roi, d, _ in widget.results.dvh_rows if qq == q) for q in ("physical", "eqd2")}
    assert curves["GTV"][:, 0].max() == pytest.approx(gtv_max["physical"])
    isodose = viewer.layers["sbrt isodose 22.5, 45 Gy"]
    assert isodose.visible
    widget.show_dose("eqd2")
    assert widget.dvh_curves()["GTV"][:, 0].max() == pytest.approx(gtv_max["eqd2"])
    assert not isodose.visible and not viewer.layers["sbrt dose (Gy)"].visible  # the lines are the physical dose's
    assert widget.figure.axes[0].get_xlabel() == "EQD2 (Gy)"
    # Opening it again replaces its layers, not adds to them.
    count = len(viewer.layers)
    _wait(qtbot, widget, widget.open_results(rt_folders["sbrt"]))
    assert len(viewer.layers) == count


@pytest.mark.slow
def test_radiotherapy_widget_evaluates_the_sample_sbrt_plan(make_napari_viewer, qtbot):
    """The sample SBRT plan (RT Dose, RT Plan, RT Structure Set) on its CT layer: the PTV row of the table
    against the analytic DVH of truth.json within 2.5 % of the prescription (the rt-dose tolerance:
    trilinear interpolation of the 3 mm dose grid in the 4 mm penumbra)."""
    import json

    from workstation.io import read_image
    from workstation.samples import sample_data_dir
    from workstation.viewer import add_layer, volume_layer
    from workstation.viewer.therapy import RadiotherapyWidget

    folder = sample_data_dir() / "sbrt"
    truth = json.loads((folder / "ground_truth" / "truth.json").read_text(encoding="utf-8"))["known_dvh"]["PTV"]
    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(read_image(folder / "ct"), name="sbrt ct"))
    widget = RadiotherapyWidget(viewer)
    assert widget.ct.currentText() == "sbrt ct"
    widget.dose_path.setText(str(folder / "rt" / "RD.dcm"))
    widget.plan_path.setText(str(folder / "rt" / "RP.dcm"))
    widget.structures_path.setText(str(folder / "rt" / "RS.dcm"))
    _wait(qtbot, widget, widget.run())
    assert widget.results is not None, widget.status.text()
    rows = {widget.table.item(r, 0).text(): r for r in range(widget.table.rowCount())}
    header = [widget.table.horizontalHeaderItem(c).text() for c in range(widget.table.columnCount())]
    for column, key in (("D98 (Gy)", "d98_gy"), ("D50 (Gy)", "d50_gy"), ("mean (Gy)", "mean_gy")):
        value = float(widget.table.item(rows["PTV"], header.index(column)).text())
        assert value == pytest.approx(truth[key], abs=0.025 * 45.0), column
    assert {"plan dose (Gy)", "plan EQD2 (Gy)", "plan PTV", "plan GTV", "plan Liver"} <= {
        layer.name for layer in viewer.layers}
    assert "45 Gy in 3 fraction(s)" in widget.status.text()


def test_result_of_another_kind_is_refused_in_words(make_napari_viewer, qtbot, rt_folders):
    from workstation.viewer.therapy import TaceWidget

    viewer = make_napari_viewer()
    widget = TaceWidget(viewer)
    _wait(qtbot, widget, widget.open_results(rt_folders["sbrt"]))
    assert "holds rt-dose results" in widget.status.text() and widget.results is None
    assert len(viewer.layers) == 0


# ------------------------------------------------------------------ TACE
def _tace_viewer(make_napari_viewer, tace_study, show=False):
    from workstation.viewer import add_layer, labels_layer, volume_layer

    viewer = make_napari_viewer(show=show)
    if show:
        viewer.window._qt_window.resize(900, 700)
    add_layer(viewer, volume_layer(tace_study["ct"], name="post ct"))
    add_layer(viewer, labels_layer(tace_study["tumor"], name="tumours", contour=1))
    add_layer(viewer, labels_layer(tace_study["liver"], name="liver", contour=1))
    return viewer


def test_tace_widget_overlays_table_and_gap(make_napari_viewer, qtbot, tace_study):
    from workstation.viewer import readout_text
    from workstation.viewer._kinds import LayerKind, layer_kind
    from workstation.viewer.therapy import TaceWidget

    viewer = _tace_viewer(make_napari_viewer, tace_study, show=True)
    widget = TaceWidget(viewer)
    # Pickers start on layers of the right kind.
    assert (widget.post_ct.currentText(), widget.tumor.currentText(), widget.liver.currentText()) == (
        "post ct", "tumours", "liver")
    assert widget.pre_ct.currentText() == "(none)"
    _wait(qtbot, widget, widget.run())
    assert widget.analysis is not None, widget.status.text()
    density = viewer.layers["tace lipiodol density above liver (HU)"]
    # The density map (HU above the liver) is a map over the CT, never taken for a CT.
    assert layer_kind(density) == LayerKind.MAP and not widget.post_ct.offers(density)
    assert tuple(density.contrast_limits) == (0.0, 600.0) and density.colorbar.visible
    order = [layer.name for layer in viewer.layers]
    assert order.index("post ct") < order.index("tace lipiodol density above liver (HU)") < order.index("tace gaps")
    assert viewer.layers["tace gaps"].metadata["label_names"] == {2: "gap tumour 2"}  # tumour 1 is full
    # The table: tumour 1 full, tumour 2 about half (its +x half ball holds lipiodol; partial-volume
    # voxels at the cut plane and the surface: 5 percentage points).
    results = widget.analysis.results["tumors"]
    assert [widget.table.item(r, 0).text() for r in range(2)] == ["tumour 1", "tumour 2"]
    assert widget.table.item(0, 2).text() == f"{results[0]['lipiodol_coverage_percent']:.4g}"
    assert results[0]["lipiodol_coverage_percent"] > 97.0
    assert results[1]["lipiodol_coverage_percent"] == pytest.approx(50.0, abs=5.0)
    assert widget.table.item(1, 6).text() == "moderate" and widget.table.item(0, 6).text() == "complete"
    # It opened on the largest gap: tumour 2's, the centroid of the -x half ball (3R/8 from the centre,
    # within one voxel).
    gap = np.asarray(results[1]["largest_gap_centroid_lps_mm"])
    np.testing.assert_allclose(gap, tace_study["gap_centroid_lps"], atol=1.5)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], gap[::-1][-2:], atol=1e-6)
    assert viewer.dims.point[0] == pytest.approx(gap[2], abs=1.25)  # the nearest slice (2.5 mm)
    assert "tace gaps: gap tumour 2" in readout_text(viewer, gap[::-1])
    img = _render(viewer)
    r, g, b = _centre_pixel(img)
    assert g > r + 40 and b > r + 40, ("cyan gap expected", r, g, b)
    # Clicking tumour 1's row centres on tumour 1: the deposit's density in inferno (orange: R > G > B).
    widget.table.cellClicked.emit(0, 0)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], tace_study["tumour_centres_lps"][1][::-1][-2:], atol=0.5)
    r, g, b = _centre_pixel(_render(viewer))
    assert r > g > b and r - b > 100, ("inferno density expected", r, g, b)
    # A gap column of tumour 2 goes back to the gap.
    widget.table.cellClicked.emit(1, 4)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], gap[::-1][-2:], atol=1e-6)


def test_tace_preview_and_results_folder(make_napari_viewer, qtbot, tace_study, tmp_path):
    from workstation.io import write_image
    from workstation.tace import run_tace
    from workstation.viewer.therapy import TaceWidget

    viewer = _tace_viewer(make_napari_viewer, tace_study)
    widget = TaceWidget(viewer)
    # Tumours drawn on the post-TACE CT cannot go with a pre-TACE CT (they would be moved by the registration).
    from workstation.viewer import add_layer, volume_layer

    shifted = tace_study["ct"].affine.copy()
    shifted[0, 3] += 3.0  # another acquisition: its grid 3 mm along x
    pre = tace_study["ct"].copy_with(affine=shifted)
    add_layer(viewer, volume_layer(pre, name="pre ct"))
    widget.pre_ct.select("pre ct")
    widget.run_button.click()
    assert "must be those drawn on the pre-TACE CT" in widget.status.text() and widget.worker is None
    widget.pre_ct.select("(none)")
    _wait(qtbot, widget, widget.preview())
    assert "Deposits previewed" in widget.status.text()
    assert "tace lipiodol" in viewer.layers and "tace gaps" not in viewer.layers  # no coverage without Analyse
    # An output folder of `workstation tace` shows the same numbers, with its CT.
    for name in ("ct", "tumor", "liver"):
        write_image(tace_study[name], tmp_path / f"{name}.nii.gz")
    out = tmp_path / "out" / "tace1"
    results = run_tace(str(tmp_path / "ct.nii.gz"), str(tmp_path / "tumor.nii.gz"), str(tmp_path / "liver.nii.gz"),
                       out)
    viewer.layers.clear()
    _wait(qtbot, widget, widget.open_results(out))
    assert widget.results is not None, widget.status.text()
    assert "tace1 CT" in viewer.layers and "tace1 gaps" in viewer.layers
    for row, tumour in enumerate(results["tumors"]):
        assert widget.table.item(row, 2).text() == f"{tumour['lipiodol_coverage_percent']:.4g}"
    # The gaps drawn are the uncovered tumour voxels the results count (uncovered_ml is rounded to 1e-4 mL).
    uncovered_voxels = sum(t["uncovered_ml"] for t in results["tumors"]) / tace_study["ct"].voxel_volume_ml
    assert np.count_nonzero(viewer.layers["tace1 gaps"].data) == pytest.approx(uncovered_voxels, abs=0.5)


# ------------------------------------------------------------------ lesions
def test_lesion_widget_axes_points_and_table(make_napari_viewer, qtbot, lesion_study):
    from workstation.viewer import add_layer, labels_layer, volume_layer
    from workstation.viewer.therapy import LesionWidget

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(900, 700)
    add_layer(viewer, volume_layer(lesion_study["ct"], name="ct"))
    for name in ("liver", "lesion", "vessel"):
        add_layer(viewer, labels_layer(lesion_study[name], name=name, contour=1))
    widget = LesionWidget(viewer)
    assert (widget.liver.currentText(), widget.lesions.currentText(), widget.vessels.currentText()) == (
        "liver", "lesion", "(none)")
    widget.vessels.select("vessel")
    _wait(qtbot, widget, widget.run())
    assert widget.overview is not None, widget.status.text()
    record = widget.overview.results["lesions"][0]
    # Numbers of the lesions package, in the table; sanity against the analytic study (its own tests
    # hold the accuracy): long axis 20 mm within a voxel, vessel 17 mm within 1.5 mm.
    assert widget.table.item(0, 1).text() == f"{record['longest_diameter_mm']:.4g}"
    assert record["longest_diameter_mm"] == pytest.approx(20.0, abs=1.5)
    assert widget.table.item(0, 6).text() == f"{record['vessel_distance_mm']:.4g}"
    assert record["vessel_distance_mm"] == pytest.approx(17.0, abs=1.5)
    assert "tumour burden" in widget.status.text() and "RECIST" in widget.facts.text()
    # The long axis is a line on its slice, its ends where the results put them.
    axes = viewer.layers["lesions long axes"]
    ends = np.array([_world(axes, v) for v in axes.data[0]])
    np.testing.assert_allclose(ends, np.asarray(record["long_axis_ends_lps_mm"])[:, ::-1], atol=1e-6)
    points = viewer.layers["lesions nearest points"]
    worlds = np.array([_world(points, p) for p in points.data])
    where = list(points.features["what"])
    np.testing.assert_allclose(worlds[where.index("capsule")], np.asarray(record["capsule_nearest_lps_mm"])[::-1],
                               atol=1e-6)
    assert "hilum" in where and points.features["label"][where.index("vessel")].startswith("1: 17")
    # Opened on the lesion: the middle of its long axis, which is drawn there (yellow: R, G high, B low).
    mid = np.mean(np.asarray(record["long_axis_ends_lps_mm"]), axis=0)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], mid[::-1][-2:], atol=1e-6)
    r, g, b = _centre_pixel(_render(viewer), half=0)
    assert r > 150 and g > 150 and b < 100, ("yellow long axis expected", r, g, b)
    # The capsule column goes to the capsule point; its marker is drawn on that slice.
    widget.table.cellClicked.emit(0, 4)
    capsule = np.asarray(record["capsule_nearest_lps_mm"])
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], capsule[::-1][-2:], atol=1e-6)
    r, g, b = _centre_pixel(_render(viewer), half=0)
    assert g > 200 and g > r + 40 and g > b + 80, ("green capsule marker expected", r, g, b)


def test_lesions_results_folder_in_the_widget(make_napari_viewer, qtbot, lesion_study, tmp_path):
    from workstation.io import write_image
    from workstation.lesions import run_lesions
    from workstation.viewer.therapy import LesionWidget

    for name in ("ct", "liver", "lesion", "vessel"):
        write_image(lesion_study[name], tmp_path / f"{name}.nii.gz")
    out = tmp_path / "lesions"
    results = run_lesions(str(tmp_path / "ct.nii.gz"), str(tmp_path / "liver.nii.gz"),
                          str(tmp_path / "lesion.nii.gz"), out, vessels=str(tmp_path / "vessel.nii.gz"))
    viewer = make_napari_viewer()
    widget = LesionWidget(viewer)
    _wait(qtbot, widget, widget.open_results(out))
    assert widget.results is not None, widget.status.text()
    # The liver named in results.json is outlined too; the CT is opened.
    assert {"lesions CT", "lesions liver", "lesions large vessels", "lesions lesion outlines"} <= {
        layer.name for layer in viewer.layers}
    assert widget.table.item(0, 4).text() == f"{results['lesions'][0]['capsule_distance_mm']:.4g}"


# ------------------------------------------------------------------ plugin and window
def test_reader_opens_a_results_folder_and_docks_show_results(make_napari_viewer, rt_folders):
    from workstation.viewer import read_results
    from workstation.viewer._cli import add_docks
    from workstation.viewer._plugin import get_reader

    reader = get_reader(str(rt_folders["sum"]))
    assert reader is not None
    names = [kw["name"] for _, kw, _ in reader(str(rt_folders["sum"]))]
    assert "sum EQD2 total (Gy)" in names
    viewer = make_napari_viewer()
    widgets = add_docks(viewer, [read_results(rt_folders["sbrt"])])
    assert {"Radiotherapy doses", "TACE", "Lesions"} <= set(viewer.window.dock_widgets)
    assert widgets["Radiotherapy doses"].shown.count() == 2 and widgets["Radiotherapy doses"].table.rowCount() == 1
    assert "sbrt dose (Gy)" in viewer.layers


def test_open_sample_tace(make_napari_viewer):
    from workstation.viewer._plugin import sample_tace
    from workstation.viewer.therapy import TaceWidget

    viewer = make_napari_viewer()
    for data, kwargs, kind in sample_tace():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = TaceWidget(viewer)
    assert widget.post_ct.currentText() == "tace post_ct" and widget.tumor.currentText() == "tace tumor"
    assert widget.liver.currentText() == "tace liver" and widget.pre_ct.currentText() == "(none)"
    assert not viewer.layers["tace pre_ct"].visible


# ------------------------------------------------------------------ command line
def _run(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "workstation.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_view_results_bad_folder_is_one_sentence(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    proc = _run("view", "--results", str(folder), "--screenshot", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "no results.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()
    # Never written into a results folder (an input of the view).
    proc = _run("view", "--results", str(folder), "--screenshot", str(folder / "x.png"))
    assert proc.returncode == 2 and "would overwrite or write into the input" in proc.stderr


@pytest.mark.slow
def test_view_results_of_the_sample_plans(tmp_path):
    """rt-dose of the sample SBRT and HDR plans, their EQD2 sum, then `view --results` of each (the CT from
    results.json): each dose wash visible over the CT with its titled colour bar."""
    from matplotlib.image import imread

    from workstation.samples import sample_data_dir

    s = sample_data_dir()
    for case in ("sbrt", "hdr"):
        proc = _run("rt-dose", "--dose", str(s / case / "rt" / "RD.dcm"), "--plan", str(s / case / "rt" / "RP.dcm"),
                    "--structures", str(s / case / "rt" / "RS.dcm"), "--ct", str(s / case / "ct"),
                    "-o", str(tmp_path / case))
        assert proc.returncode == 0, proc.stderr
    proc = _run("combine", "--dose", f"sbrt={s / 'sbrt' / 'rt' / 'RD.dcm'}:ebrt:3",
                "--dose", f"hdr={s / 'hdr' / 'rt' / 'RD.dcm'}:hdr:1",
                "--transform", f"hdr={s / 'hdr' / 'ground_truth' / 'to_sbrt.tfm'}",
                "--ct", str(s / "sbrt" / "ct"), "--structures", str(s / "sbrt" / "rt" / "RS.dcm"),
                "-o", str(tmp_path / "sum"))
    assert proc.returncode == 0, proc.stderr
    from workstation.viewer import read_results, result_layers

    summed = read_results(tmp_path / "sum")  # its structures are found through results.json
    assert {"sum PTV", "sum GTV", "sum EQD2 total (Gy)"} <= {kw["name"] for _, kw, _ in result_layers(summed)}
    for name in ("sbrt", "sum"):
        out = tmp_path / f"{name}.png"
        proc = _run("view", "--results", str(tmp_path / name), "--screenshot", str(out))
        assert proc.returncode == 0, proc.stderr
        img = (imread(out)[..., :3] * 255).astype(int)
        spread = img.max(axis=2) - img.min(axis=2)
        h, w = spread.shape
        body = spread[:, : int(0.75 * w)]  # left of the colour bars
        grey_ct = (body <= 8) & (img[:, : int(0.75 * w)].mean(axis=2) > 60)
        assert grey_ct.sum() > 20_000, f"{name}: CT not visible"
        assert (body > 30).sum() > 1_000, f"{name}: dose wash not visible"
        bar = spread[: int(0.4 * h), int(0.85 * w):]
        assert (bar > 30).sum() > 300, f"{name}: colour bar not visible"
