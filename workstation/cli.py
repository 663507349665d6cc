"""The ``workstation`` command line (contract: ``shared/spec/CLI.md``).

Thin: parse, call the packages, print. Heavy imports happen inside the commands
so that ``workstation --help`` stays fast. Every :class:`WorkstationError`
becomes exit status 2 and one sentence on stderr; any other exception is an
internal error, exit status 1, with a traceback only under ``--debug``.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from workstation import __version__
from workstation.core.errors import WorkstationError

app = typer.Typer(
    name="workstation",
    help="SIRT (90Y) dosimetry and ablation-margin imaging workstation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_STATE: dict[str, bool] = {"debug": False, "quiet": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"workstation {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")] = False,
) -> None:
    """SIRT (90Y) dosimetry and ablation-margin imaging workstation."""
    _STATE["debug"] = debug
    _STATE["quiet"] = quiet


# ----------------------------------------------------------------- helpers
def is_quiet() -> bool:
    """True with ``--quiet`` or when stdout is not a terminal."""
    return _STATE["quiet"] or not sys.stdout.isatty()


def say(message: str) -> None:
    """Print a line of chatter unless ``--quiet``."""
    if not _STATE["quiet"]:
        typer.echo(message)


@contextlib.contextmanager
def progress(description: str) -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op object otherwise.

    Yields a callable ``advance(fraction: float, text: str | None = None)``.
    """
    if is_quiet():
        yield lambda fraction, text=None: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def advance(fraction: float, text: str | None = None) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=text or description)

        yield advance


# ---------------------------------------------------------------- commands
@app.command()
def convert(
    image: Annotated[str, typer.Argument(help="Input IMG: DICOM folder/file, NIfTI, NRRD or MHA.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .nii.gz, .nii, .nrrd or .mha.")],
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
) -> None:
    """Convert any readable volume to NIfTI/NRRD/MHA, keeping its geometry."""
    from workstation.io import ensure_not_input, read_image, write_image

    ensure_not_input(output, image)
    vol = read_image(image, series=series)
    write_image(vol, output)
    say(f"wrote {output} ({'x'.join(map(str, vol.shape[::-1]))} voxels, {vol.units.value})")


# Further commands are added below this line by each subpackage's work.


@app.command()
def mask(
    spec: Annotated[
        str,
        typer.Argument(help="MASK: IMG, FILE.seg.nrrd#Segment, SEG.dcm#Label or RTSTRUCT.dcm#ROI."),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Label image .nii.gz/.nrrd/.mha, or .dcm for a DICOM SEG."),
    ],
    image: Annotated[
        str | None,
        typer.Option(help="IMG whose grid the mask is put on (needed for RTSTRUCT and SEG output)."),
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series of --image (UID or prefix).")] = None,
) -> None:
    """Put a MASK on an image's grid and write it as a label image or a DICOM SEG."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, read_mask, write_image, write_seg

    ensure_not_input(output, spec, image)
    reference = read_image(image, series=series) if image else None
    labels = read_mask(spec, reference=reference)
    if output.name.lower().endswith(".dcm"):
        if reference is None:
            raise InvalidInputError(
                f"Writing the DICOM SEG {output} needs --image, the DICOM series it belongs to."
            )
        write_seg(labels, output, reference)
    else:
        write_image(labels, output)
    for warning in labels.metadata.warnings:
        typer.echo(f"warning: {warning}", err=True)
    names = ", ".join(f"{value}={name}" for value, name in sorted(labels.label_names.items()))
    say(f"wrote {output} ({int((labels.array != 0).sum())} voxels inside; labels {names})")


@app.command()
def margin(
    tumor: Annotated[str, typer.Option("--tumor", help="Tumour MASK (binary, label image or fractional 0..1).")],
    ablation: Annotated[str, typer.Option("--ablation", help="Ablation-zone MASK (on the post-ablation CT).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    liver: Annotated[str | None, typer.Option("--liver", help="Liver MASK: subcapsular points are excluded from the minimum.")] = None,
    pre_ct: Annotated[str | None, typer.Option("--pre-ct", help="Pre-ablation CT (IMG) on which --tumor was drawn.")] = None,
    post_ct: Annotated[str | None, typer.Option("--post-ct", help="Post-ablation CT (IMG) of --ablation and --liver.")] = None,
    pre_series: Annotated[str | None, typer.Option("--pre-series", help="Series UID (prefix) in --pre-ct.")] = None,
    post_series: Annotated[str | None, typer.Option("--post-series", help="Series UID (prefix) in --post-ct.")] = None,
    subcapsular_mm: Annotated[float, typer.Option("--subcapsular-mm", help="Exclude tumour-surface points this close (mm) to the liver capsule from the minimum.")] = 5.0,
) -> None:
    """Sub-voxel ablation margins per tumour; with both CTs the tumour is registered to the post-CT first."""
    from workstation.ablation.workflow import run_margin

    with progress("margins") as advance:
        results = run_margin(
            tumor, ablation, output, liver_spec=liver, pre_ct=pre_ct, post_ct=post_ct,
            pre_series=pre_series, post_series=post_series, subcapsular_mm=subcapsular_mm,
            progress=advance,
        )
    for t in results["tumors"]:
        say(f"tumour {t['label']}: minimal margin {t['minimal_margin_mm']} mm, "
            f"{100 * t['surface_fraction']['below_0mm']:.1f} % of its surface uncovered")
    say(f"wrote {output}/results.json, margin_map.nii.gz, report.html")


@app.command("plan-ablation")
def plan_ablation(
    tumor: Annotated[str, typer.Option("--tumor", help="Tumour MASK.")],
    device_table: Annotated[Path, typer.Option("--device-table", help="CSV: power_w,time_s,length_mm,diameter_mm[,tip_to_centre_mm].")],
    applicator: Annotated[list[str], typer.Option("--applicator", help="X,Y,Z,DX,DY,DZ,POWER_W,TIME_S: tip (LPS mm), shaft direction towards the tip, setting; repeat for several.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    liver: Annotated[str | None, typer.Option("--liver", help="Liver MASK for the subcapsular exclusion.")] = None,
    subcapsular_mm: Annotated[float, typer.Option("--subcapsular-mm", help="Subcapsular distance (mm).")] = 5.0,
) -> None:
    """Predict the ellipsoidal zone of planned applicators (union) and its margins around the tumour."""
    from workstation.ablation.workflow import run_plan

    with progress("plan") as advance:
        results = run_plan(tumor, device_table, applicator, output, liver_spec=liver,
                           subcapsular_mm=subcapsular_mm, progress=advance)
    covers = results["plan_covers_margin_mm"]
    say(f"minimal margin {results['minimal_margin_mm']} mm; covers with 5 mm: "
        f"{'yes' if covers['5'] else 'no'}, with 10 mm: {'yes' if covers['10'] else 'no'}")
    say(f"wrote {output}/results.json, predicted_zone.nii.gz, margin_map.nii.gz, report.html")


@app.command()
def view(
    images: Annotated[list[str] | None, typer.Argument(help="IMGs to show (CT, SPECT, PET…).")] = None,
    dose: Annotated[str | None, typer.Option(help="Absorbed-dose IMG (Gy), shown as a colour wash.")] = None,
    labels: Annotated[list[str] | None, typer.Option("--labels", help="MASK to outline (repeatable).")] = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="Render to this PNG without a window and exit.")
    ] = None,
    isodose: Annotated[
        list[float] | None, typer.Option(help="Isodose line level in Gy (repeatable).")
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
) -> None:
    """Open the napari viewer with overlays; --screenshot renders a PNG and exits."""
    from workstation.io import ensure_not_input
    from workstation.viewer._cli import open_window, read_view_inputs

    inputs = [*(images or []), dose, *(labels or [])]
    if screenshot is not None:
        ensure_not_input(screenshot, *inputs)
    vols, dose_vol, masks = read_view_inputs(images or [], dose=dose, labels=labels or [], series=series)
    if screenshot is None:
        open_window(vols, dose_vol, masks, isodose_levels_gy=isodose)
        return
    from workstation.viewer import screenshot as render

    render(screenshot, vols, dose=dose_vol, labels=masks, isodose_levels_gy=isodose)
    say(f"wrote {screenshot}")


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="A DICOM folder or file, or a NIfTI/NRRD/MHA file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List every series/volume with modality, description, size, spacing, origin, direction, units."""
    from workstation.io.info import describe_path, print_table

    with progress("indexing") as advance:
        entries, skipped = describe_path(path, progress=advance)
    if json_output:
        import json

        typer.echo(json.dumps(entries, indent=2))
    else:
        print_table(path, entries, skipped)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors to exit codes.

    Usage errors are reported by typer itself (exit 2); domain errors here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="workstation", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except WorkstationError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place internal errors are reported
        if debug:
            traceback.print_exc()
        else:
            typer.echo(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
                err=True,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
