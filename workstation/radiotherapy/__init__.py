"""Local radiotherapy (SBRT, HDR brachytherapy): dose from planning systems, coverage, constraints.

* :func:`read_plan_dose` - RT Dose file(s) of one course as its total physical dose
  (RELATIVE and ERROR doses refused, session doses × fractions, beam doses summed);
* :func:`read_rtplan` - fractions, prescription, brachytherapy sources and dwell totals;
* :func:`read_structures` - every contoured ROI of an RT Structure Set on a grid;
* :func:`structure_metrics`, :func:`conformity` - D98/D95/D50/D2, mean, V100/V95,
  D100/D90 (brachytherapy), Paddick conformity and gradient index;
* :func:`liver_constraints` - normal-liver constraints with their sources;
* :func:`run_rt_dose` / :func:`write_rt_dose_outputs` - the ``rt-dose`` command;
* :func:`run_combine` / :func:`write_combine_outputs` - EQD2 sums (``combine``);
* :func:`dose_layers` - the doses of an output folder as Volumes, for the viewer.

BED/EQD2 come from :mod:`workstation.dosimetry.radiobiology`.
"""

from workstation.radiotherapy._outputs import dose_layers
from workstation.radiotherapy.combine import (
    CombineResult,
    parse_dose_spec,
    run_combine,
    write_combine_outputs,
)
from workstation.radiotherapy.constraints import (
    ConstraintResult,
    liver_constraints,
    threshold_for_fractions,
)
from workstation.radiotherapy.coverage import conformity, structure_metrics
from workstation.radiotherapy.dose_import import PlanDose, find_rtdose_files, read_plan_dose
from workstation.radiotherapy.plan import BrachySource, BrachySummary, PlanSummary, read_rtplan
from workstation.radiotherapy.structures import Structure, read_structures
from workstation.radiotherapy.workflow import RtDoseResult, run_rt_dose, write_rt_dose_outputs

__all__ = [
    "BrachySource",
    "BrachySummary",
    "CombineResult",
    "ConstraintResult",
    "PlanDose",
    "PlanSummary",
    "RtDoseResult",
    "Structure",
    "conformity",
    "dose_layers",
    "find_rtdose_files",
    "liver_constraints",
    "parse_dose_spec",
    "read_plan_dose",
    "read_rtplan",
    "read_structures",
    "run_combine",
    "run_rt_dose",
    "structure_metrics",
    "threshold_for_fractions",
    "write_combine_outputs",
    "write_rt_dose_outputs",
]
