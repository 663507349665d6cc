"""Synthetic studies for the viewer tests (fixed geometry, analytic doses)."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry


@pytest.fixture
def study() -> dict[str, Volume]:
    """A CT (40 HU body in air), a dose cube of 60 Gy and a spherical lesion, one grid.

    Grid: 24 slices × 64 rows × 80 columns, spacing (z, y, x) = (3.0, 1.5, 1.25) mm,
    origin (-50, -40, 100) mm LPS; axis-aligned, so the layer has scale/translate.
    """
    shape = (24, 64, 80)
    affine = affine_from_geometry([-50.0, -40.0, 100.0], [3.0, 1.5, 1.25])
    ct = np.full(shape, -1000, dtype=np.int16)
    ct[:, 8:56, 8:72] = 40
    dose = np.zeros(shape, dtype=np.float32)
    dose[6:18, 20:40, 30:50] = 60.0
    zz, yy, xx = np.indices(shape)
    lesion = (((zz - 12) * 3.0) ** 2 + ((yy - 30) * 1.5) ** 2 + ((xx - 40) * 1.25) ** 2 <= 12.0**2)
    uid = "1.2.826.0.1.3680043.8.498.1"
    return {
        "ct": Volume(ct, affine, frame_of_reference_uid=uid, modality="CT", units=Unit.HU),
        "dose": Volume(dose, affine, frame_of_reference_uid=uid, modality="RTDOSE", units=Unit.GY),
        "lesion": Volume(
            lesion.astype(np.uint8), affine, frame_of_reference_uid=uid, units=Unit.LABEL,
            label_names={1: "lesion"},
        ),
    }


@pytest.fixture
def study_files(study: dict[str, Volume], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The study written as NIfTI files."""
    from workstation.io import write_image

    folder = tmp_path_factory.mktemp("study")
    out = {}
    for name, vol in study.items():
        path = folder / f"{name}.nii.gz"
        write_image(vol, path)
        out[name] = str(path)
    return out
