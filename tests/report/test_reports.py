"""Reports: self-contained HTML (parses, images embedded, numbers equal results) and PDF."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import numpy as np
import pypdf
import pytest

from workstation.core import Unit, Volume, affine_from_geometry
from workstation.report import (
    build_margin_report,
    build_sirt_report,
    format_number,
    render_html,
    render_pdf,
    roi_table_rows,
    tumor_table_rows,
    write_report,
)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[override]
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")
        for key in ("href", "src"):
            if key in a and a[key] and not a[key].startswith("data:"):
                self.external.append(a[key])

    def handle_endtag(self, tag):  # type: ignore[override]
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):  # type: ignore[override]
        if self._in_cell:
            self.cells[-1] += data


def _roi(mean: float) -> dict:
    return {"volume_ml": 1234.5, "mass_g": 1271.5, "mean_gy": mean, "min_gy": 0.1, "max_gy": 3 * mean,
            "d2_gy": 2.5 * mean, "d50_gy": mean, "d70_gy": 0.8 * mean, "d90_gy": 0.5 * mean,
            "d95_gy": 0.4 * mean, "d98_gy": 0.3 * mean,
            "v_gy_percent": {"20": 99.0, "40": 80.123, "70": 50.0, "100": 30.0, "120": 20.0, "205": 1.5}}


@pytest.fixture
def sirt_case():
    aff = affine_from_geometry([-40, -40, -20], [4.0, 2.0, 2.0])
    z, y, x = np.meshgrid(np.arange(10), np.arange(40), np.arange(40), indexing="ij")
    ct = Volume(np.where((y - 20) ** 2 + (x - 20) ** 2 < 300, 60.0, -900.0).astype(np.float32), aff,
                units=Unit.HU)
    lesion = ((z - 5) ** 2 * 4 + (y - 18) ** 2 + (x - 22) ** 2 < 25).astype(np.uint8)
    liver = ((y - 20) ** 2 + (x - 20) ** 2 < 200).astype(np.uint8)
    dose = ct.copy_with(array=(50.0 + 200.0 * lesion).astype(np.float32), units=Unit.GY)
    results = {
        "workstation_version": "0.1.0", "nuclide": "Y-90",
        "constants": {"half_life_h": 64.05, "mean_energy_mev": 0.9336, "ldm_gy_kg_per_gbq": 49.67,
                      "sources": ["Graves et al. 2019 Med Phys 46:5284"]},
        "activity": {"calibration": "administered", "total_in_image_gbq": 1.8765, "administered_gbq": 2.0,
                     "lung_shunt_fraction": 0.05},
        "methods": {"ldm": {"rois": {"liver": _roi(45.678), "lesion": _roi(212.34)}},
                    "vsv": {"rois": {"liver": _roi(44.4), "lesion": _roi(198.7)}}},
        "tumor_to_normal_ratio": 4.6489,
        "warnings": ["Lung dose 31.2 Gy exceeds 30 Gy per treatment (Ho et al. 1997)."],
    }
    rois = {"liver": ct.copy_with(array=liver, units=Unit.LABEL),
            "lesion": ct.copy_with(array=lesion, units=Unit.LABEL)}
    curves = {"ldm": {"liver": (np.array([0, 50, 100.0]), np.array([100, 50, 0.0]))}}
    return results, {"ldm": dose, "vsv": dose}, ct, rois, curves


def test_sirt_report_html_and_pdf_agree_with_results(sirt_case, tmp_path) -> None:
    results, doses, ct, rois, curves = sirt_case
    doc = build_sirt_report(results, doses, ct, rois, curves,
                            inputs=[{"role": "activity", "path": "spect/NM1.dcm", "series_uid": "1.2.3"}])
    html_path, pdf_path = write_report(doc, tmp_path / "report.html", tmp_path / "report.pdf")
    parser = _Collector()
    parser.feed(html_path.read_text(encoding="utf-8"))
    # every image embedded, nothing fetched from the network
    assert len(parser.imgs) >= 2
    assert all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert parser.external == []
    # the per-ROI table shows exactly the results.json numbers (formatted once, here and there)
    for method in ("ldm", "vsv"):
        for row in roi_table_rows(results["methods"][method]):
            joined = "|".join(parser.cells)
            assert "|".join(row) in joined
    assert format_number(212.34) in parser.cells
    assert "Lung dose 31.2 Gy" in html_path.read_text(encoding="utf-8")
    # the PDF carries the same table numbers and the warning
    reader = pypdf.PdfReader(str(pdf_path))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 2
    for value in (212.34, 45.678, 4.6489, 1.8765):
        assert format_number(value) in text
    assert "Lung dose 31.2 Gy" in text


def test_margin_report(tmp_path) -> None:
    aff = affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0])
    ct = Volume(np.zeros((20, 40, 40), np.float32), aff, units=Unit.HU)
    z, y, x = np.meshgrid(np.arange(20), np.arange(40), np.arange(40), indexing="ij")
    tumor = ct.copy_with(array=(((z - 10) * 2) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 64).astype(np.uint8))
    zone = ct.copy_with(array=(((z - 10) * 2) ** 2 + (y - 20) ** 2 + (x - 22) ** 2 < 196).astype(np.uint8))
    mm = np.full(ct.shape, np.nan, np.float32)
    mm[10, 12, 20] = 6.0
    mm[10, 20, 28] = 3.25
    results = {"workstation_version": "0.1.0", "minimal_margin_mm": 3.25,
               "tumors": [{"label": 1, "volume_ml": 2.1, "minimal_margin_mm": 3.25,
                           "minimal_margin_location_lps_mm": [28.0, 20.0, 20.0],
                           "margin_percentiles_mm": {"5": 3.5, "25": 4.0, "50": 6.0, "75": 8.0, "95": 9.5},
                           "surface_fraction": {"below_0mm": 0.0, "0_to_5mm": 0.3, "5_to_10mm": 0.7,
                                                "at_least_10mm": 0.0},
                           "insufficient_coverage_ml": {"0": 0.0, "5": 0.8, "10": 3.9},
                           "subcapsular_excluded_fraction": 0.0}],
               "registration": None}
    doc = build_margin_report(results, ct, tumor, zone, ct.copy_with(array=mm))
    html = render_html(doc)
    parser = _Collector()
    parser.feed(html)
    assert all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert len(parser.imgs) == 2  # histogram + thinnest-margin slice
    assert "|".join(tumor_table_rows(results)[0]) in "|".join(parser.cells)
    assert "below 5 mm" in html
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(doc)))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "3.25" in text and "0.8" in text


def test_format_number() -> None:
    assert format_number(None) == "–"
    assert format_number(float("nan")) == "–"
    assert format_number(49.67) == "49.67"
    assert format_number(0.000012345) == "1.234e-5" or format_number(0.000012345) == "1.235e-5"
    assert format_number(3) == "3"


def test_margin_command_writes_the_full_report(tmp_path) -> None:
    # The margin workflow must use this package's report, not its minimal fallback.
    import json

    from workstation.cli import main
    from workstation.io import write_image

    aff = affine_from_geometry([0, 0, 0], [1.0, 1.0, 1.0])
    z, y, x = np.meshgrid(np.arange(40), np.arange(40), np.arange(40), indexing="ij")
    r2 = (z - 20) ** 2 + (y - 20) ** 2
    tumor = Volume((r2 + (x - 20) ** 2 <= 36).astype(np.uint8), aff, units=Unit.LABEL)
    zone = Volume((r2 + (x - 22) ** 2 <= 144).astype(np.uint8), aff, units=Unit.LABEL)
    write_image(tumor, tmp_path / "t.nii.gz")
    write_image(zone, tmp_path / "a.nii.gz")
    out = tmp_path / "out"
    assert main(["margin", "--tumor", str(tmp_path / "t.nii.gz"), "--ablation", str(tmp_path / "a.nii.gz"),
                 "-o", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["report"].startswith("full report")
    html = (out / "report.html").read_text()
    assert "Margin distribution" in html and "data:image/png;base64," in html
    assert "|".join(tumor_table_rows(res)[0]) in "|".join(_cells(html))
    # the PDF carries the same table
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(out / "report.pdf")).pages)
    assert format_number(res["tumors"][0]["minimal_margin_mm"]) in text


def _cells(html: str) -> list[str]:
    p = _Collector()
    p.feed(html)
    return p.cells


def test_axial_slice_is_shown_in_radiological_convention() -> None:
    # A bright block on the patient's left (+x in LPS) must appear on the right of the
    # picture whichever way the array columns run.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from workstation.report.plots import axial_overlay_figure

    arr = np.zeros((1, 20, 20), np.float32)
    arr[0, :, 15:] = 1000.0  # columns 15..19
    for flip in (False, True):
        direction = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])[:, ::-1]  # columns: z, y, x axes
        data = arr[:, :, ::-1] if flip else arr
        origin = [19.0 if flip else 0.0, 0.0, 0.0]  # same patient extent, columns reversed
        vol = Volume(data, affine_from_geometry(origin, [1, 1, 1], direction), units=Unit.HU)
        left = vol.index_to_world([0, 10, 17 if not flip else 2])[0]
        assert left > 10  # the block is on the patient's left in both cases
        fig = axial_overlay_figure(vol, 0, window=(0, 100))
        FigureCanvasAgg(fig).draw()
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2)
        ax_box = fig.axes[0].get_window_extent()
        h = img.shape[0]
        row = img[int(h - (ax_box.y0 + ax_box.y1) / 2)]
        x0, x1 = int(ax_box.x0), int(ax_box.x1)
        third = (x1 - x0) // 3
        assert row[x1 - third:x1 - 5].mean() > row[x0 + 5:x0 + third].mean() + 50
