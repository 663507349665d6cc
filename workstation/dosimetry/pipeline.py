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

import datetime as _dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError, NoOverlapError
from workstation.core.grid import Grid
from workstation.core.progress import Progress, no_progress
from workstation.core.volume import Volume
from workstation.dosimetry._sirt_outputs import ReportRenderer, SirtResult, write_outputs
from workstation.dosimetry._sirt_pvc import check_pvc, gtm_roi_doses, partial_volume_correction
from workstation.dosimetry._sirt_rois import (
    FAR_FROM_LIVER_MM,
    ct_grid_mass_g,
    far_from_liver_fraction,
    roi_mass_density_note,
    split_rois,
)
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

__all__ = ["FAR_FROM_LIVER_MM", "ReportRenderer", "SirtResult", "check_ct_overlaps_activity", "run_sirt", "write_outputs", "parse_methods", "roi_role"]



def _union(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Voxel-wise maximum of partial-volume weights (their union), without stacking copies.

    ``np.max(np.stack(...))`` copied every weight map into one array first (0.65 s
    of a PET-sized ``sirt`` run); a running maximum needs one output array.
    """
    out = np.array(weights[0], copy=True)
    for w in weights[1:]:
        np.maximum(out, w, out=out)
    return out

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


#: Largest grid (voxels) on which the RBV-corrected activity and the doses are computed; a larger CT
#: grid is coarsened by an integer factor per axis (memory: about 10 float32 copies of the grid).
MAX_PVC_GRID_VOXELS: int = 24_000_000


def _pvc_grid(ct: Volume) -> Grid:
    """The CT grid, or the CT's field of view with an integer multiple of its spacing when too large."""
    factor = 1
    while ct.grid.size / factor**3 > MAX_PVC_GRID_VOXELS:
        factor += 1
    return ct.grid.coarsened(factor)


def check_ct_overlaps_activity(ct: Volume, activity_image: Volume) -> None:
    """Refuse a CT that does not overlap the activity image in patient space (files named when known).

    Raises
    ------
    NoOverlapError
        Their voxel extents do not meet.
    """
    if not ct.overlaps(activity_image):
        def named(v: Volume) -> str:
            return f" {v.metadata.source_path}" if v.metadata.source_path else ""

        raise NoOverlapError(
            f"The CT{named(ct)} and the activity image{named(activity_image)} do not overlap in patient space; "
            "check that they belong to the same study and frame of reference."
        )


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
    progress: Progress | None = None,
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
        LDM factor (Gy kg/GBq); default the nuclide's (90Y 49.67, 166Ho 15.87); sets the energy
        per decay of every engine.
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

    tick = progress or no_progress
    methods = parse_methods(method, ct is not None)
    pvc_method = check_pvc(pvc, psf_fwhm_mm)
    given_names = set((rois or {}).keys())
    chosen_roles, role_sources = resolve_roles((rois or {}).keys(), roi_roles)
    all_roles: dict[str, str] = {n: r.value for n, r in chosen_roles.items()}
    if "normal_liver" in all_roles and all_roles["normal_liver"] != RoiRole.NORMAL_LIVER:
        raise InvalidInputError(
            "The ROI name 'normal_liver' is kept for the liver minus the lesions; rename that ROI "
            "or give it the normal liver role."
        )
    rois = split_rois(dict(rois or {}), all_roles)
    if ct is not None:
        check_ct_overlaps_activity(ct, activity_image)
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
            lesion_union = _union([weights[n] for n in lesion_union_names])
        if liver_names and lesion_union is not None and not any(r == "normal_liver" for r in roles.values()):
            liver_w = _union([weights[n] for n in liver_names])
            normal = np.clip(liver_w - lesion_union, 0.0, 1.0).astype(np.float32)
            if np.any(normal > 0):
                weights["normal_liver"] = normal
                roles["normal_liver"] = "normal_liver"
        norm_names = liver_names + lesion_names
        norm_w = None
        norm_region = None
        if norm_names:
            norm_w = _union([weights[n] for n in norm_names])
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
        gtm, pvc_block, region_masks, body_mask = partial_volume_correction(
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
    lung_mask = _union(lung_w) >= 0.5 if lung_w else None
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
        lung_mass_ct = ct_grid_mass_g(rois[lung_names[0]], ct, lung_names[0])
    if pvc_block is not None:
        inv_rho_kg = 1.0 / (np.asarray(ldm_rho, dtype=np.float64) * 1e-3)
        inv_rho_roi = {
            n: float(np.sum(w * inv_rho_kg) / w.sum(dtype=np.float64)) if np.ndim(inv_rho_kg) else float(inv_rho_kg)
            for n, w in weights.items()
        }
        pvc_block["gtm_ldm"] = gtm_roi_doses(gtm, pvc_weights, roles, cal, inv_rho_roi, f, norm_w is not None)
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
    any_roi = _union(list(weights.values())) if weights else None
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
            "roi_mass_density": roi_mass_density_note(m, tissue_density_g_per_ml, lung_mask is not None,
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
        far = far_from_liver_fraction(activity, _union([weights[n] for n in liver_names]))
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
