"""DIMSE services with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE.

Every failure a user can meet (nothing listening, an unknown host, no answer, an
association rejected because of an AE title, a peer that aborts, a failed
sub-operation) becomes a :class:`~workstation.core.errors.DicomError` with one
sentence naming the node. pynetdicom's own log is captured, not printed: the
rejection reason it logs is quoted in the sentence.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomError, InvalidInputError
from workstation.pacs._received import Received
from workstation.pacs.nodes import LocalAE, Node

__all__ = [
    "RETRIEVE_SOP_CLASSES",
    "TRANSFER_SYNTAXES",
    "dimse_echo",
    "dimse_find",
    "dimse_get",
    "dimse_move",
    "dimse_store",
]

#: Storage SOP classes we ask for in C-GET and accept in our storage SCP: the
#: images and results this workstation reads or writes (PS3.4 B.5).
RETRIEVE_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
    "1.2.840.10008.5.1.4.1.1.66.1",  # Spatial Registration
    "1.2.840.10008.5.1.4.1.1.66.3",  # Deformable Spatial Registration
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection Document
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
)

#: Transfer syntaxes offered for received instances: uncompressed first, then
#: the compressed ones pydicom decodes with its pixel-data plugins.
TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
)

_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
_STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
_VERIFICATION = "1.2.840.10008.1.1"

#: Attributes returned by C-FIND, per level (matching keys are added to these).
RETURN_KEYS: dict[str, tuple[str, ...]] = {
    "STUDY": (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "StudyDescription",
        "AccessionNumber",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "SERIES": (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "StudyDate",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "NumberOfSeriesRelatedInstances",
    ),
}


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(record.getMessage())


@contextlib.contextmanager
def _quiet_pynetdicom() -> Iterator[_LogCapture]:
    """Capture pynetdicom's log lines instead of printing them."""
    logger = logging.getLogger("pynetdicom")
    capture = _LogCapture()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _check_reachable(node: Node, timeout_s: float) -> None:
    """Open and close a TCP connection, for a precise sentence when the node cannot be reached."""
    assert node.host is not None and node.port is not None
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout_s):
            pass
    except socket.gaierror:
        raise DicomError(f"The node {node.name}: the host {node.host!r} is unknown.") from None
    except ConnectionRefusedError:
        raise DicomError(
            f"The node {node.name} refused the connection: nothing listens on {node.host}:{node.port}."
        ) from None
    except TimeoutError:
        raise DicomError(
            f"The node {node.name} did not answer within {timeout_s:g} s at {node.host}:{node.port} "
            "(unreachable or filtered)."
        ) from None
    except OSError as exc:
        raise DicomError(
            f"The node {node.name} at {node.host}:{node.port} cannot be reached ({exc.strerror or exc})."
        ) from None


def _new_ae(local: LocalAE, timeout_s: float) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=local.aet)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    return ae


def _rejection_reason(lines: list[str]) -> str:
    for line in lines:
        if line.startswith("Reason:"):
            return line.split(":", 1)[1].strip()
    return "no reason given"


@contextlib.contextmanager
def _association(
    node: Node,
    local: LocalAE,
    contexts: list[Any],
    timeout_s: float,
    purpose: str,
    ext_neg: list[Any] | None = None,
    evt_handlers: list[Any] | None = None,
) -> Iterator[Any]:
    """An established association (released afterwards), or a DicomError saying why not."""
    if node.is_dicomweb:
        raise InvalidInputError(f"The node {node.name} is a DICOMweb URL, not a DIMSE peer.")
    _check_reachable(node, timeout_s)
    ae = _new_ae(local, timeout_s)
    ae.requested_contexts = contexts
    with _quiet_pynetdicom() as log:
        assoc = ae.associate(
            node.host, node.port, ae_title=node.aet, ext_neg=ext_neg, evt_handlers=evt_handlers
        )
        if not assoc.is_established:
            if assoc.is_rejected:
                reason = _rejection_reason(log.lines)
                raise DicomError(
                    f"The node {node.name} rejected the association for {purpose} ({reason}); check "
                    f"its AE title ({node.aet}) and that it knows ours ({local.aet})."
                )
            if assoc.is_aborted and any("No accepted presentation contexts" in x for x in log.lines):
                raise DicomError(f"The node {node.name} does not support {purpose}.")
            raise DicomError(
                f"The node {node.name} aborted the association for {purpose} before it was established."
            )
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()


def _status(ds: Any) -> int:
    return int(getattr(ds, "Status", 0xFFFF)) if ds is not None else -1


def dimse_echo(node: Node, local: LocalAE, timeout_s: float = 30.0) -> float:
    """C-ECHO; returns the round-trip time in milliseconds."""
    from pynetdicom import build_context

    with _association(node, local, [build_context(_VERIFICATION)], timeout_s, "C-ECHO") as assoc:
        start = time.perf_counter()
        status = assoc.send_c_echo()
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
    if _status(status) != 0x0000:
        raise DicomError(
            f"The node {node.name} answered C-ECHO with "
            + ("no response (timeout or abort)." if status is None or "Status" not in status
               else f"status 0x{_status(status):04X}.")
        )
    return elapsed_ms


def _identifier(level: str, filters: dict[str, str]) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in RETURN_KEYS[level]:
        setattr(ds, keyword, "")
    for keyword, value in filters.items():
        setattr(ds, keyword, value)
    return ds


def _as_row(ds: Any, level: str) -> dict[str, str]:
    row: dict[str, str] = {}
    for keyword in RETURN_KEYS[level]:
        value = ds.get(keyword)
        if value is None:
            row[keyword] = ""
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            row[keyword] = "\\".join(str(v) for v in value)
        else:
            row[keyword] = str(value)
    return row


def dimse_find(
    node: Node, local: LocalAE, level: str, filters: dict[str, str], timeout_s: float = 30.0
) -> list[dict[str, str]]:
    """C-FIND (Study Root) at ``level`` ``"STUDY"`` or ``"SERIES"``; one dict per match."""
    from pynetdicom import build_context

    rows: list[dict[str, str]] = []
    with _association(node, local, [build_context(_STUDY_ROOT_FIND)], timeout_s, "C-FIND") as assoc:
        for status, identifier in assoc.send_c_find(_identifier(level, filters), _STUDY_ROOT_FIND):
            code = _status(status)
            if code in (0xFF00, 0xFF01):
                if identifier is not None:
                    rows.append(_as_row(identifier, level))
            elif code == 0x0000:
                break
            elif code == -1 or "Status" not in status:
                raise DicomError(f"The node {node.name} stopped answering the C-FIND (timeout or abort).")
            else:
                comment = str(status.get("ErrorComment", "") or "").strip()
                raise DicomError(
                    f"The node {node.name} refused the C-FIND with status 0x{code:04X}"
                    + (f" ({comment})." if comment else ".")
                )
    return rows


def _storage_contexts_for_scp() -> list[Any]:
    from pynetdicom import build_context

    return [build_context(uid, list(TRANSFER_SYNTAXES)) for uid in RETRIEVE_SOP_CLASSES]


def _store_handler(received: Received) -> Callable[[Any], int]:
    def handle(event: Any) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            received.add(ds)
        except DicomError as exc:
            received.note(str(exc))
            return 0xA900  # Error: data set does not match SOP class (refused)
        except Exception as exc:  # noqa: BLE001 - any failure to store is a failed sub-operation
            received.note(f"an instance could not be stored ({type(exc).__name__}: {exc})")
            return 0xA700  # Out of resources
        return 0x0000

    return handle


def _retrieve_identifier(study_uid: str | None, series_uid: str | None) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    if series_uid:
        ds.QueryRetrieveLevel = "SERIES"
        ds.SeriesInstanceUID = series_uid
    else:
        ds.QueryRetrieveLevel = "STUDY"
    if study_uid:
        ds.StudyInstanceUID = study_uid
    return ds


def _check_final(
    node: Node, service: str, final: Any, received: Received, what: str
) -> None:
    """Raise a DicomError unless the retrieval ended in success with nothing failed."""
    code = _status(final)
    if final is None or code == -1 or "Status" not in final:
        raise DicomError(
            f"The {service} of {what} from {node.name} was interrupted after {received.count} "
            "instances (association aborted or timed out); nothing was kept."
        )
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    if received.problems:
        raise DicomError(
            f"The {service} of {what} from {node.name} failed for "
            f"{len(received.problems)} instance(s): {received.problems[0]}; nothing was kept."
        )
    if code == 0xB000 or failed:
        raise DicomError(
            f"The {service} of {what} from {node.name} was incomplete: {received.count} instances "
            f"received, {failed} failed (status 0x{code:04X}); nothing was kept."
        )
    if code != 0x0000:
        comment = str(final.get("ErrorComment", "") or "").strip()
        raise DicomError(
            f"The node {node.name} refused the {service} of {what} with status 0x{code:04X}"
            + (f" ({comment})" if comment else "")
            + "."
        )


def _final_response(responses: Iterator[tuple[Any, Any]]) -> Any:
    final = None
    for status, _identifier in responses:
        final = status
        code = _status(status)
        if code not in (0xFF00,):  # pending responses carry progress only
            break
    return final


def dimse_get(
    node: Node,
    local: LocalAE,
    received: Received,
    study_uid: str | None,
    series_uid: str | None,
    what: str,
    timeout_s: float = 30.0,
) -> None:
    """C-GET (Study Root) into ``received``; DicomError when incomplete."""
    from pynetdicom import build_context, build_role, evt

    contexts = [build_context(_STUDY_ROOT_GET), *_storage_contexts_for_scp()]
    roles = [build_role(uid, scp_role=True) for uid in RETRIEVE_SOP_CLASSES]
    handlers = [(evt.EVT_C_STORE, _store_handler(received))]
    with _association(node, local, contexts, timeout_s, "C-GET", ext_neg=roles, evt_handlers=handlers) as assoc:
        final = _final_response(
            assoc.send_c_get(_retrieve_identifier(study_uid, series_uid), _STUDY_ROOT_GET)
        )
        if final is None or "Status" not in final:
            assoc.abort()
    _check_final(node, "C-GET", final, received, what)


def dimse_move(
    node: Node,
    local: LocalAE,
    received: Received,
    study_uid: str | None,
    series_uid: str | None,
    what: str,
    timeout_s: float = 30.0,
    bind_address: str = "",
) -> None:
    """C-MOVE (Study Root) to our own storage SCP (``local.aet`` on ``local.port``)."""
    from pynetdicom import build_context, evt

    ae = _new_ae(local, timeout_s)
    ae.supported_contexts = _storage_contexts_for_scp()
    handlers = [(evt.EVT_C_STORE, _store_handler(received))]
    with _quiet_pynetdicom():
        try:
            server = ae.start_server((bind_address, local.port), block=False, evt_handlers=handlers)
        except OSError as exc:
            raise DicomError(
                f"Our storage SCP for the C-MOVE cannot listen on port {local.port} "
                f"({exc.strerror or exc}); choose another port in the nodes file's [local] table."
            ) from None
    try:
        with _association(node, local, [build_context(_STUDY_ROOT_MOVE)], timeout_s, "C-MOVE") as assoc:
            final = _final_response(
                assoc.send_c_move(_retrieve_identifier(study_uid, series_uid), local.aet, _STUDY_ROOT_MOVE)
            )
    finally:
        with _quiet_pynetdicom():
            server.shutdown()
    code = _status(final)
    if code == 0xA801:
        raise DicomError(
            f"The node {node.name} does not know our AE title {local.aet} as a C-MOVE destination; "
            f"add {local.aet} at this host, port {local.port}, to its list of modalities."
        )
    _check_final(node, "C-MOVE", final, received, what)


def dimse_store(
    node: Node, local: LocalAE, files: list[Path], timeout_s: float = 30.0
) -> list[Path]:
    """C-STORE each file; returns the files stored. DicomError names the first one refused."""
    import pydicom
    from pynetdicom import build_context

    headers: list[tuple[Path, str, str]] = []
    for path in files:
        try:
            meta = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_class = str(meta.file_meta.MediaStorageSOPClassUID)
            syntax = str(meta.file_meta.TransferSyntaxUID)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
            raise DicomError(f"{path}: cannot be sent, it is not a readable DICOM file ({exc}).") from None
        headers.append((path, sop_class, syntax))
    pairs = sorted({(c, s) for _p, c, s in headers})
    if len(pairs) > 127:
        raise InvalidInputError(
            f"The {len(files)} files use {len(pairs)} SOP class and transfer syntax pairs; "
            "at most 127 fit one association: send them in smaller groups."
        )
    contexts = []
    for sop_class, syntax in pairs:
        contexts.append(build_context(sop_class, [syntax]))
    stored: list[Path] = []
    classes = sorted({c for _c, c in ((p, c) for p, c, _s in headers)})
    purpose = (
        f"C-STORE of {headers[0][0].name}"
        + (f" and {len(headers) - 1} more files" if len(headers) > 1 else "")
        + f" (SOP class{'es' if len(classes) > 1 else ''} {', '.join(classes[:3])}{'…' if len(classes) > 3 else ''})"
    )
    with _association(node, local, contexts, timeout_s, purpose) as assoc:
        accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        for path, sop_class, syntax in headers:
            if (sop_class, syntax) not in accepted:
                raise DicomError(
                    f"The node {node.name} does not accept {path.name} (SOP class {sop_class}, "
                    f"transfer syntax {syntax}); {len(stored)} of {len(files)} files were sent."
                )
            status = assoc.send_c_store(path)  # streamed from the file, not re-encoded
            code = _status(status)
            if status is None or "Status" not in status:
                raise DicomError(
                    f"The node {node.name} stopped answering while storing {path.name}; "
                    f"{len(stored)} of {len(files)} files were sent."
                )
            if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:
                raise DicomError(
                    f"The node {node.name} refused {path.name} with status 0x{code:04X}; "
                    f"{len(stored)} of {len(files)} files were sent."
                )
            stored.append(path)
    return stored
