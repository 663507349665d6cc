"""The ``workstation`` command line (contract: ``shared/spec/CLI.md``).

Thin: parse, call the packages, print. One module per command group, each with its
own ``typer.Typer`` (:mod:`workstation.cli._main` assembles them); heavy imports
happen inside the commands so that ``workstation --help`` stays fast. Every
:class:`~workstation.core.errors.WorkstationError` becomes exit status 2 and one
sentence on stderr; any other exception is an internal error, exit status 1, with
a traceback only under ``--debug``.
"""

from workstation.cli._main import app, main

__all__ = ["app", "main"]
