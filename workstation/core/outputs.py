"""What every output folder shares: JSON-ready values and the report-or-summary rule.

* :func:`jsonable` makes the ``results.json`` (``qa.json``, ``registration.json``)
  of every command strict JSON: numpy scalars and arrays become Python numbers
  and lists, NaN and infinities ``null``, dates ISO 8601 text, paths text.
* :func:`report_or_summary` renders the full report with the renderer the
  command line passes in (the physics never imports the report package) and,
  without one or when it fails, a minimal HTML summary, so the measurements never
  depend on the report; the note it returns goes into ``results.json``.
* :func:`summary_page` is the frame of those minimal summaries.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable
from html import escape
from typing import Any

import numpy as np

__all__ = ["FULL_REPORT", "jsonable", "report_or_summary", "summary_page"]

#: The note of a report rendered by the report package.
FULL_REPORT = "full report"

_JSON_KEY_TYPES = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (``json.dumps(..., allow_nan=False)`` accepts it).

    Dicts and lists are copied recursively (tuples become lists); numpy scalars
    become Python numbers and arrays lists; NaN and ±inf become ``None``; dates
    and times ISO 8601 strings; paths strings. Dict keys that JSON takes (text,
    numbers, booleans, ``None``) are kept for ``json`` to convert, others become
    text. Anything else is returned as it is (``json`` then names it).
    """
    if isinstance(value, dict):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _key(key: Any) -> Any:
    if isinstance(key, np.generic):
        key = key.item()
    return key if isinstance(key, _JSON_KEY_TYPES) else str(key)


def report_or_summary(
    render: Callable[[], tuple[str, bytes | None]] | None,
    summary: Callable[[str], str] | None = None,
) -> tuple[str | None, bytes | None, str]:
    """The full report, or the minimal summary with the reason: ``(html, pdf, note)``.

    Parameters
    ----------
    render:
        Renders the full report (HTML, PDF bytes or ``None``); ``None`` when the
        caller was given no report renderer.
    summary:
        Builds the minimal HTML summary; it receives the note (why there is no
        full report). Without it there is no HTML at all in that case.

    Returns
    -------
    tuple
        HTML (``None`` without a report and without ``summary``), PDF bytes or
        ``None``, and the note for ``results.json``: ``"full report"``,
        ``"minimal summary (no report renderer given)"`` or ``"minimal summary:
        the full report failed (Error: message)"`` (without ``summary``: the
        reason alone).
    """
    if render is not None:
        try:
            html_text, pdf_bytes = render()
            return html_text, pdf_bytes, FULL_REPORT
        except Exception as exc:  # noqa: BLE001 - the measurements must not depend on the report
            reason = f"the full report failed ({type(exc).__name__}: {exc})"
            note = f"minimal summary: {reason}"
    else:
        reason = "no report renderer given"
        note = f"minimal summary ({reason})"
    if summary is None:
        return None, None, reason
    return summary(note), None, note


def summary_page(title: str, body_html: str, style: str | None = None) -> str:
    """A self-contained HTML page: ``title`` (text) as title and heading, then ``body_html`` (markup)."""
    head_style = f"<style>{style}</style>" if style else ""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"{head_style}</head><body><h1>{escape(title)}</h1>{body_html}</body></html>\n"
    )
