"""DICOMweb with dicomweb-client: QIDO-RS (find), WADO-RS (retrieve), STOW-RS (store).

HTTP and connection failures become one-sentence
:class:`~workstation.core.errors.DicomError`\\ s naming the node; the client's
automatic retries are off so that an unreachable node fails at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomError
from workstation.pacs._dimse import RETURN_KEYS
from workstation.pacs._received import Received
from workstation.pacs.nodes import Node

__all__ = ["web_echo", "web_find", "web_retrieve", "web_store"]


def _client(node: Node, timeout_s: float) -> Any:
    from dicomweb_client.api import DICOMwebClient

    assert node.url is not None
    try:
        client = DICOMwebClient(url=node.url, timeout=timeout_s)
    except ValueError as exc:
        raise DicomError(f"The DICOMweb URL {node.url} is not usable ({exc}).") from None
    client.set_http_retry_params(retry=False)
    return client


@contextlib.contextmanager
def _http_errors(node: Node, what: str) -> Iterator[None]:
    import requests

    logger = logging.getLogger("dicomweb_client")
    old_level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        reason = "connection refused" if "refused" in text.lower() else "cannot connect"
        raise DicomError(f"The DICOMweb node {node.url} cannot be reached for {what} ({reason}).") from None
    except requests.exceptions.Timeout:
        raise DicomError(f"The DICOMweb node {node.url} did not answer {what} in time.") from None
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        reason = exc.response.reason if exc.response is not None else str(exc)
        raise DicomError(
            f"The DICOMweb node {node.url} refused {what} with HTTP {status} ({reason})."
        ) from None
    except requests.exceptions.RequestException as exc:
        raise DicomError(f"The DICOMweb node {node.url} failed {what} ({type(exc).__name__}: {exc}).") from None
    finally:
        logger.setLevel(old_level)


def web_echo(node: Node, timeout_s: float = 30.0) -> None:
    """A QIDO-RS study query limited to one result: the DICOMweb equivalent of C-ECHO."""
    client = _client(node, timeout_s)
    with _http_errors(node, "a test query"):
        client.search_for_studies(limit=1)


def _json_row(item: dict[str, Any], level: str) -> dict[str, str]:
    from pydicom.dataset import Dataset

    ds = Dataset.from_json(item)
    row: dict[str, str] = {}
    for keyword in RETURN_KEYS[level]:
        value = ds.get(keyword)
        if value is None:
            row[keyword] = ""
        elif type(value).__name__ in ("MultiValue", "list"):
            row[keyword] = "\\".join(str(v) for v in value)
        else:
            row[keyword] = str(value)
    return row


def web_find(node: Node, level: str, filters: dict[str, str], timeout_s: float = 30.0) -> list[dict[str, str]]:
    """QIDO-RS at ``level`` ``"STUDY"`` or ``"SERIES"``; same row layout as C-FIND.

    The query string is built here rather than by dicomweb-client, which
    percent-encodes the ``*`` and ``?`` wildcards (``%2A``) and so turns a
    wildcard match into a literal one on servers that do not decode them
    (Orthanc's DICOMweb plugin 1.7).
    """
    from urllib.parse import quote

    import requests

    assert node.url is not None
    search = dict(filters)
    if level == "STUDY":
        path = "/studies"
    else:
        study = search.pop("StudyInstanceUID", None)
        path = f"/studies/{study}/series" if study else "/series"
    pairs = [(k, v) for k, v in search.items()] + [("includefield", k) for k in RETURN_KEYS[level]]
    query = "&".join(f"{quote(k)}={quote(str(v), safe='*?^,-')}" for k, v in pairs)
    with _http_errors(node, "the query"):
        answer = requests.get(
            f"{node.url}{path}?{query}", headers={"Accept": "application/dicom+json"}, timeout=timeout_s
        )
        if answer.status_code == 204 or not answer.content:
            return []
        answer.raise_for_status()
        items = answer.json()
    if not isinstance(items, list):
        raise DicomError(f"The DICOMweb node {node.url} answered the query with something other than a list.")
    return [_json_row(item, level) for item in items]


def web_retrieve(
    node: Node,
    received: Received,
    study_uid: str,
    series_uids: list[str],
    expected: dict[str, int],
    what: str,
    timeout_s: float = 30.0,
) -> None:
    """WADO-RS of each series into ``received``; DicomError when a series comes back incomplete."""
    client = _client(node, timeout_s)
    for series_uid in series_uids:
        with _http_errors(node, f"the retrieval of {what}"):
            count = 0
            for ds in client.iter_series(study_instance_uid=study_uid, series_instance_uid=series_uid):
                try:
                    received.add(ds)
                except DicomError as exc:
                    raise DicomError(f"The retrieval of {what} from {node.url} failed: {exc}") from None
                count += 1
        want = expected.get(series_uid)
        if want is not None and count != want:
            raise DicomError(
                f"The retrieval of {what} from {node.url} was incomplete: series {series_uid} "
                f"gave {count} of {want} instances; nothing was kept."
            )


def web_store(node: Node, files: list[Path], timeout_s: float = 30.0) -> list[Path]:
    """STOW-RS of the files (one request per file, so a refusal names its file)."""
    import pydicom

    client = _client(node, timeout_s)
    stored: list[Path] = []
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
            raise DicomError(f"{path}: cannot be sent, it is not a readable DICOM file ({exc}).") from None
        with _http_errors(node, f"storing {path.name} ({len(stored)} of {len(files)} files sent)"):
            answer = client.store_instances([ds])
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            reason = failed[0].get("FailureReason", "?")
            raise DicomError(
                f"The DICOMweb node {node.url} refused {path.name} (failure reason {reason}); "
                f"{len(stored)} of {len(files)} files were sent."
            )
        stored.append(path)
    return stored
