"""The SIRT dosimetry report (from the ``sirt`` results.json and the dose volumes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

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
from workstation.report.plots import axial_overlay_figure, dvh_figure

__all__ = ["ROI_TABLE_COLUMNS", "build_sirt_report", "render_sirt_report", "roi_table_rows"]

#: Columns of the per-ROI table: (header, results.json key path inside an ROI entry).
ROI_TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Volume (mL)", ("volume_ml",)),
    ("Mass (g)", ("mass_g",)),
    ("Mean (Gy)", ("mean_gy",)),
    ("Min (Gy)", ("min_gy",)),
    ("Max (Gy)", ("max_gy",)),
    ("D2 (Gy)", ("d2_gy",)),
    ("D50 (Gy)", ("d50_gy",)),
    ("D70 (Gy)", ("d70_gy",)),
    ("D90 (Gy)", ("d90_gy",)),
    ("D95 (Gy)", ("d95_gy",)),
    ("D98 (Gy)", ("d98_gy",)),
    ("V20 (%)", ("v_gy_percent", "20")),
    ("V40 (%)", ("v_gy_percent", "40")),
    ("V70 (%)", ("v_gy_percent", "70")),
    ("V100 (%)", ("v_gy_percent", "100")),
    ("V120 (%)", ("v_gy_percent", "120")),
    ("V205 (%)", ("v_gy_percent", "205")),
)


def roi_table_rows(method_result: Mapping[str, Any]) -> list[list[str]]:
    """Rows (ROI name first) of the per-ROI table of one method, formatted as in the report."""
    rows = []
    for roi, entry in method_result.get("rois", {}).items():
        rows.append([roi] + [format_number(lookup(entry, path)) for _, path in ROI_TABLE_COLUMNS])
    return rows


def _lesion_slices(mask: np.ndarray) -> list[tuple[int, int]]:
    """(component label, axial slice index through its centre of mass) for each component."""
    lab, n = ndimage.label(mask)
    out = []
    for i in range(1, n + 1):
        com = ndimage.center_of_mass(lab == i)
        out.append((i, int(round(com[0]))))
    return out


def build_sirt_report(
    results: Mapping[str, Any],
    doses: Mapping[str, Volume] | None = None,
    ct: Volume | None = None,
    rois: Mapping[str, Volume] | None = None,
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    title: str | None = None,
) -> ReportDocument:
    """Build the report document.

    Parameters
    ----------
    results:
        The ``results.json`` dictionary of ``workstation sirt``.
    doses:
        Dose volumes (Gy) by method name; shown over ``ct`` (resampled to its grid).
    ct:
        Anatomical image for the slices (the activity image is used when absent).
    rois:
        ROI masks by name (any grid; resampled to the display grid by nearest neighbour).
    dvh_curves:
        ``[method][roi] = (dose_gy, volume_percent)`` cumulative DVHs.
    inputs:
        One mapping per input (role, path, modality, series UID, description).
    """
    doses = dict(doses or {})
    rois = dict(rois or {})
    if title is None:
        title = f"SIRT {results.get('nuclide', 'Y-90')} voxel dosimetry"
    doc = ReportDocument(title=title, subtitle=f"Nuclide {results.get('nuclide', 'Y-90')}, "
                         f"workstation {results.get('workstation_version', '')}")

    sec = doc.add(Section("Inputs"))
    if inputs:
        sec.tables.append(Table(
            ["Role", "File", "Modality", "Series UID", "Description"],
            [[str(i.get("role", "")), str(i.get("path", "")), str(i.get("modality", "") or ""),
              str(i.get("series_uid", "") or "–"), str(i.get("description", "") or "")]
             for i in inputs],
        ))
    else:
        sec.paragraphs.append("No input description was given.")

    const = results.get("constants", {})
    sec = doc.add(Section("Physical constants and their sources"))
    sec.tables.append(Table(
        ["Quantity", "Value"],
        [[k, format_number(v)] for k, v in const.items() if k != "sources" and not isinstance(v, dict | list)],
    ))
    for src in const.get("sources", []):
        sec.paragraphs.append(str(src))

    act = results.get("activity", {})
    sec = doc.add(Section("Activity and calibration"))
    sec.tables.append(Table(["Quantity", "Value"], [[k, format_number(v)] for k, v in act.items()
                                                     if not isinstance(v, dict | list)]))
    pvc = act.get("partial_volume_correction")
    if isinstance(pvc, Mapping):
        refs = pvc.get("references") or []
        if isinstance(refs, str):
            refs = [refs]
        sec.paragraphs.append(
            f"Partial-volume correction: {str(pvc.get('method', '?')).upper()} with an isotropic Gaussian "
            f"PSF of {format_number(pvc.get('psf_fwhm_mm'))} mm FWHM ({pvc.get('source', 'source not stated')}); "
            f"{pvc.get('grid', '')}. References: " + "; ".join(str(r) for r in refs) + "."
        )
    else:
        sec.paragraphs.append("No partial-volume correction: lesion doses are underestimated where "
                              "lesions are small compared with the image resolution.")

    methods = results.get("methods", {})
    sec = doc.add(Section("Absorbed dose per region"))
    sec.paragraphs.append(
        "Absorbed doses for complete decay of the imaged activity (permanent implant). "
        "Dx is the minimum dose to the hottest x % of the region; VxGy the percentage of the "
        "region receiving at least x Gy."
    )
    header = ["ROI"] + [h for h, _ in ROI_TABLE_COLUMNS]
    for method, mres in methods.items():
        sec.tables.append(Table(header, roi_table_rows(mres), caption=f"Method: {method}"))
    extra = [[k, format_number(v)] for k, v in results.items()
             if k in ("tumor_to_normal_ratio", "lung_mean_dose_gy", "energy_outside_rois_fraction")
             and not isinstance(v, dict | list)]
    if extra:
        sec.tables.append(Table(["Quantity", "Value"], extra, caption="Summary"))

    if dvh_curves:
        sec = doc.add(Section("Dose-volume histograms"))
        sec.figures.append(Figure(figure_png(dvh_figure(dvh_curves)),
                                  "Cumulative DVH per region; line style per method."))

    display = ct
    if display is None and doses:
        display = next(iter(doses.values()))
    if display is not None and doses:
        method = "vsv" if "vsv" in doses else next(iter(doses))
        dose_on = doses[method].resample_to(display, interpolation="linear")
        roi_on = [(name, m.resample_to(display, interpolation="nearest").array != 0)
                  for name, m in rois.items()]
        # colour scale: up to the hottest ROI voxels (99.9th percentile inside the ROIs),
        # so lesion doses are not saturated by a scale set by the whole field of view
        in_rois = np.zeros(display.shape, bool)
        for _, m in roi_on:
            in_rois |= m
        pool = dose_on.array[in_rois] if in_rois.any() else dose_on.array[dose_on.array > 0]
        vmax = float(np.percentile(pool, 99.9)) if pool.size and np.any(pool > 0) else 1.0
        sec = doc.add(Section(f"Axial slices ({method} dose over CT)"))
        names = {n for n, _ in roi_on}
        # a multi-label ROI arrives both as its union NAME and as NAME_1, NAME_2 …: show the parts
        unions = {n.rsplit("_", 1)[0] for n in names
                  if n.rsplit("_", 1)[-1].isdigit() and n.rsplit("_", 1)[0] in names}
        lesion_like = [(n, m) for n, m in roi_on
                       if not n.lower().startswith(("liver", "lung", "body", "normal")) and n not in unions]
        parts = {n for n in names if n.rsplit("_", 1)[0] in unions and n.rsplit("_", 1)[-1].isdigit()}
        outlines = [(n, m) for n, m in roi_on if n not in parts]
        targets: list[tuple[str, int]] = []
        for name, m in lesion_like:
            for comp, k in _lesion_slices(m):
                targets.append((f"{name}" + (f" #{comp}" if comp > 1 else ""), k))
        if not targets:
            k = int(np.argmax(dose_on.array.sum(axis=(1, 2))))
            targets.append(("hottest slice", k))
        for name, k in targets[:12]:
            z_mm = float(display.index_to_world([k, 0, 0])[2])
            fig = axial_overlay_figure(display, k, dose=dose_on, rois=outlines, dose_max_gy=vmax,
                                       title=f"{name}: slice {k} (z = {z_mm:.1f} mm)")
            sec.figures.append(Figure(figure_png(fig), f"Slice through {name}; dose wash "
                                      f"from {0.05 * vmax:.0f} Gy to {vmax:.0f} Gy."))

    sec = doc.add(Section("Safety and efficacy warnings"))
    warnings = list(results.get("warnings", []))
    if warnings:
        sec.warnings.extend(str(w) if not isinstance(w, Mapping) else str(w.get("message", w))
                            for w in warnings)
    else:
        sec.paragraphs.append("No warning was raised.")
    return doc


def render_sirt_report(result: Any, inputs: Sequence[Mapping[str, Any]] = ()) -> tuple[str, bytes]:
    """HTML and PDF of the report of a :class:`workstation.dosimetry.SirtResult`.

    The renderer ``workstation sirt`` passes to
    :func:`workstation.dosimetry.pipeline.write_outputs`; the cumulative DVHs
    come from the result's ``dvh_rows`` (method, roi, dose_gy, volume_percent).
    """
    from workstation.report.document import render_html, render_pdf

    grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for method, roi, dose_gy, volume_percent in result.dvh_rows:
        grouped.setdefault((method, roi), []).append((dose_gy, volume_percent))
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for (method, roi), points in grouped.items():
        pts = np.asarray(points)
        curves.setdefault(method, {})[roi] = (pts[:, 0], pts[:, 1])
    doc = build_sirt_report(result.results, doses=result.doses, ct=result.ct, rois=result.rois,
                            dvh_curves=curves, inputs=inputs)
    return render_html(doc), render_pdf(doc)
