"""``workstation anonymize``: PS3.15 basic-profile de-identification, consistent per study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import say

app = typer.Typer()


@app.command()
def anonymize(
    inputs: Annotated[list[Path], typer.Argument(help="DICOM files or folders (a whole study: CT, SPECT, RTDOSE, SEG...).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (one sub-folder per new series).")],
    key: Annotated[
        str | None,
        typer.Option("--key", help="Secret for the UID mapping, pseudonym and date shift; the same key gives the same result (default: random)."),
    ] = None,
    date_shift_days: Annotated[
        int | None, typer.Option("--date-shift-days", help="Days subtracted from every date (default: derived from the key, 365-3650).")
    ] = None,
    patient_id: Annotated[str | None, typer.Option("--patient-id", help="Pseudonymous Patient ID (default ANON-<hash>).")] = None,
    patient_name: Annotated[str | None, typer.Option("--patient-name", help="Pseudonymous patient name (default: the Patient ID).")] = None,
    keep_patient_characteristics: Annotated[
        bool, typer.Option("--keep-patient-characteristics", help="Keep sex, age, size and weight (PS3.15 option).")
    ] = False,
) -> None:
    """De-identify DICOM after the PS3.15 Basic Application Level Confidentiality Profile.

    UIDs are remapped consistently (a SPECT and its CT keep their shared frame of
    reference), dates shifted by whole days, private attributes and the Original
    Attributes Sequence removed. Encapsulated PDF and SR documents are not written.
    """
    from workstation.pacs.deidentify import Deidentifier
    from workstation.pacs.deidentify import anonymize as run_anonymize

    options: dict[str, object] = {
        "date_shift_days": date_shift_days,
        "patient_id": patient_id,
        "patient_name": patient_name,
        "keep_patient_characteristics": keep_patient_characteristics,
    }
    if key:
        options["key"] = key
    result = run_anonymize(list(inputs), output, Deidentifier(**options))  # type: ignore[arg-type]
    for path, reason in result.skipped:
        typer.echo(f"warning: not written: {path} ({reason})", err=True)
    series = {p.parent.name for p in result.files}
    say(f"wrote {len(result.files)} de-identified files of {len(series)} series to {output} "
        f"(dates moved back {result.date_shift_days} days)")
