"""What the ``rt-dose`` and ``combine`` output folders share: dvh.csv, the report, results.json; the viewer's reader."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.outputs import jsonable, report_or_summary, summary_page
from workstation.core.volume import Unit, Volume
from workstation.dosimetry import write_dvh_csv

__all__ = ["ReportRenderer", "dose_layers", "write_common_outputs"]

#: Renders the report of an rt-dose or combine result: ``(result, inputs) -> (html, pdf bytes or None)``.
#: The report package provides them; the command line passes one in.
ReportRenderer = Callable[[Any, list[dict[str, Any]]], tuple[str, bytes | None]]


def _summary_html(results: dict[str, Any], title: str, note: str) -> str:
    """The minimal report: the note and results.json as it is."""
    body = f"<p>{escape(note)}.</p><pre>{escape(json.dumps(jsonable(results), indent=1))}</pre>"
    return summary_page(title, body)


def write_common_outputs(
    tmp: Path,
    out: Path,
    written: list[Path],
    result: Any,
    title: str,
    inputs: list[dict[str, Any]] | None,
    report_renderer: ReportRenderer | None,
) -> None:
    """Write ``dvh.csv``, the report and ``results.json`` of ``result`` into ``tmp``; names added to ``written``.

    ``result`` has ``results`` (the results.json dictionary) and ``dvh_rows``; the
    report is ``report_renderer(result, inputs)``, or the minimal summary (``title``)
    without one or when it fails, noted in ``results.json["outputs"]["report"]``.
    """
    inputs = list(inputs or [])
    write_dvh_csv(tmp / "dvh.csv", result.dvh_rows, first="quantity")
    written.append(out / "dvh.csv")
    render = None if report_renderer is None else _bound(report_renderer, result, inputs)
    html_text, pdf, note = report_or_summary(render, lambda why: _summary_html(result.results, title, why))
    assert html_text is not None
    (tmp / "report.html").write_text(html_text, encoding="utf-8")
    written.append(out / "report.html")
    if pdf is not None:
        (tmp / "report.pdf").write_bytes(pdf)
        written.append(out / "report.pdf")
    results = dict(result.results)
    results["inputs"] = inputs
    results["outputs"] = {"files": [p.name for p in written] + ["results.json"], "report": note}
    (tmp / "results.json").write_text(json.dumps(jsonable(results), indent=2, allow_nan=False), encoding="utf-8")
    written.append(out / "results.json")


def _bound(renderer: ReportRenderer, result: Any, inputs: list[dict[str, Any]]) -> Callable[[], tuple[str, bytes | None]]:
    return lambda: renderer(result, inputs)


def dose_layers(directory: str | os.PathLike[str]) -> dict[str, Volume]:
    """Every dose of an ``rt-dose`` or ``combine`` output folder as Volumes (Gy), for the viewer.

    Keys: ``"dose"`` (physical, rt-dose), ``"eqd2"`` (rt-dose), ``"eqd2_<name>"`` per
    treatment and ``"eqd2_total"`` (combine); all on the evaluation (CT) grid.
    """
    from workstation.io import read_image

    d = Path(directory)
    if not d.is_dir():
        raise InvalidInputError(f"{d}: not a folder of rt-dose or combine outputs.")
    out: dict[str, Volume] = {}
    for f in sorted(d.glob("*.nii.gz")):
        key = f.name[: -len(".nii.gz")]
        if key == "dose" or key.startswith("eqd2"):
            vol = read_image(f, units="Gy")
            vol.units = Unit.GY
            vol.metadata.series_description = key
            out[key] = vol
    if not out:
        raise InvalidInputError(f"{d}: no dose.nii.gz or eqd2*.nii.gz in this folder.")
    return out
