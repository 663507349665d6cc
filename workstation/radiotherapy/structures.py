"""Structures on the evaluation grid: RT Structure Set ROIs and MASKs, their kind and tissue, per-structure EQD2 and DVHs."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workstation.core.volume import Volume
from workstation.dosimetry import cumulative_dvh
from workstation.dosimetry.radiobiology import Scheme, eqd2

__all__ = [
    "Structure", "classify", "eqd2_inside", "normal_liver", "read_structures", "structure_dvh_rows", "tissue_of",
]


_TARGET_TYPES = ("PTV", "CTV", "GTV")


_TARGET_NAME = re.compile(r"^(ptv|ctv|gtv|itv|target)", re.IGNORECASE)


_BODY_NAME = re.compile(r"^(body|external|outline|skin|patient)$", re.IGNORECASE)


@dataclass
class Structure:
    """A structure on the evaluation grid.

    Attributes
    ----------
    name:
        ROI name.
    weights:
        Fraction of each voxel inside (0..1), on the evaluation grid.
    kind:
        ``"target"``, ``"gtv"`` (a target that is gross disease), ``"liver"``,
        ``"lung"``, ``"body"`` or ``"organ"``.
    interpreted_type:
        RT ROI Interpreted Type of the structure set, when known.
    """

    name: str
    weights: np.ndarray
    kind: str
    interpreted_type: str | None = None


def classify(name: str, rt_type: str | None) -> str:
    t = (rt_type or "").upper()
    low = name.lower()
    if t == "GTV" or low.startswith("gtv"):
        return "gtv"
    if t in _TARGET_TYPES or _TARGET_NAME.match(name):
        return "target"
    if t == "EXTERNAL" or _BODY_NAME.match(name):
        return "body"
    if "liver" in low:
        return "liver"
    if "lung" in low:
        return "lung"
    return "organ"


def tissue_of(kind: str) -> str:
    return {"gtv": "tumour", "target": "tumour", "liver": "liver", "lung": "lung"}.get(kind, "late")


def read_structures(path: str | os.PathLike[str], reference: Volume) -> tuple[list[Structure], list[str]]:
    """Every contoured ROI of an RT Structure Set, rasterized on ``reference`` (via :func:`workstation.io.read_mask`)."""
    import pydicom

    from workstation.core.errors import DicomError, EmptyMaskError
    from workstation.io import read_mask

    p = Path(path)
    try:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{p}: cannot be read as DICOM ({exc}).") from None
    if str(ds.get("Modality", "")).upper() != "RTSTRUCT":
        raise DicomError(f"{p}: not an RT Structure Set (Modality {ds.get('Modality', 'missing')}).")
    types = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", "") or "") or None
             for o in ds.get("RTROIObservationsSequence", []) if "ReferencedROINumber" in o}
    contoured = {int(c.ReferencedROINumber) for c in ds.get("ROIContourSequence", [])
                 if c.get("ContourSequence") and any(
                     str(i.get("ContourGeometricType", "")).upper() == "CLOSED_PLANAR" for i in c.ContourSequence)}
    out: list[Structure] = []
    warnings: list[str] = []
    for roi in ds.get("StructureSetROISequence", []):
        number, name = int(roi.ROINumber), str(roi.ROIName)
        if number not in contoured:
            warnings.append(f"ROI {name!r} of {p.name} has no closed planar contour (a point or marker): skipped.")
            continue
        try:
            mask = read_mask(f"{p}#{name}", reference=reference)
        except EmptyMaskError:
            warnings.append(f"ROI {name!r} of {p.name} has no voxel on the evaluation grid: skipped.")
            continue
        out.append(Structure(name, (np.asarray(mask.array) != 0).astype(np.float32),
                             classify(name, types.get(number)), types.get(number)))
    return out, warnings


def eqd2_inside(dose_gy: np.ndarray, weights: np.ndarray, scheme: Scheme, alpha_beta_gy: float,
                 repair_half_time_h: float = 1.5) -> np.ndarray:
    """EQD2 (Gy) with one alpha/beta, computed in the voxels of a structure (0 elsewhere)."""
    out = np.zeros(dose_gy.shape, np.float32)
    inside = weights > 0
    out[inside] = eqd2(np.clip(np.asarray(dose_gy[inside], dtype=np.float64), 0.0, None), scheme,
                       alpha_beta_gy, repair_half_time_h)
    return out


def normal_liver(structures: Sequence[Structure]) -> Structure | None:
    livers = [s for s in structures if s.kind == "liver"]
    if not livers:
        return None
    liver = livers[0]
    gtvs = [s for s in structures if s.kind == "gtv"] or [s for s in structures if s.kind == "target"]
    w = liver.weights.astype(np.float32).copy()
    for g in gtvs:
        w = np.clip(w - g.weights, 0.0, 1.0)
    return Structure(f"{liver.name} - " + "/".join(g.name for g in gtvs) if gtvs else liver.name,
                     w, "liver", liver.interpreted_type)


def structure_dvh_rows(quantity: str, name: str, arr: np.ndarray, w: np.ndarray) -> list[tuple[str, str, float, float]]:
    edges, cum = cumulative_dvh(arr, w)
    return [(quantity, name, float(e), float(c)) for e, c in zip(edges, cum, strict=True)]
