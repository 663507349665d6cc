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
Lung shunt without lungs in the field of view
    The SPECT field of view often misses the lungs, and the shunt is then
    measured on planar images. Given a lung shunt fraction (from the planar
    geometric mean, :func:`planar_lung_shunt_fraction`, or any other measurement)
    the lungs ROI is optional: the given fraction is used and reported as such,
    and the uptake outside the liver includes whatever lung the image holds.
Planar lung shunt fraction (AAPM Report 144)
    ``LSF = GM(lungs) / (GM(lungs) + GM(liver))`` with the geometric mean of
    the anterior and posterior counts of each region, ``GM = sqrt(ant x post)``
    (Dezarn et al., Med Phys 38:4824, 2011, section on the lung shunt fraction).
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
    "planar_lung_shunt_fraction",
    "plan_inputs_from_maa",
]

#: Where the planar geometric-mean lung shunt formula comes from.
PLANAR_LSF_SOURCE = (
    "AAPM Report 144: Dezarn WA et al., Med Phys 38:4824 (2011): LSF = GM(lungs) / (GM(lungs) + GM(liver)), "
    "GM = sqrt(anterior x posterior counts)"
)


def planar_lung_shunt_fraction(
    lung_anterior: float, lung_posterior: float, liver_anterior: float, liver_posterior: float
) -> float:
    """Lung shunt fraction from planar 99mTc-MAA counts by the geometric mean (AAPM Report 144).

    Parameters
    ----------
    lung_anterior, lung_posterior:
        Counts in the lung regions (both lungs) of the anterior and posterior views.
    liver_anterior, liver_posterior:
        Counts in the liver region of the anterior and posterior views.

    Returns
    -------
    float
        ``GM(lungs) / (GM(lungs) + GM(liver))`` with ``GM = sqrt(anterior x posterior)``.

    Raises
    ------
    InvalidInputError
        When a count is not a finite number >= 0, or the liver counts are zero.
    """
    counts = {"lung anterior": lung_anterior, "lung posterior": lung_posterior,
              "liver anterior": liver_anterior, "liver posterior": liver_posterior}
    for name, value in counts.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise InvalidInputError(f"The planar {name} counts must be a number >= 0, got {value!r}.")
    gm_lung = math.sqrt(lung_anterior * lung_posterior)
    gm_liver = math.sqrt(liver_anterior * liver_posterior)
    if gm_liver <= 0:
        raise InvalidInputError("The planar liver counts (anterior and posterior) must both be positive.")
    return gm_lung / (gm_lung + gm_liver)

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
    lung_shunt_fraction: float | None = None,
    lung_shunt_source: str | None = None,
) -> dict[str, object]:
    """Lung shunt fraction, tumour-to-normal ratio, volumes and masses from an MAA image.

    Parameters
    ----------
    maa:
        99mTc-MAA SPECT (counts, or Bq/mL when quantitative).
    rois:
        Masks by name (see :data:`MAA_ROI_ROLES`): ``liver`` (required),
        ``lungs`` (required unless ``lung_shunt_fraction`` is given), ``lesions`` (a label image, one value per lesion, or a
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
    lung_shunt_fraction:
        A lung shunt fraction measured elsewhere (planar geometric mean, another
        SPECT): with it the lungs ROI is optional. Without a lungs ROI it is the
        reported ``lung_shunt_fraction``; with one, the image's value is reported
        and the given one is kept in ``lung_shunt_given``.
    lung_shunt_source:
        How the given fraction was measured (reported).

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
    if "liver" not in by_role:
        raise InvalidInputError("The MAA analysis needs a 'liver' ROI (--roi liver=MASK).")
    if lung_shunt_fraction is not None and not (
        math.isfinite(lung_shunt_fraction) and 0.0 <= lung_shunt_fraction < 1.0
    ):
        raise InvalidInputError(f"The lung shunt fraction must be between 0 and 1, got {lung_shunt_fraction}.")
    if "lungs" not in by_role and lung_shunt_fraction is None:
        raise InvalidInputError(
            "The MAA analysis needs a 'lungs' ROI (--roi lungs=MASK) to measure the lung shunt, or the shunt "
            "itself when the lungs are not in the SPECT field of view: --lung-shunt F, or the planar counts "
            "--planar-counts LUNG_ANT,LUNG_POST,LIVER_ANT,LIVER_POST (AAPM Report 144 geometric mean)."
        )

    grid = by_role["liver"]
    liver = _on_grid(grid, grid, labels=False)
    lungs = _on_grid(by_role["lungs"], grid, labels=False) if "lungs" in by_role else np.zeros(grid.shape, bool)
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

    lung_r = region(lungs, "lungs") if "lungs" in by_role else None
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
    u_lung = lung_r["uptake"] if lung_r is not None else 0.0
    u_liver = liver_r["uptake"]
    if u_liver <= 0 or u_lung < 0:
        raise InvalidInputError(
            "The MAA image has no positive uptake in the liver ROI (or negative uptake in the lungs); "
            "check that the masks belong to this image."
        )
    given_note = lung_shunt_source or "given by the user"
    if lung_r is not None:
        lsf = u_lung / (u_lung + u_liver)
        lsf_method = "SPECT/CT volumes of interest: lungs / (lungs + liver) uptake"
    else:
        assert lung_shunt_fraction is not None
        lsf = float(lung_shunt_fraction)
        lsf_method = f"given ({given_note}); no lungs ROI, the SPECT lung uptake was not measured"
        warnings.append(
            f"No lungs ROI: the lung shunt fraction {100 * lsf:.1f} % is the given one ({given_note}); "
            "the lung dose uses it with the stated lung mass."
        )
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
            f"{100 * outside:.1f} % of the MAA uptake in the image lies outside the liver"
            + (" and lungs" if lung_r is not None else " (no lungs ROI: lung uptake counts as outside)")
            + f" (> {100 * outside_warning_fraction:.0f} %): look for extrahepatic deposition or free pertechnetate."
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
        "lung_shunt_method": lsf_method,
        "lung_shunt_given": None if lung_shunt_fraction is None else {
            "fraction": float(lung_shunt_fraction), "source": given_note},
        "tumor_to_normal_ratio": tnr,
        "tumor_volume_ml": tumour_ml,
        "tumor_mass_g": tumour_ml * density_g_per_ml,
        "normal_liver_volume_ml": normal_ml,
        "normal_liver_mass_g": normal_ml * density_g_per_ml,
        "perfused_volume_ml": float(perfused.sum()) * mask_voxel_ml,
        "perfused_territory": "given" if territory is not None else "whole liver (no territory given)",
        "liver_volume_ml": float(liver_all.sum()) * mask_voxel_ml,
        "lungs_volume_ml": float(lungs.sum()) * mask_voxel_ml if lung_r is not None else None,
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


#: Plan inputs, by model, that an MAA analysis supplies when they are not given.
_MAA_INPUTS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "bsa": ("lung_shunt", "liver_ml", "tumor_ml", "treated_fraction"),
    "mird": ("lung_shunt", "liver_ml"),
    "partition": ("lung_shunt", "tnr", "tumor_ml", "normal_ml"),
    "multi-compartment": ("lung_shunt",),
}


def plan_inputs_from_maa(
    model: str, maa: dict[str, object], given: dict[str, float | None]
) -> tuple[dict[str, float | None], list[str]]:
    """Merge the plan inputs measured on an MAA image with those given explicitly.

    Parameters
    ----------
    model:
        ``bsa``, ``mird``, ``partition`` or ``multi-compartment`` (the partition model
        with territories given one by one: only the lung shunt comes from the image).
    maa:
        The result of :func:`maa_uptake`.
    given:
        ``lung_shunt``, ``tnr``, ``tumor_ml``, ``normal_ml``, ``liver_ml``,
        ``treated_fraction``: a value, or ``None`` to take the image's.

    Returns
    -------
    (values, taken)
        The merged inputs (a given value always wins) and the names of those
        taken from the image, in the order of ``given``.
    """
    m = model.lower()
    if m not in _MAA_INPUTS_BY_MODEL:
        raise InvalidInputError(f"Unknown planning model {model!r}; choose bsa, mird or partition.")
    perfused = maa["perfused_volume_ml"]
    liver = maa["liver_volume_ml"]
    measured: dict[str, object] = {
        "lung_shunt": maa["lung_shunt_fraction"],
        "tnr": maa["tumor_to_normal_ratio"],
        "tumor_ml": maa["all_lesions_volume_ml"] if m == "bsa" else maa["tumor_volume_ml"],
        "normal_ml": maa["normal_liver_volume_ml"],
        "liver_ml": liver if m == "bsa" else perfused,
        "treated_fraction": (float(perfused) / float(liver)  # type: ignore[arg-type]
                             if maa["perfused_territory"] == "given" and liver else None),
    }
    relevant = _MAA_INPUTS_BY_MODEL[m]
    values: dict[str, float | None] = {}
    taken: list[str] = []
    for key, value in given.items():
        image_value = measured.get(key) if key in relevant else None
        if value is None and image_value is not None:
            values[key] = float(image_value)  # type: ignore[arg-type]
            taken.append(key)
        else:
            values[key] = value
    return values, taken
