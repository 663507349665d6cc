"""A report as data: a summary block, then sections of paragraphs, tables and figures.

One :class:`ReportDocument` is rendered both to a self-contained HTML file
(:func:`render_html`, every image embedded as a data URI, no network) and to a
PDF (:func:`render_pdf`, fpdf2 with the DejaVu font shipped by matplotlib), so
the two always carry the same content.

What every report gets by construction
--------------------------------------
* The :class:`Summary` comes first (patient/study and treatment facts, the key
  numbers, the warnings of the whole document), whatever order the sections
  were added in. A report that fills no summary still gets one with the
  warnings ("No warning was raised" otherwise); when it has a section titled
  "Summary", that section's tables and text become the summary block, and a
  section titled "Warnings" (warnings and text only) is not repeated below.
* Sections are shown in reading order by their ``kind``: ``"result"`` (figures
  and results), then ``"detail"`` (per-method detail), then ``"reference"``
  (inputs, constants, sources). A section without a kind is a result, unless
  its title names inputs, constants, sources or parameters
  (:func:`section_kind`).
* Tables scroll inside their block in HTML and are split by columns in the PDF,
  so nothing is wider than a 1280 px window or an A4 page. DICOM UIDs in cells
  and paragraphs are shortened: the full value is on hover (HTML) and in an
  appendix (PDF).
* PDF headings are kept with what follows them (no heading alone at the foot
  of a page); pages are numbered.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from workstation.io._atomic import atomic_path
from workstation.report._format import (
    format_activity_gbq,
    format_dose_gy,
    format_fraction_percent,
    format_length_mm,
    format_mass_g,
    format_number,
    format_percent,
    format_quantity,
    format_ratio,
    format_volume_ml,
    humanize_key,
    key_value_rows,
    short_uid,
)
from workstation.report._model import (
    SECTION_KINDS,
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    lookup,
    section_kind,
)

__all__ = [
    "SECTION_KINDS",
    "Figure",
    "Table",
    "Section",
    "Summary",
    "ReportDocument",
    "figure_png",
    "format_activity_gbq",
    "format_dose_gy",
    "format_fraction_percent",
    "format_length_mm",
    "format_mass_g",
    "format_number",
    "format_percent",
    "format_quantity",
    "format_ratio",
    "format_volume_ml",
    "humanize_key",
    "key_value_rows",
    "lookup",
    "render_html",
    "render_pdf",
    "section_kind",
    "short_uid",
    "write_report",
]

def figure_png(fig: Any, dpi: int = 110, tight: bool = True) -> bytes:
    """Render a matplotlib ``Figure`` (object API, never pyplot) to PNG bytes.

    ``tight=False`` saves the figure as laid out (one draw instead of two; use it for
    figures whose layout is fixed, e.g. ``layout="constrained"`` or set margins).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                metadata={"Software": None})
    return buf.getvalue()


def render_html(doc: ReportDocument) -> str:
    """Render a self-contained HTML page (autoescaped; images as data URIs)."""
    from workstation.report._html import render_html as _render

    return _render(doc)


def render_pdf(doc: ReportDocument) -> bytes:
    """Render the same document as a PDF (A4 portrait)."""
    from workstation.report._pdf import render_pdf as _render

    return _render(doc)


def write_report(
    doc: ReportDocument,
    html_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path | None]:
    """Write ``report.html`` (and the PDF when ``pdf_path`` is given) atomically."""
    html = render_html(doc)
    with atomic_path(html_path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    out_pdf = None
    if pdf_path is not None:
        data = render_pdf(doc)
        with atomic_path(pdf_path) as tmp:
            tmp.write_bytes(data)
        out_pdf = Path(pdf_path)
    return Path(html_path), out_pdf
