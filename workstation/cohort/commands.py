"""The commands a cohort manifest can run, and how their results become table rows.

Each case runs the public command exactly as a user would type it (the command
line is handed to the workers by the CLI), so a case's numbers are those of the
command run alone. What the cohort needs to know of a command is one
:class:`CommandSpec` in :data:`COMMANDS`: where its results are (``-o DIR`` with
``results.json``, or ``--json`` on stdout), which of its options name input files
(checked up front, hashed for resuming, their DICOM UIDs kept for provenance) and
how its results become rows of the three tables (treatment, ROI, lesion).

Adding a command is one entry of :data:`COMMANDS`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workstation.cohort.constants import EQD2_TISSUE_BY_ROLE

__all__ = ["COMMANDS", "CaseRows", "CommandSpec", "dvh_mean_eqd2_gy", "read_results"]


@dataclass
class CaseRows:
    """The rows one case contributes to the tables (identity and provenance columns are added later)."""

    treatment: dict[str, Any] = field(default_factory=dict)
    rois: list[dict[str, Any]] = field(default_factory=list)
    lesions: list[dict[str, Any]] = field(default_factory=list)
    #: Constants the numbers depend on (kept as JSON in the treatment table).
    constants: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"treatment": self.treatment, "rois": self.rois, "lesions": self.lesions,
                "constants": self.constants}


#: ``(results, output_dir) -> rows``: ``results`` is results.json (or the printed JSON).
Extractor = Callable[[dict[str, Any], Path], CaseRows]


@dataclass(frozen=True)
class CommandSpec:
    """What the cohort knows of one command.

    Attributes
    ----------
    name:
        The command's name on the command line.
    output:
        ``"directory"``: the command takes ``-o DIR`` and writes ``DIR/results.json``;
        ``"json"``: it prints its results with ``--json``.
    input_options:
        Long option names (without ``--``) whose values are input files or folders
        (``MASK`` specs ``FILE#label`` and ``NAME=FILE`` included).
    extract:
        Results -> table rows.
    """

    name: str
    output: Literal["directory", "json"]
    input_options: frozenset[str]
    extract: Extractor
    description: str = ""

    @property
    def reserved_options(self) -> frozenset[str]:
        """Options the cohort sets itself (not allowed in a manifest)."""
        return frozenset({"output"} if self.output == "directory" else {"json"})


def _finite(value: Any) -> Any:
    """Numbers as float (NaN for None), anything else unchanged."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _roi_role(name: str) -> str:
    from workstation.dosimetry.pipeline import roi_role

    return roi_role(name)


def _read_dvh(path: Path) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """``dvh.csv`` of sirt: ``{(method, roi): (dose_gy edges, volume_percent)}``."""
    curves: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    if not path.is_file():
        return curves
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            d, v = curves.setdefault((row["method"], row["roi"]), ([], []))
            d.append(float(row["dose_gy"]))
            v.append(float(row["volume_percent"]))
    return curves


def dvh_mean_eqd2_gy(dose_edges_gy: list[float], cumulative_percent: list[float], *, half_life_h: float,
                     alpha_beta_gy: float, repair_half_time_h: float) -> float:
    """Mean EQD2 (Gy) of an ROI from its cumulative DVH, for a permanent implant.

    Each DVH bin ``[D_i, D_i+1)`` holds the volume fraction ``(V_i - V_i+1) / 100`` at
    the bin's middle dose (the last edge holds what receives at least it); the EQD2
    of each bin's dose (Dale's permanent-implant BED, :mod:`workstation.dosimetry.radiobiology`)
    is averaged with these fractions. The EQD2 of voxels is not linear in dose, so
    this is not the EQD2 of the mean dose; the binning error is at most half a bin
    (sirt's DVH bins are max/1000 wide).
    """
    import numpy as np

    from workstation.dosimetry.radiobiology import bed_permanent_implant, eqd2_from_bed

    edges = np.asarray(dose_edges_gy, dtype=np.float64)
    cum = np.asarray(cumulative_percent, dtype=np.float64) / 100.0
    if edges.size == 0 or cum[0] <= 0:
        return math.nan
    frac = np.append(cum[:-1] - cum[1:], cum[-1])
    mid = np.append((edges[:-1] + edges[1:]) / 2.0, edges[-1])
    eqd2 = eqd2_from_bed(bed_permanent_implant(mid, half_life_h, alpha_beta_gy, repair_half_time_h), alpha_beta_gy)
    return float(np.sum(frac * eqd2) / np.sum(frac))


_SIRT_ROI_KEYS = ("volume_ml", "mass_g", "mean_gy", "min_gy", "max_gy", "d2_gy", "d50_gy", "d70_gy", "d90_gy",
                  "d95_gy", "d98_gy")


def _sirt(results: dict[str, Any], out: Path) -> CaseRows:
    """sirt: one ROI row per (method, ROI), one lesion row per (method, leaf lesion ROI)."""
    from workstation.dosimetry.radiobiology import TISSUES

    constants = dict(results.get("constants") or {})
    half_life_h = float(constants["half_life_h"])
    activity = results.get("activity") or {}
    treatment = {
        "nuclide": results.get("nuclide"),
        "activity_calibration": activity.get("calibration"),
        "administered_gbq": _finite(activity.get("administered_gbq")),
        "total_in_image_gbq": _finite(activity.get("total_in_image_gbq")),
        "lung_shunt_fraction": _finite(activity.get("lung_shunt_fraction")),
        "tumor_to_normal_ratio": _finite(results.get("tumor_to_normal_ratio")),
        "lung_mean_dose_gy": _finite(results.get("lung_mean_dose_gy")),
        "methods": ",".join(results.get("methods", {})),
        "warnings": len(results.get("warnings") or []),
    }
    dvh = _read_dvh(out / "dvh.csv")
    names = [n for block in results.get("methods", {}).values() for n in block.get("rois", {})]
    roles = {n: (results.get("roi_roles") or {}).get(n) or _roi_role(n) for n in names}
    # a lesion label image given as one ROI is split into NAME_1, NAME_2 ...: the parts are the lesions
    parents = {n for n in names if roles[n] == "lesion" and any(m != n and m.startswith(f"{n}_")
                                                                 and roles.get(m) == "lesion" for m in names)}
    rois: list[dict[str, Any]] = []
    lesions: list[dict[str, Any]] = []
    eqd2_params: dict[str, dict[str, Any]] = {}
    for method, block in results.get("methods", {}).items():
        for name, met in block.get("rois", {}).items():
            role = roles[name]
            tissue = TISSUES[EQD2_TISSUE_BY_ROLE.get(role, "late")]
            eqd2_params[tissue.name] = tissue.as_dict()
            curve = dvh.get((method, name))
            eqd2 = (dvh_mean_eqd2_gy(curve[0], curve[1], half_life_h=half_life_h,
                                     alpha_beta_gy=tissue.alpha_beta_gy,
                                     repair_half_time_h=tissue.repair_half_time_h)
                    if curve else math.nan)
            row: dict[str, Any] = {"method": method, "roi": name, "role": role,
                                   **{k: _finite(met.get(k)) for k in _SIRT_ROI_KEYS}}
            for dose, pct in (met.get("v_gy_percent") or {}).items():
                row[f"v{dose}gy_percent"] = _finite(pct)
            row.update({"eqd2_mean_gy": eqd2, "eqd2_tissue": tissue.name,
                        "eqd2_alpha_beta_gy": tissue.alpha_beta_gy,
                        "eqd2_repair_half_time_h": tissue.repair_half_time_h})
            rois.append(row)
            if role == "lesion" and name not in parents:
                lesions.append({"lesion": name, "method": method,
                                **{k: row[k] for k in ("volume_ml", "mass_g", "mean_gy", "d50_gy", "d70_gy",
                                                       "d90_gy", "d98_gy", "eqd2_mean_gy", "eqd2_tissue")}})
    constants["eqd2"] = {"model": "mean over the DVH of Dale's permanent-implant EQD2 (dosimetry.radiobiology)",
                         "tissues": eqd2_params}
    return CaseRows(treatment, rois, lesions, constants)


def _margin(results: dict[str, Any], out: Path) -> CaseRows:
    """margin: one lesion row per tumour; the treatment's minimal margin is the smallest."""
    tumours = results.get("tumors") or []
    registration = results.get("registration") or {}
    treatment = {
        "minimal_margin_mm": _finite(results.get("minimal_margin_mm")),
        "tumors": len(tumours),
        "registration_mode": registration.get("mode") if isinstance(registration, dict) else None,
        "warnings": len(results.get("warnings") or []),
    }
    lesions = []
    for t in tumours:
        row: dict[str, Any] = {"lesion": f"tumor_{t['label']}", "label": int(t["label"]),
                               "volume_ml": _finite(t.get("volume_ml")),
                               "minimal_margin_mm": _finite(t.get("minimal_margin_mm"))}
        for q, v in (t.get("margin_percentiles_mm") or {}).items():
            row[f"margin_p{q}_mm"] = _finite(v)
        for k, v in (t.get("surface_fraction") or {}).items():
            row[f"surface_fraction_{k}"] = _finite(v)
        for k, v in (t.get("insufficient_coverage_ml") or {}).items():
            row[f"insufficient_coverage_{k}mm_ml"] = _finite(v)
        row["subcapsular_excluded_fraction"] = _finite(t.get("subcapsular_excluded_fraction"))
        lesions.append(row)
    constants: dict[str, Any] = {k: results[k] for k in ("constants", "method", "mask_kind") if k in results}
    return CaseRows(treatment, [], lesions, constants)


_RT_ROI_KEYS = ("volume_ml", "mean_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy", "v100_percent", "eqd2_mean_gy")


def _rt_dose(results: dict[str, Any], out: Path) -> CaseRows:
    """rt-dose: one ROI row per structure."""
    conformity = results.get("conformity") or {}
    constraints = results.get("constraints") or []
    treatment = {
        "prescription_gy": _finite(results.get("prescription_gy")),
        "fractions": _finite(results.get("fractions")),
        "paddick_conformity": _finite(conformity.get("paddick")),
        "gradient_index": _finite(conformity.get("gradient_index")),
        "constraints_failed": sum(1 for c in constraints if not c.get("passed", True)),
        "warnings": len(results.get("warnings") or []),
    }
    rois = [{"roi": name, **{k: _finite(m.get(k)) for k in _RT_ROI_KEYS}}
            for name, m in (results.get("rois") or {}).items()]
    return CaseRows(treatment, rois, [], {"radiobiology": results.get("radiobiology")})


def _plan(results: dict[str, Any], out: Path) -> CaseRows:
    """plan: one treatment row (prescribed activity and the model's doses)."""
    inputs = results.get("inputs") or {}
    treatment: dict[str, Any] = {
        "model": results.get("model"),
        "nuclide": results.get("nuclide"),
        "prescribed_activity_gbq": _finite(results.get("prescribed_activity_gbq")),
        "lung_shunt_fraction": _finite(inputs.get("lung_shunt_fraction")),
        "warnings": len(results.get("warnings") or []),
    }
    for name, value in (results.get("doses") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            treatment[f"dose_{name}" if name.endswith("_gy") else f"dose_{name}_gy"] = float(value)
    return CaseRows(treatment, [], [], {k: results.get(k) for k in ("source", "ldm_gy_kg_per_gbq",
                                                                     "liver_density_g_per_ml")})


_TACE_TUMOUR_KEYS = ("volume_ml", "lipiodol_coverage_percent", "covered_ml", "rim_coverage_fraction",
                     "largest_gap_ml", "uncovered_ml", "dense_fraction", "mean_lipiodol_hu")


def _tace(results: dict[str, Any], out: Path) -> CaseRows:
    """tace: one lesion row per tumour (coverage, rim, largest gap, class)."""
    tumours = results.get("tumors") or []
    registration = results.get("registration") or {}
    treatment = {
        "tumors": len(tumours),
        "non_target_ml": _finite(results.get("non_target_ml")),
        "peritumoral_ml": _finite(results.get("peritumoral_ml")),
        "liver_volume_ml": _finite(results.get("liver_volume_ml")),
        "registration_mode": registration.get("mode") if isinstance(registration, dict) else None,
        "warnings": len(results.get("warnings") or []),
    }
    lesions = [{"lesion": f"tumor_{t['label']}", "label": int(t["label"]),
                **{k: _finite(t.get(k)) for k in _TACE_TUMOUR_KEYS},
                "largest_gap_peripheral": t.get("largest_gap_peripheral"), "class": t.get("class")}
               for t in tumours]
    return CaseRows(treatment, [], lesions, {"constants": results.get("constants")})


#: The commands a manifest may name. Adding one is adding an entry.
COMMANDS: Mapping[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("sirt", "directory", frozenset({"activity", "ct", "roi"}), _sirt,
                    "voxel dosimetry of a SIRT activity image"),
        CommandSpec("plan", "json", frozenset({"maa", "maa-ct", "roi"}), _plan,
                    "prescribed activity from a planning model"),
        CommandSpec("margin", "directory", frozenset({"tumor", "ablation", "liver", "pre-ct", "post-ct"}), _margin,
                    "ablation margins"),
        CommandSpec("rt-dose", "directory", frozenset({"dose", "plan", "structures", "roi", "ct", "transform"}),
                    _rt_dose, "dose from a planning system (SBRT, HDR)"),
        CommandSpec("tace", "directory", frozenset({"post-ct", "pre-ct", "tumor", "liver", "transform"}), _tace,
                    "lipiodol deposition and tumour coverage after TACE"),
    )
}


def read_results(spec: CommandSpec, out: Path, stdout: str) -> dict[str, Any]:
    """The results of a finished command: ``out/results.json``, or the JSON it printed."""
    if spec.output == "directory":
        return dict(json.loads((out / "results.json").read_text(encoding="utf-8")))
    start = stdout.find("{")
    if start < 0:
        raise ValueError(f"{spec.name} printed no JSON")
    return dict(json.loads(stdout[start:]))
