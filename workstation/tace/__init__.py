"""TACE: lipiodol deposition on post-TACE CT and per-tumour coverage.

* :func:`segment_lipiodol`: deposits inside the liver on an (unenhanced) post-TACE
  CT, adaptive to the scan (liver background and noise measured on it), with
  metal, streaks, structures outside the liver and (with a registered pre-TACE
  CT) pre-existing hyperdensities rejected; density maps in HU.
* :func:`analyse_tace` / :func:`run_tace`: the pre-TACE CT registered to the
  post-TACE CT with the tumours kept rigid, then per tumour the coverage, rim
  coverage, largest gap and the class of a published deposition scale
  (:data:`~workstation.tace.constants.DEPOSITION_SCALE`), and the non-target
  deposition. ``results.json`` follows the command-line contract.
"""

from workstation.tace.constants import DEPOSITION_SCALE, classify_deposition, constants_block
from workstation.tace.coverage import (
    TumorFraction,
    non_target_deposition,
    rim_coverage,
    tumor_coverage,
)
from workstation.tace.deposition import (
    EXCLUSION_LABELS,
    LipiodolSegmentation,
    liver_background,
    segment_lipiodol,
)
from workstation.tace.workflow import ReportRenderer, TaceAnalysis, analyse_tace, run_tace

__all__ = [
    "DEPOSITION_SCALE",
    "EXCLUSION_LABELS",
    "LipiodolSegmentation",
    "ReportRenderer",
    "TaceAnalysis",
    "TumorFraction",
    "analyse_tace",
    "classify_deposition",
    "constants_block",
    "liver_background",
    "non_target_deposition",
    "rim_coverage",
    "run_tace",
    "segment_lipiodol",
    "tumor_coverage",
]
