"""Instances received from a node: staged, checked complete, then moved into place.

Received instances are written to a staging folder; only when the transfer is
complete (every expected instance received, no failed sub-operation, each one
of the requested study/series) are they moved into the output folder, one
sub-folder per series (``OUT/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``). A
half-received series therefore leaves nothing behind.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomError

__all__ = ["Received", "RetrieveResult"]

#: Characters allowed in a file name built from a UID (UIDs are digits and dots).
_UID_CHARS = set("0123456789.")


def _safe_uid(uid: str, what: str) -> str:
    text = str(uid).strip()
    if not text or not set(text) <= _UID_CHARS or len(text) > 64:
        raise DicomError(f"A received instance has an invalid {what} {uid!r}.")
    return text


@dataclass
class RetrieveResult:
    """What a retrieval wrote.

    Attributes
    ----------
    folder:
        The output folder.
    series:
        ``{SeriesInstanceUID: number of instances}``.
    files:
        Every written file.
    """

    folder: Path
    series: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of instances written."""
        return len(self.files)


class Received:
    """Collects instances into a staging folder (thread-safe: SCP handlers run in threads).

    Parameters
    ----------
    staging:
        Empty folder for the received files.
    study_uid, series_uid:
        What was asked for; an instance of another study or series is refused.
    """

    def __init__(self, staging: Path, study_uid: str | None, series_uid: str | None) -> None:
        self.staging = staging
        self.study_uid = study_uid
        self.series_uid = series_uid
        self.series: dict[str, int] = {}
        self.problems: list[str] = []
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Instances received so far."""
        with self._lock:
            return sum(self.series.values())

    def add(self, dataset: Any) -> None:
        """Write one received dataset (with its ``file_meta``); raise DicomError if it is not wanted."""
        study = str(getattr(dataset, "StudyInstanceUID", "") or "")
        series = str(getattr(dataset, "SeriesInstanceUID", "") or "")
        if self.study_uid and study != self.study_uid:
            raise DicomError(f"The node sent an instance of another study ({study or 'none'}).")
        if self.series_uid and series != self.series_uid:
            raise DicomError(f"The node sent an instance of another series ({series or 'none'}).")
        series = _safe_uid(series, "Series Instance UID")
        sop = _safe_uid(getattr(dataset, "SOPInstanceUID", ""), "SOP Instance UID")
        folder = self.staging / series
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{sop}.dcm"
        tmp = folder / f".{sop}.part"
        dataset.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, target)
        with self._lock:
            self.series[series] = self.series.get(series, 0) + 1

    def note(self, problem: str) -> None:
        """Record a failed sub-operation (reported when the transfer is checked)."""
        with self._lock:
            self.problems.append(problem)

    def files(self) -> list[Path]:
        """The staged files, sorted."""
        return sorted(p for p in self.staging.rglob("*.dcm"))
