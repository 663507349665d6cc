"""The rt-dose, combine, TACE and lesion-overview reports on the document model: the summary
first with the numbers a clinician reads first (each equal to results.json formatted once),
sections in reading order, no scientific notation in clinical tables, UIDs shortened.

The results come from the real computations on small synthetic studies (conftest); the
sample studies run through the command line in the slow tests at the end."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.report.test_reports import _parse, _pdf_text
from workstation.report import (
    SECTION_KINDS,
    format_dose_gy,
    format_fraction_percent,
    format_length_mm,
    format_percent,
    format_ratio,
    format_volume_ml,
    render_html,
    render_pdf,
    short_uid,
    study_facts,
)
from workstation.report.radiotherapy import (
    _curves,
    build_combine_report,
    build_rt_dose_report,
    render_rt_dose_report,
)
from workstation.report.tace import build_lesion_report, build_tace_report, lesion_table_rows

# ------------------------------------------------------------------ helpers


def _summary_html(html: str) -> str:
    return html.split('<section class="kind-')[0]


def _summary_rows(html: str) -> str:
    """The summary's table cells joined by "|" (rows run on: compare row by row with ``in``)."""
    p = _parse(html)
    return "|".join(c for c, s in zip(p.cells, p.cell_section, strict=True) if s == "summary")


def _facts(html: str) -> dict[str, str]:
    head = _summary_html(html)
    return {re.sub(r"<[^>]+>", "", k): re.sub(r"<[^>]+>", "", v)
            for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", head, flags=re.S)}


def _kinds(html: str) -> list[str]:
    return re.findall(r'<section class="kind-(\w+)">', html)


def _assert_reading_order(html: str) -> None:
    """Summary first, then results, detail, reference, each kind present."""
    assert html.index('id="summary"') < html.index('<section class="kind-')
    kinds = _kinds(html)
    assert kinds == sorted(kinds, key=SECTION_KINDS.index), kinds
    assert set(kinds) == set(SECTION_KINDS)


_E_NOTATION = re.compile(r"\d[eE][-+]?\d|× 10")


def _clinical_cells(html: str) -> list[str]:
    """Cells of the summary, result and detail sections (reference tables keep constants' precision)."""
    out, kind = [], "summary"
    for part in re.split(r'(<section class="kind-\w+">)', html):
        m = re.match(r'<section class="kind-(\w+)">', part)
        if m:
            kind = m.group(1)
            continue
        if kind != "reference":
            out += _parse(part).cells
    return out


def _row(name: str, *cells: str) -> str:
    return "|".join([name, *cells])


# ------------------------------------------------------------------ rt-dose
def _rt_doc(rt_run: Any) -> Any:
    result, ct = rt_run
    return build_rt_dose_report(result.results, dose=result.dose, ct=result.ct,
                                structures=[(s.name, s.weights) for s in result.structures],
                                dvh_curves=_curves(result.dvh_rows), facts=study_facts(ct, "CT"))


def test_rt_dose_summary_first_with_coverage_constraints_and_normal_liver_eqd2(rt_run) -> None:
    result, _ = rt_run
    r = result.results
    html, pdf = render_rt_dose_report(result)
    _assert_reading_order(html)
    rows = _summary_rows(html)
    # target coverage: volume, V100, D98, D2, mean, each formatted once from results.json
    for name in ("GTV", "PTV"):
        e = r["rois"][name]
        assert _row(name, format_volume_ml(e["volume_ml"]), format_percent(e["v100_percent"]),
                    format_dose_gy(e["d98_gy"]), format_dose_gy(e["d2_gy"]), format_dose_gy(e["mean_gy"])) in rows
    assert "D90 (Gy)" not in rows  # brachytherapy columns only for brachytherapy
    # the constraints, met or not, and the verdict above them: the small liver fails the 700 mL rule
    cons = {c["name"]: c for c in r["constraints"]}
    cv = cons["liver_critical_volume"]
    assert not cv["passed"] and cons["mean_normal_liver_dose"]["passed"]
    assert _row(cv["description"], f"{format_volume_ml(cv['value'])} mL", "700.0 mL", "NO") in rows
    mean = cons["mean_normal_liver_dose"]
    assert _row(mean["description"], f"{format_dose_gy(mean['value'])} Gy", "15.0 Gy", "yes") in rows
    head = _summary_html(html)
    assert 'class="verdict fail"' in head and "Normal-liver constraints: 1 of 2 met" in head
    # normal liver (derived; liver alpha/beta in all its voxels) and the liver: physical dose and EQD2
    nl = r["rois"]["Liver - GTV"]
    assert nl["alpha_beta_gy"] == 2.5
    assert _row("Liver - GTV", format_volume_ml(nl["volume_ml"]), format_dose_gy(nl["mean_gy"]),
                format_dose_gy(nl["d2_gy"]), format_dose_gy(nl["eqd2_mean_gy"]), format_dose_gy(nl["eqd2_d2_gy"]),
                format_dose_gy(2.5)) in rows
    liver = r["rois"]["Liver"]
    assert rows.endswith(_row("Liver", format_volume_ml(liver["volume_ml"]), format_dose_gy(liver["mean_gy"]),
                              format_dose_gy(liver["d2_gy"]), format_dose_gy(liver["eqd2_mean_gy"]),
                              format_dose_gy(liver["eqd2_d2_gy"]), "2.5"))
    facts = _facts(html)
    assert facts["Prescription"] == "45.0 Gy in 3 fractions (15.0 Gy per fraction)"
    conf = r["conformity"]
    assert facts["Conformity (PTV)"] == (f"Paddick {format_ratio(conf['paddick'])}, gradient index "
                                         f"{format_ratio(conf['gradient_index'])}")
    assert facts["Patient"] == "DOE, JOHN (P-0043)"
    assert facts["Treatment"].startswith("External beam (SBRT), 2 beams")
    assert "Constraint not met" in head  # the workflow's warning, in the summary
    # figures: the two DVHs and three slices through the PTV, embedded
    p = _parse(html)
    assert len(p.imgs) == 5 and all(s.startswith("data:image/png;base64,") for s in p.imgs)
    assert p.sections.index("Dose-volume histograms") < p.sections.index("Axial slices") < p.sections.index(
        "Dose per structure") < p.sections.index("Inputs") < p.sections.index("Constants and their sources")
    text = _pdf_text(pdf)
    assert text.index("Target coverage") < text.index("Dose per structure")
    for value in (format_dose_gy(r["rois"]["PTV"]["d98_gy"]), format_volume_ml(cv["value"]), "TG-101"):
        assert value in text


def test_brachytherapy_summary_adds_the_gec_estro_metrics(rt_run) -> None:
    result, ct = rt_run
    r = json.loads(json.dumps(result.results))
    r["kind"] = "brachy"
    r["plan"] = dict(r["plan"], kind="brachy", beams=0, label="HDR liver", brachy={
        "technique": "INTERSTITIAL", "channels": 3, "dwell_positions": 18, "total_dwell_time_s": 478.159,
        "trak_ugy_at_1m_per_fraction": 4608.39, "sources": [
            {"number": 1, "isotope": "IR192", "half_life_days": 73.83, "model": "v2",
             "reference_air_kerma_rate_ugy_per_h_at_1m": 40700.0, "calibration_datetime": "2026-02-20T10:00:00"}]})
    for name, (d90, v150, v200) in {"GTV": (52.31, 61.25, 40.02), "PTV": (47.5, 30.0, 0.0004)}.items():
        r["rois"][name].update(d100_gy=0.9 * d90, d90_gy=d90, v150_percent=v150, v200_percent=v200)
    doc = build_rt_dose_report(r, facts=study_facts(ct, "CT"))
    html = render_html(doc)
    rows = _summary_rows(html)
    e = r["rois"]["PTV"]
    assert _row("PTV", format_volume_ml(e["volume_ml"]), format_percent(e["v100_percent"]), format_dose_gy(e["d98_gy"]),
                format_dose_gy(e["d2_gy"]), format_dose_gy(e["mean_gy"]), "47.5", "30.0", "< 0.1") in rows
    assert "V150 (%)" in rows and "GEC-ESTRO" in _summary_html(html)
    facts = _facts(html)
    assert facts["Treatment"] == ("HDR brachytherapy (interstitial), IR192 source, 3 channels, 18 dwell positions; "
                                  "plan “HDR liver”")
    cells = _parse(html).cells
    assert "478.2" in cells and "4608" in cells and "40700" in cells  # the delivery, in the plan detail


def test_rt_dose_detail_shortens_uids_and_labels_keys(rt_run) -> None:
    result, _ = rt_run
    r = json.loads(json.dumps(result.results))
    uid = "1.2.826.0.1.3680043.8.498.55902166049356976493446119180909418505"
    r["plan"]["sop_instance_uid"] = uid
    r["dose"]["referenced_plan_uids"] = [uid]
    html = render_html(build_rt_dose_report(r))
    p = _parse(html)
    assert p.titles.get(uid) == short_uid(uid) and uid not in p.cells
    # labels, not keys, in the tables (the keys stay in results.json)
    for key in ("sop_instance_uid", "dose_per_fraction_gy", "v100_percent", "eqd2_mean_gy", "liver_critical_volume"):
        assert key not in "|".join(p.cells), key
    assert "SOP Instance UID" in p.cells and "Dose per fraction (Gy)" in p.cells


# ------------------------------------------------------------------ combine
def test_combine_summary_gives_the_cumulative_eqd2_and_each_treatment_share(combine_run) -> None:
    r = combine_run.results
    doc = build_combine_report(r, total=combine_run.total, ct=combine_run.ct,
                               structures=[(s.name, s.weights) for s in combine_run.structures],
                               dvh_curves=_curves(combine_run.dvh_rows), facts=study_facts(combine_run.ct, "CT"))
    html = render_html(doc)
    _assert_reading_order(html)
    rows = _summary_rows(html)
    assert "sbrt: EQD2 mean (Gy)|sbrt: share (%)|hdr: EQD2 mean (Gy)|hdr: share (%)" in rows
    for name, entry in r["rois"].items():
        t = entry["total"]
        cells = [name, format_dose_gy(entry["alpha_beta_gy"]),
                 format_dose_gy(t["mean_gy"]), format_dose_gy(t["d98_gy"]), format_dose_gy(t["d2_gy"])]
        shares = []
        for n in ("sbrt", "hdr"):
            share = 100.0 * entry[n]["mean_gy"] / t["mean_gy"]
            cells += [format_dose_gy(entry[n]["mean_gy"]), format_percent(share)]
            shares.append(float(format_percent(share)))
        assert _row(*cells) in rows
        # EQD2 parts add voxel by voxel: the shares of the mean add up to 100 % (two roundings of 0.05)
        assert sum(shares) == pytest.approx(100.0, abs=0.11)
    assert f"Liver - GTV|{format_dose_gy(2.5)}" in rows
    facts = _facts(html)
    assert facts["Treatment sbrt"] == "external beam, 3 fractions"
    assert facts["Treatment hdr"] == "HDR brachytherapy, 1 fraction"
    assert len(_parse(html).imgs) == 2  # the EQD2 DVH and the slice through the GTV


# ------------------------------------------------------------------ TACE
def test_tace_summary_gives_coverage_rim_class_and_non_target_volume(tace_analysis) -> None:
    r = tace_analysis.results
    html = render_html(build_tace_report(tace_analysis))
    _assert_reading_order(html)
    rows = _summary_rows(html)
    t1, t2 = r["tumors"]
    assert (t1["class"], t2["class"]) == ("complete", "moderate")  # the synthetic truth: full and half filled
    assert _row("1", format_volume_ml(t1["volume_ml"]), format_percent(t1["lipiodol_coverage_percent"]),
                format_fraction_percent(t1["rim_coverage_fraction"]), "complete", "0.0", "0.0", "–") in rows
    assert _row("2", format_volume_ml(t2["volume_ml"]), format_percent(t2["lipiodol_coverage_percent"]),
                format_fraction_percent(t2["rim_coverage_fraction"]), "moderate", format_volume_ml(t2["uncovered_ml"]),
                format_volume_ml(t2["largest_gap_ml"]), "yes") in rows
    facts = _facts(html)
    assert facts["Non-target deposition"].startswith(f"{format_volume_ml(r['non_target_ml'])} mL in 1 deposit ")
    assert facts["Peritumoural deposition"].startswith(f"{format_volume_ml(r['peritumoral_ml'])} mL")
    assert facts["Registration"].startswith("none")
    head = _summary_html(html)
    assert "Lipiodol deposition: 1 complete, 1 moderate" in head and 'class="verdict neutral"' in head
    assert "No pre-TACE CT" in head  # the analysis' warning
    assert "more than 90 % of the tumour covered" in head  # the scale, next to the class column
    p = _parse(html)
    assert len(p.imgs) == 3  # two tumours and the non-target deposit
    assert p.sections.index("Slices: deposition and gaps") < p.sections.index("Deposition per tumour") < \
        p.sections.index("Deposition scale")
    assert "doi:10.1186/s40644-016-0090-4" in html
    text = _pdf_text(render_pdf(build_tace_report(tace_analysis)))
    assert format_percent(t2["lipiodol_coverage_percent"]) in text and "moderate" in text


def test_tace_report_after_a_registration_states_its_error(tace_analysis) -> None:
    import dataclasses

    from tests.report.conftest import registration_report

    reg = dict(registration_report(mode="affine"), stages=[{"stage": "rigid"}, {"stage": "affine"}])
    analysis = dataclasses.replace(tace_analysis, results=dict(tace_analysis.results, registration=reg))
    html = render_html(build_tace_report(analysis))
    assert _facts(html)["Registration"] == ("affine pre- to post-TACE CT; error inverse consistency 0.4 mm mean, "
                                            "1.0 mm 95th percentile")
    sec = html[html.index("Registration of the pre-TACE CT"):]
    assert "rigid → affine" in sec and "mean 0.4, 95th percentile 1.0, max 1.7" in sec
    _assert_reading_order(html)


# ------------------------------------------------------------------ lesions
def test_lesion_summary_gives_size_location_and_burden(lesion_overview_case) -> None:
    overview, ct = lesion_overview_case
    r = overview.results
    html = render_html(build_lesion_report(overview, ct))
    _assert_reading_order(html)
    rows = _summary_rows(html)
    for les in r["lesions"]:
        seg = les["couinaud"]
        seg_text = seg["segment"] + (" (caudate region?)" if seg.get("caudate_region") else
                                     " (near a plane)" if seg.get("uncertain") else "")
        assert _row(str(les["label"]), format_volume_ml(les["volume_ml"]), format_length_mm(les["longest_diameter_mm"]),
                    format_length_mm(les["short_axis_mm"]), seg_text,
                    *(format_length_mm(les[k]) for k in ("capsule_distance_mm", "dome_distance_mm",
                                                         "vessel_distance_mm", "hilum_distance_mm"))) in rows
    facts = _facts(html)
    assert facts["Hepatic tumour burden"] == (f"{format_percent(r['tumour_burden_percent'])} % "
                                              f"({format_volume_ml(r['tumour_volume_ml'])} mL of "
                                              f"{format_volume_ml(r['liver_volume_ml'])} mL liver)")
    assert facts["Largest diameter"] == f"{format_length_mm(r['largest_diameter_mm'])} mm"
    assert facts["Sum of diameters"] == f"{format_length_mm(r['sum_of_diameters_mm'])} mm"
    assert facts["Couinaud segments"] == "estimated from the landmarks"
    assert "no treatment recommendation" in _summary_html(html)
    p = _parse(html)
    assert len(p.imgs) == 2
    # the facts: one row per criterion, one column per lesion, the relation as the lesion package states it
    assert "Measurable (RECIST 1.1)|10 mm|" + "|".join(
        next(f["relation"] for f in les["facts"] if f["criterion"] == "recist_measurable") for les in r["lesions"]) \
        in "|".join(p.cells)


def test_lesion_distances_beyond_the_limit_or_not_measured_are_said_so(lesion_overview_case) -> None:
    overview, _ = lesion_overview_case
    r: dict[str, Any] = json.loads(json.dumps(overview.results))
    les = r["lesions"][0]
    les.update(capsule_distance_mm=None, vessel_distance_mm=None)
    les["couinaud"] = {"segment": None, "reason": "no landmarks given"}
    row = lesion_table_rows(r)[0]
    assert row[4] == "–" and row[5] == "> 60" and row[7] == "> 60"  # large vessels exist: beyond 60 mm
    r["vessels"] = {"segmented": False, "reason": "not requested"}
    r["hilum"] = {"lps_mm": None, "source": None}
    les["hilum_distance_mm"] = None
    row = lesion_table_rows(r)[0]
    assert row[7] == "not measured" and row[8] == "no hilum point"


# ------------------------------------------------------------------ all four
def test_no_scientific_notation_in_clinical_tables(rt_run, combine_run, tace_analysis, lesion_overview_case) -> None:
    docs = {
        "rt-dose": _rt_doc(rt_run),
        "combine": build_combine_report(combine_run.results),
        "tace": build_tace_report(tace_analysis),
        "lesions": build_lesion_report(*lesion_overview_case),
    }
    # the combine results hold doses such as 1.8e-06 Gy (SBRT D98 of the liver): "< 0.1" in the report
    tiny = [v for e in combine_run.results["rois"].values() for part in e.values() if isinstance(part, Mapping)
            for v in part.values() if isinstance(v, float) and 0 < v < 1e-4]
    assert tiny
    for name, doc in docs.items():
        cells = _clinical_cells(render_html(doc))
        assert cells, name
        assert [c for c in cells if _E_NOTATION.search(c)] == [], name
    assert "< 0.1" in _clinical_cells(render_html(docs["combine"]))


@pytest.mark.slow
def test_reports_in_a_real_browser(rt_run, combine_run, tace_analysis, lesion_overview_case, tmp_path) -> None:
    pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright client (test extra)")
    import os

    from workstation.report.browser import check_page, chromium_path, open_browser

    if chromium_path() is None:
        pytest.skip("no Chromium (Debian package chromium) installed")
    docs = {
        "rt_dose": _rt_doc(rt_run),
        "combine": build_combine_report(combine_run.results, total=combine_run.total, ct=combine_run.ct,
                                        structures=[(s.name, s.weights) for s in combine_run.structures],
                                        dvh_curves=_curves(combine_run.dvh_rows)),
        "tace": build_tace_report(tace_analysis),
        "lesions": build_lesion_report(*lesion_overview_case),
    }
    shots = Path(os.environ.get("WORKSTATION_REPORT_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with open_browser(1280, 800) as page:
        for name, doc in docs.items():
            path = tmp_path / f"{name}.html"
            path.write_text(render_html(doc), encoding="utf-8")
            result = check_page(page, path, screenshot=shots / f"report_{name}.png")
            assert not result.overflows, f"{name}: page {result.scroll_width_px} px wide in a 1280 px window"
            assert result.console_errors == [], name
            assert result.summary_in_first_screen, f"{name}: summary starts at {result.summary_top_px} px"


# ------------------------------------------------------------------ the sample studies
def _run(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    from workstation.cli import main

    out = tmp_path / "out"
    assert main(["--quiet", *args, "-o", str(out)]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8")), (out / "report.html").read_text(
        encoding="utf-8")


def _sample(name: str) -> Path:
    from workstation.samples import sample_data_dir

    return sample_data_dir() / name


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sbrt", "hdr"])
def test_rt_dose_report_of_the_sample_plans(case: str, tmp_path: Path) -> None:
    d = _sample(case)
    r, html = _run(tmp_path, "rt-dose", "--dose", str(d / "rt" / "RD.dcm"), "--plan", str(d / "rt" / "RP.dcm"),
                   "--structures", str(d / "rt" / "RS.dcm"), "--ct", str(d / "ct"))
    assert r["outputs"]["report"] == "full report"
    _assert_reading_order(html)
    rows = _summary_rows(html)
    brachy = case == "hdr"
    for name, e in r["rois"].items():
        if e["kind"] in ("gtv", "target"):
            cells = [format_volume_ml(e["volume_ml"]), format_percent(e["v100_percent"]), format_dose_gy(e["d98_gy"]),
                     format_dose_gy(e["d2_gy"]), format_dose_gy(e["mean_gy"])]
            if brachy:
                cells += [format_dose_gy(e["d90_gy"]), format_percent(e["v150_percent"]),
                          format_percent(e["v200_percent"])]
            assert _row(name, *cells) in rows
    nl = r["rois"]["Liver - GTV"]
    assert _row("Liver - GTV", format_volume_ml(nl["volume_ml"]), format_dose_gy(nl["mean_gy"])) in rows
    assert f"{format_dose_gy(nl['eqd2_mean_gy'])}|{format_dose_gy(nl['eqd2_d2_gy'])}|{format_dose_gy(2.5)}" in rows
    n = len(r["constraints"])
    assert f"Normal-liver constraints: {n} of {n} met" in _summary_html(html)
    assert _facts(html)["Patient"] == "SAMPLE, LIVER_RT (WS-RT-001)"
    assert [c for c in _clinical_cells(html) if _E_NOTATION.search(c)] == []


@pytest.mark.slow
def test_combine_report_of_the_sample_plans(tmp_path: Path) -> None:
    sbrt, hdr = _sample("sbrt"), _sample("hdr")
    r, html = _run(tmp_path, "combine", "--dose", f"sbrt={sbrt / 'rt' / 'RD.dcm'}:ebrt:3",
                   "--dose", f"hdr={hdr / 'rt' / 'RD.dcm'}:hdr:1",
                   "--transform", f"hdr={hdr / 'ground_truth' / 'to_sbrt.tfm'}", "--ct", str(sbrt / "ct"),
                   "--structures", str(sbrt / "rt" / "RS.dcm"))
    _assert_reading_order(html)
    rows = _summary_rows(html)
    for name, e in r["rois"].items():
        t = e["total"]
        assert _row(name, format_dose_gy(e["alpha_beta_gy"]),
                    format_dose_gy(t["mean_gy"]), format_dose_gy(t["d98_gy"]), format_dose_gy(t["d2_gy"]),
                    format_dose_gy(e["sbrt"]["mean_gy"]), format_percent(100 * e["sbrt"]["mean_gy"] / t["mean_gy"]),
                    format_dose_gy(e["hdr"]["mean_gy"]), format_percent(100 * e["hdr"]["mean_gy"] / t["mean_gy"])) in rows
    assert [c for c in _clinical_cells(html) if _E_NOTATION.search(c)] == []


@pytest.mark.slow
def test_tace_report_of_the_sample_study(tmp_path: Path) -> None:
    d = _sample("tace")
    gt = d / "ground_truth"
    r, html = _run(tmp_path, "tace", "--post-ct", str(d / "post_ct"), "--pre-ct", str(d / "pre_ct"),
                   "--tumor", str(gt / "tumor_pre.nii.gz"), "--liver", str(gt / "liver_post.nii.gz"),
                   "--transform", str(gt / "transform.tfm"))
    assert r["report"] == "full report"
    _assert_reading_order(html)
    rows = _summary_rows(html)
    for t in r["tumors"]:
        assert _row(str(t["label"]), format_volume_ml(t["volume_ml"]), format_percent(t["lipiodol_coverage_percent"]),
                    format_fraction_percent(t["rim_coverage_fraction"]), t["class"]) in rows
    assert _facts(html)["Non-target deposition"].startswith(f"{format_volume_ml(r['non_target_ml'])} mL")
    assert _facts(html)["Registration"] == "given transform, pre- to post-TACE CT"
    assert [c for c in _clinical_cells(html) if _E_NOTATION.search(c)] == []


@pytest.mark.slow
def test_lesion_report_of_the_sample_study(tmp_path: Path) -> None:
    d = _sample("ablation")
    r, html = _run(tmp_path, "lesions", "--ct", str(d / "pre_ct"), "--liver", str(d / "ground_truth" / "liver_pre.nii.gz"),
                   "--lesions", str(d / "ground_truth" / "tumor_pre.nii.gz"))
    _assert_reading_order(html)
    les = r["lesions"][0]
    assert _row("1", format_volume_ml(les["volume_ml"]), format_length_mm(les["longest_diameter_mm"]),
                format_length_mm(les["short_axis_mm"]), "–", format_length_mm(les["capsule_distance_mm"])) \
        in _summary_rows(html)
    assert _facts(html)["Couinaud segments"] == "not estimated (no landmarks given)"
    assert [c for c in _clinical_cells(html) if _E_NOTATION.search(c)] == []


def test_dvh_legend_of_long_structure_names_stays_inside_the_picture() -> None:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from workstation.report.plots import dvh_figure

    d = np.linspace(0.0, 120.0, 60)
    curves = {"total": {"GTV": (d, 100 / (1 + np.exp((d - 90) / 5))),
                        "Liver - GTV1/GTV2": (d, 100 / (1 + np.exp((d - 10) / 4)))},
              "sbrt": {"GTV": (d, 100 / (1 + np.exp((d - 85) / 5)))}}
    for fit in (False, True):
        fig = dvh_figure(curves, primary="total", methods_title="treatment", fit_legends=fit)
        FigureCanvasAgg(fig).draw()
        regions = next(a for a in fig.axes[0].get_children() if type(a).__name__ == "Legend" and
                       a.get_title().get_text() == "region")
        right = regions.get_window_extent().x1
        # without fit_legends the legend runs off the figure (the behaviour kept for the SIRT report)
        assert (right <= fig.bbox.x1 + 0.5) == fit
