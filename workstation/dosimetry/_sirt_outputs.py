"""What :func:`.pipeline.run_sirt` returns and how it is written: doses, DVHs, results.json, report."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.outputs import jsonable, report_or_summary, summary_page
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.dvh import write_dvh_csv


@dataclass
class SirtResult:
    """Everything :func:`write_outputs` writes."""

    results: dict[str, Any]
    doses: dict[str, Volume]
    activity: Volume
    dvh_rows: list[tuple[str, str, float, float]]
    ct: Volume | None = None
    warnings: list[str] = field(default_factory=list)
    rois: dict[str, Volume] = field(default_factory=dict)


def _summary_html(result: SirtResult, note: str) -> str:
    """The minimal report: calibration, constants, the metrics table, warnings and sources."""
    r = result.results
    rows = []
    for m, block in r["methods"].items():
        for name, met in block["rois"].items():
            rows.append(
                f"<tr><td>{html.escape(m)}</td><td>{html.escape(name)}</td><td>{met['volume_ml']:.1f}</td>"
                f"<td>{met['mean_gy']:.1f}</td><td>{met['d90_gy']:.1f}</td><td>{met['d50_gy']:.1f}</td>"
                f"<td>{met['max_gy']:.1f}</td><td>{met['v_gy_percent']['100']:.1f}</td></tr>"
            )
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in r["warnings"]) or "<li>none</li>"
    c = r["constants"]
    body = (
        f"<p>Activity calibration: {html.escape(str(r['activity']['calibration']))}, "
        f"{r['activity']['total_in_image_gbq']:.3f} GBq in the image. "
        f"LDM factor {c['ldm_gy_kg_per_gbq']} Gy kg/GBq; T1/2 {c['half_life_h']} h.</p>"
        "<table border='1'><tr><th>method</th><th>ROI</th><th>volume mL</th><th>mean Gy</th>"
        "<th>D90 Gy</th><th>D50 Gy</th><th>max Gy</th><th>V100 %</th></tr>"
        + "".join(rows)
        + "</table>"
        + f"<p>Tumour-to-normal ratio: {r['tumor_to_normal_ratio']}</p>"
        + f"<h2>Warnings</h2><ul>{warn}</ul>"
        + "<h2>Sources</h2><ul>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in c["sources"])
        + f"</ul><p>{html.escape(note)}; the full report is produced by the report package.</p>"
    )
    return summary_page(f"SIRT ({r['nuclide']}) voxel dosimetry", body)


#: Renders the report of a SIRT result: ``(result, inputs) -> (html, pdf bytes or None)``.
#: The report package provides one (:func:`workstation.report.sirt.render_sirt_report`); the
#: command line passes it in, so the physics never imports the presentation layer.
ReportRenderer = Callable[[SirtResult, list[dict[str, Any]]], tuple[str, bytes | None]]


def _bound(
    renderer: ReportRenderer | None, result: SirtResult, inputs: list[dict[str, Any]]
) -> Callable[[], tuple[str, bytes | None]] | None:
    return None if renderer is None else (lambda: renderer(result, inputs))


def write_outputs(
    result: SirtResult,
    out_dir: str | os.PathLike[str],
    dose_grid: str = "activity",
    write_report: bool = True,
    inputs: list[dict[str, Any]] | None = None,
    report_renderer: ReportRenderer | None = None,
    write_dicom: bool = False,
) -> list[Path]:
    """Write the outputs of :func:`.pipeline.run_sirt` into ``out_dir`` atomically.

    Parameters
    ----------
    dose_grid:
        ``"activity"`` (default) or ``"ct"`` (doses resampled linearly onto the CT grid).
    write_report:
        Also write ``report.html`` (and ``report.pdf``) with ``report_renderer``;
        a minimal HTML summary without one or if it fails, noted in
        ``results.json["outputs"]["report"]``.
    inputs:
        Input descriptions for the report (role, path, modality, series_uid, description).
    write_dicom:
        With a DICOM reference image, also (``sirt --dicom-results``) write the ROIs (``seg_<roi>.dcm``,
        ``rois_rtstruct.dcm``), the metrics (``measurements_sr.dcm``, TID 1500) and
        the report (``report_pdf.dcm``) into the patient's study
        (:mod:`.dicom_export`); objects that cannot be built are noted in
        ``results.json["outputs"]["dicom_notes"]``.
    """
    from workstation.io import atomic_directory, write_image

    if dose_grid not in ("activity", "ct"):
        raise InvalidInputError(f"--dose-grid must be 'activity' or 'ct', got {dose_grid!r}.")
    if dose_grid == "ct" and result.ct is None:
        raise InvalidInputError("--dose-grid ct needs a CT image (--ct).")
    written: list[Path] = []
    # DICOM reference for patient, study and frame of reference of the RT Dose files:
    # the image of the dose grid, else the other image of the study (same frame)
    candidates = [result.ct, result.activity] if dose_grid == "ct" else [result.activity, result.ct]
    reference = next((c for c in candidates if c is not None and c.metadata.dicom_headers), None)
    with atomic_directory(out_dir) as tmp:
        for m, dose in result.doses.items():
            out = dose
            if dose_grid == "ct":
                assert result.ct is not None
                out = dose.resample_to(result.ct, "linear", fill_value=0.0)
                out.units = Unit.GY
            write_image(out, tmp / f"dose_{m}.nii.gz")
            written.append(Path(out_dir) / f"dose_{m}.nii.gz")
            if reference is not None and reference.metadata.dicom_headers:
                from workstation.io.rtdose import write_rtdose

                write_rtdose(out, tmp / f"rtdose_{m}.dcm", reference=reference,
                             series_description=f"{result.results['nuclide']} dose ({m})")
                written.append(Path(out_dir) / f"rtdose_{m}.dcm")
        write_dvh_csv(tmp / "dvh.csv", result.dvh_rows, first="method")
        written.append(Path(out_dir) / "dvh.csv")
        report_note = None
        pdf_bytes = None
        if write_report:
            html_text, pdf_bytes, report_note = report_or_summary(
                _bound(report_renderer, result, list(inputs or [])), lambda note: _summary_html(result, note)
            )
            assert html_text is not None
            (tmp / "report.html").write_text(html_text, encoding="utf-8")
            written.append(Path(out_dir) / "report.html")
            if pdf_bytes is not None:
                (tmp / "report.pdf").write_bytes(pdf_bytes)
                written.append(Path(out_dir) / "report.pdf")
        dicom_notes: list[str] = []
        if write_dicom and reference is not None:
            from workstation.dosimetry.dicom_export import write_sirt_dicom

            rtdose_files = sorted(tmp.glob("rtdose_*.dcm"))
            dicom_files, dicom_notes = write_sirt_dicom(
                result, tmp, pdf_bytes if write_report else None, rtdose_files
            )
            written.extend(Path(out_dir) / p.name for p in dicom_files)
        results = dict(result.results)
        results["outputs"] = {
            "dose_grid": dose_grid,
            "files": [p.name for p in written] + ["results.json"],
            "report": report_note,
            "dicom_notes": dicom_notes,
        }
        (tmp / "results.json").write_text(
            json.dumps(jsonable(results), indent=2, allow_nan=False), encoding="utf-8"
        )
        written.append(Path(out_dir) / "results.json")
    return written
