"""Reports of ``rt-dose`` (coverage of an SBRT or HDR plan) and ``combine`` (EQD2 sums).

Order, as a reader uses it: summary first (key numbers per structure, constraints,
warnings), then the DVHs, then slices and detail, inputs and constants last.
"""

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
)
from workstation.report.plots import axial_overlay_figure, dvh_figure

__all__ = ["build_rt_dose_report", "render_rt_dose_report", "build_combine_report", "render_combine_report"]

#: Columns of the summary table: (header, key of an ROI entry).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Volume (mL)", "volume_ml"),
    ("Mean (Gy)", "mean_gy"),
    ("D98 (Gy)", "d98_gy"),
    ("D95 (Gy)", "d95_gy"),
    ("D50 (Gy)", "d50_gy"),
    ("D2 (Gy)", "d2_gy"),
    ("V100 (%)", "v100_percent"),
    ("V95 (%)", "v95_percent"),
    ("EQD2 mean (Gy)", "eqd2_mean_gy"),
    ("α/β (Gy)", "alpha_beta_gy"),
)
BRACHY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("D100 (Gy)", "d100_gy"),
    ("D90 (Gy)", "d90_gy"),
    ("V150 (%)", "v150_percent"),
    ("V200 (%)", "v200_percent"),
)


def _curves(rows: Sequence[tuple[str, str, float, float]]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for quantity, roi, dose_gy, volume_percent in rows:
        grouped.setdefault((quantity, roi), []).append((dose_gy, volume_percent))
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for (quantity, roi), points in grouped.items():
        pts = np.asarray(points)
        curves.setdefault(quantity, {})[roi] = (pts[:, 0], pts[:, 1])
    return curves


def _inputs_section(doc: ReportDocument, inputs: Sequence[Mapping[str, Any]]) -> None:
    sec = doc.add(Section("Inputs"))
    if inputs:
        sec.tables.append(Table(["Role", "File"], [[str(i.get("role", "")), str(i.get("path", ""))] for i in inputs]))
    else:
        sec.paragraphs.append("No input description was given.")


def _radiobiology_section(doc: ReportDocument, rb: Mapping[str, Any]) -> None:
    sec = doc.add(Section("Radiobiology: parameters and sources"))
    if rb.get("scheme"):
        sec.paragraphs.append(f"Scheme: {rb['scheme'].get('description')}.")
    per = rb.get("alpha_beta_gy", {})
    if per:
        trep = rb.get("repair_half_time_h", {})
        sec.tables.append(Table(["Structure", "α/β (Gy)", "Repair half-time (h)"],
                                [[k, format_number(v), format_number(trep.get(k))] for k, v in per.items()],
                                caption="Parameters used per structure"))
    tissues = rb.get("tissues", {})
    if tissues:
        sec.tables.append(Table(["Tissue", "α/β (Gy)", "T_rep (h)", "Source"],
                                [[k, format_number(v["alpha_beta_gy"]), format_number(v["repair_half_time_h"]),
                                  str(v["source"])] for k, v in tissues.items()],
                                caption="Default tissue parameters (overridable)"))
    default = rb.get("default_tissue")
    if default:
        sec.paragraphs.append(f"Voxels outside every structure: tissue '{default.get('name')}' "
                              f"(α/β {format_number(default.get('alpha_beta_gy'))} Gy).")
    for s in rb.get("sources", []):
        sec.paragraphs.append(str(s))


def _warnings_section(doc: ReportDocument, warnings: Sequence[Any]) -> Section:
    sec = doc.add(Section("Warnings"))
    if warnings:
        sec.warnings.extend(str(w) for w in warnings)
    else:
        sec.paragraphs.append("No warning was raised.")
    return sec


def build_rt_dose_report(
    results: Mapping[str, Any],
    dose: Volume | None = None,
    ct: Volume | None = None,
    structures: Sequence[tuple[str, np.ndarray]] = (),
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
) -> ReportDocument:
    """The coverage report of ``workstation rt-dose`` (see the module docstring)."""
    kind = results.get("kind", "external")
    label = "HDR brachytherapy" if kind == "brachy" else "External beam (SBRT)"
    rx = results.get("prescription_gy")
    fx = results.get("fractions")
    doc = ReportDocument(
        title=f"{label}: dose coverage and EQD2",
        subtitle=(f"Prescription {format_number(rx)} Gy in {format_number(fx)} fraction(s); "
                  f"workstation {results.get('workstation_version', '')}"),
    )
    # ---- summary
    sec = doc.add(Section("Summary"))
    rois = results.get("rois", {})
    cols = SUMMARY_COLUMNS + (BRACHY_COLUMNS if kind == "brachy" else ())
    rows = [[name] + [format_number(entry.get(key)) for _, key in cols] for name, entry in rois.items()]
    sec.tables.append(Table(["Structure"] + [h for h, _ in cols], rows,
                            caption="Physical dose over the whole course; V100/V95 in % of the structure "
                            "receiving at least 100 %/95 % of the prescription; EQD2 with the structure's α/β."))
    conf = results.get("conformity", {})
    if conf.get("target"):
        sec.tables.append(Table(
            ["Target", "Paddick CI", "Gradient index", "PIV (mL)", "TV (mL)", "TV∩PIV (mL)"],
            [[str(conf["target"]), format_number(conf.get("paddick")), format_number(conf.get("gradient_index")),
              format_number(conf.get("piv_ml")), format_number(conf.get("tv_ml")), format_number(conf.get("tv_piv_ml"))]],
            caption="Paddick conformity index TV_PIV²/(TV·PIV) (1 is ideal) and gradient index PIV50/PIV100.",
        ))
    cons = results.get("constraints", [])
    if cons:
        sec.tables.append(Table(
            ["Constraint", "Value", "Limit", "Met", "Source"],
            [[c["description"] + (" (derived)" if c.get("derived") else ""),
              f"{format_number(c['value'])} {c['unit']}", f"{format_number(c['limit'])} {c['unit']}",
              "yes" if c["passed"] else "NO", c["source"]] for c in cons],
            caption="Normal-liver constraints (normal liver = liver minus GTV).",
        ))
    warnings = list(results.get("warnings", []))
    if warnings:
        sec.warnings.extend(str(w) for w in warnings)
    # ---- DVH
    if dvh_curves:
        sec = doc.add(Section("Dose-volume histograms"))
        phys = {"physical": dvh_curves["physical"]} if "physical" in dvh_curves else {}
        if phys:
            sec.figures.append(Figure(figure_png(dvh_figure(phys, "Cumulative DVH, physical dose")),
                                      "Physical dose over the whole course."))
        if "eqd2" in dvh_curves:
            sec.figures.append(Figure(figure_png(dvh_figure({"eqd2": dvh_curves["eqd2"]},
                                                            "Cumulative DVH, EQD2")),
                                      "EQD2 (Gy) with each structure's α/β; x axis in Gy EQD2."))
    # ---- slices
    display = ct if ct is not None else dose
    if display is not None and dose is not None:
        sec = doc.add(Section("Axial slices"))
        target = conf.get("target")
        masks = dict(structures)
        k = None
        if target in masks and np.any(masks[target]):
            k = int(round(float(np.mean(np.nonzero(masks[target])[0]))))
        if k is None:
            k = int(np.argmax(np.asarray(dose.array).sum(axis=(1, 2))))
        vmax = float(np.max(dose.array)) or 1.0
        shown = [(n, m > 0.5) for n, m in structures if n.lower() not in ("body", "external")][:8]
        for kk in sorted({max(0, k - 3), k, min(display.shape[0] - 1, k + 3)}):
            z_mm = float(display.index_to_world([kk, 0, 0])[2])
            fig = axial_overlay_figure(display, kk, dose=dose, rois=shown, dose_max_gy=vmax,
                                       dose_threshold_gy=(0.3 * rx if rx else 0.1 * vmax),
                                       title=f"slice {kk} (z = {z_mm:.1f} mm)")
            sec.figures.append(Figure(figure_png(fig), "Physical dose wash from 30 % of the prescription."))
    # ---- detail
    sec = doc.add(Section("Detail per structure"))
    keys = sorted({k for e in rois.values() for k, v in e.items() if isinstance(v, int | float) and k not in
                   dict(cols).values()})
    if keys:
        sec.tables.append(Table(["Structure"] + keys,
                                [[n] + [format_number(e.get(k)) for k in keys] for n, e in rois.items()]))
    by_target = results.get("conformity_by_target", {})
    if by_target:
        sec.tables.append(Table(["Target", "Paddick", "GI", "RTOG PIV/TV"],
                                [[n, format_number(c.get("paddick")), format_number(c.get("gradient_index")),
                                  format_number(c.get("rtog"))] for n, c in by_target.items()],
                                caption="Conformity of every target"))
    plan = results.get("plan")
    if plan:
        rows2 = [[k, format_number(v)] for k, v in plan.items() if not isinstance(v, dict | list)]
        sec.tables.append(Table(["RT Plan", "Value"], rows2))
        brachy = plan.get("brachy")
        if brachy:
            sec.tables.append(Table(["Brachytherapy", "Value"],
                                    [[k, format_number(v)] for k, v in brachy.items() if not isinstance(v, dict | list)]))
            for s in brachy.get("sources", []):
                sec.paragraphs.append("Source: " + ", ".join(f"{k} {format_number(v)}" for k, v in s.items()))
    dose_info = results.get("dose", {})
    if dose_info:
        sec.tables.append(Table(["RT Dose", "Value"], [[k, format_number(v) if not isinstance(v, list) else
                                                         ", ".join(str(x) for x in v)]
                                                        for k, v in dose_info.items() if not isinstance(v, dict)]))
    # ---- inputs and constants last
    _inputs_section(doc, inputs)
    _radiobiology_section(doc, results.get("radiobiology", {}))
    const = results.get("constants", {})
    sec = doc.add(Section("Constants and their sources"))
    sec.tables.append(Table(["Quantity", "Value"], [[k, format_number(v) if not isinstance(v, list | dict) else str(v)]
                                                    for k, v in const.items() if k != "sources"]))
    for k, s in const.get("sources", {}).items():
        sec.paragraphs.append(f"{k}: {s}")
    return doc


def render_rt_dose_report(result: Any, inputs: Sequence[Mapping[str, Any]] = ()) -> tuple[str, bytes]:
    """HTML and PDF of an :class:`workstation.radiotherapy.RtDoseResult` (the renderer ``rt-dose`` passes)."""
    from workstation.report.document import render_html, render_pdf

    structures = [(s.name, s.weights) for s in result.structures]
    doc = build_rt_dose_report(result.results, dose=result.dose, ct=result.ct, structures=structures,
                               dvh_curves=_curves(result.dvh_rows), inputs=inputs)
    return render_html(doc), render_pdf(doc)


def build_combine_report(
    results: Mapping[str, Any],
    total: Volume | None = None,
    ct: Volume | None = None,
    structures: Sequence[tuple[str, np.ndarray]] = (),
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
) -> ReportDocument:
    """The report of ``workstation combine``: EQD2 per treatment and in total."""
    names = [t["name"] for t in results.get("treatments", [])]
    doc = ReportDocument(title="Cumulative EQD2 of several treatments",
                         subtitle=", ".join(f"{t['name']}: {t['scheme']['description']}"
                                            for t in results.get("treatments", [])))
    sec = doc.add(Section("Summary"))
    rows = []
    for roi, entry in results.get("rois", {}).items():
        row = [roi, format_number(entry.get("alpha_beta_gy"))]
        row += [format_number(entry.get(n, {}).get("mean_gy")) for n in names]
        row += [format_number(entry["total"]["mean_gy"]), format_number(entry["total"]["d2_gy"]),
                format_number(entry["total"]["d98_gy"])]
        rows.append(row)
    sec.tables.append(Table(["Structure", "α/β (Gy)"] + [f"{n} EQD2 mean (Gy)" for n in names]
                            + ["Total EQD2 mean (Gy)", "Total D2 (Gy)", "Total D98 (Gy)"], rows,
                            caption="Mean EQD2 per treatment and of the sum (Gy)."))
    if results.get("warnings"):
        sec.warnings.extend(str(w) for w in results["warnings"])
    if dvh_curves:
        sec = doc.add(Section("EQD2 dose-volume histograms"))
        sec.figures.append(Figure(figure_png(dvh_figure(dvh_curves, "Cumulative DVH, EQD2")),
                                  "One curve per structure and treatment (in brackets); eqd2_total is the sum."))
    if total is not None and ct is not None:
        sec = doc.add(Section("Axial slice of the EQD2 sum"))
        k = int(np.argmax(np.asarray(total.array).sum(axis=(1, 2))))
        shown = [(n, m > 0.5) for n, m in structures][:8]
        fig = axial_overlay_figure(ct, k, dose=total, rois=shown, title=f"EQD2 sum, slice {k}")
        sec.figures.append(Figure(figure_png(fig), "EQD2 sum (Gy)."))
    _inputs_section(doc, inputs)
    _radiobiology_section(doc, results.get("radiobiology", {}))
    return doc


def render_combine_report(result: Any, inputs: Sequence[Mapping[str, Any]] = ()) -> tuple[str, bytes]:
    """HTML and PDF of a :class:`workstation.radiotherapy.CombineResult`."""
    from workstation.report.document import render_html, render_pdf

    doc = build_combine_report(result.results, total=result.total, ct=result.ct,
                               structures=[(s.name, s.weights) for s in result.structures],
                               dvh_curves=_curves(result.dvh_rows), inputs=inputs)
    return render_html(doc), render_pdf(doc)
