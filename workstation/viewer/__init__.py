"""The napari workstation: volumes as layers in patient space, overlays, dock widgets.

This is the only package that imports napari and Qt, and it does so lazily:
importing :mod:`workstation.viewer` itself needs neither. The plugin manifest
is ``napari.yaml`` next to this file (entry point ``napari.manifest``).
"""

from workstation.viewer._app import (
    DisplayUnavailableError,
    add_layer,
    add_volumes,
    headless_display,
    screenshot,
)
from workstation.viewer._cli import open_viewer, read_view_inputs
from workstation.viewer._display import prepare_viewer, readout_text
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer.layers import (
    WINDOW_PRESETS,
    LayerData,
    ct_layer,
    dose_layer,
    emission_base_window,
    functional_layer,
    isodose_layer,
    labels_layer,
    layer_geometry,
    lps_to_world,
    margin_layer,
    named_labels,
    napari_affine,
    volume_from_layer,
    volume_layer,
    window_limits,
    world_to_lps,
)

__all__ = [
    "WINDOW_PRESETS",
    "DisplayUnavailableError",
    "LayerData",
    "LayerKind",
    "add_layer",
    "add_volumes",
    "ct_layer",
    "dose_layer",
    "emission_base_window",
    "functional_layer",
    "headless_display",
    "isodose_layer",
    "labels_layer",
    "layer_geometry",
    "layer_kind",
    "lps_to_world",
    "margin_layer",
    "named_labels",
    "napari_affine",
    "open_viewer",
    "prepare_viewer",
    "read_view_inputs",
    "readout_text",
    "screenshot",
    "volume_from_layer",
    "volume_layer",
    "window_limits",
    "world_to_lps",
]
