"""Fixtures of the PACS tests: one real Orthanc per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pacs.orthanc import ORTHANC_BINARY, OrthancServer, dicomweb_plugin, run_orthanc
from workstation.pacs.network import dicom_files
from workstation.samples import sample_data_dir

SAMPLE_SIRT = sample_data_dir() / "sirt"


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
    """The session's Orthanc (maybe holding the sample study)."""
    return orthanc_server


@pytest.fixture
def loaded(orthanc_server: OrthancServer) -> OrthancServer:
    """The session's Orthanc holding exactly the sample SPECT/CT study (uploaded once, REST API).

    Tests that add objects remove them again (see ``test_roundtrip.py``).
    """
    files = dicom_files([SAMPLE_SIRT / "spect", SAMPLE_SIRT / "ct"])
    if orthanc_server.instance_count() != len(files):
        orthanc_server.clear()
        orthanc_server.upload(files)
    return orthanc_server
