"""Rendered pixels: the dose wash colours the CT where the dose is, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.viewer import add_volumes

pytestmark = pytest.mark.gui

# Pixel tolerance at the edges of the predicted rectangles: edges fall between
# pixels (±1) and napari's canvas/texture rounding adds at most one more.
EDGE_PX = 2
# A pixel is "coloured" when its RGB channels differ by more than this (grey has R = G = B).
COLOUR_SPREAD = 8


def _render(viewer):
    from qtpy.QtWidgets import QApplication

    viewer.window._qt_window.resize(900, 700)
    QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)


def _save_for_debugging(img, name):
    import os

    folder = os.environ.get("WORKSTATION_TEST_SCREENSHOTS")
    if folder:
        from matplotlib.image import imsave

        imsave(f"{folder}/{name}.png", img.astype(np.uint8))


def _colorbar_region(img):
    """The top-right corner where napari draws the colour bar."""
    yy, xx = np.indices(img.shape[:2])
    return (yy < 0.4 * img.shape[0]) & (xx > 0.75 * img.shape[1])


def _body_box(img):
    """Pixel box (r0, r1, c0, c1) of the grey 40 HU body: (40 + 150) / 400 * 255 = 121 grey."""
    spread = img.max(axis=2) - img.min(axis=2)
    grey = (spread <= COLOUR_SPREAD) & (np.abs(img.mean(axis=2) - 121.0) < 15.0)
    grey &= ~_colorbar_region(img)  # its anti-aliased tick labels have grey pixels
    rows, cols = np.nonzero(grey)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _predicted_box(body_px, body_idx, box_idx):
    """Map an index-space box (row/col voxel edges) to pixels using the body's box."""
    (r0, r1, c0, c1), (br0, br1, bc0, bc1) = body_px, body_idx
    sy = (r1 - r0) / (br1 - br0)
    sx = (c1 - c0) / (bc1 - bc0)
    rr0, rr1, cc0, cc1 = box_idx
    return r0 + (rr0 - br0) * sy, r0 + (rr1 - br0) * sy, c0 + (cc0 - bc0) * sx, c0 + (cc1 - bc0) * sx


def test_dose_wash_pixels(make_napari_viewer, study):
    dose = study["dose"]
    arr = dose.array.copy()
    arr[6:18, 44:50, 10:20] = 1.0  # below the default threshold (5 % of 60 Gy): must stay invisible
    dose = dose.copy_with(array=arr)
    viewer = make_napari_viewer(show=True)
    add_volumes(viewer, [study["ct"]], dose=dose)
    assert viewer.dims.point[0] == pytest.approx(study["ct"].index_to_world((6, 20, 30))[2])
    img = _render(viewer)
    _save_for_debugging(img, "dose_wash")
    spread = img.max(axis=2) - img.min(axis=2)
    coloured = spread > COLOUR_SPREAD
    # The body (40 HU, soft-tissue window) is grey: its box on screen gives the pixel scale.
    body_px = _body_box(img)
    box = _predicted_box(body_px, (8, 56, 8, 72), (20, 40, 30, 50))
    yy, xx = np.indices(coloured.shape)
    inside = (yy >= box[0] + EDGE_PX) & (yy < box[1] - EDGE_PX) & (xx >= box[2] + EDGE_PX) & (xx < box[3] - EDGE_PX)
    outside = (yy < box[0] - EDGE_PX) | (yy >= box[1] + EDGE_PX) | (xx < box[2] - EDGE_PX) | (xx >= box[3] + EDGE_PX)
    assert inside.sum() > 1000
    assert coloured[inside].all(), "the dose cube is not coloured everywhere"
    # Outside the cube nothing is coloured except the colour bar in the top-right corner.
    colorbar = _colorbar_region(img)
    assert not coloured[outside & ~colorbar].any(), "colour outside the dose"
    # The 1 Gy region (below threshold) is plain grey.
    low = _predicted_box(body_px, (8, 56, 8, 72), (44, 50, 10, 20))
    low_inside = (yy >= low[0] + EDGE_PX) & (yy < low[1] - EDGE_PX) & (xx >= low[2] + EDGE_PX) & (xx < low[3] - EDGE_PX)
    assert low_inside.sum() > 50 and not coloured[low_inside].any()
    # The colour bar is drawn.
    assert coloured[colorbar].sum() > 200
    # Dose 60 Gy = top of the scale: turbo's top is dark red, blended over grey.
    centre = img[int((box[0] + box[1]) / 2), int((box[2] + box[3]) / 2)]
    assert centre[0] > centre[1] + 30 and centre[0] > centre[2] + 30


def test_label_outlines_and_isodose_lines(make_napari_viewer, study):
    viewer = make_napari_viewer(show=True)
    add_volumes(viewer, [study["ct"]], labels=[study["lesion"]])
    assert viewer.dims.point[0] == pytest.approx(study["ct"].index_to_world((12, 0, 0))[2])
    img = _render(viewer)
    spread = img.max(axis=2) - img.min(axis=2)
    # The first mask is outlined in magenta, a hue the dose colour map does not use.
    outline = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] > 200)
    body_px = _body_box(img)
    # Lesion: radius 12 mm around voxel (12, 30, 40): rows 30 ± 8, cols 40 ± 9.6 (voxel edges ±0.5).
    box = _predicted_box(body_px, (8, 56, 8, 72), (22, 39, 30.4, 50.6))
    yy, xx = np.nonzero(outline)
    assert yy.size > 100
    assert yy.min() >= box[0] - EDGE_PX and yy.max() < box[1] + EDGE_PX
    assert xx.min() >= box[2] - EDGE_PX and xx.max() < box[3] + EDGE_PX
    # An outline, not a fill: the centre of the lesion stays grey.
    cy, cx = int((box[0] + box[1]) / 2), int((box[2] + box[3]) / 2)
    assert spread[cy, cx] <= COLOUR_SPREAD


def test_margin_map_pixels(make_napari_viewer):
    """Signed margin: negative red, positive blue, undefined (NaN) voxels transparent."""
    from workstation.core import Unit, Volume, affine_from_geometry
    from workstation.viewer import add_layer, ct_layer, margin_layer

    affine = affine_from_geometry([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    ct = Volume(np.full((5, 60, 60), 40, np.int16), affine, modality="CT", units=Unit.HU)
    margin = np.full((5, 60, 60), np.nan, np.float32)
    margin[:, 20:40, 20:30] = -5.0
    margin[:, 20:40, 30:40] = 8.0
    viewer = make_napari_viewer(show=True)
    add_layer(viewer, ct_layer(ct))
    add_layer(viewer, margin_layer(Volume(margin, affine, units=Unit.MM)))
    viewer.dims.set_point(0, 2.0)
    img = _render(viewer)
    body_px = _body_box(img)
    r0, r1, c0, c1 = _predicted_box(body_px, (-0.5, 59.5, -0.5, 59.5), (19.5, 39.5, 19.5, 29.5))
    neg = img[int((r0 + r1) / 2), int((c0 + c1) / 2)]
    r0, r1, c0, c1 = _predicted_box(body_px, (-0.5, 59.5, -0.5, 59.5), (19.5, 39.5, 29.5, 39.5))
    pos = img[int((r0 + r1) / 2), int((c0 + c1) / 2)]
    r0, r1, c0, c1 = _predicted_box(body_px, (-0.5, 59.5, -0.5, 59.5), (45, 55, 5, 15))
    nan_region = img[int((r0 + r1) / 2), int((c0 + c1) / 2)]
    assert neg[0] > neg[2] + 60, f"negative margin not red: {neg}"
    assert pos[2] > pos[0] + 60, f"positive margin not blue: {pos}"
    assert np.ptp(nan_region) <= COLOUR_SPREAD and abs(nan_region.mean() - 121) < 15, "NaN not transparent"
