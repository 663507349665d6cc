"""The parts of the radiotherapy reports (:mod:`.radiotherapy`): structure columns and tables,
summary, DVH curves, slices, and the inputs, radiobiology, constants and plan sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workstation.core.volume import Volume
from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    format_dose_gy,
    format_number,
    format_quantity,
    format_ratio,
    humanize_key,
    key_value_rows,
)

#: A column of a structure table: (header, key of a results.json ROI entry, unit of the formatter).
Column = tuple[str, str, str]

#: Target coverage in the summary (V100: share of the target receiving the prescription).
TARGET_COLUMNS: tuple[Column, ...] = (
    ("Volume (mL)", "volume_ml", "mL"),
    ("V100 (%)", "v100_percent", "%"),
    ("D98 (Gy)", "d98_gy", "Gy"),
    ("D2 (Gy)", "d2_gy", "Gy"),
    ("Mean (Gy)", "mean_gy", "Gy"),
)
#: Added for brachytherapy targets (GEC-ESTRO: D90, V150, V200).
BRACHY_TARGET_COLUMNS: tuple[Column, ...] = (
    ("D90 (Gy)", "d90_gy", "Gy"),
    ("V150 (%)", "v150_percent", "%"),
    ("V200 (%)", "v200_percent", "%"),
)
#: Normal tissue in the summary: physical dose and EQD2 with the tissue's α/β.
NORMAL_COLUMNS: tuple[Column, ...] = (
    ("Volume (mL)", "volume_ml", "mL"),
    ("Mean (Gy)", "mean_gy", "Gy"),
    ("D2 (Gy)", "d2_gy", "Gy"),
    ("EQD2 mean (Gy)", "eqd2_mean_gy", "Gy"),
    ("EQD2 D2 (Gy)", "eqd2_d2_gy", "Gy"),
    ("α/β (Gy)", "alpha_beta_gy", "Gy"),
)
#: Every structure, physical dose, in the detail.
STRUCTURE_DOSE_COLUMNS: tuple[Column, ...] = (
    ("Volume (mL)", "volume_ml", "mL"),
    ("Mean (Gy)", "mean_gy", "Gy"),
    ("Min (Gy)", "min_gy", "Gy"),
    ("Max (Gy)", "max_gy", "Gy"),
    ("D98 (Gy)", "d98_gy", "Gy"),
    ("D95 (Gy)", "d95_gy", "Gy"),
    ("D50 (Gy)", "d50_gy", "Gy"),
    ("D2 (Gy)", "d2_gy", "Gy"),
    ("V100 (%)", "v100_percent", "%"),
    ("V95 (%)", "v95_percent", "%"),
)
_BRACHY_DETAIL_COLUMNS: tuple[Column, ...] = (
    ("D100 (Gy)", "d100_gy", "Gy"),
    ("D90 (Gy)", "d90_gy", "Gy"),
    ("V150 (%)", "v150_percent", "%"),
    ("V200 (%)", "v200_percent", "%"),
)
_EQD2_COLUMNS: tuple[Column, ...] = (
    ("α/β (Gy)", "alpha_beta_gy", "Gy"),
    ("EQD2 mean (Gy)", "eqd2_mean_gy", "Gy"),
    ("EQD2 D98 (Gy)", "eqd2_d98_gy", "Gy"),
    ("EQD2 D2 (Gy)", "eqd2_d2_gy", "Gy"),
)
_TARGET_KINDS = ("gtv", "target")
#: Size of a slice picture (inches at 110 dpi): two side by side in a 1280 px window.
_SLICE_SIZE_IN = (4.4, 3.7)
_MAX_SLICE_ROIS = 8

def _cell(entry: Mapping[str, Any], key: str, unit: str) -> str:
    return format_quantity(entry.get(key), unit)


def structure_table_rows(
    rois: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Column],
    names: Sequence[str] | None = None,
) -> list[list[str]]:
    """Rows (structure name first) of a structure table, each number formatted once for its unit."""
    return [[name] + [_cell(rois[name], key, unit) for _, key, unit in columns]
            for name in (names if names is not None else list(rois))]


def _targets(rois: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [n for n, e in rois.items() if e.get("kind") in _TARGET_KINDS]


def _normal_tissue(rois: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Structures that are neither targets nor the body outline, the derived normal liver first."""
    names = [n for n, e in rois.items() if e.get("kind") not in (*_TARGET_KINDS, "body")]
    return sorted(names, key=lambda n: (not _is_normal_liver(n, rois[n]), names.index(n)))


def _is_normal_liver(name: str, entry: Mapping[str, Any]) -> bool:
    """The liver minus the tumours the workflow derives ("Liver - GTV")."""
    return entry.get("kind") == "liver" and " - " in name


def constraint_rows(constraints: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Rows (constraint, value, limit, met) of the normal-liver constraints, formatted as in the report."""
    rows = []
    for c in constraints:
        unit = str(c.get("unit", ""))
        rows.append([
            str(c.get("description", c.get("name", ""))) + (" (derived)" if c.get("derived") else ""),
            f"{format_quantity(c.get('value'), unit)} {unit}".strip(),
            f"{format_quantity(c.get('limit'), unit)} {unit}".strip(),
            "yes" if c.get("passed") else "NO",
        ])
    return rows


def _fractions_text(n: Any) -> str:
    return f"{format_number(n)} fraction{'' if n == 1 else 's'}"


def _treatment_text(results: Mapping[str, Any]) -> str:
    plan = results.get("plan") or {}
    brachy = plan.get("brachy") if isinstance(plan, Mapping) else None
    if results.get("kind") == "brachy":
        text = "HDR brachytherapy"
        if isinstance(brachy, Mapping):
            technique = str(brachy.get("technique") or "").lower()
            isotopes = sorted({str(s.get("isotope", "")) for s in brachy.get("sources", []) if s.get("isotope")})
            text += f" ({technique})" if technique else ""
            if isotopes:
                text += ", " + ", ".join(isotopes) + " source"
            if brachy.get("channels") is not None:
                text += f", {brachy['channels']} channels, {brachy.get('dwell_positions', '?')} dwell positions"
    else:
        text = "External beam (SBRT)"
        if isinstance(plan, Mapping) and plan.get("beams"):
            text += f", {plan['beams']} beams"
    if isinstance(plan, Mapping) and plan.get("label"):
        text += f"; plan “{plan['label']}”"
    return text


def _rt_summary(results: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    rois: Mapping[str, Mapping[str, Any]] = results.get("rois", {})
    rx, fx = results.get("prescription_gy"), results.get("fractions")
    brachy = results.get("kind") == "brachy"
    summary.fact("Treatment", _treatment_text(results))
    if rx is not None:
        text = f"{format_dose_gy(rx)} Gy"
        if fx is not None:
            text += f" in {_fractions_text(fx)}"
            if results.get("dose_per_fraction_gy") is not None:
                text += f" ({format_dose_gy(results['dose_per_fraction_gy'])} Gy per fraction)"
        summary.fact("Prescription", text)
    else:
        summary.fact("Prescription", "not stated: no V100, no conformity")
    conf = results.get("conformity") or {}
    if conf.get("target"):
        summary.fact(f"Conformity ({conf['target']})",
                     f"Paddick {format_ratio(conf.get('paddick'))}, gradient index "
                     f"{format_ratio(conf.get('gradient_index'))}")
    cons = list(results.get("constraints", []))
    if cons:
        failed = [c for c in cons if not c.get("passed")]
        summary.verdict_ok = not failed
        summary.verdict = (f"Normal-liver constraints: {len(cons) - len(failed)} of {len(cons)} met"
                           + ("" if not failed else " — not met: " + "; ".join(
                               str(c.get("description", c.get("name"))) for c in failed)))
    targets = _targets(rois)
    if targets:
        cols = TARGET_COLUMNS + (BRACHY_TARGET_COLUMNS if brachy else ())
        rx_text = f" ({format_dose_gy(rx)} Gy)" if rx is not None else ""
        summary.tables.append(Table(
            ["Target"] + [h for h, _, _ in cols], structure_table_rows(rois, cols, targets),
            caption="Target coverage",
            note=f"Physical dose over the whole course. V100: share of the target receiving at least the "
                 f"prescription{rx_text}; D98 / D2: near-minimum / near-maximum dose (ICRU 83)."
                 + (" D90: minimum dose to the hottest 90 %; V150 / V200: share receiving 150 % / 200 % of "
                    "the prescription (GEC-ESTRO)." if brachy else ""),
        ))
    if cons:
        summary.tables.append(Table(["Constraint", "Value", "Limit", "Met"], constraint_rows(cons),
                                    caption="Normal-liver constraints",
                                    note="Normal liver: the liver minus the gross tumour. Sources: see "
                                         "“Constraints and their sources”."))
    normal = _normal_tissue(rois)
    if normal:
        summary.tables.append(Table(
            ["Structure"] + [h for h, _, _ in NORMAL_COLUMNS], structure_table_rows(rois, NORMAL_COLUMNS, normal),
            caption="Normal tissue: physical dose and EQD2",
            note="EQD2: the dose in 2 Gy fractions with the same linear-quadratic effect, in every voxel "
                 "of a structure with that structure's α/β (normal liver inside the planning margin is still "
                 "liver). The EQD2 map written beside the report shows one value per voxel, with the "
                 "target's α/β where structures overlap.",
        ))
    summary.warnings.extend(str(w) for w in results.get("warnings", []))
    return summary


def _curves(rows: Sequence[tuple[str, str, float, float]]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for quantity, roi, dose_gy, volume_percent in rows:
        grouped.setdefault((quantity, roi), []).append((dose_gy, volume_percent))
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for (quantity, roi), points in grouped.items():
        pts = np.asarray(points)
        curves.setdefault(quantity, {})[roi] = (pts[:, 0], pts[:, 1])
    return curves


def _without_body(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], rois: Mapping[str, Any]) -> dict[str, Any]:
    return {n: c for n, c in curves.items() if (rois.get(n) or {}).get("kind") != "body"}


def _axis_end(values: Sequence[Any]) -> float | None:
    """End of a DVH dose axis: 1.1 × the largest of ``values`` (near-maximum doses), None without any."""
    finite = [float(v) for v in values if isinstance(v, int | float) and np.isfinite(v) and v > 0]
    return 1.1 * max(finite) if finite else None


def _mask_box_mm(mask: np.ndarray, volume: Volume) -> tuple[int, int, float, float, float]:
    """(first slice, last slice, centre row, centre column, in-plane extent in mm) of a mask."""
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    extent = float(max((hi[1] - lo[1] + 1) * volume.spacing_mm[1], (hi[2] - lo[2] + 1) * volume.spacing_mm[2]))
    centre = idx.mean(axis=0)
    return int(lo[0]), int(hi[0]), float(centre[1]), float(centre[2]), extent


def _rt_slices(
    doc: ReportDocument,
    results: Mapping[str, Any],
    dose: Volume,
    ct: Volume | None,
    structures: Sequence[tuple[str, np.ndarray]],
) -> None:
    """Slices through the conformity target with the dose wash and the 100 % / 50 % isodoses."""
    from workstation.report.plots import AxialSliceRenderer

    display = ct if ct is not None else dose
    dose_on = dose if dose.same_grid(display) else dose.resample_to(display, interpolation="linear")
    rois = results.get("rois", {})
    rx = results.get("prescription_gy")
    shown = [(n, np.asarray(m) > 0.5) for n, m in structures
             if (rois.get(n) or {}).get("kind") != "body" and n.lower() not in ("body", "external")]
    shown = [(n, m) for n, m in shown if m.shape == display.shape][:_MAX_SLICE_ROIS]
    dmax = float(np.max(dose_on.array)) or 1.0
    # colour scale to 200 % of the prescription: a brachytherapy source's surroundings saturate
    vmax = min(dmax, 2.0 * float(rx)) if rx else dmax
    isodoses = [(float(rx), f"100 % ({format_dose_gy(rx)} Gy)"),
                (0.5 * float(rx), f"50 % ({format_dose_gy(0.5 * rx)} Gy)")] if rx else []
    renderer = AxialSliceRenderer(display, dose=dose_on, rois=shown, dose_max_gy=vmax,
                                  dose_threshold_gy=0.3 * float(rx) if rx else 0.1 * dmax, isodoses=isodoses,
                                  figsize_in=_SLICE_SIZE_IN)
    sec = doc.add(Section("Axial slices", kind="result"))
    sec.paragraphs.append(
        (f"Physical dose wash from 30 % of the prescription to {format_dose_gy(vmax)} Gy; broken lines: the "
         "100 % and 50 % isodoses" if rx else
         f"Physical dose wash from 10 % of the maximum to {format_dose_gy(vmax)} Gy")
        + "; structure outlines in colour; the patient's right on the left of the picture.")
    target = (results.get("conformity") or {}).get("target")
    masks = dict(shown)
    if target in masks and masks[target].any():
        k0, k1, cy, cx, extent = _mask_box_mm(masks[target], display)
        half = max(50.0, 0.5 * extent + 35.0)
        done: set[int] = set()
        for f, where in ((0.25, "caudal quarter"), (0.5, "centre"), (0.75, "cranial quarter")):
            k = int(round(k0 + f * (k1 - k0)))
            if k in done:
                continue
            done.add(k)
            z_mm = float(display.index_to_world([k, 0, 0])[2])
            png = renderer.png(k, title=f"{target}, {where}: slice {k} (z = {z_mm:.1f} mm)",
                               zoom_half_mm=half, centre_ij=(cy, cx))
            sec.figures.append(Figure(png, f"Slice {k}, {where} of the {target}; 1 cm scale bar."))
    else:
        k = int(np.argmax(np.asarray(dose_on.array).sum(axis=(1, 2))))
        sec.figures.append(Figure(renderer.png(k, title=f"Hottest slice {k}"),
                                  "The slice with the most dose (no target structure); 5 cm scale bar."))


def _inputs_section(doc: ReportDocument, inputs: Sequence[Mapping[str, Any]], results: Mapping[str, Any]) -> None:
    sec = doc.add(Section("Inputs", kind="reference"))
    given = list(inputs) or [i for i in results.get("inputs", []) if isinstance(i, Mapping)]
    if given:
        sec.tables.append(Table(["Role", "File"], [[str(i.get("role", "")), str(i.get("path", ""))] for i in given]))
    else:
        sec.paragraphs.append("No input description was given.")
    grid = results.get("grid")
    if isinstance(grid, Mapping):
        sec.tables.append(Table(["Quantity", "Value"], key_value_rows(grid), caption="Evaluation grid"))


def _radiobiology_section(doc: ReportDocument, rb: Mapping[str, Any]) -> None:
    sec = doc.add(Section("Radiobiology: parameters and sources", kind="reference"))
    scheme = rb.get("scheme")
    if isinstance(scheme, Mapping) and scheme.get("description"):
        sec.paragraphs.append(f"Scheme: {scheme['description']}.")
    per = rb.get("alpha_beta_gy") or {}
    if per:
        trep = rb.get("repair_half_time_h") or {}
        sec.tables.append(Table(["Structure", "α/β (Gy)", "Repair half-time (h)"],
                                [[k, format_quantity(v, "Gy"), format_number(trep.get(k))] for k, v in per.items()],
                                caption="Parameters used per structure"))
    tissues = rb.get("tissues") or {}
    if tissues:
        sec.tables.append(Table(["Tissue", "α/β (Gy)", "Repair half-time (h)", "Source"],
                                [[k, format_quantity(v.get("alpha_beta_gy"), "Gy"),
                                  format_number(v.get("repair_half_time_h")), str(v.get("source", ""))]
                                 for k, v in tissues.items() if isinstance(v, Mapping)],
                                caption="Default tissue parameters (overridable with --alpha-beta and "
                                        "--repair-half-time)"))
    default = rb.get("default_tissue")
    if isinstance(default, Mapping):
        sec.paragraphs.append(f"Voxels outside every structure: tissue “{default.get('name')}” "
                              f"(α/β {format_quantity(default.get('alpha_beta_gy'), 'Gy')} Gy).")
    sec.paragraphs.extend(str(s) for s in rb.get("sources", []))


def _constant_rows(const: Mapping[str, Any]) -> list[list[str]]:
    """Constants with labels; per-fraction tables ({"3": 19.2}) on one line ("3 fx: 19.2")."""
    rows = []
    for key, value in const.items():
        if key == "sources":
            continue
        label, unit, _ = humanize_key(str(key))
        shown = f"{label} ({unit})" if unit and unit != "ratio" else label
        if isinstance(value, Mapping):
            rows.append([shown, ", ".join(f"{k} fx: {format_number(v, 6)}" for k, v in value.items())])
        elif isinstance(value, list | tuple):
            rows.append([shown, ", ".join(format_number(v, 6) for v in value)])
        else:
            rows.append([shown, format_number(value, 6)])
    return rows


_PLAN_LABELS: dict[str, tuple[str, str]] = {
    "label": ("Plan label", ""), "file": ("File", ""), "sop_instance_uid": ("SOP Instance UID", ""),
    "kind": ("Kind", ""), "fractions": ("Fractions", ""), "prescription_gy": ("Prescription (Gy)", "Gy"),
    "prescription_source": ("Prescription from", ""), "dose_per_fraction_gy": ("Dose per fraction (Gy)", "Gy"),
    "beams": ("Beams", ""),
}
_BRACHY_LABELS: dict[str, tuple[str, str]] = {
    "technique": ("Technique", ""), "treatment_type": ("Treatment type", ""), "channels": ("Channels", ""),
    "dwell_positions": ("Dwell positions", ""), "total_dwell_time_s": ("Total dwell time (s)", "s"),
    "trak_ugy_at_1m_per_fraction": ("TRAK per fraction (µGy at 1 m)", "µGy"), "trak_note": ("TRAK", ""),
}
_SOURCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Source", "number"), ("Isotope", "isotope"), ("Model", "model"), ("Half-life (d)", "half_life_days"),
    ("Reference air kerma rate (µGy/h at 1 m)", "reference_air_kerma_rate_ugy_per_h_at_1m"),
    ("Calibrated", "calibration_datetime"),
)


def _labelled_rows(mapping: Mapping[str, Any], labels: Mapping[str, tuple[str, str]]) -> list[list[str]]:
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping | list) or value is None:
            continue
        label, unit = labels.get(key) or (humanize_key(str(key))[0], "")
        if unit == "s":
            text = f"{float(value):.1f}"
        elif unit == "µGy":
            text = f"{float(value):.0f}"
        elif unit:
            text = format_quantity(value, unit)
        else:
            text = format_number(value)
        rows.append([label, text])
    return rows


def _plan_tables(sec: Section, results: Mapping[str, Any]) -> None:
    plan = results.get("plan")
    if isinstance(plan, Mapping):
        sec.tables.append(Table(["RT Plan", "Value"], _labelled_rows(plan, _PLAN_LABELS), caption="Plan"))
        brachy = plan.get("brachy")
        if isinstance(brachy, Mapping):
            sec.tables.append(Table(["Brachytherapy", "Value"], _labelled_rows(brachy, _BRACHY_LABELS),
                                    caption="Brachytherapy delivery (TRAK: total reference air kerma)"))
            sources = [s for s in brachy.get("sources", []) if isinstance(s, Mapping)]
            if sources:
                sec.tables.append(Table(
                    [h for h, _ in _SOURCE_COLUMNS],
                    [[format_number(s.get(k)) if not isinstance(s.get(k), str) else str(s[k])
                      for _, k in _SOURCE_COLUMNS] for s in sources],
                    caption="Sources"))
    dose_info = results.get("dose")
    if isinstance(dose_info, Mapping):
        sec.tables.append(Table(["RT Dose", "Value"], key_value_rows(dose_info, nested=True), caption="Dose object"))
