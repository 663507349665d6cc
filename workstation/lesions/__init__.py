"""Per-lesion overview before treatment: size, location, distances, Couinaud segment, tumour burden.

:func:`lesion_overview` (Volumes) and :func:`run_lesions` (files, the
``workstation lesions`` command) report facts against the published criteria of
:mod:`workstation.lesions.constants`; never a treatment recommendation.
"""

from workstation.lesions.constants import CRITERIA, Criterion, criteria_block
from workstation.lesions.overview import (
    HepaticLandmarks,
    LesionOverview,
    axial_diameters,
    couinaud_segment,
    lesion_overview,
    run_lesions,
    segment_large_vessels,
)

__all__ = [
    "CRITERIA",
    "Criterion",
    "HepaticLandmarks",
    "LesionOverview",
    "axial_diameters",
    "couinaud_segment",
    "criteria_block",
    "lesion_overview",
    "run_lesions",
    "segment_large_vessels",
]
