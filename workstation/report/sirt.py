"""The SIRT dosimetry report (from the ``sirt`` results.json and the dose volumes).

Reading order: the summary (patient and study, treatment, the key numbers of the
primary method per region, the warnings), the DVH and slices, the per-method
detail, then the inputs, constants, thresholds and their sources.
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
    format_activity_gbq,
    format_dose_gy,
    format_fraction_percent,
    format_length_mm,
    format_number,
    format_quantity,
    format_ratio,
    humanize_key,
    key_value_rows,
    lookup,
)

__all__ = [
    "METHOD_NAMES",
    "PRIMARY_METHOD_PREFERENCE",
    "ROI_TABLE_COLUMNS",
    "build_sirt_report",
    "primary_method",
    "render_sirt_report",
    "roi_table_rows",
]

#: Columns of the per-ROI table: (header, results.json key path inside an ROI entry).
#: The unit in the header's brackets sets the resolution (Gy 0.1, mL 0.1, g 0.1, % 0.1).
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

#: Columns of the summary's key-number table; tumour-only columns are blank for other regions.
SUMMARY_COLUMNS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("Volume (mL)", ("volume_ml",), False),
    ("Mean (Gy)", ("mean_gy",), False),
    ("D70 (Gy)", ("d70_gy",), True),
    ("V100 (%)", ("v_gy_percent", "100"), True),
    ("V120 (%)", ("v_gy_percent", "120"), True),
)

#: What each dose engine is, for readers.
METHOD_NAMES: dict[str, str] = {
    "ldm": "local deposition (LDM)",
    "vsv": "voxel S-value convolution (VSV)",
    "vsv-density": "voxel S-value with CT density correction (VSV-density)",
}
#: The primary method when results.json names none: the most complete engine that ran.
PRIMARY_METHOD_PREFERENCE: tuple[str, ...] = ("vsv-density", "vsv", "ldm")

_ROLE_ORDER = {"lesion": 0, "normal_liver": 1, "liver": 2, "lung": 3}


def _unit(header: str) -> str:
    return header[header.rfind("(") + 1:-1] if header.endswith(")") and "(" in header else ""


def roi_table_rows(
    method_result: Mapping[str, Any],
    columns: Sequence[tuple[str, tuple[str, ...]]] = ROI_TABLE_COLUMNS,
) -> list[list[str]]:
    """Rows (ROI name first) of the per-ROI table of one method, formatted as in the report."""
    return [
        [roi] + [format_quantity(lookup(entry, path), _unit(h)) for h, path in columns]
        for roi, entry in method_result.get("rois", {}).items()
    ]


def primary_method(results: Mapping[str, Any], requested: str | None = None) -> str | None:
    """The method the summary reports: ``requested``, else results.json's ``primary_method``,
    else the first of :data:`PRIMARY_METHOD_PREFERENCE` that ran, else the first method."""
    methods = list(results.get("methods", {}))
    for name in (requested, results.get("primary_method")):
        if name:
            if name not in methods:
                raise ValueError(f"The primary method {name!r} is not among the results' methods {methods}.")
            return str(name)
    for name in PRIMARY_METHOD_PREFERENCE:
        if name in methods:
            return name
    return methods[0] if methods else None


def _roles(results: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    """Role of each ROI: results.json's ``roi_roles``, else the dosimetry's naming rule."""
    from workstation.dosimetry.pipeline import roi_role

    given = results.get("roi_roles") or {}
    return {n: str(given.get(n) or roi_role(n)) for n in names}


def _roi_order(results: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    roles = _roles(results, names)
    return sorted(names, key=lambda n: (_ROLE_ORDER.get(roles[n], 4), list(names).index(n)))


def _threshold_value(threshold: Mapping[str, Any]) -> str:
    value, unit = threshold.get("value"), str(threshold.get("unit", ""))
    if unit == "fraction" and isinstance(value, int | float):
        return f"{format_fraction_percent(value)} %"
    return f"{format_number(value)} {unit}".strip()


def _lesion_slices(mask: np.ndarray) -> list[tuple[int, int]]:
    """(component label, axial slice index through its centre of mass) for each component."""
    from scipy import ndimage

    if not mask.any():
        return []
    # label only the mask's bounding box (lesions are small against the CT grid)
    box = tuple(slice(int(np.flatnonzero(a).min()), int(np.flatnonzero(a).max()) + 1)
                for a in (mask.any(axis=(1, 2)), mask.any(axis=(0, 2)), mask.any(axis=(0, 1))))
    sub = mask[box]
    lab, n = ndimage.label(sub)
    coms = ndimage.center_of_mass(sub, lab, range(1, n + 1))
    return [(i + 1, int(round(c[0])) + box[0].start) for i, c in enumerate(coms)]


def _summary(results: Mapping[str, Any], primary: str | None, facts: Sequence[tuple[str, str]]) -> Summary:
    summary = Summary(facts=list(facts))
    act = results.get("activity", {})
    device = results.get("device")
    treatment = f"{results.get('nuclide', 'Y-90')} radioembolisation"
    treatment += f", {device} microspheres" if device else " (device not stated)"
    summary.fact("Treatment", treatment)
    if act.get("administered_gbq") is not None:
        summary.fact("Administered activity", f"{format_activity_gbq(act['administered_gbq'])} GBq")
    if act.get("lung_shunt_fraction") is not None:
        summary.fact("Lung shunt", f"{format_fraction_percent(act['lung_shunt_fraction'])} %")
    if results.get("tumor_to_normal_ratio") is not None:
        summary.fact("Tumour-to-normal ratio", format_ratio(results["tumor_to_normal_ratio"]))
    if results.get("lung_mean_dose_gy") is not None:
        summary.fact("Lung mean dose (shunt formula)", f"{format_dose_gy(results['lung_mean_dose_gy'])} Gy")
    if primary is not None:
        summary.fact("Primary method", METHOD_NAMES.get(primary, primary))
    pvc = act.get("partial_volume_correction")
    summary.fact("Partial-volume correction",
                 f"{str(pvc.get('method', '?')).upper()}, PSF {format_length_mm(pvc.get('psf_fwhm_mm'))} mm FWHM"
                 if isinstance(pvc, Mapping) else "none")
    if primary is not None:
        rois = results["methods"][primary].get("rois", {})
        roles = _roles(results, list(rois))
        rows: list[list[Any]] = []
        for name in _roi_order(results, list(rois)):
            entry = rois[name]
            tumour = roles.get(name) == "lesion"
            rows.append([name] + [
                "" if only_tumour and not tumour else lookup(entry, path)
                for _, path, only_tumour in SUMMARY_COLUMNS
            ])
        summary.tables.append(Table.from_quantities(
            ["Region"] + [h for h, _, _ in SUMMARY_COLUMNS],
            [""] + [_unit(h) for h, _, _ in SUMMARY_COLUMNS],
            rows,
            caption=f"Key numbers, {METHOD_NAMES.get(primary, primary)}",
            note="Absorbed dose for complete decay of the imaged activity. D70: minimum dose to the "
                 "hottest 70 % of the region; V100 / V120: share of the region receiving at least "
                 "100 / 120 Gy (tumours). Other methods and all metrics: see the per-method tables.",
        ))
    summary.warnings.extend(str(w) if not isinstance(w, Mapping) else str(w.get("message", w))
                            for w in results.get("warnings", []))
    return summary


def build_sirt_report(
    results: Mapping[str, Any],
    doses: Mapping[str, Volume] | None = None,
    ct: Volume | None = None,
    rois: Mapping[str, Volume] | None = None,
    dvh_curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    title: str | None = None,
    primary: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
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
    primary:
        Method of the summary and the slices (see :func:`primary_method`).
    facts:
        (label, value) of the patient and study for the summary (see
        :func:`workstation.report.study_facts`).
    """
    doses = dict(doses or {})
    rois = dict(rois or {})
    methods = results.get("methods", {})
    main = primary_method(results, primary)
    if title is None:
        title = f"SIRT {results.get('nuclide', 'Y-90')} voxel dosimetry"
    doc = ReportDocument(title=title, subtitle=f"Nuclide {results.get('nuclide', 'Y-90')}, "
                         f"workstation {results.get('workstation_version', '')}")
    doc.summary = _summary(results, main, facts)

    # ---------------------------------------------------------------- results
    if dvh_curves:
        sec = doc.add(Section("Dose-volume histograms", kind="result"))
        from workstation.report.plots import dvh_figure

        fig = dvh_figure(dvh_curves, primary=main, fit_legends=True)  # long region names kept whole
        sec.figures.append(Figure(figure_png(fig, tight=False),
                                  "Cumulative DVH per region (colour); solid line: "
                                  f"{main}; thin broken lines: the other methods."))
    _slices(doc, results, doses, ct, rois, main)

    # ----------------------------------------------------------------- detail
    order = ([main] if main else []) + [m for m in methods if m != main]
    for method in order:
        mres = methods[method]
        sec = doc.add(Section(f"Absorbed dose per region: {METHOD_NAMES.get(method, method)}",
                              kind="detail"))
        density = mres.get("roi_mass_density")
        sec.paragraphs.append(
            "Dx: minimum dose to the hottest x % of the region; Vx: share of the region receiving at "
            "least x Gy." + (f" Masses use {density}." if density else "")
        )
        stats = ROI_TABLE_COLUMNS[:11]
        vx = ROI_TABLE_COLUMNS[11:]
        ordered = {n: mres["rois"][n] for n in _roi_order(results, list(mres.get("rois", {})))}
        sec.tables.append(Table(["ROI"] + [h for h, _ in stats], roi_table_rows({"rois": ordered}, stats),
                                caption="Dose statistics"))
        sec.tables.append(Table(["ROI"] + [h for h, _ in vx], roi_table_rows({"rois": ordered}, vx),
                                caption="Volume receiving at least x Gy"))
        extra = key_value_rows(mres, skip=("rois", "roi_mass_density"))
        if extra:
            sec.tables.append(Table(["Quantity", "Value"], extra, caption="Energy balance"))
        kernel = mres.get("kernel")
        if isinstance(kernel, Mapping):
            sec.tables.append(Table(["Quantity", "Value"], key_value_rows(kernel, precise=True),
                                    caption="Dose kernel"))

    lung = results.get("lung")
    if isinstance(lung, Mapping):
        sec = doc.add(Section("Lung dose", kind="detail"))
        rows = [[f"Image, {m}", f"{format_dose_gy(v)}"] for m, v in (lung.get("image_mean_gy") or {}).items()]
        if lung.get("formula_mean_gy") is not None:
            rows.append(["Lung shunt formula", format_dose_gy(lung["formula_mean_gy"])])
        sec.tables.append(Table(["Lung mean dose from", "Dose (Gy)"], rows))
        sec.tables.append(Table(["Quantity", "Value"],
                                key_value_rows(lung, skip=("image_mean_gy", "formula_mean_gy"))))

    act = results.get("activity", {})
    sec = doc.add(Section("Activity and calibration", kind="detail"))
    sec.tables.append(Table(["Quantity", "Value"], key_value_rows(act, skip=("partial_volume_correction",))))
    pvc = act.get("partial_volume_correction")
    if isinstance(pvc, Mapping):
        refs = pvc.get("references") or []
        if isinstance(refs, str):
            refs = [refs]
        sec.paragraphs.append(
            f"Partial-volume correction: {str(pvc.get('method', '?')).upper()} with an isotropic Gaussian "
            f"PSF of {format_length_mm(pvc.get('psf_fwhm_mm'))} mm FWHM "
            f"({pvc.get('source', 'source not stated')}); {pvc.get('grid', '')}. References: "
            + "; ".join(str(r) for r in refs) + "."
        )
        regions = lookup(pvc, ("gtm", "regions"))
        if isinstance(regions, Mapping):
            units = str(pvc.get("image_units", ""))
            sec.tables.append(Table(
                ["Region", "Volume (mL)", f"Observed mean ({units})", f"Corrected mean ({units})",
                 "Observed / corrected"],
                [[name] + [format_quantity(r.get("volume_ml"), "mL"), format_number(r.get("observed_mean")),
                           format_number(r.get("corrected_mean")),
                           format_ratio(r.get("recovery_observed_over_corrected"))]
                 for name, r in regions.items()],
                caption="Region means before and after correction (GTM)",
            ))
    else:
        sec.paragraphs.append("No partial-volume correction: lesion doses are underestimated where "
                              "lesions are small compared with the image resolution.")

    reg = results.get("registration")
    if isinstance(reg, Mapping):
        from workstation.report.registration import registration_section

        doc.add(registration_section(reg))

    # -------------------------------------------------------------- reference
    sec = doc.add(Section("Inputs", kind="reference"))
    if inputs:
        sec.tables.append(Table(
            ["Role", "File", "Modality", "Series UID", "Description"],
            [[str(i.get("role", "")), str(i.get("path", "")), str(i.get("modality", "") or ""),
              str(i.get("series_uid", "") or "–"), str(i.get("description", "") or "")]
             for i in inputs],
        ))
    else:
        sec.paragraphs.append("No input description was given.")
    grid = results.get("dose_grid")
    if isinstance(grid, Mapping):
        sec.tables.append(Table(["Quantity", "Value"], key_value_rows(grid, precise=True),
                                caption="Dose grid"))

    const = results.get("constants", {})
    sec = doc.add(Section("Physical constants and their sources", kind="reference"))
    sec.tables.append(Table(["Quantity", "Value"], key_value_rows(const, precise=True, skip=("sources",))))
    for src in const.get("sources", []):
        sec.paragraphs.append(str(src))

    thresholds = results.get("safety_thresholds")
    if isinstance(thresholds, Mapping) and thresholds:
        sec = doc.add(Section("Safety and efficacy thresholds and their sources", kind="reference"))
        sec.tables.append(Table(
            ["Threshold", "Value", "Source"],
            [[humanize_key(str(name))[0], _threshold_value(t), str(t.get("source", ""))]
             for name, t in thresholds.items() if isinstance(t, Mapping)],
        ))
    return doc


def _slices(
    doc: ReportDocument,
    results: Mapping[str, Any],
    doses: Mapping[str, Volume],
    ct: Volume | None,
    rois: Mapping[str, Volume],
    main: str | None,
) -> None:
    display = ct
    if display is None and doses:
        display = next(iter(doses.values()))
    if display is None or not doses:
        return
    from workstation.report.plots import AxialSliceRenderer

    method = main if main is not None and main in doses else next(iter(doses))
    dose_on = doses[method].resample_to(display, interpolation="linear")
    roi_on = [(name, m.resample_to(display, interpolation="nearest").array != 0) for name, m in rois.items()]
    # colour scale: up to the hottest ROI voxels (99.9th percentile inside the ROIs),
    # so lesion doses are not saturated by a scale set by the whole field of view
    in_rois = np.zeros(display.shape, bool)
    for _, m in roi_on:
        in_rois |= m
    pool = dose_on.array[in_rois] if in_rois.any() else dose_on.array[dose_on.array > 0]
    vmax = float(np.percentile(pool, 99.9)) if pool.size and np.any(pool > 0) else 1.0
    sec = doc.add(Section(f"Axial slices ({method} dose over {'CT' if ct is not None else 'dose'})",
                          kind="result"))
    names = {n for n, _ in roi_on}
    # a multi-label ROI arrives both as its union NAME and as NAME_1, NAME_2 …: show the parts
    unions = {n.rsplit("_", 1)[0] for n in names
              if n.rsplit("_", 1)[-1].isdigit() and n.rsplit("_", 1)[0] in names}
    roles = _roles(results, sorted(names))
    lesion_like = [(n, m) for n, m in roi_on if roles[n] == "lesion" and n not in unions]
    parts = {n for n in names if n.rsplit("_", 1)[0] in unions and n.rsplit("_", 1)[-1].isdigit()}
    outlines = [(n, m) for n, m in roi_on if n not in parts]
    by_slice: dict[int, list[str]] = {}  # lesions through the same slice share one picture
    for name, m in lesion_like:
        for comp, k in _lesion_slices(m):
            by_slice.setdefault(k, []).append(f"{name}" + (f" #{comp}" if comp > 1 else ""))
    targets = [(", ".join(names), k) for k, names in by_slice.items()]
    if not targets:
        k = int(np.argmax(dose_on.array.sum(axis=(1, 2))))
        targets.append(("hottest slice", k))
    renderer = AxialSliceRenderer(display, dose=dose_on, rois=outlines, dose_max_gy=vmax)
    for name, k in targets[:12]:
        z_mm = float(display.index_to_world([k, 0, 0])[2])
        png = renderer.png(k, title=f"{name}: slice {k} (z = {z_mm:.1f} mm)")
        sec.figures.append(Figure(png, f"Slice through {name}; dose wash from {0.05 * vmax:.0f} Gy "
                                  f"to {vmax:.0f} Gy; 5 cm scale bar."))


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
    label = "Activity image" if result.activity is not None else "Image"
    doc = build_sirt_report(result.results, doses=result.doses, ct=result.ct, rois=result.rois,
                            dvh_curves=curves, inputs=inputs,
                            facts=study_facts(result.activity, label))
    return render_html(doc), render_pdf(doc)
