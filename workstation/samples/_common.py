"""What every sample study writes alike: the generator version, NIfTI ground truth, truth.json, grid facts."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.io.formats import write_image

#: Version of the sample generator: names the user-cache folder (``sample_data-v<N>``), written in truth.json.
GENERATOR_VERSION = 1


def iso(t: _dt.datetime) -> str:
    """ISO 8601 text of a date and time, as truth.json gives it."""
    return t.isoformat()


def write_nifti(array: np.ndarray, affine: np.ndarray, path: Path, units: Unit = Unit.LABEL) -> str:
    """Write a ground-truth map as NIfTI (booleans as uint8 labels); return the file name."""
    arr = array.astype(np.uint8) if array.dtype == bool else array
    write_image(Volume(arr, affine, units=units), path)
    return path.name


def grid_info(affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, Any]:
    """Size, spacing and origin of an axis-aligned grid, as truth.json gives them (x, y, z order)."""
    return {
        "size_xyz": [int(s) for s in shape[::-1]],
        "spacing_xyz_mm": [float(s) for s in np.linalg.norm(affine[:3, :3], axis=0)[::-1]],
        "origin_lps_mm": [float(v) for v in affine[:3, 3]],
        "direction": "identity (rows +y posterior, columns +x left, slices +z superior)",
    }


def save_truth(truth: dict[str, Any], path: Path) -> None:
    """Write truth.json (2-space indent, keys in insertion order, final newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")


