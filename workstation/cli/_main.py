"""The root of the ``workstation`` command line: global options, the command groups, exit codes.

Each command group is a module of this package with its own ``typer.Typer``; this
module only assembles them. Adding a command group means adding its module and one
line to :data:`_GROUPS` (a group with a name becomes a sub-command, e.g. ``pacs echo``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from workstation import __version__
from workstation.cli import (
    ablation,
    cohort,
    deidentify,
    demo,
    dosimetry,
    images,
    pacs,
    qa,
    radiotherapy,
    registration,
    samples,
    segmentation,
    tace,
    viewer,
)
from workstation.cli._common import (
    STATE,
    Command,
    register_entry_point,
    require_finite_numbers,
    run_command,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="workstation",
    help="SIRT (90Y) dosimetry and ablation-margin imaging workstation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: (module's Typer app, sub-command name or None to add its commands at the top level)
_GROUPS: list[tuple[typer.Typer, str | None]] = [
    (images.app, None),
    (samples.app, None),
    (segmentation.app, None),
    (registration.app, None),
    (dosimetry.app, None),
    (ablation.app, None),
    (radiotherapy.app, None),
    (tace.app, None),
    (viewer.app, None),
    (qa.app, None),
    (cohort.app, "cohort"),
    (demo.app, None),
    (pacs.app, "pacs"),
    (deidentify.app, None),
]
for _group, _name in _GROUPS:
    app.add_typer(_group, name=_name)


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
    STATE.debug = debug
    STATE.quiet = quiet


@functools.cache
def _command() -> Command:
    """The click command of the app, built once per process (typer builds it anew each call)."""
    return require_finite_numbers(typer.main.get_command(app))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the command line and return its exit status (see ``run_command``)."""
    return run_command(_command(), sys.argv[1:] if argv is None else argv)


register_entry_point(main)
