"""PACS nodes: who we talk to, from a command-line ``NODE`` or a TOML nodes file.

A ``NODE`` is one of

* ``AET@HOST:PORT``: a DIMSE peer (``AET`` its called AE title);
* ``http://…`` or ``https://…``: a DICOMweb base URL (QIDO-RS, WADO-RS and
  STOW-RS below it, e.g. Orthanc's ``http://host:8042/dicom-web``);
* a name from the nodes file.

The nodes file (``--nodes FILE``; else ``$WORKSTATION_NODES``; else
``~/.config/workstation/nodes.toml`` when it exists) is TOML::

    [local]                 # ourselves (optional)
    aet = "WORKSTATION"     # our calling AE title (``--aet`` overrides it)
    port = 11112            # where our storage SCP listens for C-MOVE

    [nodes.pacs]
    aet = "ORTHANC"
    host = "pacs.example.org"
    port = 4242
    retrieve = "move"       # "get" (default) or "move"

    [nodes.web]
    url = "https://pacs.example.org/dicom-web"
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError

__all__ = [
    "DEFAULT_AET",
    "DEFAULT_STORAGE_PORT",
    "LocalAE",
    "Node",
    "default_nodes_file",
    "load_nodes",
    "parse_node",
]

#: Our calling AE title when neither ``--aet`` nor the nodes file names one (CLI contract).
DEFAULT_AET = "WORKSTATION"
#: Port of our storage SCP for C-MOVE when the nodes file does not give one
#: (11112 is the IANA-registered DICOM port, "dicom" in /etc/services).
DEFAULT_STORAGE_PORT = 11112
_AET_RE = re.compile(r"^[\x20-\x7e]{1,16}$")
_RETRIEVE = ("get", "move")


@dataclass(frozen=True)
class Node:
    """A remote DICOM node.

    Parameters
    ----------
    name:
        How the user named it (the nodes-file key, or the spec itself).
    aet, host, port:
        DIMSE peer: called AE title, host name or address, TCP port.
    url:
        DICOMweb base URL (then ``aet``/``host``/``port`` are unused).
    retrieve:
        ``"get"`` (C-GET, default: no inbound connection needed) or ``"move"``
        (C-MOVE to our storage SCP, which the peer must know by AE title).
    """

    name: str
    aet: str | None = None
    host: str | None = None
    port: int | None = None
    url: str | None = None
    retrieve: str = "get"

    @property
    def is_dicomweb(self) -> bool:
        """True for a DICOMweb node."""
        return self.url is not None

    def describe(self) -> str:
        """``AET@HOST:PORT`` or the URL, for messages."""
        if self.url is not None:
            return self.url
        return f"{self.aet}@{self.host}:{self.port}"


@dataclass(frozen=True)
class LocalAE:
    """Ourselves: calling AE title and the port of our storage SCP (C-MOVE)."""

    aet: str = DEFAULT_AET
    port: int = DEFAULT_STORAGE_PORT


def default_nodes_file() -> Path | None:
    """``$WORKSTATION_NODES``, else ``~/.config/workstation/nodes.toml`` if it exists."""
    env = os.environ.get("WORKSTATION_NODES")
    if env:
        return Path(env)
    candidate = Path.home() / ".config" / "workstation" / "nodes.toml"
    return candidate if candidate.is_file() else None


def _check_aet(aet: Any, where: str) -> str:
    text = str(aet).strip() if aet is not None else ""
    if not _AET_RE.match(text) or "\\" in text:
        raise InvalidInputError(
            f"{where}: the AE title {aet!r} must be 1 to 16 printable ASCII characters without a backslash."
        )
    return text


def _check_port(port: Any, where: str) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: the port {port!r} is not a number.") from None
    if not 1 <= value <= 65535 or isinstance(port, bool):
        raise InvalidInputError(f"{where}: the port {port!r} is not between 1 and 65535.")
    return value


def _node_from_table(name: str, table: Any, where: str) -> Node:
    if not isinstance(table, dict):
        raise InvalidInputError(f"{where}: [nodes.{name}] must be a table.")
    retrieve = str(table.get("retrieve", "get")).lower()
    if retrieve not in _RETRIEVE:
        raise InvalidInputError(f"{where}: [nodes.{name}] retrieve must be 'get' or 'move', not {retrieve!r}.")
    unknown = set(table) - {"aet", "host", "port", "url", "retrieve", "description"}
    if unknown:
        raise InvalidInputError(f"{where}: [nodes.{name}] has unknown keys {', '.join(sorted(unknown))}.")
    if "url" in table:
        url = str(table["url"]).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"{where}: [nodes.{name}] url {url!r} must start with http:// or https://.")
        return Node(name=name, url=url)
    missing = [k for k in ("aet", "host", "port") if k not in table]
    if missing:
        raise InvalidInputError(
            f"{where}: [nodes.{name}] needs aet, host and port (or a DICOMweb url); missing {', '.join(missing)}."
        )
    return Node(
        name=name,
        aet=_check_aet(table["aet"], f"{where} [nodes.{name}]"),
        host=str(table["host"]),
        port=_check_port(table["port"], f"{where} [nodes.{name}]"),
        retrieve=retrieve,
    )


def load_nodes(path: str | os.PathLike[str]) -> tuple[dict[str, Node], LocalAE]:
    """Read a nodes file.

    Returns
    -------
    tuple
        ``({name: Node}, LocalAE)``.

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, TOML syntax error, a node without what it needs.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"The nodes file {p} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"The nodes file {p} cannot be read ({exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"The nodes file {p} is not valid TOML ({exc}).") from None
    nodes_table = data.get("nodes", {})
    if not isinstance(nodes_table, dict):
        raise InvalidInputError(f"{p}: [nodes] must be a table of tables.")
    nodes = {name: _node_from_table(name, table, str(p)) for name, table in nodes_table.items()}
    local_table = data.get("local", {})
    if not isinstance(local_table, dict):
        raise InvalidInputError(f"{p}: [local] must be a table.")
    local = LocalAE(
        aet=_check_aet(local_table.get("aet", DEFAULT_AET), f"{p} [local]"),
        port=_check_port(local_table.get("port", DEFAULT_STORAGE_PORT), f"{p} [local]"),
    )
    return nodes, local


_DIMSE_RE = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d+)$")


def parse_node(
    spec: str,
    nodes_file: str | os.PathLike[str] | None = None,
    aet: str | None = None,
) -> tuple[Node, LocalAE]:
    """Resolve a ``NODE`` (see the module docstring) and our own AE.

    Parameters
    ----------
    spec:
        ``AET@HOST:PORT``, a DICOMweb URL or a node name.
    nodes_file:
        TOML nodes file; default :func:`default_nodes_file`.
    aet:
        Our calling AE title (``--aet``), overriding the nodes file's ``[local] aet``.
    """
    text = spec.strip()
    path = Path(nodes_file) if nodes_file is not None else default_nodes_file()
    nodes: dict[str, Node] = {}
    local = LocalAE()
    if path is not None:
        nodes, local = load_nodes(path)
    if aet is not None:
        local = LocalAE(aet=_check_aet(aet, "--aet"), port=local.port)
    if text in nodes:
        return nodes[text], local
    if text.startswith(("http://", "https://")):
        return Node(name=text, url=text.rstrip("/")), local
    match = _DIMSE_RE.match(text)
    if match:
        host = match["host"].strip("[]")
        return (
            Node(
                name=text,
                aet=_check_aet(match["aet"], f"NODE {text!r}"),
                host=host,
                port=_check_port(match["port"], f"NODE {text!r}"),
            ),
            local,
        )
    known = f" (nodes in {path}: {', '.join(sorted(nodes)) or 'none'})" if path is not None else ""
    raise InvalidInputError(
        f"The node {spec!r} is neither AET@HOST:PORT, an http(s):// DICOMweb URL nor a known node name{known}."
    )
