"""`workstation view --screenshot` renders a PNG off-window and exits."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.gui


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "workstation.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_view_screenshot(study_files, tmp_path):
    from matplotlib.image import imread

    out = tmp_path / "view.png"
    proc = _run(
        "view", study_files["ct"], "--dose", study_files["dose"], "--labels", study_files["lesion"],
        "--isodose", "30", "--screenshot", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    img = (imread(out)[..., :3] * 255).astype(int)
    spread = img.max(axis=2) - img.min(axis=2)
    assert (spread > 8).sum() > 1000  # dose wash and outlines
    assert ((spread <= 8) & (img.mean(axis=2) > 100)).sum() > 1000  # grey CT
    assert not list(tmp_path.glob(".view*"))  # no temporary file left


def test_view_errors_are_one_sentence(study_files, tmp_path):
    proc = _run("view", study_files["ct"], "--screenshot", str(tmp_path / "x.jpg"))
    assert proc.returncode == 2 and "must be a .png" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run("view", str(tmp_path / "missing.nii.gz"), "--screenshot", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "missing.nii.gz" in proc.stderr
    proc = _run("view", "--screenshot", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "Nothing to show" in proc.stderr


def test_view_screenshot_of_the_sample_sirt_study(tmp_path):
    """CT, dose wash and lesion outlines are all visible (the acceptance picture)."""
    from matplotlib.image import imread

    from workstation.samples import sample_data_dir

    study = sample_data_dir() / "sirt"
    truth = study / "ground_truth"
    out = tmp_path / "sirt.png"
    proc = _run(
        "view", str(study / "ct"), "--dose", str(truth / "dose_ldm_gy.nii.gz"),
        "--labels", str(truth / "lesions.nii.gz"), "--screenshot", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    img = (imread(out)[..., :3] * 255).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    spread = img.max(axis=2) - img.min(axis=2)
    grey_ct = (spread <= 8) & (img.mean(axis=2) > 60)
    magenta_outline = (r > 200) & (g < 80) & (b > 200)  # the first mask's outline colour
    dose_wash = (spread > 30) & ~magenta_outline
    assert grey_ct.sum() > 20_000, "CT not visible"
    assert dose_wash.sum() > 2_000, "dose wash not visible"
    assert magenta_outline.sum() > 100, "lesion outlines not visible"


def test_view_window_opens_with_every_dock(monkeypatch, qtbot, study):
    """Without --screenshot the window opens with the workflow docks (napari.run stubbed)."""
    import napari

    from workstation.viewer._cli import open_window

    opened = []
    monkeypatch.setattr(napari, "run", lambda: opened.append(napari.current_viewer()))
    open_window([study["ct"]], study["dose"], [study["lesion"]], isodose_levels_gy=[30.0], window="liver")
    viewer = opened[0]
    try:
        assert [layer.name for layer in viewer.layers][-2:] == ["isodose 30 Gy", "lesion"]
        assert tuple(viewer.layers[0].contrast_limits) == (-45.0, 105.0)
        expected = {"Load a study", "Register", "Segment", "SIRT dosimetry", "Planning",
                    "Ablation margins", "Radiotherapy doses", "TACE", "Lesions", "Correct", "Overlays"}
        assert expected <= set(viewer.window.dock_widgets)
        # The tabified docks show their whole titles: no eliding, each tab as wide as its text.
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QApplication, QTabBar

        QApplication.processEvents()
        bars = [bar for bar in viewer.window._qt_window.findChildren(QTabBar) if bar.count()]
        tabs = {(bar, i): bar.tabText(i) for bar in bars for i in range(bar.count())}
        assert expected <= set(tabs.values())
        for (bar, i), text in tabs.items():
            assert bar.elideMode() == Qt.TextElideMode.ElideNone
            assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), text
    finally:
        viewer.close()


def test_view_bad_window_preset(study_files, tmp_path):
    proc = _run("view", study_files["ct"], "--window", "brain", "--screenshot", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "brain" in proc.stderr and not (tmp_path / "x.png").exists()


def test_view_without_a_display_is_a_clear_error(study_files, monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "-m", "workstation.cli", "view", study_files["ct"]],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 2 and "--screenshot" in proc.stderr and "Traceback" not in proc.stderr

    from workstation.viewer import DisplayUnavailableError, headless_display

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(DisplayUnavailableError, match="Xvfb"), headless_display():
        pass
