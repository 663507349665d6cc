"""Synthetic phantoms for the dosimetry tests (fixed seeds, analytic geometry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry


def make_volume(
    array: np.ndarray,
    spacing_zyx: tuple[float, float, float] = (4.0, 4.0, 4.0),
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    units: Unit = Unit.BQML,
    **kwargs: object,
) -> Volume:
    return Volume(np.asarray(array), affine_from_geometry(origin, spacing_zyx), units=units, **kwargs)  # type: ignore[arg-type]


def sphere_mask(shape: tuple[int, int, int], centre: tuple[float, float, float], radius_vox: float) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    return ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= radius_vox**2


@pytest.fixture
def volume_factory() -> Callable[..., Volume]:
    return make_volume


@pytest.fixture
def liver_phantom() -> dict[str, Volume]:
    """SPECT-like counts (4 mm voxels), CT (HU, 2 mm voxels), liver with two lesions, lungs.

    Liver: a 40 mm-radius ball; lesions: 10 mm balls with 4x and 2x the liver
    concentration; lungs: a slab above the liver at -800 HU.
    """
    rng = np.random.default_rng(7)
    shape = (40, 40, 40)
    sp = (4.0, 4.0, 4.0)
    liver = sphere_mask(shape, (20, 20, 20), 10)
    les1 = sphere_mask(shape, (20, 20, 15), 2.5)
    les2 = sphere_mask(shape, (20, 25, 24), 2.5)
    counts = np.where(liver, 100.0, 0.0) + np.where(les1, 300.0, 0.0) + np.where(les2, 100.0, 0.0)
    counts = counts + rng.normal(0.0, 1.0, size=shape)  # noise with some negative voxels
    lesions = np.zeros(shape, np.uint8)
    lesions[les1] = 1
    lesions[les2] = 2
    lungs = np.zeros(shape, np.uint8)
    lungs[33:38, 8:32, 8:32] = 1
    ct_shape = (80, 80, 80)
    ct = np.full(ct_shape, 40.0, np.float32)
    ct[66:76, 16:64, 16:64] = -800.0
    return {
        "spect": make_volume(counts.astype(np.float32), sp, units=Unit.COUNTS),
        "ct": make_volume(ct, (2.0, 2.0, 2.0), origin=(-1.0, -1.0, -1.0), units=Unit.HU),
        "liver": make_volume(liver.astype(np.uint8), sp, units=Unit.LABEL),
        "lesions": make_volume(lesions, sp, units=Unit.LABEL),
        "lungs": make_volume(lungs, sp, units=Unit.LABEL),
    }


@pytest.fixture(scope="session")
def sirt_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample SIRT patient: the committed ``sample_data/sirt`` when complete, else generated (about 15 s)."""
    repo = Path(__file__).resolve().parents[2] / "sample_data" / "sirt"
    if (repo / "ground_truth" / "truth.json").is_file() and (repo / "spect").is_dir():
        return repo
    from workstation.samples import generate

    out = tmp_path_factory.mktemp("samples")
    generate(out, cases=["sirt"])
    return out / "sirt"
