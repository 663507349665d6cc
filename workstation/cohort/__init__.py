"""Cohorts: many treatments at once on Dask, and what their outcomes say about dose and margins.

* :func:`read_manifest` reads and validates a manifest (CSV or YAML, one row per
  treatment) and reports every problem at once;
* :func:`run_cohort` runs each row's command (:data:`COMMANDS`) as a task on
  ``dask.distributed`` and writes one table per level (treatments, ROIs, lesions)
  in Parquet and CSV with provenance;
* :func:`analyze_cohort` fits dose-response (logistic regression, ROC) and
  margin-outcome (Kaplan-Meier, log-rank, Cox) models on those tables.
"""

from workstation.cohort.analysis import (
    analyze_cohort,
    dose_response,
    margin_outcome,
    write_analysis,
)
from workstation.cohort.commands import COMMANDS, CaseRows, CommandSpec, dvh_mean_eqd2_gy
from workstation.cohort.manifest import Case, Manifest, ManifestError, OptionInfo, read_manifest
from workstation.cohort.run import CohortRun, run_cohort
from workstation.cohort.tables import build_tables, read_table, write_tables

__all__ = [
    "COMMANDS",
    "Case",
    "CaseRows",
    "CohortRun",
    "CommandSpec",
    "Manifest",
    "ManifestError",
    "OptionInfo",
    "analyze_cohort",
    "build_tables",
    "dose_response",
    "dvh_mean_eqd2_gy",
    "margin_outcome",
    "read_manifest",
    "read_table",
    "run_cohort",
    "write_analysis",
    "write_tables",
]
