"""DICOM networking (DIMSE and DICOMweb) and de-identification.

* :func:`echo`, :func:`find`, :func:`retrieve`, :func:`send`: one API over
  DIMSE (pynetdicom: C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE) and DICOMweb
  (dicomweb-client: QIDO-RS, WADO-RS, STOW-RS); the node decides.
* :func:`parse_node` / :func:`load_nodes`: ``AET@HOST:PORT``, a DICOMweb URL or a
  name from a TOML nodes file.
* :func:`resolve_pacs_image`: ``pacs://NODE/SERIES_UID`` retrieved into a cache
  folder, for the image readers.
* :func:`anonymize`: PS3.15 Basic Application Level Confidentiality Profile,
  consistent across a study.
"""

from __future__ import annotations

from workstation.pacs.cache import default_cache_dir, is_pacs_spec, resolve_pacs_image
from workstation.pacs.network import DEFAULT_TIMEOUT_S, RetrieveResult, echo, find, retrieve, send
from workstation.pacs.nodes import DEFAULT_AET, LocalAE, Node, load_nodes, parse_node

__all__ = [
    "DEFAULT_AET",
    "DEFAULT_TIMEOUT_S",
    "LocalAE",
    "Node",
    "RetrieveResult",
    "default_cache_dir",
    "echo",
    "find",
    "is_pacs_spec",
    "load_nodes",
    "parse_node",
    "resolve_pacs_image",
    "retrieve",
    "send",
]
