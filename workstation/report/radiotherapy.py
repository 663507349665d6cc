"""Reports of ``rt-dose`` (coverage of an SBRT or HDR plan) and ``combine`` (EQD2 sums).

Reading order (issue 20). ``rt-dose``: the summary (patient and study, treatment
and prescription, target coverage V100 / D98 / D2 and conformity, the normal-liver
constraints met or not, the EQD2 of the normal tissue, the warnings), then the DVHs
and slices with the prescription isodose, then the full per-structure tables and
the plan, then the inputs, radiobiology parameters, constraints and constants with
their sources. ``combine``: the summary (cumulative EQD2 per structure and what each
treatment contributes), the EQD2 DVHs and slices of the sum, the per-treatment
detail, then inputs and radiobiology.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workstation.core.volume import Volume
from workstation.report._facts import study_facts
from workstation.report._rt_parts import (
    _BRACHY_DETAIL_COLUMNS,
    _EQD2_COLUMNS,
    _MAX_SLICE_ROIS,
    _SLICE_SIZE_IN,
    _TARGET_KINDS,
    BRACHY_TARGET_COLUMNS,
    NORMAL_COLUMNS,
    STRUCTURE_DOSE_COLUMNS,
    TARGET_COLUMNS,
    _axis_end,
    _constant_rows,
    _curves,
    _inputs_section,
    _mask_box_mm,
    _plan_tables,
    _radiobiology_section,
    _rt_slices,
    _rt_summary,
    _targets,
    _without_body,
    constraint_rows,
    structure_table_rows,
)
from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    figure_png,
    format_dose_gy,
    format_percent,
    format_quantity,
    format_ratio,
    format_volume_ml,
    humanize_key,
)

__all__ = [
    "BRACHY_TARGET_COLUMNS",
    "NORMAL_COLUMNS",
    "STRUCTURE_DOSE_COLUMNS",
    "TARGET_COLUMNS",
    "build_combine_report",
    "build_rt_dose_report",
    "combine_table_rows",
    "constraint_rows",
    "render_combine_report",
    "render_rt_dose_report",
    "structure_table_rows",
]

def build_rt_dose_report(
    results: Mapping[str, Any],
    dose: Volume | None = None,
    ct: Volume | None = None,
    structures: Sequence[tuple[str, np.ndarray]] = (),
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    facts: Sequence[tuple[str, str]] = (),
) -> ReportDocument:
    """The coverage report of ``workstation rt-dose`` (see the module docstring).

    Parameters
    ----------
    results:
        The ``results.json`` dictionary of ``rt-dose``.
    dose:
        Physical dose (Gy, whole course) on the evaluation grid.
    ct:
        The CT of the slices (the dose grid is shown without one).
    structures:
        (name, weights on the evaluation grid) of each structure.
    dvh_curves:
        ``{"physical": {roi: (dose_gy, volume_percent)}, "eqd2": {...}}`` cumulative DVHs.
    inputs:
        One mapping (role, path) per input file; results.json's ``inputs`` when empty.
    facts:
        (label, value) of the patient and study for the summary
        (:func:`workstation.report.study_facts`).
    """
    brachy = results.get("kind") == "brachy"
    label = "HDR brachytherapy" if brachy else "External beam (SBRT)"
    rois: Mapping[str, Mapping[str, Any]] = results.get("rois", {})
    doc = ReportDocument(title=f"{label}: dose coverage and EQD2",
                         subtitle=f"workstation {results.get('workstation_version', '')}")
    doc.summary = _rt_summary(results, facts)

    # ---------------------------------------------------------------- results
    if dvh_curves:
        sec = doc.add(Section("Dose-volume histograms", kind="result"))
        from workstation.report.plots import dvh_figure

        phys = _without_body(dvh_curves.get("physical", {}), rois)
        if phys:
            fig = dvh_figure({"physical": phys}, "Cumulative DVH, physical dose")
            sec.figures.append(Figure(figure_png(fig), "Physical dose over the whole course."))
        eqd2 = _without_body(dvh_curves.get("eqd2", {}), rois)
        if eqd2:
            end = _axis_end([e.get("eqd2_d2_gy") for n, e in rois.items() if n in eqd2])
            fig = dvh_figure({"EQD2": eqd2}, "Cumulative DVH, EQD2", xlabel="EQD2 (Gy)", xmax_gy=end)
            sec.figures.append(Figure(figure_png(fig),
                                      "EQD2 with each voxel's α/β"
                                      + ("; the axis ends at 1.1 × the highest D2 (hotter voxels next to "
                                         "the sources are off the scale)." if end is not None and brachy
                                         else ".")))
    if dose is not None:
        _rt_slices(doc, results, dose, ct, structures)

    # ----------------------------------------------------------------- detail
    sec = doc.add(Section("Dose per structure", kind="detail"))
    sec.paragraphs.append("Dx: minimum dose to the hottest x % of the structure; Vx: share of the structure "
                          "receiving at least x % of the prescription; physical dose over the whole course.")
    cols = STRUCTURE_DOSE_COLUMNS
    sec.tables.append(Table(["Structure"] + [h for h, _, _ in cols], structure_table_rows(rois, cols),
                            caption="Physical dose"))
    if brachy:
        targets = _targets(rois)
        if targets:
            sec.tables.append(Table(["Target"] + [h for h, _, _ in _BRACHY_DETAIL_COLUMNS],
                                    structure_table_rows(rois, _BRACHY_DETAIL_COLUMNS, targets),
                                    caption="Brachytherapy target metrics (GEC-ESTRO)"))
    with_eqd2 = [n for n, e in rois.items() if e.get("eqd2_mean_gy") is not None]
    if with_eqd2:
        sec.tables.append(Table(["Structure"] + [h for h, _, _ in _EQD2_COLUMNS],
                                structure_table_rows(rois, _EQD2_COLUMNS, with_eqd2), caption="EQD2"))
    by_target = results.get("conformity_by_target") or {}
    if by_target:
        sec.tables.append(Table(
            ["Target", "Paddick CI", "Gradient index", "PIV / TV (RTOG)", "TV (mL)", "PIV (mL)", "TV ∩ PIV (mL)",
             "PIV50 (mL)"],
            [[n, format_ratio(c.get("paddick")), format_ratio(c.get("gradient_index")), format_ratio(c.get("rtog")),
              format_volume_ml(c.get("tv_ml")), format_volume_ml(c.get("piv_ml")),
              format_volume_ml(c.get("tv_piv_ml")), format_volume_ml(c.get("piv50_ml"))]
             for n, c in by_target.items() if isinstance(c, Mapping)],
            caption="Conformity of every target",
            note="TV: target volume; PIV: volume inside the prescription isodose (PIV50: the 50 % isodose). "
                 "Paddick CI = (TV ∩ PIV)² / (TV · PIV), 1 is ideal; gradient index = PIV50 / PIV.",
        ))
    sec = doc.add(Section("Plan and dose object", kind="detail"))
    _plan_tables(sec, results)

    # -------------------------------------------------------------- reference
    _inputs_section(doc, inputs, results)
    cons = [c for c in results.get("constraints", []) if isinstance(c, Mapping)]
    if cons:
        sec = doc.add(Section("Constraints and their sources", kind="reference"))
        sec.tables.append(Table(["Constraint", "Limit", "Source"],
                                [[row[0], row[2], str(c.get("source", ""))]
                                 for row, c in zip(constraint_rows(cons), cons, strict=True)]))
    _radiobiology_section(doc, results.get("radiobiology", {}))
    const = results.get("constants") or {}
    sec = doc.add(Section("Constants and their sources", kind="reference"))
    if results.get("prescription_source"):
        sec.paragraphs.append(f"Prescription: {results['prescription_source']}.")
    sec.tables.append(Table(["Constant", "Value"], _constant_rows(const)))
    sources = const.get("sources") or {}
    if isinstance(sources, Mapping):
        sec.tables.append(Table(["Constant", "Source"],
                                [[humanize_key(str(k).lower())[0], str(v)] for k, v in sources.items()],
                                caption="Sources"))
    return doc


def render_rt_dose_report(result: Any, inputs: Sequence[Mapping[str, Any]] = ()) -> tuple[str, bytes]:
    """HTML and PDF of an :class:`workstation.radiotherapy.RtDoseResult` (the renderer ``rt-dose`` passes)."""
    from workstation.report.document import render_html, render_pdf

    structures = [(s.name, s.weights) for s in result.structures]
    doc = build_rt_dose_report(result.results, dose=result.dose, ct=result.ct, structures=structures,
                               dvh_curves=_curves(result.dvh_rows), inputs=inputs,
                               facts=study_facts(result.ct, "CT"))
    return render_html(doc), render_pdf(doc)


# ------------------------------------------------------------------ combine
def _treatment_names(results: Mapping[str, Any]) -> list[str]:
    return [str(t["name"]) for t in results.get("treatments", []) if isinstance(t, Mapping) and "name" in t]


def combine_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the summary's cumulative-EQD2 table: structure, α/β, total mean / D98 / D2, then per
    treatment its mean EQD2 and its share of the total mean (%), each formatted once."""
    names = _treatment_names(results)
    rows = []
    for roi, entry in results.get("rois", {}).items():
        total = entry.get("total") or {}
        ab = entry.get("alpha_beta_gy")
        row = [roi, format_quantity(ab, "Gy"),
               format_dose_gy(total.get("mean_gy")), format_dose_gy(total.get("d98_gy")),
               format_dose_gy(total.get("d2_gy"))]
        for n in names:
            part = (entry.get(n) or {}).get("mean_gy")
            whole = total.get("mean_gy")
            share = 100.0 * part / whole if part is not None and whole else None
            row += [format_dose_gy(part), format_percent(share)]
        rows.append(row)
    return rows


def _combine_summary(results: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    treatments = [t for t in results.get("treatments", []) if isinstance(t, Mapping)]
    for t in treatments:
        scheme = t.get("scheme") or {}
        summary.fact(f"Treatment {t.get('name')}", str(scheme.get("description", "?"))
                     + ("; registered to this CT" if t.get("transform") else ""))
    summary.fact("Sum", "EQD2 voxel by voxel on the CT grid, each treatment with its own fractionation")
    names = _treatment_names(results)
    if results.get("rois"):
        header = ["Structure", "α/β (Gy)", "Total EQD2 mean (Gy)", "Total D98 (Gy)", "Total D2 (Gy)"]
        for n in names:
            header += [f"{n}: EQD2 mean (Gy)", f"{n}: share (%)"]
        summary.tables.append(Table(
            header, combine_table_rows(results), caption="Cumulative EQD2 per structure",
            note="EQD2: the dose in 2 Gy fractions with the same linear-quadratic effect, in every voxel of a "
                 "structure with that structure's α/β. D98 / D2 are those of the summed EQD2; share: the "
                 "treatment's part of the total mean EQD2.",
        ))
    summary.warnings.extend(str(w) for w in results.get("warnings", []))
    return summary


def _combine_slices(
    doc: ReportDocument,
    results: Mapping[str, Any],
    total: Volume,
    ct: Volume,
    structures: Sequence[tuple[str, np.ndarray]],
) -> None:
    from workstation.report.plots import AxialSliceRenderer

    total_on = total if total.same_grid(ct) else total.resample_to(ct, interpolation="linear")
    rois = results.get("rois", {})
    shown = [(n, np.asarray(m) > 0.5) for n, m in structures
             if (rois.get(n) or {}).get("kind", "") != "body" and n.lower() not in ("body", "external")]
    shown = [(n, m) for n, m in shown if m.shape == ct.shape][:_MAX_SLICE_ROIS]
    inside = np.zeros(ct.shape, bool)
    for _, m in shown:
        inside |= m
    pool = total_on.array[inside] if inside.any() else total_on.array[total_on.array > 0]
    # colour scale to the 99th percentile inside the structures: a few voxels next to a
    # brachytherapy source reach thousands of Gy EQD2 and would wash out everything else
    vmax = float(np.percentile(pool, 99.0)) if pool.size and np.any(pool > 0) else 1.0
    renderer = AxialSliceRenderer(ct, dose=total_on, rois=shown, dose_max_gy=vmax, dose_threshold_gy=0.05 * vmax,
                                  figsize_in=_SLICE_SIZE_IN)
    slices: dict[int, str] = {}
    for name, m in shown:
        if (rois.get(name) or {}).get("kind") in _TARGET_KINDS and m.any():
            k0, k1, *_ = _mask_box_mm(m, ct)
            slices.setdefault(int(round(0.5 * (k0 + k1))), name)
    if not slices:
        slices[int(np.argmax(np.asarray(total_on.array).sum(axis=(1, 2))))] = "the most dose"
    sec = doc.add(Section("Axial slices of the EQD2 sum", kind="result"))
    sec.paragraphs.append(f"Summed EQD2 from {format_dose_gy(0.05 * vmax)} to {format_dose_gy(vmax)} Gy (the "
                          "99th percentile inside the structures; hotter voxels saturate); structure outlines "
                          "in colour; the patient's right on the left of the picture.")
    for k, name in sorted(slices.items()):
        z_mm = float(ct.index_to_world([k, 0, 0])[2])
        sec.figures.append(Figure(renderer.png(k, title=f"EQD2 sum, slice {k} (z = {z_mm:.1f} mm)"),
                                  f"Slice {k} through {name}; 5 cm scale bar."))


def build_combine_report(
    results: Mapping[str, Any],
    total: Volume | None = None,
    ct: Volume | None = None,
    structures: Sequence[tuple[str, np.ndarray]] = (),
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    facts: Sequence[tuple[str, str]] = (),
) -> ReportDocument:
    """The report of ``workstation combine``: cumulative EQD2 per structure, each treatment's part.

    ``dvh_curves`` are keyed ``"eqd2_total"`` and ``"eqd2_<treatment>"`` (the ``dvh.csv``
    quantities); ``facts`` are the patient and study lines of the summary.
    """
    names = _treatment_names(results)
    doc = ReportDocument(title="Cumulative EQD2 of several treatments",
                         subtitle=f"workstation {results.get('workstation_version', '')}")
    doc.summary = _combine_summary(results, facts)
    rois: Mapping[str, Mapping[str, Any]] = results.get("rois", {})

    # ---------------------------------------------------------------- results
    if dvh_curves:
        from workstation.report.plots import dvh_figure

        curves = {("total" if q == "eqd2_total" else q.removeprefix("eqd2_")): c for q, c in dvh_curves.items()}
        end = _axis_end([(e.get("total") or {}).get("d2_gy") for e in rois.values()])
        sec = doc.add(Section("EQD2 dose-volume histograms", kind="result"))
        fig = dvh_figure(curves, "Cumulative DVH, EQD2", primary="total" if "total" in curves else None,
                         xlabel="EQD2 (Gy)", methods_title="treatment", xmax_gy=end, fit_legends=True)
        sec.figures.append(Figure(figure_png(fig),
                                  "Colour per structure; solid: the sum, broken: each treatment alone"
                                  + ("; the axis ends at 1.1 × the highest D2 of the sum." if end else ".")))
    if total is not None and ct is not None:
        _combine_slices(doc, results, total, ct, structures)

    # ----------------------------------------------------------------- detail
    for n in names:
        sec = doc.add(Section(f"Treatment {n}", kind="detail"))
        t = next(t for t in results["treatments"] if t.get("name") == n)
        scheme = t.get("scheme") or {}
        sec.paragraphs.append(f"{scheme.get('description', '?')}; dose {t.get('file', '?')}"
                              + ("; carried to this CT by the given transform." if t.get("transform") else "."))
        rows = [[roi, format_dose_gy((e.get(n) or {}).get("physical_mean_gy"))]
                + [format_dose_gy((e.get(n) or {}).get(k)) for k in ("mean_gy", "d98_gy", "d50_gy", "d2_gy", "max_gy")]
                for roi, e in rois.items()]
        sec.tables.append(Table(["Structure", "Physical mean (Gy)", "EQD2 mean (Gy)", "EQD2 D98 (Gy)",
                                 "EQD2 D50 (Gy)", "EQD2 D2 (Gy)", "EQD2 max (Gy)"], rows))
    sec = doc.add(Section("Sum", kind="detail"))
    sec.tables.append(Table(
        ["Structure", "Volume (mL)", "Mean (Gy)", "Min (Gy)", "D98 (Gy)", "D50 (Gy)", "D2 (Gy)", "Max (Gy)"],
        [[roi, format_volume_ml((e.get("total") or {}).get("volume_ml"))]
         + [format_dose_gy((e.get("total") or {}).get(k)) for k in ("mean_gy", "min_gy", "d98_gy", "d50_gy",
                                                                     "d2_gy", "max_gy")]
         for roi, e in rois.items()],
        caption="Summed EQD2 per structure"))
    if results.get("eqd2_total_max_gy") is not None:
        sec.paragraphs.append(f"Highest EQD2 of the sum anywhere on the grid: "
                              f"{format_dose_gy(results['eqd2_total_max_gy'])} Gy.")

    # -------------------------------------------------------------- reference
    _inputs_section(doc, inputs, results)
    _radiobiology_section(doc, results.get("radiobiology", {}))
    return doc


def render_combine_report(result: Any, inputs: Sequence[Mapping[str, Any]] = ()) -> tuple[str, bytes]:
    """HTML and PDF of a :class:`workstation.radiotherapy.CombineResult`."""
    from workstation.report.document import render_html, render_pdf

    doc = build_combine_report(result.results, total=result.total, ct=result.ct,
                               structures=[(s.name, s.weights) for s in result.structures],
                               dvh_curves=_curves(result.dvh_rows), inputs=inputs,
                               facts=study_facts(result.ct, "CT"))
    return render_html(doc), render_pdf(doc)
