"""A real Orthanc on loopback ports for the tests (Debian packages orthanc, orthanc-dicomweb).

One server per test session (see ``conftest.py``): a generated configuration
in a temporary folder, storage and index there too, free loopback ports, no
authentication; stopped (terminate, then kill) at the end of the session.
Orthanc knows our AE title ``WORKSTATION`` as a modality at the port of our
C-MOVE storage SCP.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC_BINARY = shutil.which("Orthanc") or (
    "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None
)
DICOMWEB_PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
ORTHANC_AET = "ORTHANC"
OUR_AET = "WORKSTATION"


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin shared library of the Debian package, if installed."""
    for folder in DICOMWEB_PLUGIN_DIRS:
        for candidate in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return candidate
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OrthancServer:
    """A running Orthanc: its ports, URLs and REST helpers."""

    folder: Path
    http_port: int
    dicom_port: int
    move_port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def dimse_node(self) -> str:
        return f"{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    def clear(self) -> None:
        """Delete every patient (tests start from an empty server)."""
        for patient in requests.get(f"{self.url}/patients", timeout=30).json():
            requests.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()

    def instance_count(self) -> int:
        """Instances stored."""
        answer = requests.get(f"{self.url}/statistics", timeout=30)
        answer.raise_for_status()
        return int(answer.json()["CountInstances"])

    def upload(self, files: list[Path]) -> None:
        """Store files through the REST API (independent of the code under test)."""
        for path in files:
            answer = requests.post(f"{self.url}/instances", data=path.read_bytes(), timeout=30)
            answer.raise_for_status()

    def instances_of_study(self, study_uid: str) -> list[dict]:
        found = requests.post(
            f"{self.url}/tools/find",
            json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True},
            timeout=30,
        )
        found.raise_for_status()
        return list(found.json())

    def file_of(self, instance_id: str) -> bytes:
        answer = requests.get(f"{self.url}/instances/{instance_id}/file", timeout=30)
        answer.raise_for_status()
        return answer.content


def _config(folder: Path, http_port: int, dicom_port: int, move_port: int, plugin: Path | None) -> dict:
    return {
        "Name": "workstation-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "StorageCompression": False,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "SslEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": ORTHANC_AET,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        "DicomCheckModalityHost": False,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "UnknownSopClassAccepted": False,
        "DicomScpTimeout": 30,
        "DicomAssociationCloseDelay": 0,
        "DicomModalities": {
            "workstation": {
                "AET": OUR_AET,
                "Host": "127.0.0.1",
                "Port": move_port,
                "AllowEcho": True,
                "AllowFind": True,
                "AllowGet": True,
                "AllowMove": True,
                "AllowStore": True,
            }
        },
        "ConcurrentJobs": 2,
        "SaveJobs": False,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
        "Plugins": [str(plugin)] if plugin is not None else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False},
    }


@contextlib.contextmanager
def run_orthanc(folder: Path, startup_timeout_s: float = 60.0) -> Iterator[OrthancServer]:
    """Start Orthanc in ``folder`` and stop it afterwards."""
    assert ORTHANC_BINARY is not None
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port, move_port = free_port(), free_port(), free_port()
    while len({http_port, dicom_port, move_port}) < 3:
        move_port = free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(_config(folder, http_port, dicom_port, move_port, dicomweb_plugin()), indent=2))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([ORTHANC_BINARY, str(config)], stdout=log, stderr=subprocess.STDOUT)
    server = OrthancServer(folder, http_port, dicom_port, move_port, process)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {process.returncode}: "
                    + (folder / "orthanc.log").read_text(errors="replace")[-2000:]
                )
            try:
                if requests.get(f"{server.url}/system", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start within {startup_timeout_s:g} s.")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()
