"""``workstation view``: the napari viewer, or a screenshot of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import say

app = typer.Typer()


@app.command()
def view(
    images: Annotated[list[str] | None, typer.Argument(help="IMGs to show (CT, SPECT, PET…).")] = None,
    dose: Annotated[str | None, typer.Option(help="Absorbed-dose IMG (Gy), shown as a colour wash.")] = None,
    labels: Annotated[list[str] | None, typer.Option("--labels", help="MASK or NAME=MASK to outline (repeatable); the layer is named NAME, else after the segment or the file.")] = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="Render to this PNG without a window and exit.")
    ] = None,
    isodose: Annotated[
        list[float] | None, typer.Option(help="Isodose line level in Gy (repeatable).")
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
    window: Annotated[
        str, typer.Option(help="CT window preset: 'soft tissue', liver, lung or bone.")
    ] = "soft tissue",
    dose_threshold: Annotated[
        float | None, typer.Option(help="Dose (Gy) below which the wash is transparent [5 % of max].")
    ] = None,
    results: Annotated[
        list[Path] | None,
        typer.Option("--results", help="Output folder of rt-dose, combine, tace, lesions, sirt or margin "
                     "(repeatable): its doses/overlays, and its table in the dock widget; without IMG "
                     "its CT is opened too."),
    ] = None,
) -> None:
    """Open the napari viewer with overlays; --screenshot renders a PNG and exits."""
    from workstation.io import ensure_not_input
    from workstation.viewer._cli import (
        open_window,
        read_result_folders,
        read_view_inputs,
        split_labels_spec,
    )

    inputs = [*(images or []), dose, *(split_labels_spec(item)[1] for item in labels or [])]
    if screenshot is not None:
        ensure_not_input(screenshot, *inputs, *(results or []))
    therapy, result_cts = read_result_folders(results or [])
    vols, dose_vol, masks = read_view_inputs(images or result_cts, dose=dose, labels=labels or [], series=series)
    if screenshot is None:
        open_window(vols, dose_vol, masks, isodose_levels_gy=isodose, window=window,
                    dose_threshold_gy=dose_threshold, results=therapy)
        return
    from workstation.viewer import screenshot as render

    render(screenshot, vols, dose=dose_vol, labels=masks, isodose_levels_gy=isodose, window=window,
           dose_threshold_gy=dose_threshold, results=therapy)
    for res in therapy:
        for note in res.notes:
            say(f"note: {note}")
    say(f"wrote {screenshot}")

