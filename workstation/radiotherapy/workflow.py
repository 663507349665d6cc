"""The ``rt-dose`` workflow: import, put on one grid, evaluate, write.

``run_rt_dose`` reads a planning system's RT Dose (and optionally RT Plan, RT
Structure Set, more ``MASK`` ROIs and the CT), puts the dose on the CT grid
(trilinear in patient space, through a registration transform when given),
and computes per-structure coverage (D98/D95/D50/D2, mean, V100/V95; D100/D90,
V150/V200 for brachytherapy), Paddick conformity and gradient index, the
normal-liver constraints and the EQD2 map with each structure's α/β.

The EQD2 sum of several treatments is :mod:`.combine`; the structures are
:mod:`.structures`; the output folder's shared parts (and the viewer's
:func:`~._outputs.dose_layers`) are :mod:`._outputs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import GeometryMismatchError, InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.radiobiology import (
    RADIOBIOLOGY_SOURCES,
    TISSUES,
    Scheme,
    eqd2_volume,
    tissue,
)
from workstation.radiotherapy._outputs import ReportRenderer, write_common_outputs
from workstation.radiotherapy.constants import constants_block
from workstation.radiotherapy.constraints import liver_constraints
from workstation.radiotherapy.coverage import conformity, structure_metrics
from workstation.radiotherapy.dose_import import PlanDose, read_plan_dose
from workstation.radiotherapy.plan import PlanSummary, read_rtplan
from workstation.radiotherapy.structures import (
    Structure,
    classify,
    eqd2_inside,
    normal_liver,
    read_structures,
    structure_dvh_rows,
    tissue_of,
)

__all__ = ["RtDoseResult", "run_rt_dose", "write_rt_dose_outputs"]

#: A structure whose volume outside the dose grid exceeds this fraction gets a warning.
_OUTSIDE_GRID_FRACTION = 0.001


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
        structs.append(Structure(name, (np.asarray(mask.array) != 0).astype(np.float32), classify(name, None)))
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
            t = tissue(tissue_of(s.kind))
            ab = float((alpha_beta_gy or {}).get(s.name, t.alpha_beta_gy))
            ab_used[s.name] = ab
            trep_used[s.name] = float((repair_half_time_h or {}).get(s.name, t.repair_half_time_h))
            ab_map[s.weights > 0.5] = ab
        eqd2_map = eqd2_volume(on_grid, scheme, ab_map)
    body = next((s for s in structs if s.kind == "body"), None)
    normal = normal_liver(structs)
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
            t = tissue(tissue_of(s.kind))
            ab_used.setdefault(s.name, float((alpha_beta_gy or {}).get(s.name, t.alpha_beta_gy)))
            own = eqd2_inside(dose_arr, s.weights, scheme, ab_used[s.name])
        met = structure_metrics(dose_arr, s.weights, voxel_ml, rx if s.kind != "body" else None,
                                brachy=is_brachy and is_target,
                                eqd2_gy=own if own is not None else (None if eqd2_map is None else eqd2_map.array),
                                name=s.name)
        met["kind"] = s.kind
        met["interpreted_type"] = s.interpreted_type
        if s.name in ab_used:
            met["alpha_beta_gy"] = ab_used[s.name]
        rois_out[s.name] = met
        dvh_rows += structure_dvh_rows("physical", s.name, dose_arr, s.weights)
        if own is not None:
            dvh_rows += structure_dvh_rows("eqd2", s.name, own, s.weights)
        elif eqd2_map is not None:
            dvh_rows += structure_dvh_rows("eqd2", s.name, np.asarray(eqd2_map.array), s.weights)
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
        write_common_outputs(tmp, out, written, result, "Dose evaluation", inputs, report_renderer)
    return written


