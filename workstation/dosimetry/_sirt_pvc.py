"""The partial-volume correction step of :func:`.pipeline.run_sirt`: options, GTM regions, GTM doses."""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Volume
from workstation.dosimetry.activity import ActivityCalibration


def check_pvc(pvc: str | None, psf_fwhm_mm: float | None) -> str | None:
    """Validate the partial-volume options; the method name or ``None``."""
    from workstation.dosimetry.pvc import PVC_METHODS

    m = None if pvc is None else str(pvc).strip().lower()
    if m in (None, "", "none"):
        if psf_fwhm_mm is not None:
            raise InvalidInputError("--psf-fwhm-mm is used only with --pvc rbv or --pvc gtm.")
        return None
    if m not in PVC_METHODS:
        raise InvalidInputError(f"Unknown --pvc {pvc!r}; choose rbv, gtm or none.")
    if psf_fwhm_mm is None:
        raise InvalidInputError(
            f"--pvc {m} needs the system resolution --psf-fwhm-mm (FWHM in mm, stated by the scanner "
            "or measured with workstation qa on a NEMA phantom)."
        )
    if not (np.isfinite(psf_fwhm_mm) and 0.0 < psf_fwhm_mm <= 100.0):
        raise InvalidInputError(f"--psf-fwhm-mm must be between 0 and 100 mm, got {psf_fwhm_mm}.")
    return m


def partial_volume_correction(
    image: Volume, weights: dict[str, np.ndarray], roles: dict[str, str], roi_volumes: dict[str, Volume],
    method: str, fwhm_mm: float, source: str | None,
) -> tuple[Any, dict[str, Any], dict[str, Volume], Volume | None]:
    """GTM on the uncalibrated image with the ROI weights (lesions, liver, lungs, others, rest)."""
    from workstation.dosimetry.pvc import PVC_SOURCES, REST_REGION, gtm_region_means

    lesion_leaves = [
        n for n, r in roles.items()
        if r == "lesion" and not any(m != n and m.startswith(f"{n}_") and roles.get(m) == "lesion" for m in roles)
    ]
    livers = ["normal_liver"] if "normal_liver" in weights else [n for n, r in roles.items() if r == "liver"]
    order = lesion_leaves + livers + [n for n, r in roles.items() if r == "lung"]
    order += [n for n, r in roles.items() if r == "other"]
    body_name = next((n for n, r in roles.items() if r == "body"), None)
    body = weights[body_name] if body_name is not None else None
    regions = {n: weights[n] for n in dict.fromkeys(order)}
    # the same regions as masks (for a finer grid); normal_liver = the liver after the lesions claimed theirs
    liver_rois = [n for n, r in roles.items() if r == "liver"]
    region_masks = {
        n: roi_volumes[liver_rois[0]] if (n == "normal_liver" and n not in roi_volumes) else roi_volumes[n]
        for n in regions
    }
    if not regions:
        raise InvalidInputError(
            "Partial-volume correction needs ROIs (--roi liver=..., lesion=..., lungs=...) to define its regions."
        )
    gtm = gtm_region_means(image, regions, fwhm_mm, body=body)
    used = set(gtm.names)
    block: dict[str, Any] = {
        "method": method,
        "psf_fwhm_mm": fwhm_mm,
        "source": source or "given by the user (--psf-fwhm-mm)",
        "psf_model": "isotropic 3D Gaussian on the activity grid, zero outside the field of view",
        "references": [PVC_SOURCES["gtm"]] + ([PVC_SOURCES["rbv"]] if method == "rbv" else []),
        "regions_in_order": gtm.names,
        "rest_region": (
            ("body ROI minus the other regions" if body is not None else
             "non-zero voxels of the activity image minus the other regions")
            if REST_REGION in used else None
        ),
        "rois_not_used_as_regions": [n for n in regions if n not in used],
        "image_units": image.units.value,
        "gtm": gtm.to_dict(),
        "applied_to": (
            "the activity image before calibration; every dose engine uses the corrected image"
            if method == "rbv" else "region means only (the dose engines use the uncorrected image)"
        ),
    }
    return gtm, block, region_masks, (roi_volumes[body_name] if body_name is not None else None)


def gtm_roi_doses(
    gtm: Any, weights: dict[str, np.ndarray], roles: dict[str, str], cal: ActivityCalibration,
    inv_rho_kg: dict[str, float], f: float, have_norm: bool,
) -> dict[str, Any]:
    """Mean concentration (Bq/mL) and LDM mean dose (Gy) of every ROI from the GTM region means.

    The corrected piecewise-constant image ``sum_j t_j w_j`` is averaged over each ROI. Its
    calibration: quantitative images x the decay factor; relative images scaled so that the
    normalisation regions (liver and lesions, else all) hold the calibration target.
    """
    t = np.asarray(gtm.corrected_mean, dtype=np.float64)
    if cal.calibration == "quantitative":
        scale = cal.decay_factor
        how = "image values x decay factor"
    else:
        norm_roles = ("lesion", "liver", "normal_liver") if have_norm else None
        sel = [i for i, n in enumerate(gtm.names) if norm_roles is None or roles.get(n) in norm_roles]
        target_bq = (cal.administered_gbq or 0.0) * (1 - (cal.lung_shunt_fraction or 0.0)) \
            * (1 - cal.residual_fraction) * 1e9
        denom = float(np.sum(t[sel] * gtm.volume_ml[sel]))
        scale = target_bq / denom if denom > 0 else 0.0
        how = (f"scaled so that the GTM regions of the normalisation region ({cal.normalisation_region}) "
               "hold administered x (1 - LSF) x (1 - residual)")
    names = list(gtm.names)
    rois: dict[str, Any] = {}
    for name, w in weights.items():
        # a region: its own mean; a ROI made of regions (the lesions' union, the liver = normal
        # liver + lesions): the volume-weighted mean of its regions, the common volume taken voxel
        # by voxel as min(w_roi, w_j), exact for nested regions; any other ROI: the same rule over
        # all regions (approximate where a voxel holds parts of two disjoint regions)
        if name in names:
            members = [name]
        elif roles.get(name) == "lesion":
            members = [n for n in names if n.startswith(f"{name}_")]
        elif roles.get(name) == "liver":
            members = [n for n in names if roles.get(n) in ("lesion", "normal_liver", "liver")]
        else:
            members = names
        overlap = np.array([
            float(np.minimum(w, gtm.weights[names.index(n)]).sum(dtype=np.float64)) if n in members else 0.0
            for n in names
        ])
        if overlap.sum() <= 0:
            continue
        conc = scale * float(np.sum(t * overlap) / overlap.sum())
        rois[name] = {"mean_bq_per_ml": conc, "ldm_mean_gy": f * conc * 1e-9 * inv_rho_kg[name]}
    return {"calibration": how, "bq_per_ml_per_image_unit": scale, "rois": rois}
