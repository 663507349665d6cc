"""Fixtures of the PACS tests: one real Orthanc per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pacs.orthanc import ORTHANC_BINARY, OrthancServer, dicomweb_plugin, run_orthanc


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc on free loopback ports for the whole session (skipped only without the binary)."""
    if ORTHANC_BINARY is None:
        pytest.skip("Orthanc is not installed (Debian packages orthanc and orthanc-dicomweb)")
    if dicomweb_plugin() is None:
        pytest.skip("the Orthanc DICOMweb plugin is not installed (Debian package orthanc-dicomweb)")
    with run_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def orthanc(orthanc_server: OrthancServer) -> OrthancServer:
    """The session's Orthanc, emptied before the test."""
    orthanc_server.clear()
    return orthanc_server
