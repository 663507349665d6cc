"""Is a regenerated sample study the committed one? Equality that holds on any machine.

Byte identity of computed floating-point numbers is not something code can promise
across CPUs and math-library builds (SIMD paths and fused multiply-add change the
last bits; issue 18: ``1.8213792234207034`` vs ``1.821379223420679``). What *is*
guaranteed, and compared exactly: the file list, UIDs and every text or integer
header value, integer-valued label images away from their boundaries. What is
computed in floating point is compared with a tolerance stated here once:

* numbers in JSON and in ITK transform files: relative ``RTOL_NUMBER`` (1e-8),
  absolute ``ATOL_NUMBER`` (1e-12) for values that are zero in one copy. Float64
  noise is ~1e-16 relative; a real change of the truth (1e-6 relative or more)
  still fails by two orders of magnitude.
* DICOM decimal strings (DS): the generator prints 10 significant digits, so a
  last-bit change of the value can move the last printed digit: relative
  ``RTOL_DECIMAL_STRING`` (1e-8).
* DICOM pixel data: real-world values (stored value x slope + intercept) within
  one quantization step of either copy: a last-bit change can move a value across
  a rounding boundary, never further.
* float images (NIfTI activity and dose maps): relative ``RTOL_IMAGE`` (1e-6) of
  the image's largest magnitude (float32 storage has 6e-8 resolution).
* label images (NIfTI masks): equal, except at most ``MAX_FLIPPED_FRACTION`` of the
  voxels, each of them on a boundary between labels in the committed copy (a
  voxel centre that lies within rounding of an analytic surface).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from scipy import ndimage

RTOL_NUMBER = 1e-8
ATOL_NUMBER = 1e-12
RTOL_DECIMAL_STRING = 1e-8
RTOL_IMAGE = 1e-6
ATOL_GEOMETRY_MM = 1e-6
MAX_FLIPPED_FRACTION = 1e-5

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL_NUMBER, abs_tol=ATOL_NUMBER)


def compare_json(a: Any, b: Any, where: str = "$") -> list[str]:
    """Differences between two parsed JSON values: structure and text exact, floats with tolerance."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in compare_json(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in compare_json(x, y, f"{where}[{i}]")]
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, int) and isinstance(b, int):
        return [] if a == b else [f"{where}: {a} != {b}"]
    return [] if _close(float(a), float(b)) else [f"{where}: {a!r} != {b!r} (beyond rel {RTOL_NUMBER:g})"]


def compare_text_numbers(a: str, b: str, where: str) -> list[str]:
    """Text files with numbers (ITK ``.tfm``): words equal, numeric words within tolerance."""
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb):
        return [f"{where}: {len(wa)} words != {len(wb)}"]
    for k, (x, y) in enumerate(zip(wa, wb, strict=True)):
        if x == y:
            continue
        if _NUMBER.match(x) and _NUMBER.match(y) and _close(float(x), float(y)):
            continue
        return [f"{where}: word {k}: {x!r} != {y!r}"]
    return []


def _compare_labels(a: np.ndarray, b: np.ndarray, where: str) -> list[str]:
    flipped = a != b
    n = int(flipped.sum())
    if n == 0:
        return []
    if n > max(1, MAX_FLIPPED_FRACTION * a.size):
        return [f"{where}: {n} label voxels differ"]
    footprint = ndimage.generate_binary_structure(a.ndim, 1)
    on_boundary = ndimage.maximum_filter(b, footprint=footprint) != ndimage.minimum_filter(b, footprint=footprint)
    if not on_boundary[flipped].all():
        return [f"{where}: a label voxel away from any boundary differs"]
    return []


def compare_images(a: Path, b: Path, where: str) -> list[str]:
    """NIfTI/MHA files: geometry within 1e-6 mm, float voxels relative to the range, labels exact."""
    ia, ib = sitk.ReadImage(str(a)), sitk.ReadImage(str(b))
    if ia.GetSize() != ib.GetSize() or ia.GetPixelID() != ib.GetPixelID():
        return [f"{where}: size or pixel type differs"]
    for name in ("GetSpacing", "GetOrigin", "GetDirection"):
        if not np.allclose(getattr(ia, name)(), getattr(ib, name)(), rtol=0, atol=ATOL_GEOMETRY_MM):
            return [f"{where}: {name[3:].lower()} differs"]
    xa, xb = sitk.GetArrayViewFromImage(ia), sitk.GetArrayViewFromImage(ib)
    if np.issubdtype(xa.dtype, np.integer):
        return _compare_labels(np.asarray(xa), np.asarray(xb), where)
    scale = float(np.nanmax(np.abs(xb))) if xb.size else 0.0
    same_nan = np.array_equal(np.isnan(xa), np.isnan(xb))
    if not same_nan or not np.allclose(xa, xb, rtol=0, atol=RTOL_IMAGE * scale, equal_nan=True):
        return [f"{where}: voxel values differ by more than {RTOL_IMAGE:g} of the range"]
    return []


def _real_world(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Pixel values in real-world units and, per voxel, one quantization step."""
    pixels = ds.pixel_array.astype(np.float64)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return pixels * slope + intercept, np.full(pixels.shape, abs(slope))


def _compare_element_values(va: Any, vb: Any, vr: str, where: str) -> list[str]:
    if vr == "DS":
        if va is None or vb is None:  # an empty Type 2 value
            return [] if va == vb else [f"{where}: {va!r} != {vb!r}"]
        xs = list(va) if isinstance(va, pydicom.multival.MultiValue) else [va]
        ys = list(vb) if isinstance(vb, pydicom.multival.MultiValue) else [vb]
        ok = len(xs) == len(ys) and all(
            math.isclose(float(x), float(y), rel_tol=RTOL_DECIMAL_STRING, abs_tol=ATOL_NUMBER)
            for x, y in zip(xs, ys, strict=True)
        )
        return [] if ok else [f"{where}: {va!r} != {vb!r}"]
    if vr in ("FD", "FL"):
        ok = np.allclose(np.atleast_1d(va), np.atleast_1d(vb), rtol=RTOL_NUMBER, atol=ATOL_NUMBER)
        return [] if ok else [f"{where}: {va!r} != {vb!r}"]
    return [] if va == vb else [f"{where}: {va!r} != {vb!r}"]


def _compare_datasets(a: Dataset, b: Dataset, where: str) -> list[str]:
    tags_a, tags_b = [e.tag for e in a], [e.tag for e in b]
    if tags_a != tags_b:
        return [f"{where}: elements {sorted(set(tags_a) ^ set(tags_b))} present in one copy only"]
    diffs: list[str] = []
    for ea in a:
        eb = b[ea.tag]
        here = f"{where}/{ea.keyword or ea.tag}"
        if ea.VR != eb.VR:
            diffs.append(f"{here}: VR {ea.VR} != {eb.VR}")
        elif ea.tag == 0x7FE00010:  # Pixel Data: compared as real-world values by the caller
            continue
        elif ea.VR == "SQ":
            if len(ea.value) != len(eb.value):
                diffs.append(f"{here}: {len(ea.value)} items != {len(eb.value)}")
            else:
                for k, (ia, ib) in enumerate(zip(ea.value, eb.value, strict=True)):
                    diffs += _compare_datasets(ia, ib, f"{here}[{k}]")
        else:
            diffs += _compare_element_values(ea.value, eb.value, ea.VR, here)
    return diffs


def compare_dicom(a: Path, b: Path, where: str) -> list[str]:
    """Headers element by element (numbers with tolerance); pixels within one quantization step."""
    da, db = pydicom.dcmread(a), pydicom.dcmread(b)
    diffs = _compare_datasets(da.file_meta, db.file_meta, f"{where}[meta]") + _compare_datasets(da, db, where)
    if diffs or "PixelData" not in da:
        return diffs
    xa, step_a = _real_world(da)
    xb, step_b = _real_world(db)
    tolerance = np.maximum(step_a, step_b) * (1 + 1e-9)
    if xa.shape != xb.shape or np.any(np.abs(xa - xb) > tolerance):
        return [f"{where}: pixel values differ by more than one quantization step"]
    return []


def compare_files(a: Path, b: Path, where: str) -> list[str]:
    """Compare one file of a regenerated study with the committed one, by its kind."""
    name = a.name.lower()
    if name.endswith(".json"):
        return compare_json(json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8")), where)
    if name.endswith(".tfm"):
        return compare_text_numbers(a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8"), where)
    if name.endswith((".nii", ".nii.gz", ".mha", ".nrrd")):
        return compare_images(a, b, where)
    if name.endswith(".dcm"):
        return compare_dicom(a, b, where)
    return [] if a.read_bytes() == b.read_bytes() else [f"{where}: bytes differ"]


def compare_trees(generated: Path, committed: Path, files: list[Path]) -> list[str]:
    """Every difference between two copies of the listed relative paths."""
    return [d for rel in files for d in compare_files(generated / rel, committed / rel, str(rel))]
