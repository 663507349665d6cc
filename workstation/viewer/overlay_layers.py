"""Overlay layers of therapy results: quantitative maps, markers and line segments in patient space.

Every function returns a napari ``LayerData`` tuple placed, as the volumes of
:mod:`workstation.viewer.layers`, in LPS millimetres (world axes (z, y, x)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from workstation.core.volume import Volume
from workstation.viewer.layers import LayerData, _metadata, layer_geometry, name_with_unit

__all__ = ["lines_layer", "map_layer", "markers_layer"]


def map_layer(
    volume: Volume,
    name: str,
    limits: tuple[float, float],
    colormap: str = "inferno",
    opacity: float = 0.85,
) -> LayerData:
    """A quantitative map drawn over the images (e.g. the lipiodol density in HU above the liver).

    The colour map is transparent at and below the lower limit (outside the map)
    (:func:`~workstation.viewer._colormaps.map_colormap`), so the CT shows around it
    and the colours show over the CT's white. The layer's kind is "map"
    (``metadata["kind"]``): never offered as a CT or an activity image, whatever its
    unit, and placed with the overlays. The name ends with the unit and the colour
    bar is shown.
    """
    from workstation.viewer._colormaps import map_colormap

    return (
        volume.array,
        {
            "name": name_with_unit(name, volume.units),
            "colormap": map_colormap(colormap),
            "contrast_limits": (float(limits[0]), float(limits[1])),
            "blending": "translucent_no_depth",
            "opacity": opacity,
            "metadata": _metadata(volume, kind="map", colorbar=True),
            **layer_geometry(volume),
        },
        "image",
    )


def _index_coordinates(points_lps_mm: Any, reference: Volume) -> np.ndarray:
    """LPS points (…, 3) as fractional voxel indices (k, j, i) of ``reference``."""
    pts = np.asarray(points_lps_mm, dtype=float)
    return np.asarray(reference.world_to_index(pts.reshape(-1, 3)), dtype=float).reshape(pts.shape)


def markers_layer(
    points_lps_mm: Any,
    reference: Volume,
    name: str,
    colors: Sequence[Sequence[float]] | None = None,
    texts: Sequence[str] | None = None,
    size_voxels: float = 3.0,
    symbol: str = "disc",
    features: dict[str, Sequence[Any]] | None = None,
) -> LayerData:
    """Points (LPS mm) as a napari Points layer placed on the grid of ``reference``.

    The points are stored as fractional voxel indices of ``reference`` with its
    layer geometry, so napari shows each on the slice of ``reference`` nearest to it
    (napari shows a point within half a data unit of the slice), wherever it lies
    between two slice centres; ``layer.data_to_world`` gives back the exact point.

    Parameters
    ----------
    colors:
        One RGB(A) colour (0–1) per point; default yellow.
    texts:
        One label per point, drawn beside it.
    size_voxels:
        Marker size in voxels of ``reference``.
    """
    data = _index_coordinates(points_lps_mm, reference).reshape(-1, 3)
    n = len(data)
    feats: dict[str, Any] = {k: list(v) for k, v in (features or {}).items()}
    kwargs: dict[str, Any] = {
        "name": name,
        "size": float(size_voxels),
        "symbol": symbol,
        "face_color": [tuple(c) for c in colors] if colors is not None and n else "yellow",
        "border_color": "black",
        "border_width": 0.1,
        **layer_geometry(reference),
    }
    if texts is not None:
        feats["label"] = list(texts)
        kwargs["text"] = {"string": "{label}", "color": "white", "size": 9, "anchor": "upper_left",
                          "translation": (0.0, -1.0, 1.0)}
    if feats:
        kwargs["features"] = feats
    return data, kwargs, "points"


def lines_layer(
    segments_lps_mm: Any,
    reference: Volume,
    name: str,
    color: Sequence[float] = (1.0, 1.0, 0.0),
    width_voxels: float = 0.6,
    texts: Sequence[str] | None = None,
) -> LayerData:
    """Line segments (n, 2, 3) in LPS mm as a napari Shapes layer on the grid of ``reference``.

    As :func:`markers_layer`, the ends are fractional voxel indices of ``reference``:
    a segment whose ends lie in one slice (a RECIST long axis) is drawn on that
    slice. ``texts`` label each segment (e.g. its length).
    """
    segments = _index_coordinates(segments_lps_mm, reference).reshape(-1, 2, 3)
    kwargs: dict[str, Any] = {
        "name": name,
        "shape_type": "line",
        "edge_color": [list(color)] * len(segments) if len(segments) else "yellow",
        "edge_width": float(width_voxels),
        **layer_geometry(reference),
    }
    if texts is not None:
        kwargs["features"] = {"label": list(texts)}
        kwargs["text"] = {"string": "{label}", "color": list(color), "size": 9, "anchor": "upper_left"}
    return [seg for seg in segments], kwargs, "shapes"
