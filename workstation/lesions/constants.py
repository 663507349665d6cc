"""Published criteria the lesion overview reports facts against, and its own settings.

Each criterion carries its source. The overview states how a lesion relates to
each criterion (a fact); it never recommends a treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CRITERIA",
    "Criterion",
    "LARGE_VESSEL_MIN_DIAMETER_MM",
    "VESSEL_MIN_CONTRAST_HU",
    "criteria_block",
]


@dataclass(frozen=True)
class Criterion:
    """A published threshold a lesion's measurement can be compared with.

    Attributes
    ----------
    key:
        Identifier in results.json.
    quantity:
        Which measurement (``longest_diameter_mm``, ``capsule_distance_mm``, …).
    threshold:
        The value (unit of the quantity).
    statement:
        What the source says about lesions on either side of the threshold.
    source:
        The paper.
    """

    key: str
    quantity: str
    threshold: float
    statement: str
    source: str


CRITERIA: tuple[Criterion, ...] = (
    Criterion("recist_measurable", "longest_diameter_mm", 10.0,
              "RECIST 1.1: a lesion is measurable when its longest diameter in the axial plane is at least "
              "10 mm on CT with slices of 5 mm or less (mRECIST for HCC uses the same axial plane and 10 mm "
              "for the viable, arterially enhancing part)",
              "Eisenhauer EA et al., Eur J Cancer 45:228-247 (2009); Lencioni R, Llovet JM, Semin Liver Dis "
              "30:52-60 (2010)"),
    Criterion("milan_single", "longest_diameter_mm", 50.0,
              "Milan criteria: a single HCC of at most 50 mm (or up to three, each at most 30 mm)",
              "Mazzaferro V et al., N Engl J Med 334:693-699 (1996)"),
    Criterion("ablation_size", "longest_diameter_mm", 30.0,
              "Thermal ablation of HCC achieves outcomes close to resection for tumours up to 30 mm; local "
              "control falls for larger tumours",
              "EASL Clinical Practice Guidelines: management of hepatocellular carcinoma, J Hepatol "
              "69:182-236 (2018)"),
    Criterion("heat_sink", "vessel_distance_mm", 0.0,
              "Vessels of 3 mm or more in contact with the tumour were associated with incomplete "
              "radiofrequency ablation (heat sink)",
              "Lu DSK et al., J Vasc Interv Radiol 14:1267-1274 (2003)"),
    Criterion("subcapsular", "capsule_distance_mm", 10.0,
              "Subcapsular tumours (within 10 mm of the liver capsule) were analysed as a distinct group "
              "for radiofrequency ablation outcomes",
              "Kang TW et al., Radiology 280:300-312 (2016)"),
    Criterion("tumour_burden", "tumour_burden_percent", 50.0,
              "A tumour burden above 50 % of the liver volume is listed among the contraindications of "
              "TACE in expert recommendations",
              "Raoul JL et al., Cancer Treat Rev 37:212-220 (2011)"),
)

#: Large vessels: diameter >= 3 mm (Lu et al. 2003, above): a morphological opening by a
#: ball of 1.5 mm radius keeps exactly the parts of a vessel mask at least this wide.
LARGE_VESSEL_MIN_DIAMETER_MM: float = 3.0

#: Vessel segmentation on a contrast CT: voxels of the liver at least this far (HU) above
#: the parenchyma after a 1-voxel Gaussian. Portal-venous vessels enhance 50-100 HU above
#: the parenchyma (textbook range); 25 HU is 5 x the noise after smoothing on the sample
#: CT. Engineering threshold.
VESSEL_MIN_CONTRAST_HU: float = 25.0

#: Liver background (HU) above which a CT is taken to be contrast-enhanced (as in tace).
CONTRAST_ENHANCED_LIVER_HU: float = 90.0

#: Distances are measured exactly up to this (mm) and reported as "more than" beyond.
DISTANCE_LIMIT_MM: float = 60.0


def criteria_block() -> list[dict[str, Any]]:
    """The criteria as written into results.json and the report."""
    return [{"key": c.key, "quantity": c.quantity, "threshold": c.threshold, "statement": c.statement,
             "source": c.source} for c in CRITERIA]
