"""One API over DIMSE and DICOMweb: echo, find, retrieve, send.

The node decides the protocol: a DIMSE peer (``AET@HOST:PORT``) uses
pynetdicom (C-ECHO, C-FIND, C-GET or C-MOVE, C-STORE), a DICOMweb URL uses
dicomweb-client (QIDO-RS, WADO-RS, STOW-RS). Results of :func:`find` have the
same keys whatever the protocol. :func:`retrieve` writes
``OUT/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` only when every expected
instance arrived (the counts come from the query); a half-received study or
series leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from workstation.core.errors import DicomError, InvalidInputError
from workstation.pacs._dimse import (
    dimse_echo,
    dimse_find,
    dimse_get,
    dimse_move,
    dimse_store,
)
from workstation.pacs._received import Received, RetrieveResult
from workstation.pacs._web import web_echo, web_find, web_retrieve, web_store
from workstation.pacs.nodes import LocalAE, Node

__all__ = ["DEFAULT_TIMEOUT_S", "RetrieveResult", "echo", "find", "retrieve", "send", "dicom_files"]

#: Connection, association and per-message timeout (s): long enough for a busy
#: PACS, short enough that an unreachable node is reported within a minute.
DEFAULT_TIMEOUT_S = 30.0
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE_RE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")


def check_uid(uid: str, option: str) -> str:
    """A syntactically valid UID (digits and dots, at most 64 characters), else InvalidInputError."""
    text = uid.strip()
    if not _UID_RE.match(text) or len(text) > 64:
        raise InvalidInputError(f"{option} {uid!r} is not a DICOM UID (digits separated by dots).")
    return text


def _dicom_date(value: str) -> str:
    """``YYYYMMDD`` (or ``YYYY-MM-DD``), or a range ``A-B``, ``A-``, ``-B`` of ``YYYYMMDD``; checked."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text = text.replace("-", "")
    match = _DATE_RE.match(text)
    if not match or not (match[1] or match[3]) or (match[1] and match[3] and not match[2]):
        raise InvalidInputError(
            f"--date {value!r} is not a date (YYYYMMDD or YYYY-MM-DD) or a range (YYYYMMDD-YYYYMMDD)."
        )
    for part in (match[1], match[3]):
        if part:
            try:
                _dt.date(int(part[:4]), int(part[4:6]), int(part[6:]))
            except ValueError:
                raise InvalidInputError(f"--date {value!r}: {part} is not a calendar date.") from None
    return text


def echo(node: Node, local: LocalAE | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> float:
    """Check that the node answers: C-ECHO, or a one-result QIDO-RS query for DICOMweb.

    Returns
    -------
    float
        Round-trip time in milliseconds (DIMSE), or 0.0 (DICOMweb).
    """
    if node.is_dicomweb:
        web_echo(node, timeout_s)
        return 0.0
    return dimse_echo(node, local or LocalAE(), timeout_s)


def find(
    node: Node,
    level: str = "study",
    local: LocalAE | None = None,
    patient_id: str | None = None,
    patient_name: str | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    modality: str | None = None,
    date: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, str]]:
    """Query studies or series (C-FIND Study Root or QIDO-RS).

    Parameters
    ----------
    level:
        ``"study"`` or ``"series"``.
    patient_id, patient_name:
        Matching values; ``*`` and ``?`` are wildcards.
    study_uid, series_uid:
        UIDs (``series_uid`` at series level only).
    modality:
        ``ModalitiesInStudy`` at study level, ``Modality`` at series level.
    date:
        Study date ``YYYYMMDD`` (or ``YYYY-MM-DD``) or a range ``A-B``.

    Returns
    -------
    list of dict
        One row per match with the keys of :data:`workstation.pacs._dimse.RETURN_KEYS`.
    """
    lvl = level.strip().upper()
    if lvl not in ("STUDY", "SERIES"):
        raise InvalidInputError(f"The query level {level!r} must be study or series.")
    filters: dict[str, str] = {}
    if patient_id:
        filters["PatientID"] = patient_id
    if patient_name:
        filters["PatientName"] = patient_name
    if study_uid:
        filters["StudyInstanceUID"] = check_uid(study_uid, "--study-uid")
    if series_uid:
        if lvl != "SERIES":
            raise InvalidInputError("--series-uid is a series-level key; query at series level.")
        filters["SeriesInstanceUID"] = check_uid(series_uid, "--series-uid")
    if modality:
        filters["ModalitiesInStudy" if lvl == "STUDY" else "Modality"] = modality.strip().upper()
    if date:
        filters["StudyDate"] = _dicom_date(date)
    if node.is_dicomweb:
        return web_find(node, lvl, filters, timeout_s)
    return dimse_find(node, local or LocalAE(), lvl, filters, timeout_s)


def _expected_counts(rows: list[dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        text = row.get("NumberOfSeriesRelatedInstances", "")
        if text.strip().isdigit():
            counts[row["SeriesInstanceUID"]] = int(text)
    return counts


def retrieve(
    node: Node,
    output: str | os.PathLike[str],
    study_uid: str | None = None,
    series_uid: str | None = None,
    local: LocalAE | None = None,
    method: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    bind_address: str = "",
) -> RetrieveResult:
    """Retrieve a study or a series into ``output`` (all or nothing).

    Parameters
    ----------
    study_uid, series_uid:
        At least one. A series alone is looked up first to find its study.
    method:
        ``"get"`` or ``"move"`` for DIMSE (default: the node's ``retrieve``);
        ignored for DICOMweb (WADO-RS).
    bind_address:
        Address our C-MOVE storage SCP listens on (``""``: every interface).

    Raises
    ------
    DicomError
        Nothing matches, the node fails, or fewer instances arrive than the
        query announced (nothing is written then).
    """
    from workstation.io import atomic_directory

    if not study_uid and not series_uid:
        raise InvalidInputError("Give --study-uid or --series-uid to retrieve.")
    study = check_uid(study_uid, "--study-uid") if study_uid else None
    series = check_uid(series_uid, "--series-uid") if series_uid else None
    local = local or LocalAE()
    how = (method or node.retrieve).lower()
    if how not in ("get", "move"):
        raise InvalidInputError(f"The retrieve method {method!r} must be get or move.")
    rows = find(node, "series", local=local, study_uid=study, series_uid=series, timeout_s=timeout_s)
    what = f"series {series}" if series else f"study {study}"
    if not rows:
        raise DicomError(f"The node {node.name} has no {what}.")
    studies = {r["StudyInstanceUID"] for r in rows if r.get("StudyInstanceUID")}
    if study is None:
        if len(studies) != 1:
            raise DicomError(f"The node {node.name} gives {len(studies)} studies for {what}; expected one.")
        study = next(iter(studies))
    expected = _expected_counts(rows)
    out = Path(output)
    with atomic_directory(out) as staging:
        received = Received(staging, study, series)
        if node.is_dicomweb:
            web_retrieve(node, received, study, [r["SeriesInstanceUID"] for r in rows], expected, what, timeout_s)
        elif how == "get":
            dimse_get(node, local, received, study, series, what, timeout_s)
        else:
            dimse_move(node, local, received, study, series, what, timeout_s, bind_address=bind_address)
        missing = {
            uid: (received.series.get(uid, 0), want)
            for uid, want in expected.items()
            if received.series.get(uid, 0) != want
        }
        if missing:
            uid, (got, want) = next(iter(missing.items()))
            raise DicomError(
                f"The retrieval of {what} from {node.name} was incomplete: series {uid} gave {got} "
                f"of the {want} instances the query announced; nothing was kept."
            )
        if received.count == 0:
            raise DicomError(f"The node {node.name} sent no instance of {what}.")
        staged = received.files()
        counts = dict(received.series)
    files = [out / p.relative_to(staging) for p in staged]
    return RetrieveResult(folder=out, series=counts, files=files)


def dicom_files(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """The DICOM files (``DICM`` preamble) among files and folders (recursively), sorted.

    Raises
    ------
    InvalidInputError
        A path does not exist, or no DICOM file is found.
    """
    found: list[Path] = []
    for item in paths:
        p = Path(item)
        if not p.exists():
            raise InvalidInputError(f"{p}: no such file or folder.")
        candidates = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in candidates:
            if q.name.startswith("."):
                continue
            try:
                with open(q, "rb") as fh:
                    head = fh.read(132)
            except OSError:
                continue
            if head[128:132] == b"DICM":
                found.append(q)
            elif p == q:
                raise InvalidInputError(f"{q}: not a DICOM file (no DICM preamble).")
    if not found:
        raise InvalidInputError(f"No DICOM file in {', '.join(str(p) for p in paths)}.")
    return found


def send(
    node: Node,
    paths: list[str | os.PathLike[str]],
    local: LocalAE | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[Path]:
    """Send DICOM files (C-STORE or STOW-RS); folders are searched recursively.

    Returns
    -------
    list of Path
        The files sent. A refusal raises DicomError naming the file and how many were sent.
    """
    files = dicom_files(paths)
    if node.is_dicomweb:
        return web_store(node, files, timeout_s)
    return dimse_store(node, local or LocalAE(), files, timeout_s)
