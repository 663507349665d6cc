"""The napari workstation: volumes as layers in patient space, overlays, dock widgets.

This is the only package that imports napari and Qt, and it does so lazily:
importing :mod:`workstation.viewer` itself needs neither. Results of the other
therapies (rt-dose, combine, tace, lesions) are read and drawn by
:mod:`workstation.viewer.results` and shown with their tables by the dock widgets of
:mod:`workstation.viewer.therapy`. The plugin manifest
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
from workstation.viewer.overlay_layers import lines_layer, map_layer, markers_layer
from workstation.viewer.results import TherapyResults, read_results, result_layers

__all__ = [
    "WINDOW_PRESETS",
    "DisplayUnavailableError",
    "LayerData",
    "LayerKind",
    "TherapyResults",
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
    "lines_layer",
    "lps_to_world",
    "map_layer",
    "margin_layer",
    "markers_layer",
    "named_labels",
    "napari_affine",
    "open_viewer",
    "prepare_viewer",
    "read_results",
    "read_view_inputs",
    "readout_text",
    "result_layers",
    "screenshot",
    "volume_from_layer",
    "volume_layer",
    "window_limits",
    "world_to_lps",
]
