"""The reports in a real browser (headless Debian Chromium at 1280 px): nothing wider than the
window, no console error, the summary in the first screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.report.conftest import registration_report
from workstation.report import build_margin_report, build_sirt_report, render_html
from workstation.report.browser import check_page, chromium_path, open_browser

pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright client (test extra)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium (Debian package chromium) installed"),
]


def _qa_doc():
    from workstation.qa.nema import PhantomQAResult, SphereResult
    from workstation.qa.run import PhantomInput
    from workstation.report.qa import build_qa_report

    spheres = [SphereResult(d, [0, 0, 0], [0.4, 0, 0], 0.4, 1e6, 1.2e6, rc, 1.2 * rc, rc, 1.25 * rc)
               for d, rc in ((17.0, 0.7), (22.0, 0.79), (28.0, 0.86), (37.0, 0.91))]
    checks = [{"check": f"sphere {s.diameter_mm:.0f} mm position", "value": 0.4, "tolerance": "<= 6.0 mm",
               "passed": True} for s in spheres]
    res = PhantomQAResult("Bq/mL", "quantitative", 2e6, 2.5e5, 2.49e5, 2.6, [0, 0, 20], True, 0.04, 6.9,
                          0.99, spheres, checks)
    qa = {"workstation_version": "0.1.0", "passed": True,
          "table": [{"group": "bundled NEMA PET", **c} for c in checks],
          "physics": [{"check": "90Y voxel S-value (self), 4.42 mm voxels", "value": 0.6845, "expected": 0.689,
                       "unit": "mGy/(MBq s)", "tolerance": "3 % relative", "deviation_percent": 0.655,
                       "passed": True, "source": "Lanconelli et al., Phys Med Biol 57:517 (2012), 90Y soft tissue"}],
          "tolerances": {}}
    return build_qa_report(qa, [(PhantomInput("bundled NEMA PET", "sample_data/nema/pet", 2e6, 2.5e5), res)])


def test_reports_fit_the_window_without_errors_summary_first(sirt_case, margin_case, tmp_path) -> None:
    results, doses, ct, rois, curves, inputs = sirt_case
    # long unbroken paths and UIDs are what pushed the old pages wider than the window
    inputs = [dict(inputs[0], path="/data/studies/" + "very_long_folder_name_" * 8 + "NM1.dcm")]
    m_results, m_ct, tumor, zone, margin_map = margin_case
    docs = {
        "sirt": build_sirt_report(results, doses, ct, rois, curves, inputs=inputs),
        "margin": build_margin_report(dict(m_results, registration=registration_report()), m_ct, tumor, zone,
                                      margin_map),
        "qa": _qa_doc(),
    }
    shots = Path(os.environ.get("WORKSTATION_REPORT_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with open_browser(1280, 800) as page:
        # the check can fail: a page wider than the window, an error in the console, no summary
        bad = tmp_path / "bad.html"
        bad.write_text("<html><body><div style='width:2000px'>wide</div>"
                       "<script>console.error('broken')</script></body></html>", encoding="utf-8")
        control = check_page(page, bad)
        assert control.overflows and control.console_errors == ["broken"] and not control.summary_in_first_screen
        for name, doc in docs.items():
            path = tmp_path / f"{name}.html"
            path.write_text(render_html(doc), encoding="utf-8")
            result = check_page(page, path, screenshot=shots / f"report_{name}.png")
            assert not result.overflows, f"{name}: page {result.scroll_width_px} px wide in a 1280 px window"
            assert result.console_errors == [], name
            assert result.summary_in_first_screen, f"{name}: summary starts at {result.summary_top_px} px"
            assert (shots / f"report_{name}.png").stat().st_size > 10_000
