"""Fixtures of the TACE tests: small synthetic livers with analytic deposits, and the sample study."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

#: ../shared next to the repository (CI and the developers' machines), or $WORKSTATION_SHARED.
SHARED = Path(os.environ.get("WORKSTATION_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared"))


@dataclass
class LiverPhantom:
    """A cube of liver with spherical deposits; ``truth_ml`` is the analytic deposit volume."""

    ct: Volume
    liver: Volume
    truth_ml: float
    centre_lps_mm: np.ndarray
    radius_mm: float


def liver_phantom(
    rng: np.random.Generator,
    spacing_zyx_mm: tuple[float, float, float] = (2.5, 1.5, 1.5),
    shape: tuple[int, int, int] = (36, 64, 64),
    background_hu: float = 58.0,
    noise_hu: float = 12.0,
    deposit_hu: float = 350.0,
    radius_mm: float = 10.0,
    direction: np.ndarray | None = None,
) -> LiverPhantom:
    """Liver (the whole grid but a 4-voxel rim of fat) holding one ball of lipiodol.

    The ball's voxels carry the exact partial-volume fraction (8^3 sub-samples), so
    the deposit's volume is known to the sub-sampling error (< 0.5 %).
    """
    affine = affine_from_geometry([-30.0, 20.0, 60.0], spacing_zyx_mm, direction)
    vol = Volume(np.zeros(shape, np.float32), affine)
    centre_idx = (np.array(shape) - 1) / 2 + np.array([0.3, -0.2, 0.4])
    centre = vol.index_to_world(centre_idx)
    n = 8
    offs = (np.arange(n) + 0.5) / n - 0.5
    sub = np.stack(np.meshgrid(offs, offs, offs, indexing="ij"), axis=-1).reshape(-1, 3)
    idx = np.stack(np.meshgrid(*(np.arange(s) for s in shape), indexing="ij"), axis=-1).astype(float)
    sp = np.asarray(spacing_zyx_mm)
    near = np.linalg.norm((idx - centre_idx) * sp, axis=-1) < radius_mm + np.linalg.norm(sp)
    frac = np.zeros(shape, np.float32)
    pts = idx[near][:, None, :] + sub[None]
    world = vol.index_to_world(pts)
    frac[near] = (np.linalg.norm(world - centre, axis=-1) < radius_mm).mean(axis=1)
    liver = np.zeros(shape, bool)
    liver[2:-2, 4:-4, 4:-4] = True
    hu = np.where(liver, background_hu, -100.0).astype(np.float32)
    from scipy import ndimage

    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    hu += (4.0 * texture / texture.std()).astype(np.float32)
    hu += frac * deposit_hu
    hu += rng.normal(0.0, noise_hu, shape).astype(np.float32)
    ct = Volume(hu, affine, modality="CT", units=Unit.HU, frame_of_reference_uid="1.2.3")
    liver_vol = ct.copy_with(array=liver.astype(np.uint8), units=Unit.LABEL, label_names={1: "liver"}, modality=None)
    truth = float(frac.sum() * ct.voxel_volume_ml)
    return LiverPhantom(ct, liver_vol, truth, centre, radius_mm)


@pytest.fixture(scope="session")
def tace_sample() -> Path:
    from workstation.samples import sample_data_dir

    return sample_data_dir() / "tace"


@pytest.fixture(scope="session")
def tace_truth(tace_sample: Path) -> dict:
    return json.loads((tace_sample / "ground_truth" / "truth.json").read_text(encoding="utf-8"))
