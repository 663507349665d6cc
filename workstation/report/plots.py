"""Report figures: matplotlib ``Figure`` objects only (never pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from workstation.core.volume import Volume

__all__ = [
    "ROI_COLOURS",
    "dvh_figure",
    "axial_overlay_figure",
    "histogram_figure",
    "recovery_figure",
]

#: Colours of ROI outlines, in the order ROIs are given (colour-blind safe, Okabe–Ito).
ROI_COLOURS: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#FFFFFF",
)

_METHOD_STYLES = {"ldm": "-", "vsv": "--", "vsv-density": ":", "vsv_density": ":"}


def dvh_figure(
    curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    title: str = "Cumulative dose-volume histograms",
) -> Figure:
    """Cumulative DVHs: ``curves[method][roi] = (dose_gy, volume_percent)``."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    roi_names: list[str] = []
    for per_roi in curves.values():
        for roi in per_roi:
            if roi not in roi_names:
                roi_names.append(roi)
    for method, per_roi in curves.items():
        for roi, (dose, vol) in per_roi.items():
            colour = ROI_COLOURS[roi_names.index(roi) % len(ROI_COLOURS)]
            if colour == "#FFFFFF":
                colour = "#444444"
            ax.plot(dose, vol, _METHOD_STYLES.get(method, "-."), color=colour, lw=1.4,
                    label=f"{roi} ({method})")
    ax.set_xlabel("Absorbed dose (Gy)")
    ax.set_ylabel("Volume (%)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    return fig


def _window(ct: np.ndarray, level: float = 40.0, width: float = 400.0) -> np.ndarray:
    lo, hi = level - width / 2, level + width / 2
    return np.clip((ct - lo) / (hi - lo), 0, 1)


def axial_overlay_figure(
    ct: Volume,
    slice_index: int,
    dose: Volume | None = None,
    rois: Sequence[tuple[str, np.ndarray]] = (),
    dose_max_gy: float | None = None,
    dose_threshold_gy: float | None = None,
    title: str = "",
    marker_ij: tuple[float, float] | None = None,
    window: tuple[float, float] = (40.0, 400.0),
    diverging: Volume | None = None,
    diverging_limit: float = 10.0,
    diverging_label: str = "",
    zoom_half_mm: float | None = None,
) -> Figure:
    """One axial slice: CT in grey, dose colour wash, ROI outlines, optional marker.

    ``dose`` (and ``diverging``, e.g. a margin map) must be on the CT grid;
    ROI masks are boolean arrays on the CT grid. The in-plane aspect follows the
    voxel spacing.
    """
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot()
    dy, dx = ct.spacing_mm[1], ct.spacing_mm[2]
    ny, nx = ct.shape[1], ct.shape[2]
    extent = (-0.5 * dx, (nx - 0.5) * dx, (ny - 0.5) * dy, -0.5 * dy)
    ax.imshow(_window(ct.array[slice_index], *window), cmap="gray", extent=extent,
              interpolation="bilinear")
    if dose is not None:
        d = np.asarray(dose.array[slice_index], dtype=float)
        vmax = dose_max_gy or float(np.nanmax(dose.array)) or 1.0
        thr = dose_threshold_gy if dose_threshold_gy is not None else 0.05 * vmax
        wash = np.ma.masked_less(d, thr)
        im = ax.imshow(wash, cmap="turbo", alpha=0.55, vmin=0, vmax=vmax, extent=extent,
                       interpolation="bilinear")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label("Dose (Gy)")
    if diverging is not None:
        m = np.ma.masked_invalid(np.asarray(diverging.array[slice_index], dtype=float))
        im = ax.imshow(m, cmap="RdBu", vmin=-diverging_limit, vmax=diverging_limit, extent=extent,
                       interpolation="nearest")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(diverging_label)
    ys = (np.arange(ny)) * dy
    xs = (np.arange(nx)) * dx
    for n, (name, mask) in enumerate(rois):
        sl = np.asarray(mask[slice_index], dtype=float)
        if sl.any() and not sl.all():
            colour = ROI_COLOURS[n % len(ROI_COLOURS)]
            ax.contour(xs, ys, sl, levels=[0.5], colors=[colour], linewidths=1.2)
            ax.plot([], [], color=colour, label=name)
    if marker_ij is not None:
        ax.plot(marker_ij[1] * dx, marker_ij[0] * dy, "x", color="#FF00FF", ms=10, mew=2,
                label="thinnest margin")
    if rois or marker_ij is not None:
        ax.legend(fontsize=7, loc="lower right", framealpha=0.6)
    if zoom_half_mm is not None and marker_ij is not None:
        cy, cx = marker_ij[0] * dy, marker_ij[1] * dx
        ax.set_xlim(cx - zoom_half_mm, cx + zoom_half_mm)
        ax.set_ylim(cy + zoom_half_mm, cy - zoom_half_mm)
    # Radiological convention: the patient's right on the left of the picture, anterior at
    # the top. Array columns/rows are flipped when they run towards the patient's right (-x)
    # or anterior (-y); the side letters say where the patient is.
    direction = ct.direction
    if direction[0, 2] < 0:
        ax.invert_xaxis()
    if direction[1, 1] < 0:
        ax.invert_yaxis()
    for text, xy in (("R", (0.02, 0.5)), ("L", (0.98, 0.5)), ("A", (0.5, 0.98)), ("P", (0.5, 0.02))):
        ax.text(*xy, text, transform=ax.transAxes, color="yellow", fontsize=9, ha="center",
                va="center", fontweight="bold")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column (mm)")
    ax.set_ylabel("row (mm)")
    ax.set_aspect("equal")
    return fig


def histogram_figure(values: np.ndarray, xlabel: str, title: str, bins: int = 40,
                     marks: Sequence[float] = ()) -> Figure:
    fig = Figure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    ax.hist(values[np.isfinite(values)], bins=bins, color="#0072B2", alpha=0.85)
    for m in marks:
        ax.axvline(m, color="#D55E00", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def recovery_figure(diameters: Sequence[float], rc_mean: Sequence[float], rc_max: Sequence[float],
                    model_d: Sequence[float], model_rc: Sequence[float], title: str) -> Figure:
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot()
    ax.plot(diameters, rc_mean, "o", color="#0072B2", label="RC mean")
    ax.plot(diameters, rc_max, "s", color="#E69F00", label="RC max")
    ax.plot(model_d, model_rc, "-", color="#555555", label="fitted blurred-sphere model (mean)")
    ax.axhline(1.0, color="#999999", lw=0.8)
    ax.set_xlabel("Sphere inner diameter (mm)")
    ax.set_ylabel("Recovery coefficient")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig

