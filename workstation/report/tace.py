"""The TACE report (lipiodol coverage) and the lesion-overview report.

Reading order (issue 20). TACE: the summary (patient and study, registration, the
coverage, rim coverage and class of each tumour, the non-target and peritumoural
deposition, the warnings), the slices of the deposits and gaps, the full
per-tumour and per-deposit tables, the segmentation and the registration, then
the deposition scale, the constants and definitions with their sources, the
inputs. Lesion overview: the summary (tumour burden, size and location facts of
each lesion), the slices, the facts against published criteria, then the criteria
with their sources, the definitions and the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

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
    format_number,
    format_percent,
    format_volume_ml,
    humanize_key,
    key_value_rows,
)
from workstation.report.plots import ROI_COLOURS

__all__ = [
    "LESION_TABLE_COLUMNS",
    "TACE_TABLE_COLUMNS",
    "build_lesion_report",
    "build_tace_report",
    "lesion_table_rows",
    "render_lesion_report",
    "render_tace_report",
    "tace_table_rows",
]

#: Columns of the summary's per-tumour table: (header, results.json key of a tumour entry).
TACE_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Volume (mL)", "volume_ml"),
    ("Coverage (%)", "lipiodol_coverage_percent"),
    ("Rim coverage (%)", "rim_coverage_fraction"),
    ("Class", "class"),
    ("Uncovered (mL)", "uncovered_ml"),
    ("Largest gap (mL)", "largest_gap_ml"),
    ("Largest gap reaches the edge", "largest_gap_peripheral"),
)

#: Columns of the summary's per-lesion table: (header, results.json key of a lesion entry).
LESION_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Volume (mL)", "volume_ml"),
    ("Longest axial (mm)", "longest_diameter_mm"),
    ("Short axis (mm)", "short_axis_mm"),
    ("Segment", "couinaud"),
    ("Capsule (mm)", "capsule_distance_mm"),
    ("Dome (mm)", "dome_distance_mm"),
    ("Large vessel (mm)", "vessel_distance_mm"),
    ("Hilum (mm)", "hilum_distance_mm"),
)
#: Size of a slice picture (inches at 110 dpi): two side by side in a 1280 px window.
_SLICE_SIZE_IN = (4.4, 3.9)


def _slice_figure(ct: Volume, k: int, overlay: np.ndarray | None, outlines: list[tuple[str, np.ndarray]],
                  title: str, centre_ij: tuple[float, float] | None = None, half_mm: float = 45.0,
                  overlay_label: str = "lipiodol above liver (HU)") -> MplFigure:
    """An axial slice in radiological orientation: CT, an optional colour overlay, outlines."""
    fig = MplFigure(figsize=_SLICE_SIZE_IN)
    ax = fig.add_subplot()
    dy, dx = ct.spacing_mm[1], ct.spacing_mm[2]
    ny, nx = ct.shape[1], ct.shape[2]
    extent = (-0.5 * dx, (nx - 0.5) * dx, (ny - 0.5) * dy, -0.5 * dy)
    ax.imshow(np.clip((ct.array[k] + 160.0) / 400.0, 0, 1), cmap="gray", extent=extent, interpolation="bilinear")
    if overlay is not None and np.any(overlay[k] > 0):
        im = ax.imshow(np.ma.masked_less_equal(overlay[k], 0), cmap="inferno", alpha=0.6, extent=extent,
                       vmin=0, vmax=float(np.percentile(overlay[overlay > 0], 99)), interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(overlay_label)
    ys, xs = np.arange(ny) * dy, np.arange(nx) * dx
    for n, (name, mask) in enumerate(outlines):
        sl = np.asarray(mask[k], dtype=float)
        if sl.any() and not sl.all():
            colour = ROI_COLOURS[n % len(ROI_COLOURS)]
            ax.contour(xs, ys, sl, levels=[0.5], colors=[colour], linewidths=1.2)
            ax.plot([], [], color=colour, label=name)
    if outlines:
        ax.legend(fontsize=7, loc="lower right", framealpha=0.6)
    if centre_ij is not None:
        cy, cx = centre_ij[0] * dy, centre_ij[1] * dx
        ax.set_xlim(cx - half_mm, cx + half_mm)
        ax.set_ylim(cy + half_mm, cy - half_mm)
    if ct.direction[0, 2] < 0:
        ax.invert_xaxis()
    if ct.direction[1, 1] < 0:
        ax.invert_yaxis()
    for text, xy in (("R", (0.02, 0.5)), ("L", (0.98, 0.5)), ("A", (0.5, 0.98)), ("P", (0.5, 0.02))):
        ax.text(*xy, text, transform=ax.transAxes, color="yellow", fontsize=9, ha="center", va="center",
                fontweight="bold")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return fig


def _lps(point: Any) -> str:
    """A point (LPS mm) as "x, y, z" to 0.1 mm."""
    if not isinstance(point, list | tuple) or len(point) != 3:
        return "–"
    return ", ".join(format_length_mm(c) for c in point)


# ------------------------------------------------------------------ TACE
def _tace_cell(tumour: Mapping[str, Any], key: str) -> str:
    value = tumour.get(key)
    if key == "rim_coverage_fraction":
        return "not measured" if value is None else format_fraction_percent(value)
    if key == "lipiodol_coverage_percent":
        return format_percent(value)
    if key.endswith("_ml"):
        return format_volume_ml(value)
    if key == "largest_gap_peripheral":
        return "–" if not tumour.get("largest_gap_ml") else ("yes" if value else "no (central)")
    return format_number(value)


def tace_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """Rows (tumour label first) of the summary's per-tumour table, each number formatted once."""
    return [[str(t.get("label"))] + [_tace_cell(t, k) for _, k in TACE_TABLE_COLUMNS]
            for t in results.get("tumors", [])]


def _registration_fact(reg: Mapping[str, Any] | None) -> str:
    if not reg:
        return "none (tumour masks given on the post-TACE CT)"
    if reg.get("mode") == "given transform":
        return "given transform, pre- to post-TACE CT"
    from workstation.report.registration import registration_error_text

    return f"{reg.get('mode', '?')} pre- to post-TACE CT; error {registration_error_text(reg)}"


def _tace_summary(res: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    tumours = [t for t in res.get("tumors", []) if isinstance(t, Mapping)]
    summary.fact("Tumours", str(len(tumours)))
    summary.fact("Registration", _registration_fact(res.get("registration")))
    lip = res.get("lipiodol") or {}
    if lip.get("lipiodol_volume_ml") is not None:
        count = lip.get("deposit_count")
        summary.fact("Lipiodol in the liver", f"{format_volume_ml(lip['lipiodol_volume_ml'])} mL"
                     + (f" in {count} deposit{'' if count == 1 else 's'}" if count is not None else ""))
    const = res.get("constants") or {}
    near = const.get("peritumoral_mm")
    near_text = f"{format_number(near)} mm" if near is not None else "the peritumoural distance"
    deposits = res.get("non_target_deposits") or []
    if res.get("non_target_ml") is not None:
        summary.fact("Non-target deposition", f"{format_volume_ml(res['non_target_ml'])} mL in {len(deposits)} "
                     f"deposit{'' if len(deposits) == 1 else 's'} (farther than {near_text} from every tumour)")
    if res.get("peritumoral_ml") is not None:
        summary.fact("Peritumoural deposition", f"{format_volume_ml(res['peritumoral_ml'])} mL (outside the "
                     f"tumours, within {near_text})")
    if res.get("liver_volume_ml") is not None:
        summary.fact("Liver", f"{format_volume_ml(res['liver_volume_ml'])} mL")
    if tumours:
        counts: dict[str, int] = {}
        for t in tumours:
            counts[str(t.get("class"))] = counts.get(str(t.get("class")), 0) + 1
        summary.verdict = "Lipiodol deposition: " + ", ".join(f"{n} {c}" for c, n in counts.items())
        scale = [c for c in const.get("deposition_scale", []) if isinstance(c, Mapping)]
        summary.tables.append(Table(
            ["Tumour"] + [h for h, _ in TACE_TABLE_COLUMNS], tace_table_rows(res),
            caption="Lipiodol coverage per tumour",
            note="Coverage: share of the tumour's voxels holding lipiodol; rim coverage: share of the tumour "
                 "surface with lipiodol within "
                 f"{format_number(const.get('rim_distance_mm', 1.0))} mm. Class"
                 + (": " + "; ".join(f"{c.get('class')}, {c.get('definition')}" for c in scale) if scale else "")
                 + " (see “Deposition scale”).",
        ))
    summary.warnings.extend(str(w) for w in res.get("warnings", []))
    return summary


def _tace_slices(doc: ReportDocument, analysis: Any, res: Mapping[str, Any]) -> None:
    ct = analysis.ct
    lip = analysis.segmentation.mask.array > 0
    density = analysis.segmentation.density_hu.array
    gaps = analysis.gaps().array
    sec = doc.add(Section("Slices: deposition and gaps", kind="result"))
    sec.paragraphs.append("Lipiodol density above the liver background in colour; the tumour outline and its "
                          "uncovered part (gap); the patient's right on the left of the picture.")
    for rec in res.get("tumors", []):
        t = analysis.tumors.array == rec["label"]
        if not t.any():
            continue
        where = np.argwhere(gaps == rec["label"]) if rec.get("largest_gap_ml") else np.argwhere(t)
        centre = np.argwhere(t).mean(axis=0)
        k = int(np.round(where.mean(axis=0)[0]))
        fig = _slice_figure(ct, k, density, [("tumour", t), ("gap (no lipiodol)", gaps == rec["label"])],
                            f"Tumour {rec['label']}: {format_percent(rec.get('lipiodol_coverage_percent'))} % "
                            f"covered, {rec.get('class')}", (float(centre[1]), float(centre[2])))
        sec.figures.append(Figure(figure_png(fig), f"Tumour {rec['label']}, slice {k}"
                                  + (" (through its uncovered part)." if rec.get("largest_gap_ml") else ".")))
    liver = [("liver", analysis.liver.array > 0)] if analysis.liver is not None else []
    for n, dep in enumerate(res.get("non_target_deposits", [])[:3], start=1):
        idx = ct.world_to_index(np.asarray(dep["centroid_lps_mm"]))
        k = int(np.clip(np.round(idx[0]), 0, ct.shape[0] - 1))
        fig = _slice_figure(ct, k, density, liver,
                            f"Non-target deposit {n}: {format_volume_ml(dep.get('volume_ml'))} mL",
                            (float(idx[1]), float(idx[2])))
        sec.figures.append(Figure(figure_png(fig), f"Non-target deposit {n}, slice {k}."))
    if not lip.any():
        sec.paragraphs.append("No lipiodol was found in the liver.")


def _tace_detail(doc: ReportDocument, res: Mapping[str, Any]) -> None:
    sec = doc.add(Section("Deposition per tumour", kind="detail"))
    sec.tables.append(Table(
        ["Tumour", "Volume (mL)", "Covered (mL)", "Uncovered (mL)", "Gaps", "Largest gap (mL)",
         "Largest gap centre (LPS, mm)", "Mean lipiodol (HU)", "Above liver (HU)", "Dense (%)"],
        [[str(t.get("label")), format_volume_ml(t.get("volume_ml")), format_volume_ml(t.get("covered_ml")),
          format_volume_ml(t.get("uncovered_ml")), format_number(t.get("gap_count")),
          format_volume_ml(t.get("largest_gap_ml")),
          _lps(t.get("largest_gap_centroid_lps_mm")) if t.get("largest_gap_ml") else "–",
          format_number(t.get("mean_lipiodol_hu")), format_number(t.get("mean_lipiodol_contrast_hu")),
          format_fraction_percent(t.get("dense_fraction"))]
         for t in res.get("tumors", [])],
        note="Mean lipiodol: mean CT number of the tumour's deposits; above liver: the same over the liver "
             "background; dense: share of the deposits at or above "
             f"{format_number((res.get('constants') or {}).get('dense_retention_hu', 365.0))} HU.",
    ))
    deposits = res.get("non_target_deposits") or []
    if deposits:
        sec.tables.append(Table(["Deposit", "Volume (mL)", "Centre (LPS, mm)", "Mean (HU)"],
                                [[str(n), format_volume_ml(d.get("volume_ml")), _lps(d.get("centroid_lps_mm")),
                                  format_number(d.get("mean_hu"))] for n, d in enumerate(deposits, start=1)],
                                caption="Non-target deposits"))
    lip = res.get("lipiodol") or {}
    if lip:
        sec = doc.add(Section("Lipiodol segmentation", kind="detail"))
        rows = key_value_rows(lip, skip=("excluded_in_liver_ml",))
        excluded = lip.get("excluded_in_liver_ml")
        if isinstance(excluded, Mapping):
            rows += [[f"Excluded as {what} (mL)", format_volume_ml(v)] for what, v in excluded.items()]
        sec.tables.append(Table(["Quantity", "Value"], rows))
    reg = res.get("registration")
    if isinstance(reg, Mapping) and reg.get("mode") != "given transform":
        from workstation.report.registration import registration_section

        doc.add(registration_section(reg, title="Registration of the pre-TACE CT"))
    else:
        sec = doc.add(Section("Registration of the pre-TACE CT", kind="detail"))
        sec.paragraphs.append(
            f"The tumour masks were carried to the post-TACE CT with the given transform ({reg.get('transform')})."
            if isinstance(reg, Mapping) else "The tumour masks were given on the post-TACE CT; no registration.")


def _tace_reference(doc: ReportDocument, res: Mapping[str, Any]) -> None:
    const = res.get("constants") or {}
    sources = const.get("sources") or {}
    scale = [c for c in const.get("deposition_scale", []) if isinstance(c, Mapping)]
    if scale:
        sec = doc.add(Section("Deposition scale", kind="reference"))
        sec.tables.append(Table(["Class", "Published definition", "Rule applied here"],
                                [[str(c.get("class")), str(c.get("definition")), str(c.get("rule"))] for c in scale]))
        if sources.get("deposition_scale"):
            sec.paragraphs.append(f"Source: {sources['deposition_scale']}.")
    sec = doc.add(Section("Method, constants and their sources", kind="reference"))
    sec.tables.append(Table(["Constant", "Value"],
                            key_value_rows(const, precise=True, skip=("deposition_scale", "sources"))
                            + [[f"{humanize_key(str(k))[0]} ({humanize_key(str(k))[1]}): {sub}", format_number(x)]
                               for k, v in const.items() if isinstance(v, Mapping) and k != "sources"
                               for sub, x in v.items()]))
    if sources:
        sec.tables.append(Table(["Constant", "Source"], [[humanize_key(str(k))[0], str(v)] for k, v in sources.items()],
                                caption="Sources"))
    definitions = res.get("definitions") or {}
    if definitions:
        sec.tables.append(Table(["Quantity", "Definition"],
                                [[humanize_key(str(k))[0], str(v)] for k, v in definitions.items()],
                                caption="Definitions"))
    inputs = res.get("inputs")
    if isinstance(inputs, Mapping):
        sec = doc.add(Section("Inputs", kind="reference"))
        sec.tables.append(Table(["Role", "File"], [[humanize_key(str(k))[0], str(v)] for k, v in inputs.items() if v]))


def build_tace_report(analysis: Any, title: str = "Lipiodol coverage after TACE",
                      facts: Sequence[tuple[str, str]] | None = None) -> ReportDocument:
    """The report of a :class:`workstation.tace.TaceAnalysis` (see the module docstring).

    ``facts`` (patient and study lines of the summary) default to those of the post-TACE CT.
    """
    res: Mapping[str, Any] = analysis.results
    doc = ReportDocument(title=title, subtitle=f"workstation {res.get('workstation_version', '')}")
    doc.summary = _tace_summary(res, study_facts(analysis.ct, "Post-TACE CT") if facts is None else facts)
    _tace_slices(doc, analysis, res)
    _tace_detail(doc, res)
    _tace_reference(doc, res)
    return doc


def render_tace_report(analysis: Any, title: str) -> tuple[str, bytes]:
    """HTML and PDF of the TACE report (the renderer ``workstation tace`` passes to ``run_tace``)."""
    from workstation.report.document import render_html, render_pdf

    doc = build_tace_report(analysis, title)
    return render_html(doc), render_pdf(doc)


# ------------------------------------------------------------------ lesions
#: Short names of the published criteria (results.json ``criteria[].key``).
_CRITERION_NAMES: dict[str, str] = {
    "recist_measurable": "Measurable (RECIST 1.1)",
    "milan_single": "Single lesion within Milan",
    "ablation_size": "Size for thermal ablation",
    "heat_sink": "Large vessel (heat sink)",
    "subcapsular": "Subcapsular",
    "tumour_burden": "Tumour burden (TACE)",
}


def _distance_limit_mm() -> float:
    from workstation.lesions.constants import DISTANCE_LIMIT_MM

    return float(DISTANCE_LIMIT_MM)


def _segment_text(couinaud: Any) -> str:
    if not isinstance(couinaud, Mapping) or couinaud.get("segment") is None:
        return "–"
    text = str(couinaud["segment"])
    if couinaud.get("caudate_region"):
        text += " (caudate region?)"
    elif couinaud.get("uncertain"):
        text += " (near a plane)"
    return text


def _lesion_cell(lesion: Mapping[str, Any], key: str, results: Mapping[str, Any]) -> str:
    value = lesion.get(key)
    if key == "couinaud":
        return _segment_text(value)
    if key == "volume_ml":
        return format_volume_ml(value)
    if value is not None:
        return format_length_mm(value)
    # a missing distance: beyond the measured range, or nothing to measure to
    if key == "vessel_distance_mm" and not (results.get("vessels") or {}).get("volume_ml"):
        return "not measured"
    if key == "hilum_distance_mm" and not (results.get("hilum") or {}).get("lps_mm"):
        return "no hilum point"
    if key in ("capsule_distance_mm", "dome_distance_mm", "vessel_distance_mm", "hilum_distance_mm"):
        return f"> {format_number(_distance_limit_mm())}"
    return "–"


def lesion_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """Rows (lesion label first) of the summary's per-lesion table, each number formatted once."""
    return [[str(r.get("label"))] + [_lesion_cell(r, k, results) for _, k in LESION_TABLE_COLUMNS]
            for r in results.get("lesions", [])]


def _lesion_summary(res: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    lesions = [r for r in res.get("lesions", []) if isinstance(r, Mapping)]
    summary.fact("Lesions", str(res.get("lesion_count", len(lesions))))
    if res.get("tumour_burden_percent") is not None:
        summary.fact("Hepatic tumour burden",
                     f"{format_percent(res['tumour_burden_percent'])} % ({format_volume_ml(res.get('tumour_volume_ml'))}"
                     f" mL of {format_volume_ml(res.get('liver_volume_ml'))} mL liver)")
    if res.get("largest_diameter_mm") is not None:
        summary.fact("Largest diameter", f"{format_length_mm(res['largest_diameter_mm'])} mm")
    if res.get("sum_of_diameters_mm") is not None:
        summary.fact("Sum of diameters", f"{format_length_mm(res['sum_of_diameters_mm'])} mm")
    if res.get("lesions_over_30_mm") is not None:
        summary.fact("Lesions over 30 mm", str(res["lesions_over_30_mm"]))
    summary.fact("Couinaud segments", "estimated from the landmarks" if res.get("landmarks")
                 else "not estimated (no landmarks given)")
    vessels = res.get("vessels") or {}
    if vessels.get("segmented"):
        summary.fact("Large vessels", f"segmented on this CT (≥ {format_number(vessels.get('min_diameter_mm'))} mm, "
                     f"above {format_number(vessels.get('threshold_hu'))} HU)")
    elif vessels.get("source"):
        summary.fact("Large vessels", f"given mask (≥ {format_number(vessels.get('min_diameter_mm'))} mm)")
    else:
        summary.fact("Large vessels", "not measured")
    hilum = res.get("hilum") or {}
    summary.fact("Hilum", str(hilum.get("source")) if hilum.get("lps_mm") else "no hilum point")
    if lesions:
        limit = format_number(_distance_limit_mm())
        summary.tables.append(Table(
            ["Lesion"] + [h for h, _ in LESION_TABLE_COLUMNS], lesion_table_rows(res), caption="Size and location",
            note="Longest axial diameter and short axis as RECIST 1.1 measures them. Distances from the lesion "
                 f"surface (0: touching); “> {limit}”: farther than the {limit} mm distances are measured to. "
                 "Segment: Couinaud estimate from landmark planes; “near a plane”: within 10 mm of one.",
        ))
    if res.get("note"):
        summary.paragraphs.append(str(res["note"]))
    summary.warnings.extend(str(w) for w in res.get("warnings", []))
    return summary


def _criteria_rows(res: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header (criterion, threshold, one column per lesion) and one row per criterion of the facts."""
    lesions = [r for r in res.get("lesions", []) if isinstance(r, Mapping)]
    criteria = [c for c in res.get("criteria", []) if isinstance(c, Mapping)]
    header = ["Criterion", "Threshold"] + [f"Lesion {r.get('label')}" for r in lesions]
    rows = []
    for c in criteria:
        key = str(c.get("key"))
        unit = humanize_key(str(c.get("quantity", "")))[1]
        row = [_CRITERION_NAMES.get(key, humanize_key(key)[0]), f"{format_number(c.get('threshold'))} {unit}".strip()]
        for r in lesions:
            fact = next((f for f in r.get("facts", []) if f.get("criterion") == key), None)
            row.append(str(fact.get("relation")) if fact else "not measured")
        rows.append(row)
    return header, rows


def build_lesion_report(overview: Any, ct: Volume, title: str = "Lesion overview",
                        facts: Sequence[tuple[str, str]] | None = None) -> ReportDocument:
    """The report of a :class:`workstation.lesions.LesionOverview` (see the module docstring).

    ``facts`` (patient and study lines of the summary) default to those of ``ct``.
    """
    res: Mapping[str, Any] = overview.results
    doc = ReportDocument(title=title, subtitle=f"workstation {res.get('workstation_version', '')}")
    doc.summary = _lesion_summary(res, study_facts(ct, "CT") if facts is None else facts)

    # ---------------------------------------------------------------- results
    sec = doc.add(Section("Slices", kind="result"))
    sec.paragraphs.append("Each lesion on the axial slice of its longest diameter, with the liver and the large "
                          "vessels; the patient's right on the left of the picture.")
    lesions = overview.lesions.array
    liver = overview.liver.array > 0 if overview.liver is not None else None
    vessels = overview.vessels.array > 0 if overview.vessels is not None else None
    for r in res.get("lesions", []):
        k = r.get("slice_index")
        if k is None:
            continue
        m = lesions == r["label"]
        if not m[int(k)].any():
            continue
        c = np.argwhere(m[int(k)]).mean(axis=0)
        outlines = [("lesion", m)] + ([("liver", liver)] if liver is not None else []) + (
            [("vessels ≥ 3 mm", vessels)] if vessels is not None else [])
        fig = _slice_figure(ct, int(k), None, outlines,
                            f"Lesion {r['label']}: {format_length_mm(r.get('longest_diameter_mm'))} × "
                            f"{format_length_mm(r.get('short_axis_mm'))} mm", (float(c[0]), float(c[1])),
                            half_mm=max(40.0, float(r.get("longest_diameter_mm") or 0)))
        sec.figures.append(Figure(figure_png(fig), f"Lesion {r['label']}, slice {k}."))

    # ----------------------------------------------------------------- detail
    header, rows = _criteria_rows(res)
    if rows:
        sec = doc.add(Section("Facts against published criteria", kind="detail"))
        sec.tables.append(Table(header, rows, note="Facts, not recommendations; the statements and sources "
                                                   "are under “Published criteria and their sources”."))
    sec = doc.add(Section("Positions", kind="detail"))
    sec.tables.append(Table(
        ["Lesion", "Centre (LPS, mm)", "Slice", "Inside the liver (%)", "Nearest capsule point (LPS, mm)",
         "Nearest large-vessel point (LPS, mm)"],
        [[str(r.get("label")), _lps(r.get("centroid_lps_mm")), format_number(r.get("slice_index")),
          format_fraction_percent(r.get("inside_liver_fraction")), _lps(r.get("capsule_nearest_lps_mm")),
          _lps(r.get("vessel_nearest_lps_mm"))] for r in res.get("lesions", [])]))

    # -------------------------------------------------------------- reference
    criteria = [c for c in res.get("criteria", []) if isinstance(c, Mapping)]
    if criteria:
        sec = doc.add(Section("Published criteria and their sources", kind="reference"))
        sec.tables.append(Table(["Criterion", "Statement", "Source"],
                                [[_CRITERION_NAMES.get(str(c.get("key")), humanize_key(str(c.get("key")))[0]),
                                  str(c.get("statement", "")), str(c.get("source", ""))] for c in criteria]))
    definitions = res.get("definitions") or {}
    sec = doc.add(Section("Definitions and inputs", kind="reference"))
    if definitions:
        sec.tables.append(Table(["Quantity", "Definition"],
                                [[humanize_key(str(k))[0], str(v)] for k, v in definitions.items()],
                                caption="Definitions"))
    vessels_info = res.get("vessels")
    if isinstance(vessels_info, Mapping):
        sec.tables.append(Table(["Quantity", "Value"], key_value_rows(vessels_info), caption="Large vessels"))
    landmarks = res.get("landmarks")
    if isinstance(landmarks, Mapping):
        sec.tables.append(Table(["Landmark", "Position (LPS, mm)"],
                                [[humanize_key(str(k))[0], _lps(v)] for k, v in landmarks.items() if v],
                                caption="Landmarks"))
    inputs = res.get("inputs")
    if isinstance(inputs, Mapping):
        sec.tables.append(Table(["Role", "File"], [[humanize_key(str(k))[0], str(v)] for k, v in inputs.items() if v],
                                caption="Inputs"))
    return doc


def render_lesion_report(overview: Any, ct: Volume, title: str) -> tuple[str, bytes]:
    """HTML and PDF of the lesion report (the renderer ``workstation lesions`` passes to ``run_lesions``)."""
    from workstation.report.document import render_html, render_pdf

    doc = build_lesion_report(overview, ct, title)
    return render_html(doc), render_pdf(doc)
