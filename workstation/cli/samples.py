"""``workstation sample-data``: the bundled sample studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


@app.command("sample-data")
def sample_data(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output folder (default sample_data, or sample_cohort with --cohort).")] = None,
    case: Annotated[
        list[str] | None,
        typer.Option("--case", help="sirt, maa, ablation, nema, sbrt or hdr (repeatable); all by default."),
    ] = None,
    previews: Annotated[bool, typer.Option(help="Also write PNG previews in OUTPUT/previews/.")] = False,
    cohort: Annotated[int | None, typer.Option("--cohort", min=1, max=99, help="Instead: a synthetic cohort of N patients (SIRT + ablation each) with known outcome models and its manifest.csv.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="With --cohort: the seed of every random draw.")] = 2026,
) -> None:
    """Write the sample studies (DICOM) with their ground truth (masks, activity, LDM dose, truth.json)."""
    from workstation.samples import generate

    if cohort is not None:
        from workstation.core.errors import InvalidInputError
        from workstation.samples import generate_cohort

        if case or previews:
            raise InvalidInputError("--cohort writes a cohort only: give it without --case and --previews.")
        folder = output or Path("sample_cohort")
        with progress("generating a cohort") as advance:
            truth = generate_cohort(folder, cohort, seed=seed, progress=advance)
        dr = truth["dose_response"]
        say(f"wrote {cohort} patients ({2 * cohort} treatments) to {folder}: manifest {folder / 'manifest.csv'}, "
            f"truth {folder / 'truth.json'} (D50 {dr['d50_gy']:g} Gy, slope {dr['slope_per_gy']:g}/Gy)")
        say(f"next: workstation cohort run {folder / 'manifest.csv'} -o {folder / 'results'}")
        return
    output = output or Path("sample_data")

    with progress("generating sample studies") as advance:
        truths = generate(output, cases=case, previews=previews, progress=advance)
    for name in truths:
        say(f"wrote {output / name} (ground truth in {output / name / 'ground_truth'})")

