"""``workstation demo``: the whole workflow on the sample studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import STATE, entry_point, say

app = typer.Typer()


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("demo_output"),
    no_viewer: Annotated[bool, typer.Option("--no-viewer", help="Do not open the viewer at the end.")] = False,
) -> None:
    """The whole SIRT and ablation workflow on the bundled sample studies, with every output."""
    from workstation.demo import run_demo
    from workstation.io import ensure_not_input
    from workstation.samples import sample_data_dir

    ensure_not_input(output, sample_data_dir())
    summary = run_demo(output, viewer=not no_viewer, echo=say, run_command=entry_point())
    if not STATE.quiet:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=f"workstation demo: {summary['seconds']:.0f} s, outputs in {output}")
        for col in ("step", "s", "outputs", "result"):
            table.add_column(col, overflow="fold")
        for st in summary["steps"]:
            table.add_row(st["name"], f"{st['seconds']:.1f}", "\n".join(st["outputs"]),
                          "\n".join(st["notes"]))
        Console(width=max(120, Console().width)).print(table)
    say(f"summary: {output / 'demo_summary.json'}; reports: {output}/sirt_spect/report.html, "
        f"{output}/margins/report.html, {output}/qa/report.html")

