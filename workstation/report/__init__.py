"""HTML and PDF reports: SIRT dosimetry, ablation margins, QA.

Every report is one :class:`ReportDocument`: a :class:`Summary` read first, then
:class:`Section` s of kind "result", "detail" and "reference", rendered to HTML
(:func:`render_html`) and PDF (:func:`render_pdf`). Numbers are formatted for their
meaning (:func:`format_dose_gy`, :func:`format_volume_ml`, :func:`format_percent`, …).
"""

from workstation.report._facts import person_name, study_facts
from workstation.report.document import (
    SECTION_KINDS,
    Figure,
    ReportDocument,
    Section,
    Summary,
    Table,
    figure_png,
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
    lookup,
    render_html,
    render_pdf,
    section_kind,
    short_uid,
    write_report,
)
from workstation.report.margin import build_margin_report, tumor_table_rows
from workstation.report.registration import registration_figure_png, registration_section
from workstation.report.sirt import build_sirt_report, primary_method, roi_table_rows

__all__ = [
    "SECTION_KINDS",
    "Figure",
    "ReportDocument",
    "Section",
    "Summary",
    "Table",
    "build_margin_report",
    "build_sirt_report",
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
    "person_name",
    "primary_method",
    "registration_figure_png",
    "registration_section",
    "render_html",
    "render_pdf",
    "roi_table_rows",
    "section_kind",
    "short_uid",
    "study_facts",
    "tumor_table_rows",
    "write_report",
]
