"""The ``combine`` workflow: several treatments (SIRT, SBRT, HDR) summed in EQD2 on one CT grid."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import GeometryMismatchError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.radiobiology import (
    RADIOBIOLOGY_SOURCES,
    TISSUES,
    Scheme,
    TreatmentDose,
    eqd2_sum,
    tissue,
)
from workstation.radiotherapy._outputs import ReportRenderer, write_common_outputs
from workstation.radiotherapy.coverage import structure_metrics
from workstation.radiotherapy.dose_import import read_plan_dose
from workstation.radiotherapy.structures import (
    Structure,
    classify,
    eqd2_inside,
    normal_liver,
    read_structures,
    structure_dvh_rows,
    tissue_of,
)

__all__ = ["CombineResult", "parse_dose_spec", "run_combine", "write_combine_outputs"]


# ------------------------------------------------------------------ combine
def parse_dose_spec(spec: str) -> tuple[str, str, Scheme]:
    """``NAME=IMG:SCHEME`` → (name, image path, scheme); SCHEME is ``kind:arg``."""
    name, eq, rest = str(spec).partition("=")
    parts = rest.rsplit(":", 2)
    if not eq or not name.strip() or len(parts) != 3 or not parts[0]:
        raise InvalidInputError(
            f"Invalid --dose {spec!r}: use NAME=IMG:SCHEME, e.g. sbrt=plan/RD.dcm:ebrt:3 or sirt=dose_vsv.nii.gz:sirt:Y-90."
        )
    return name.strip(), parts[0], Scheme.parse(f"{parts[1]}:{parts[2]}")


@dataclass
class CombineResult:
    results: dict[str, Any]
    total: Volume
    parts: dict[str, Volume]
    physical: dict[str, Volume]
    structures: list[Structure]
    dvh_rows: list[tuple[str, str, float, float]]
    ct: Volume


def _read_any_dose(path: str, fractions: int | None) -> Volume:
    from workstation.io import read_image

    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".dcm":
        import pydicom
        from pydicom.uid import RTDoseStorage

        try:
            sop = str(pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"]).SOPClassUID)
        except Exception:  # noqa: BLE001 - read_image reports it
            sop = ""
        if sop == RTDoseStorage:
            return read_plan_dose(p, fractions=fractions).dose
    vol = read_image(p, units="Gy")
    if vol.units not in (Unit.GY, Unit.UNKNOWN):
        raise InvalidInputError(f"{p}: not a dose in Gy ({vol.units.value}).")
    vol.units = Unit.GY
    return vol


def run_combine(
    doses: Sequence[str],
    ct: Volume,
    transforms: Mapping[str, str] | None = None,
    structures: str | os.PathLike[str] | None = None,
    rois: Mapping[str, str] | None = None,
    alpha_beta_gy: Mapping[str, float] | None = None,
    repair_half_time_h: Mapping[str, float] | None = None,
    default_tissue: str = "late",
) -> CombineResult:
    """Sum treatments in EQD2 on the CT grid (``workstation combine``).

    Parameters
    ----------
    doses:
        ``NAME=IMG:SCHEME`` specifications.
    ct:
        Grid of the sum.
    transforms:
        ``NAME -> transform file`` (SimpleITK, CT space → that dose's space).
    structures, rois:
        Structures whose α/β is used inside them, and which are evaluated.
    """
    import SimpleITK as sitk

    from workstation.io import read_mask

    specs = [parse_dose_spec(s) for s in doses]
    names = [s[0] for s in specs]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"Two --dose share a name ({', '.join(names)}).")
    unknown = set(transforms or {}) - set(names)
    if unknown:
        raise InvalidInputError(f"--transform names {', '.join(sorted(unknown))}, which no --dose has.")
    treatments = []
    for name, path, scheme in specs:
        vol = _read_any_dose(path, scheme.fractions)
        tfm = None
        if transforms and name in transforms:
            try:
                tfm = sitk.ReadTransform(str(transforms[name]))
            except RuntimeError as exc:
                raise InvalidInputError(f"{transforms[name]}: not a readable transform ({str(exc).splitlines()[0]}).") from None
        elif (vol.frame_of_reference_uid and ct.frame_of_reference_uid
              and vol.frame_of_reference_uid != ct.frame_of_reference_uid):
            raise GeometryMismatchError(
                f"The dose {name!r} ({path}) is in another frame of reference than the CT; give --transform {name}=T.tfm."
            )
        treatments.append(TreatmentDose(name, vol, scheme, tfm))
    structs: list[Structure] = []
    warnings: list[str] = []
    if structures is not None:
        found, found_warnings = read_structures(structures, ct)
        structs += found
        warnings += found_warnings
    for name, spec in (rois or {}).items():
        mask = read_mask(spec, reference=ct)
        structs.append(Structure(name, (np.asarray(mask.array) != 0).astype(np.float32), classify(name, None)))
    ordered = sorted((s for s in structs if s.kind != "body"), key=lambda s: s.kind in ("target", "gtv"))
    ab = {s.name: float((alpha_beta_gy or {}).get(s.name, tissue(tissue_of(s.kind)).alpha_beta_gy)) for s in ordered}
    trep = {s.name: float((repair_half_time_h or {}).get(s.name, tissue(tissue_of(s.kind)).repair_half_time_h))
            for s in ordered}
    weights = {s.name: s.weights for s in ordered}
    total, parts = eqd2_sum(treatments, ct, ab, trep, weights, default_tissue)
    physical: dict[str, Volume] = {}
    for t in treatments:
        assert t.physical_on_reference is not None  # set by eqd2_sum
        physical[t.name] = t.physical_on_reference
    voxel_ml = ct.voxel_volume_ml
    rois_out: dict[str, Any] = {}
    dvh_rows: list[tuple[str, str, float, float]] = []
    normal = normal_liver(structs)
    evaluated = list(structs) + ([normal] if normal is not None and normal.name not in weights else [])
    for s in evaluated:
        if s.kind == "body" or not np.any(s.weights > 0):
            continue
        # each structure in its own alpha/beta and repair half-time in all its voxels (the maps
        # written show one value per voxel, targets winning where structures overlap)
        t_own = tissue(tissue_of(s.kind))
        ab.setdefault(s.name, float((alpha_beta_gy or {}).get(s.name, t_own.alpha_beta_gy)))
        trep.setdefault(s.name, float((repair_half_time_h or {}).get(s.name, t_own.repair_half_time_h)))
        own = {t.name: eqd2_inside(np.asarray(physical[t.name].array), s.weights, t.scheme, ab[s.name],
                                    trep[s.name]) for t in treatments}
        own_total = np.sum(list(own.values()), axis=0)
        entry: dict[str, Any] = {"kind": s.kind, "alpha_beta_gy": ab[s.name]}
        entry["total"] = structure_metrics(own_total, s.weights, voxel_ml, name=s.name)
        for t in treatments:
            entry[t.name] = structure_metrics(own[t.name], s.weights, voxel_ml, name=s.name)
            entry[t.name]["physical_mean_gy"] = float(
                np.sum(s.weights * physical[t.name].array) / np.sum(s.weights))
        rois_out[s.name] = entry
        dvh_rows += structure_dvh_rows("eqd2_total", s.name, own_total, s.weights)
        for t in treatments:
            dvh_rows += structure_dvh_rows(f"eqd2_{t.name}", s.name, own[t.name], s.weights)
    from workstation import __version__

    results = {
        "workstation_version": __version__,
        "treatments": [{"name": t.name, "file": p, "scheme": t.scheme.as_dict(), "transform": bool(t.transform)}
                       for t, (_, p, _) in zip(treatments, specs, strict=True)],
        "rois": rois_out,
        "eqd2_total_max_gy": float(np.max(total.array)),
        "radiobiology": {"alpha_beta_gy": ab, "repair_half_time_h": trep,
                         "default_tissue": {"name": tissue(default_tissue).name, **tissue(default_tissue).as_dict()},
                         "tissues": {k: v.as_dict() for k, v in TISSUES.items()},
                         "sources": list(RADIOBIOLOGY_SOURCES)},
        "grid": {"shape": list(ct.shape), "spacing_mm": [float(v) for v in ct.spacing_mm],
                 "interpolation": "trilinear in patient space"},
        "warnings": warnings,
    }
    return CombineResult(results, total, {t.name: p for t, p in zip(treatments, parts, strict=True)},
                         physical, structs, dvh_rows, ct)


def write_combine_outputs(
    result: CombineResult,
    out_dir: str | os.PathLike[str],
    inputs: list[dict[str, Any]] | None = None,
    report_renderer: ReportRenderer | None = None,
) -> list[Path]:
    """Write eqd2_total.nii.gz, eqd2_<name>.nii.gz, dvh.csv, results.json, report; atomically."""
    from workstation.io import atomic_directory, write_image

    out = Path(out_dir)
    written: list[Path] = []
    with atomic_directory(out) as tmp:
        write_image(result.total, tmp / "eqd2_total.nii.gz")
        written.append(out / "eqd2_total.nii.gz")
        for name, part in result.parts.items():
            write_image(part, tmp / f"eqd2_{name}.nii.gz")
            written.append(out / f"eqd2_{name}.nii.gz")
        write_common_outputs(tmp, out, written, result, "EQD2 sum", inputs, report_renderer)
    return written
