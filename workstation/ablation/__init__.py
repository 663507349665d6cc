"""Thermal-ablation margins, coverage and applicator planning.

* :func:`compute_margins` / :func:`analyse_margins`: per-tumour signed margins
  on the tumour surface (sub-voxel, surface meshes in LPS mm), percentiles,
  area-weighted surface fractions, insufficient-coverage volumes, periablational
  shell fractions, subcapsular exclusion, and the margin map.
* :mod:`~workstation.ablation.applicators`: predicted ellipsoidal zones from a
  user's device table, combined over several applicators, and :func:`evaluate_plan`.
"""

from workstation.ablation.applicators import (
    Applicator,
    DeviceTable,
    ZoneSize,
    evaluate_plan,
    parse_applicator,
    predicted_zone,
)
from workstation.ablation.coverage import CoverageResult, coverage_metrics
from workstation.ablation.margins import (
    MarginAnalysis,
    TumorSurface,
    analyse_margins,
    compute_margins,
    mask_kind,
)

__all__ = [
    "Applicator",
    "CoverageResult",
    "DeviceTable",
    "MarginAnalysis",
    "TumorSurface",
    "ZoneSize",
    "analyse_margins",
    "compute_margins",
    "coverage_metrics",
    "evaluate_plan",
    "mask_kind",
    "parse_applicator",
    "predicted_zone",
]
