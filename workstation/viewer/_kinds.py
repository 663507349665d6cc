"""What a napari layer holds (CT, activity, dose, margin, labels…) and the unit of its values.

The kind decides which pickers offer a layer (a CT is never offered as the
activity image) and how the status bar writes its value. It comes from the
source :class:`~workstation.core.Volume` the layer was made from
(``metadata["volume"]``: units and modality), else from ``metadata["units"]``;
a layer napari made itself (no metadata) is a CT when its lowest value is
below -500 (air in HU), else an image of unknown kind. A quantitative map drawn
over the images whose unit would otherwise make it an image (the lipiodol density
in HU above the liver is not a CT) says so with ``metadata["kind"] = "map"``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume

__all__ = ["LayerKind", "OVERLAY_KINDS", "layer_kind", "layer_unit"]

#: A layer whose lowest value is below this (HU) is taken as CT when nothing else says
#: what it is: air is -1000 HU; no emission, dose or margin image goes this low.
_AIR_HU = -500.0


class LayerKind(StrEnum):
    """What a layer holds."""

    CT = "ct"
    ACTIVITY = "activity"
    DOSE = "dose"
    MARGIN = "margin"
    IMAGE = "image"
    LABELS = "labels"
    ISODOSE = "isodose"
    MAP = "map"
    POINTS = "points"
    OTHER = "other"


#: Kinds drawn over the images: new images go below them.
OVERLAY_KINDS = frozenset(
    {LayerKind.DOSE, LayerKind.MARGIN, LayerKind.MAP, LayerKind.LABELS, LayerKind.ISODOSE, LayerKind.POINTS,
     LayerKind.OTHER}
)


def _volume(layer: Any) -> Volume | None:
    vol = getattr(layer, "metadata", {}).get("volume")
    return vol if isinstance(vol, Volume) else None


def layer_unit(layer: Any) -> Unit:
    """The unit of a layer's values (``Unit.UNKNOWN`` when nothing says)."""
    meta = getattr(layer, "metadata", {}) or {}
    vol = _volume(layer)
    if vol is not None and vol.units != Unit.UNKNOWN:
        return vol.units
    return Unit.parse(meta.get("units"))


def layer_kind(layer: Any) -> LayerKind:
    """The kind of a napari layer (see the module docstring)."""
    kind = type(layer).__name__
    meta = getattr(layer, "metadata", {}) or {}
    if kind == "Labels":
        if "strokes_for" in meta:  # correction strokes (workstation.viewer.correct): not a mask
            return LayerKind.OTHER
        return LayerKind.ISODOSE if "levels_gy" in meta else LayerKind.LABELS
    if kind == "Points":
        return LayerKind.POINTS
    if kind != "Image":
        return LayerKind.OTHER
    if meta.get("kind") == LayerKind.MAP.value:  # said by the layer's maker: never a CT or an activity
        return LayerKind.MAP
    unit = layer_unit(layer)
    vol = _volume(layer)
    modality = vol.modality if vol is not None else None
    if unit == Unit.GY or modality == "RTDOSE":
        return LayerKind.DOSE
    if unit == Unit.MM:
        return LayerKind.MARGIN
    if unit == Unit.HU or modality == "CT":
        return LayerKind.CT
    if unit in (Unit.BQML, Unit.COUNTS) or modality in ("NM", "PT"):
        return LayerKind.ACTIVITY
    if unit == Unit.LABEL:
        return LayerKind.LABELS
    if "kind" in meta:
        return LayerKind(meta["kind"])
    data = getattr(layer, "data", None)
    if isinstance(data, np.ndarray) and data.size and data.ndim >= 2:
        step = max(1, round((data.size / 1e6) ** (1 / data.ndim)))  # about a million voxels
        sample = data[(slice(None, None, step),) * data.ndim]
        if np.issubdtype(sample.dtype, np.number) and float(np.nanmin(sample)) < _AIR_HU:
            meta["kind"] = LayerKind.CT.value  # napari allows metadata edits; saves the next pass
            return LayerKind.CT
        meta["kind"] = LayerKind.IMAGE.value
    return LayerKind.IMAGE
