"""The ``rt-dose`` and ``combine`` workflows: import, put on one grid, evaluate, write.

``run_rt_dose`` reads a planning system's RT Dose (and optionally RT Plan, RT
Structure Set, more ``MASK`` ROIs and the CT), puts the dose on the CT grid
(trilinear in patient space, through a registration transform when given),
and computes per-structure coverage (D98/D95/D50/D2, mean, V100/V95; D100/D90,
V150/V200 for brachytherapy), Paddick conformity and gradient index, the
normal-liver constraints and the EQD2 map with each structure's α/β.

``run_combine`` sums several treatments (SIRT, SBRT, HDR) in EQD2 on one CT
grid.

:func:`dose_layers` gives the viewer every dose of an output folder as Volumes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import GeometryMismatchError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry import cumulative_dvh
from workstation.dosimetry.radiobiology import (
    RADIOBIOLOGY_SOURCES,
    TISSUES,
    Scheme,
    TreatmentDose,
    eqd2,
    eqd2_sum,
    eqd2_volume,
    tissue,
)
from workstation.radiotherapy.constants import constants_block
from workstation.radiotherapy.constraints import liver_constraints
from workstation.radiotherapy.coverage import conformity, structure_metrics
from workstation.radiotherapy.dose_import import PlanDose, read_plan_dose
from workstation.radiotherapy.plan import PlanSummary, read_rtplan

__all__ = [
    "Structure",
    "RtDoseResult",
    "CombineResult",
    "read_structures",
    "run_rt_dose",
    "write_rt_dose_outputs",
    "run_combine",
    "write_combine_outputs",
    "dose_layers",
    "parse_dose_spec",
]

_TARGET_TYPES = ("PTV", "CTV", "GTV")
_TARGET_NAME = re.compile(r"^(ptv|ctv|gtv|itv|target)", re.IGNORECASE)
_BODY_NAME = re.compile(r"^(body|external|outline|skin|patient)$", re.IGNORECASE)
#: A structure whose volume outside the dose grid exceeds this fraction gets a warning.
_OUTSIDE_GRID_FRACTION = 0.001

ReportRenderer = Callable[[Any, list[dict[str, Any]]], tuple[str, bytes | None]]


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


def _classify(name: str, rt_type: str | None) -> str:
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


def _tissue_of(kind: str) -> str:
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
                             _classify(name, types.get(number)), types.get(number)))
    return out, warnings


@dataclass
class RtDoseResult:
    """Everything ``write_rt_dose_outputs`` and the report need."""

    results: dict[str, Any]
    dose: Volume
    eqd2: Volume | None
    structures: list[Structure]
    dvh_rows: list[tuple[str, str, float, float]]
    ct: Volume | None
    plan_dose: PlanDose
    plan: PlanSummary | None
    figures_slice: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _outside_fraction(weights: np.ndarray, dose: Volume, reference: Volume) -> float:
    """Fraction of a structure (weights on ``reference``) outside the dose grid's extent."""
    sel = weights > 0
    if not np.any(sel):
        return 0.0
    idx = np.argwhere(sel)
    pts = reference.index_to_world(idx)
    k = dose.world_to_index(pts)
    upper = np.array(dose.shape) - 0.5
    outside = np.any((k < -0.5) | (k > upper), axis=1)
    return float(np.sum(weights[sel][outside]) / np.sum(weights[sel]))


def _eqd2_inside(dose_gy: np.ndarray, weights: np.ndarray, scheme: Scheme, alpha_beta_gy: float,
                 repair_half_time_h: float = 1.5) -> np.ndarray:
    """EQD2 (Gy) with one alpha/beta, computed in the voxels of a structure (0 elsewhere)."""
    out = np.zeros(dose_gy.shape, np.float32)
    inside = weights > 0
    out[inside] = eqd2(np.clip(np.asarray(dose_gy[inside], dtype=np.float64), 0.0, None), scheme,
                       alpha_beta_gy, repair_half_time_h)
    return out


def _normal_liver(structures: Sequence[Structure]) -> Structure | None:
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


def _primary_target(structures: Sequence[Structure], brachy: bool) -> Structure | None:
    targets = [s for s in structures if s.kind in ("target", "gtv")]
    if not targets:
        return None
    order = ("CTV", "GTV", "PTV") if brachy else ("PTV", "CTV", "GTV")
    for prefix in order:
        for s in targets:
            if (s.interpreted_type or "").upper() == prefix or s.name.upper().startswith(prefix):
                return s
    return targets[0]


def _dvh_rows(quantity: str, name: str, arr: np.ndarray, w: np.ndarray) -> list[tuple[str, str, float, float]]:
    edges, cum = cumulative_dvh(arr, w)
    return [(quantity, name, float(e), float(c)) for e, c in zip(edges, cum, strict=True)]


def run_rt_dose(
    dose: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    plan: str | os.PathLike[str] | None = None,
    structures: str | os.PathLike[str] | None = None,
    rois: Mapping[str, str] | None = None,
    ct: Volume | None = None,
    prescription_gy: float | None = None,
    fractions: int | None = None,
    transform: Any | None = None,
    alpha_beta_gy: Mapping[str, float] | None = None,
    repair_half_time_h: Mapping[str, float] | None = None,
    default_tissue: str = "late",
) -> RtDoseResult:
    """Evaluate a planning system's dose (see the module docstring).

    Parameters
    ----------
    dose:
        RT Dose file(s) or a folder of them (see :func:`.dose_import.read_plan_dose`).
    plan:
        RT Plan (fractions, prescription, brachytherapy totals).
    structures:
        RT Structure Set; every contoured ROI is evaluated.
    rois:
        More structures as ``name -> MASK`` (CLI ``--roi NAME=MASK``).
    ct:
        The evaluation grid (the dose is resampled onto it); without it the dose grid.
    prescription_gy, fractions:
        Override the plan's (total prescription in Gy; number of fractions).
    transform:
        SimpleITK transform from the CT's space to the dose's (``workstation register``
        convention), for a dose in another frame of reference.
    alpha_beta_gy, repair_half_time_h:
        Per-structure overrides of the LQ parameters (by ROI name).
    default_tissue:
        Tissue of the voxels outside every structure (and of organs without a known tissue).
    """
    from workstation.io import read_mask

    plan_summary = read_rtplan(plan) if plan is not None else None
    n_fx = fractions if fractions is not None else (plan_summary.fractions if plan_summary else None)
    if n_fx is not None and (int(n_fx) != n_fx or n_fx < 1):
        raise InvalidInputError(f"--fractions must be a positive integer, got {n_fx}.")
    plan_dose = read_plan_dose(dose, fractions=n_fx)
    warnings = list(plan_dose.warnings)
    if plan_summary is not None:
        warnings += plan_summary.warnings
        if plan_dose.referenced_plan_uids and plan_summary.sop_instance_uid not in plan_dose.referenced_plan_uids:
            warnings.append(f"The RT Dose references another RT Plan than {plan_summary.path.name}.")
    physical = plan_dose.dose
    reference = ct if ct is not None else physical
    if ct is not None:
        if (transform is None and ct.frame_of_reference_uid and physical.frame_of_reference_uid
                and ct.frame_of_reference_uid != physical.frame_of_reference_uid):
            raise GeometryMismatchError(
                f"The RT Dose (frame of reference {physical.frame_of_reference_uid}) and the CT "
                f"({ct.frame_of_reference_uid}) are in different frames of reference; register them and give "
                "the transform."
            )
        on_grid = physical.resample_to(ct, "linear", fill_value=0.0, transform=transform, dtype=np.float32)
        on_grid = on_grid.copy_with(array=np.clip(on_grid.array, 0.0, None), units=Unit.GY, modality="RTDOSE",
                                    frame_of_reference_uid=ct.frame_of_reference_uid)
        on_grid.metadata = physical.metadata
    else:
        on_grid = physical
    structs: list[Structure] = []
    if structures is not None:
        found, found_warnings = read_structures(structures, reference)
        structs += found
        warnings += found_warnings
    for name, spec in (rois or {}).items():
        mask = read_mask(spec, reference=reference)
        structs.append(Structure(name, (np.asarray(mask.array) != 0).astype(np.float32), _classify(name, None)))
    names = [s.name for s in structs]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"Two structures share a name ({', '.join(sorted(names))}); rename one with --roi.")
    is_brachy = plan_summary is not None and plan_summary.kind == "brachy"
    rx = prescription_gy if prescription_gy is not None else (plan_summary.prescription_gy if plan_summary else None)
    if rx is None:
        warnings.append("No prescription (neither --prescription-gy nor in the plan): no V100/V95 and no conformity.")
    voxel_ml = reference.voxel_volume_ml
    dose_arr = np.asarray(on_grid.array, dtype=np.float32)
    for s in structs:
        if s.kind == "body" or ct is None or transform is not None:
            continue  # a body outline always reaches beyond a dose grid cropped to the treated region
        frac = _outside_fraction(s.weights, physical, reference)
        if frac > _OUTSIDE_GRID_FRACTION:
            warnings.append(f"{100 * frac:.1f} % of {s.name} lies outside the dose grid; its dose there is taken as 0 Gy.")
    # Radiobiology: per-voxel alpha/beta from the structures (targets last, so they win).
    scheme = None
    eqd2_map = None
    ab_used: dict[str, float] = {}
    trep_used: dict[str, float] = {}
    if n_fx is None:
        warnings.append("No number of fractions (neither --fractions nor in the plan): no BED/EQD2.")
    else:
        scheme = Scheme("hdr" if is_brachy else "ebrt", fractions=int(n_fx))
        base = tissue(default_tissue)
        ab_map = np.full(reference.shape, base.alpha_beta_gy, dtype=np.float64)
        ordered = sorted(structs, key=lambda s: s.kind in ("target", "gtv"))
        for s in ordered:
            if s.kind == "body":
                continue
            t = tissue(_tissue_of(s.kind))
            ab = float((alpha_beta_gy or {}).get(s.name, t.alpha_beta_gy))
            ab_used[s.name] = ab
            trep_used[s.name] = float((repair_half_time_h or {}).get(s.name, t.repair_half_time_h))
            ab_map[s.weights > 0.5] = ab
        eqd2_map = eqd2_volume(on_grid, scheme, ab_map)
    body = next((s for s in structs if s.kind == "body"), None)
    normal = _normal_liver(structs)
    evaluated = list(structs) + ([normal] if normal is not None and normal.name not in names else [])
    rois_out: dict[str, Any] = {}
    dvh_rows: list[tuple[str, str, float, float]] = []
    for s in evaluated:
        if not np.any(s.weights > 0):
            warnings.append(f"{s.name} is empty: not evaluated.")
            continue
        is_target = s.kind in ("target", "gtv")
        # A structure's EQD2 uses its own alpha/beta in every one of its voxels (normal liver in the
        # margin of a PTV is still liver); the EQD2 map shows one value per voxel, targets winning.
        own = None
        if scheme is not None and s.kind != "body":
            t = tissue(_tissue_of(s.kind))
            ab_used.setdefault(s.name, float((alpha_beta_gy or {}).get(s.name, t.alpha_beta_gy)))
            own = _eqd2_inside(dose_arr, s.weights, scheme, ab_used[s.name])
        met = structure_metrics(dose_arr, s.weights, voxel_ml, rx if s.kind != "body" else None,
                                brachy=is_brachy and is_target,
                                eqd2_gy=own if own is not None else (None if eqd2_map is None else eqd2_map.array),
                                name=s.name)
        met["kind"] = s.kind
        met["interpreted_type"] = s.interpreted_type
        if s.name in ab_used:
            met["alpha_beta_gy"] = ab_used[s.name]
        rois_out[s.name] = met
        dvh_rows += _dvh_rows("physical", s.name, dose_arr, s.weights)
        if own is not None:
            dvh_rows += _dvh_rows("eqd2", s.name, own, s.weights)
        elif eqd2_map is not None:
            dvh_rows += _dvh_rows("eqd2", s.name, np.asarray(eqd2_map.array), s.weights)
    target = _primary_target(structs, is_brachy)
    conf: dict[str, Any] = {"paddick": None, "gradient_index": None, "target": None}
    by_target: dict[str, Any] = {}
    if rx is not None:
        for s in structs:
            if s.kind in ("target", "gtv"):
                by_target[s.name] = conformity(dose_arr, s.weights, rx, voxel_ml,
                                               None if body is None else body.weights)
        if target is not None:
            conf = {**by_target[target.name], "target": target.name}
    constraints: list[dict[str, Any]] = []
    if normal is not None and n_fx is not None:
        for c in liver_constraints(dose_arr, normal.weights, voxel_ml, int(n_fx)):
            constraints.append(c.as_dict())
            if not c.passed:
                warnings.append(f"Constraint not met: {c.description} (value {c.value:.1f} {c.unit}; {c.source}).")
    elif normal is None and structs:
        warnings.append("No liver structure: the normal-liver constraints were not evaluated.")
    if target is not None and rx is not None:
        tm = rois_out.get(target.name, {})
        v100 = tm.get("v100_percent")
        if v100 is not None and v100 < 95.0:
            warnings.append(f"{target.name}: V100 {v100:.1f} % (less than 95 % of the target receives the prescription).")
    from workstation import __version__

    results: dict[str, Any] = {
        "workstation_version": __version__,
        "kind": "brachy" if is_brachy else "external",
        "prescription_gy": rx,
        "prescription_source": ("--prescription-gy" if prescription_gy is not None
                                else (plan_summary.prescription_source if plan_summary else None)),
        "fractions": n_fx,
        "dose_per_fraction_gy": (rx / n_fx) if rx is not None and n_fx else None,
        "rois": rois_out,
        "conformity": conf,
        "conformity_by_target": by_target,
        "constraints": constraints,
        "radiobiology": {
            "scheme": scheme.as_dict() if scheme else None,
            "alpha_beta_gy": ab_used,
            "repair_half_time_h": trep_used,
            "default_tissue": {"name": tissue(default_tissue).name, **tissue(default_tissue).as_dict()},
            "tissues": {k: v.as_dict() for k, v in TISSUES.items()},
            "sources": list(RADIOBIOLOGY_SOURCES),
        },
        "dose": plan_dose.as_dict(),
        "plan": plan_summary.as_dict() if plan_summary else None,
        "grid": {"evaluated_on": "ct" if ct is not None else "dose", "shape": list(reference.shape),
                 "spacing_mm": [float(v) for v in reference.spacing_mm],
                 "interpolation": "trilinear in patient space" if ct is not None else "none",
                 "transform": transform is not None},
        "constants": constants_block(),
        "warnings": warnings,
    }
    return RtDoseResult(results, on_grid, eqd2_map, structs, dvh_rows, ct, plan_dose, plan_summary)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _clean(obj: Any) -> Any:
    """NaN/inf as None so that results.json stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _write_dvh(path: Path, rows: Sequence[tuple[str, str, float, float]], first: str = "quantity") -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([first, "roi", "dose_gy", "volume_percent"])
        for row in rows:
            w.writerow([row[0], row[1], f"{row[2]:.6g}", f"{row[3]:.6g}"])


def _render(renderer: ReportRenderer | None, result: Any, inputs: list[dict[str, Any]]) -> tuple[str, bytes | None, str]:
    if renderer is None:
        return "<!doctype html><meta charset='utf-8'><title>Dose</title><pre>" + json.dumps(
            result.results, indent=1, default=_json_default) + "</pre>", None, "minimal summary (no report renderer given)"
    try:
        html_text, pdf = renderer(result, inputs)
        return html_text, pdf, "full report"
    except Exception as exc:  # noqa: BLE001 - the results must not depend on the report
        return ("<!doctype html><meta charset='utf-8'><pre>" + json.dumps(result.results, indent=1, default=_json_default)
                + "</pre>", None, f"minimal summary: the full report failed ({type(exc).__name__}: {exc})")


def _dicom_reference(ct: Volume | None) -> Volume | None:
    return ct if ct is not None and ct.metadata.dicom_headers else None


def write_rt_dose_outputs(
    result: RtDoseResult,
    out_dir: str | os.PathLike[str],
    inputs: list[dict[str, Any]] | None = None,
    report_renderer: ReportRenderer | None = None,
) -> list[Path]:
    """Write results.json, dvh.csv, dose.nii.gz, eqd2.nii.gz (+ rtdose_eqd2.dcm), report; atomically."""
    from workstation.io import atomic_directory, write_image, write_rtdose

    out = Path(out_dir)
    written: list[Path] = []
    with atomic_directory(out) as tmp:
        write_image(result.dose, tmp / "dose.nii.gz")
        written.append(out / "dose.nii.gz")
        if result.eqd2 is not None:
            write_image(result.eqd2, tmp / "eqd2.nii.gz")
            written.append(out / "eqd2.nii.gz")
            ref = _dicom_reference(result.ct)
            if ref is not None:
                write_rtdose(result.eqd2, tmp / "rtdose_eqd2.dcm", reference=ref,
                             series_description="EQD2 (workstation rt-dose)", dose_type="EFFECTIVE",
                             dose_comment="EQD2 (LQ, per-structure alpha/beta)")
                written.append(out / "rtdose_eqd2.dcm")
        _write_dvh(tmp / "dvh.csv", result.dvh_rows)
        written.append(out / "dvh.csv")
        html_text, pdf, note = _render(report_renderer, result, list(inputs or []))
        (tmp / "report.html").write_text(html_text, encoding="utf-8")
        written.append(out / "report.html")
        if pdf is not None:
            (tmp / "report.pdf").write_bytes(pdf)
            written.append(out / "report.pdf")
        results = dict(result.results)
        results["inputs"] = list(inputs or [])
        results["outputs"] = {"files": [p.name for p in written] + ["results.json"], "report": note}
        (tmp / "results.json").write_text(
            json.dumps(_clean(results), indent=2, default=_json_default, allow_nan=False), encoding="utf-8")
        written.append(out / "results.json")
    return written


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
        structs.append(Structure(name, (np.asarray(mask.array) != 0).astype(np.float32), _classify(name, None)))
    ordered = sorted((s for s in structs if s.kind != "body"), key=lambda s: s.kind in ("target", "gtv"))
    ab = {s.name: float((alpha_beta_gy or {}).get(s.name, tissue(_tissue_of(s.kind)).alpha_beta_gy)) for s in ordered}
    trep = {s.name: float((repair_half_time_h or {}).get(s.name, tissue(_tissue_of(s.kind)).repair_half_time_h))
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
    normal = _normal_liver(structs)
    evaluated = list(structs) + ([normal] if normal is not None and normal.name not in weights else [])
    for s in evaluated:
        if s.kind == "body" or not np.any(s.weights > 0):
            continue
        # each structure in its own alpha/beta and repair half-time in all its voxels (the maps
        # written show one value per voxel, targets winning where structures overlap)
        t_own = tissue(_tissue_of(s.kind))
        ab.setdefault(s.name, float((alpha_beta_gy or {}).get(s.name, t_own.alpha_beta_gy)))
        trep.setdefault(s.name, float((repair_half_time_h or {}).get(s.name, t_own.repair_half_time_h)))
        own = {t.name: _eqd2_inside(np.asarray(physical[t.name].array), s.weights, t.scheme, ab[s.name],
                                    trep[s.name]) for t in treatments}
        own_total = np.sum(list(own.values()), axis=0)
        entry: dict[str, Any] = {"kind": s.kind, "alpha_beta_gy": ab[s.name]}
        entry["total"] = structure_metrics(own_total, s.weights, voxel_ml, name=s.name)
        for t in treatments:
            entry[t.name] = structure_metrics(own[t.name], s.weights, voxel_ml, name=s.name)
            entry[t.name]["physical_mean_gy"] = float(
                np.sum(s.weights * physical[t.name].array) / np.sum(s.weights))
        rois_out[s.name] = entry
        dvh_rows += _dvh_rows("eqd2_total", s.name, own_total, s.weights)
        for t in treatments:
            dvh_rows += _dvh_rows(f"eqd2_{t.name}", s.name, own[t.name], s.weights)
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
        _write_dvh(tmp / "dvh.csv", result.dvh_rows)
        written.append(out / "dvh.csv")
        html_text, pdf, note = _render(report_renderer, result, list(inputs or []))
        (tmp / "report.html").write_text(html_text, encoding="utf-8")
        written.append(out / "report.html")
        if pdf is not None:
            (tmp / "report.pdf").write_bytes(pdf)
            written.append(out / "report.pdf")
        results = dict(result.results)
        results["inputs"] = list(inputs or [])
        results["outputs"] = {"files": [p.name for p in written] + ["results.json"], "report": note}
        (tmp / "results.json").write_text(
            json.dumps(_clean(results), indent=2, default=_json_default, allow_nan=False), encoding="utf-8")
        written.append(out / "results.json")
    return written


def dose_layers(directory: str | os.PathLike[str]) -> dict[str, Volume]:
    """Every dose of an ``rt-dose`` or ``combine`` output folder as Volumes (Gy), for the viewer.

    Keys: ``"dose"`` (physical, rt-dose), ``"eqd2"`` (rt-dose), ``"eqd2_<name>"`` per
    treatment and ``"eqd2_total"`` (combine); all on the evaluation (CT) grid.
    """
    from workstation.io import read_image

    d = Path(directory)
    if not d.is_dir():
        raise InvalidInputError(f"{d}: not a folder of rt-dose or combine outputs.")
    out: dict[str, Volume] = {}
    for f in sorted(d.glob("*.nii.gz")):
        key = f.name[: -len(".nii.gz")]
        if key == "dose" or key.startswith("eqd2"):
            vol = read_image(f, units="Gy")
            vol.units = Unit.GY
            vol.metadata.series_description = key
            out[key] = vol
    if not out:
        raise InvalidInputError(f"{d}: no dose.nii.gz or eqd2*.nii.gz in this folder.")
    return out
