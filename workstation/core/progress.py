"""The one progress-callback signature of the project.

Every long-running function takes ``progress: Progress | None`` (or a
:class:`Progress` defaulting to :func:`no_progress`) and calls
``progress(fraction)`` or ``progress(fraction, text)``: the fraction done
(0…1) and, optionally, a short description of the step under way. The command
line hands in the advance function of its progress bar; the viewer its status
bar. The parameters are positional-only, so any function ``f(fraction, text=None)``
or lambda of that shape qualifies whatever its parameter names.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "no_progress", "scaled"]


class Progress(Protocol):
    """``progress(fraction, text=None)``: fraction done (0…1) and what is being done."""

    def __call__(self, fraction: float, text: str | None = None, /) -> None: ...


def no_progress(fraction: float, text: str | None = None, /) -> None:
    """A :class:`Progress` that reports nothing."""


def scaled(progress: Progress | None, start: float, stop: float) -> Progress | None:
    """``progress`` mapped onto the part ``start``…``stop`` of a larger task (``None`` stays ``None``)."""
    if progress is None:
        return None
    outer = progress
    span = stop - start

    def inner(fraction: float, text: str | None = None, /) -> None:
        outer(start + span * fraction, text)

    return inner
