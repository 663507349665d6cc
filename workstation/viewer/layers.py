"""Volumes as napari layers in physical space.

Geometry convention
-------------------
napari maps a layer's *data* coordinates (the array axes, here (k, j, i) =
(z, y, x)) to *world* coordinates with a per-layer affine. The workstation's
world axes are the LPS patient axes **in the order (z, y, x)**, in millimetres:

* world axis 0 is LPS z (superior), the axis napari slices along in the
  default 2D view, so a 2D view is an axial slice;
* world axis 1 is LPS y (posterior), drawn downwards: anterior at the top;
* world axis 2 is LPS x (patient's left), drawn to the right: the patient's
  left on the viewer's right, the radiological display convention.

The napari affine of a volume is therefore ``P @ Volume.affine`` with ``P`` the
permutation (x, y, z) -> (z, y, x): for every voxel ``(k, j, i)``,
``layer.data_to_world((k, j, i)) == Volume.index_to_world((k, j, i))[::-1]``.
Axis-aligned grids with positive spacing are given to napari as ``scale`` and
``translate`` (which keeps napari's scale bar and fast slicing); any other grid
(oblique, flipped axes) as the full ``affine``.

Every function here returns a napari ``LayerData`` tuple ``(data, kwargs,
layer_type)`` that ``viewer._add_layer_from_data(*t)`` or a reader can use; the
source :class:`~workstation.core.Volume` travels in ``kwargs["metadata"]`` under
``"volume"`` (it shares its array with the layer, nothing is copied).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.viewer._colormaps import (
    _turbo,
    diverging_colormap,
    dose_wash_colormap,
    label_colors,
    level_colors,
)
from workstation.viewer._transforms import (
    affine_from_linear_transform,
    resample_axis_aligned,
    resample_on_reference_extent,
    slice_display_error_mm,
    slices_exactly,
)

__all__ = [
    "LPS_TO_WORLD",
    "WINDOW_PRESETS",
    "WINDOW_PRESET_SOURCE",
    "LayerData",
    "ct_layer",
    "dose_layer",
    "emission_base_window",
    "functional_layer",
    "isodose_layer",
    "labels_layer",
    "layer_geometry",
    "margin_layer",
    "name_with_unit",
    "named_labels",
    "napari_affine",
    "volume_from_layer",
    "volume_layer",
    "window_limits",
    "world_to_lps",
    "lps_to_world",
]

#: A napari layer description: (data, keyword arguments, layer type).
LayerData = tuple[Any, dict[str, Any], str]

#: Permutation taking LPS (x, y, z) to the world axis order (z, y, x).
LPS_TO_WORLD: np.ndarray = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

#: CT display windows as (width, level) in HU. Source: Radiopaedia, "Windowing (CT)"
#: (https://radiopaedia.org/articles/windowing-ct), common presets: abdomen soft
#: tissue W400 L50, liver W150 L30, lung W1500 L-600, bone W1800 L400.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "soft tissue": (400.0, 50.0),
    "liver": (150.0, 30.0),
    "lung": (1500.0, -600.0),
    "bone": (1800.0, 400.0),
}
WINDOW_PRESET_SOURCE = "Radiopaedia, Windowing (CT), https://radiopaedia.org/articles/windowing-ct"

#: Range of the contrast slider of CT layers (HU): the 12-bit CT number scale.
_CT_SLIDER_RANGE_HU = (-1024.0, 3071.0)

#: An emission image (SPECT/PET) shown without a CT is the grey base layer, windowed
#: from 0 to this many times the median uptake of the body, so that the background
#: (normal liver, soft tissue) shows as mid grey and hot lesions saturate. A project
#: choice, comparable to reading a PET at SUV 0-6 when the body background is about
#: SUV 2; the window with the percentile of :func:`functional_layer` instead puts a
#: 10:1 background at a tenth of the scale, nearly black.
EMISSION_BASE_WINDOW_MEDIANS = 3.0
#: The body of an emission image: voxels above this fraction of its 99.9th percentile
#: (outside the body an emission image holds noise or zeros).
EMISSION_BODY_FRACTION = 0.02
#: Colour map of an emission base layer: grey, so that a dose wash or fused colours
#: over it keep their meaning.
EMISSION_BASE_COLORMAP = "gray"


# ------------------------------------------------------------------ geometry
def napari_affine(volume: Volume) -> np.ndarray:
    """4×4 affine from array index (k, j, i) to napari world (z, y, x) LPS millimetres."""
    out = np.eye(4)
    out[:3, :] = LPS_TO_WORLD @ volume.affine[:3, :]
    return out


def lps_to_world(points_lps_mm: Any) -> np.ndarray:
    """LPS (x, y, z) millimetres (…, 3) to napari world coordinates (z, y, x)."""
    return np.asarray(points_lps_mm, dtype=float)[..., ::-1].copy()


def world_to_lps(points_world: Any) -> np.ndarray:
    """napari world coordinates (z, y, x) (…, 3) to LPS (x, y, z) millimetres."""
    return np.asarray(points_world, dtype=float)[..., ::-1].copy()


def layer_geometry(volume: Volume, world_from_lps: np.ndarray | None = None) -> dict[str, Any]:
    """napari placement keywords of a volume: ``scale``/``translate`` or ``affine``.

    Parameters
    ----------
    volume:
        The volume to place.
    world_from_lps:
        Optional 4×4 LPS→LPS map applied after the volume's own affine, e.g.
        the inverse of a registration transform (moving space → fixed space).
    """
    lps = volume.affine if world_from_lps is None else world_from_lps @ volume.affine
    aff = np.eye(4)
    aff[:3, :] = LPS_TO_WORLD @ lps[:3, :]
    linear = aff[:3, :3]
    diag = np.diag(linear)
    off_diag = linear - np.diag(diag)
    if np.all(np.abs(off_diag) <= 1e-9 * np.max(np.abs(diag))) and np.all(diag > 0):
        return {"scale": tuple(float(s) for s in diag), "translate": tuple(float(t) for t in aff[:3, 3])}
    return {"affine": aff}


def _metadata(volume: Volume, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"volume": volume, "units": volume.units.value}
    error_mm = slice_display_error_mm(napari_affine(volume), volume.shape)
    if error_mm > 0.1 * float(np.min(volume.spacing_mm)):
        # An oblique grid (e.g. gantry tilt): napari draws each data slice
        # without the out-of-slice rotation, so positions on screen are off by
        # up to this much (coordinates and measurements stay exact).
        meta["display_error_mm"] = round(error_mm, 2)
    meta.update(extra)
    return meta


def _name(volume: Volume, default: str) -> str:
    md = volume.metadata
    return md.series_description or (volume.modality or default)


def name_with_unit(name: str, unit: Unit) -> str:
    """``name (unit)`` for a quantitative layer, unless the name already says its unit.

    The layer name is the title of its colour bar, so every colour bar says its unit.
    """
    if unit in (Unit.UNKNOWN, Unit.LABEL) or f"({unit.value.lower()})" in name.lower():
        return name
    return f"{name} ({unit.value})"


def window_limits(preset: str) -> tuple[float, float]:
    """Contrast limits (HU) of a named window preset (see :data:`WINDOW_PRESETS`)."""
    key = preset.strip().lower().replace("_", " ").replace("-", " ")
    if key not in WINDOW_PRESETS:
        raise InvalidInputError(
            f"Unknown CT window preset {preset!r}; choose one of {', '.join(WINDOW_PRESETS)}."
        )
    width, level = WINDOW_PRESETS[key]
    return level - width / 2.0, level + width / 2.0


# -------------------------------------------------------------- image layers
def volume_layer(volume: Volume, name: str | None = None, **kwargs: Any) -> LayerData:
    """A layer for any volume: a labels layer for label volumes, else an image.

    CT (modality ``CT`` or units HU) gets the soft-tissue window, NM/PET a
    functional colour map, dose (Gy) the dose wash.
    """
    if volume.units == Unit.LABEL:
        return labels_layer(volume, name=name, **kwargs)
    if volume.units == Unit.GY or volume.modality == "RTDOSE":
        return dose_layer(volume, name=name, **kwargs)
    if volume.units == Unit.MM:
        return margin_layer(volume, name=name, **kwargs)
    if volume.is_ct():
        return ct_layer(volume, name=name, **kwargs)
    if volume.modality in ("NM", "PT") or volume.units in (Unit.BQML, Unit.COUNTS):
        return functional_layer(volume, name=name, **kwargs)
    data_min, data_max = _finite_range(volume.array)
    return (
        volume.array,
        {
            "name": name or _name(volume, "image"),
            "colormap": "gray",
            "contrast_limits": (data_min, data_max if data_max > data_min else data_min + 1.0),
            "metadata": _metadata(volume),
            **layer_geometry(volume),
            **kwargs,
        },
        "image",
    )


def ct_layer(volume: Volume, preset: str = "soft tissue", name: str | None = None) -> LayerData:
    """A grey CT layer with a window preset (see :data:`WINDOW_PRESETS`)."""
    lo, hi = window_limits(preset)
    return (
        volume.array,
        {
            "name": name or _name(volume, "CT"),
            "colormap": "gray",
            "contrast_limits": (lo, hi),
            "blending": "translucent_no_depth",
            "metadata": _metadata(volume, window_preset=preset, slider_range_hu=_CT_SLIDER_RANGE_HU),
            **layer_geometry(volume),
        },
        "image",
    )


def functional_layer(
    volume: Volume,
    transform: Any | None = None,
    reference: Volume | None = None,
    name: str | None = None,
    colormap: str = "inferno",
    opacity: float = 0.6,
    upper_percentile: float = 99.9,
    as_base: bool = False,
) -> LayerData:
    """SPECT/PET fused over CT (or the base layer without CT), the registration applied through the layer affine.

    Parameters
    ----------
    volume:
        The functional (moving) image.
    transform:
        Optional SimpleITK transform mapping points of the fixed (CT) space to
        the moving space (ITK convention, as ``registration.register`` returns).
        A linear transform whose rotation is about the slice axis (z) only is
        applied exactly through the layer affine, so neither image is
        resampled. napari draws a 2D slice without the out-of-slice part of an
        affine, so a rotation about x or y (one that would displace a voxel
        by more than a tenth of the voxel size) makes this function resample the
        functional image (never the CT), at its own voxel size, onto an
        axis-aligned grid in the fixed space. A non-linear (deformable) transform cannot
        be an affine: the functional image (not the CT) is then resampled,
        at its own voxel size, onto a grid covering ``reference``.
    reference:
        The fixed image; needed only for a non-linear ``transform``.
    colormap:
        A napari colour map name.
    opacity:
        Layer opacity (0–1); the layer is blended additively over the CT.
    upper_percentile:
        The upper contrast limit is this percentile of the positive voxels.
    as_base:
        Style it as the base layer of a study without CT (grey,
        :func:`emission_base_window`) rather than fused over a CT. Both styles
        travel in ``metadata["emission_styles"]``; the viewer switches between them
        when a CT is added or removed.

    The name ends with the unit (``"… (Bq/mL)"``) and the colour bar is shown.
    """
    vol = volume
    world_from_lps = None
    resampled = False
    if transform is not None:
        fixed_from_moving = affine_from_linear_transform(transform, vol)
        if fixed_from_moving is not None and slices_exactly(
            napari_affine(vol.copy_with(affine=fixed_from_moving @ vol.affine)), vol.shape, vol.spacing_mm
        ):
            world_from_lps = fixed_from_moving
        elif fixed_from_moving is not None:
            # An out-of-slice rotation: napari would draw the slice unrotated, so
            # resample the functional image (not the CT) onto an axis-aligned grid.
            vol = resample_axis_aligned(volume, fixed_from_moving)
            resampled = True
        else:
            if reference is None:
                raise InvalidInputError(
                    "A non-linear registration transform needs the fixed image as reference "
                    "to place the functional image."
                )
            vol = resample_on_reference_extent(volume, reference, transform)
            resampled = True
    positive = _subsample(vol.array)
    positive = positive[positive > 0]
    hi = float(np.percentile(positive, upper_percentile)) if positive.size else 1.0
    fused = {"colormap": colormap, "contrast_limits": (0.0, hi if hi > 0 else 1.0),
             "blending": "additive", "opacity": opacity}
    base_lo, base_hi = emission_base_window(vol)
    base = {"colormap": EMISSION_BASE_COLORMAP, "contrast_limits": (base_lo, base_hi),
            "blending": "translucent_no_depth", "opacity": 1.0}
    style = base if as_base else fused
    return (
        vol.array,
        {
            "name": name_with_unit(name or _name(volume, "functional"), vol.units),
            **style,
            "metadata": _metadata(
                vol, registered=transform is not None, resampled=resampled, colorbar=True,
                emission_styles={"base": base, "fused": fused}, emission_role="base" if as_base else "fused",
            ),
            **layer_geometry(vol, world_from_lps),
        },
        "image",
    )


def _subsample(array: np.ndarray, voxels: float = 2e6) -> np.ndarray:
    """Every n-th voxel along each axis, about ``voxels`` of them (percentiles of a large image)."""
    if array.size <= voxels:
        return array
    step = int(np.ceil((array.size / voxels) ** (1.0 / array.ndim)))
    return array[(slice(None, None, step),) * array.ndim]


def emission_base_window(volume: Volume) -> tuple[float, float]:
    """Grey window (lo, hi) of an emission image shown as the base layer (no CT).

    ``hi`` is :data:`EMISSION_BASE_WINDOW_MEDIANS` times the median of the body
    voxels (above :data:`EMISSION_BODY_FRACTION` of the 99.9th percentile), at most
    that percentile; ``lo`` is 0.
    """
    values = _subsample(volume.array)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 0.0, 1.0
    top = float(np.percentile(values, 99.9))
    body = values[values > EMISSION_BODY_FRACTION * top]
    hi = min(EMISSION_BASE_WINDOW_MEDIANS * float(np.median(body)), top) if body.size else top
    return 0.0, hi if hi > 0 else 1.0


def dose_layer(
    dose: Volume,
    threshold_gy: float | None = None,
    max_gy: float | None = None,
    name: str | None = None,
    opacity: float = 0.5,
) -> LayerData:
    """Absorbed dose as a colour wash: turbo colours, transparent below a threshold.

    Parameters
    ----------
    dose:
        Absorbed dose volume in Gy.
    threshold_gy:
        Doses at or below this value are fully transparent. Default: 5 % of the
        maximum dose.
    max_gy:
        Dose mapped to the top of the colour map (higher doses saturate).
        Default: the maximum dose.
    opacity:
        Opacity of the coloured voxels (0–1).
    """
    d_min, d_max = _finite_range(dose.array)
    top = float(max_gy) if max_gy is not None else d_max
    if top <= 0:
        top = 1.0
    thr = float(threshold_gy) if threshold_gy is not None else 0.05 * top
    if thr >= top:
        raise InvalidInputError(
            f"The dose threshold {thr:g} Gy must be below the top of the colour scale {top:g} Gy."
        )
    return (
        dose.array,
        {
            "name": name_with_unit(name or "dose", Unit.GY),
            "colormap": dose_wash_colormap(),
            "contrast_limits": (thr, top),
            "blending": "translucent_no_depth",
            "opacity": opacity,
            "metadata": _metadata(dose, threshold_gy=thr, colorbar=True),
            **layer_geometry(dose),
        },
        "image",
    )


def margin_layer(
    margin_mm: Volume,
    limit_mm: float = 10.0,
    name: str | None = None,
) -> LayerData:
    """The signed margin map (mm) with a diverging colour map centred on 0 mm.

    Red is a negative margin (tumour outside the ablation zone), blue a
    positive one; ``±limit_mm`` saturate. Non-finite voxels (no margin defined)
    are shown transparent.
    """
    arr = margin_mm.array
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        arr = np.where(np.isfinite(arr), arr, np.nan).astype(np.float32)
    return (
        arr,
        {
            "name": name_with_unit(name or "margin", Unit.MM),
            "colormap": diverging_colormap(),
            "contrast_limits": (-float(limit_mm), float(limit_mm)),
            "blending": "translucent_no_depth",
            "metadata": _metadata(margin_mm, colorbar=True),
            **layer_geometry(margin_mm),
        },
        "image",
    )


# -------------------------------------------------------------- label layers
def labels_layer(
    labels: Volume,
    name: str | None = None,
    contour: int = 0,
    opacity: float = 0.6,
    color: Sequence[float] | None = None,
) -> LayerData:
    """A labels layer with the volume's label names and stable colours.

    Parameters
    ----------
    labels:
        Label volume (``units == Unit.LABEL``) or any mask (non-zero = 1).
    contour:
        0 fills the labels; n > 0 draws outlines n pixels thick. napari's
        ``add_labels`` does not take it, so it travels in
        ``metadata["contour"]`` and :func:`workstation.viewer.add_layer` sets it.
    color:
        One RGB colour (0–1) for every label, e.g. for outlines over a dose
        wash; default: a distinct tab10 colour per label value.
    """
    arr = labels.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif not np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.int32) if labels.label_names else (arr != 0).astype(np.uint8)
    if labels.label_names:
        values = sorted(int(v) for v in labels.label_names if int(v) != 0)
    else:
        values = [int(v) for v in np.unique(arr) if v != 0]
    names = {v: labels.label_names.get(v, f"label {v}") for v in values}
    return (
        arr,
        {
            "name": name or _label_layer_name(labels),
            "colormap": label_colors(values, color),
            "features": {"index": [0, *values], "name": ["background", *[names[v] for v in values]]},
            "opacity": opacity,
            "blending": "translucent_no_depth",
            "metadata": _metadata(labels, label_names=names, contour=int(contour)),
            **layer_geometry(labels),
        },
        "labels",
    )


def _label_layer_name(labels: Volume) -> str:
    if labels.metadata.series_description:
        return labels.metadata.series_description
    names = [n for n in labels.label_names.values() if not _GENERIC_LABEL.fullmatch(n)]
    if len(labels.label_names) == 1 and names:
        return names[0]
    return "labels"


#: Label names that say nothing ("label 3"): the readers' default when a file has no names.
_GENERIC_LABEL = re.compile(r"label \d+")


def named_labels(labels: Volume, name: str) -> Volume:
    """The label volume named ``name`` (its layer name), its unnamed labels after it.

    A label called only "label N" (a file without label names) becomes ``name``
    when it is the only label, else ``"name N"``; real names (Slicer segments,
    TotalSegmentator classes, a colour table) are kept.
    """
    values = sorted(int(v) for v in labels.label_names) or [int(v) for v in np.unique(labels.array) if v != 0][:256]
    names = {}
    for v in values:
        given = labels.label_names.get(v, "")
        if given and not _GENERIC_LABEL.fullmatch(given):
            names[v] = given
        else:
            names[v] = name if len(values) == 1 else f"{name} {v}"
    out = labels.copy_with(units=Unit.LABEL, label_names=names)
    out.metadata.series_description = name
    return out


def isodose_layer(
    dose: Volume,
    levels_gy: Sequence[float],
    name: str | None = None,
    color_range_gy: tuple[float, float] | None = None,
) -> LayerData:
    """Isodose lines at chosen dose levels, as a labels layer.

    Label ``n`` (1-based) marks the in-plane boundary voxels of the region
    ``dose >= levels_gy[n-1]``: the voxels of the region with a 4-neighbour
    (same axial slice) outside it. Where two lines meet, the higher level wins.

    Parameters
    ----------
    dose:
        Absorbed dose in Gy.
    levels_gy:
        Dose levels in Gy (any order, positive, distinct).
    name:
        Layer name; default ``"isodose 40, 70 Gy"`` (the levels: the legend shown
        under the dose colour bar, whose colours the lines take).
    color_range_gy:
        Dose range (Gy) spanned by the turbo colours, e.g. the dose wash's
        contrast limits so that a line has the colour of the wash at its level.
        Default: 0 to the highest level.
    """
    levels = np.asarray(sorted(float(v) for v in levels_gy), dtype=float)
    if levels.size == 0 or levels.size > 250:
        raise InvalidInputError(f"Give between 1 and 250 isodose levels, not {levels.size}.")
    if np.any(levels <= 0) or np.any(np.diff(levels) <= 0):
        raise InvalidInputError(f"Isodose levels must be positive and distinct, not {levels.tolist()}.")
    lines = np.zeros(dose.shape, dtype=np.uint8)
    # Work inside the bounding box of the lowest level (+1 voxel): a few % of a CT grid.
    lowest = dose.array >= levels[0]
    box = _bounding_slices(lowest, pad=1)
    if box is not None:
        sub = dose.array[box]
        out = lines[box]
        for n, level in enumerate(levels, start=1):
            out[_inplane_boundary(sub >= level)] = n
    values = list(range(1, levels.size + 1))
    lo, hi = color_range_gy if color_range_gy is not None else (0.0, float(levels[-1]))
    positions = (levels - lo) / (hi - lo) if hi > lo else np.ones_like(levels)
    if name is None:
        name = "isodose " + ", ".join(f"{lv:g}" for lv in levels) + " Gy"
    return (
        lines,
        {
            "name": name,
            "colormap": level_colors(positions),
            "opacity": 1.0,
            "blending": "translucent_no_depth",
            "features": {"index": [0, *values], "name": ["", *[f"{lv:g} Gy" for lv in levels]]},
            "metadata": _metadata(dose, levels_gy=levels.tolist(), legend=True,
                                  level_colors=[tuple(float(c) for c in rgba) for rgba in _level_rgba(positions)]),
            **layer_geometry(dose),
        },
        "labels",
    )


def _level_rgba(positions: np.ndarray) -> np.ndarray:
    return _turbo(np.clip(np.asarray(positions, dtype=float), 0.0, 1.0))


def _bounding_slices(mask: np.ndarray, pad: int = 0) -> tuple[slice, ...] | None:
    """Index box of the True voxels, grown by ``pad`` voxels; None when there are none."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(np.any(mask, axis=other))
        if hit.size == 0:
            return None
        box.append(slice(max(int(hit[0]) - pad, 0), min(int(hit[-1]) + pad + 1, mask.shape[axis])))
    return tuple(box)


def _inplane_boundary(region: np.ndarray) -> np.ndarray:
    """Voxels of ``region`` (z, y, x) with a 4-neighbour outside it in their slice."""
    inner = region.copy()
    inner[:, 1:, :] &= region[:, :-1, :]
    inner[:, :-1, :] &= region[:, 1:, :]
    inner[:, :, 1:] &= region[:, :, :-1]
    inner[:, :, :-1] &= region[:, :, 1:]
    inner[:, 0, :] = False
    inner[:, -1, :] = False
    inner[:, :, 0] = False
    inner[:, :, -1] = False
    return region & ~inner


# ------------------------------------------------------------- back to Volumes
def volume_from_layer(data: Any, meta: dict[str, Any], units: Unit | str | None = None) -> Volume:
    """Rebuild a :class:`Volume` from a layer's data and its napari metadata.

    The geometry comes from the layer's ``scale``/``translate``/``affine``
    (the inverse of :func:`layer_geometry`); metadata (frame of reference,
    DICOM headers, label names) from the source volume when the layer has one.
    """
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise InvalidInputError(f"Only 3D layers can be saved as volumes, but this one is {arr.ndim}D.")
    world = np.eye(4)
    affine = meta.get("affine")
    if affine is not None:
        a = np.asarray(getattr(affine, "affine_matrix", affine), dtype=float)
        if a.shape == (4, 4):
            world = a
    scale = np.asarray(meta.get("scale", (1.0, 1.0, 1.0)), dtype=float)[-3:]
    translate = np.asarray(meta.get("translate", (0.0, 0.0, 0.0)), dtype=float)[-3:]
    st = np.eye(4)
    st[:3, :3] = np.diag(scale)
    st[:3, 3] = translate
    world = world @ st
    lps = np.eye(4)
    lps[:3, :] = LPS_TO_WORLD.T @ world[:3, :]
    source = (meta.get("metadata") or {}).get("volume")
    if isinstance(source, Volume):
        return source.copy_with(array=arr, affine=lps, **({"units": Unit.parse(units)} if units else {}))
    return Volume(arr, lps, units=Unit.parse(units))


def _finite_range(array: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values; one pass each when there is no NaN/inf."""
    if array.size == 0:
        return 0.0, 1.0
    lo, hi = float(array.min()), float(array.max())
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(array), array, np.nan)
        if np.all(np.isnan(finite)):
            return 0.0, 1.0
        return float(np.nanmin(finite)), float(np.nanmax(finite))
