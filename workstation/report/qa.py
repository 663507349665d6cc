"""The physics and phantom QA report (from qa.json and the phantom results).

Reading order: the summary (verdict, the failed checks as warnings, per phantom
the fitted resolution, background and recovery of the spheres), the recovery
curves, the full pass/fail table and per-phantom detail, then the physics
self-checks with their sources and the tolerances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    figure_png,
    format_length_mm,
    format_number,
    format_percent,
    format_ratio,
)

__all__ = ["build_qa_report"]


def _kbq(value: Any) -> str:
    """A concentration in Bq/mL shown in kBq/mL to 0.1."""
    return "–" if value is None else f"{float(value) / 1000.0:.1f}"


def build_qa_report(qa: Mapping[str, Any], results: Sequence[tuple[Any, Any]]) -> ReportDocument:
    """The QA report document.

    Parameters
    ----------
    qa:
        The qa.json dictionary of :func:`workstation.qa.run.run_qa`.
    results:
        ``(PhantomInput, PhantomQAResult)`` pairs of the phantoms analysed.
    """
    from workstation.qa.nema import SPHERE_VISIBILITY_SNR, sphere_recovery_model
    from workstation.report.plots import recovery_figure

    passed = bool(qa.get("passed"))
    doc = ReportDocument("Physics and phantom QA", subtitle=f"workstation {qa.get('workstation_version', '')}")
    table = list(qa.get("table", []))
    failed = [r for r in table if r.get("passed") is False]
    counted = [r for r in table if r.get("passed") is not None]
    summary = Summary(verdict=f"QA {'passed' if passed else 'FAILED'}: {len(counted) - len(failed)} of "
                              f"{len(counted)} checks within tolerance", verdict_ok=passed)
    physics = qa.get("physics") or []
    summary.fact("Physics self-checks", f"{sum(bool(r.get('passed')) for r in physics)} of {len(physics)} passed"
                 if physics else "not run")
    summary.fact("Phantoms", ", ".join(str(ph.name) for ph, _ in results) or "none")
    rows = []
    for ph, res in results:
        big = [s for s in res.spheres if s.diameter_mm >= 17]
        rows.append([
            str(ph.name), format_length_mm(res.fitted_fwhm_mm),
            format_ratio(res.background_measured / res.background_concentration
                         if res.background_concentration else None),
            format_percent(res.background_variability_percent),
            ", ".join(format_ratio(s.rc_mean) for s in res.spheres),
            f"{sum(s.position_error_mm is not None for s in res.spheres)} of {len(res.spheres)}",
            "pass" if res.passed else "FAIL",
        ])
        if not big:
            summary.warnings.append(f"{ph.name}: no sphere of 17 mm or more was analysed.")
    if rows:
        sizes = sorted({format_number(s.diameter_mm) for _, res in results for s in res.spheres}, key=float)
        summary.tables.append(Table(
            ["Phantom", "Resolution (mm FWHM)", "Background measured / stated",
             "Background variability (%)", f"Recovery (RC mean) of the {', '.join(sizes)} mm spheres",
             "Spheres located", "Result"], rows, caption="Phantoms",
            note="Resolution: FWHM of the Gaussian that best explains the sphere recoveries; "
                 "background variability: coefficient of variation over 37 mm ROIs (NEMA NU 2).",
        ))
    summary.warnings.extend(f"{r['group']}: {r.get('reason') or r['check']}" for r in failed)
    doc.summary = summary

    # ---------------------------------------------------------------- results
    sec = doc.add(Section("Recovery coefficients", kind="result")) if results else None
    for ph, res in results:
        assert sec is not None
        d = np.linspace(8, 40, 60)
        ratio_b = res.background_concentration / res.sphere_concentration
        model = [res.fitted_scale * (ratio_b + (1 - ratio_b) * sphere_recovery_model(x, res.fitted_fwhm_mm)[0])
                 for x in d]
        fig = recovery_figure([s.diameter_mm for s in res.spheres], [s.rc_mean for s in res.spheres],
                              [s.rc_max for s in res.spheres], d, model,
                              f"Recovery coefficients, {ph.name}")
        sec.figures.append(Figure(figure_png(fig), "Recovery coefficient per sphere with the fitted "
                                  "model of a uniform sphere blurred by a Gaussian."))

    # ----------------------------------------------------------------- detail
    sec = doc.add(Section("Pass/fail", kind="detail"))
    sec.tables.append(Table(
        ["Group", "Check", "Value", "Tolerance", "Result"],
        [[str(r["group"]), str(r["check"]), format_number(r["value"]), str(r["tolerance"]),
          "–" if r["passed"] is None else "pass" if r["passed"] else "FAIL"] for r in table],
    ))
    for ph, res in results:
        sec = doc.add(Section(f"Phantom: {ph.name}", kind="detail"))
        sec.paragraphs.append(
            f"{ph.path}: stated spheres {_kbq(ph.sphere_concentration)} kBq/mL, background "
            f"{_kbq(ph.background_concentration)} kBq/mL; {res.calibration}. Measured background "
            f"{_kbq(res.background_measured)} kBq/mL, background variability "
            f"{format_percent(res.background_variability_percent)} % (37 mm ROIs), fitted resolution "
            f"{format_length_mm(res.fitted_fwhm_mm)} mm FWHM; lung insert "
            + ("found" if res.lung_insert_found else "not found")
            + (f", residual {format_percent(res.lung_insert_residual_percent)} %"
               if res.lung_insert_residual_percent is not None else "") + "."
        )
        sec.tables.append(Table(
            ["Sphere (mm)", "RC mean", "RC max", "Model RC", "Dose recovery", "Visibility (SNR)",
             "Position error (mm)"],
            [[format_number(s.diameter_mm), format_ratio(s.rc_mean), format_ratio(s.rc_max),
              format_ratio(s.rc_model), format_ratio(s.dose_recovery),
              format_number(round(snr, 1)) if (snr := getattr(s, "visibility_snr", None)) is not None else "–",
              format_length_mm(s.position_error_mm) if s.position_error_mm is not None else "not found"]
             for s in res.spheres],
            note="Visibility: excess of the sphere's mean over the background divided by the noise of "
                 f"that mean (visible from {SPHERE_VISIBILITY_SNR:g}, the Rose criterion).",
        ))
        sec.paragraphs.extend(f"{format_number(s.diameter_mm)} mm sphere: {note}."
                              for s in res.spheres if (note := getattr(s, "note", None)))

    # -------------------------------------------------------------- reference
    if physics:
        sec = doc.add(Section("Physics self-checks and their sources", kind="reference"))
        sec.tables.append(Table(
            ["Check", "Value", "Expected", "Unit", "Deviation (%)", "Source"],
            [[str(r["check"]), format_number(r["value"]), format_number(r["expected"]), str(r.get("unit", "")),
              format_percent(r["deviation_percent"]), str(r["source"])] for r in physics],
        ))
    tolerances = qa.get("tolerances")
    geometry = next((res.to_dict().get("geometry_source") for _, res in results if hasattr(res, "to_dict")),
                    None)
    if (isinstance(tolerances, Mapping) and tolerances) or geometry:
        sec = doc.add(Section("Tolerances and phantom geometry", kind="reference"))
        if isinstance(tolerances, Mapping) and tolerances:
            sec.tables.append(Table(
                ["Tolerance", "Value", "Applies to", "Why"],
                [[str(k).replace("_", " "), format_number(v.get("value")), str(v.get("applies_to", "")),
                  str(v.get("why", ""))] for k, v in tolerances.items() if isinstance(v, Mapping)],
            ))
        if geometry:
            sec.paragraphs.append(f"Phantom geometry: {geometry}.")
    return doc
