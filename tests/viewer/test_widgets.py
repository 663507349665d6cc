"""Dock widgets: run on a small study, they add the expected layers and tables."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui

# Worker threads finish in well under a second here; 30 s only guards a hang.
WAIT_MS = 120_000  # only guards a hang: a loaded 2-core machine can take long


def test_study_widget_loads_files_in_a_worker(make_napari_viewer, qtbot, study_files):
    from workstation.viewer.widgets import StudyWidget

    viewer = make_napari_viewer()
    widget = StudyWidget(viewer)
    worker = widget.load([study_files["ct"], study_files["lesion"]])
    assert worker is not None
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=WAIT_MS)  # the result has been handled
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=WAIT_MS)
    assert [type(layer).__name__ for layer in viewer.layers] == ["Image", "Labels"]
    assert "Loaded 2 layer(s)" in widget.status.text()
    widget.preset.setCurrentText("lung")
    assert tuple(viewer.layers[0].contrast_limits) == (-1350.0, 150.0)


def test_study_widget_reports_bad_input(make_napari_viewer, qtbot, tmp_path):
    from workstation.viewer.widgets import StudyWidget

    viewer = make_napari_viewer()
    widget = StudyWidget(viewer)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not an image")
    worker = widget.load([str(bad)])
    assert worker is not None
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=WAIT_MS)  # the result has been handled
    qtbot.waitUntil(lambda: "broken.nii.gz" in widget.status.text(), timeout=WAIT_MS)
    assert len(viewer.layers) == 0 and widget.run_button.isEnabled()


def test_overlay_widget_adds_isodose_lines(make_napari_viewer, study):
    from workstation.viewer import add_layer, volume_layer
    from workstation.viewer.widgets import OverlayWidget

    viewer = make_napari_viewer()
    add_layer(viewer, volume_layer(study["ct"]))
    dose = add_layer(viewer, volume_layer(study["dose"]))
    widget = OverlayWidget(viewer)
    widget.dose.select(dose.name)
    widget.threshold.setValue(10.0)
    widget.maximum.setValue(80.0)
    widget.levels.setText("30, 50")
    widget.apply()
    assert tuple(dose.contrast_limits) == (10.0, 80.0) and dose.colorbar.visible
    iso = viewer.layers["isodose 30, 50 Gy"]
    # The legend: one swatch per level in the colour of its line (turbo over the 10-80 Gy scale).
    assert "30&nbsp;Gy" in widget.legend.text() and "50&nbsp;Gy" in widget.legend.text()
    assert widget.legend.text().count("&#9632;") == 2
    assert set(np.unique(iso.data)) == {0, 2}  # the 60 Gy cube is inside both lines; 50 Gy wins
    idx = (6, 20, 30)
    np.testing.assert_allclose(iso.data_to_world(idx), dose.data_to_world(idx))
    widget.levels.setText("30, x")
    widget._apply_clicked()
    assert "numbers" in widget.status.text()
