"""``workstation pacs echo|find|get|send``: DICOM networking (DIMSE and DICOMweb).

Also makes ``pacs://NODE/SERIES_UID`` an ``IMG`` for every command: the image
readers call :func:`workstation.pacs.resolve_pacs_image`, which retrieves the
series into a cache folder first (registered once, below).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workstation.cli._common import say

app = typer.Typer(
    help="DICOM networking: echo, find, get, send (DIMSE with pynetdicom, DICOMweb with dicomweb-client).",
    no_args_is_help=True,
)


def _resolve_pacs(spec: str) -> Path:
    from workstation.pacs import resolve_pacs_image

    return resolve_pacs_image(spec)


def _register() -> None:
    from workstation.io import register_image_resolver

    register_image_resolver("pacs://", _resolve_pacs)


_register()

NodeOpt = Annotated[
    str,
    typer.Option("--node", help="AET@HOST:PORT (DIMSE), an http(s):// DICOMweb base URL, or a name from --nodes."),
]
NodesOpt = Annotated[
    Path | None,
    typer.Option("--nodes", help="TOML nodes file (default: $WORKSTATION_NODES, else ~/.config/workstation/nodes.toml)."),
]
AetOpt = Annotated[
    str | None, typer.Option("--aet", help="Our calling AE title (default WORKSTATION, or [local] aet of the nodes file).")
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Connection and response timeout, seconds.")]


def _node(node: str, nodes: Path | None, aet: str | None) -> tuple[Any, Any]:
    from workstation.pacs import parse_node

    return parse_node(node, nodes_file=nodes, aet=aet)


@app.command()
def echo(node: NodeOpt, nodes: NodesOpt = None, aet: AetOpt = None, timeout: TimeoutOpt = 30.0) -> None:
    """Check that a node answers (C-ECHO; a one-result QIDO-RS query for DICOMweb)."""
    from workstation.pacs import echo as pacs_echo

    peer, local = _node(node, nodes, aet)
    ms = pacs_echo(peer, local, timeout_s=timeout)
    if peer.is_dicomweb:
        typer.echo(f"{peer.describe()} answers DICOMweb queries")
    else:
        typer.echo(f"{peer.describe()} answers C-ECHO from {local.aet} in {ms:.0f} ms")


_COLUMNS = {
    "STUDY": ("PatientID", "PatientName", "StudyDate", "ModalitiesInStudy", "StudyDescription",
              "NumberOfStudyRelatedInstances", "StudyInstanceUID"),
    "SERIES": ("PatientID", "StudyDate", "Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"),
}


@app.command()
def find(
    node: NodeOpt,
    level: Annotated[str, typer.Option("--level", help="study or series.")] = "study",
    patient_id: Annotated[str | None, typer.Option("--patient-id", help="Patient ID (* and ? are wildcards).")] = None,
    patient_name: Annotated[str | None, typer.Option("--patient-name", help="Patient's name, e.g. 'DOE^J*'.")] = None,
    study_uid: Annotated[str | None, typer.Option("--study-uid", help="Study Instance UID.")] = None,
    series_uid: Annotated[str | None, typer.Option("--series-uid", help="Series Instance UID (series level).")] = None,
    modality: Annotated[str | None, typer.Option("--modality", help="Modality, e.g. CT, NM, PT.")] = None,
    date: Annotated[str | None, typer.Option("--date", help="Study date YYYYMMDD (or YYYY-MM-DD) or range A-B.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    nodes: NodesOpt = None,
    aet: AetOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Query studies or series (C-FIND Study Root or QIDO-RS); no match is exit status 2."""
    from workstation.core.errors import DicomError
    from workstation.pacs import find as pacs_find

    peer, local = _node(node, nodes, aet)
    lvl = "SERIES" if series_uid and level == "study" else level.strip().upper()
    rows = pacs_find(peer, lvl, local=local, patient_id=patient_id, patient_name=patient_name,
                     study_uid=study_uid, series_uid=series_uid, modality=modality, date=date,
                     timeout_s=timeout)
    if not rows:
        given = {"--patient-id": patient_id, "--patient-name": patient_name, "--study-uid": study_uid,
                 "--series-uid": series_uid, "--modality": modality, "--date": date}
        query = ", ".join(f"{k} {v}" for k, v in given.items() if v) or "no filter"
        raise DicomError(f"No {lvl.lower()} on {peer.describe()} matches {query}.")
    if json_output:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} {lvl.lower()}{'' if len(rows) == 1 else ' matches'} on {peer.describe()}")
    columns = _COLUMNS["STUDY" if lvl == "STUDY" else "SERIES"]
    for column in columns:
        table.add_column(column.replace("NumberOf", "#").replace("RelatedInstances", ""), overflow="fold")
    for row in rows:
        table.add_row(*(row.get(c, "") for c in columns))
    Console(width=max(160, Console().width)).print(table)


@app.command()
def get(
    node: NodeOpt,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (one sub-folder per series).")],
    study_uid: Annotated[str | None, typer.Option("--study-uid", help="Study Instance UID.")] = None,
    series_uid: Annotated[str | None, typer.Option("--series-uid", help="Series Instance UID.")] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="get (C-GET) or move (C-MOVE to our storage SCP); default the node's.")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port of our storage SCP for C-MOVE.")] = None,
    nodes: NodesOpt = None,
    aet: AetOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Retrieve a study or series into a folder: all of it or nothing (C-GET, C-MOVE or WADO-RS)."""
    from workstation.io import ensure_not_input
    from workstation.pacs import LocalAE, retrieve

    peer, local = _node(node, nodes, aet)
    if port is not None:
        local = LocalAE(aet=local.aet, port=port)
    ensure_not_input(output)
    result = retrieve(peer, output, study_uid=study_uid, series_uid=series_uid, local=local, method=method,
                      timeout_s=timeout)
    for uid, count in sorted(result.series.items()):
        say(f"{output / uid}: {count} instance{'' if count == 1 else 's'}")
    say(f"retrieved {result.count} instances of {len(result.series)} series from {peer.describe()} into {output}")


@app.command()
def send(
    node: NodeOpt,
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")],
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="De-identify (PS3.15 basic profile) before sending; inputs unchanged.")
    ] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="With --deidentify: secret that keeps UIDs and dates consistent across runs.")
    ] = None,
    nodes: NodesOpt = None,
    aet: AetOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Send DICOM files (C-STORE or STOW-RS), e.g. the RTDOSE, SEG, SR and PDF of a `sirt` output folder."""
    from workstation.pacs import send as pacs_send

    peer, local = _node(node, nodes, aet)
    if not deidentify:
        sent = pacs_send(peer, list(paths), local=local, timeout_s=timeout)
    else:
        import tempfile

        from workstation.pacs.deidentify import Deidentifier, anonymize

        with tempfile.TemporaryDirectory(prefix="workstation-deid-") as tmp:
            result = anonymize(list(paths), Path(tmp) / "out", Deidentifier(key=key) if key else Deidentifier())
            for path, reason in result.skipped:
                say(f"not sent: {path} ({reason})")
            sent = pacs_send(peer, [Path(tmp) / "out"], local=local, timeout_s=timeout)
    say(f"sent {len(sent)} file{'' if len(sent) == 1 else 's'} to {peer.describe()}")
