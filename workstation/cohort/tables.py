"""The cohort's result tables: one tidy table per level, in Parquet and CSV, with provenance.

``treatments``
    One row per manifest row: ``id``, ``command``, ``status`` (done, failed, skipped),
    ``reason``, the command's scalar results, the outcome columns
    (``progression_months``, ``progressed``), and provenance: ``workstation_version``,
    ``code_hash``, ``fingerprint``, ``argv``, ``inputs`` (JSON: SHA-256 and DICOM
    study/series UIDs of every input), ``constants`` (JSON: the constants the numbers
    depend on, with their sources), ``seconds`` (the command's), ``attempt``, ``worker``
    and ``worker_peak_rss_mb`` (the worker process's peak memory when the case ended).
``rois``
    One row per (treatment, method, ROI) of ``sirt`` and ``rt-dose``, with
    ``response`` from the manifest's ``outcome.<roi>``.
``lesions``
    One row per (treatment, method, lesion): the leaf lesion ROIs of ``sirt`` (label
    ``k`` of a ``lesions`` label image is ``lesions_k``) and the tumours of
    ``margin`` (``tumor_k``), with ``response``.

Every table carries ``id``, ``command``, ``status``, ``workstation_version``,
``code_hash`` and ``fingerprint`` (join on ``id``); the Parquet files also keep
the cohort's provenance in their schema metadata (key ``workstation``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workstation.cohort.constants import TABLE_LEVELS
from workstation.cohort.manifest import Case

__all__ = ["build_tables", "read_table", "write_tables"]

_IDENTITY = ("id", "command", "status")
_PROVENANCE = ("workstation_version", "code_hash", "fingerprint")


def build_tables(cases: Sequence[Case], records: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The three tables (pandas DataFrames) of the cases' records, outcomes merged in.

    Each case contributes from its record only (one record per case id), so a case
    retried after a lost worker cannot appear twice.
    """
    import pandas as pd

    treatments: list[dict[str, Any]] = []
    rois: list[dict[str, Any]] = []
    lesions: list[dict[str, Any]] = []
    for case in cases:
        rec = records.get(case.id) or {"status": "failed", "reason": "no result (the task was lost)"}
        ident = {"id": case.id, "command": case.command, "status": rec.get("status", "failed")}
        prov = {k: rec.get(k) for k in _PROVENANCE}
        tables = rec.get("tables") or {}
        row: dict[str, Any] = {**ident, "reason": rec.get("reason") or "", **(tables.get("treatment") or {}),
                               "progression_months": case.progression_months, "progressed": case.progressed,
                               "seconds": rec.get("seconds"), "attempt": rec.get("attempt"),
                               "worker": rec.get("worker"), "worker_peak_rss_mb": rec.get("peak_rss_mb"), **prov,
                               "argv": " ".join(rec.get("argv") or []),
                               "inputs": json.dumps(rec.get("inputs") or {}, sort_keys=True),
                               "constants": json.dumps(tables.get("constants") or {}, sort_keys=True, default=str)}
        treatments.append(row)
        for level, out in (("rois", rois), ("lesions", lesions)):
            for item in tables.get(level) or []:
                name = item.get("roi") if level == "rois" else item.get("lesion")
                response = case.outcomes.get(str(name)) if name is not None else None
                out.append({**ident, **item, "response": response, **prov})
    frames = {"treatments": pd.DataFrame(treatments), "rois": pd.DataFrame(rois), "lesions": pd.DataFrame(lesions)}
    for name, frame in frames.items():
        if frame.empty:
            frames[name] = pd.DataFrame(columns=[*_IDENTITY, *_PROVENANCE])
        elif "response" in frame:
            frame["response"] = frame["response"].astype("Int64")
    t = frames["treatments"]
    if not t.empty:
        t["progressed"] = t["progressed"].astype("Int64")
        t["progression_months"] = t["progression_months"].astype("float64")
    return frames


def unmatched_outcomes(cases: Sequence[Case], tables: Mapping[str, Any]) -> list[str]:
    """``outcome.<roi>`` entries of done cases that name no ROI or lesion of the results."""
    out: list[str] = []
    rois, lesions = tables["rois"], tables["lesions"]
    for case in cases:
        if not case.outcomes:
            continue
        names: set[str] = set()
        for frame, col in ((rois, "roi"), (lesions, "lesion")):
            if col in frame:
                names.update(str(v) for v in frame.loc[frame["id"] == case.id, col])
        if not names:
            continue
        out.extend(f"{case.id}: outcome.{roi} names no ROI or lesion of its results ({', '.join(sorted(names))})"
                   for roi in case.outcomes if roi not in names)
    return out


def write_tables(tables: Mapping[str, Any], out_dir: str | os.PathLike[str], metadata: dict[str, Any]) -> list[Path]:
    """Write ``<level>.parquet`` and ``<level>.csv`` of each table atomically; return the paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workstation.io import atomic_path

    out = Path(out_dir)
    written = []
    meta = json.dumps(metadata, sort_keys=True, default=str).encode("utf-8")
    for level in TABLE_LEVELS:
        frame = tables[level]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"workstation": meta})
        with atomic_path(out / f"{level}.parquet") as tmp:
            pq.write_table(table, tmp)
        with atomic_path(out / f"{level}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        written += [out / f"{level}.parquet", out / f"{level}.csv"]
    return written


def read_table(out_dir: str | os.PathLike[str], level: str) -> Any:
    """A table of a cohort folder as a pandas DataFrame (from its Parquet file)."""
    import pandas as pd

    from workstation.core.errors import InvalidInputError

    path = Path(out_dir) / f"{level}.parquet"
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist: is {out_dir} the output folder of 'workstation cohort run'?")
    return pd.read_parquet(path)
