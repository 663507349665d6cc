"""HTML and PDF reports: SIRT dosimetry, ablation margins, QA."""

from workstation.report.document import (
    Figure,
    ReportDocument,
    Section,
    Table,
    figure_png,
    format_number,
    render_html,
    render_pdf,
    write_report,
)
from workstation.report.margin import build_margin_report, tumor_table_rows
from workstation.report.sirt import build_sirt_report, roi_table_rows

__all__ = [
    "Figure",
    "ReportDocument",
    "Section",
    "Table",
    "build_margin_report",
    "build_sirt_report",
    "figure_png",
    "format_number",
    "render_html",
    "render_pdf",
    "roi_table_rows",
    "tumor_table_rows",
    "write_report",
]
