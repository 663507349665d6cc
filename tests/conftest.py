"""Shared fixtures: synthetic volumes with fixed seeds and known geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


@pytest.fixture
def oblique_direction() -> np.ndarray:
    """Columns: LPS unit vectors of array axes (z, y, x) of a rotated, right-handed grid."""
    a, b = np.deg2rad(20.0), np.deg2rad(-10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    r = rz @ rx  # columns: x, y, z axis directions
    return r[:, ::-1]


@pytest.fixture
def ct_volume(rng: np.random.Generator) -> Volume:
    """A small anisotropic CT-like volume (HU)."""
    arr = rng.normal(40.0, 10.0, size=(12, 20, 24)).astype(np.float32)
    affine = affine_from_geometry([-50.0, -80.0, 120.0], [2.5, 0.8, 0.7])
    return Volume(arr, affine, frame_of_reference_uid="1.2.3.4", modality="CT", units=Unit.HU)


#: ``../shared`` beside the repository (CI and developers' machines have it; a
#: user's fresh clone does not), or the folder named by WORKSTATION_SHARED.
SHARED_DIR = Path(os.environ.get("WORKSTATION_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))


@pytest.fixture
def shared_real() -> Path:
    """``shared/real``: public real scans; the test is skipped when the folder is absent."""
    real = SHARED_DIR / "real"
    if not real.is_dir():
        pytest.skip(f"{real} is absent: the real scans live beside the repository, not in it")
    return real
