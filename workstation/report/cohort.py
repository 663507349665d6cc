"""The cohort report (from ``analysis.json`` of ``workstation cohort analyze``).

Summary first (cases, the fitted D50 and hazard ratio with their intervals), then
the dose-response section (fits, curves, ROC), the margin-outcome section
(Kaplan-Meier, log-rank, Cox), the failed cases, and methods and sources last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Table,
    figure_png,
    format_number,
)
from workstation.report.plots import ROI_COLOURS

__all__ = ["build_cohort_report", "dose_response_figure", "kaplan_meier_figure", "roc_figure"]

_METRIC_LABELS = {"mean_gy": "mean absorbed dose", "d70_gy": "D70", "eqd2_mean_gy": "mean EQD2",
                  "d90_gy": "D90", "d50_gy": "D50 (median dose)", "d98_gy": "D98"}


def _label(metric: str) -> str:
    return _METRIC_LABELS.get(metric, metric)


def _ci(entry: Mapping[str, Any] | None, digits: int = 4) -> str:
    """``estimate (lo to hi)``."""
    if not entry or entry.get("estimate") is None:
        return "–"
    lo, hi = entry.get("ci") or [None, None]
    return (f"{format_number(entry['estimate'], digits)} "
            f"({format_number(lo, digits)} to {format_number(hi, digits)})")


def dose_response_figure(metric: str, entry: Mapping[str, Any], method: str | None) -> MplFigure:
    """Responses (0/1, jittered) against dose with the fitted logistic curve and its band."""
    fig = MplFigure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    pts = entry.get("points") or {}
    x = np.asarray(pts.get("dose_gy", []), dtype=float)
    y = np.asarray(pts.get("response", []), dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, len(y))
    ax.scatter(x, y + jitter, s=18, color=ROI_COLOURS[4], alpha=0.8, label="lesions (response 1/0)")
    curve = entry.get("curve")
    if curve:
        d = np.asarray(curve["dose_gy"])
        ax.fill_between(d, curve["lower"], curve["upper"], color=ROI_COLOURS[1], alpha=0.3, lw=0,
                        label="95 % confidence band")
        ax.plot(d, curve["probability"], color=ROI_COLOURS[5], lw=1.8, label="logistic fit")
    d50 = (entry.get("d50_gy") or {}).get("estimate")
    if d50 is not None and np.isfinite(d50) and x.size and x.min() <= d50 <= x.max() * 1.2:
        ax.axvline(d50, color="#444444", ls="--", lw=1, label=f"D50 {format_number(d50, 3)} Gy")
    ax.set_xlabel(f"{_label(metric)} ({method or 'dose'}), Gy")
    ax.set_ylabel("Response probability")
    ax.set_ylim(-0.08, 1.08)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title(f"Dose-response: {_label(metric)}")
    return fig


def roc_figure(curves: Mapping[str, Mapping[str, Any]]) -> MplFigure:
    """ROC curves of the dose metrics, with each AUC."""
    fig = MplFigure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    for n, (metric, entry) in enumerate(curves.items()):
        roc = entry.get("roc")
        if not roc:
            continue
        ax.step(roc["curve"]["fpr"], roc["curve"]["tpr"], where="post", color=ROI_COLOURS[n % 7], lw=1.6,
                label=f"{_label(metric)}: AUC {format_number(roc['auc']['estimate'], 3)}")
        thr = roc["threshold_at_sensitivity"]
        ax.plot(1 - thr["specificity"], thr["sensitivity"], "o", color=ROI_COLOURS[n % 7], ms=5)
    ax.plot([0, 1], [0, 1], ":", color="#888888", lw=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("ROC of response by dose")
    return fig


def kaplan_meier_figure(km: list[Mapping[str, Any]]) -> MplFigure:
    """Freedom from local progression by minimal-margin group, with pointwise bands."""
    fig = MplFigure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    colours = (ROI_COLOURS[5], ROI_COLOURS[0], ROI_COLOURS[2], ROI_COLOURS[4], ROI_COLOURS[6])
    for n, group in enumerate(km):
        t = np.concatenate([[0.0], group["times_months"]])
        s = np.concatenate([[1.0], group["survival"]])
        lo = np.concatenate([[1.0], group["lower"]])
        hi = np.concatenate([[1.0], group["upper"]])
        c = colours[n % len(colours)]
        ax.step(t, s, where="post", color=c, lw=1.8,
                label=f"{group['group']} (n = {group['n']}, {group['events']} events)")
        ax.fill_between(t, lo, hi, step="post", color=c, alpha=0.15, lw=0)
    ax.set_xlabel("Months after ablation")
    ax.set_ylabel("Free from local progression")
    ax.set_ylim(0, 1.03)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Kaplan-Meier by minimal ablative margin")
    return fig


def _summary(analysis: Mapping[str, Any]) -> Section:
    cohort = analysis.get("cohort") or {}
    status = cohort.get("status") or {}
    sec = Section("Summary")
    by_cmd = ", ".join(f"{n} {c}" for c, n in (cohort.get("by_command") or {}).items())
    sec.paragraphs.append(
        f"{cohort.get('treatments', 0)} treatments ({by_cmd or 'none'}): {status.get('done', 0)} run, "
        f"{status.get('skipped', 0)} unchanged since an earlier run, {status.get('failed', 0)} failed."
    )
    rows = []
    dr = analysis.get("dose_response") or {}
    for metric, entry in (dr.get("metrics") or {}).items():
        if entry.get("status") == "ok":
            thr = (entry.get("roc") or {}).get("threshold_at_sensitivity") or {}
            rows.append([f"{_label(metric)} ({dr.get('method')})", str(entry.get("n")),
                         _ci(entry.get("d50_gy")), _ci((entry.get("roc") or {}).get("auc"), 3),
                         f"{format_number(thr.get('threshold_gy'))} Gy: sens. {format_number(thr.get('sensitivity'), 3)},"
                         f" spec. {format_number(thr.get('specificity'), 3)}"])
        else:
            rows.append([f"{_label(metric)} ({dr.get('method')})", str(entry.get("n", 0)),
                         str(entry.get("note") or entry.get("status")), "–", "–"])
    if rows:
        sec.tables.append(Table(["Dose metric", "Lesions", "D50, Gy (95 % CI)", "AUC (95 % CI)",
                                 "Threshold at the chosen sensitivity"], rows,
                                "Dose-response (logistic regression of response on dose)"))
    mo = analysis.get("margin_outcome") or {}
    if mo.get("status") == "ok" and mo["cox"].get("status") == "ok":
        cox = mo["cox"]
        lr = mo.get("log_rank") or {}
        sec.tables.append(Table(
            ["Ablations", "Local progressions", "Hazard ratio per mm of minimal margin (95 % CI)", "Cox p",
             "Log-rank p (groups)"],
            [[str(mo["n"]), str(mo["events"]), _ci(cox["hazard_ratio_per_mm"], 3), format_number(cox["p_value"], 3),
              format_number(lr.get("p_value"), 3)]],
            "Margin-outcome (Cox model of local progression)"))
    else:
        note = mo.get("note") or (mo.get("cox") or {}).get("note") or mo.get("status") or "no ablations"
        sec.paragraphs.append(f"Margin-outcome: {note}.")
    for item in cohort.get("failed") or []:
        sec.warnings.append(f"Case {item['id']} failed: {item['reason']}")
    return sec


def _dose_response(analysis: Mapping[str, Any]) -> Section | None:
    dr = analysis.get("dose_response") or {}
    metrics = dr.get("metrics") or {}
    if not metrics:
        return None
    sec = Section("Dose-response")
    sec.paragraphs.append(
        f"Response of each {dr.get('level', 'lesion').rstrip('s')} (outcome column of the manifest, 1/0) "
        f"against its dose by the {dr.get('method')} method, one logistic regression per dose metric: "
        "P(response) = 1 / (1 + exp(-(b0 + b1 D))). Intervals are 95 % Wald intervals; D50 = -b0/b1 with a "
        "delta-method interval. The ROC threshold is the lowest dose that reaches the chosen sensitivity."
    )
    rows = []
    for metric, entry in metrics.items():
        if entry.get("status") != "ok":
            rows.append([_label(metric), str(entry.get("n", 0)), str(entry.get("responders", 0)),
                         str(entry.get("note") or entry.get("status")), "–", "–", "–"])
            continue
        rows.append([_label(metric), str(entry["n"]), str(entry["responders"]), _ci(entry["intercept"]),
                     _ci(entry["slope_per_gy"]), format_number(entry.get("p_value_slope"), 3),
                     format_number(entry.get("pseudo_r2_mcfadden"), 3)])
    sec.tables.append(Table(["Metric", "n", "Responders", "b0 (95 % CI)", "b1 per Gy (95 % CI)", "p (b1)",
                             "McFadden R²"], rows, "Logistic fits"))
    for metric, entry in metrics.items():
        if entry.get("points", {}).get("dose_gy"):
            sec.figures.append(Figure(figure_png(dose_response_figure(metric, entry, dr.get("method"))),
                                      f"{_label(metric)}: responses (jittered vertically) and the fitted curve."))
    with_roc = {m: e for m, e in metrics.items() if e.get("roc")}
    if with_roc:
        sec.figures.append(Figure(figure_png(roc_figure(with_roc)),
                                  "ROC curves; the dots mark the threshold at the chosen sensitivity."))
    return sec


def _margin_outcome(analysis: Mapping[str, Any]) -> Section | None:
    mo = analysis.get("margin_outcome") or {}
    if not mo.get("n"):
        return None
    sec = Section("Margin-outcome")
    sec.paragraphs.append(
        "Freedom from local tumour progression after ablation by minimal ablative margin (the smallest "
        "margin over the tumours of a treatment): Kaplan-Meier estimates per margin group with pointwise "
        "95 % intervals, the log-rank test across the groups, and a Cox proportional-hazards model of the "
        "minimal margin in mm."
    )
    if mo.get("status") != "ok":
        sec.paragraphs.append(str(mo.get("note")))
        return sec
    sec.tables.append(Table(
        ["Group", "Ablations", "Local progressions", "Median months to progression"],
        [[g["group"], str(g["n"]), str(g["events"]), format_number(g.get("median_months"))]
         for g in mo["kaplan_meier"]], "Margin groups"))
    sec.figures.append(Figure(figure_png(kaplan_meier_figure(mo["kaplan_meier"])),
                              "Kaplan-Meier curves with pointwise 95 % bands (log(-log) scale)."))
    cox = mo["cox"]
    if cox.get("status") != "ok":
        sec.paragraphs.append(str(cox.get("note")))
        return sec
    sec.tables.append(Table(["Quantity", "Value"], [
        ["log hazard ratio per mm (95 % CI)", _ci(cox["log_hazard_ratio_per_mm"])],
        ["hazard ratio per mm (95 % CI)", _ci(cox["hazard_ratio_per_mm"])],
        ["p (Wald)", format_number(cox["p_value"], 3)],
        ["log-rank chi² (df)", f"{format_number((mo.get('log_rank') or {}).get('chi2'), 3)} "
                               f"({(mo.get('log_rank') or {}).get('df', '–')})"],
    ], "Cox model"))
    return sec


def build_cohort_report(analysis: Mapping[str, Any], title: str = "Cohort: dose-response and margin-outcome"
                        ) -> ReportDocument:
    """The cohort report document of an ``analysis.json``."""
    doc = ReportDocument(title=title, subtitle=f"workstation {analysis.get('workstation_version', '')}; "
                         f"cohort {((analysis.get('cohort') or {}).get('folder')) or ''}")
    doc.add(_summary(analysis))
    for section in (_dose_response(analysis), _margin_outcome(analysis)):
        if section is not None:
            doc.add(section)
    cohort = analysis.get("cohort") or {}
    failed = cohort.get("failed") or []
    if failed:
        doc.add(Section("Failed cases", tables=[Table(["Case", "Reason"], [[f["id"], f["reason"]] for f in failed])]))
    sec = doc.add(Section("Methods, constants and sources"))
    run = cohort.get("run") or {}
    sec.paragraphs.append(
        f"Cohort run {run.get('started') or '–'} from {run.get('manifest') or '–'} "
        f"(code {run.get('code_hash') or '–'}), on {((run.get('cluster') or {}).get('scheduler')) or '–'}."
    )
    eqd2 = analysis.get("eqd2") or {}
    if eqd2.get("tissues"):
        sec.tables.append(Table(
            ["Tissue", "α/β (Gy)", "Repair half-time (h)", "Source"],
            [[name, format_number(t.get("alpha_beta_gy")), format_number(t.get("repair_half_time_h")),
              str(t.get("source", ""))] for name, t in eqd2["tissues"].items()],
            "EQD2 of the ROI doses (mean over the DVH; permanent implant)"))
    for source in [*(analysis.get("sources") or []), *(eqd2.get("sources") or [])]:
        sec.paragraphs.append(source)
    return doc
