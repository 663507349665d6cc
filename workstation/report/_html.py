"""HTML rendering of a :class:`~workstation.report.document.ReportDocument` (jinja2)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from workstation.report._format import UID_PATTERN, is_uid, number_like, numeric_columns, short_uid
from workstation.report._model import section_kind

if TYPE_CHECKING:
    from workstation.report._model import ReportDocument, Table

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.title }}</title>
<style>
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0; color: #222;
  background: #fff; line-height: 1.4; overflow-wrap: break-word; }
main { max-width: 1100px; margin: 0 auto; padding: 1.2em 1.5em 2em; }
h1 { font-size: 1.5em; margin: 0 0 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #bbb; margin: 1.6em 0 0.5em; padding-bottom: 0.1em; }
.meta { color: #555; margin: 0.1em 0; font-size: 0.9em; }
.summary { border: 1px solid #9ab; border-radius: 6px; background: #f6f9fc; padding: 0.6em 1em 0.8em;
  margin-top: 0.8em; }
.summary h2 { margin-top: 0.2em; border-bottom: none; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(15em, 1fr)); gap: 0.3em 1.2em;
  margin: 0.3em 0 0.6em; }
.facts div { min-width: 0; } .facts dt { font-size: 0.78em; color: #567; text-transform: uppercase;
  letter-spacing: 0.03em; } .facts dd { margin: 0; font-weight: 600; }
.verdict { font-size: 1.15em; font-weight: 700; padding: 0.2em 0.6em; border-radius: 4px;
  display: inline-block; margin: 0.2em 0 0.5em; }
.verdict.ok { background: #d7f0dc; color: #1d5e2c; } .verdict.fail { background: #f8d7da; color: #842029; }
.verdict.neutral { background: #e9ecef; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.6em 0 0.9em; }
table { border-collapse: collapse; font-size: 0.88em; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: 0.2em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #eef2f8; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
td.text { min-width: 4em; max-width: 34em; }
.uid { border-bottom: 1px dotted #888; cursor: help; white-space: nowrap; }
.table-note { color: #555; font-size: 0.82em; margin: -0.5em 0 0.8em; }
.figures { display: flex; flex-wrap: wrap; gap: 0.8em 1.2em; align-items: flex-start; }
figure { margin: 0.4em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #444; font-size: 0.85em; max-width: 40em; }
.warning { background: #fff3cd; border-left: 4px solid #e0a800; padding: 4px 8px; margin: 4px 0; }
.no-warning { color: #2a6b3a; margin: 4px 0; }
.warn-count { margin: -0.3em 0 0.4em; font-size: 0.9em; } .warn-count a { color: #8a5a00; font-weight: 600; }
footer { margin-top: 3em; color: #777; font-size: 0.8em; }
@media print { .summary { break-inside: avoid; } h2 { break-after: avoid; } figure { break-inside: avoid; }
  .table-wrap { overflow: visible; } }
</style></head><body><main>
<header>
<h1>{{ doc.title }}</h1>
{% if doc.subtitle %}<p class="meta">{{ doc.subtitle | text }}</p>{% endif %}
<p class="meta">Created {{ doc.created }}</p>
</header>
<section id="summary" class="summary"><h2>Summary</h2>
{% if warnings %}<p class="warn-count"><a href="#warnings">{{ warnings | length }} warning{{ 's' if warnings | length > 1 }}</a>, listed at the end of this summary</p>{% endif %}
{% if summary.verdict %}<p class="verdict {{ verdict_class }}">{{ summary.verdict }}</p>{% endif %}
{% if summary.facts %}<dl class="facts">{% for label, value in summary.facts %}
<div><dt>{{ label }}</dt><dd>{{ value | text }}</dd></div>{% endfor %}</dl>{% endif %}
{% for t in summary.tables %}{{ table(t) }}{% endfor %}
{% for p in summary.paragraphs %}<p>{{ p | text }}</p>{% endfor %}
<div class="warnings" id="warnings">{% for w in warnings %}<p class="warning">{{ w | text }}</p>{% else %}
<p class="no-warning">No warning was raised.</p>{% endfor %}</div>
</section>
{% for s in sections %}
<section class="kind-{{ kind(s) }}"><h2>{{ s.title }}</h2>
{% for w in s.warnings %}<p class="warning">{{ w | text }}</p>{% endfor %}
{% for p in s.paragraphs %}<p>{{ p | text }}</p>{% endfor %}
{% for t in s.tables %}{{ table(t) }}{% endfor %}
{% if s.figures %}<div class="figures">{% for f in s.figures %}<figure>
<img src="{{ f.data_uri() }}" alt="{{ f.caption }}"{% if f.size_px()[0] %} width="{{ f.size_px()[0] }}" height="{{ f.size_px()[1] }}"{% endif %}>
<figcaption>{{ f.caption | text }}</figcaption></figure>{% endfor %}</div>{% endif %}
</section>
{% endfor %}
<footer>{{ doc.footer }}</footer>
</main></body></html>
"""

_TABLE = """<div class="table-wrap"><table>{% if t.caption %}<caption>{{ t.caption }}</caption>{% endif %}
<thead><tr>{% for h in t.header %}<th{% if numeric[loop.index0] %} class="num"{% endif %}>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr>{% for c in row %}<td class="{{ 'num' if numeric[loop.index0] and c is number_like else 'text' }}">{{ c | cell }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table></div>{% if t.note %}<p class="table-note">{{ t.note | text }}</p>{% endif %}"""


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2
    from markupsafe import Markup, escape

    def uid_span(uid: str) -> str:
        return f'<span class="uid" title="{escape(uid)}">{escape(short_uid(uid))}</span>'

    def cell(value: Any) -> Markup:
        text = str(value)
        if is_uid(text):
            return Markup(uid_span(text))
        return text_filter(text)

    def text_filter(value: Any) -> Markup:
        text = str(value)
        parts, last = [], 0
        for m in UID_PATTERN.finditer(text):
            if len(m.group(0)) < 24:
                continue
            parts.append(str(escape(text[last:m.start()])))
            parts.append(uid_span(m.group(0)))
            last = m.end()
        parts.append(str(escape(text[last:])))
        return Markup("".join(parts))

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = cell
    env.filters["text"] = text_filter
    env.tests["number_like"] = number_like
    return env


@lru_cache(maxsize=1)
def _templates() -> tuple[Any, Any]:
    env = _environment()
    return env.from_string(_TEMPLATE), env.from_string(_TABLE)


def render_html(doc: ReportDocument) -> str:
    """Render a self-contained HTML page (autoescaped; images as data URIs)."""
    from markupsafe import Markup

    page, table_tpl = _templates()

    def table(t: Table) -> Markup:
        return Markup(table_tpl.render(t=t, numeric=numeric_columns(t.header, t.rows)))

    summary = doc.effective_summary()
    ok = summary.verdict_ok
    return page.render(
        doc=doc,
        summary=summary,
        sections=doc.ordered_sections(),
        warnings=doc.all_warnings(),
        kind=section_kind,
        table=table,
        verdict_class="neutral" if ok is None else ("ok" if ok else "fail"),
    )

