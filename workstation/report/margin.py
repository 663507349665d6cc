"""The ablation-margin report (from the ``margin`` results.json and the masks).

Reading order: the summary (patient and study, the minimal margin and coverage
per tumour with its assessment, the registration's estimated error, the
warnings), the slices at the thinnest margin and the margin distribution, the
full per-tumour tables and the registration, then the inputs and method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workstation.core.volume import Volume
from workstation.report._facts import study_facts
from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    figure_png,
    format_fraction_percent,
    format_length_mm,
    format_quantity,
    key_value_rows,
    lookup,
)

__all__ = [
    "MARGIN_ADEQUATE_MM",
    "MARGIN_IDEAL_MM",
    "MARGIN_THRESHOLD_SOURCE",
    "TUMOR_TABLE_COLUMNS",
    "build_margin_report",
    "margin_assessment",
    "render_margin_report",
    "tumor_table_rows",
]

#: Minimal ablative margin below which local tumour progression is markedly more frequent (mm).
MARGIN_ADEQUATE_MM = 5.0
#: Minimal margin regarded as ideal (mm).
MARGIN_IDEAL_MM = 10.0
MARGIN_THRESHOLD_SOURCE = (
    "Laimer G et al., Eur Radiol 30:2463 (2020), doi:10.1007/s00330-019-06609-7 (HCC: no local "
    "progression with a minimal ablative margin > 5 mm); "
    "Shady W et al., Radiology 278:601 (2016) (colorectal metastases, margins > 5 mm and > 10 mm)"
)

#: Columns of the per-tumour table: (header with unit, results.json key path), unit "%" on a
#: fraction is shown in per cent.
TUMOR_TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Volume (mL)", ("volume_ml",)),
    ("Minimal margin (mm)", ("minimal_margin_mm",)),
    ("P5 (mm)", ("margin_percentiles_mm", "5")),
    ("P50 (mm)", ("margin_percentiles_mm", "50")),
    ("P95 (mm)", ("margin_percentiles_mm", "95")),
    ("Surface < 0 mm (%)", ("surface_fraction", "below_0mm")),
    ("0–5 mm (%)", ("surface_fraction", "0_to_5mm")),
    ("5–10 mm (%)", ("surface_fraction", "5_to_10mm")),
    ("≥ 10 mm (%)", ("surface_fraction", "at_least_10mm")),
    ("Uncovered 0 mm (mL)", ("insufficient_coverage_ml", "0")),
    ("Uncovered 5 mm (mL)", ("insufficient_coverage_ml", "5")),
    ("Uncovered 10 mm (mL)", ("insufficient_coverage_ml", "10")),
    ("Subcapsular excluded (%)", ("subcapsular_excluded_fraction",)),
)


def _cell(value: Any, header: str) -> str:
    unit = header[header.rfind("(") + 1:-1] if header.endswith(")") else ""
    if unit == "%":
        return format_fraction_percent(value)
    return format_quantity(value, unit)


def tumor_table_rows(
    results: Mapping[str, Any],
    columns: Sequence[tuple[str, tuple[str, ...]]] = TUMOR_TABLE_COLUMNS,
) -> list[list[str]]:
    """Rows (tumour label first) of the per-tumour table, formatted as in the report."""
    return [
        [str(t.get("label"))] + [_cell(lookup(t, p), h) for h, p in columns]
        for t in results.get("tumors", [])
    ]


def margin_assessment(minimal_margin_mm: float | None) -> str:
    """Reading of a minimal margin against :data:`MARGIN_ADEQUATE_MM` and :data:`MARGIN_IDEAL_MM`."""
    if minimal_margin_mm is None:
        return "not measured"
    if minimal_margin_mm < 0:
        return "tumour not covered"
    if minimal_margin_mm < MARGIN_ADEQUATE_MM:
        return f"covered, margin < {MARGIN_ADEQUATE_MM:g} mm"
    if minimal_margin_mm < MARGIN_IDEAL_MM:
        return f"margin ≥ {MARGIN_ADEQUATE_MM:g} mm"
    return f"margin ≥ {MARGIN_IDEAL_MM:g} mm"


def _summary(results: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    overall = results.get("minimal_margin_mm")
    tumours = results.get("tumors", [])
    summary.fact("Tumours", str(len(tumours)))
    summary.fact("Smallest minimal margin", f"{format_length_mm(overall)} mm" if overall is not None else None)
    reg = results.get("registration")
    if isinstance(reg, Mapping):
        from workstation.report.registration import registration_error_text

        summary.fact("Registration", f"{reg.get('mode', '?')} pre- to post-ablation CT; error "
                     f"{registration_error_text(reg)}")
    else:
        summary.fact("Registration", "none (tumour and zone given on the same scan)")
    if overall is not None:
        ok = overall >= MARGIN_ADEQUATE_MM
        summary.verdict = f"Minimal margin {format_length_mm(overall)} mm: {margin_assessment(overall)}"
        summary.verdict_ok = ok
    rows = []
    for t in tumours:
        frac = t.get("surface_fraction") or {}
        below5 = None
        if frac.get("below_0mm") is not None and frac.get("0_to_5mm") is not None:
            below5 = float(frac["below_0mm"]) + float(frac["0_to_5mm"])
        rows.append([str(t.get("label")), format_quantity(t.get("volume_ml"), "mL"),
                     format_length_mm(t.get("minimal_margin_mm")), format_fraction_percent(below5),
                     format_quantity(lookup(t, ("insufficient_coverage_ml", "5")), "mL"),
                     margin_assessment(t.get("minimal_margin_mm"))])
    if rows:
        summary.tables.append(Table(
            ["Tumour", "Volume (mL)", "Minimal margin (mm)", "Surface with margin < 5 mm (%)",
             "Uncovered within 5 mm (mL)", "Assessment"], rows,
            caption="Margins per tumour",
            note="The margin at a point of the tumour surface is the signed distance to the ablation-"
                 "zone surface (positive inside the zone). 'Uncovered within 5 mm': volume of the "
                 "5 mm shell around the tumour outside the ablation zone.",
        ))
    if overall is not None and overall < MARGIN_ADEQUATE_MM:
        summary.warnings.append(
            f"The minimal margin is {format_length_mm(overall)} mm, below {MARGIN_ADEQUATE_MM:g} mm: "
            "risk of local progression."
        )
    summary.warnings.extend(str(w) for w in results.get("warnings", []))
    return summary


def build_margin_report(
    results: Mapping[str, Any],
    ct: Volume | None = None,
    tumor: Volume | None = None,
    ablation: Volume | None = None,
    margin_map: Volume | None = None,
    surface_margins_mm: np.ndarray | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    title: str = "Thermal ablation margins",
    facts: Sequence[tuple[str, str]] = (),
    registration_figure: Figure | None = None,
) -> ReportDocument:
    """Build the margin report document.

    ``surface_margins_mm`` (all tumour-surface margins, for the histogram)
    defaults to the finite values of ``margin_map``. ``facts`` are the patient and
    study lines of the summary; ``registration_figure`` the checkerboard / fused
    slice of the registration (:func:`workstation.report.registration.registration_figure_png`).
    """
    doc = ReportDocument(title=title, subtitle=f"workstation {results.get('workstation_version', '')}")
    doc.summary = _summary(results, facts)

    # ---------------------------------------------------------------- results
    if ct is not None and tumor is not None:
        sec = doc.add(Section("Slices at the thinnest margin", kind="result"))
        from workstation.report.plots import AxialSliceRenderer

        t_on = _inside(tumor.resample_to(ct, interpolation="nearest").array)
        a_on = (_inside(ablation.resample_to(ct, interpolation="nearest").array)
                if ablation is not None else None)
        m_on = (margin_map.resample_to(ct, interpolation="nearest", fill_value=float("nan"),
                                       dtype=np.float32)
                if margin_map is not None else None)
        rois = [("tumour", t_on)] + ([("ablation zone", a_on)] if a_on is not None else [])
        renderer = AxialSliceRenderer(ct, rois=rois, window=(60.0, 400.0), diverging=m_on,
                                      diverging_label="margin (mm)", marker_label="thinnest margin")
        for t in results.get("tumors", []):
            loc = t.get("minimal_margin_location_lps_mm")
            if loc is None:
                continue
            idx = ct.world_to_index(np.asarray(loc, dtype=float))
            k = int(np.clip(round(idx[0]), 0, ct.shape[0] - 1))
            png = renderer.png(
                k, title=f"Tumour {t.get('label')}: minimal margin "
                f"{format_length_mm(t.get('minimal_margin_mm'))} mm (slice {k})",
                marker_ij=(float(idx[1]), float(idx[2])), zoom_half_mm=45.0,
            )
            sec.figures.append(Figure(png, f"Tumour {t.get('label')}: the cross marks the thinnest "
                                      "point; colours on the tumour edge give the margin; 1 cm scale bar."))

    values = surface_margins_mm
    if values is None and margin_map is not None:
        values = np.asarray(margin_map.array, dtype=float)
        values = values[np.isfinite(values)]
    if values is not None and len(values):
        from workstation.report.plots import histogram_figure

        sec = doc.add(Section("Margin distribution", kind="result"))
        fig = histogram_figure(np.asarray(values), "Signed margin (mm)",
                               "Margins over the tumour surface", marks=(0.0, 5.0, 10.0))
        sec.figures.append(Figure(figure_png(fig), "Histogram of the signed margin; dashed lines "
                                  "at 0, 5 and 10 mm."))

    # ----------------------------------------------------------------- detail
    sec = doc.add(Section("Margins and coverage per tumour", kind="detail"))
    sec.paragraphs.append(
        "The margin at a point of the tumour surface is the signed distance to the ablation-zone "
        f"surface: positive inside the zone, negative outside. Local tumour progression falls sharply "
        f"with a minimal margin of at least {MARGIN_ADEQUATE_MM:g} mm; {MARGIN_IDEAL_MM:g} mm is the ideal "
        f"({MARGIN_THRESHOLD_SOURCE})."
    )
    margin_cols, coverage_cols = TUMOR_TABLE_COLUMNS[:5], TUMOR_TABLE_COLUMNS[5:]
    sec.tables.append(Table(["Tumour"] + [h for h, _ in margin_cols], tumor_table_rows(results, margin_cols),
                            caption="Minimal margin and margin percentiles over the surface"))
    sec.tables.append(Table(["Tumour"] + [h for h, _ in coverage_cols],
                            tumor_table_rows(results, coverage_cols),
                            caption="Share of the tumour surface per margin band, and uncovered volume"))

    reg = results.get("registration")
    if isinstance(reg, Mapping):
        from workstation.report.registration import registration_section

        doc.add(registration_section(reg, registration_figure,
                                     title="Registration of the pre-ablation CT"))

    # -------------------------------------------------------------- reference
    sec = doc.add(Section("Inputs and method", kind="reference"))
    rows = [[str(i.get("role", "")), str(i.get("path", "")), str(i.get("description", "") or "")]
            for i in inputs]
    given = results.get("inputs")
    if not rows and isinstance(given, Mapping):
        rows = [[str(k).replace("_", " "), str(v), ""] for k, v in given.items() if v]
    if rows:
        sec.tables.append(Table(["Role", "File", "Description"], rows))
    kinds = results.get("mask_kind")
    if isinstance(kinds, Mapping):
        sec.paragraphs.append("Masks: " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ".")
    method = results.get("method")
    if isinstance(method, Mapping):
        sec.tables.append(Table(["Parameter", "Value"], key_value_rows(method, precise=True),
                                caption="Method"))
    sec.paragraphs.append(f"Margin thresholds {MARGIN_ADEQUATE_MM:g} mm and {MARGIN_IDEAL_MM:g} mm: "
                          f"{MARGIN_THRESHOLD_SOURCE}.")
    return doc


def _inside(values: np.ndarray) -> np.ndarray:
    """Inside of a mask: fractional (float) masks at their 0.5 level, others where non-zero."""
    if values.dtype.kind == "f":
        return values >= 0.5
    return values != 0


def render_margin_report(analysis: Any, title: str, display: Mapping[str, Any]) -> tuple[str, bytes]:
    """HTML and PDF of the margin report of a :class:`workstation.ablation.MarginAnalysis`.

    The renderer ``workstation margin`` and ``plan-ablation`` pass to the ablation
    workflow; ``display`` holds the CT (may be None: no slices), tumour and zone,
    and, after a registration, the pre-ablation CT (``pre_ct``) and the transform
    (``transform``, fixed→moving) for the checkerboard / fused slice.
    """
    from workstation.report.document import render_html, render_pdf

    margins = [sf.margin_mm for sf in analysis.surfaces if len(sf.margin_mm)]
    ct = display.get("ct")
    reg_fig = None
    pre, tx = display.get("pre_ct"), display.get("transform")
    if ct is not None and pre is not None and tx is not None:
        from workstation.report.registration import registration_figure_png

        tumours = analysis.results.get("tumors", [])
        k = None
        if tumours and tumours[0].get("minimal_margin_location_lps_mm") is not None:
            k = int(round(ct.world_to_index(np.asarray(tumours[0]["minimal_margin_location_lps_mm"]))[0]))
        reg_fig = registration_figure_png(ct, pre, tx, k, title="Post-ablation CT (fixed) and registered "
                                          "pre-ablation CT (moving)")
    doc = build_margin_report(
        analysis.results,
        ct=ct,
        tumor=display.get("tumor"),
        ablation=display.get("ablation"),
        margin_map=analysis.margin_map,
        surface_margins_mm=np.concatenate(margins) if margins else None,
        title=title,
        facts=study_facts(ct if ct is not None else display.get("tumor"), "Post-ablation CT"),
        registration_figure=reg_fig,
    )
    return render_html(doc), render_pdf(doc)
