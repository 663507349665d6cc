"""Open volumes in a napari viewer; render screenshots off-window."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.core.volume import Volume
from workstation.viewer.layers import (
    LayerData,
    ct_layer,
    dose_layer,
    isodose_layer,
    labels_layer,
    volume_layer,
)

__all__ = [
    "DisplayUnavailableError",
    "add_layer",
    "add_volumes",
    "fit_to_body",
    "headless_display",
    "screenshot",
]


class DisplayUnavailableError(WorkstationError):
    """No X display to render on, and no Xvfb to start one."""


def add_layer(viewer: Any, layer_data: LayerData) -> Any:
    """Add a ``LayerData`` tuple to a viewer and finish what kwargs cannot say.

    The viewer is prepared first (:func:`~workstation.viewer._display.prepare_viewer`:
    status read-out in LPS mm with units, images below the overlays, emission base
    layer without CT); the layer then shows its colour bar with its name as title
    (dose, margin, SPECT/PET), labels are drawn as contours when
    ``metadata["contour"]`` asks for it, and the contrast slider of CT layers spans
    the 12-bit HU range (computing it from the data would read the whole volume).
    """
    from workstation.viewer._display import finish_layer, prepare_viewer

    prepare_viewer(viewer)
    data, kwargs, layer_type = layer_data
    layer = getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    finish_layer(viewer, layer)
    return layer


def add_volumes(
    viewer: Any,
    images: Sequence[Volume] = (),
    dose: Volume | None = None,
    labels: Sequence[Volume] = (),
    isodose_levels_gy: Sequence[float] | None = None,
    dose_threshold_gy: float | None = None,
    label_contour: int = 2,
    window: str = "soft tissue",
    results: Sequence[Any] = (),
) -> list[Any]:
    """Add images (CT first), a dose wash with isodose lines, label outlines and therapy results.

    Without a CT the first emission image is the grey base layer
    (:func:`~workstation.viewer.layers.emission_base_window`).

    Each mask is outlined in one colour that turbo does not use (magenta,
    white, pink, lavender: :data:`~workstation.viewer._colormaps.OUTLINE_COLORS`).

    ``results`` are output folders read by :func:`~workstation.viewer.results.read_results`
    (rt-dose, combine, tace, lesions, sirt, margin), added as their layers
    (:func:`~workstation.viewer.results.result_layers`).

    Returns the added layers; the view is reset to show them and moved to the
    slice through the dose maximum (else what the first result shows first: its
    dose maximum, largest gap, largest lesion; else the masks' centre, else the
    middle of the first image).
    """
    layers = []
    ordered = sorted(images, key=lambda v: 0 if v.is_ct() else 1)
    layers.extend(
        add_layer(viewer, ct_layer(v, preset=window) if v.is_ct() else volume_layer(v)) for v in ordered
    )
    if dose is not None:
        wash = add_layer(viewer, dose_layer(dose, threshold_gy=dose_threshold_gy))
        layers.append(wash)
        if isodose_levels_gy:
            limits = tuple(float(c) for c in wash.contrast_limits)
            layers.append(add_layer(viewer, isodose_layer(dose, isodose_levels_gy, color_range_gy=limits)))
    from workstation.viewer._colormaps import OUTLINE_COLORS

    layers.extend(
        add_layer(
            viewer,
            labels_layer(
                lab, contour=label_contour, opacity=1.0, color=OUTLINE_COLORS[n % len(OUTLINE_COLORS)]
            ),
        )
        for n, lab in enumerate(labels)
    )
    from workstation.viewer.results import focus_point_lps, result_layers

    for res in results:
        layers.extend(add_layer(viewer, item) for item in result_layers(res))
    viewer.reset_view()
    point = None if dose is not None or not results else focus_point_lps(results[0])
    if point is None:
        point = _focus_point_lps(ordered, dose, labels)
    if point is not None:
        viewer.dims.set_point(0, float(point[2]))
    return layers


def _focus_point_lps(
    images: Sequence[Volume], dose: Volume | None, labels: Sequence[Volume]
) -> np.ndarray | None:
    """LPS point to show first: the dose maximum, else the labels' centre, else the image centre."""
    if dose is not None and dose.array.size:
        flat = int(np.argmax(dose.array))
        if not np.isfinite(dose.array.flat[flat]):
            flat = int(np.nanargmax(np.where(np.isfinite(dose.array), dose.array, np.nan)))
        index = np.unravel_index(flat, dose.shape)
        return dose.index_to_world(index)
    for lab in labels:
        nz = np.argwhere(lab.array != 0)
        if nz.size:
            return lab.index_to_world((nz.min(axis=0) + nz.max(axis=0)) / 2.0)
    if images:
        return images[0].index_to_world((np.array(images[0].shape) - 1) / 2.0)
    return None


def fit_to_body(viewer: Any, ct: Volume, margin: float = 0.08, air_hu: float = -500.0) -> None:
    """Zoom the 2D view onto the patient: the extent of CT voxels above ``air_hu``.

    The extent is taken on every 4th voxel (a cheap pass on a large CT); the
    table and air around the patient are left out of the picture. For an
    emission image (no CT) give ``air_hu`` as the uptake threshold of the body.
    """
    step = 4
    sub = ct.array[::step, ::step, ::step] > air_hu
    hit = np.argwhere(sub)
    if hit.size == 0:
        return
    lo = hit.min(axis=0) * step - step
    hi = hit.max(axis=0) * step + step
    corners = np.array([[k, j, i] for k in (lo[0], hi[0]) for j in (lo[1], hi[1]) for i in (lo[2], hi[2])])
    world = ct.index_to_world(corners)[:, ::-1]  # (z, y, x)
    wmin, wmax = world.min(axis=0), world.max(axis=0)
    size_yx = np.maximum(wmax[1:] - wmin[1:], 1.0)
    canvas_hw = np.asarray(viewer.canvas.size, dtype=float)
    centre = list(viewer.scene.camera.center)
    centre[-2:] = ((wmin[1:] + wmax[1:]) / 2.0).tolist()
    viewer.scene.camera.center = tuple(centre)
    viewer.scene.camera.zoom = float(np.min(canvas_hw * (1.0 - 2 * margin) / size_yx))


def _qt_app_running() -> bool:
    import sys

    qtwidgets = sys.modules.get("qtpy.QtWidgets")
    return bool(qtwidgets is not None and qtwidgets.QApplication.instance() is not None)


@contextlib.contextmanager
def headless_display() -> Iterator[str]:
    """Run the block on a private Xvfb display; yields its DISPLAY name.

    Used for screenshots so that no window appears on the user's screen. When
    Xvfb is not installed, an existing ``DISPLAY`` is used instead; with
    neither, :class:`DisplayUnavailableError` explains what is needed.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        display = os.environ.get("DISPLAY")
        if not display:
            raise DisplayUnavailableError(
                "Rendering a screenshot needs an X display: set DISPLAY or install Xvfb "
                "(Debian/Ubuntu: apt-get install xvfb)."
            )
        yield display
        return
    proc = None
    name = ""
    for number in range(99, 199):
        if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        name = f":{number}"
        proc = subprocess.Popen(
            [xvfb, name, "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.05)
        if proc.poll() is None:
            break
        proc = None
    if proc is None:
        raise DisplayUnavailableError("Xvfb could not start a virtual display for the screenshot.")
    previous = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    os.environ["DISPLAY"] = name
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield name
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def screenshot(
    output: str | os.PathLike[str],
    images: Sequence[Volume] = (),
    dose: Volume | None = None,
    labels: Sequence[Volume] = (),
    isodose_levels_gy: Sequence[float] | None = None,
    size: tuple[int, int] = (1000, 800),
    window: str = "soft tissue",
    dose_threshold_gy: float | None = None,
    results: Sequence[Any] = (),
) -> Path:
    """Render the volumes, overlays and therapy results (``results``) to a PNG without a visible window.

    The viewer is shown on a private Xvfb display (napari renders nothing for
    a canvas that was never shown), zoomed onto the patient (:func:`fit_to_body`)
    at the slice through the dose maximum (else the masks' centre), the canvas
    is captured and the viewer closed.
    """
    target = Path(output)
    if target.suffix.lower() != ".png":
        raise InvalidInputError(f"The screenshot {target} must be a .png file.")
    if not images and dose is None and not labels and not results:
        raise InvalidInputError("Nothing to show: give at least one image, a dose, a mask or results.")
    from workstation.viewer.layers import window_limits

    window_limits(window)  # an unknown preset is a usage error before any window opens
    display = contextlib.nullcontext("") if _qt_app_running() else headless_display()
    with display:
        import napari
        from qtpy.QtWidgets import QApplication

        viewer = napari.Viewer(show=True, title="workstation")
        try:
            qt_viewer = viewer.window._qt_viewer
            for dock in (qt_viewer.dockLayerList, qt_viewer.dockLayerControls):
                dock.setVisible(False)  # the canvas takes the whole window
            viewer.window._qt_window.resize(*size)
            add_volumes(
                viewer, images, dose=dose, labels=labels, isodose_levels_gy=isodose_levels_gy,
                dose_threshold_gy=dose_threshold_gy, window=window, results=results,
            )
            QApplication.processEvents()
            viewer.reset_view()
            ct = next((v for v in images if v.is_ct()), None)
            if ct is not None:
                fit_to_body(viewer, ct)
            elif images:
                from workstation.viewer.layers import EMISSION_BODY_FRACTION, emission_base_window

                hi = emission_base_window(images[0])[1]
                # the body: above the body fraction of the 99.9th percentile (the window is 3 medians of it)
                fit_to_body(viewer, images[0], air_hu=EMISSION_BODY_FRACTION * hi)
            QApplication.processEvents()
            pixels = viewer.screenshot(canvas_only=True, flash=False)
        finally:
            viewer.close()
        _write_png(pixels, target)
    return target


def _write_png(pixels: np.ndarray, target: Path) -> None:
    from matplotlib.image import imsave

    from workstation.io import atomic_path

    with atomic_path(target) as tmp:
        imsave(tmp, np.ascontiguousarray(pixels), format="png")
