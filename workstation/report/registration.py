"""The registration part of a report: what a reader needs, the rest stays in results.json.

A reader needs the method (mode, metric, stages, initialisation), the metric
before and after, the estimated error with what it means, and a picture to judge
the alignment (checkerboard and fused slice). Internal keys (shrink factors,
sampling percentages, optimiser stop conditions) stay in results.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workstation.report.document import (
    Figure,
    Section,
    Table,
    figure_png,
    format_length_mm,
    format_number,
    format_percent,
)

__all__ = ["moving_slice", "registration_error_text", "registration_figure_png", "registration_section"]

_STAGE_NAMES = {"rigid": "rigid", "affine": "affine", "bspline": "B-spline (deformable)"}


def _name(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return "image"
    modality = entry.get("modality") or "image"
    source = entry.get("source")
    return f"{modality} ({source})" if source else str(modality)


def _metric_values(reg: Mapping[str, Any]) -> tuple[Any, Any, str]:
    """(before, after, how 'after' was obtained) of the similarity metric."""
    metric = reg.get("metric") or {}
    before, after = metric.get("before"), metric.get("after")
    how = "on the metric region at the working resolution"
    if after is None:
        stages = reg.get("stages") or []
        if stages and stages[-1].get("final_metric_value_last_level") is not None:
            after = stages[-1]["final_metric_value_last_level"]
            how = "the optimiser's final value (last stage, sampled points)"
    return before, after, how


def registration_error_text(reg: Mapping[str, Any]) -> str:
    """One line for a summary: the estimated error, or why there is none."""
    err = reg.get("estimated_error") or {}
    ic = err.get("inverse_consistency_mm")
    lm = err.get("landmark_tre_mm")
    parts = []
    if isinstance(ic, Mapping):
        parts.append(f"inverse consistency {format_length_mm(ic.get('mean'))} mm mean, "
                     f"{format_length_mm(ic.get('p95'))} mm 95th percentile")
    if isinstance(lm, Mapping) and isinstance(lm.get("after"), Mapping):
        parts.append(f"landmark error {format_length_mm(lm['after'].get('mean'))} mm mean")
    if not parts:
        return "not estimated (see the fused slice)"
    return "; ".join(parts)


def registration_section(
    reg: Mapping[str, Any],
    figure: Figure | None = None,
    title: str = "Registration",
) -> Section:
    """A report section for one registration (the ``registration.json`` dictionary).

    ``figure`` is the checkerboard / fused slice (:func:`registration_figure_png`);
    without one the section says how to check the alignment instead.
    """
    sec = Section(title, kind="detail")
    mode = str(reg.get("mode", "?"))
    metric = reg.get("metric") or {}
    stages = [s for s in reg.get("stages") or [] if isinstance(s, Mapping)]
    chain = " → ".join(_STAGE_NAMES.get(str(s.get("stage")), str(s.get("stage"))) for s in stages)
    spacing = None
    for s in stages:
        if s.get("control_point_spacing_mm") is not None:
            spacing = s["control_point_spacing_mm"]
    text = (f"The {_name(reg.get('moving'))} was registered to the {_name(reg.get('fixed'))}: "
            f"{mode} registration")
    if chain:
        text += f" in stages {chain}"
    if spacing is not None:
        text += f" (B-spline control points every {format_number(float(np.max(spacing)))} mm)"
    text += f", metric {metric.get('name', '?')}"
    if reg.get("initialisation"):
        text += f", started from {reg['initialisation']}"
    same = reg.get("same_frame_of_reference")
    if same is not None:
        text += "; the images share a frame of reference" if same else "; the images have different frames of reference"
    sec.paragraphs.append(text + ".")

    rows: list[list[str]] = []
    before, after, how = _metric_values(reg)
    rows.append([f"Similarity ({metric.get('name', 'metric')})",
                 f"{format_number(before)} → {format_number(after)}",
                 f"Lower is better; before = scanner/initial alignment, after = {how}."])
    err = reg.get("estimated_error") or {}
    ic = err.get("inverse_consistency_mm")
    if isinstance(ic, Mapping):
        rows.append(["Inverse consistency (mm)",
                     f"mean {format_length_mm(ic.get('mean'))}, 95th percentile "
                     f"{format_length_mm(ic.get('p95'))}, max {format_length_mm(ic.get('max'))}",
                     "How far a point ends up from where it started when carried forward and back "
                     "by two independent registrations: a consistency check, not the true error (an "
                     "error both directions share cancels)."])
    lm = err.get("landmark_tre_mm")
    if isinstance(lm, Mapping):
        b, a = lm.get("before") or {}, lm.get("after") or {}
        rows.append(["Landmark error (mm)",
                     f"mean {format_length_mm(b.get('mean'))} → {format_length_mm(a.get('mean'))}, "
                     f"max {format_length_mm(a.get('max'))} ({a.get('n_points', '?')} pairs)",
                     "Distance between the carried and the given landmarks; "
                     + str(lm.get("note", "an estimate of the target registration error")) + "."])
    if not isinstance(ic, Mapping) and not isinstance(lm, Mapping):
        why = err.get("note") or ("The reverse registration was not run (--no-inverse-consistency) and no "
                                  "landmarks were given.")
        rows.append(["Estimated error", "not estimated", f"{why} Judge the alignment on the slice below."])
    jac = reg.get("jacobian_determinant")
    if isinstance(jac, Mapping):
        rows.append(["Local volume change (Jacobian)",
                     f"{format_number(jac.get('min'))} to {format_number(jac.get('max'))}; folding "
                     f"{format_percent(100 * float(jac.get('folding_fraction') or 0.0))} %",
                     "Ratio of a small volume after / before the deformation; folding (≤ 0) would be "
                     "a physically impossible deformation."])
    lin = reg.get("linear_part")
    if isinstance(lin, Mapping) and lin.get("rotation_deg") is not None:
        shift = lin.get("translation_at_region_centre_mm")
        rows.append(["Rotation and shift",
                     f"{format_number(lin.get('rotation_deg'))}°"
                     + (f", shift {format_length_mm(float(np.linalg.norm(shift)))} mm" if shift else ""),
                     "Size of the rigid/affine correction at the centre of the metric region."])
    rows.extend([f"Kept rigid: {region.get('name', 'region')}",
                 f"volume change {format_percent(region['volume_change_percent'])} %",
                 "A region held rigid (tumour) should keep its volume."]
                for region in reg.get("rigid_regions") or []
                if isinstance(region, Mapping) and region.get("volume_change_percent") is not None)
    sec.tables.append(Table(["Quantity", "Value", "What it means"], rows, caption="Registration quality"))
    for w in reg.get("warnings") or []:
        sec.warnings.append(str(w))
    if figure is not None:
        sec.figures.append(figure)
    else:
        sec.paragraphs.append("No fused image is shown here: open the fixed image with the registered "
                              "moving image in the viewer to check the alignment.")
    sec.paragraphs.append("Every parameter of the registration (resolutions, iterations, sampling, "
                          "optimiser) is in registration.json / results.json.")
    return sec


def moving_slice(fixed: Any, moving: Any, transform: Any, slice_index: int) -> np.ndarray:
    """Slice ``slice_index`` of the fixed grid filled from ``moving`` through ``transform``.

    Only that slice is resampled (a one-slice reference grid with the fixed
    slice's geometry), linearly; outside the moving image -1000 HU for CT, else 0.
    """
    from workstation.core import Unit

    ref = fixed.grid.crop((slice(slice_index, slice_index + 1), slice(None), slice(None)))
    fill = -1000.0 if moving.units == Unit.HU else 0.0
    return moving.resample_to(ref, interpolation="linear", fill_value=fill, transform=transform).array[0]


def registration_figure_png(
    fixed: Any,
    moving: Any,
    transform: Any,
    slice_index: int | None = None,
    title: str = "",
) -> Figure:
    """Checkerboard and fused view of one axial slice of ``fixed`` with ``moving`` carried onto it.

    Only that slice of the moving image is resampled (through ``transform``, the
    ITK fixed-to-moving transform of the registration), so this costs a few
    milliseconds, not a full resampling. ``slice_index`` defaults to the middle slice.
    """
    from workstation.core import Unit
    from workstation.report.plots import registration_figure

    k = fixed.shape[0] // 2 if slice_index is None else int(np.clip(slice_index, 0, fixed.shape[0] - 1))
    is_ct = fixed.units == Unit.HU and moving.units == Unit.HU
    moved = moving_slice(fixed, moving, transform, k)
    direction = fixed.direction
    fig = registration_figure(
        np.asarray(fixed.array[k], dtype=np.float32), moved,
        (float(fixed.spacing_mm[1]), float(fixed.spacing_mm[2])),
        window=(40.0, 400.0) if is_ct else None, title=title or f"Fixed slice {k}",
        flip_x=bool(direction[0, 2] < 0), flip_y=bool(direction[1, 1] < 0),
    )
    return Figure(figure_png(fig, tight=False),
                  "Left: checkerboard of the fixed image and the registered moving image (edges run on "
                  "across the squares where they are aligned). Right: fused, fixed in green and moving "
                  "in magenta (grey where they agree).")
