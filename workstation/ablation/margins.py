"""Sub-voxel ablation margins per tumour (the ``results.json`` of ``workstation margin``).

Definitions (contract ``shared/spec/CLI.md``): the margin at a point of the
tumour surface is the signed distance from that point to the ablation-zone
surface, positive inside the zone, negative outside.

Method
------
1. Each tumour (a label value of a label image, else a 26-connected component)
   and the ablation zone become continuous fields on crops of their own grids
   (:mod:`workstation.ablation._surface`): binary masks are blurred by a
   Gaussian of :data:`BINARY_SMOOTHING_MM` (mm, every axis), fractional masks
   are used as given. Their 0.5 iso-surfaces are meshed by marching cubes in index
   space and mapped to LPS millimetres, so masks on different grids need no
   resampling.
2. The margin at every tumour-surface vertex is its exact distance to the
   zone's triangles, signed by the zone field at the vertex. Margins beyond
   ``margin_limit_mm`` (far from anything clinically relevant) are clipped to
   it so that crops stay small; the limit is reported.
3. Percentiles and surface fractions are exact areas of the mesh with the
   margin interpolated linearly over each triangle.
4. With a liver mask, surface points within ``subcapsular_mm`` of the liver
   surface (or outside the liver) are excluded from the minimal margin.

A voxel-centre distance map is biased by up to a voxel; on the analytic cases
of ``tests/ablation`` this method is within half a voxel (see ``benchmarks/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from workstation import __version__
from workstation.ablation._surface import (
    ISO_LEVEL,
    MaskField,
    crop_array,
    index_box_world,
    make_field,
    world_box_to_index_box,
)
from workstation.ablation.coverage import coverage_metrics
from workstation.core.errors import EmptyMaskError, InvalidInputError, NoOverlapError
from workstation.core.volume import Unit, Volume

__all__ = [
    "BINARY_SMOOTHING_MM",
    "FRACTIONAL_SMOOTHING_MM",
    "MASK_KINDS",
    "SURFACE_FRACTION_BINS_MM",
    "MarginAnalysis",
    "TumorSurface",
    "analyse_margins",
    "compute_margins",
    "mask_kind",
]

#: How a mask was interpreted: a binary mask (non-zero = inside), a label image
#: (one tumour per value) or a fractional (partial-volume, 0..1) mask.
MASK_KINDS: tuple[str, ...] = ("binary", "label", "fractional")

#: Surface-fraction bins (mm): below 0, [0, 5), [5, 10), at least 10.
SURFACE_FRACTION_BINS_MM: tuple[float, float, float] = (0.0, 5.0, 10.0)

_PERCENTILES: tuple[int, ...] = (5, 25, 50, 75, 95)

#: Gaussian sigma (mm, every axis; at least the finest voxel size) applied to
#: binary masks before their 0.5 iso-surface is taken. Chosen on the analytic
#: cases of tests/ablation at 1 mm and 0.7x0.7x2.5 mm: it removes the staircase
#: (surface fractions within 2 %) while the inward shift of strongly curved
#: parts stays about sigma^2 x mean curvature (0.1 mm at a 3 mm tip radius).
BINARY_SMOOTHING_MM: float = 1.0

#: Gaussian sigma (mm, every axis) for fractional (partial-volume) masks: the
#: 0.5 level of a partial-volume image is exact only for flat surfaces; a light
#: blur evens out the curvature error of thick slices (surface fractions of the
#: analytic cases at 0.7x0.7x2.5 mm from ~2 % to < 1 %).
FRACTIONAL_SMOOTHING_MM: float = 0.7

#: More distinct values than this and a "mask" is taken to be an image given by mistake.
_MAX_LABELS: int = 255


@dataclass
class TumorSurface:
    """Margins on the surface mesh of one tumour.

    Attributes
    ----------
    label:
        Tumour label (label value, or 1..N for connected components).
    vertices_lps_mm:
        (N, 3) surface points, LPS mm.
    faces:
        (M, 3) triangles.
    margin_mm:
        Signed margin (mm) at each vertex.
    area_mm2:
        Surface area (mm²) each vertex represents.
    subcapsular:
        True where the point is excluded from the minimum as subcapsular.
    """

    label: int
    vertices_lps_mm: np.ndarray
    faces: np.ndarray
    margin_mm: np.ndarray
    area_mm2: np.ndarray
    subcapsular: np.ndarray


@dataclass
class MarginAnalysis:
    """Everything :func:`analyse_margins` computes.

    Attributes
    ----------
    results:
        The ``results.json`` dictionary of the ``margin`` command.
    margin_map:
        Signed margin (mm) on the tumour-surface voxels, NaN elsewhere; on the
        tumour grid cropped to the tumours' bounding box (+1 voxel): same
        spacing and orientation, its own origin.
    surfaces:
        Per-tumour surface meshes with their margins.
    """

    results: dict[str, Any]
    margin_map: Volume
    surfaces: list[TumorSurface] = field(default_factory=list)


# ------------------------------------------------------------------ masks
def mask_kind(volume: Volume, name: str, allow_labels: bool) -> str:
    """Decide whether a mask is binary, a label image or fractional (0..1).

    Raises
    ------
    InvalidInputError
        When the values are neither integers nor fractions in [0, 1].
    """
    arr = volume.array
    if arr.dtype == bool:
        return "binary"
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"The {name} mask contains NaN or infinite values.")
        integral = bool(np.all(arr == np.round(arr)))
        if not integral:
            if arr.min() < 0.0 or arr.max() > 1.0 + 1e-6:
                raise InvalidInputError(
                    f"The {name} mask has non-integer values outside 0..1 "
                    f"(range {float(arr.min()):g}..{float(arr.max()):g}); give a binary, "
                    "label or fractional (0..1) mask."
                )
            return "fractional"
    if allow_labels:
        mx, mn = arr.max(), arr.min()
        if mn < 0:
            raise InvalidInputError(f"The {name} mask has negative values; labels must be >= 0.")
        if mx > 1:
            n_labels = np.unique(arr[arr != 0]).size
            if n_labels > _MAX_LABELS:
                raise InvalidInputError(
                    f"The {name} mask has {n_labels} distinct values; it looks like an image, "
                    "not a mask or label image."
                )
            if n_labels > 1:
                return "label"
    return "binary"


def _values_01(volume: Volume, kind: str) -> np.ndarray:
    """Mask values in 0..1 (bool, 0/1 integers or fractions); the input array when it already is."""
    arr = volume.array
    if kind == "fractional":
        return arr
    if arr.dtype == bool or (arr.dtype.kind in "iu" and arr.max() <= 1 and arr.min() >= 0):
        return arr
    return arr != 0


def _nonzero_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    axes = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        axes.append((hit[0], hit[-1] + 1))
    lo = np.array([a for a, _ in axes])
    hi = np.array([b for _, b in axes])
    return lo, hi


@dataclass
class _Tumor:
    label: int
    lo: np.ndarray  # index box [lo, hi) in the tumour grid
    hi: np.ndarray
    select: Any  # callable(crop_lo, crop_hi) -> boolean crop of this tumour


def _tumors(volume: Volume, kind: str, values: np.ndarray) -> list[_Tumor]:
    box = _nonzero_box(values)
    if box is None:
        src = volume.metadata.source_path or "tumor"
        raise EmptyMaskError(f"The tumor mask {src} is empty (no voxel inside).")
    blo, bhi = box
    sub = tuple(slice(int(a), int(b)) for a, b in zip(blo, bhi, strict=True))
    if kind == "label":
        labels = volume.array[sub].astype(np.int64)
        values_present = np.unique(labels[labels != 0])
    else:
        labels, count = ndi.label(values[sub], structure=np.ones((3, 3, 3), dtype=bool))
        values_present = np.arange(1, count + 1)
    out: list[_Tumor] = []
    for value in values_present:
        where = _nonzero_box(labels == value)
        assert where is not None
        lo, hi = where[0] + blo, where[1] + blo

        def select(c_lo: np.ndarray, c_hi: np.ndarray, value: int = int(value)) -> np.ndarray:
            return crop_array(labels, c_lo - blo, c_hi - blo) == value

        out.append(_Tumor(int(value), lo, hi, select))
    return out


# ------------------------------------------------------------- statistics
def _triangle_fraction_below(s: np.ndarray, t: float) -> np.ndarray:
    """Area fraction of each triangle where the linearly interpolated margin is < t.

    ``s`` is (n_triangles, 3) corner margins sorted per row, a <= b <= c. The
    region {m < t} is a corner triangle (t <= b) or the complement of one
    (t > b), whose area scales with the square of the cut.
    """
    a, b, c = s[:, 0], s[:, 1], s[:, 2]
    out = np.zeros(len(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        low = (t > a) & (t <= b)
        out = np.where(low, (t - a) ** 2 / ((b - a) * (c - a)), out)
        high = (t > b) & (t < c)
        out = np.where(high, 1.0 - (c - t) ** 2 / ((c - a) * (c - b)), out)
    out = np.where(t >= c, 1.0, out)
    return np.nan_to_num(np.clip(out, 0.0, 1.0), nan=0.0)


class _SurfaceMargins:
    """Margin on a triangle mesh, linear over each triangle; area-exact statistics."""

    def __init__(self, margin_at_vertex: np.ndarray, faces: np.ndarray, triangle_area: np.ndarray):
        self.sorted = np.sort(margin_at_vertex[faces], axis=1)
        self.area = triangle_area
        self.total = float(triangle_area.sum())

    def fraction_below(self, t: float) -> float:
        return float((_triangle_fraction_below(self.sorted, t) * self.area).sum() / self.total)

    def percentile(self, q: float) -> float:
        lo, hi = float(self.sorted[:, 0].min()), float(self.sorted[:, 2].max())
        target = q / 100.0
        for _ in range(32):  # bisection to 2^-32 of the range
            mid = 0.5 * (lo + hi)
            if self.fraction_below(mid) < target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)


def _surface_fractions(surface: _SurfaceMargins) -> dict[str, float]:
    a, b, c = (surface.fraction_below(t) for t in SURFACE_FRACTION_BINS_MM)
    return {"below_0mm": a, "0_to_5mm": b - a, "5_to_10mm": c - b, "at_least_10mm": 1.0 - c}


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


# ------------------------------------------------------------------ main
def analyse_margins(
    tumor: Volume,
    ablation: Volume,
    liver: Volume | None = None,
    subcapsular_mm: float = 5.0,
    margin_limit_mm: float = 30.0,
    coverage_radii_mm: tuple[float, ...] = (0.0, 5.0, 10.0),
    fine_spacing_mm: float | None = None,
    binary_surface: str = "gaussian",
    smoothing_mm: float = BINARY_SMOOTHING_MM,
    constrained_iterations: int = 100,
    fractional_smoothing_mm: float = FRACTIONAL_SMOOTHING_MM,
    registration: dict[str, Any] | None = None,
) -> MarginAnalysis:
    """Margins, surface fractions and coverage of each tumour by an ablation zone.

    Parameters
    ----------
    tumor:
        Tumour mask: binary (each 26-connected component is a tumour), label
        image (each value is a tumour) or fractional (0..1 partial volume).
    ablation:
        Ablation-zone mask (binary or fractional), on any grid overlapping the tumour's.
    liver:
        Optional liver mask; enables the subcapsular exclusion.
    subcapsular_mm:
        Tumour-surface points within this distance (mm) of the liver surface
        are excluded from the minimal margin.
    margin_limit_mm:
        Margins are computed exactly up to this magnitude (mm) and clipped beyond.
    coverage_radii_mm:
        Radii (mm) of the insufficient-coverage volumes; radii > 0 also give
        periablational shell fractions.
    fine_spacing_mm:
        Grid spacing (mm) of the coverage computation; default
        min(0.5, finest input spacing).
    binary_surface:
        How binary masks become surfaces: ``"gaussian"`` (blur by
        ``smoothing_mm``, then the 0.5 iso-surface) or ``"constrained"``
        (staircase mesh smoothed within half a voxel along each grid edge,
        ``constrained_iterations`` Taubin steps).
    smoothing_mm:
        Gaussian sigma (mm) for ``"gaussian"``; at least the finest voxel size.
    constrained_iterations:
        Taubin λ|μ steps for ``"constrained"``.
    fractional_smoothing_mm:
        Gaussian sigma (mm) applied to fractional masks (0 for none).
    registration:
        Registration report to include in the results (pre/post CT mode).

    Returns
    -------
    MarginAnalysis
    """
    if subcapsular_mm < 0:
        raise InvalidInputError(f"--subcapsular-mm must be >= 0, got {subcapsular_mm}.")
    if margin_limit_mm <= 10.0:
        raise InvalidInputError(f"The margin limit must exceed 10 mm, got {margin_limit_mm}.")
    if not tumor.overlaps(ablation):
        raise NoOverlapError(
            "The tumor and ablation masks do not overlap in patient space "
            f"(tumor bounds {np.round(tumor.bounding_box_world(), 1).tolist()} mm, "
            f"ablation bounds {np.round(ablation.bounding_box_world(), 1).tolist()} mm)."
        )
    if liver is not None and not tumor.overlaps(liver):
        raise NoOverlapError("The liver mask does not overlap the tumor mask in patient space.")

    t_kind = mask_kind(tumor, "tumor", allow_labels=True)
    z_kind = mask_kind(ablation, "ablation", allow_labels=False)
    l_kind = mask_kind(liver, "liver", allow_labels=False) if liver is not None else None
    t_values = _values_01(tumor, "fractional" if t_kind == "fractional" else "binary")
    z_values = _values_01(ablation, z_kind)
    if not z_values.any():
        src = ablation.metadata.source_path or "ablation"
        raise EmptyMaskError(f"The ablation mask {src} is empty (no voxel inside).")
    l_values = _values_01(liver, l_kind) if liver is not None and l_kind is not None else None
    tumors = _tumors(tumor, t_kind, t_values)

    spacings = [tumor.spacing_mm.min(), ablation.spacing_mm.min()]
    h_fine = float(fine_spacing_mm) if fine_spacing_mm else float(min(0.5, *spacings))
    if binary_surface not in ("constrained", "gaussian"):
        raise InvalidInputError(f"binary_surface must be 'constrained' or 'gaussian', not {binary_surface!r}.")

    def surface_options(kind: str | None, volume: Volume | None) -> tuple[Any, int]:
        if volume is None or (kind == "fractional" and fractional_smoothing_mm <= 0):
            return 0.0, 0
        if kind == "fractional":
            return fractional_smoothing_mm / volume.spacing_mm, 0
        if binary_surface == "gaussian":
            sp = volume.spacing_mm
            return max(smoothing_mm, float(sp.min())) / sp, 0
        return 0.0, constrained_iterations

    sig_t, it_t = surface_options(t_kind, tumor)
    sig_z, it_z = surface_options(z_kind, ablation)
    sig_l, it_l = surface_options(l_kind, liver)
    r_max = max(coverage_radii_mm)

    # The margin map covers the tumours' bounding box (+1 voxel) on the tumour grid.
    map_lo = np.maximum(np.min([tm.lo for tm in tumors], axis=0) - 1, 0)
    map_hi = np.minimum(np.max([tm.hi for tm in tumors], axis=0) + 1, np.array(tumor.shape))
    margin_map = np.full(tuple(int(x) for x in map_hi - map_lo), np.nan, dtype=np.float32)
    records: list[dict[str, Any]] = []
    surfaces: list[TumorSurface] = []
    warnings: list[str] = []
    for tm in tumors:
        # --- tumour field: bounding box + the largest dilation + smoothing support
        pad_t = np.ceil((r_max + 2.0) / tumor.spacing_mm).astype(int) + int(np.ceil(3 * np.max(sig_t))) + 2
        c_lo, c_hi = tm.lo - pad_t, tm.hi + pad_t
        selected = tm.select(c_lo, c_hi)
        if t_kind == "fractional":
            raw = crop_array(t_values, c_lo, c_hi)
            raw[~selected] = 0.0
        else:
            raw = selected.astype(np.float32)
        t_field = make_field(raw, c_lo, tumor.affine, sig_t, it_t)
        mesh = t_field.surface()
        if mesh.is_empty:
            warnings.append(f"Tumor {tm.label} is too small to have a surface at the 0.5 level; skipped.")
            continue
        verts = mesh.vertices_lps_mm
        area = mesh.vertex_areas_mm2()
        wmin, wmax = index_box_world(tumor.affine, tm.lo, tm.hi)

        # --- ablation zone field around this tumour (fake crop faces lie beyond the limit)
        z_field = _field_around(ablation, z_values, wmin, wmax, margin_limit_mm + 2.0, sig_z, it_z)
        z_mesh = z_field.surface()
        dist = z_mesh.distance_mm(verts, upper_bound_mm=margin_limit_mm + 2.0 * float(ablation.spacing_mm.max()))
        inside = z_field.sample(verts) > ISO_LEVEL
        margin = np.clip(np.where(inside, dist, -dist), -margin_limit_mm, margin_limit_mm)

        # --- subcapsular exclusion
        sub = np.zeros(len(verts), dtype=bool)
        if l_values is not None and liver is not None:
            l_field = _field_around(liver, l_values, wmin, wmax, subcapsular_mm + 2.0, sig_l, it_l)
            d_cap = l_field.surface().distance_mm(
                verts, upper_bound_mm=subcapsular_mm + 2.0 * float(liver.spacing_mm.max())
            )
            sub = (d_cap <= subcapsular_mm) | (l_field.sample(verts) <= ISO_LEVEL)

        # --- coverage on a fine grid
        cov = coverage_metrics(t_field, z_field, mesh, tm.lo, tm.hi, coverage_radii_mm, h_fine)

        # --- statistics
        considered = ~sub
        if considered.any():
            i_min = int(np.flatnonzero(considered)[np.argmin(margin[considered])])
            minimal: float | None = float(margin[i_min])
            where_min = verts[i_min].tolist()
        else:
            minimal, where_min = None, None
            warnings.append(
                f"Every surface point of tumor {tm.label} lies within {subcapsular_mm} mm of the "
                "liver capsule; its minimal margin is not defined."
            )
        i_all = int(np.argmin(margin))
        linear = _SurfaceMargins(margin, mesh.faces, mesh.triangle_areas_mm2())
        pct = [linear.percentile(q) for q in _PERCENTILES]
        volume_ml = float(raw.sum(dtype=np.float64) * tumor.voxel_volume_ml)
        centroid = (verts * area[:, None]).sum(axis=0) / area.sum()
        records.append(
            {
                "label": tm.label,
                "volume_ml": _r(volume_ml, 4),
                "centroid_lps_mm": [round(float(c), 2) for c in centroid],
                "surface_area_mm2": _r(float(area.sum()), 1),
                "minimal_margin_mm": _r(minimal),
                "minimal_margin_location_lps_mm": (
                    None if where_min is None else [round(float(c), 2) for c in where_min]
                ),
                "minimal_margin_all_points_mm": _r(float(margin[i_all])),
                "margin_percentiles_mm": {str(p): _r(v) for p, v in zip(_PERCENTILES, pct, strict=True)},
                "surface_fraction": {k: _r(v, 4) for k, v in _surface_fractions(linear).items()},
                "insufficient_coverage_ml": {k: _r(v, 4) for k, v in cov.insufficient_coverage_ml.items()},
                "periablational_shell_ablated_fraction": {
                    k: _r(v, 4) for k, v in cov.shell_ablated_fraction.items()
                },
                "subcapsular_excluded_fraction": _r(float(area[sub].sum() / area.sum()), 4),
                "margin_clipped": bool(np.any(np.abs(margin) >= margin_limit_mm)),
            }
        )
        surfaces.append(TumorSurface(tm.label, verts, mesh.faces, margin, area, sub))
        _paint_margin_map(margin_map, map_lo, tumor, raw, c_lo, verts, margin)

    mins = [r["minimal_margin_mm"] for r in records if r["minimal_margin_mm"] is not None]
    warnings.extend(
        f"Tumour {r['label']}: some margins reach the {margin_limit_mm:g} mm limit and are "
        f"reported as ±{margin_limit_mm:g} mm (the surfaces are farther apart than that)."
        for r in records
        if r.get("margin_clipped")
    )
    for what, vol in (("tumour", tumor), ("ablation-zone", ablation)):
        if vol.modality in ("CT", "MR", "PT", "NM") or vol.units.value in ("HU", "Bq/mL", "counts"):
            warnings.append(
                f"The {what} mask is a {vol.modality or vol.units.value} image: every non-zero voxel "
                "counts as inside; check that the right file was given."
            )
    results: dict[str, Any] = {
        "workstation_version": __version__,
        "minimal_margin_mm": min(mins) if mins else None,
        "tumors": records,
        "registration": registration,
        "mask_kind": {"tumor": t_kind, "ablation": z_kind, "liver": l_kind},
        "method": {
            "surface": "marching cubes at the 0.5 iso-level of each mask field, in LPS mm",
            "binary_surface": binary_surface,
            "binary_smoothing_sigma_mm": smoothing_mm if binary_surface == "gaussian" else None,
            "fractional_smoothing_sigma_mm": fractional_smoothing_mm,
            "fractional_masks": "surface = 0.5 iso-level (half partial volume)",
            "distance": "exact point-to-triangle distance from tumour vertices to the zone mesh",
            "weighting": (
                "percentiles and surface fractions are exact areas of the mesh with the "
                "margin interpolated linearly over each triangle"
            ),
            "margin_limit_mm": margin_limit_mm,
            "coverage_grid_spacing_mm": h_fine,
            "subcapsular_mm": subcapsular_mm if liver is not None else None,
            "subcapsular_rule": (
                "tumour-surface points within subcapsular_mm of the liver surface, or outside "
                "the liver, are excluded from minimal_margin_mm only; percentiles and "
                "surface fractions use the whole surface"
            ),
        },
        "warnings": warnings,
    }
    map_affine = tumor.affine.copy()
    map_affine[:3, 3] = tumor.index_to_world(map_lo.astype(float))
    map_volume = tumor.copy_with(
        array=margin_map, affine=map_affine, units=Unit.MM, label_names={}, modality=None
    )
    return MarginAnalysis(results, map_volume, surfaces)


def compute_margins(
    tumor: Volume,
    ablation: Volume,
    liver: Volume | None = None,
    subcapsular_mm: float = 5.0,
    **options: Any,
) -> dict[str, Any]:
    """The ``results.json`` dictionary of ``workstation margin`` (see :func:`analyse_margins`)."""
    return analyse_margins(tumor, ablation, liver, subcapsular_mm, **options).results


def _field_around(
    volume: Volume,
    values: np.ndarray,
    wmin: np.ndarray,
    wmax: np.ndarray,
    reach_mm: float,
    sigma_voxels: Any,
    iterations: int,
) -> MaskField:
    """Field of ``volume`` on the crop of its grid covering an LPS box grown by ``reach_mm``."""
    lo, hi = world_box_to_index_box(
        volume.affine, wmin - reach_mm, wmax + reach_mm, int(np.ceil(3 * np.max(sigma_voxels))) + 2
    )
    return make_field(crop_array(values, lo, hi), lo, volume.affine, sigma_voxels, iterations)


def _paint_margin_map(
    margin_map: np.ndarray,
    map_lo: np.ndarray,
    tumor: Volume,
    raw: np.ndarray,
    c_lo: np.ndarray,
    verts: np.ndarray,
    margin: np.ndarray,
) -> None:
    """Write the margin of the nearest surface point into the tumour's boundary voxels."""
    inside = raw >= ISO_LEVEL
    boundary = inside & ~ndi.binary_erosion(inside, border_value=0)
    idx = np.argwhere(boundary)
    if idx.size == 0:
        return
    full = idx + c_lo
    local = full - map_lo
    ok = np.all((local >= 0) & (local < np.array(margin_map.shape)), axis=1)
    full, local = full[ok], local[ok]
    _, nearest = cKDTree(verts).query(tumor.index_to_world(full))
    margin_map[local[:, 0], local[:, 1], local[:, 2]] = margin[nearest]
