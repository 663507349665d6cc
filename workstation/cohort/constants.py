"""The cohort mode's settings and conventions: one home, each with its reason or source.

Radiobiological parameters are not defined here: the EQD2 columns of the cohort
tables use :data:`workstation.dosimetry.radiobiology.TISSUES` (their one home,
with sources), chosen per ROI role by :data:`EQD2_TISSUE_BY_ROLE`.
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_FAILURES",
    "DEFAULT_MARGIN_GROUPS_MM",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_RETRIES",
    "DEFAULT_SENSITIVITY",
    "DOSE_METRICS",
    "EQD2_TISSUE_BY_ROLE",
    "AUC_BOOTSTRAP_RESAMPLES",
    "CONFIDENCE_LEVEL",
    "TABLE_LEVELS",
]

#: The levels of the result tables: ``DIR/<level>.parquet`` and ``DIR/<level>.csv``.
TABLE_LEVELS: tuple[str, ...] = ("treatments", "rois", "lesions")

#: Memory limit of each worker of the local cluster (Dask's syntax). The synthetic cohort's
#: cases peak at about 0.5 GB per worker (benchmarks/bench_cohort.py); clinical grids need
#: more (the ``worker_peak_rss_mb`` column of a run tells). Beyond the limit Dask's nanny
#: restarts the worker and the case is retried elsewhere (see ``ALLOWED_FAILURES``).
DEFAULT_MEMORY_LIMIT: str = "4GiB"

#: How many times a case may be running on a worker that dies before it is recorded as
#: failed (Dask's ``distributed.scheduler.allowed-failures``, which counts worker losses,
#: not exceptions). 3 is Dask's own default.
ALLOWED_FAILURES: int = 3

#: Retries of a case whose task raised an unexpected exception (Dask ``retries=``). A case
#: that the command itself rejects (exit status 2) or crashes in (exit status 1) is
#: recorded as failed at once: running it again would give the same answer.
DEFAULT_RETRIES: int = 1

#: ROI role (``workstation.dosimetry.pipeline.roi_role``) -> tissue of the LQ parameters
#: used for the ROI's mean EQD2 (``radiobiology.TISSUES``).
EQD2_TISSUE_BY_ROLE: dict[str, str] = {
    "lesion": "tumour",
    "liver": "liver",
    "normal_liver": "liver",
    "lung": "lung",
    "body": "late",
    "other": "late",
}

#: Dose metrics of the dose-response analysis (columns of the ROI and lesion tables).
DOSE_METRICS: tuple[str, ...] = ("mean_gy", "d70_gy", "eqd2_mean_gy")

#: Two-sided confidence level of every interval of the analysis.
CONFIDENCE_LEVEL: float = 0.95

#: Sensitivity at which the ROC threshold dose is reported.
DEFAULT_SENSITIVITY: float = 0.9

#: Minimal-margin group edges (mm) of the Kaplan-Meier curves: < 0 (tumour not covered),
#: 0-5 and >= 5 mm; 5 mm is the cut-off of the ablation-margin literature (e.g. Wang X et
#: al., Cardiovasc Intervent Radiol 36:166, 2013: margins of 5 mm or less predicted local
#: progression of colorectal liver metastases).
DEFAULT_MARGIN_GROUPS_MM: tuple[float, ...] = (0.0, 5.0)

#: Bootstrap resamples of the ROC AUC confidence interval (percentile bootstrap, fixed seed).
AUC_BOOTSTRAP_RESAMPLES: int = 2000
