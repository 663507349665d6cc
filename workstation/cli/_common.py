"""What every command module of the CLI shares: chatter, progress bars, option parsing.

The command modules import only this module (never each other, never
:mod:`workstation.cli._main`), so a command group is one module that can be added
or removed without touching the others.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import typer

from workstation.core.diagnostics import capture_warnings
from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.core.progress import Progress, no_progress

__all__ = [
    "Progress", "STATE", "entry_point", "is_quiet", "parse_named_specs", "progress", "register_entry_point",
    "require_finite_numbers", "run_command", "say", "warn",
]



@dataclass
class _State:
    """The root options of one invocation (``--debug``, ``--quiet``)."""

    debug: bool = False
    quiet: bool = False


#: The options of the invocation being run; :func:`workstation.cli.main` saves and
#: restores it, so a command may run another (the demo does) without side effects.
STATE = _State()


_ENTRY_POINT: list[Callable[[Sequence[str]], int]] = []


def register_entry_point(main: Callable[[Sequence[str]], int]) -> None:
    """Record the whole command line as a function ``argv -> exit status`` (done by ``_main``)."""
    _ENTRY_POINT[:] = [main]


def entry_point() -> Callable[[Sequence[str]], int]:
    """The whole command line as a function ``argv -> exit status``.

    For commands that run other commands in other processes (``cohort run`` hands it
    to its Dask workers): it is a module-level function, so it pickles by reference
    and each worker imports the command line itself.
    """
    if not _ENTRY_POINT:  # pragma: no cover - registered when the package is imported
        raise RuntimeError("the command line's entry point is not registered")
    return _ENTRY_POINT[0]


def is_quiet() -> bool:
    """True with ``--quiet`` or when stdout is not a terminal."""
    return STATE.quiet or not sys.stdout.isatty()


def say(message: str) -> None:
    """Print a line of chatter unless ``--quiet``."""
    if not STATE.quiet:
        typer.echo(message)


@contextlib.contextmanager
def progress(description: str) -> Iterator[Progress]:
    """A rich progress bar on a terminal; a no-op otherwise.

    Yields ``advance(fraction, text=None)``, a :class:`~workstation.core.progress.Progress`
    that every package takes as it is.
    """
    if is_quiet():
        yield no_progress
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def advance(fraction: float, text: str | None = None) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=text or description)

        yield advance


def parse_named_specs(items: Sequence[str] | None, option: str = "--roi") -> dict[str, str]:
    """``NAME=SPEC`` options (``--roi liver=liver.nii.gz``) as an ordered ``{name: spec}``.

    Raises
    ------
    InvalidInputError
        When an item has no ``=``, an empty name or spec, or repeats a name.
    """
    specs: dict[str, str] = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not spec.strip() or not name or name in specs:
            raise InvalidInputError(
                f"{option} {item!r} must be NAME=MASK, with a non-empty NAME used only once."
            )
        specs[name] = spec
    return specs


class Command(Protocol):
    """What the CLI uses of a click command: its callback and ``main``.

    typer builds its commands with its own copy of click (``typer._click`` since
    typer 0.2x), not the ``click`` package, so the type is described by what is used.
    """

    callback: Callable[..., Any] | None

    def main(self, *args: Any, **kwargs: Any) -> Any: ...


def require_finite_numbers(command: Command) -> Command:
    """Make every command under ``command`` refuse NaN and infinite numbers in its options.

    typer parses ``float`` options as Python floats, which accepts ``nan``,
    ``inf`` and ``1e309``; a physical quantity or a point in patient
    coordinates is never one of them. Each command's callback is wrapped once,
    at the root, so every command and every future one gets the check: a
    non-finite number (alone, or in a tuple or list) is an
    :class:`~workstation.core.errors.InvalidInputError` naming the option.
    """
    seen: set[int] = set()

    def visit(cmd: Command) -> None:
        if id(cmd) in seen:
            return
        seen.add(id(cmd))
        callback = cmd.callback
        if callback is not None and not getattr(callback, "finite_numbers", False):
            cmd.callback = _finite_numbers(callback)
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(command)
    return command


def _finite_numbers(callback: Callable[..., object]) -> Callable[..., object]:
    @functools.wraps(callback)
    def checked(*args: object, **kwargs: object) -> object:
        for name, value in kwargs.items():
            values = value if isinstance(value, list | tuple) else [value]
            bad = [v for v in values if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                option = "--" + name.replace("_", "-")
                raise InvalidInputError(
                    f"{option} is {' '.join(str(v) for v in values)}: {bad[0]} is not a finite number."
                )
        return callback(*args, **kwargs)

    checked.finite_numbers = True  # type: ignore[attr-defined]
    return checked


def run_command(command: Command, argv: Sequence[str]) -> int:
    """Run the command line *argv* on *command* and map the outcome to an exit status.

    0 success; 2 bad input (a :class:`WorkstationError`: one sentence on stderr) or
    usage error (reported by click); 1 internal error (a traceback only with
    ``--debug``); 130 interrupted. The root options of the caller (``STATE``) are
    restored afterwards, so a command may run others in-process.
    """
    saved_shown = set(_SHOWN)
    _SHOWN.clear()
    try:
        with capture_warnings() as caught:
            code = _run(command, argv)
        # Library warnings that no reader attributed to a file: said once, never raw.
        warn(caught.sentences())
        return code
    finally:
        _SHOWN.clear()
        _SHOWN.update(saved_shown)


#: Warnings printed by the invocation being run (each is said once).
_SHOWN: set[str] = set()


def warn(messages: Iterable[str]) -> None:
    """Print warnings on stderr as ``warning: …``, each once per invocation.

    Commands pass the ``metadata.warnings`` of what they read; library warnings
    caught by :func:`run_command` (pydicom, highdicom, numpy …) go through here too.
    """
    for message in messages:
        if message not in _SHOWN:
            _SHOWN.add(message)
            typer.echo(f"warning: {message}", err=True)


def _run(command: Command, argv: Sequence[str]) -> int:
    args = list(argv)
    debug = "--debug" in args
    saved = replace(STATE)
    try:
        command.main(args=args, prog_name="workstation", standalone_mode=True)
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
    finally:
        STATE.debug, STATE.quiet = saved.debug, saved.quiet
    return 0
