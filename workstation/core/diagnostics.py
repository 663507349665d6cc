"""Warnings of the libraries we call, turned into our own sentences naming the file.

pydicom, highdicom, numpy and friends report doubtful input with Python
warnings (``UserWarning: Invalid value for VR UI …``), printed raw with a
source line by default. Here they are caught instead:

* :func:`capture_warnings` (used around a whole read, and by the command line
  around a whole command) installs a handler for the calling block; every
  warning raised meanwhile, in any thread, is caught and none is printed;
* :func:`warning_source` (used around the handling of one file, also inside
  worker threads) attributes the warnings raised by the current thread to that
  file and hands them to the caller, who puts them into
  ``Volume.metadata.warnings``;
* warnings raised outside any :func:`warning_source` land in the collector of
  the innermost :func:`capture_warnings`, whose :meth:`WarningLog.sentences`
  gives each distinct one once.

Sentences read ``"FILE: pydicom: Invalid value for VR UI: '1.2.abc'."``; the
same message from many files is said once, with the number of files
(:func:`summarize`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "WarningLog", "capture_native_stderr", "capture_warnings", "library_of", "summarize", "warning_source",
]

_local = threading.local()
_lock = threading.Lock()
#: Active collectors, innermost last (entered and left by one thread at a time).
_collectors: list[WarningLog] = []

#: Libraries named in the sentences, found in the warning's source file path.
_LIBRARIES = ("pydicom", "highdicom", "SimpleITK", "numpy", "scipy", "skimage", "nibabel", "pylibjpeg")


@dataclass(eq=False)  # identity: nested logs are told apart by ``is``
class WarningLog:
    """Library warnings caught by :func:`capture_warnings` outside any :func:`warning_source`."""

    messages: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        with _lock:
            self.messages.append(text)

    def sentences(self) -> list[str]:
        """Each distinct warning once (see :func:`summarize`)."""
        with _lock:
            return summarize(self.messages)


def library_of(filename: str) -> str:
    """The library a warning comes from, from the path of the code that raised it."""
    parts = Path(str(filename)).parts
    for name in _LIBRARIES:
        if name in parts:
            return name
    if "workstation" in parts:
        return "workstation"
    return "python"


def _first_sentence(message: Any) -> str:
    text = str(message).strip()
    text = text.splitlines()[0] if text else type(message).__name__
    # pydicom appends "Please see <URL> for allowed values for each VR."; highdicom
    # explains at length: the first sentence says what is wrong.
    text = re.sub(r"\s*Please see <[^>]*>.*$", "", text)
    text = re.split(r"(?<=[a-z0-9)'\"])\. (?=[A-Z])", text, maxsplit=1)[0]
    return text.rstrip(" .") + "."


def _handler(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = f"{library_of(filename)}: {_first_sentence(message)}"
    sources: list[tuple[str, list[str]]] = getattr(_local, "sources", [])
    if sources:
        name, caught = sources[-1]
        caught.append(f"{name}: {text}")
        return
    with _lock:
        target = _collectors[-1] if _collectors else None
    if target is not None:
        target.add(text)


@contextlib.contextmanager
def capture_warnings() -> Iterator[WarningLog]:
    """Catch every Python warning raised in the block (in any thread); print none.

    Warnings raised inside a :func:`warning_source` go to that source's list;
    the others are collected in the yielded :class:`WarningLog`.
    """
    log = WarningLog()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _handler  # restored when catch_warnings exits
        with _lock:
            _collectors.append(log)
        try:
            yield log
        finally:
            with _lock:
                _collectors.remove(log)


@contextlib.contextmanager
def warning_source(name: str | Path) -> Iterator[list[str]]:
    """Attribute the warnings the current thread raises in the block to ``name``.

    Yields the list that receives them as sentences (``"name: library: …"``).
    Thread-local: safe inside worker threads. The warnings are caught only
    while a :func:`capture_warnings` is active somewhere in the process; with
    none active (and on the main thread) one is opened for the block.
    """
    caught: list[str] = []
    stack = getattr(_local, "sources", None)
    if stack is None:
        stack = _local.sources = []
    stack.append((str(name), caught))
    try:
        with _lock:
            active = bool(_collectors)
        if not active and threading.current_thread() is threading.main_thread():
            with capture_warnings():
                yield caught
        else:
            yield caught
    finally:
        stack.pop()


def summarize(messages: list[str], limit: int = 200) -> list[str]:
    """Each distinct message once, in first-seen order; many alike are said once with a count.

    Messages that differ only in quoted values and in the file they name
    (``"a.dcm: pydicom: Invalid value for VR UI: '1.2.x'."`` for 90 slices)
    become one sentence naming the first file and how many others.
    """
    groups: dict[str, list[str]] = {}
    for text in messages:
        key = re.sub(r"'[^']*'", "'…'", text.split(": ", 1)[1] if ": " in text else text)
        groups.setdefault(key, [])
        if text not in groups[key]:
            groups[key].append(text)
    out = []
    for members in groups.values():
        first = members[0]
        if len(members) == 1:
            out.append(first)
        else:
            out.append(f"{first} (also in {len(members) - 1} other file(s) or value(s))")
    return out[:limit]


@contextlib.contextmanager
def capture_native_stderr(source: str | Path, library: str = "SimpleITK") -> Iterator[list[str]]:
    """Catch what compiled code (ITK) writes to the process's stderr during the block.

    ITK reports doubtful input ("NiftiImageIO (0x…): FILE has unexpected scales
    in sform") straight to file descriptor 2, past Python's warnings. The
    descriptor is pointed at a temporary file for the block (main thread only:
    it is process-wide) and what was written becomes sentences
    ``"source: SimpleITK: …"`` in the yielded list.
    """
    import os
    import sys
    import tempfile

    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield caught
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
        caught.extend(
            f"{source}: {library}: {line.replace(str(source), 'the file')}" for line in _native_sentences(text)
        )


def _native_sentences(text: str) -> list[str]:
    """ITK's warning blocks as one sentence each (the object address and source line dropped)."""
    out: list[str] = []
    if "vnl_svd" in text:
        out.append("the orientation matrix is singular or not finite (its SVD failed).")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("WARNING: In", "ERROR: In")) or "vnl_svd" in line:
            continue
        if re.fullmatch(r"[-+0-9.eEnaif\s\[\]M=]*", line):  # matrix dumps
            continue
        line = re.sub(r"^\w+ \(0x[0-9a-f]+\):\s*", "", line)
        line = re.sub(r"^\S+: ", "", line) if line.startswith("/") else line
        sentence = line.rstrip(" .") + "."
        if sentence not in out:
            out.append(sentence)
    return out
