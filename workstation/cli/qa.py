"""``workstation qa``: physics self-checks and NEMA phantom QA."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import STATE, progress, say

app = typer.Typer()


@app.command()
def qa(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("qa_output"),
    phantom: Annotated[str | None, typer.Option(help="Your own NEMA IEC phantom image (IMG).")] = None,
    sphere_concentration: Annotated[
        float | None, typer.Option(help="Stated sphere concentration, Bq/mL at the image reference time.")
    ] = None,
    background: Annotated[
        float | None, typer.Option(help="Stated background concentration, Bq/mL at the image reference time.")
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series of --phantom (UID or unique prefix).")] = None,
    units: Annotated[str | None, typer.Option("--units", help="Bq/mL or counts: what --phantom holds when the file does not say (no Units tag, NIfTI, NRRD). With Bq/mL the stated background is checked, with counts it calibrates the image.")] = None,
    no_physics: Annotated[bool, typer.Option("--no-physics", help="Skip the physics self-checks.")] = False,
) -> None:
    """Physics self-checks and NEMA IEC phantom QA: pass/fail table, qa.json and a report."""
    from workstation.io import ensure_not_input
    from workstation.qa.run import bundled_phantoms, parse_phantom_option, run_qa, write_qa

    phantoms = parse_phantom_option(phantom, sphere_concentration, background, series, units)
    ensure_not_input(output, *(p.path for p in (phantoms if phantoms is not None else bundled_phantoms())))
    with progress("QA") as tick:
        qa_dict, results = run_qa(phantoms, physics=not no_physics, progress=tick)
    write_qa(output, qa_dict, results)
    if not STATE.quiet:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title="QA")
        for col in ("group", "check", "value", "tolerance", "result"):
            table.add_column(col)
        for row in qa_dict["table"]:
            value = row["value"]
            table.add_row(str(row["group"]), str(row["check"]),
                          f"{value:.4g}" if isinstance(value, float) else str(value),
                          str(row["tolerance"]), "pass" if row["passed"] else "[red]FAIL[/red]")
        Console().print(table)
        for row in qa_dict["table"]:
            if row["passed"] is False and row.get("reason"):
                typer.echo(f"FAIL: {row['reason']}")
    say(f"QA {'passed' if qa_dict['passed'] else 'FAILED'}; wrote {output}/qa.json and {output}/report.html")
    if not qa_dict["passed"]:
        raise typer.Exit(code=3)
