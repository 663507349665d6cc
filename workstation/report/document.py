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

import base64
import datetime as _dt
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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

#: Reading order of section kinds (after the summary).
SECTION_KINDS: tuple[str, ...] = ("result", "detail", "reference")

_REFERENCE_WORDS = ("input", "constant", "source", "parameter", "provenance", "reference",
                    "software", "identifier")


def section_kind(section: Section) -> str:
    """The kind a section is shown as: its own ``kind``, else "reference" when its title
    names inputs, constants, sources or parameters, else "result"."""
    if section.kind:
        if section.kind not in SECTION_KINDS:
            raise ValueError(f"Section kind must be one of {SECTION_KINDS}, not {section.kind!r}.")
        return section.kind
    title = section.title.lower()
    return "reference" if any(w in title for w in _REFERENCE_WORDS) else "result"


def lookup(mapping: Any, path: tuple[str, ...] | list[str]) -> Any:
    """``mapping[path[0]][path[1]]…``, or None where a key is missing (tables of results.json)."""
    cur = mapping
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return cur


@dataclass
class Figure:
    """A PNG image with a caption."""

    png: bytes
    caption: str = ""

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def size_px(self) -> tuple[int, int]:
        """(width, height) in pixels, read from the PNG header ((0, 0) when it is not a PNG)."""
        if self.png[:8] != b"\x89PNG\r\n\x1a\n" or len(self.png) < 24:
            return 0, 0
        return int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")


@dataclass
class Table:
    """A table of strings (numbers already formatted, see :mod:`workstation.report._format`)."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    #: A line under the table (what the columns mean, where numbers come from).
    note: str = ""

    @classmethod
    def from_values(cls, header: list[str], rows: list[list[Any]], caption: str = "") -> Table:
        """Cells formatted with :func:`format_number` (significant digits)."""
        return cls(header, [[format_number(v) for v in row] for row in rows], caption)

    @classmethod
    def from_quantities(
        cls, header: list[str], units: list[str], rows: list[list[Any]], caption: str = "", note: str = ""
    ) -> Table:
        """Cells formatted for their meaning: ``units[j]`` is the unit of column j ("Gy", "mL",
        "%", "mm", "g", "GBq", "ratio"; "" for text or plain numbers)."""
        if len(units) != len(header):
            raise ValueError(f"Give one unit per column: {len(header)} columns, {len(units)} units.")
        return cls(header, [[v if isinstance(v, str) else format_quantity(v, u) if u else format_number(v)
                             for v, u in zip(row, units, strict=True)] for row in rows], caption, note)


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    #: Items marked as warnings are shown highlighted (and gathered into the summary).
    warnings: list[str] = field(default_factory=list)
    #: "result", "detail" or "reference" (see :func:`section_kind`); "" infers it from the title.
    kind: str = ""


@dataclass
class Summary:
    """The block a reader sees first.

    ``facts`` are (label, value) pairs: patient, study, treatment, method. ``tables``
    hold the key numbers; ``verdict`` is an optional one-line headline (e.g.
    "QA passed"), ``verdict_ok`` colours it (True green, False red, None neutral).
    The document's warnings are added when it is rendered.
    """

    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: str = ""
    verdict_ok: bool | None = None

    def fact(self, label: str, value: Any) -> None:
        """Add a fact unless its value is empty or None."""
        if value is None or value == "":
            return
        self.facts.append((label, value if isinstance(value, str) else format_number(value)))


@dataclass
class ReportDocument:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    created: str = field(
        default_factory=lambda: _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    )
    footer: str = (
        "Generated by the open-source SIRT dosimetry and ablation-margin workstation. "
        "For review by a qualified medical physicist; not a substitute for clinical judgement."
    )
    summary: Summary = field(default_factory=Summary)

    def add(self, section: Section) -> Section:
        self.sections.append(section)
        return section

    def _promoted(self) -> Section | None:
        """A section titled "Summary" stands in for an empty :attr:`summary`."""
        s = self.summary
        if s.facts or s.tables or s.paragraphs or s.verdict:
            return None
        return next((sec for sec in self.sections if sec.title.strip().lower() == "summary"), None)

    def effective_summary(self) -> Summary:
        """The summary shown: :attr:`summary`, or, when it is empty, the content of a section
        titled "Summary" (reports written before the summary block get one by construction)."""
        sec = self._promoted()
        if sec is None:
            return self.summary
        return Summary(facts=list(self.summary.facts), tables=list(sec.tables),
                       paragraphs=list(sec.paragraphs), warnings=[*self.summary.warnings, *sec.warnings])

    def ordered_sections(self) -> list[Section]:
        """Sections in reading order (results, detail, reference), stable within a kind.

        A section promoted to the summary, and a section titled "Warnings" with nothing but
        warnings and text (they are all in the summary), are not repeated.
        """
        rank = {k: i for i, k in enumerate(SECTION_KINDS)}
        promoted = self._promoted()
        shown = [s for s in self.sections if s is not promoted and not (
            s.title.strip().lower() == "warnings" and not s.tables and not s.figures)]
        return sorted(shown, key=lambda s: rank[section_kind(s)])

    def all_warnings(self) -> list[str]:
        """The summary's warnings then every section's, each once, in order."""
        seen: dict[str, None] = {}
        for w in self.effective_summary().warnings:
            seen.setdefault(str(w), None)
        for s in self.sections:
            for w in s.warnings:
                seen.setdefault(str(w), None)
        return list(seen)


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
