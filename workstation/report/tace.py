"""The TACE report (lipiodol coverage) and the lesion-overview report, from their results and volumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from workstation.core.volume import Volume
from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Table,
    figure_png,
    format_number,
)
from workstation.report.plots import ROI_COLOURS

__all__ = [
    "LESION_TABLE_COLUMNS",
    "TACE_TABLE_COLUMNS",
    "build_lesion_report",
    "build_tace_report",
    "render_lesion_report",
    "render_tace_report",
]

TACE_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Volume (mL)", "volume_ml"),
    ("Coverage (%)", "lipiodol_coverage_percent"),
    ("Rim coverage", "rim_coverage_fraction"),
    ("Class", "class"),
    ("Largest gap (mL)", "largest_gap_ml"),
    ("Gap peripheral", "largest_gap_peripheral"),
    ("Mean lipiodol (HU)", "mean_lipiodol_hu"),
    ("Dense ≥ 365 HU", "dense_fraction"),
)

LESION_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Volume (mL)", "volume_ml"),
    ("Longest axial (mm)", "longest_diameter_mm"),
    ("Short axis (mm)", "short_axis_mm"),
    ("Capsule (mm)", "capsule_distance_mm"),
    ("Dome (mm)", "dome_distance_mm"),
    ("Vessel ≥ 3 mm (mm)", "vessel_distance_mm"),
    ("Hilum (mm)", "hilum_distance_mm"),
)


def _slice_figure(ct: Volume, k: int, overlay: np.ndarray | None, outlines: list[tuple[str, np.ndarray]],
                  title: str, centre_ij: tuple[float, float] | None = None, half_mm: float = 45.0,
                  overlay_label: str = "lipiodol above liver (HU)") -> MplFigure:
    """An axial slice in radiological orientation: CT, an optional colour overlay, outlines."""
    fig = MplFigure(figsize=(5.2, 4.6))
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


def build_tace_report(analysis: Any, title: str = "Lipiodol coverage after TACE") -> ReportDocument:
    """The report of a :class:`workstation.tace.TaceAnalysis`: summary first, then tables and slices."""
    res: Mapping[str, Any] = analysis.results
    doc = ReportDocument(title=title, subtitle=f"workstation {res.get('workstation_version', '')}")
    sec = doc.add(Section("Summary"))
    sec.paragraphs.extend(res.get("summary", []))
    sec.warnings.extend(res.get("warnings", []))
    sec.tables.append(Table(["Tumour"] + [h for h, _ in TACE_TABLE_COLUMNS],
                            [[format_number(t.get("label"))] + [format_number(t.get(k)) for _, k in TACE_TABLE_COLUMNS]
                             for t in res.get("tumors", [])]))
    sec.tables.append(Table(["Quantity", "Value"], [
        ["Non-target deposition (mL)", format_number(res.get("non_target_ml"))],
        ["Peritumoural deposition (mL)", format_number(res.get("peritumoral_ml"))],
        ["Lipiodol in the liver (mL)", format_number(res.get("lipiodol", {}).get("lipiodol_volume_ml"))],
        ["Liver volume (mL)", format_number(res.get("liver_volume_ml"))],
    ]))
    scale = res.get("constants", {}).get("deposition_scale", [])
    sec = doc.add(Section("Deposition scale"))
    sec.paragraphs.append(res.get("constants", {}).get("sources", {}).get("deposition_scale", ""))
    sec.tables.append(Table(["Class", "Published definition", "Rule applied here"],
                            [[c["class"], c["definition"], c["rule"]] for c in scale]))

    ct = analysis.ct
    lip = analysis.segmentation.mask.array > 0
    density = analysis.segmentation.density_hu.array
    gaps = analysis.gaps().array
    sec = doc.add(Section("Slices: deposition and gaps"))
    for rec in res.get("tumors", []):
        t = analysis.tumors.array == rec["label"]
        if not t.any():
            continue
        where = np.argwhere(gaps == rec["label"]) if rec.get("largest_gap_ml") else np.argwhere(t)
        centre = np.argwhere(t).mean(axis=0)
        k = int(np.round(where.mean(axis=0)[0]))
        fig = _slice_figure(ct, k, density, [("tumour", t), ("gap (no lipiodol)", gaps == rec["label"])],
                            f"Tumour {rec['label']}: {format_number(rec['lipiodol_coverage_percent'])} % covered, "
                            f"{rec['class']}", (float(centre[1]), float(centre[2])))
        sec.figures.append(Figure(figure_png(fig), f"Tumour {rec['label']}, slice {k}: lipiodol density (colour), "
                                  "tumour outline and the uncovered part."))
    for n, dep in enumerate(res.get("non_target_deposits", [])[:3], start=1):
        idx = ct.world_to_index(np.asarray(dep["centroid_lps_mm"]))
        k = int(np.clip(np.round(idx[0]), 0, ct.shape[0] - 1))
        fig = _slice_figure(ct, k, density, [("liver", analysis.liver.array > 0)] if analysis.liver is not None else [],
                            f"Non-target deposit {n}: {format_number(dep['volume_ml'])} mL", (float(idx[1]), float(idx[2])))
        sec.figures.append(Figure(figure_png(fig), f"Non-target deposit {n} (slice {k})."))
    if not lip.any():
        sec.paragraphs.append("No lipiodol was found in the liver.")

    sec = doc.add(Section("Method and constants"))
    stats = res.get("lipiodol", {})
    sec.tables.append(Table(["Quantity", "Value"], [[k, format_number(v)] for k, v in stats.items()
                                                    if not isinstance(v, dict)]))
    const = res.get("constants", {})
    sec.tables.append(Table(["Constant", "Value"], [[k, format_number(v)] for k, v in const.items()
                                                    if isinstance(v, int | float)]))
    for key, text in const.get("sources", {}).items():
        sec.paragraphs.append(f"{key}: {text}")
    for key, text in res.get("definitions", {}).items():
        sec.paragraphs.append(f"{key}: {text}")
    reg = res.get("registration")
    sec = doc.add(Section("Registration"))
    if reg:
        rows = [[k, format_number(v)] for k, v in reg.items() if isinstance(v, int | float | str)]
        err = reg.get("estimated_error_mm") or reg.get("error")
        if isinstance(err, Mapping):
            rows += [[f"estimated_error_mm.{k}", format_number(v)] for k, v in err.items()
                     if isinstance(v, int | float)]
        sec.tables.append(Table(["Quantity", "Value"], rows))
    else:
        sec.paragraphs.append("The tumour masks were given on the post-TACE CT; no registration.")
    return doc


def render_tace_report(analysis: Any, title: str) -> tuple[str, bytes]:
    """HTML and PDF of the TACE report (the renderer ``workstation tace`` passes to ``run_tace``)."""
    from workstation.report.document import render_html, render_pdf

    doc = build_tace_report(analysis, title)
    return render_html(doc), render_pdf(doc)


def build_lesion_report(overview: Any, ct: Volume, title: str = "Lesion overview") -> ReportDocument:
    """The report of a :class:`workstation.lesions.LesionOverview`."""
    res: Mapping[str, Any] = overview.results
    doc = ReportDocument(title=title, subtitle=f"workstation {res.get('workstation_version', '')}")
    sec = doc.add(Section("Summary"))
    sec.paragraphs.append(
        f"{res.get('lesion_count')} lesion(s); hepatic tumour burden {format_number(res.get('tumour_burden_percent'))} % "
        f"({format_number(res.get('tumour_volume_ml'))} mL of {format_number(res.get('liver_volume_ml'))} mL); "
        f"largest diameter {format_number(res.get('largest_diameter_mm'))} mm, sum of diameters "
        f"{format_number(res.get('sum_of_diameters_mm'))} mm. {res.get('note', '')}")
    sec.warnings.extend(res.get("warnings", []))
    sec.tables.append(Table(["Lesion"] + [h for h, _ in LESION_TABLE_COLUMNS] + ["Segment"],
                            [[format_number(r["label"])] + [format_number(r.get(k)) for _, k in LESION_TABLE_COLUMNS]
                             + [format_number((r.get("couinaud") or {}).get("segment"))]
                             for r in res.get("lesions", [])]))
    sec = doc.add(Section("Facts against published criteria"))
    for r in res.get("lesions", []):
        sec.tables.append(Table(["Criterion", "This lesion", "Published statement", "Source"],
                                [[f["criterion"], f["relation"], f["statement"], f["source"]] for f in r["facts"]],
                                caption=f"Lesion {r['label']}"))
    sec = doc.add(Section("Slices"))
    lesions = overview.lesions.array
    liver = overview.liver.array > 0 if overview.liver is not None else None
    vessels = overview.vessels.array > 0 if overview.vessels is not None else None
    for r in res.get("lesions", []):
        k = r.get("slice_index")
        if k is None:
            continue
        m = lesions == r["label"]
        c = np.argwhere(m[k]).mean(axis=0)
        outlines = [("lesion", m)] + ([("liver", liver)] if liver is not None else []) + (
            [("vessels ≥ 3 mm", vessels)] if vessels is not None else [])
        fig = _slice_figure(ct, int(k), None, outlines,
                            f"Lesion {r['label']}: {format_number(r.get('longest_diameter_mm'))} × "
                            f"{format_number(r.get('short_axis_mm'))} mm", (float(c[0]), float(c[1])),
                            half_mm=max(40.0, float(r.get('longest_diameter_mm') or 0)))
        sec.figures.append(Figure(figure_png(fig), f"Lesion {r['label']}, slice {k} (longest axial diameter)."))
    sec = doc.add(Section("Definitions"))
    for key, text in res.get("definitions", {}).items():
        sec.paragraphs.append(f"{key}: {text}")
    return doc


def render_lesion_report(overview: Any, ct: Volume, title: str) -> tuple[str, bytes]:
    """HTML and PDF of the lesion report (the renderer ``workstation lesions`` passes to ``run_lesions``)."""
    from workstation.report.document import render_html, render_pdf

    doc = build_lesion_report(overview, ct, title)
    return render_html(doc), render_pdf(doc)
