"""Planning numbers measured on a 99mTc-MAA SPECT(/CT): lung shunt, tumour-to-normal ratio, masses.

The 99mTc macroaggregated albumin (MAA) scan is the surrogate of the 90Y
microsphere distribution used to plan radioembolization. From the MAA image and
regions of interest (liver, lungs, lesions, optionally the perfused territory)
this module measures what the planning models of :mod:`.planning` need.

Definitions
-----------
Regional uptake
    ``U(R) = sum_v w_R(v) I(v)`` over the MAA voxels ``v``, with ``w_R`` the
    partial-voxel fraction of ``v`` inside ``R`` (:func:`.dvh.roi_weights`,
    3x3x3 sub-voxels per MAA voxel when the mask is on another grid, e.g. on
    the CT of a SPECT/CT). ``I`` is in counts (or Bq/mL for a quantitative
    image, then ``U`` is in Bq); only ratios of ``U`` enter the results, so no
    calibration and no attenuation correction are assumed beyond what the
    reconstruction already contains.
Liver (for the shunt)
    The union of the liver, lesion and perfused-territory masks.
Perfused territory
    The given territory, or the whole liver when none is given.
Tumour compartment
    Lesion voxels inside the perfused territory; normal perfused liver: the
    perfused territory minus all lesions.
Lung shunt fraction (SPECT/CT convention)
    ``LSF = U(lungs) / (U(lungs) + U(liver))``, the same ratio as the planar
    convention of AAPM Report 144 (Dezarn et al., Med Phys 38:4824, 2011:
    geometric mean of anterior and posterior lung and liver counts) but taken
    from SPECT volumes of interest. Planar LSF is systematically higher than
    SPECT/CT LSF (no attenuation correction of the lungs versus the liver,
    overlapping projections, scatter): Yu et al., Int J Radiat Oncol Biol Phys
    85:834 (2013); Allred et al., EJNMMI Res 8:50 (2018), phantom: SPECT/CT with
    attenuation and scatter correction within 13 % of the true LSF, planar up
    to 44 % too high. The device limits (LSF > 20 %; lung dose 30 Gy) were set
    with planar LSF. With ~10 mm SPECT resolution, counts of the liver dome
    spill into the lung base and bias the SPECT LSF upwards for small shunts
    (quantified on the sample MAA study in ``tests/dosimetry/test_maa.py``).
Tumour-to-normal ratio
    ``TNR = (U(tumour) / V(tumour)) / (U(normal) / V(normal))``, mean uptake per
    mL of the tumour compartment over that of the normal perfused liver (the
    partition model of Ho et al., Eur J Nucl Med 23:947, 1996); ``V`` are the
    weighted volumes on the MAA grid. Per-lesion ratios are reported too.
Volumes and masses
    Volumes are counted on the grid of the masks (the CT of a SPECT/CT when the
    masks were put on it); masses use ``planning.LIVER_DENSITY_G_PER_ML``.
"""

from __future__ import annotations

import math

import numpy as np

from workstation.core.errors import EmptyMaskError, InvalidInputError, UnitError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.dvh import roi_weights
from workstation.dosimetry.planning import LIVER_DENSITY_G_PER_ML

__all__ = [
    "MAA_ROI_ROLES",
    "LSF_WARNING_FRACTION",
    "OUTSIDE_WARNING_FRACTION",
    "maa_roi_role",
    "maa_uptake",
]

#: ROI roles of :func:`maa_uptake` and the names accepted for each (case-insensitive).
MAA_ROI_ROLES: dict[str, tuple[str, ...]] = {
    "liver": ("liver",),
    "lungs": ("lungs", "lung"),
    "lesions": ("lesions", "lesion", "tumors", "tumor", "tumours", "tumour"),
    "perfused": ("perfused", "perfused_territory", "territory"),
}

#: Lung shunt fraction above which resin microspheres are contraindicated (SIR-Spheres
#: instructions for use) and glass activity is usually lung-dose limited (AAPM Report 144,
#: Dezarn et al., Med Phys 38:4824, 2011). Planar convention; see the module docstring.
LSF_WARNING_FRACTION: float = 0.20

#: Fraction of the image's uptake outside liver and lungs above which a warning is given:
#: possible extrahepatic (gastrointestinal) deposition or free pertechnetate (stomach,
#: thyroid, kidneys), AAPM Report 144 section on MAA imaging. A project choice: at 10 mm
#: resolution about 2-4 % of the liver's counts fall just outside its contour.
OUTSIDE_WARNING_FRACTION: float = 0.10

_SOURCES = [
    "LSF: Dezarn WA et al., AAPM Report 144, Med Phys 38:4824 (2011) (planar geometric-mean convention)",
    "SPECT/CT LSF lower than planar: Yu N et al., Int J Radiat Oncol Biol Phys 85:834 (2013); "
    "Allred JD et al., EJNMMI Res 8:50 (2018)",
    "TNR and partition model: Ho S et al., Eur J Nucl Med 23:947 (1996)",
]


def maa_roi_role(name: str) -> str:
    """The role (``liver``, ``lungs``, ``lesions``, ``perfused``) of an ROI name.

    Raises
    ------
    InvalidInputError
        When the name is none of the accepted names of :data:`MAA_ROI_ROLES`.
    """
    low = name.strip().lower()
    for role, names in MAA_ROI_ROLES.items():
        if low in names:
            return role
    accepted = ", ".join(n for names in MAA_ROI_ROLES.values() for n in names)
    raise InvalidInputError(f"The MAA ROI name {name!r} is not known; use one of: {accepted}.")


def _on_grid(mask: Volume, grid: Volume, labels: bool) -> np.ndarray:
    """Mask values on ``grid`` (nearest neighbour in patient space when needed)."""
    if mask.same_grid(grid):
        arr = np.asarray(mask.array)
    else:
        arr = mask.resample_to(grid, "nearest", fill_value=0).array
    return arr.astype(np.int32) if labels else arr != 0


def _lesion_components(lesions: np.ndarray, source: Volume) -> tuple[np.ndarray, dict[int, str]]:
    """Label image of lesion components: the given labels, or connected components of a binary mask."""
    values = np.unique(lesions[lesions != 0])
    if len(values) > 1:
        names = {}
        for v in (int(x) for x in values):
            given = source.label_names.get(v, "")
            names[v] = given if given and given != f"label {v}" else f"lesion {v}"
        return lesions, names
    from scipy import ndimage

    comp, n = ndimage.label(lesions != 0, structure=np.ones((3, 3, 3), bool))
    return comp.astype(np.int32), {k: f"lesion {k}" for k in range(1, n + 1)}


def _weights(mask: np.ndarray, grid: Volume, image: Volume, name: str, supersample: int) -> np.ndarray:
    """Partial-voxel weights of a boolean ``mask`` on ``grid`` over the voxels of ``image``
    (:func:`roi_weights`, which works in the box of the mask)."""
    if not mask.any():
        raise EmptyMaskError(f"The MAA ROI {name!r} is empty.")
    try:
        return roi_weights(Volume(mask.astype(np.uint8), grid.affine, units=Unit.LABEL), image,
                           supersample=supersample, name=name)
    except EmptyMaskError:
        raise EmptyMaskError(f"The MAA ROI {name!r} lies outside the MAA image.") from None


def maa_uptake(
    maa: Volume,
    rois: dict[str, Volume],
    density_g_per_ml: float = LIVER_DENSITY_G_PER_ML,
    supersample: int = 3,
    lsf_warning_fraction: float = LSF_WARNING_FRACTION,
    outside_warning_fraction: float = OUTSIDE_WARNING_FRACTION,
) -> dict[str, object]:
    """Lung shunt fraction, tumour-to-normal ratio, volumes and masses from an MAA image.

    Parameters
    ----------
    maa:
        99mTc-MAA SPECT (counts, or Bq/mL when quantitative).
    rois:
        Masks by name (see :data:`MAA_ROI_ROLES`): ``liver`` and ``lungs``
        (required), ``lesions`` (a label image, one value per lesion, or a
        binary mask split into connected components; needed for the TNR) and
        ``perfused`` (optional perfused territory; the whole liver otherwise).
        Masks may be on any grid overlapping the image (e.g. the CT of the
        SPECT/CT); they are combined on the liver mask's grid.
    density_g_per_ml:
        Liver and tumour density for masses (g/mL); default 1.03.
    supersample:
        Sub-voxels per axis for partial-voxel weights.
    lsf_warning_fraction, outside_warning_fraction:
        Warning thresholds (fractions) for the shunt and for uptake outside
        liver and lungs.

    Returns
    -------
    dict
        ``lung_shunt_fraction``, ``tumor_to_normal_ratio`` (``None`` without
        lesions in the perfused territory), ``tumor_volume_ml``/``tumor_mass_g``,
        ``normal_liver_volume_ml``/``normal_liver_mass_g``,
        ``perfused_volume_ml``, ``liver_volume_ml``, ``lungs_volume_ml``,
        ``regions`` (uptake, weighted volume and uptake per mL of each region),
        ``lesions`` (per lesion), ``outside_fraction``, ``warnings``, ``sources``.
        Uptake is in ``uptake_unit`` (``counts`` or ``Bq``).

    Raises
    ------
    UnitError
        The image is a label, CT or dose image.
    InvalidInputError
        Unknown or duplicate ROI roles, or liver or lungs missing.
    EmptyMaskError
        A region is empty or outside the image.
    """
    if maa.units in (Unit.LABEL, Unit.HU, Unit.GY, Unit.G_PER_ML, Unit.MM, Unit.FRACTION):
        raise UnitError(f"The MAA image must hold counts or Bq/mL, but its units are {maa.units.value}.")
    if not (math.isfinite(density_g_per_ml) and density_g_per_ml > 0):
        raise InvalidInputError(f"The liver density must be a positive number of g/mL, got {density_g_per_ml}.")
    by_role: dict[str, Volume] = {}
    for name, vol in rois.items():
        role = maa_roi_role(name)
        if role in by_role:
            raise InvalidInputError(f"Two MAA ROIs have the role {role!r} (the second is {name!r}).")
        by_role[role] = vol
    for role in ("liver", "lungs"):
        if role not in by_role:
            raise InvalidInputError(f"The MAA analysis needs a {role!r} ROI (--roi {role}=MASK).")

    grid = by_role["liver"]
    liver = _on_grid(grid, grid, labels=False)
    lungs = _on_grid(by_role["lungs"], grid, labels=False)
    territory = _on_grid(by_role["perfused"], grid, labels=False) if "perfused" in by_role else None
    if "lesions" in by_role:
        lesion_labels, lesion_names = _lesion_components(_on_grid(by_role["lesions"], grid, labels=True),
                                                         by_role["lesions"])
    else:
        lesion_labels, lesion_names = np.zeros(grid.shape, np.int32), {}
    warnings: list[str] = []
    lesion_any = lesion_labels != 0
    liver_all = liver | lesion_any | (territory if territory is not None else False)
    overlap = lungs & liver_all
    if overlap.any():
        warnings.append(
            f"The lungs and liver ROIs overlap in {int(overlap.sum())} voxels; they were counted as liver."
        )
        lungs = lungs & ~liver_all
    perfused = territory if territory is not None else liver_all
    if territory is not None:
        out_of_liver = territory & ~(liver | lesion_any)
        if out_of_liver.sum() > 0.05 * territory.sum():
            warnings.append(
                f"{100 * out_of_liver.sum() / territory.sum():.0f} % of the perfused territory lies outside the "
                "liver ROI; check the masks."
            )
    tumour = lesion_any & perfused
    normal = perfused & ~lesion_any

    image = np.asarray(maa.array, dtype=np.float64)
    if not np.all(np.isfinite(image)):
        raise InvalidInputError("The MAA image contains non-finite voxel values.")
    quantitative = maa.units == Unit.BQML
    scale = maa.voxel_volume_ml if quantitative else 1.0  # uptake in Bq (quantitative) or counts
    n_negative = int((image < 0).sum())
    if n_negative:
        warnings.append(f"The MAA image has {n_negative} negative voxels; they were kept (not clipped) in the sums.")
    mask_voxel_ml = grid.voxel_volume_ml
    image_voxel_ml = maa.voxel_volume_ml

    def region(mask: np.ndarray, name: str) -> dict[str, float]:
        w = _weights(mask, grid, maa, name, supersample)
        uptake = float(np.sum(w * image)) * scale
        weighted_ml = float(w.sum(dtype=np.float64)) * image_voxel_ml
        return {
            "uptake": uptake,
            "volume_ml": float(mask.sum()) * mask_voxel_ml,
            "weighted_volume_ml": weighted_ml,
            "uptake_per_ml": uptake / weighted_ml,
        }

    lung_r = region(lungs, "lungs")
    liver_r = region(liver_all, "liver")
    normal_r = region(normal, "normal perfused liver")
    tumour_r = region(tumour, "tumour in the perfused territory") if tumour.any() else None
    regions: dict[str, dict[str, float] | None] = {
        "lungs": lung_r,
        "liver": liver_r,
        "perfused": region(perfused, "perfused territory") if territory is not None else liver_r,
        "normal_liver": normal_r,
        "tumor": tumour_r,
    }
    u_lung, u_liver = lung_r["uptake"], liver_r["uptake"]
    if u_liver <= 0 or u_lung < 0:
        raise InvalidInputError(
            "The MAA image has no positive uptake in the liver ROI (or negative uptake in the lungs); "
            "check that the masks belong to this image."
        )
    lsf = u_lung / (u_lung + u_liver)
    total = float(image.sum()) * scale
    outside = 1.0 - (u_lung + u_liver) / total if total > 0 else 0.0
    normal_per_ml = normal_r["uptake_per_ml"]
    tnr = None
    if tumour_r is not None and normal_per_ml > 0:
        tnr = tumour_r["uptake_per_ml"] / normal_per_ml

    lesions_out = []
    for value, lname in sorted(lesion_names.items()):
        m = lesion_labels == value
        if not m.any():
            continue
        reg = region(m, lname)
        inside = float((m & perfused).sum() / m.sum())
        lesions_out.append({
            "label": int(value),
            "name": lname,
            **reg,
            "mass_g": reg["volume_ml"] * density_g_per_ml,
            "tumor_to_normal_ratio": reg["uptake_per_ml"] / normal_per_ml if normal_per_ml > 0 else None,
            "fraction_in_perfused_territory": inside,
        })
        if territory is not None and inside < 1.0:
            where = "outside" if inside == 0 else f"{100 * (1 - inside):.0f} % outside"
            warnings.append(
                f"{lname} lies {where} the perfused territory; only its part inside counts as tumour."
            )

    if lsf > lsf_warning_fraction:
        warnings.append(
            f"Lung shunt fraction {100 * lsf:.1f} % > {100 * lsf_warning_fraction:.0f} % "
            "(SIR-Spheres IFU contraindication; AAPM Report 144)."
        )
    if outside > outside_warning_fraction:
        warnings.append(
            f"{100 * outside:.1f} % of the MAA uptake in the image lies outside the liver and lungs "
            f"(> {100 * outside_warning_fraction:.0f} %): look for extrahepatic deposition or free pertechnetate."
        )
    if lesion_names and tnr is None:
        warnings.append("No lesion lies in the perfused territory: the tumour-to-normal ratio is undefined.")
    if normal_per_ml <= 0:
        warnings.append("The normal perfused liver has no positive uptake: the tumour-to-normal ratio is undefined.")

    tumour_ml = float(tumour.sum()) * mask_voxel_ml
    normal_ml = float(normal.sum()) * mask_voxel_ml
    return {
        "image_units": maa.units.value,
        "uptake_unit": "Bq" if quantitative else "counts",
        "lung_shunt_fraction": lsf,
        "lung_shunt_method": "SPECT/CT volumes of interest: lungs / (lungs + liver) uptake",
        "tumor_to_normal_ratio": tnr,
        "tumor_volume_ml": tumour_ml,
        "tumor_mass_g": tumour_ml * density_g_per_ml,
        "normal_liver_volume_ml": normal_ml,
        "normal_liver_mass_g": normal_ml * density_g_per_ml,
        "perfused_volume_ml": float(perfused.sum()) * mask_voxel_ml,
        "perfused_territory": "given" if territory is not None else "whole liver (no territory given)",
        "liver_volume_ml": float(liver_all.sum()) * mask_voxel_ml,
        "lungs_volume_ml": float(lungs.sum()) * mask_voxel_ml,
        "all_lesions_volume_ml": float(lesion_any.sum()) * mask_voxel_ml,
        "density_g_per_ml": density_g_per_ml,
        "regions": regions,
        "lesions": lesions_out,
        "total_uptake_in_image": total,
        "outside_fraction": outside,
        "partial_voxel_supersampling": supersample,
        "sources": list(_SOURCES),
        "warnings": warnings,
    }
