"""How the workstation's viewer shows layers: order, blend, colour-bar titles and the status read-out.

:func:`prepare_viewer` is called once per viewer (by :func:`~workstation.viewer.add_layer`,
every dock widget, and the plugin's reader and sample data) and then acts on every
layer added, whoever adds it:

* images go **below the overlays** (dose, margin, masks, isodose lines, points): a CT
  above the other CTs (at half opacity over another CT, a blend), an emission image
  (SPECT/PET) just below the lowest overlay;
* an emission image is the **base** layer when there is no CT (grey, windowed on the
  body's uptake: :func:`~workstation.viewer.layers.emission_base_window`), else it is
  fused over the CT (additive colour map); it switches when a CT comes or goes;
* a layer whose metadata asks for a colour bar shows it with its **layer name above
  it** (the names of quantitative layers end with their unit, e.g. ``dose ldm (Gy)``),
  the colour bars stacked down the top-right corner; labels asking for it are drawn as
  outlines (``metadata["contour"]``, which napari's ``add_labels`` does not take);
* the status bar shows, at the cursor, the position in **LPS millimetres** and the
  value of **every visible layer** with its unit (labels by name):
  :func:`readout_text`.
"""

from __future__ import annotations

import math
from types import MethodType
from typing import Any

import numpy as np

from workstation.core.volume import Unit
from workstation.viewer._kinds import OVERLAY_KINDS, LayerKind, layer_kind, layer_unit

__all__ = ["finish_layer", "prepare_viewer", "readout_text", "show_colorbar", "untruncate_dock_tabs"]

#: Opacity of a second CT added over another one (a 50/50 blend).
CT_BLEND_OPACITY = 0.5


# ------------------------------------------------------------------ viewer
def prepare_viewer(viewer: Any) -> None:
    """Install the status read-out and the layer rules of the module docstring (once per viewer)."""
    if getattr(viewer, "_workstation_ready", False):
        return
    # napari computes the status text in ViewerModel._calc_status_from_cursor (also from its
    # status thread); an instance attribute of the same name takes its place for this viewer only.
    object.__setattr__(viewer, "_workstation_ready", True)
    object.__setattr__(viewer, "_calc_status_from_cursor", MethodType(_status_from_cursor, viewer))
    viewer.canvas.overlay_tiling.top_right = "vertical"  # colour bars one below the other

    def _inserted(event: Any) -> None:
        finish_layer(viewer, event.value)

    def _removed(event: Any) -> None:
        _update_emission_roles(viewer)

    # "last": after napari's own handlers (layer list model, canvas) have seen the insertion,
    # so that moving the layer here reaches them as an ordinary move.
    viewer.layers.events.inserted.connect(_inserted, position="last")
    viewer.layers.events.removed.connect(_removed, position="last")
    for layer in list(viewer.layers):
        finish_layer(viewer, layer, place=False)


def _status_from_cursor(viewer: Any) -> tuple[str, str] | None:
    if not viewer.mouse_over_canvas:
        return None
    try:
        return readout_text(viewer, viewer.cursor.position), ""
    except (IndexError, ValueError, TypeError, AttributeError):  # a layer changing under the status thread
        return None


# ------------------------------------------------------------------ layers
def finish_layer(viewer: Any, layer: Any, place: bool = True) -> None:
    """Apply what layer kwargs cannot say (see the module docstring); idempotent."""
    meta = layer.metadata
    if meta.get("_finished"):
        return
    meta["_finished"] = True
    if meta.get("contour") and hasattr(layer, "contour"):
        layer.contour = int(meta["contour"])
    slider = meta.get("slider_range_hu")
    if slider is not None:
        lo, hi = layer.contrast_limits
        layer.contrast_limits_range = (min(slider[0], lo), max(slider[1], hi))
    if hasattr(layer, "colorbar"):
        _link_title(layer)
    if meta.get("colorbar"):
        show_colorbar(layer)
    elif meta.get("legend"):  # isodose lines: their levels under the dose colour bar
        _show_title(layer)
    if place:
        _place(viewer, layer)
    _update_emission_roles(viewer)


def _show_title(layer: Any) -> Any:
    """Show the layer name in the top-right corner (napari's layer-name overlay)."""
    title = layer._overlays["layer_name"]
    title.position = "top_right"
    title.font_size = 11
    title.visible = True
    return title


def _link_title(layer: Any) -> None:
    """Make the layer's title follow its colour bar: shown with it, the name ending with the unit."""
    if layer.metadata.get("_title_follows_colorbar"):
        return
    layer.metadata["_title_follows_colorbar"] = True

    def _follow(event: Any) -> None:
        if getattr(event, "value", event):  # psygnal passes the value itself
            _titled(layer)
        else:
            layer._overlays["layer_name"].visible = False

    layer.colorbar.events.visible.connect(_follow)


def _titled(layer: Any) -> None:
    from workstation.viewer.layers import name_with_unit

    named = name_with_unit(layer.name, layer_unit(layer))
    if named != layer.name:
        layer.name = named  # a colour bar always says its unit: a CT's shown by the user gets "(HU)"
    _show_title(layer)


def show_colorbar(layer: Any) -> None:
    """Show the layer's colour bar with the layer name above it, the name ending with the unit.

    The title follows the bar when it is hidden or shown again (also from napari's
    layer controls).
    """
    _link_title(layer)
    layer.colorbar.visible = True
    _titled(layer)


def _is_base(layer: Any) -> bool:
    return layer_kind(layer) in (LayerKind.CT, LayerKind.ACTIVITY, LayerKind.IMAGE)


def _place(viewer: Any, layer: Any) -> None:
    """Move a new image below the overlays (a CT above the other CTs); blend a CT over a CT."""
    if not _is_base(layer):
        return
    layers = list(viewer.layers)
    here = layers.index(layer)
    others = [lay for lay in layers if lay is not layer]
    if layer_kind(layer) == LayerKind.CT:
        cts = [n for n, lay in enumerate(others) if layer_kind(lay) == LayerKind.CT]
        target = cts[-1] + 1 if cts else 0
        if cts and layer.opacity >= 1.0 and layer.blending in ("translucent_no_depth", "translucent"):
            layer.opacity = CT_BLEND_OPACITY
    else:
        overlays = [n for n, lay in enumerate(others) if layer_kind(lay) in OVERLAY_KINDS]
        target = overlays[0] if overlays else len(others)
        target = min(target, here)  # never raise an image above where it was put
    # ``target`` counts the other layers; napari's move() counts the list before the move
    before = target if target <= here else target + 1
    if before not in (here, here + 1):
        viewer.layers.move(here, before)


def _update_emission_roles(viewer: Any) -> None:
    """The lowest emission image is the base when there is no CT; the others are fused."""
    have_ct = any(layer_kind(lay) == LayerKind.CT for lay in viewer.layers)
    base_done = have_ct
    for layer in viewer.layers:
        styles = layer.metadata.get("emission_styles")
        if not styles or layer_kind(layer) != LayerKind.ACTIVITY:
            continue
        role = "fused" if base_done else "base"
        base_done = True
        if layer.metadata.get("emission_role") == role:
            continue
        style = styles[role]
        layer.colormap = style["colormap"]
        layer.contrast_limits = tuple(style["contrast_limits"])
        layer.blending = style["blending"]
        layer.opacity = style["opacity"]
        layer.metadata["emission_role"] = role


# ------------------------------------------------------------------ read-out
def _format_value(value: float, unit: Unit) -> str:
    if not math.isfinite(value):
        return "no value"
    text = f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    if unit in (Unit.UNKNOWN, Unit.LABEL):
        return text
    return f"{text} {unit.value}"


def _value_at(layer: Any, world_zyx: np.ndarray) -> Any:
    """The layer's data value at a world point (nearest voxel), or None outside its data."""
    data = layer.data
    if not isinstance(data, np.ndarray) or data.ndim != 3:
        return None
    index = np.round(np.asarray(layer.world_to_data(world_zyx), dtype=float)[-3:]).astype(int)
    if np.any(index < 0) or np.any(index >= np.asarray(data.shape)):
        return None
    return data[tuple(index)]


def _label_name(layer: Any, value: int) -> str:
    names = layer.metadata.get("label_names") or {}
    if value in names:
        return str(names[value])
    features = getattr(layer, "features", None)
    if features is not None and "index" in features and "name" in features:
        hit = features["name"][features["index"] == value]
        if len(hit):
            return str(hit.iloc[0])
    return f"label {value}"


def readout_text(viewer: Any, position_world: Any) -> str:
    """The status text at a world point: LPS (x, y, z) in mm, then every visible layer's value.

    Layers are listed from the top of the layer list down; quantitative layers with
    their unit (``dose ldm (Gy): 55.3 Gy``, ``ct: 40 HU``), labels by name where the
    point is inside one, isodose lines by their level.
    """
    world = np.asarray(position_world, dtype=float)[-3:]
    x, y, z = world[::-1]
    parts = [f"LPS x {x:.1f}, y {y:.1f}, z {z:.1f} mm"]
    for layer in reversed(list(viewer.layers)):
        if not layer.visible or layer.opacity == 0:
            continue
        kind = layer_kind(layer)
        if kind in (LayerKind.POINTS, LayerKind.OTHER):
            continue
        value = _value_at(layer, world)
        if value is None:
            continue
        if kind in (LayerKind.LABELS, LayerKind.ISODOSE):
            if int(value) != 0:
                parts.append(f"{layer.name}: {_label_name(layer, int(value))}")
            continue
        parts.append(f"{layer.name}: {_format_value(float(value), layer_unit(layer))}")
    return "  |  ".join(parts)


# ------------------------------------------------------------------ docks
def untruncate_dock_tabs(window: Any) -> None:
    """Show whole titles on the tabs of tabified dock widgets (scroll buttons when they do not fit)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabBar

    for bar in window.findChildren(QTabBar):
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setUsesScrollButtons(True)
        bar.setExpanding(False)
