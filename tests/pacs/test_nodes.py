"""Nodes: ``AET@HOST:PORT``, DICOMweb URLs, names from a TOML nodes file, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.core.errors import InvalidInputError
from workstation.pacs import DEFAULT_AET, parse_node
from workstation.pacs.nodes import DEFAULT_STORAGE_PORT


@pytest.fixture(autouse=True)
def _no_user_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKSTATION_NODES", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_dimse_and_web_specs() -> None:
    node, local = parse_node("ORTHANC@127.0.0.1:4242")
    assert (node.aet, node.host, node.port, node.is_dicomweb) == ("ORTHANC", "127.0.0.1", 4242, False)
    assert (local.aet, local.port) == (DEFAULT_AET, DEFAULT_STORAGE_PORT)
    node, _ = parse_node("PACS@[::1]:104", aet="ME")
    assert (node.host, node.port) == ("::1", 104)
    web, _ = parse_node("http://127.0.0.1:8042/dicom-web/")
    assert web.is_dicomweb and web.url == "http://127.0.0.1:8042/dicom-web"


def test_nodes_file(tmp_path: Path) -> None:
    f = tmp_path / "nodes.toml"
    f.write_text(
        '[local]\naet = "IR_WS"\nport = 11113\n'
        '[nodes.pacs]\naet = "ORTHANC"\nhost = "pacs.local"\nport = 4242\nretrieve = "move"\n'
        '[nodes.web]\nurl = "https://pacs.local/dicom-web"\n'
    )
    node, local = parse_node("pacs", nodes_file=f)
    assert (node.aet, node.host, node.port, node.retrieve) == ("ORTHANC", "pacs.local", 4242, "move")
    assert (local.aet, local.port) == ("IR_WS", 11113)
    node, local = parse_node("web", nodes_file=f, aet="OTHER")
    assert node.url == "https://pacs.local/dicom-web" and local.aet == "OTHER" and local.port == 11113


@pytest.mark.parametrize(
    ("spec", "content", "words"),
    [
        ("nowhere", None, "neither AET@HOST:PORT"),
        ("X@host:99999", None, "between 1 and 65535"),
        ("WAY_TOO_LONG_AE_TITLE@h:104", None, "neither AET@HOST:PORT"),
        ("pacs", "[nodes.pacs]\naet = 'A'\nhost = 'h'\n", "missing port"),
        ("pacs", "[nodes.pacs\n", "not valid TOML"),
        ("pacs", "[nodes.pacs]\nurl = 'ftp://x'\n", "must start with http"),
        ("pacs", "[nodes.pacs]\naet='A'\nhost='h'\nport=1\nretrieve='push'\n", "retrieve must be"),
    ],
)
def test_bad_nodes(tmp_path: Path, spec: str, content: str | None, words: str) -> None:
    f = None
    if content is not None:
        f = tmp_path / "nodes.toml"
        f.write_text(content)
    with pytest.raises(InvalidInputError, match=words):
        parse_node(spec, nodes_file=f)


def test_missing_nodes_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        parse_node("pacs", nodes_file=tmp_path / "absent.toml")
