"""The SIRT dosimetry workflow: activity image (+ CT, ROIs) -> doses, DVHs, results.json.

:func:`run_sirt` does the computation and returns a :class:`SirtResult`;
:func:`write_outputs` writes it (atomically) in the layout of the command-line
contract: ``dose_<method>.nii.gz``, ``rtdose_<method>.dcm`` (when a DICOM
reference image exists), ``dvh.csv``, ``results.json`` and a minimal
``report.html`` (replaced by the report package's when it is available).

Conventions
-----------
* Doses are computed on the activity grid; ``dose_grid="ct"`` additionally
  resamples them (linearly) onto the CT grid for the written files. Metrics are
  always from the activity-grid doses with partial-voxel ROI weights.
* ROI ``mass_g`` and ``energy_j`` of each method use the density that method's
  dose used (``ldm``: uniform tissue density, lung ROI voxels at the CT or lung
  density; ``vsv``: uniform tissue density, lungs included; ``vsv-density``: CT
  density on the activity grid), stated in ``methods.<m>.roi_mass_density``. The
  lung mass of the lung-dose formula is the lung ROI x CT density summed on the
  CT grid (independent of the emission voxel size).
* ROI roles (:mod:`.roles`) are chosen (``roi_roles``), else guessed from the names
  word by word: ``liver`` (whole liver), ``lesion`` (tumours; a label image with
  several labels also gives one ROI per label, named ``<NAME>_<label value>``),
  ``lung``, ``body``, ``normal_liver``, ``other``. With a liver and lesions a
  ``normal_liver`` ROI (liver minus lesions) is added. ``results.json`` states every
  role and where it came from (``roi_roles``, ``roi_role_sources``), and a run
  without a liver or a lung role says what it could not compute.
* ``tumor_to_normal_ratio`` = mean activity concentration of the lesions
  (union) / that of the normal liver.
* Partial-volume correction (``pvc="rbv"|"gtm"``, :mod:`.pvc`) needs the system
  FWHM. ``rbv`` corrects the image before the calibration and, with a CT, on the
  CT grid (coarsened above ``MAX_PVC_GRID_VOXELS``), so the doses are then on that
  grid; ``gtm`` leaves the image alone and reports the corrected region means and
  their LDM mean doses in ``activity.partial_volume_correction.gtm_ldm``.
* Safety warnings use the LDM doses (the thresholds are mean doses of the
  MIRD/partition conventions) and the lung dose of the formula
  ``f x A x (1 - R) x LSF / M_lung`` when the administered activity and LSF are
  known, else the image lung mean.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError, NoOverlapError
from workstation.core.grid import Grid
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.activity import ActivityCalibration, calibrate_activity
from workstation.dosimetry.density import (
    CALIBRATION_SOURCE,
    LUNG_DENSITY_G_PER_ML,
    SOFT_TISSUE_DENSITY_G_PER_ML,
    density_volume,
)
from workstation.dosimetry.dvh import cumulative_dvh, roi_weights
from workstation.dosimetry.engines import (
    AIR_DENSITY_G_PER_ML,
    METHODS,
    absorbed_dose_ldm,
    absorbed_dose_vsv,
    absorbed_dose_vsv_density,
    emitted_energy_j,
    engine_kernel,
)
from workstation.dosimetry.metrics import LUNG_MASS_DEFAULT_G, lung_dose_formula_gy, roi_metrics
from workstation.dosimetry.nuclides import get_nuclide
from workstation.dosimetry.roles import RoiRole, guess_role, resolve_roles, role_warnings
from workstation.dosimetry.safety import THRESHOLDS, safety_warnings

__all__ = ["SirtResult", "run_sirt", "write_outputs", "parse_methods", "roi_role"]

#: Activity farther than this from the liver is reported (mm).
FAR_FROM_LIVER_MM: float = 20.0


def roi_role(name: str) -> str:
    """The role an ROI name suggests (:func:`.roles.guess_role`), as its string value."""
    return guess_role(name).value


def parse_methods(method: str | list[str] | tuple[str, ...], have_ct: bool) -> list[str]:
    """``"all"`` -> every engine the inputs allow; validate names."""
    items = [method] if isinstance(method, str) else list(method)
    out: list[str] = []
    for item in items:
        for m in str(item).split(","):
            m = m.strip().lower()
            if m == "all":
                out.extend(["ldm", "vsv"] + (["vsv-density"] if have_ct else []))
            elif m in METHODS:
                out.append(m)
            elif m:
                raise InvalidInputError(f"Unknown --method {m!r}; choose ldm, vsv, vsv-density or all.")
    if "vsv-density" in out and not have_ct:
        raise InvalidInputError("--method vsv-density needs a CT image (--ct).")
    return list(dict.fromkeys(out)) or ["ldm"]


@dataclass
class SirtResult:
    """Everything :func:`write_outputs` writes."""

    results: dict[str, Any]
    doses: dict[str, Volume]
    activity: Volume
    dvh_rows: list[tuple[str, str, float, float]]
    ct: Volume | None = None
    warnings: list[str] = field(default_factory=list)
    rois: dict[str, Volume] = field(default_factory=dict)


def _split_rois(rois: dict[str, Volume], roles: dict[str, str]) -> dict[str, Volume]:
    """Expand multi-label lesion ROIs into one ROI per label (plus the union under the given name).

    ``roles`` gets the role of each new ROI (its parent's).
    """
    out: dict[str, Volume] = {}
    for name, vol in rois.items():
        out[name] = vol
        if roles[name] != RoiRole.LESION:
            continue
        box = vol.nonzero_box()
        inside = vol.array[box] if box is not None else vol.array[:0]
        values = [int(v) for v in np.unique(inside) if v != 0]
        if len(values) > 1:
            for v in values:
                out[f"{name}_{v}"] = vol.copy_with(array=(vol.array == v).astype(np.uint8))
                roles[f"{name}_{v}"] = roles[name]
    return out


def _far_from_liver_fraction(activity: Volume, liver_w: np.ndarray) -> float:
    """Fraction of the image activity farther than ``FAR_FROM_LIVER_MM`` from the liver.

    The distance map is computed only in the liver's box widened by that distance:
    every voxel outside it is farther than that from the liver.
    """
    from scipy import ndimage

    inside = liver_w >= 0.5
    if not inside.any():
        return 0.0
    a = activity.array
    total = float(a.sum(dtype=np.float64))
    if total <= 0:
        return 0.0
    reach = np.ceil(FAR_FROM_LIVER_MM / activity.spacing_mm).astype(int) + 1
    box = activity.copy_with(array=inside).nonzero_box()
    assert box is not None
    box = tuple(slice(max(s.start - r, 0), min(s.stop + r, n))
                for s, r, n in zip(box, reach, activity.shape, strict=True))
    dist = ndimage.distance_transform_edt(~inside[box], sampling=activity.spacing_mm)
    near = float(a[box][dist <= FAR_FROM_LIVER_MM].sum(dtype=np.float64))
    return (total - near) / total


#: Largest grid (voxels) on which the RBV-corrected activity and the doses are computed; a larger CT
#: grid is coarsened by an integer factor per axis (memory: about 10 float32 copies of the grid).
MAX_PVC_GRID_VOXELS: int = 24_000_000


def _pvc_grid(ct: Volume) -> Grid:
    """The CT grid, or the CT's field of view with an integer multiple of its spacing when too large."""
    factor = 1
    while ct.grid.size / factor**3 > MAX_PVC_GRID_VOXELS:
        factor += 1
    return ct.grid.coarsened(factor)


def _check_pvc(pvc: str | None, psf_fwhm_mm: float | None) -> str | None:
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


def _partial_volume_correction(
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


def _gtm_roi_doses(
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


def _ct_grid_mass_g(mask: Volume, ct: Volume, name: str) -> float:
    """Mass (g) of ``mask`` x CT density summed on the CT grid (mask resampled nearest if on another grid)."""
    from workstation.dosimetry.density import hu_to_density

    w = roi_weights(mask, ct, supersample=1, name=name)
    rho = hu_to_density(ct.array)
    return float(np.sum(w * rho, dtype=np.float64) * ct.voxel_volume_ml)


def _roi_mass_density_note(method: str, tissue_rho: float, have_lungs: bool, have_ct: bool) -> str:
    """Which density the ROI ``mass_g`` and ``energy_j`` of ``method`` use (the one its dose used)."""
    if method == "vsv-density":
        return "CT density (HU->density) sampled on the activity grid, as the vsv-density engine"
    if method == "ldm" and have_lungs:
        lung = "CT density" if have_ct else f"{LUNG_DENSITY_G_PER_ML} g/mL"
        return f"uniform {tissue_rho:g} g/mL; voxels of the lung ROI at the {lung}, as the LDM engine"
    return f"uniform {tissue_rho:g} g/mL (the engine's tissue density; lungs included)"


def run_sirt(
    activity_image: Volume,
    ct: Volume | None = None,
    rois: dict[str, Volume] | None = None,
    activity_units: str | None = None,
    administered_gbq: float | None = None,
    lung_shunt_fraction: float | None = None,
    residual_fraction: float = 0.0,
    method: str | list[str] = "all",
    ldm_gy_kg_per_gbq: float | None = None,
    tissue_density_g_per_ml: float = SOFT_TISSUE_DENSITY_G_PER_ML,
    administration_datetime: _dt.datetime | None = None,
    nuclide: str = "Y-90",
    device: str | None = None,
    prior_lung_dose_gy: float = 0.0,
    lung_mass_g: float | None = None,
    supersample: int = 3,
    progress: Callable[[float, str | None], None] | None = None,
    pvc: str | None = None,
    psf_fwhm_mm: float | None = None,
    psf_fwhm_source: str | None = None,
    pvc_grid: str = "ct",
    roi_roles: dict[str, str] | None = None,
) -> SirtResult:
    """Voxel dosimetry of a SIRT activity image.

    Parameters
    ----------
    activity_image:
        SPECT or PET (Bq/mL or counts).
    ct:
        CT (HU) of the same frame of reference (hybrid SPECT/CT or PET/CT); needed
        for ``vsv-density`` and used for ROI masses.
    rois:
        ROI name -> mask volume (any grid; partial voxels are weighted).
    roi_roles:
        ROI name -> role (``liver``, ``lesion``, ``lung``, ``body``, ``normal_liver``,
        ``other``; see :mod:`.roles`). ROIs not listed take the role their name
        suggests (:func:`.roles.guess_role`).
    activity_units:
        Units when the file does not say (``"Bq/mL"`` or ``"counts"``).
    administered_gbq, lung_shunt_fraction, residual_fraction:
        Administration; the administered activity is required for counts.
    method:
        ``"ldm"``, ``"vsv"``, ``"vsv-density"``, ``"all"`` or a list.
    ldm_gy_kg_per_gbq:
        LDM factor (default 49.67); sets the energy per decay of every engine.
    tissue_density_g_per_ml:
        Density of soft tissue for the LDM and VSV engines and for their ROI masses
        (default ``SOFT_TISSUE_DENSITY_G_PER_ML``, 1.03 g/mL). In the LDM engine, voxels of a lung ROI take the CT
        density (or 0.30 g/mL without CT).
    pvc:
        Region-based partial-volume correction (:mod:`.pvc`): ``None``/``"none"``,
        ``"gtm"`` (corrected region means and their LDM mean doses are reported in
        ``activity.partial_volume_correction``; the engines use the image as it is) or
        ``"rbv"`` (the voxel-wise corrected image feeds every engine; it is applied
        before the counts calibration, so the normalisation region still holds
        administered x (1 - LSF)). Regions: each lesion, the normal liver (or liver),
        the lungs, other ROIs, and the rest of the body ROI (or image support).
    psf_fwhm_mm:
        FWHM (mm) of the system PSF for ``pvc``: the scanner's stated reconstructed
        resolution or the one measured on a phantom (``workstation qa``).
    psf_fwhm_source:
        Where ``psf_fwhm_mm`` comes from (recorded in results.json).
    pvc_grid:
        ``"ct"`` (default; used when a CT is given): the RBV-corrected image is formed
        on the CT grid, where the ROIs were drawn, and all doses and metrics are
        computed there (on the coarse emission grid the voxels straddling a lesion
        edge mix lesion and liver activity, a tissue-fraction bias of the ROI means of
        7-12 % for 2-5 cm lesions on 4.8 mm SPECT voxels). ``"activity"``: on the
        activity grid.
    """
    nuc = get_nuclide(nuclide)
    f = nuc.ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else float(ldm_gy_kg_per_gbq)
    # a plausibility window around the nuclide's factor (90Y: 40-60 Gy kg/GBq)
    lo, hi = 0.8 * nuc.ldm_gy_kg_per_gbq, 1.2 * nuc.ldm_gy_kg_per_gbq
    if not (np.isfinite(f) and lo <= f <= hi):
        raise InvalidInputError(
            f"--ldm-factor for {nuc.name} must be between {lo:.0f} and {hi:.0f} Gy kg/GBq, got {f}."
        )
    if not (np.isfinite(tissue_density_g_per_ml) and 0.5 <= tissue_density_g_per_ml <= 2.0):
        raise InvalidInputError(
            f"--tissue-density must be between 0.5 and 2.0 g/mL, got {tissue_density_g_per_ml}."
        )

    def _no_progress(fraction: float, text: str | None = None) -> None:
        return None

    tick = progress or _no_progress
    methods = parse_methods(method, ct is not None)
    pvc_method = _check_pvc(pvc, psf_fwhm_mm)
    given_names = set((rois or {}).keys())
    chosen_roles, role_sources = resolve_roles((rois or {}).keys(), roi_roles)
    all_roles: dict[str, str] = {n: r.value for n, r in chosen_roles.items()}
    if "normal_liver" in all_roles and all_roles["normal_liver"] != RoiRole.NORMAL_LIVER:
        raise InvalidInputError(
            "The ROI name 'normal_liver' is kept for the liver minus the lesions; rename that ROI "
            "or give it the normal liver role."
        )
    rois = _split_rois(dict(rois or {}), all_roles)
    if ct is not None and not ct.overlaps(activity_image):
        raise NoOverlapError(
            "The CT and the activity image do not overlap in patient space; check that they belong together."
        )
    tick(0.05, "ROI weights")

    def _weight_set(grid: Volume) -> tuple[Any, ...]:
        weights: dict[str, np.ndarray] = {}
        for name, mask in rois.items():
            if not mask.overlaps(grid):
                raise NoOverlapError(f"The ROI {name!r} does not overlap the activity image.")
            weights[name] = roi_weights(mask, grid, supersample=supersample, name=name)
        roles = {n: all_roles[n] for n in weights}
        liver_names = [n for n, r in roles.items() if r == "liver"]
        lesion_names = [n for n, r in roles.items() if r == "lesion"]
        # the union of lesions: the given (multi-label) ROIs, not their per-label parts
        lesion_union_names = [n for n in lesion_names if n in given_names]
        lesion_union = None
        if lesion_names:
            lesion_union = np.max(np.stack([weights[n] for n in lesion_union_names]), axis=0)
        if liver_names and lesion_union is not None and not any(r == "normal_liver" for r in roles.values()):
            liver_w = np.max(np.stack([weights[n] for n in liver_names]), axis=0)
            normal = np.clip(liver_w - lesion_union, 0.0, 1.0).astype(np.float32)
            if np.any(normal > 0):
                weights["normal_liver"] = normal
                roles["normal_liver"] = "normal_liver"
        norm_names = liver_names + lesion_names
        norm_w = None
        norm_region = None
        if norm_names:
            norm_w = np.max(np.stack([weights[n] for n in norm_names]), axis=0)
            norm_region = " + ".join(liver_names + [n for n in lesion_names if n in lesion_union_names])
        return (weights, roles, liver_names, lesion_names, lesion_union_names, lesion_union, norm_w,
                norm_region)

    (weights, roles, liver_names, lesion_names, lesion_union_names, lesion_union, norm_w,
     norm_region) = _weight_set(activity_image)
    pvc_weights = weights  # ROI weights on the activity grid (the GTM's)
    pvc_block: dict[str, Any] | None = None
    pvc_warnings: list[str] = []
    gtm = None
    image_for_dose = activity_image
    if pvc_method is not None:
        assert psf_fwhm_mm is not None
        tick(0.1, f"partial-volume correction ({pvc_method})")
        gtm, pvc_block, region_masks, body_mask = _partial_volume_correction(
            activity_image, weights, roles, rois, pvc_method, float(psf_fwhm_mm), psf_fwhm_source
        )
        if pvc_method == "rbv":
            from workstation.dosimetry.pvc import rbv_correct

            if pvc_grid not in ("activity", "ct"):
                raise InvalidInputError(f"The PVC grid must be 'activity' or 'ct', got {pvc_grid!r}.")
            grid = _pvc_grid(ct) if (pvc_grid == "ct" and ct is not None) else None
            tick(0.12, "partial-volume correction (rbv voxel-wise)")
            image_for_dose = rbv_correct(activity_image, region_masks, float(psf_fwhm_mm), body=body_mask,
                                         supersample=supersample, grid=grid, gtm=gtm)
            info = image_for_dose.metadata.extra["pvc"]
            pvc_block["count_conservation_factor"] = info["count_conservation_factor"]
            pvc_block["regions_not_corrected"] = info["regions_not_corrected"]
            if grid is not None:
                assert ct is not None
                pvc_block["grid"] = (
                    "CT grid: the activity image was interpolated linearly onto the CT grid and corrected there "
                    "with the ROIs at CT resolution; doses and metrics are on the CT grid"
                    if grid.same_grid(ct) else
                    f"the CT grid coarsened to {'x'.join(f'{v:g}' for v in grid.spacing_mm)} mm (z, y, x) to stay "
                    f"under {MAX_PVC_GRID_VOXELS} voxels: the activity image was interpolated linearly onto it "
                    "and corrected there; doses and metrics are on that grid"
                )
                pvc_block["grid_shape_zyx"] = list(grid.shape)
                (weights, roles, liver_names, lesion_names, lesion_union_names, lesion_union, norm_w,
                 norm_region) = _weight_set(image_for_dose)
            else:
                pvc_block["grid"] = "activity grid"
                pvc_warnings.append(
                    "RBV was applied on the activity grid: voxels straddling a lesion edge mix lesion and liver "
                    "activity, so small-lesion mean doses stay biased low; give the CT (--ct) to correct on its grid."
                )
    tick(0.15, "activity calibration")
    cal: ActivityCalibration = calibrate_activity(
        image_for_dose,
        units=activity_units,
        administered_gbq=administered_gbq,
        lung_shunt_fraction=lung_shunt_fraction,
        residual_fraction=residual_fraction,
        normalisation_weights=norm_w,
        normalisation_region=norm_region,
        administration_datetime=administration_datetime,
        nuclide=nuc,
    )
    activity = cal.activity
    warnings = list(cal.warnings)
    warnings.extend(role_warnings(
        chosen_roles, counts_image=cal.calibration == "administered",
        lung_formula=administered_gbq is not None and lung_shunt_fraction is not None,
    ))
    if pvc_block is not None:
        warnings.append(
            f"Partial-volume correction ({pvc_method}, PSF FWHM {float(psf_fwhm_mm or 0):g} mm) amplifies image noise "
            "and is only as good as the stated resolution and the ROIs: a FWHM too large over-corrects, "
            "too small under-corrects, most for the smallest lesions."
        )
        warnings.extend(pvc_warnings)
    density = None
    if ct is not None:
        tick(0.2, "CT densities")
        density = density_volume(ct, reference=activity)
    lung_w = [weights[n] for n, r in roles.items() if r == "lung"]
    lung_mask = np.max(np.stack(lung_w), axis=0) >= 0.5 if lung_w else None
    # LDM / mass density: uniform tissue, lungs (ROI) at CT density or the lung default
    ldm_rho: float | np.ndarray = tissue_density_g_per_ml
    if lung_mask is not None and lung_mask.any():
        lung_rho = density.array if density is not None else LUNG_DENSITY_G_PER_ML
        ldm_rho = np.where(lung_mask, np.maximum(lung_rho, AIR_DENSITY_G_PER_ML), tissue_density_g_per_ml).astype(
            np.float32
        )
    # lung mass of the clinical formula: the lung ROI x CT density on the CT grid (independent of the
    # emission voxel size, where linear sampling at coarse voxel centres mixes soft tissue into lung)
    lung_names = [n for n, r in roles.items() if r == "lung"]
    lung_mass_ct: float | None = None
    if ct is not None and lung_names:
        lung_mass_ct = _ct_grid_mass_g(rois[lung_names[0]], ct, lung_names[0])
    if pvc_block is not None:
        inv_rho_kg = 1.0 / (np.asarray(ldm_rho, dtype=np.float64) * 1e-3)
        inv_rho_roi = {
            n: float(np.sum(w * inv_rho_kg) / w.sum(dtype=np.float64)) if np.ndim(inv_rho_kg) else float(inv_rho_kg)
            for n, w in weights.items()
        }
        pvc_block["gtm_ldm"] = _gtm_roi_doses(gtm, pvc_weights, roles, cal, inv_rho_roi, f, norm_w is not None)
    doses: dict[str, Volume] = {}
    for i, m in enumerate(methods):
        tick(0.25 + 0.5 * i / len(methods), f"dose: {m}")
        if m == "ldm":
            doses[m] = absorbed_dose_ldm(activity, nuc, f, ldm_rho)
        elif m == "vsv":
            doses[m] = absorbed_dose_vsv(activity, nuc, f, tissue_density_g_per_ml=tissue_density_g_per_ml)
            if lung_mask is not None:
                warnings.append(
                    f"vsv: the VSV engine treats the lungs as soft tissue ({tissue_density_g_per_ml:g} g/mL), so "
                    "its lung doses are too low by about the lung-to-tissue density ratio; read lung doses from "
                    "ldm or vsv-density (or the lung formula)."
                )
        else:
            assert density is not None
            doses[m] = absorbed_dose_vsv_density(activity, density, nuc, f, local_deposition_mask=lung_mask)
    tick(0.8, "metrics")
    voxel_ml = activity.voxel_volume_ml
    emitted = emitted_energy_j(activity, nuc, f)
    any_roi = np.max(np.stack(list(weights.values())), axis=0) if weights else None
    method_block: dict[str, Any] = {}
    dvh_rows: list[tuple[str, str, float, float]] = []
    for m, dose in doses.items():
        d = dose.array
        # each method's ROI masses and energies use the density its dose was divided by
        rho_m: float | np.ndarray = {"ldm": ldm_rho, "vsv": tissue_density_g_per_ml}.get(
            m, density.array if density is not None else 1.0
        )
        roi_block = {}
        for name, w in weights.items():
            met = roi_metrics(d, w, voxel_ml, rho_m)
            roi_block[name] = met
            edges, cum = cumulative_dvh(d, w)
            dvh_rows.extend((m, name, float(e), float(c)) for e, c in zip(edges, cum, strict=True))
        mass_kg = np.asarray(rho_m, dtype=np.float64) * voxel_ml * 1e-3
        energy_map = d.astype(np.float64) * mass_kg
        deposited = float(energy_map.sum())
        block: dict[str, Any] = {
            "rois": roi_block,
            "energy_emitted_j": emitted,
            "energy_deposited_in_image_j": deposited,
            "energy_deposited_fraction": deposited / emitted if emitted > 0 else None,
            "roi_mass_density": _roi_mass_density_note(m, tissue_density_g_per_ml, lung_mask is not None,
                                                       density is not None),
        }
        if any_roi is not None and deposited > 0:
            block["energy_outside_rois_fraction"] = float(np.sum(energy_map * (1 - any_roi)) / deposited)
        if m != "ldm":
            k = engine_kernel(activity, nuc, f, tissue_density_g_per_ml if m == "vsv" else 1.0)
            block["kernel"] = {
                "shape": list(k.shape),
                "spacing_mm": list(k.spacing_mm),
                "density_g_per_ml": k.density_g_per_ml,
                "energy_closure": k.energy_closure,
                "normalization": k.normalization,
            }
        if m == "vsv-density":
            block["density_calibration"] = CALIBRATION_SOURCE
            block["energy_to_air_j"] = dose.metadata.extra.get("energy_to_air_j")
        if m in ("ldm", "vsv"):
            block["tissue_density_g_per_ml"] = tissue_density_g_per_ml
        if m == "ldm" and lung_mask is not None:
            block["lung_density"] = "CT (HU->density)" if density is not None else f"{LUNG_DENSITY_G_PER_ML} g/mL"
        method_block[m] = block
    # tumour-to-normal ratio from activity concentrations
    tnr = None
    conc = activity.array.astype(np.float64)
    if lesion_union is not None and "normal_liver" in weights:
        wn = weights["normal_liver"]
        c_n = float(np.sum(conc * wn) / wn.sum())
        c_t = float(np.sum(conc * lesion_union) / lesion_union.sum())
        tnr = c_t / c_n if c_n > 0 else None
    # lungs
    lung_block: dict[str, Any] = {}
    if lung_names:
        lung_block["image_mean_gy"] = {m: method_block[m]["rois"][lung_names[0]]["mean_gy"] for m in doses}
    lm = lung_mass_g
    mass_source = "given"
    if lm is None:
        if lung_names and lung_mass_ct is not None:
            lm = lung_mass_ct
            mass_source = "lung ROI x CT density (HU->density) on the CT grid"
        elif lung_names:
            lm = float(np.sum(weights[lung_names[0]], dtype=np.float64) * voxel_ml * LUNG_DENSITY_G_PER_ML)
            mass_source = f"lung ROI x {LUNG_DENSITY_G_PER_ML} g/mL (no CT)"
        else:
            lm = LUNG_MASS_DEFAULT_G
            mass_source = "default 1000 g (Ho et al. 1997 convention)"
    lung_formula = None
    if administered_gbq is not None and lung_shunt_fraction is not None:
        lung_formula = lung_dose_formula_gy(administered_gbq, lung_shunt_fraction, lm, f, residual_fraction)
    lung_block.update({"formula_mean_gy": lung_formula, "lung_mass_g": lm, "lung_mass_source": mass_source})
    # activity location checks
    act_total = float(conc.sum())
    body = [n for n, r in roles.items() if r == "body"]
    location: dict[str, Any] = {}
    if body and act_total > 0:
        outside = float(np.sum(conc * (1 - weights[body[0]])) / act_total)
        location["outside_body_fraction"] = outside
        if outside > 0.01:
            warnings.append(f"{100 * outside:.1f} % of the image activity lies outside the body ROI.")
    if liver_names and act_total > 0:
        far = _far_from_liver_fraction(activity, np.max(np.stack([weights[n] for n in liver_names]), axis=0))
        location[f"farther_than_{FAR_FROM_LIVER_MM:g}mm_from_liver_fraction"] = far
        if far > 0.05:
            warnings.append(
                f"{100 * far:.1f} % of the image activity lies more than {FAR_FROM_LIVER_MM:g} mm outside the liver ROI "
                "(extrahepatic deposition, lung shunt or misregistration?)."
            )
    # safety checks on LDM doses (or the first method)
    ref_m = "ldm" if "ldm" in doses else methods[0]
    ref_rois = method_block[ref_m]["rois"]
    lung_for_check = lung_formula
    if lung_for_check is None and lung_names:
        lung_for_check = ref_rois[lung_names[0]]["mean_gy"]
    normal_mean = ref_rois["normal_liver"]["mean_gy"] if "normal_liver" in ref_rois else None
    # per-label lesions when a label image was split, else the given lesion ROIs
    split_parents = {n for n in lesion_union_names if any(m.startswith(f"{n}_") for m in lesion_names if m != n)}
    tumour_means = {n: ref_rois[n]["mean_gy"] for n in lesion_names if n not in split_parents}
    warnings.extend(
        safety_warnings(
            lung_dose_gy=lung_for_check,
            prior_lung_dose_gy=prior_lung_dose_gy,
            lung_shunt_fraction=lung_shunt_fraction,
            normal_liver_mean_gy=normal_mean,
            tumor_mean_gy=tumour_means,
            device=device,
        )
    )
    from workstation import __version__

    results: dict[str, Any] = {
        "workstation_version": __version__,
        "nuclide": nuc.name,
        "constants": nuc.constants(f),
        "activity": {**cal.to_dict(), "partial_volume_correction": pvc_block},
        "methods": method_block,
        "tumor_to_normal_ratio": tnr,
        # convenience summaries (details in "lung" and "methods")
        "lung_mean_dose_gy": lung_for_check,
        "energy_outside_rois_fraction": method_block[ref_m].get("energy_outside_rois_fraction"),
        "lung": lung_block,
        "activity_location": location,
        "roi_roles": roles,
        "roi_role_sources": role_sources,
        "dose_grid": {
            "shape_zyx": list(activity.shape),
            "spacing_mm_zyx": [float(s) for s in activity.spacing_mm],
            "note": (
                "doses computed on the activity grid; metrics with partial-voxel ROI weights"
                if image_for_dose.same_grid(activity_image) else
                "doses computed on the grid of the partial-volume corrected activity (see "
                "activity.partial_volume_correction.grid); metrics with partial-voxel ROI weights"
            ),
            "roi_supersampling": supersample,
        },
        "device": device,
        "safety_thresholds": {k: {"value": v[0], "unit": v[1], "source": v[2]} for k, v in THRESHOLDS.items()},
        "warnings": warnings,
    }
    tick(1.0, "done")
    return SirtResult(
        results=results, doses=doses, activity=activity, dvh_rows=dvh_rows, ct=ct, warnings=warnings,
        rois=dict(rois),
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _minimal_html(result: SirtResult) -> str:
    r = result.results
    rows = []
    for m, block in r["methods"].items():
        for name, met in block["rois"].items():
            rows.append(
                f"<tr><td>{html.escape(m)}</td><td>{html.escape(name)}</td><td>{met['volume_ml']:.1f}</td>"
                f"<td>{met['mean_gy']:.1f}</td><td>{met['d90_gy']:.1f}</td><td>{met['d50_gy']:.1f}</td>"
                f"<td>{met['max_gy']:.1f}</td><td>{met['v_gy_percent']['100']:.1f}</td></tr>"
            )
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in r["warnings"]) or "<li>none</li>"
    c = r["constants"]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>SIRT dosimetry</title></head><body>"
        f"<h1>SIRT ({html.escape(str(r.get('nuclide', 'Y-90')))}) voxel dosimetry</h1>"
        f"<p>Activity calibration: {html.escape(str(r['activity']['calibration']))}, "
        f"{r['activity']['total_in_image_gbq']:.3f} GBq in the image. "
        f"LDM factor {c['ldm_gy_kg_per_gbq']} Gy kg/GBq; T1/2 {c['half_life_h']} h.</p>"
        "<table border='1'><tr><th>method</th><th>ROI</th><th>volume mL</th><th>mean Gy</th>"
        "<th>D90 Gy</th><th>D50 Gy</th><th>max Gy</th><th>V100 %</th></tr>"
        + "".join(rows)
        + "</table>"
        + f"<p>Tumour-to-normal ratio: {r['tumor_to_normal_ratio']}</p>"
        + f"<h2>Warnings</h2><ul>{warn}</ul>"
        + "<h2>Sources</h2><ul>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in c["sources"])
        + "</ul><p>Minimal summary; the full report is produced by the report package.</p></body></html>"
    )


#: Renders the report of a SIRT result: ``(result, inputs) -> (html, pdf bytes or None)``.
#: The report package provides one (:func:`workstation.report.sirt.render_sirt_report`); the
#: command line passes it in, so the physics never imports the presentation layer.
ReportRenderer = Callable[["SirtResult", list[dict[str, Any]]], tuple[str, bytes | None]]


def _report_files(
    result: SirtResult, inputs: list[dict[str, Any]], renderer: ReportRenderer | None
) -> tuple[str, bytes | None, str]:
    """The rendered report, or the minimal HTML summary (the reason noted) without a renderer or on failure."""
    if renderer is None:
        return _minimal_html(result), None, "minimal summary (no report renderer given)"
    try:
        html_text, pdf_bytes = renderer(result, inputs)
        return html_text, pdf_bytes, "full report"
    except Exception as exc:  # noqa: BLE001 - the dosimetry outputs must not depend on the report
        return (_minimal_html(result), None,
                f"minimal summary: the full report failed ({type(exc).__name__}: {exc})")


def write_outputs(
    result: SirtResult,
    out_dir: str | os.PathLike[str],
    dose_grid: str = "activity",
    write_report: bool = True,
    inputs: list[dict[str, Any]] | None = None,
    report_renderer: ReportRenderer | None = None,
    write_dicom: bool = False,
) -> list[Path]:
    """Write the outputs of :func:`run_sirt` into ``out_dir`` atomically.

    Parameters
    ----------
    dose_grid:
        ``"activity"`` (default) or ``"ct"`` (doses resampled linearly onto the CT grid).
    write_report:
        Also write ``report.html`` (and ``report.pdf``) with ``report_renderer``;
        a minimal HTML summary without one or if it fails, noted in
        ``results.json["outputs"]["report"]``.
    inputs:
        Input descriptions for the report (role, path, modality, series_uid, description).
    write_dicom:
        With a DICOM reference image, also (``sirt --dicom-results``) write the ROIs (``seg_<roi>.dcm``,
        ``rois_rtstruct.dcm``), the metrics (``measurements_sr.dcm``, TID 1500) and
        the report (``report_pdf.dcm``) into the patient's study
        (:mod:`.dicom_export`); objects that cannot be built are noted in
        ``results.json["outputs"]["dicom_notes"]``.
    """
    from workstation.io import atomic_directory, write_image

    if dose_grid not in ("activity", "ct"):
        raise InvalidInputError(f"--dose-grid must be 'activity' or 'ct', got {dose_grid!r}.")
    if dose_grid == "ct" and result.ct is None:
        raise InvalidInputError("--dose-grid ct needs a CT image (--ct).")
    written: list[Path] = []
    # DICOM reference for patient, study and frame of reference of the RT Dose files:
    # the image of the dose grid, else the other image of the study (same frame)
    candidates = [result.ct, result.activity] if dose_grid == "ct" else [result.activity, result.ct]
    reference = next((c for c in candidates if c is not None and c.metadata.dicom_headers), None)
    with atomic_directory(out_dir) as tmp:
        for m, dose in result.doses.items():
            out = dose
            if dose_grid == "ct":
                assert result.ct is not None
                out = dose.resample_to(result.ct, "linear", fill_value=0.0)
                out.units = Unit.GY
            write_image(out, tmp / f"dose_{m}.nii.gz")
            written.append(Path(out_dir) / f"dose_{m}.nii.gz")
            if reference is not None and reference.metadata.dicom_headers:
                from workstation.io.rtdose import write_rtdose

                write_rtdose(out, tmp / f"rtdose_{m}.dcm", reference=reference,
                             series_description=f"{result.results.get('nuclide', 'Y-90')} dose ({m})")
                written.append(Path(out_dir) / f"rtdose_{m}.dcm")
        with open(tmp / "dvh.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["method", "roi", "dose_gy", "volume_percent"])
            for row in result.dvh_rows:
                w.writerow([row[0], row[1], f"{row[2]:.6g}", f"{row[3]:.6g}"])
        written.append(Path(out_dir) / "dvh.csv")
        report_note = None
        pdf_bytes = None
        if write_report:
            html_text, pdf_bytes, report_note = _report_files(result, list(inputs or []), report_renderer)
            (tmp / "report.html").write_text(html_text, encoding="utf-8")
            written.append(Path(out_dir) / "report.html")
            if pdf_bytes is not None:
                (tmp / "report.pdf").write_bytes(pdf_bytes)
                written.append(Path(out_dir) / "report.pdf")
        dicom_notes: list[str] = []
        if write_dicom and reference is not None:
            from workstation.dosimetry.dicom_export import write_sirt_dicom

            rtdose_files = sorted(tmp.glob("rtdose_*.dcm"))
            dicom_files, dicom_notes = write_sirt_dicom(
                result, tmp, pdf_bytes if write_report else None, rtdose_files
            )
            written.extend(Path(out_dir) / p.name for p in dicom_files)
        results = dict(result.results)
        results["outputs"] = {
            "dose_grid": dose_grid,
            "files": [p.name for p in written] + ["results.json"],
            "report": report_note,
            "dicom_notes": dicom_notes,
        }
        (tmp / "results.json").write_text(
            json.dumps(results, indent=2, default=_json_default, allow_nan=False), encoding="utf-8"
        )
        written.append(Path(out_dir) / "results.json")
    return written
