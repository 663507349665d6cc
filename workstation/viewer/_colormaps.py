"""Colour maps of the viewer's overlays (napari objects built on demand)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Distinct label colours (RGB 0–1), matplotlib's "tab10" order; label n uses entry (n-1) % 10.
_TAB10 = [
    (0.122, 0.467, 0.706),
    (1.000, 0.498, 0.055),
    (0.173, 0.627, 0.173),
    (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741),
    (0.549, 0.337, 0.294),
    (0.890, 0.467, 0.761),
    (0.498, 0.498, 0.498),
    (0.737, 0.741, 0.133),
    (0.090, 0.745, 0.812),
]


def _turbo(positions: np.ndarray) -> np.ndarray:
    """RGBA of Google's "turbo" colour map (napari's 256-entry copy; no matplotlib import)."""
    from napari.utils.colormaps import ensure_colormap

    return np.asarray(ensure_colormap("turbo").map(np.asarray(positions, dtype=float)), dtype=float)


def dose_wash_colormap() -> Any:
    """The perceptually ordered "turbo", fully transparent at its lowest value.

    With ``contrast_limits=(threshold, max)`` every dose at or below the
    threshold maps to position 0 and is not drawn.
    """
    from napari.utils.colormaps import Colormap

    colors = _turbo(np.linspace(0.0, 1.0, 256))
    colors[0, 3] = 0.0
    return Colormap(colors=colors, name="dose wash (turbo)", interpolation="linear")


def map_colormap(name: str = "inferno") -> Any:
    """A sequential napari colour map made transparent at its lowest value (a map over the CT).

    With ``contrast_limits=(0, top)`` voxels at or below 0 (outside the map) are not
    drawn; the others are opaque colours, visible even over the CT's white (lipiodol
    saturates a soft-tissue window, so an additive map would add nothing there).
    """
    from napari.utils.colormaps import Colormap, ensure_colormap

    colors = np.asarray(ensure_colormap(name).map(np.linspace(0.0, 1.0, 256)), dtype=float)
    colors[0, 3] = 0.0
    return Colormap(colors=colors, name=f"{name} (transparent at 0)", interpolation="linear")


def diverging_colormap() -> Any:
    """Red (negative) – white (0) – blue (positive): matplotlib's "RdBu"."""
    import matplotlib
    from napari.utils.colormaps import Colormap

    colors = matplotlib.colormaps["RdBu"](np.linspace(0.0, 1.0, 256))
    return Colormap(colors=colors, name="signed margin (RdBu)", interpolation="linear")


#: Outline colours for masks drawn over a dose wash: hues absent from turbo
#: (magenta, white, pink, light grey-violet), so outlines never read as doses.
OUTLINE_COLORS: list[tuple[float, float, float]] = [
    (1.0, 0.0, 1.0),
    (1.0, 1.0, 1.0),
    (1.0, 0.55, 0.75),
    (0.75, 0.7, 1.0),
]


def label_colors(
    values: Sequence[int], color: Sequence[float] | dict[int, Sequence[float]] | None = None
) -> Any:
    """A napari DirectLabelColormap, background transparent.

    Label n gets tab10 colour (n-1) % 10, or every label gets ``color`` (RGB 0–1),
    or each label its colour in ``color`` given by value.
    """
    from napari.utils.colormaps import DirectLabelColormap

    color_dict: dict[int | None, Any] = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
    for v in values:
        if isinstance(color, dict):
            rgb = tuple(color[v])
        else:
            rgb = tuple(color) if color is not None else _TAB10[(int(v) - 1) % len(_TAB10)]
        color_dict[int(v)] = (*rgb[:3], 1.0)
    return DirectLabelColormap(color_dict=color_dict)


def level_colors(positions: Sequence[float] | np.ndarray) -> Any:
    """Isodose band colours: band n (1-based) gets turbo at ``positions[n-1]`` (0–1)."""
    from napari.utils.colormaps import DirectLabelColormap

    rgba = _turbo(np.clip(np.asarray(positions, dtype=float), 0.0, 1.0))
    color_dict: dict[int | None, Any] = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
    for n, color in enumerate(rgba, start=1):
        color_dict[n] = tuple(float(c) for c in color)
    return DirectLabelColormap(color_dict=color_dict)
