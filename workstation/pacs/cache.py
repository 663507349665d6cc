"""``pacs://NODE/SERIES_UID``: an IMG retrieved from a node into a local cache first.

The series is retrieved (all or nothing, see :func:`workstation.pacs.retrieve`)
into ``CACHE/<node>/<SeriesInstanceUID>/`` and the folder is returned, so every
reader takes it like any DICOM folder. A complete retrieval leaves a marker
``CACHE/<node>/<SeriesInstanceUID>.complete``; the next use reads the cache
without asking the node again. The cache is ``$WORKSTATION_CACHE/pacs`` or
``~/.cache/workstation/pacs``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from workstation.core.errors import InvalidInputError
from workstation.pacs.network import check_uid, retrieve
from workstation.pacs.nodes import parse_node

__all__ = ["PACS_SCHEME", "default_cache_dir", "is_pacs_spec", "resolve_pacs_image"]

PACS_SCHEME = "pacs://"


def is_pacs_spec(spec: str | os.PathLike[str]) -> bool:
    """True for ``pacs://…``."""
    return os.fspath(spec).startswith(PACS_SCHEME)


def default_cache_dir() -> Path:
    """``$WORKSTATION_CACHE/pacs``, else ``~/.cache/workstation/pacs``."""
    env = os.environ.get("WORKSTATION_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "workstation"
    return base / "pacs"


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80] or "node"


def resolve_pacs_image(
    spec: str,
    nodes_file: str | os.PathLike[str] | None = None,
    aet: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Retrieve ``pacs://NODE/SERIES_UID`` into the cache (once) and return its folder.

    Parameters
    ----------
    spec:
        ``pacs://NODE/SERIES_UID``; ``NODE`` is a node name of the nodes file
        or ``AET@HOST:PORT``.
    nodes_file, aet:
        As for :func:`workstation.pacs.parse_node`.
    cache_dir:
        Cache root (default :func:`default_cache_dir`).

    Raises
    ------
    InvalidInputError
        A malformed spec; DicomError when the retrieval fails.
    """
    text = os.fspath(spec)
    if not is_pacs_spec(text):
        raise InvalidInputError(f"{text!r} is not a pacs://NODE/SERIES_UID image.")
    rest = text[len(PACS_SCHEME) :]
    if "/" not in rest:
        raise InvalidInputError(f"{text!r} must be pacs://NODE/SERIES_UID (the series UID is missing).")
    node_text, series = rest.rsplit("/", 1)
    if not node_text:
        raise InvalidInputError(f"{text!r} must be pacs://NODE/SERIES_UID (the node is missing).")
    series = check_uid(series, f"The series UID of {text}")
    node, local = parse_node(node_text, nodes_file=nodes_file, aet=aet)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    node_dir = root / _folder_name(node.name)
    folder = node_dir / series
    marker = node_dir / f"{series}.complete"
    if marker.is_file() and folder.is_dir() and any(folder.glob("*.dcm")):
        return folder
    result = retrieve(node, node_dir, series_uid=series, local=local)
    from workstation.io import atomic_path

    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps({"node": node.describe(), "series": series, "instances": result.count}))
    return folder
