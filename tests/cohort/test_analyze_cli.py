"""``cohort analyze``: analysis.json and the report (summary first) from cohort tables; exit 2 on a non-cohort folder."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workstation.cli import main
from workstation.cohort import write_tables
from workstation.report.document import format_number
from workstation.samples._cohort import DOSE_RESPONSE, MARGIN_PROGRESSION


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    """Tables of 60 SIRT treatments (3 lesions each) and 60 ablations drawn from the generator's models."""
    rng = np.random.default_rng(12)
    n = 180
    dose = rng.uniform(20.0, 320.0, n)
    lesions = pd.DataFrame({"id": [f"P{i // 3:02d}-sirt" for i in range(n)], "command": "sirt", "status": "done",
                            "lesion": [f"lesions_{i % 3 + 1}" for i in range(n)], "method": "ldm",
                            "mean_gy": dose, "d70_gy": 0.85 * dose, "eqd2_mean_gy": dose * (1 + dose * 0.002288) / 1.2,
                            "response": pd.array(DOSE_RESPONSE.draw(dose, rng), dtype="Int64")})
    margins = rng.uniform(-3.0, 10.0, 60)
    months, progressed = MARGIN_PROGRESSION.draw(margins, rng)
    treatments = pd.DataFrame({
        "id": [f"P{i:02d}-sirt" for i in range(60)] + [f"P{i:02d}-margin" for i in range(60)] + ["P99-sirt"],
        "command": ["sirt"] * 60 + ["margin"] * 60 + ["sirt"],
        "status": ["done"] * 120 + ["failed"], "reason": [""] * 120 + ["The activity image P99/pet is empty."],
        "minimal_margin_mm": [np.nan] * 60 + margins.tolist() + [np.nan],
        "progression_months": [np.nan] * 60 + months.tolist() + [np.nan],
        "progressed": pd.array([None] * 60 + progressed.tolist() + [None], dtype="Int64")})
    rois = lesions.rename(columns={"lesion": "roi"})
    write_tables({"treatments": treatments, "rois": rois, "lesions": lesions}, tmp_path, {"test": True})
    (tmp_path / "cohort.json").write_text(json.dumps({"started": "2026-01-01T00:00:00", "manifest": "m.csv"}))
    return tmp_path


def test_analyze_writes_analysis_and_a_report_with_the_summary_first(cohort_dir: Path, capsys) -> None:
    assert main(["cohort", "analyze", str(cohort_dir), "--sensitivity", "0.8"]) == 0
    out = capsys.readouterr().out
    analysis = json.loads((cohort_dir / "analysis.json").read_text())
    mean = analysis["dose_response"]["metrics"]["mean_gy"]
    assert mean["status"] == "ok" and mean["n"] == 180
    lo, hi = mean["slope_per_gy"]["ci"]
    assert lo <= DOSE_RESPONSE.slope_per_gy <= hi
    assert mean["roc"]["threshold_at_sensitivity"]["sensitivity"] >= 0.8
    assert f"D50 {mean['d50_gy']['estimate']:.1f} Gy" in out
    assert analysis["margin_outcome"]["cox"]["status"] == "ok"
    assert analysis["cohort"]["status"] == {"done": 120, "failed": 1}
    html = (cohort_dir / "report.html").read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    assert titles[0] == "Summary" and titles[-1] == "Methods, constants and sources"
    assert {"Dose-response", "Margin-outcome", "Failed cases"} <= set(titles)
    # the report shows the analysis.json numbers, rounded by the report's own formatter
    assert format_number(mean["d50_gy"]["estimate"]) in html
    assert "The activity image P99/pet is empty." in html
    assert html.count("<img ") >= 5  # three dose-response curves, ROC, Kaplan-Meier
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO((cohort_dir / "report.pdf").read_bytes())).pages)
    assert "Summary" in text and format_number(mean["d50_gy"]["estimate"]) in text


def test_analyze_on_a_folder_that_is_not_a_cohort_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["cohort", "analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "treatments.parquet does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "analysis.json").exists()


def test_analyze_with_an_unknown_method_is_exit_2(cohort_dir: Path, capsys) -> None:
    assert main(["cohort", "analyze", str(cohort_dir), "--method", "vsv"]) == 2
    assert "--method 'vsv' is not in the cohort's results; choose from ldm" in capsys.readouterr().err


def test_sample_data_cohort_refuses_case(tmp_path: Path, capsys) -> None:
    assert main(["sample-data", "--cohort", "2", "--case", "sirt", "-o", str(tmp_path / "c")]) == 2
    assert "--cohort writes a cohort only" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
