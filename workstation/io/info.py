"""What ``workstation info`` prints: every series/volume under a path, from headers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomError, InvalidInputError
from workstation.core.progress import Progress
from workstation.io.formats import is_sitk_format, read_sitk_image

__all__ = ["describe_path", "print_table"]


def describe_path(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Describe every series/stack (DICOM) or the volume (NIfTI/NRRD/MHA) at ``path``.

    Returns
    -------
    entries, skipped
        One JSON-ready dict per series/stack (geometry in x, y, z order: ``size``
        in voxels, ``spacing`` in mm, ``origin`` in LPS mm, ``direction`` the
        row-major 3×3 matrix whose columns are the x, y, z axis directions) and
        the number of skipped non-DICOM files. Each entry also carries
        ``skipped_non_dicom_files``.

    Raises
    ------
    DicomError
        When no DICOM file is found (or only unreadable ones).
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"{p}: no such file or folder.")
    if p.is_file() and is_sitk_format(p):
        vol = read_sitk_image(p)
        entry = {
            "key": p.name,
            "path": str(p),
            "modality": None,
            "description": p.name,
            "size": [int(s) for s in vol.shape[::-1]],
            "spacing": [round(float(s), 6) for s in vol.spacing_mm[::-1]],
            "origin": [round(float(o), 6) for o in vol.origin_mm],
            "direction": [round(float(d), 8) for d in vol.direction[:, ::-1].ravel()],
            "frame_of_reference_uid": None,
            "units": vol.units.value,
            "number_of_files": 1,
            "readable": True,
            "problem": None,
            "warnings": [],
            "skipped_non_dicom_files": 0,
        }
        return [entry], 0
    from workstation.io.dicom import index_dicom

    index = index_dicom(p, progress=progress)
    if not index.series:
        if index.unreadable:
            bad = index.unreadable[0]
            raise DicomError(f"{bad.path}: this DICOM file cannot be read ({bad.reason}).")
        raise DicomError(f"{p}: no DICOM files found ({len(index.skipped)} other file(s) skipped).")
    entries = []
    for s in index.series:
        entry = s.to_dict()
        entry["path"] = str(s.records[0].path.parent if len(s.records) > 1 else s.records[0].path)
        entry["skipped_non_dicom_files"] = len(index.skipped)
        entries.append(entry)
    entries.extend(
        {
            "key": None,
            "path": str(bad.path),
            "modality": None,
            "description": None,
            "readable": False,
            "problem": f"{bad.path}: this DICOM file cannot be read ({bad.reason}).",
            "number_of_files": 1,
            "skipped_non_dicom_files": len(index.skipped),
        }
        for bad in index.unreadable
    )
    return entries, len(index.skipped)


def _fmt(values: list[float] | None, digits: int = 3) -> str:
    if values is None:
        return "-"
    return " ".join(f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}" for v in values)


def print_table(path: str | os.PathLike[str], entries: list[dict[str, Any]], skipped: int) -> None:
    """Print the entries as a rich table (and problems underneath)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(path), show_lines=False)
    for column in ("series", "mod.", "description", "size (x y z)", "spacing mm", "origin LPS mm",
                   "direction", "units", "files", "frame of reference"):
        table.add_column(column, overflow="fold")
    for e in entries:
        direction = e.get("direction")
        dir_text = "axial" if direction is not None and _is_identity(direction) else _fmt(direction, 2)
        table.add_row(
            str(e.get("key") or e.get("path")),
            str(e.get("modality") or "-"),
            str(e.get("description") or ""),
            " ".join(map(str, e["size"])) if e.get("size") else "-",
            _fmt(e.get("spacing")),
            " ".join(f"{v:.1f}" for v in e["origin"]) if e.get("origin") else "-",
            dir_text,
            str(e.get("units") or "-"),
            str(e.get("number_of_files", "")),
            str(e.get("frame_of_reference_uid") or "-"),
        )
    console = Console(width=max(160, Console().width))
    console.print(table)
    for e in entries:
        if e.get("problem"):
            console.print(f"[yellow]not readable:[/yellow] {e['problem']}")
        for w in e.get("warnings") or []:
            console.print(f"[cyan]note ({e.get('key')}):[/cyan] {w}")
    console.print(f"{skipped} non-DICOM file(s) skipped.")


def _is_identity(direction: list[float]) -> bool:
    return all(abs(a - b) < 1e-6 for a, b in zip(direction, [1, 0, 0, 0, 1, 0, 0, 0, 1], strict=True))
