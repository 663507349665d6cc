"""The report model: a summary block, then sections of paragraphs, tables and figures.

The data a renderer reads (:mod:`._html`, :mod:`._pdf`); :mod:`.document` is the
public face (it re-exports these and renders them). See :mod:`.document` for
what every report gets by construction.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workstation.report._format import format_number, format_quantity

__all__ = ["SECTION_KINDS", "Figure", "ReportDocument", "Section", "Summary", "Table", "lookup", "section_kind"]

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
