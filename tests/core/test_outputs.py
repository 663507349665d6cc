"""The shared output helpers: strict JSON from numpy results, the report-or-summary rule."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from workstation.core.outputs import FULL_REPORT, jsonable, report_or_summary, summary_page


def test_jsonable_gives_strict_json_of_numpy_results() -> None:
    value = {
        "mean_gy": np.float32(12.5),
        "voxels": np.int64(7),
        "passed": np.bool_(True),
        "spacing_mm": np.array([2.5, 0.8, 0.7]),
        "percentiles": (np.float64(1.0), float("nan"), -float("inf")),
        "nested": [{"d90_gy": np.float64(np.inf)}],
        "when": dt.datetime(2026, 11, 27, 10, 30),
        "day": dt.date(2026, 11, 27),
        "path": Path("/tmp/out"),
        np.int64(3): "label 3",
        5: "an int key json converts itself",
    }
    out = jsonable(value)
    text = json.dumps(out, allow_nan=False)  # raises on NaN/inf or a numpy type
    back = json.loads(text)
    assert back["mean_gy"] == 12.5 and type(out["mean_gy"]) is float
    assert back["voxels"] == 7 and type(out["voxels"]) is int
    assert back["passed"] is True
    assert back["spacing_mm"] == [2.5, 0.8, 0.7]
    assert back["percentiles"] == [1.0, None, None]
    assert back["nested"] == [{"d90_gy": None}]
    assert back["when"] == "2026-11-27T10:30:00" and back["day"] == "2026-11-27"
    assert back["path"] == "/tmp/out"
    assert back["3"] == "label 3" and back["5"].startswith("an int")
    # the same text json.dumps writes for values that were JSON already
    plain = {"a": [1, 2.5, "x", None, True], "b": {"c": 0.1}}
    assert json.dumps(jsonable(plain), indent=2) == json.dumps(plain, indent=2)


def test_jsonable_leaves_an_unknown_object_for_json_to_name() -> None:
    with pytest.raises(TypeError, match="object"):
        json.dumps(jsonable({"x": object()}))


def test_report_or_summary_renders_or_falls_back_with_the_reason() -> None:
    def summary(note: str) -> str:
        return summary_page("Summary", f"<p>{note}</p>")

    html_text, pdf, note = report_or_summary(lambda: ("<html>full</html>", b"%PDF"), summary)
    assert (html_text, pdf, note) == ("<html>full</html>", b"%PDF", FULL_REPORT)

    html_text, pdf, note = report_or_summary(None, summary)
    assert note == "minimal summary (no report renderer given)" and pdf is None
    assert html_text is not None and note in html_text and "<title>Summary</title>" in html_text

    def broken() -> tuple[str, bytes | None]:
        raise ValueError("no fonts")

    html_text, pdf, note = report_or_summary(broken, summary)
    assert note == "minimal summary: the full report failed (ValueError: no fonts)" and pdf is None
    assert html_text is not None and "no fonts" in html_text
    # without a summary there is no page, only the reason
    assert report_or_summary(None) == (None, None, "no report renderer given")
    assert report_or_summary(broken) == (None, None, "the full report failed (ValueError: no fonts)")


def test_summary_page_escapes_the_title() -> None:
    page = summary_page("Dose < 5 Gy & more", "<p>body</p>", style="body{margin:1em}")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "<title>Dose &lt; 5 Gy &amp; more</title>" in page and "<p>body</p>" in page
    assert "<style>body{margin:1em}</style>" in page
