"""``workstation sample-data``: the bundled sample studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


@app.command("sample-data")
def sample_data(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("sample_data"),
    case: Annotated[
        list[str] | None,
        typer.Option("--case", help="sirt, maa, ablation, nema, sbrt or hdr (repeatable); all by default."),
    ] = None,
    previews: Annotated[bool, typer.Option(help="Also write PNG previews in OUTPUT/previews/.")] = False,
) -> None:
    """Write the sample studies (DICOM) with their ground truth (masks, activity, LDM dose, truth.json)."""
    from workstation.samples import generate

    with progress("generating sample studies") as advance:
        truths = generate(output, cases=case, previews=previews, progress=advance)
    for name in truths:
        say(f"wrote {output / name} (ground truth in {output / name / 'ground_truth'})")

