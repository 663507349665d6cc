"""What makes a case's result what it is: input contents, options and the code version.

A case is skipped on a rerun when its fingerprint is unchanged: the SHA-256 of its
command line (input paths made absolute), the contents of every input file (every
file of an input folder, with its relative path) and the hash of the workstation's
own source code (so that a changed engine reruns the cohort even when the version
number did not move).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["case_fingerprint", "code_hash", "describe_inputs", "input_sha256", "input_uids"]

_CHUNK = 1 << 20


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def input_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, or of a folder's files (relative path and content, sorted)."""
    root = Path(path)
    h = hashlib.sha256()
    for f in _files(root):
        if root.is_dir():
            h.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


@functools.cache
def code_hash() -> str:
    """SHA-256 (first 16 hex digits) of the workstation package's source and data files."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".json", ".csv", ".yaml") and "__pycache__" not in f.parts:
            h.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def input_uids(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Study and series instance UIDs of the DICOM files of an input (empty lists for other formats)."""
    series: set[str] = set()
    studies: set[str] = set()
    for f in _files(Path(path)):
        try:
            with open(f, "rb") as fh:
                fh.seek(128)
                if fh.read(4) != b"DICM":
                    continue
        except OSError:
            continue
        import pydicom

        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True,
                                 specific_tags=["SeriesInstanceUID", "StudyInstanceUID"])
        except Exception:  # noqa: BLE001 - an unreadable file is the command's to report
            continue
        if "SeriesInstanceUID" in ds:
            series.add(str(ds.SeriesInstanceUID))
        if "StudyInstanceUID" in ds:
            studies.add(str(ds.StudyInstanceUID))
    return {"study_instance_uids": sorted(studies), "series_instance_uids": sorted(series)}


def case_fingerprint(command: str, args: list[str], sha256: dict[str, str], version: str) -> str:
    """SHA-256 of what determines a case's result (see the module docstring)."""
    payload = {"command": command, "args": args, "inputs": sha256, "code": code_hash(), "version": version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def describe_inputs(inputs: dict[str, list[str]]) -> dict[str, Any]:
    """``{value: {"sha256": …, "study_instance_uids": […], "series_instance_uids": […]}}`` of a case's inputs."""
    from workstation.cohort.manifest import _path_part

    out: dict[str, Any] = {}
    for values in inputs.values():
        for value in values:
            file = _path_part(value)
            if file in out:
                continue
            if file.startswith("pacs://"):
                # pacs://NODE/SERIES_UID: a series UID names one immutable series (PS3.3 C.7.3.1)
                out[file] = {"sha256": file, "study_instance_uids": [],
                             "series_instance_uids": [file.rstrip("/").rsplit("/", 1)[-1]]}
                continue
            out[file] = {"sha256": input_sha256(file), **input_uids(file)}
    return out
