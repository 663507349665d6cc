"""Report figures: matplotlib ``Figure`` objects only (never pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from workstation.core.volume import Volume

__all__ = [
    "ROI_COLOURS",
    "AxialSliceRenderer",
    "dvh_figure",
    "axial_overlay_figure",
    "registration_figure",
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

#: Colours of isodose lines, in the order the levels are given (prescription first).
_ISODOSE_COLOURS: tuple[str, ...] = ("#FFFFFF", "#CC79A7", "#F0E442")

_METHOD_STYLES = {"ldm": "-", "vsv": "--", "vsv-density": ":", "vsv_density": ":"}
_OTHER_STYLES = ("--", ":", "-.")


def dvh_figure(
    curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    title: str = "Cumulative dose-volume histograms",
    primary: str | None = None,
    xlabel: str = "Absorbed dose (Gy)",
    methods_title: str = "method",
    xmax_gy: float | None = None,
    fit_legends: bool = False,
) -> Figure:
    """Cumulative DVHs: ``curves[method][roi] = (dose_gy, volume_percent)``.

    Colour per region; a single method without ``primary`` is drawn solid with a
    legend of regions; with ``primary`` that method is drawn solid and the others
    thin and broken, with one legend for regions and one (titled ``methods_title``)
    for methods. ``xmax_gy`` ends the dose axis there (a few very hot voxels, e.g.
    next to a brachytherapy source, would otherwise squeeze every curve to the left).
    ``fit_legends`` keeps the region legend whole (without it, long region names are cut at
    the figure's edge when ``primary`` is given; off by default so that existing figures stay
    as they are). The layout is fixed (``figure_png(fig, tight=False)`` draws it once).
    """
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    roi_names: list[str] = []
    for per_roi in curves.values():
        for roi in per_roi:
            if roi not in roi_names:
                roi_names.append(roi)

    def colour(roi: str) -> str:
        c = ROI_COLOURS[roi_names.index(roi) % len(ROI_COLOURS)]
        return "#444444" if c == "#FFFFFF" else c

    single = primary is None and len(curves) == 1  # one quantity: solid lines named by region
    others = [m for m in curves if m != primary and m not in _METHOD_STYLES]

    def style_of(method: str) -> str:
        # methods without a style of their own (treatments) get one each
        return _METHOD_STYLES.get(method) or _OTHER_STYLES[others.index(method) % len(_OTHER_STYLES)]

    for method, per_roi in curves.items():
        main = primary is None or method == primary
        style = "-" if (primary is not None and main) or single else style_of(method)
        for roi, (dose, vol) in per_roi.items():
            ax.plot(dose, vol, style, color=colour(roi), lw=1.6 if main else 0.8,
                    alpha=1.0 if main else 0.7, label=roi if single else f"{roi} ({method})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Volume (%)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0, right=xmax_gy)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if single:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="region", title_fontsize=7)
    elif primary is None:
        ax.legend(fontsize=7, ncol=2, loc="upper right")
    else:
        regions = ax.legend(handles=[Line2D([], [], color=colour(r), lw=1.6, label=r) for r in roi_names],
                            fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="region",
                            title_fontsize=7)
        if fit_legends:
            regions.set_clip_on(False)  # outside the axes: counted by the layout and a tight bounding box
        ax.add_artist(regions)
        methods = [Line2D([], [], color="#333333", lw=1.6 if m == primary else 0.8,
                          ls="-" if m == primary else style_of(m), label=m)
                   for m in curves]
        ax.legend(handles=methods, fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0), title=methods_title,
                  title_fontsize=7)
    return fig


def _window(ct: np.ndarray, level: float = 40.0, width: float = 400.0) -> np.ndarray:
    lo, hi = level - width / 2, level + width / 2
    return np.clip((ct - lo) / (hi - lo), 0, 1)


class AxialSliceRenderer:
    """Axial slices of one study drawn on one reused figure: CT in grey, dose wash, outlines.

    The figure, its colour bars, legend and side letters are set up once; each
    :meth:`png` call swaps the slice data and draws once (about three times faster
    than a new figure per slice). ``dose`` (and ``diverging``, e.g. a margin map)
    must be on the CT grid; ROI masks are boolean arrays on the CT grid; ``isodoses``
    ((level in Gy, label), e.g. the prescription) are drawn as broken lines of the dose. The
    in-plane aspect follows the voxel spacing; slices are shown in radiological
    convention (the patient's right on the left of the picture, anterior at the top).
    """

    def __init__(
        self,
        ct: Volume,
        dose: Volume | None = None,
        rois: Sequence[tuple[str, np.ndarray]] = (),
        dose_max_gy: float | None = None,
        dose_threshold_gy: float | None = None,
        window: tuple[float, float] = (40.0, 400.0),
        diverging: Volume | None = None,
        diverging_limit: float = 10.0,
        diverging_label: str = "",
        marker_label: str = "",
        figsize_in: tuple[float, float] = (4.8, 4.0),
        isodoses: Sequence[tuple[float, str]] = (),
    ) -> None:
        self.ct, self.dose, self.diverging = ct, dose, diverging
        #: (level in Gy, legend label) of the dose lines drawn (broken lines), e.g. the prescription.
        self.isodoses = [(float(level), label) for level, label in isodoses] if dose is not None else []
        self.rois = [(name, np.asarray(mask)) for name, mask in rois]
        self.window = window
        fig = Figure(figsize=figsize_in)
        self.figure = fig
        # Fixed axes positions (no layout engine, one draw per slice): the picture, then one
        # narrow axis per colour bar with room for its tick labels and unit on the right.
        colourbars = int(dose is not None) + int(diverging is not None)
        bar_w, bar_room = 0.035, 0.2
        right = 0.99 - bar_room * colourbars
        ax = fig.add_axes((0.01, 0.02, right - 0.01, 0.90))
        self.ax = ax
        bar_axes = [fig.add_axes((right + 0.02 + n * bar_room, 0.12, bar_w, 0.72)) for n in range(colourbars)]
        dy, dx = ct.spacing_mm[1], ct.spacing_mm[2]
        ny, nx = ct.shape[1], ct.shape[2]
        self.extent = (-0.5 * dx, (nx - 0.5) * dx, (ny - 0.5) * dy, -0.5 * dy)
        self._xs, self._ys = np.arange(nx) * dx, np.arange(ny) * dy
        empty = np.zeros((ny, nx), np.float32)
        self._ct_im = ax.imshow(empty, cmap="gray", vmin=0, vmax=1, extent=self.extent,
                                interpolation="bilinear")
        self._dose_im = self._div_im = None
        if dose is not None:
            vmax = dose_max_gy or float(np.nanmax(dose.array)) or 1.0
            self._dose_threshold = dose_threshold_gy if dose_threshold_gy is not None else 0.05 * vmax
            self._dose_im = ax.imshow(np.ma.masked_all((ny, nx)), cmap="turbo", alpha=0.55, vmin=0,
                                      vmax=vmax, extent=self.extent, interpolation="bilinear")
            cb = fig.colorbar(self._dose_im, cax=bar_axes.pop(0))
            cb.set_label("Dose (Gy)")
            cb.ax.tick_params(labelsize=7)
        if diverging is not None:
            self._div_im = ax.imshow(np.ma.masked_all((ny, nx)), cmap="RdBu", vmin=-diverging_limit,
                                     vmax=diverging_limit, extent=self.extent, interpolation="nearest")
            cb = fig.colorbar(self._div_im, cax=bar_axes.pop(0))
            cb.set_label(diverging_label)
            cb.ax.tick_params(labelsize=7)
        self._colours = {name: ROI_COLOURS[n % len(ROI_COLOURS)] for n, (name, _) in enumerate(self.rois)}
        handles = [Line2D([], [], color=self._colours[name], label=name) for name, _ in self.rois]
        handles += [Line2D([], [], color=_ISODOSE_COLOURS[n % len(_ISODOSE_COLOURS)], ls="--", label=label)
                    for n, (_, label) in enumerate(self.isodoses)]
        self._marker = ax.plot([], [], "x", color="#FF00FF", ms=10, mew=2, label=marker_label or "marker")[0]
        if marker_label:
            handles.append(self._marker)
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.6)
        direction = ct.direction
        self._flip_x, self._flip_y = direction[0, 2] < 0, direction[1, 1] < 0
        for text, xy in (("R", (0.02, 0.5)), ("L", (0.98, 0.5)), ("A", (0.5, 0.98)), ("P", (0.5, 0.02))):
            ax.text(*xy, text, transform=ax.transAxes, color="yellow", fontsize=9, ha="center",
                    va="center", fontweight="bold")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
        self._bar = ax.plot([], [], color="white", lw=2.5, solid_capstyle="butt")[0]
        self._bar_text = ax.text(0, 0, "", color="white", fontsize=7, ha="center", va="bottom")
        self._title = ax.set_title("", fontsize=9)
        self._contours: list[Any] = []

    def _set_view(self, centre_yx_mm: tuple[float, float] | None, zoom_half_mm: float | None) -> None:
        x0, x1, y1, y0 = self.extent  # extent is (left, right, bottom, top), rows run downwards
        if zoom_half_mm is not None and centre_yx_mm is not None:
            cy, cx = centre_yx_mm
            x0, x1, y0, y1 = cx - zoom_half_mm, cx + zoom_half_mm, cy - zoom_half_mm, cy + zoom_half_mm
        # Radiological convention: array columns/rows that run towards the patient's right (-x)
        # or anterior (-y) are flipped; the side letters say where the patient is.
        self.ax.set_xlim((x1, x0) if self._flip_x else (x0, x1))
        self.ax.set_ylim((y0, y1) if self._flip_y else (y1, y0))
        # scale bar: 5 cm (1 cm when zoomed), bottom left of the picture
        length = 10.0 if (x1 - x0) < 120 else 50.0
        left, right = sorted(self.ax.get_xlim())
        bottom, top = sorted(self.ax.get_ylim())
        bx = left + 0.06 * (right - left) if not self._flip_x else right - 0.06 * (right - left) - length
        by = top - 0.07 * (top - bottom) if not self._flip_y else bottom + 0.07 * (top - bottom)
        self._bar.set_data([bx, bx + length], [by, by])
        self._bar_text.set_position((bx + length / 2, by - 0.01 * (top - bottom) * (-1 if self._flip_y else 1)))
        self._bar_text.set_text(f"{length:.0f} mm")

    def draw(
        self,
        slice_index: int,
        title: str = "",
        marker_ij: tuple[float, float] | None = None,
        zoom_half_mm: float | None = None,
        centre_ij: tuple[float, float] | None = None,
    ) -> Figure:
        """Put slice ``slice_index`` on the figure and return it.

        The view is zoomed (``zoom_half_mm``) around the marker, else around ``centre_ij``
        (row, column) without a marker.
        """
        k = int(slice_index)
        self._ct_im.set_data(_window(np.asarray(self.ct.array[k], dtype=np.float32), *self.window))
        if self._dose_im is not None and self.dose is not None:
            d = np.asarray(self.dose.array[k], dtype=float)
            self._dose_im.set_data(np.ma.masked_less(d, self._dose_threshold))
        if self._div_im is not None and self.diverging is not None:
            self._div_im.set_data(np.ma.masked_invalid(np.asarray(self.diverging.array[k], dtype=float)))
        for cs in self._contours:
            cs.remove()
        self._contours = []
        dy, dx = self.ct.spacing_mm[1], self.ct.spacing_mm[2]
        for name, mask in self.rois:
            sl = mask[k]
            if not sl.any() or sl.all():
                continue
            # contour only the mask's bounding box (plus a voxel): much less work than the slice
            rows, cols = np.nonzero(sl)
            r0, r1 = max(rows.min() - 1, 0), min(rows.max() + 2, sl.shape[0])
            c0, c1 = max(cols.min() - 1, 0), min(cols.max() + 2, sl.shape[1])
            if r1 - r0 < 2 or c1 - c0 < 2:
                continue
            self._contours.append(self.ax.contour(
                self._xs[c0:c1], self._ys[r0:r1], sl[r0:r1, c0:c1].astype(np.float32), levels=[0.5],
                colors=[self._colours[name]], linewidths=1.2))
        if self.isodoses and self.dose is not None:
            d = np.asarray(self.dose.array[k], dtype=np.float32)
            for n, (level, _) in enumerate(self.isodoses):
                if float(d.max()) > level:
                    self._contours.append(self.ax.contour(
                        self._xs, self._ys, d, levels=[level], linestyles="--", linewidths=1.1,
                        colors=[_ISODOSE_COLOURS[n % len(_ISODOSE_COLOURS)]]))
        centre = None
        if marker_ij is not None:
            centre = (marker_ij[0] * dy, marker_ij[1] * dx)
            self._marker.set_data([centre[1]], [centre[0]])
        else:
            self._marker.set_data([], [])
            if centre_ij is not None:
                centre = (centre_ij[0] * dy, centre_ij[1] * dx)
        self._set_view(centre, zoom_half_mm)
        self._title.set_text(title)
        return self.figure

    def png(self, slice_index: int, title: str = "", marker_ij: tuple[float, float] | None = None,
            zoom_half_mm: float | None = None, dpi: int = 110,
            centre_ij: tuple[float, float] | None = None) -> bytes:
        """The slice as PNG bytes (one draw, fixed layout)."""
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = self.draw(slice_index, title, marker_ij, zoom_half_mm, centre_ij)
        if not isinstance(fig.canvas, FigureCanvasAgg):
            FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()


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

    A single slice of :class:`AxialSliceRenderer` (use the renderer for several
    slices of one study).
    """
    renderer = AxialSliceRenderer(
        ct, dose=dose, rois=rois, dose_max_gy=dose_max_gy, dose_threshold_gy=dose_threshold_gy,
        window=window, diverging=diverging, diverging_limit=diverging_limit,
        diverging_label=diverging_label, marker_label="thinnest margin" if marker_ij is not None else "",
    )
    return renderer.draw(slice_index, title, marker_ij, zoom_half_mm)


def registration_figure(
    fixed: np.ndarray,
    moving: np.ndarray,
    spacing_yx_mm: tuple[float, float],
    window: tuple[float, float] | None = (40.0, 400.0),
    title: str = "",
    squares_mm: float = 20.0,
    flip_x: bool = False,
    flip_y: bool = False,
) -> Figure:
    """Checkerboard and colour fusion of one slice of the fixed and the registered moving image.

    ``fixed`` and ``moving`` are 2D arrays on the same grid (the moving image
    resampled through the registration). ``window`` (level, width) applies to CT
    values; ``None`` scales each image to its own 1st-99th percentile (emission).
    Edges continue across the squares where the images are aligned.
    """
    def scaled(img: np.ndarray) -> np.ndarray:
        img = np.asarray(img, dtype=np.float32)
        if window is not None:
            return _window(img, *window)
        lo, hi = np.percentile(img, [1, 99.5])
        return np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)

    f, m = scaled(fixed), scaled(moving)
    dy, dx = spacing_yx_mm
    ny, nx = f.shape
    rows = (np.arange(ny) * dy // squares_mm).astype(int)
    cols = (np.arange(nx) * dx // squares_mm).astype(int)
    board = np.where((rows[:, None] + cols[None, :]) % 2 == 0, f, m)
    fused = np.stack([m, f, m], axis=-1)  # moving magenta, fixed green: grey where they agree
    fig = Figure(figsize=(8.4, 4.3))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.86, bottom=0.02, wspace=0.04)
    extent = (-0.5 * dx, (nx - 0.5) * dx, (ny - 0.5) * dy, -0.5 * dy)
    for n, (img, label) in enumerate(((board, f"checkerboard ({squares_mm:.0f} mm squares)"),
                                      (fused, "fused: fixed green, moving magenta"))):
        ax = fig.add_subplot(1, 2, n + 1)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, extent=extent,
                  interpolation="bilinear")
        if flip_x:
            ax.invert_xaxis()
        if flip_y:
            ax.invert_yaxis()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=8.5)
        for text, xy in (("R", (0.03, 0.5)), ("L", (0.97, 0.5))):
            ax.text(*xy, text, transform=ax.transAxes, color="yellow", fontsize=9, ha="center",
                    va="center", fontweight="bold")
    if title:
        fig.suptitle(title, fontsize=9.5)
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
                    model_d: Sequence[float] | np.ndarray, model_rc: Sequence[float], title: str) -> Figure:
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

