"""PDF rendering of a :class:`~workstation.report.document.ReportDocument` (fpdf2, A4 portrait).

Headings are kept with the first block that follows them; wide tables are split by
columns (the first column repeated); long DICOM UIDs are shortened in the text and
listed in full in an appendix; pages are numbered.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.report._format import UID_PATTERN, is_uid, numeric_columns, short_uid
from workstation.report._model import Table

if TYPE_CHECKING:
    from workstation.report._model import Figure, ReportDocument

#: Figure resolution the PNGs are made at (dots per inch), for their size on paper.
_FIGURE_DPI = 110
_BODY_PT = 9.5
_TABLE_PT = 8.0
_MIN_TABLE_PT = 6.5
#: Space a heading needs below it for the first lines of what follows (mm).
_MIN_FOLLOW_MM = 22.0


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class _Uids:
    """Long UIDs met in the text, numbered for the appendix."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def ref(self, uid: str) -> str:
        n = self.numbers.setdefault(uid, len(self.numbers) + 1)
        return f"{short_uid(uid)} [{n}]"

    def cell(self, text: str) -> str:
        return self.ref(text) if is_uid(text) else self.text(text)

    def text(self, text: str) -> str:
        return UID_PATTERN.sub(lambda m: self.ref(m.group(0)) if len(m.group(0)) >= 24 else m.group(0), text)


def render_pdf(doc: ReportDocument) -> bytes:
    """Render the document as a PDF (A4 portrait)."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    title = doc.title

    class _Pdf(FPDF):
        def footer(self) -> None:  # noqa: D102 - fpdf2 hook
            self.set_y(-11)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(110, 110, 110)
            self.cell(0, 5, f"{title} · page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(_dt.datetime(2000, 1, 1, tzinfo=_dt.UTC))
    pdf.set_title(doc.title)
    pdf.set_creator("workstation")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    uids = _Uids()

    def room() -> float:
        return pdf.page_break_trigger - pdf.get_y()

    def ensure(height_mm: float) -> None:
        if height_mm > room() and pdf.get_y() > pdf.t_margin + 1:
            pdf.add_page()

    def para(text: str, size: float = _BODY_PT, style: str = "", fill: tuple[int, int, int] | None = None) -> None:
        pdf.set_font("DejaVu", style, size)
        if fill is not None:
            pdf.set_fill_color(*fill)
        pdf.multi_cell(width, size * 0.5, uids.text(text), fill=fill is not None,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def text_height(text: str, size: float = _BODY_PT) -> float:
        pdf.set_font("DejaVu", "", size)
        lines = max(1, math.ceil(pdf.get_string_width(text) / (width * 0.97)))
        return lines * size * 0.5

    def heading(text: str, size: float, follow_mm: float) -> None:
        ensure(size * 0.6 + 3 + follow_mm)
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", size)
        pdf.multi_cell(width, size * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def figure_size(fig: Figure, max_w: float) -> tuple[float, float]:
        w_px, h_px = fig.size_px()
        if not w_px:  # not a PNG: let the image library measure it
            from PIL import Image

            with Image.open(io.BytesIO(fig.png)) as im:
                w_px, h_px = im.size
        w = min(max_w, w_px * 25.4 / _FIGURE_DPI)
        return w, w * h_px / w_px

    def first_block_height(section: Any) -> float:
        if section.warnings:
            return text_height(section.warnings[0], 9) + 2
        if section.paragraphs:
            return min(text_height(section.paragraphs[0]), _MIN_FOLLOW_MM) + 2
        if section.tables:
            return _MIN_FOLLOW_MM
        if section.figures:
            return figure_size(section.figures[0], _figure_width(section.figures))[1] + 6
        return 0.0

    def _figure_width(figs: list[Figure]) -> float:
        # small figures (slices) two per row
        natural = [figure_size(fig, width)[0] for fig in figs]
        return (width - 4) / 2 if len(figs) > 1 and max(natural) < 0.75 * width else width

    def figures(figs: list[Figure]) -> None:
        col_w = _figure_width(figs)
        per_row = 2 if col_w < width else 1
        for start in range(0, len(figs), per_row):
            row = figs[start:start + per_row]
            sizes = [figure_size(f, col_w) for f in row]
            cap_h = max(text_height(f.caption, 7.5) * (width / col_w) if f.caption else 0 for f in row)
            row_h = max(h for _, h in sizes) + cap_h + 3
            ensure(row_h)
            y0 = pdf.get_y()
            bottom = y0
            for n, (fig, (w, h)) in enumerate(zip(row, sizes, strict=True)):
                x = pdf.l_margin + n * (col_w + 4)
                pdf.image(io.BytesIO(fig.png), x=x, y=y0, w=w, h=h)
                y = y0 + h + 0.5
                if fig.caption:
                    pdf.set_xy(x, y)
                    pdf.set_font("DejaVu", "", 7.5)
                    pdf.multi_cell(col_w, 3.6, uids.text(fig.caption), new_x=XPos.LEFT, new_y=YPos.NEXT)
                    y = pdf.get_y()
                bottom = max(bottom, y)
            pdf.set_xy(pdf.l_margin, bottom + 2)

    def table(t: Table) -> None:
        for part in _column_chunks(pdf, t, width):
            caption = part.caption
            ensure((5 if caption else 0) + min(len(part.rows) + 1, 4) * 5.5 + 2)
            if caption:
                para(caption, 9, "B")
            _draw_table(pdf, part, width, uids)
            pdf.ln(1.5)
        if t.note:
            para(t.note, 7.5)
        pdf.ln(1.5)

    # ---------------------------------------------------------------- title
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(width, 8, doc.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.subtitle:
        para(doc.subtitle, 10)
    para(f"Created {doc.created}", 8)

    # -------------------------------------------------------------- summary
    s = doc.effective_summary()
    heading("Summary", 13, _MIN_FOLLOW_MM)
    if s.verdict:
        colour = {True: (215, 240, 220), False: (248, 215, 218), None: (233, 236, 239)}[s.verdict_ok]
        para(s.verdict, 12, "B", fill=colour)
        pdf.ln(1)
    if s.facts:
        _draw_table(pdf, Table(["", ""], [[k, v] for k, v in s.facts]), width, uids,
                    headings=False, col_widths=(32, 68))
        pdf.ln(2)
    for t in s.tables:
        table(t)
    for p in s.paragraphs:
        para(p)
        pdf.ln(1)
    warnings = doc.all_warnings()
    for w in warnings:
        ensure(text_height(w, 9) + 1)
        para("⚠ " + w, 9, fill=(255, 243, 205))
        pdf.ln(0.8)
    if not warnings:
        para("No warning was raised.", 9)

    # ------------------------------------------------------------- sections
    for section in doc.ordered_sections():
        heading(section.title, 12.5, first_block_height(section))
        for w in section.warnings:
            ensure(text_height(w, 9) + 1)
            para("⚠ " + w, 9, fill=(255, 243, 205))
            pdf.ln(0.8)
        for p in section.paragraphs:
            para(p)
            pdf.ln(1)
        for t in section.tables:
            table(t)
        if section.figures:
            figures(section.figures)

    if uids.numbers:
        heading("Appendix: identifiers", 12.5, 12)
        para("Full values of the DICOM UIDs shortened above.", 8)
        _draw_table(pdf, Table(["#", "UID"], [[str(n), u] for u, n in uids.numbers.items()]),
                    width, None, col_widths=(8, 92))
    pdf.ln(4)
    para(doc.footer, 7.5)
    return bytes(pdf.output())


class _Widths:
    """String widths (mm) at one font size, cached: tables measure the same words often."""

    def __init__(self, pdf: Any, font_pt: float) -> None:
        self.pdf, self.font_pt = pdf, font_pt
        self.cache: dict[tuple[str, bool], float] = {}

    def __call__(self, text: str, bold: bool = False) -> float:
        w = self.cache.get((text, bold))
        if w is None:
            self.pdf.set_font("DejaVu", "B" if bold else "", self.font_pt)
            w = self.cache[text, bold] = self.pdf.get_string_width(text)
        return w


def _column_widths(t: Table, width_of: _Widths) -> tuple[list[float], list[float]]:
    """(least, natural) width (mm) of each column: the least fits its longest word or number
    (and bold header word); the natural one also its longest cell (up to 60 mm) and header."""
    least, natural = [], []
    for j, h in enumerate(t.header):
        cells = [str(r[j]) for r in t.rows if j < len(r)]
        words = {w for c in cells for w in c.split()}
        longest_word = max([width_of(w) for w in words] + [width_of(w, bold=True) for w in h.split()],
                           default=4.0)
        longest = max((width_of(c) for c in cells), default=4.0)
        header = min(width_of(h, bold=True), 24.0)  # short headers on one line when there is room
        pad = 2 * _PAD_MM + 0.5
        least.append(max(longest_word, 6.0) + pad)
        natural.append(max(longest_word, min(longest, 60.0), header, 6.0) + pad)
    return least, natural


def _column_chunks(pdf: Any, t: Table, width: float) -> list[Table]:
    """The table, split by columns (first column repeated) where even its least widths (longest
    number or word per column: text and headers wrap, numbers do not) exceed ``width``; the
    columns are shared evenly between the parts."""
    least, _ = _column_widths(t, _Widths(pdf, _MIN_TABLE_PT))
    if sum(least) <= width or len(t.header) <= 2:
        return [t]
    parts = 1
    used = least[0]
    for j in range(1, len(t.header)):  # how many parts a greedy fill needs
        if used + least[j] > width and used > least[0]:
            parts += 1
            used = least[0]
        used += least[j]
    rest = list(range(1, len(t.header)))
    per = -(-len(rest) // parts)
    out = []
    for n in range(parts):
        idx = [0, *rest[n * per:(n + 1) * per]]
        if len(idx) == 1:
            break
        caption = t.caption if n == 0 else f"{t.caption} (continued)" if t.caption else ""
        out.append(Table([t.header[i] for i in idx], [[r[i] if i < len(r) else "" for i in idx]
                                                       for r in t.rows], caption))
    return out


_PAD_MM = 0.9
_HEAD_FILL = (238, 242, 248)


def _draw_table(pdf: Any, t: Table, width: float, uids: _Uids | None, headings: bool = True,
                col_widths: tuple[float, ...] | None = None) -> None:
    """A bordered table: wrapped text cells, right-aligned numbers, the header repeated after a
    page break. Drawn with plain cells (fpdf2's table layout is ten times slower)."""
    from fpdf.enums import MethodReturnValue

    ncol = max(len(t.header), 1)
    font_pt = _TABLE_PT
    width_of = _Widths(pdf, font_pt)
    least, natural = _column_widths(t, width_of)
    while sum(least) > width and font_pt > _MIN_TABLE_PT:
        font_pt -= 0.5
        width_of = _Widths(pdf, font_pt)
        least, natural = _column_widths(t, width_of)
    if col_widths is not None:
        widths = [width * c / sum(col_widths) for c in col_widths]
    elif sum(natural) > width:
        # too wide: every column gets its least width, the rest goes to the columns that wrap
        spare = max(width - sum(least), 0.0)
        extra = [n - m for n, m in zip(natural, least, strict=True)]
        widths = [m + spare * e / (sum(extra) or 1.0) for m, e in zip(least, extra, strict=True)]
    else:
        # wide tables take the full width (stretched in proportion), narrow ones their own
        total = sum(natural)
        widths = [w * width / total for w in natural] if total > 0.6 * width else natural
    numeric = numeric_columns(t.header, t.rows)
    line_h = font_pt * 0.42
    rows = [[(uids.cell(str(v)) if uids is not None else str(v)) if j < len(r) and (v := r[j]) is not None
             else "" for j in range(ncol)] for r in t.rows]

    def lines(text: str, w: float, bold: bool) -> list[str]:
        inner = w - 2 * _PAD_MM
        if width_of(text, bold) <= inner:
            return [text]
        pdf.set_font("DejaVu", "B" if bold else "", font_pt)
        return pdf.multi_cell(inner, line_h, text, dry_run=True, output=MethodReturnValue.LINES) or [""]

    def draw(cells: list[str], bold: bool) -> None:
        wrapped = [lines(c, widths[j], bold) for j, c in enumerate(cells)]
        h = max(len(w) for w in wrapped) * line_h + 2 * _PAD_MM
        if pdf.get_y() + h > pdf.page_break_trigger:
            pdf.add_page()
            if headings and not bold:
                draw(list(t.header), True)
        y = pdf.get_y()
        x = pdf.l_margin
        pdf.set_font("DejaVu", "B" if bold else "", font_pt)
        pdf.set_draw_color(190, 190, 190)
        for j, text_lines in enumerate(wrapped):
            if bold:
                pdf.set_fill_color(*_HEAD_FILL)
            pdf.rect(x, y, widths[j], h, style="DF" if bold else "D")
            align = "R" if numeric[j] else "L"
            for n, line in enumerate(text_lines):
                pdf.set_xy(x + _PAD_MM, y + _PAD_MM + n * line_h)
                pdf.cell(widths[j] - 2 * _PAD_MM, line_h, line, align=align)
            x += widths[j]
        pdf.set_xy(pdf.l_margin, y + h)

    c_margin = pdf.c_margin
    pdf.c_margin = 0.0  # the cells have their own padding
    try:
        if headings:
            draw(list(t.header), True)
        for r in rows:
            draw(r, False)
    finally:
        pdf.c_margin = c_margin
        pdf.set_draw_color(0, 0, 0)
