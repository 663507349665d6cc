"""RT Dose from a treatment planning system: every file of a course as one total physical dose.

Geometry and pixel scaling (``ImagePositionPatient``, ``ImageOrientationPatient``,
``PixelSpacing``, relative, decreasing or absolute ``GridFrameOffsetVector``,
``DoseGridScaling``, 16/32-bit pixels) are decoded by
:func:`workstation.io.read_rtdose`; this module decides what the numbers mean.

Dose Units (3004,0002)
    ``GY`` is read; ``RELATIVE`` (a dose relative to an implicit reference,
    PS3.3 C.8.8.3) is refused: no absolute metric, constraint or BED can come
    from it.
Dose Type (3004,0004)
    ``PHYSICAL`` is read; ``EFFECTIVE`` (already weighted by the planning
    system, e.g. RBE) is read with a warning; ``ERROR`` (a dose difference) is
    refused.
Dose Summation Type (3004,000A), PS3.3 C.8.8.3.1
    ``PLAN``, ``MULTI_PLAN``, ``PLAN_OVERVIEW``, ``FRACTION`` ("entire delivery
    of a single fraction group"), ``BEAM``, ``BRACHY`` and ``RECORD`` are doses
    of the whole delivery: they are used as they are. ``FRACTION_SESSION``,
    ``BEAM_SESSION``, ``BRACHY_SESSION`` and ``CONTROL_POINT`` are the dose of
    one session and are multiplied by the number of fractions (from the plan or
    the caller). Several files of the types ``BEAM``, ``BRACHY``, ``FRACTION``
    (one per fraction group) or their ``_SESSION`` forms are the parts of one
    course and are summed on the first file's grid; two ``PLAN`` doses are
    two alternatives and are refused (give one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import RTDoseStorage

from workstation.core.errors import DicomError, GeometryMismatchError, InvalidInputError
from workstation.core.volume import Unit, Volume

__all__ = [
    "WHOLE_COURSE_SUMMATION_TYPES",
    "SESSION_SUMMATION_TYPES",
    "PlanDose",
    "find_rtdose_files",
    "read_plan_dose",
]


#: Summation types whose dose covers the whole delivery (PS3.3 C.8.8.3.1).
WHOLE_COURSE_SUMMATION_TYPES: tuple[str, ...] = (
    "PLAN", "MULTI_PLAN", "PLAN_OVERVIEW", "FRACTION", "BEAM", "BRACHY", "RECORD",
)
#: Summation types whose dose is that of one session (fraction).
SESSION_SUMMATION_TYPES: tuple[str, ...] = (
    "FRACTION_SESSION", "BEAM_SESSION", "BRACHY_SESSION", "CONTROL_POINT",
)
#: Types whose several files are parts of one delivery and add up.
_ADDITIVE = ("BEAM", "BRACHY", "FRACTION", "FRACTION_SESSION", "BEAM_SESSION", "BRACHY_SESSION",
             "CONTROL_POINT")


@dataclass
class PlanDose:
    """The total physical dose of one course, as read from one or more RT Dose files.

    Attributes
    ----------
    dose:
        Total absorbed dose (Gy) over all fractions, on the first file's grid.
    summation_type:
        The files' Dose Summation Type.
    dose_type:
        ``PHYSICAL`` or ``EFFECTIVE``.
    files:
        The RT Dose files used.
    per_session:
        True when the files held one session's dose (multiplied by ``fractions_applied``).
    fractions_applied:
        The factor the session dose was multiplied by (1 for whole-course doses).
    referenced_plan_uids:
        SOP Instance UIDs of the RT Plans the files reference.
    warnings:
        Sentences for results.json and the report.
    """

    dose: Volume
    summation_type: str
    dose_type: str
    files: list[Path]
    per_session: bool = False
    fractions_applied: int = 1
    referenced_plan_uids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": [str(p) for p in self.files],
            "summation_type": self.summation_type,
            "dose_type": self.dose_type,
            "per_session": self.per_session,
            "fractions_applied": self.fractions_applied,
            "referenced_plan_uids": self.referenced_plan_uids,
            "grid": {"shape": list(self.dose.shape), "spacing_mm": [float(s) for s in self.dose.spacing_mm],
                     "origin_lps_mm": [float(v) for v in self.dose.origin_mm]},
            "max_gy": float(np.max(self.dose.array)),
        }


def _header(path: Path) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
        raise DicomError(f"{path}: cannot be read as DICOM ({exc}).") from None


def find_rtdose_files(path: str | os.PathLike[str]) -> list[Path]:
    """The RT Dose files of a file or a folder (searched recursively), sorted by name."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"{p}: no such file or folder.")
    if p.is_file():
        return [p]
    import pydicom

    found = []
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        except Exception:  # noqa: BLE001 - not DICOM: skip
            continue
        if str(getattr(ds, "SOPClassUID", "")) == RTDoseStorage:
            found.append(f)
    if not found:
        raise InvalidInputError(f"{p}: no RT Dose file in this folder.")
    return found


def _check_header(path: Path, ds: Any) -> tuple[str, str]:
    """(summation type, dose type) after refusing what cannot be used."""
    sop = str(getattr(ds, "SOPClassUID", "") or "missing")
    if sop != RTDoseStorage:
        raise DicomError(f"{path}: not an RT Dose file (SOP Class UID {sop}).")
    units = str(ds.get("DoseUnits", "") or "").strip().upper()
    if units == "RELATIVE":
        raise InvalidInputError(
            f"{path}: the dose is RELATIVE (Dose Units), not in gray; export the absolute dose (GY) "
            "from the planning system."
        )
    if units != "GY":
        raise DicomError(f"{path}: Dose Units {units or 'missing'!r} is not GY.")
    dose_type = str(ds.get("DoseType", "") or "").strip().upper() or "PHYSICAL"
    if dose_type == "ERROR":
        raise InvalidInputError(f"{path}: Dose Type ERROR is a dose difference, not a dose; it cannot be evaluated.")
    if dose_type not in ("PHYSICAL", "EFFECTIVE"):
        raise DicomError(f"{path}: unknown Dose Type {dose_type!r} (PHYSICAL, EFFECTIVE or ERROR).")
    if "PixelData" not in ds and "GridFrameOffsetVector" not in ds:
        raise InvalidInputError(
            f"{path}: this RT Dose holds no dose grid (DVH or point doses only); export the 3D dose."
        )
    summation = str(ds.get("DoseSummationType", "") or "").strip().upper()
    if summation not in WHOLE_COURSE_SUMMATION_TYPES + SESSION_SUMMATION_TYPES:
        raise DicomError(f"{path}: unknown Dose Summation Type {summation or 'missing'!r}.")
    return summation, dose_type


def _plan_uids(ds: Any) -> list[str]:
    return [str(item.get("ReferencedSOPInstanceUID", "")) for item in ds.get("ReferencedRTPlanSequence", [])
            if item.get("ReferencedSOPInstanceUID")]


def read_plan_dose(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fractions: int | None = None,
) -> PlanDose:
    """Read the RT Dose file(s) of one course as the total physical dose (Gy).

    Parameters
    ----------
    paths:
        One RT Dose file, a folder of them, or a list of files.
    fractions:
        Number of fractions; needed (from the RT Plan or the user) only when
        the files hold one session's dose (``*_SESSION``, ``CONTROL_POINT``).

    Raises
    ------
    InvalidInputError
        Relative or error doses, no dose grid, mixed summation types, two
        alternative plan doses, a session dose without a number of fractions.
    GeometryMismatchError
        Files in different frames of reference.
    """
    from workstation.io import read_rtdose

    if isinstance(paths, str | os.PathLike):
        files = find_rtdose_files(paths)
    else:
        files = [f for p in paths for f in find_rtdose_files(p)]
    if not files:
        raise InvalidInputError("No RT Dose file was given.")
    headers = [_header(f) for f in files]
    kinds = [_check_header(f, ds) for f, ds in zip(files, headers, strict=True)]
    summations = {k[0] for k in kinds}
    if len(summations) > 1:
        raise InvalidInputError(
            "The RT Dose files mix Dose Summation Types "
            f"({', '.join(sorted(summations))}); give the files of one kind (e.g. all BEAM doses or one PLAN dose)."
        )
    summation = kinds[0][0]
    if len(files) > 1 and summation not in _ADDITIVE:
        raise InvalidInputError(
            f"{len(files)} RT Dose files of type {summation} are alternatives, not parts of one course; "
            f"give one of them ({', '.join(f.name for f in files)})."
        )
    frames = {str(ds.get("FrameOfReferenceUID", "") or "") for ds in headers}
    if len(frames) > 1:
        raise GeometryMismatchError(
            f"The RT Dose files are in different frames of reference ({', '.join(sorted(frames))})."
        )
    warnings: list[str] = []
    dose_types = {k[1] for k in kinds}
    dose_type = "EFFECTIVE" if "EFFECTIVE" in dose_types else "PHYSICAL"
    if dose_type == "EFFECTIVE":
        warnings.append(
            "Dose Type EFFECTIVE: the planning system already weighted this dose (e.g. by RBE); "
            "BED/EQD2 are computed from it as if it were physical."
        )
    volumes = [read_rtdose(f) for f in files]
    for f, v in zip(files, volumes, strict=True):
        if not np.all(np.isfinite(v.array)):
            raise InvalidInputError(f"{f}: the dose grid contains NaN or infinite values.")
        if float(np.min(v.array)) < 0:
            raise InvalidInputError(f"{f}: the dose grid has negative values (signed pixels).")
    total = volumes[0]
    if len(volumes) > 1:
        acc = np.asarray(total.array, dtype=np.float64).copy()
        for f, v in zip(files[1:], volumes[1:], strict=True):
            if v.same_grid(total):
                acc += v.array
            else:
                warnings.append(f"{f.name} is on another grid: resampled (trilinear) onto {files[0].name}'s grid.")
                acc += v.resample_to(total, "linear", fill_value=0.0, dtype=np.float32).array
        total = total.copy_with(array=acc.astype(np.float32))
    per_session = summation in SESSION_SUMMATION_TYPES
    factor = 1
    if per_session:
        if fractions is None:
            raise InvalidInputError(
                f"The RT Dose is the dose of one session (Dose Summation Type {summation}); give the number "
                "of fractions (--fractions) or the RT Plan (--plan)."
            )
        factor = int(fractions)
        total = total.copy_with(array=(np.asarray(total.array, dtype=np.float32) * np.float32(factor)))
    total.units = Unit.GY
    total.modality = "RTDOSE"
    total.metadata.extra["dose_summation_type"] = summation
    total.metadata.extra["dose_type"] = dose_type
    plan_uids = sorted({u for ds in headers for u in _plan_uids(ds)})
    return PlanDose(total, summation, dose_type, files, per_session, factor, plan_uids, warnings)
