"""Reports: summary first, numbers formatted for their meaning and equal to results.json,
self-contained HTML, PDF pages without orphaned headings, UIDs shortened but recoverable."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import numpy as np
import pypdf
import pytest

from tests.report.conftest import SERIES_UID, registration_report
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.report import (
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    build_margin_report,
    build_sirt_report,
    figure_png,
    render_html,
    render_pdf,
    roi_table_rows,
    section_kind,
    short_uid,
    tumor_table_rows,
    write_report,
)
from workstation.report.margin import TUMOR_TABLE_COLUMNS
from workstation.report.sirt import ROI_TABLE_COLUMNS


class _Collector(HTMLParser):
    """Images, table cells (with the section they are in), section ids/titles, external links."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.cells: list[str] = []
        self.cell_section: list[str] = []
        self.sections: list[str] = []  # "summary" or the h2 title, in document order
        self.titles: dict[str, str] = {}  # span title -> text
        self.external: list[str] = []
        self._in_cell = self._in_h2 = False
        self._span_title: str | None = None

    def handle_starttag(self, tag, attrs):  # type: ignore[override]
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "h2":
            self._in_h2 = True
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")
            self.cell_section.append(self.sections[-1] if self.sections else "")
        if tag == "span" and a.get("title"):
            self._span_title = a["title"]
        for key in ("href", "src"):
            if key in a and a[key] and not a[key].startswith(("data:", "#")):
                self.external.append(a[key])

    def handle_endtag(self, tag):  # type: ignore[override]
        if tag in ("td", "th"):
            self._in_cell = False
        if tag == "h2":
            self._in_h2 = False
        if tag == "span":
            self._span_title = None

    def handle_data(self, data):  # type: ignore[override]
        if self._in_cell:
            self.cells[-1] += data
        if self._in_h2 and self.sections and not self.sections[-1]:
            self.sections[-1] = data.strip()
        if self._span_title:
            self.titles[self._span_title] = data


def _parse(html: str) -> _Collector:
    p = _Collector()
    p.feed(html)
    return p


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_sirt_report_html_and_pdf_agree_with_results(sirt_case, tmp_path) -> None:
    results, doses, ct, rois, curves, inputs = sirt_case
    doc = build_sirt_report(results, doses, ct, rois, curves, inputs=inputs)
    html_path, pdf_path = write_report(doc, tmp_path / "report.html", tmp_path / "report.pdf")
    html = html_path.read_text(encoding="utf-8")
    parser = _parse(html)
    # every image embedded (DVH + one lesion slice), nothing fetched from the network
    assert len(parser.imgs) == 2
    assert all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert parser.external == []
    # the per-method tables show exactly the results.json numbers, formatted once
    joined = "|".join(parser.cells)
    for method in ("ldm", "vsv"):
        for cols in (ROI_TABLE_COLUMNS[:11], ROI_TABLE_COLUMNS[11:]):
            for row in roi_table_rows(results["methods"][method], cols):
                assert "|".join(row) in joined
    # doses to 0.1 Gy, volumes to 0.1 mL, percentages to 0.1 %
    assert roi_table_rows(results["methods"]["ldm"], ROI_TABLE_COLUMNS[:3])[1] == \
        ["lesion", "3.9", "4.0", "212.3"]
    assert roi_table_rows(results["methods"]["ldm"], ROI_TABLE_COLUMNS[11:13])[0] == ["liver", "99.0", "80.1"]
    # the PDF carries the same numbers and the warning
    text = _pdf_text(pdf_path.read_bytes())
    for value in ("212.3", "45.7", "4.65", "1.877", "V205 (%)"):
        assert value in text
    assert "Lung dose 31.2 Gy" in text and "Lung dose 31.2 Gy" in html


def test_sirt_summary_comes_first_with_the_primary_method(sirt_case) -> None:
    results, doses, ct, rois, curves, inputs = sirt_case
    doc = build_sirt_report(results, doses, ct, rois, curves, inputs=inputs,
                            facts=[("Patient", "DOE, JANE (P-0042)")])
    parser = _parse(render_html(doc))
    # summary, then results (DVH, slices), then per-method detail, then inputs and constants
    assert parser.sections[0] == "summary"
    order = parser.sections[1:]
    assert order.index("Dose-volume histograms") < order.index(
        "Absorbed dose per region: voxel S-value convolution (VSV)") < order.index("Inputs") < order.index(
        "Physical constants and their sources")
    # the primary method is VSV (no vsv-density ran): the first detail section and the summary's numbers
    detail = [s for s in order if s.startswith("Absorbed dose per region")]
    assert detail[0].endswith("(VSV)")
    summary_cells = [c for c, s in zip(parser.cells, parser.cell_section, strict=True) if s == "summary"]
    row = "|".join(summary_cells)
    # lesion: volume, mean, D70 = 0.8 x 198.7, V100, V120; lungs: mean below 0.05 Gy, no tumour metrics
    assert "lesion|3.9|198.7|159.0|30.0|20.0" in row
    assert row.endswith("lungs|2500.0|< 0.1|||")
    assert "Lung dose 31.2 Gy" in render_html(doc).split('<section class="kind-')[0]
    # an explicit primary method wins
    parser_ldm = _parse(render_html(build_sirt_report(results, doses, ct, rois, curves, primary="ldm")))
    assert [s for s in parser_ldm.sections if s.startswith("Absorbed dose")][0].endswith("(LDM)")
    assert "lesion|3.9|212.3|169.9|30.0|20.0" in "|".join(
        c for c, s in zip(parser_ldm.cells, parser_ldm.cell_section, strict=True) if s == "summary")
    with pytest.raises(ValueError, match="vsv-density"):
        build_sirt_report(results, primary="vsv-density")


def test_no_scientific_notation_in_clinical_tables(sirt_case) -> None:
    results, doses, ct, rois, curves, inputs = sirt_case
    doc = build_sirt_report(results, doses, ct, rois, curves, inputs=inputs)
    html = render_html(doc)
    parser = _parse(html)
    clinical = [c for c, s in zip(parser.cells, parser.cell_section, strict=True)
                if s == "summary" or s.startswith(("Absorbed dose", "Activity"))]
    assert clinical
    assert not [c for c in clinical if re.search(r"\d[eE][-+]?\d|× 10", c)]
    # tiny fractions are "< 0.1" %, not 1.113e-6 or 3.425e-5; constants keep their precision
    assert "1.113e-6" not in html and "3.425e-5" not in html and "e-" not in "".join(clinical)
    assert "< 0.1" in clinical
    assert "1.60218 × 10⁻¹³" in parser.cells and "64.053" in parser.cells


def test_uids_are_shortened_and_the_full_value_kept(sirt_case) -> None:
    results, doses, ct, rois, curves, inputs = sirt_case
    doc = build_sirt_report(results, inputs=inputs)
    parser = _parse(render_html(doc))
    assert parser.titles.get(SERIES_UID) == short_uid(SERIES_UID)  # full value on hover
    assert SERIES_UID not in parser.cells
    text = _pdf_text(render_pdf(doc)).replace("\n", "")
    assert f"{short_uid(SERIES_UID)} [1]" in text
    assert "Appendix: identifiers" in text and SERIES_UID in text  # full value in the appendix


def _page_lines(data: bytes) -> list[list[tuple[float, str]]]:
    """Per page: (height from the bottom in pt, text) of every text run, top to bottom."""
    pages = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        runs: list[tuple[float, str]] = []

        def visit(text, cm, tm, font, size, runs=runs):  # type: ignore[no-untyped-def]
            if text.strip():
                runs.append((tm[5] * cm[3] + cm[5], text.strip()))

        page.extract_text(visitor_text=visit)
        pages.append(sorted(runs, key=lambda r: -r[0]))
    return pages


def test_pdf_never_leaves_a_heading_alone_at_the_foot_of_a_page() -> None:
    rng = np.random.default_rng(7)
    doc = ReportDocument("Orphans", summary=Summary(facts=[("Patient", "DOE, JANE")]))
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(5, 3.6))
    fig.add_subplot().plot([0, 1], [0, 1])
    png = figure_png(fig)
    for n in range(24):
        sec = doc.add(Section(f"Heading {n:02d}"))
        kind = n % 3
        if kind == 0:
            sec.paragraphs.extend("Text of the section. " * int(rng.integers(4, 30)) for _ in range(2))
        elif kind == 1:
            sec.tables.append(Table(["Region", "Mean (Gy)"], [[f"r{i}", f"{i}.0"] for i in range(int(rng.integers(3, 12)))]))
        else:
            sec.figures.append(Figure(png, "A figure."))
    pages = _page_lines(render_pdf(doc))
    assert len(pages) > 4
    seen = set()
    for runs in pages:
        body = [t for _, t in runs if " page " not in t]  # without the footer
        for i, t in enumerate(body):
            if t.startswith("Heading "):
                seen.add(t)
                # something of the section follows on the same page
                assert i < len(body) - 1, f"{t} is the last line of its page"
    assert len(seen) == 24


def test_wide_tables_fit_the_page_and_keep_every_column() -> None:
    header = ["ROI"] + [f"Metric {i} (Gy)" for i in range(22)]
    rows = [[f"lesion_{r}"] + [f"{1000 * r + i + 0.25:.1f}" for i in range(22)] for r in range(4)]
    doc = ReportDocument("Wide")
    doc.add(Section("A wide table", tables=[Table(header, rows, caption="Many columns")]))
    data = render_pdf(doc)
    reader = pypdf.PdfReader(io.BytesIO(data))
    width_pt = float(reader.pages[0].mediabox.width)
    xs: list[float] = []
    sizes: list[float] = []

    def visit(text, cm, tm, font, size):  # type: ignore[no-untyped-def]
        if text.strip():
            xs.append(tm[4] * cm[0] + cm[4])
            sizes.append(size * tm[0])

    for page in reader.pages:
        page.extract_text(visitor_text=visit)
    assert max(xs) < width_pt - 28  # no text starts in the right margin (10 mm = 28 pt)
    assert min(sizes) >= 6.4  # split into several tables rather than shrunk to an unreadable size
    text = _pdf_text(data)
    for i in range(22):
        assert re.search(rf"Metric\s+{i}\s+\(Gy\)", text), i
    assert "lesion_3" in text and "3021.2" in text
    assert not re.search(r"Metri\s+c|Metr\s+ic", text)  # headers wrap between words, not inside them
    assert "Many columns (continued)" in text


def test_section_kind_orders_sections_for_the_reader() -> None:
    doc = ReportDocument("Order")
    doc.add(Section("Inputs"))
    doc.add(Section("Physical constants"))
    doc.add(Section("Per-method detail", kind="detail"))
    doc.add(Section("Coverage per tumour"))
    assert [section_kind(s) for s in doc.sections] == ["reference", "reference", "detail", "result"]
    assert [s.title for s in doc.ordered_sections()] == [
        "Coverage per tumour", "Per-method detail", "Inputs", "Physical constants"]
    with pytest.raises(ValueError, match="kind"):
        section_kind(Section("x", kind="appendix"))
    # a document without a summary still opens with one, carrying every section's warnings once
    doc.sections[3].warnings.append("Check the registration.")
    doc.sections[2].warnings.append("Check the registration.")
    html = render_html(doc)
    assert html.index('id="summary"') < html.index("Coverage per tumour")
    assert html.split('<section class="kind-')[0].count("Check the registration.") == 1


def test_margin_report(margin_case) -> None:
    results, ct, tumor, zone, margin_map = margin_case
    doc = build_margin_report(results, ct, tumor, zone, margin_map)
    html = render_html(doc)
    parser = _parse(html)
    assert all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert len(parser.imgs) == 2  # thinnest-margin slice + histogram
    joined = "|".join(parser.cells)
    for cols in (TUMOR_TABLE_COLUMNS[:5], TUMOR_TABLE_COLUMNS[5:]):
        assert "|".join(tumor_table_rows(results, cols)[0]) in joined
    # summary first: verdict, per-tumour key numbers (surface < 5 mm = 0 % + 30 %), the warning
    assert parser.sections[0] == "summary"
    assert "1|2.1|3.2|30.0|0.8|covered, margin &lt; 5 mm".replace("&lt;", "<") in joined
    head = html.split('<section class="kind-')[0]
    assert "Minimal margin 3.2 mm" in head and "below 5 mm" in head and 'class="verdict fail"' in head
    assert "Registration" in head and "none" in head
    text = _pdf_text(render_pdf(doc))
    assert "3.2" in text and "0.8" in text and "Laimer" in text


def test_registration_section_shows_what_a_reader_needs(margin_case) -> None:
    results, ct, tumor, zone, margin_map = margin_case
    import SimpleITK as sitk

    from workstation.report.registration import moving_slice, registration_figure_png

    # the moving CT is the fixed one shifted by (3, -2, 0) mm; the registration's transform
    # (fixed -> moving points) is that shift, so the moving slice carried back equals the fixed one
    shift = np.array([3.0, -2.0, 0.0])
    moving = ct.copy_with(affine=ct.affine.copy())
    moving.affine[:3, 3] += shift
    tx = sitk.TranslationTransform(3, shift.tolist())
    back = moving_slice(ct, moving, tx, 10)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(back[inner] - ct.array[10][inner]).max() < 1e-3  # exact grid shift: no interpolation
    wrong = moving_slice(ct, moving, None, 10)
    assert np.abs(wrong[inner] - ct.array[10][inner]).mean() > 10  # without the transform it differs
    fig = registration_figure_png(ct, moving, tx, 10)

    reg = registration_report()
    res = dict(results, registration=reg)
    doc = build_margin_report(res, ct, tumor, zone, margin_map, registration_figure=fig)
    html = render_html(doc)
    sec = html[html.index("Registration of the pre-ablation CT"):]
    # method, metric before -> after, estimated error with its meaning, the picture
    assert "deformable registration" in sec and "rigid → B-spline (deformable)" in sec
    assert "-0.7038 → -0.9954" in sec and "optimiser" in sec
    assert "mean 0.4, 95th percentile 1.0, max 1.7" in sec and "not the true error" in sec
    assert "folding 0.0 %" in sec
    assert fig.data_uri() in sec and "checkerboard" in sec
    # internal keys stay in results.json
    for key in ("shrink_factors", "metric.note", "parameters.", "stop_condition", "StepGradient", "seed"):
        assert key not in html
    head = html.split('<section class="kind-')[0]
    assert "inverse consistency 0.4 mm mean" in head
    # without an estimate the section says so and what to do instead
    doc2 = build_margin_report(dict(results, registration=registration_report(inverse=False)), ct, tumor, zone)
    html2 = render_html(doc2)
    assert "not estimated" in html2 and "open the fixed image with the registered moving image" in html2


def test_qa_report_summary_states_the_verdict_and_failures() -> None:
    from workstation.qa.nema import PhantomQAResult, SphereResult
    from workstation.qa.run import PhantomInput
    from workstation.report.qa import build_qa_report

    spheres = [SphereResult(d, [0, 0, 0], [0.5, 0, 0] if d >= 13 else None, 0.5 if d >= 13 else None,
                            1e6, 1.2e6, rc, rc * 1.2, rc - 0.01, rc * 1.3)
               for d, rc in ((10.0, 0.45), (13.0, 0.58), (17.0, 0.70), (22.0, 0.79), (28.0, 0.86), (37.0, 0.91))]
    check = {"check": "sphere 37 mm position", "value": 12.4, "tolerance": "<= 6.0 mm", "passed": False,
             "reason": "sphere 37 mm found 12.4 mm from its expected position"}
    res = PhantomQAResult("Bq/mL", "quantitative", 2e6, 2.5e5, 2.48e5, 2.63, [0, 0, 20], True, 0.04,
                          6.89, 0.995, spheres, [check])
    qa = {"workstation_version": "0.1.0", "passed": False, "table": [{"group": "phantom P", **check}],
          "physics": [], "phantoms": [], "tolerances": {"sphere_position_mm": {
              "value": 6.0, "applies_to": "spheres >= 17 mm", "why": "about one SPECT voxel"}}}
    doc = build_qa_report(qa, [(PhantomInput("phantom P", "p.nii.gz", 2e6, 2.5e5), res)])
    html = render_html(doc)
    head = html.split('<section class="kind-')[0]
    assert "QA FAILED: 0 of 1 checks within tolerance" in head and 'class="verdict fail"' in head
    assert "12.4 mm from its expected position" in head
    cells = _parse(html).cells
    assert "6.9" in cells and "0.99" in cells and "0.45, 0.58, 0.70, 0.79, 0.86, 0.91" in cells
    assert "not found" in cells  # the 10 mm sphere has no position
    assert "Recovery coefficient per sphere" in html


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
    assert "|".join(tumor_table_rows(res, TUMOR_TABLE_COLUMNS[:5])[0]) in "|".join(_parse(html).cells)
    text = _pdf_text((out / "report.pdf").read_bytes())
    assert f"{res['tumors'][0]['minimal_margin_mm']:.1f}" in text


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


def test_a_report_written_before_the_summary_block_gets_one() -> None:
    # A report built on the first document model: "Inputs" first, a "Summary" section, a
    # "Warnings" section. The summary block takes the Summary section's content, inputs go last,
    # and the warnings are shown once.
    doc = ReportDocument("Older report")
    doc.add(Section("Inputs", tables=[Table(["Role", "File"], [["dose", "RD.dcm"]])]))
    doc.add(Section("Summary", tables=[Table(["Structure", "D95 (Gy)"], [["PTV", "44.1"]])]))
    doc.add(Section("Dose-volume histograms", paragraphs=["A DVH."]))
    doc.add(Section("Warnings", warnings=["Dose grid does not cover the body."]))
    html = render_html(doc)
    parser = _parse(html)
    assert parser.sections == ["summary", "Dose-volume histograms", "Inputs"]
    summary_cells = [c for c, s in zip(parser.cells, parser.cell_section, strict=True) if s == "summary"]
    assert summary_cells == ["Structure", "D95 (Gy)", "PTV", "44.1"]
    assert html.count("Dose grid does not cover the body.") == 1
    text = _pdf_text(render_pdf(doc))
    assert text.index("PTV") < text.index("A DVH.") < text.index("RD.dcm")
