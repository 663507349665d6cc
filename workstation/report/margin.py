"""The ablation-margin report (from the ``margin`` results.json and the masks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workstation.core.volume import Volume
from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Table,
    figure_png,
    format_number,
    lookup,
)
from workstation.report.plots import axial_overlay_figure, histogram_figure

__all__ = ["TUMOR_TABLE_COLUMNS", "build_margin_report", "render_margin_report", "tumor_table_rows"]

TUMOR_TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Volume (mL)", ("volume_ml",)),
    ("Minimal margin (mm)", ("minimal_margin_mm",)),
    ("P5 (mm)", ("margin_percentiles_mm", "5")),
    ("P50 (mm)", ("margin_percentiles_mm", "50")),
    ("P95 (mm)", ("margin_percentiles_mm", "95")),
    ("Surface < 0 mm", ("surface_fraction", "below_0mm")),
    ("0–5 mm", ("surface_fraction", "0_to_5mm")),
    ("5–10 mm", ("surface_fraction", "5_to_10mm")),
    ("≥ 10 mm", ("surface_fraction", "at_least_10mm")),
    ("Uncovered 0 mm (mL)", ("insufficient_coverage_ml", "0")),
    ("Uncovered 5 mm (mL)", ("insufficient_coverage_ml", "5")),
    ("Uncovered 10 mm (mL)", ("insufficient_coverage_ml", "10")),
    ("Subcapsular excluded", ("subcapsular_excluded_fraction",)),
)


def tumor_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """Rows (tumour label first) of the per-tumour table, formatted as in the report."""
    return [
        [format_number(t.get("label"))] + [format_number(lookup(t, p)) for _, p in TUMOR_TABLE_COLUMNS]
        for t in results.get("tumors", [])
    ]


def build_margin_report(
    results: Mapping[str, Any],
    ct: Volume | None = None,
    tumor: Volume | None = None,
    ablation: Volume | None = None,
    margin_map: Volume | None = None,
    surface_margins_mm: np.ndarray | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    title: str = "Thermal ablation margins",
) -> ReportDocument:
    """Build the margin report document.

    ``surface_margins_mm`` (all tumour-surface margins, for the histogram)
    defaults to the finite values of ``margin_map``.
    """
    doc = ReportDocument(title=title, subtitle=f"workstation {results.get('workstation_version', '')}")
    sec = doc.add(Section("Inputs"))
    if inputs:
        sec.tables.append(Table(
            ["Role", "File", "Description"],
            [[str(i.get("role", "")), str(i.get("path", "")), str(i.get("description", "") or "")]
             for i in inputs],
        ))
    method = results.get("method")
    if isinstance(method, Mapping):
        for k, v in method.items():
            sec.paragraphs.append(f"{k}: {v}")

    sec = doc.add(Section("Margins per tumour"))
    sec.paragraphs.append(
        "The margin at a point of the tumour surface is the signed distance to the ablation-zone "
        "surface: positive inside the zone, negative outside. Local tumour progression falls sharply "
        "with a minimal margin of at least 5 mm; 10 mm is the ideal."
    )
    overall = results.get("minimal_margin_mm")
    sec.tables.append(Table(["Quantity", "Value"],
                            [["Smallest minimal margin over all tumours (mm)", format_number(overall)]]))
    sec.tables.append(Table(["Tumour"] + [h for h, _ in TUMOR_TABLE_COLUMNS], tumor_table_rows(results)))
    if overall is not None and overall < 5:
        sec.warnings.append(
            f"The minimal margin is {format_number(overall)} mm, below 5 mm: risk of local progression."
        )

    values = surface_margins_mm
    if values is None and margin_map is not None:
        values = np.asarray(margin_map.array, dtype=float)
        values = values[np.isfinite(values)]
    if values is not None and len(values):
        sec = doc.add(Section("Margin distribution"))
        fig = histogram_figure(np.asarray(values), "Signed margin (mm)",
                               "Margins over the tumour surface", marks=(0.0, 5.0, 10.0))
        sec.figures.append(Figure(figure_png(fig), "Histogram of the signed margin; dashed lines "
                                  "at 0, 5 and 10 mm."))

    if ct is not None and tumor is not None:
        sec = doc.add(Section("Slices at the thinnest margin"))
        t_on = _inside(tumor.resample_to(ct, interpolation="nearest").array)
        a_on = (_inside(ablation.resample_to(ct, interpolation="nearest").array)
                if ablation is not None else None)
        m_on = (margin_map.resample_to(ct, interpolation="nearest", fill_value=float("nan"),
                                       dtype=np.float32)
                if margin_map is not None else None)
        rois = [("tumour", t_on)] + ([("ablation zone", a_on)] if a_on is not None else [])
        for t in results.get("tumors", []):
            loc = t.get("minimal_margin_location_lps_mm")
            if loc is None:
                continue
            idx = ct.world_to_index(np.asarray(loc, dtype=float))
            k = int(np.clip(round(idx[0]), 0, ct.shape[0] - 1))
            fig = axial_overlay_figure(
                ct, k, rois=rois, marker_ij=(float(idx[1]), float(idx[2])),
                title=f"Tumour {t.get('label')}: minimal margin "
                f"{format_number(t.get('minimal_margin_mm'))} mm (slice {k})",
                window=(60.0, 400.0), diverging=m_on, diverging_label="margin (mm)",
                zoom_half_mm=45.0,
            )
            sec.figures.append(Figure(figure_png(fig), f"Tumour {t.get('label')}: the cross marks the "
                                      "thinnest point; colours on the tumour edge give the margin."))

    reg = results.get("registration")
    sec = doc.add(Section("Registration quality"))
    if reg:
        rows = [[k, format_number(v)] for k, v in _flatten(reg).items()]
        sec.tables.append(Table(["Quantity", "Value"], rows))
    else:
        sec.paragraphs.append("Tumour and ablation zone were given on the same scan; no registration.")
    return doc


def _inside(values: np.ndarray) -> np.ndarray:
    """Inside of a mask: fractional (float) masks at their 0.5 level, others where non-zero."""
    if values.dtype.kind == "f":
        return values >= 0.5
    return values != 0


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list | tuple):
            if len(v) <= 6 and all(isinstance(x, int | float | str) for x in v):
                out[key] = ", ".join(format_number(x) for x in v)
        else:
            out[key] = v
    return out


def render_margin_report(analysis: Any, title: str, display: Mapping[str, Volume | None]) -> tuple[str, bytes]:
    """HTML and PDF of the margin report of a :class:`workstation.ablation.MarginAnalysis`.

    The renderer ``workstation margin`` and ``plan-ablation`` pass to the ablation
    workflow; ``display`` holds the CT (may be None: no slices), tumour and zone.
    """
    from workstation.report.document import render_html, render_pdf

    margins = [sf.margin_mm for sf in analysis.surfaces if len(sf.margin_mm)]
    doc = build_margin_report(
        analysis.results,
        ct=display.get("ct"),
        tumor=display.get("tumor"),
        ablation=display.get("ablation"),
        margin_map=analysis.margin_map,
        surface_margins_mm=np.concatenate(margins) if margins else None,
        title=title,
    )
    return render_html(doc), render_pdf(doc)
