"""A short, self-contained HTML summary of margin results: the report when the report package's fails or is not given."""

from __future__ import annotations

from html import escape
from typing import Any

from workstation.core.outputs import summary_page

_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}"
          "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:right}")


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float | int):
        return f"{x:.{nd}f}"
    return escape(str(x))


def margin_report_html(results: dict[str, Any], title: str = "Ablation margins", note: str | None = None) -> str:
    """Render ``results.json`` of ``margin`` / ``plan-ablation`` as an HTML page (``note``: why not the full report)."""
    rows = []
    for t in results.get("tumors", []):
        p = t["margin_percentiles_mm"]
        f = t["surface_fraction"]
        c = t["insufficient_coverage_ml"]
        rows.append(
            "<tr>"
            f"<td>{t['label']}</td><td>{_fmt(t['volume_ml'], 2)}</td>"
            f"<td><b>{_fmt(t['minimal_margin_mm'])}</b></td>"
            f"<td>{_fmt(p.get('5'))} / {_fmt(p.get('50'))} / {_fmt(p.get('95'))}</td>"
            f"<td>{_fmt(100 * f['below_0mm'])} / {_fmt(100 * f['0_to_5mm'])} / "
            f"{_fmt(100 * f['5_to_10mm'])} / {_fmt(100 * f['at_least_10mm'])}</td>"
            f"<td>{_fmt(c.get('0'), 2)} / {_fmt(c.get('5'), 2)} / {_fmt(c.get('10'), 2)}</td>"
            f"<td>{_fmt(100 * (t['subcapsular_excluded_fraction'] or 0.0))}</td>"
            "</tr>"
        )
    kinds = results.get("mask_kind", {})
    warnings = "".join(f"<li>{escape(w)}</li>" for w in results.get("warnings", []))
    reg = results.get("registration")
    reg_html = (
        "<p>Tumour mask carried from the pre-ablation CT by deformable registration "
        "(tumour rigid, ablation zone excluded); see registration in results.json.</p>"
        if reg else "<p>No registration: the masks were used in their own patient coordinates.</p>"
    )
    plan = results.get("applicators")
    plan_html = ""
    if plan:
        items = "".join(
            f"<li>{escape(a.get('name') or 'applicator')}: tip {a['tip_lps_mm']} mm, "
            f"{a['power_w']:g} W, {a['time_s']:g} s → {a['length_mm']:g} × {a['diameter_mm']:g} mm</li>"
            for a in plan
        )
        covers = results.get("plan_covers_margin_mm", {})
        plan_html = (
            f"<h2>Plan</h2><ul>{items}</ul><p>Predicted zone {_fmt(results.get('predicted_zone_ml'), 1)} mL; "
            f"covers with ≥ 0 / 5 / 10 mm: {_fmt(covers.get('0'))} / {_fmt(covers.get('5'))} / "
            f"{_fmt(covers.get('10'))}.</p>"
        )
    note_html = f"<p>{escape(note)}.</p>" if note else ""
    return summary_page(title, f"""{note_html}<p>Smallest minimal margin over all tumours: <b>{_fmt(results.get('minimal_margin_mm'))} mm</b>
(positive inside the ablation zone, negative outside). Masks: tumour {escape(str(kinds.get('tumor')))},
zone {escape(str(kinds.get('ablation')))}, liver {escape(str(kinds.get('liver')))}.
Workstation {escape(str(results.get('workstation_version')))}.</p>
{reg_html}{plan_html}
<table><tr><th>tumour</th><th>volume mL</th><th>minimal margin mm</th><th>P5 / P50 / P95 mm</th>
<th>surface % &lt;0 / 0–5 / 5–10 / ≥10 mm</th><th>insufficient coverage mL at 0 / 5 / 10 mm</th>
<th>subcapsular excluded %</th></tr>
{''.join(rows)}
</table>
<h2>Warnings</h2><ul>{warnings or '<li>none</li>'}</ul>
<p>Margins are measured on surface meshes at sub-voxel accuracy; not for diagnostic use
without review of the masks.</p>
""", _STYLE)
