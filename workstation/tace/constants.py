"""Thresholds and scales of the TACE analysis: one home, each with its unit and source.

Two kinds of number live here. *Published* values (the deposition scale, the
dense-retention attenuation, the reported tumour-to-liver contrast of lipiodol)
carry their paper. *Engineering* choices of the segmentation (how far above the
liver background a voxel must be, how thin a streak is) say so, and why the
value is safe against the published ranges. Every constant is written into
``results.json`` (:func:`constants_block`) and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTRAST_ENHANCED_LIVER_HU",
    "CONTRAST_CT_MIN_CONTRAST_HU",
    "DENSE_RETENTION_HU",
    "DEPOSITION_SCALE",
    "DepositionClass",
    "EDGE_DEPTH_MM",
    "EDGE_FRACTION",
    "LIPIODOL_MIN_CONTRAST_HU",
    "LOW_THRESHOLD_HU",
    "METAL_HU",
    "METAL_MARGIN_MM",
    "METAL_MAX_ML",
    "MIN_DEPOSIT_ML",
    "NOISE_K",
    "PERITUMORAL_MM",
    "PLATEAU_RADIUS_MM",
    "PRE_EXISTING_HU",
    "PRE_EXISTING_MARGIN_MM",
    "REPORTED_TUMOUR_TO_LIVER_CONTRAST_HU",
    "RIM_DISTANCE_MM",
    "SOURCES",
    "STREAK_OPENING_MM",
    "STREAK_ZONE_MM",
    "classify_deposition",
    "constants_block",
]

# ------------------------------------------------------------------ published
#: Tumour-to-liver contrast (HU, mean ± SD over 31 tumours) of lipiodol-laden HCC on
#: unenhanced multidetector CT 24 h after cTACE: 283.0 ± 152.1 HU.
#: Source: "Quantitative assessment of lipiodol deposition after chemoembolization:
#: comparison between cone-beam CT and multidetector CT", J Vasc Interv Radiol
#: 24(12):1837-44 (2013), doi:10.1016/j.jvir.2013.08.017 (abstract).
REPORTED_TUMOUR_TO_LIVER_CONTRAST_HU: tuple[float, float] = (283.0, 152.1)

#: Dense retention (HU, absolute): 8 of 9 HCC nodules with massive (>= 97 %) necrosis
#: measured >= 365 HU 3-4 weeks after lipiodol chemoembolization, 4 of 15 without.
#: Source: "Lipiodol retention and massive necrosis after lipiodol-chemoembolization of
#: hepatocellular carcinoma: correlation between computed tomography and histopathology",
#: Cardiovasc Intervent Radiol 16(4):209-13 (1993), doi:10.1007/BF02602962 (abstract).
#: Used for the "dense" fraction of each tumour (a fact, not a verdict).
DENSE_RETENTION_HU: float = 365.0

# --------------------------------------------------------------- engineering
#: Minimum contrast (HU above the liver background) for a voxel to seed a deposit.
#: Engineering choice: 1.2 SD below the reported mean contrast of lipiodol-laden HCC
#: (283 ± 152 HU, above), and 8 x the noise of a liver CT (~12 HU), so noise alone
#: never seeds a deposit; raised to NOISE_K x the measured noise on noisier scans.
LIPIODOL_MIN_CONTRAST_HU: float = 100.0

#: Seeds need NOISE_K x the liver's noise SD above the background (Rose criterion,
#: k ~ 5 for reliable detection: A. Rose, J Opt Soc Am 38:196-208, 1948).
NOISE_K: float = 5.0

#: The deposit's edge is where the image falls to EDGE_FRACTION of the way from the
#: liver background to the local deposit density: the 0.5 level of a blurred or
#: partially filled step is its true edge (unbiased volume for any symmetric PSF).
EDGE_FRACTION: float = 0.5

#: Radius (mm) over which the local deposit density (grey-level maximum of the image
#: smoothed by 1 voxel) is taken for the edge level: the deposit just behind the edge
#: (one voxel at 1.5-2.5 mm spacing). Larger radii reach denser parts of a heterogeneous
#: deposit and cut its fainter rim: on the sample TACE study 3 mm lost 2-4 % of each
#: deposit's volume, 2 mm 0.4 %.
PLATEAU_RADIUS_MM: float = 2.0

#: Lowest accepted contrast at an edge (HU above background): half the seed contrast,
#: so the faint fringe of a weak deposit is kept but the noise floor is not.
LOW_THRESHOLD_HU: float = 50.0

#: Smallest deposit kept (mL): about one 1.5 x 1.5 x 2.5 mm voxel.
MIN_DEPOSIT_ML: float = 0.006

#: Liver background (HU, median) above which the CT is taken to be contrast-enhanced:
#: unenhanced liver is about 50-65 HU, portal-venous liver 100-130 HU (textbook ranges;
#: engineering threshold between them). On such a CT enhancing vessels are bright.
CONTRAST_ENHANCED_LIVER_HU: float = 90.0

#: Seed contrast (HU above the enhanced liver) used on a contrast-enhanced CT:
#: portal and hepatic veins enhance 50-100 HU above the parenchyma in the portal
#: venous phase, so seeds must clear them; lipiodol (283 ± 152 HU above liver) mostly does.
CONTRAST_CT_MIN_CONTRAST_HU: float = 200.0

#: Metal (HU): clips and coils saturate or nearly saturate a 12-bit CT (3071 HU);
#: engineering threshold well above the lipiodol retention reported in tissue.
METAL_HU: float = 2500.0

#: A metal object is small: a component above METAL_HU larger than this (mL) is not
#: taken to be metal (a very dense lipiodol pool is reported instead, with a warning).
METAL_MAX_ML: float = 0.5

#: Voxels within this distance (mm) of metal are excluded (blooming of the object).
METAL_MARGIN_MM: float = 3.0

#: Streak artefacts lie in the axial slices of the metal, radially from it; within this
#: in-plane distance (mm) of metal, deposits must be thicker than a streak.
STREAK_ZONE_MM: float = 45.0

#: In the streak zone a deposit must contain a disc of this radius (mm) in its slice
#: (morphological opening): streaks are 1-3 mm wide lines.
STREAK_OPENING_MM: float = 2.5

#: A bright object that touches the liver mask's edge and nowhere reaches deeper than
#: this (mm) into the mask is taken to be a neighbour caught by an imperfect mask (rib,
#: costal cartilage, crus, bowel contrast, a calcified node): on the real portal-venous
#: CT of ``../shared/real`` (HCC-TACE-Seg HCC_048, automatic liver mask) it removed 3 of
#: the 8 bright non-lipiodol objects found (ribs caught deeper in the mask remain).
#: Engineering threshold; thin subcapsular deposits of
#: lipiodol (< 4 mm deep) are lost with it, and the warning says how much was rejected.
EDGE_DEPTH_MM: float = 4.0

#: With a registered pre-TACE CT: hyperdensities above this (HU) on it existed before
#: the treatment (calcifications, clips, lipiodol of an earlier session). Above enhanced
#: parenchyma and portal-venous vessels (~100-200 HU); engineering threshold.
PRE_EXISTING_HU: float = 300.0

#: Pre-existing hyperdensities are grown by this margin (mm) for registration error.
PRE_EXISTING_MARGIN_MM: float = 2.0

#: Lipiodol within this distance (mm) of a tumour is peritumoural; beyond it, in the
#: liver, it is non-target. Engineering definition (a safety margin around the tumour
#: is intended in cTACE), stated in every result.
PERITUMORAL_MM: float = 5.0

#: Rim coverage: the tumour surface counts as covered where lipiodol lies within this
#: distance (mm) of it (the definition of the issue this module answers).
RIM_DISTANCE_MM: float = 1.0


# ------------------------------------------------------------------- the scale
@dataclass(frozen=True)
class DepositionClass:
    """One class of the deposition scale.

    Attributes
    ----------
    name:
        ``"complete"``, ``"moderate"`` or ``"poor"``.
    definition:
        The class as published.
    rule:
        How it is decided from the measured coverage (percent) and rim coverage.
    """

    name: str
    definition: str
    rule: str


#: Lipiodol retention pattern of the tumour (three classes).
#: Source: "Lipiodol retention pattern assessed by cone beam computed tomography during
#: conventional transarterial chemoembolization of hepatocellular carcinoma: accuracy and
#: correlation with response", Cancer Imaging 16 (2016), doi:10.1186/s40644-016-0090-4:
#: complete (more than 90 %, no peripheral defects), moderate (50-90 %, with or without
#: peripheral defects), poor (less than 50 %); on CBCT at the end of cTACE, predictive of
#: mRECIST response. Applied here to unenhanced CT, with "no peripheral defect"
#: operationalised as rim coverage >= 0.9 (at most 10 % of the tumour surface without
#: lipiodol within RIM_DISTANCE_MM).
DEPOSITION_SCALE: tuple[DepositionClass, ...] = (
    DepositionClass("complete", "more than 90 % of the tumour covered, no peripheral defects",
                    "coverage > 90 % and rim coverage >= 0.9"),
    DepositionClass("moderate", "50-90 % covered, with or without peripheral defects",
                    "coverage >= 50 % and not complete"),
    DepositionClass("poor", "less than 50 % covered", "coverage < 50 %"),
)
COMPLETE_COVERAGE_PERCENT: float = 90.0
COMPLETE_RIM_FRACTION: float = 0.9
POOR_BELOW_PERCENT: float = 50.0


def classify_deposition(coverage_percent: float, rim_coverage_fraction: float | None) -> str:
    """Class of :data:`DEPOSITION_SCALE` for a tumour's coverage (%) and rim coverage (0..1)."""
    rim = 0.0 if rim_coverage_fraction is None else rim_coverage_fraction
    if coverage_percent > COMPLETE_COVERAGE_PERCENT and rim >= COMPLETE_RIM_FRACTION:
        return "complete"
    if coverage_percent >= POOR_BELOW_PERCENT:
        return "moderate"
    return "poor"


SOURCES: dict[str, str] = {
    "deposition_scale": "Lipiodol retention pattern assessed by cone beam CT during cTACE of HCC: accuracy and "
    "correlation with response, Cancer Imaging 16 (2016), doi:10.1186/s40644-016-0090-4",
    "tumour_to_liver_contrast": "J Vasc Interv Radiol 24(12):1837-44 (2013), doi:10.1016/j.jvir.2013.08.017: "
    "283.0 +/- 152.1 HU on unenhanced MDCT 24 h after cTACE",
    "dense_retention": "Cardiovasc Intervent Radiol 16(4):209-13 (1993), doi:10.1007/BF02602962: >= 365 HU "
    "at 3-4 weeks in 8/9 nodules with massive necrosis",
    "rose_criterion": "A. Rose, J Opt Soc Am 38:196-208 (1948): k ~ 5 for reliable detection",
}


def constants_block() -> dict[str, Any]:
    """Every constant of the analysis with its unit, for results.json and the report."""
    return {
        "lipiodol_min_contrast_hu": LIPIODOL_MIN_CONTRAST_HU,
        "noise_k": NOISE_K,
        "edge_fraction": EDGE_FRACTION,
        "plateau_radius_mm": PLATEAU_RADIUS_MM,
        "low_threshold_hu": LOW_THRESHOLD_HU,
        "min_deposit_ml": MIN_DEPOSIT_ML,
        "contrast_enhanced_liver_hu": CONTRAST_ENHANCED_LIVER_HU,
        "contrast_ct_min_contrast_hu": CONTRAST_CT_MIN_CONTRAST_HU,
        "edge_depth_mm": EDGE_DEPTH_MM,
        "metal_hu": METAL_HU,
        "metal_max_ml": METAL_MAX_ML,
        "metal_margin_mm": METAL_MARGIN_MM,
        "streak_zone_mm": STREAK_ZONE_MM,
        "streak_opening_mm": STREAK_OPENING_MM,
        "pre_existing_hu": PRE_EXISTING_HU,
        "pre_existing_margin_mm": PRE_EXISTING_MARGIN_MM,
        "peritumoral_mm": PERITUMORAL_MM,
        "rim_distance_mm": RIM_DISTANCE_MM,
        "dense_retention_hu": DENSE_RETENTION_HU,
        "reported_tumour_to_liver_contrast_hu": {"mean": REPORTED_TUMOUR_TO_LIVER_CONTRAST_HU[0],
                                                 "sd": REPORTED_TUMOUR_TO_LIVER_CONTRAST_HU[1]},
        "deposition_scale": [
            {"class": c.name, "definition": c.definition, "rule": c.rule} for c in DEPOSITION_SCALE
        ],
        "sources": dict(SOURCES),
    }
