"""A misbehaving Query/Retrieve SCP (pynetdicom) for the half-received-series tests.

It announces ``announced`` instances of one series in C-FIND, then answers a
C-GET by sending only ``sent`` of them (and a final status that does not say
so), or aborts the association after ``sent`` instances. A real peer on a
loopback port, not a mock: our client sees exactly what a faulty PACS sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from tests.io.mask_factory import ct_series_datasets
from tests.pacs.orthanc import free_port
from workstation.core import Unit, Volume, affine_from_geometry

AET = "FAULTY"


def series_datasets(n: int, seed: int = 5) -> list[Dataset]:
    rng = np.random.default_rng(seed)
    vol = Volume(
        rng.normal(40, 10, (n, 8, 8)).astype(np.int16),
        affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0]),
        units=Unit.HU,
    )
    return ct_series_datasets(vol)


@contextlib.contextmanager
def faulty_scp(announced: int, sent: int, abort: bool = False) -> Iterator[tuple[int, list[Dataset]]]:
    """Start the faulty SCP; yields ``(port, datasets)``."""
    from pynetdicom import AE, StoragePresentationContexts, evt
    from pynetdicom.sop_class import (
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
    )

    datasets = series_datasets(announced)
    first = datasets[0]

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        row = Dataset()
        row.QueryRetrieveLevel = "SERIES"
        row.StudyInstanceUID = first.StudyInstanceUID
        row.SeriesInstanceUID = first.SeriesInstanceUID
        row.Modality = "CT"
        row.PatientID = first.PatientID
        row.NumberOfSeriesRelatedInstances = str(announced)
        yield 0xFF00, row

    def on_get(event: Any) -> Iterator[Any]:
        yield sent
        for k, ds in enumerate(datasets[:sent]):
            if abort and k == sent - 1:
                event.assoc.abort()
                return
            yield 0xFF00, ds

    ae = AE(ae_title=AET)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for cx in StoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, scu_role=False, scp_role=True)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False,
        evt_handlers=[(evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get)],
    )
    try:
        yield port, datasets
    finally:
        server.shutdown()
