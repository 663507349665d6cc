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
