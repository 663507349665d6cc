"""The sirt sample study: post-treatment 90Y SPECT/CT and 90Y PET of the SIRT patient."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.dosimetry.nuclides import Y90
from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._common import GENERATOR_VERSION, grid_info, iso, save_truth, write_nifti
from workstation.samples._patient import (
    CT_NOISE_HU,
    PATIENT_SIRT,
    SIRT_LESIONS,
    check_lesions_inside,
    ldm_block,
    ldm_dose,
    lesion_entry,
    microspheres,
    render_ct,
    right_lobe,
    roi_summary,
    tissue_masks,
)
from workstation.samples._physics import LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML


def make_sirt(out: Path, seed: int = 90) -> dict[str, Any]:
    """Post-treatment 90Y SPECT/CT (and 90Y PET) of the SIRT patient, right lobar treatment."""
    rng = np.random.default_rng(seed)
    administered_bq = 1.6e9
    lung_shunt = 0.05
    injection = _dt.datetime(2026, 1, 19, 10, 0, 0)
    scan = _dt.datetime(2026, 1, 19, 14, 30, 0)
    elapsed_s = (scan - injection).total_seconds()
    decay = Y90.decay_factor(elapsed_s)

    ct_shape = (88, 192, 192)
    ct_aff = im.axial_grid(ct_shape, (3.0, 2.0, 2.0), (0.0, 5.0, -25.5))
    hu, labels = render_ct(ct_aff, ct_shape, SIRT_LESIONS, rng)
    x, y, z = im.grid_axes(ct_aff, ct_shape)
    masks = tissue_masks(labels)
    check_lesions_inside(masks, SIRT_LESIONS)
    territory = masks["liver"] & np.broadcast_to(right_lobe(x, y), ct_shape)
    conc = microspheres(labels, ct_aff, SIRT_LESIONS, territory, administered_bq, lung_shunt, rng)
    conc32 = conc.astype(np.float32)
    dose32 = ldm_dose(conc32.astype(np.float64), masks["lungs"]).astype(np.float32)
    voxel_ml = float(np.prod([3.0, 2.0, 2.0])) / 1000.0

    study = dw.Study(dw.derived_uid("sirt", "study"), "20260119", "143000",
                     "SPECT/CT Y-90 post SIRT", "SIRT2", "WSA0002")
    frame = dw.derived_uid("sirt", "frame-of-reference")
    ct_series = dw.Series(dw.derived_uid("sirt", "ct"), 2, "CT Abdomen 3mm portal venous (SPECT/CT)",
                          frame, "20260119", "142500")
    spect_series = dw.Series(dw.derived_uid("sirt", "spect"), 3, "SPECT Y-90 bremsstrahlung OSEM AC SC",
                             frame, "20260119", "143000")
    pet_series = dw.Series(dw.derived_uid("sirt", "pet"), 4, "PET Y-90 OSEM TOF (Bq/mL)",
                           frame, "20260119", "150000", station="SAMPLE-PETCT", model="Digital PET")
    rp = dw.Radiopharmaceutical(("14691008", "SCT", "^90^Yttrium"), ("764678003", "SCT", "Yttrium^90^ microspheres"),
                                "Y-90 microspheres", administered_bq, Y90.half_life_s, injection,
                                positron_fraction=3.186e-5)
    dw.write_ct_series(hu, ct_aff, out / "ct", PATIENT_SIRT, study, ct_series)

    conc_vol = Volume(conc, ct_aff)
    spect_shape = (64, 128, 128)
    spect_aff = im.axial_grid(spect_shape, (4.8, 4.8, 4.8), (0.0, 5.0, -25.5))
    spect_fwhm = 14.0
    counts_per_mbq = 1600.0
    counts, expected_total = im.spect_counts(conc_vol, spect_aff, spect_shape, spect_fwhm, counts_per_mbq, decay, rng)
    frame_ms = 20000
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_SIRT, study, spect_series, rp,
                     ("Y90 BREMS", 90.0, 125.0), frame_ms)

    pet_shape = (66, 96, 96)
    pet_aff = im.axial_grid(pet_shape, (4.0, 4.0, 4.0), (0.0, 5.0, -25.5))
    pet_fwhm = 6.0
    pet_counts_per_bqml = 2.5e-5
    pet_scan = _dt.datetime(2026, 1, 19, 15, 0, 0)
    pet = im.pet_bqml(conc_vol, pet_aff, pet_shape, pet_fwhm, pet_counts_per_bqml, rng)
    dw.write_pet_series(pet, pet_aff, out / "pet", PATIENT_SIRT, study, pet_series, rp, pet_scan, 1800000)

    gt = out / "ground_truth"
    files = {}
    for name, arr in masks.items():
        files[name] = write_nifti(arr, ct_aff, gt / f"{name}.nii.gz")
    files["perfused_territory"] = write_nifti(territory, ct_aff, gt / "perfused_territory.nii.gz")
    files["activity_bqml"] = write_nifti(conc32, ct_aff, gt / "activity_bqml.nii.gz", Unit.BQML)
    files["dose_ldm_gy"] = write_nifti(dose32, ct_aff, gt / "dose_ldm_gy.nii.gz", Unit.GY)

    lungs = masks["lungs"]
    liver = masks["liver"]
    lesion_idx = masks["lesions"]
    normal = liver & (lesion_idx == 0)
    perfused_normal = territory & (lesion_idx == 0)
    rois = {
        "liver": roi_summary(conc32, dose32, liver, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "normal_liver": roi_summary(conc32, dose32, normal, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "perfused_territory": roi_summary(conc32, dose32, territory, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "perfused_normal_liver": roi_summary(conc32, dose32, perfused_normal, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "lungs": roi_summary(conc32, dose32, lungs, voxel_ml, LUNG_DENSITY_G_PER_ML),
    }
    all_lesions = lesion_idx > 0
    rois["all_lesions"] = roi_summary(conc32, dose32, all_lesions, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML)
    lesion_info = []
    pn_mean = rois["perfused_normal_liver"]["mean_bq_per_ml"]
    for k, lesion in enumerate(SIRT_LESIONS, start=1):
        m = lesion_idx == k
        rois[f"lesion_{k}"] = roi_summary(conc32, dose32, m, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML)
        lesion_info.append(lesion_entry(k, lesion, m, voxel_ml, ct_aff, rois[f"lesion_{k}"]["mean_bq_per_ml"] / pn_mean))
    total_gbq = float(conc32.astype(np.float64).sum() * voxel_ml * 1e-9)
    treated = [e["tumor_to_normal_ratio"] for e in lesion_info if e["tumor_to_normal_ratio"] > 0]
    truth = {
        "case": "sirt",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "description": "Right lobar 90Y radioembolisation; post-treatment bremsstrahlung SPECT/CT and 90Y PET "
        "of one known microsphere distribution.",
        "coordinates": "DICOM patient LPS, millimetres; all images share one frame of reference",
        "frame_of_reference_uid": frame,
        "study_instance_uid": study.uid,
        "series": {"ct": ct_series.uid, "spect": spect_series.uid, "pet": pet_series.uid},
        "nuclide": "Y-90",
        "administered_gbq": administered_bq * 1e-9,
        "injection_datetime": iso(injection),
        "spect_acquisition_datetime": iso(scan),
        "pet_acquisition_datetime": iso(pet_scan),
        "activity_reference": "administration time: activity_bqml.nii.gz is not decayed",
        "total_activity_in_truth_gbq": total_gbq,
        "activity_sums_to": "administered activity: (1 - LSF) in the liver, LSF in the lungs, nothing elsewhere; "
        "the stored float32 map sums to total_activity_in_truth_gbq (float32 rounding < 1e-6 relative)",
        "lung_shunt_fraction": lung_shunt,
        "lung_shunt_fraction_from_truth": rois["lungs"]["activity_gbq"] / total_gbq,
        "tumor_to_normal_ratio": rois["all_lesions"]["mean_bq_per_ml"] / pn_mean,
        "tumor_to_normal_ratio_definition": "mean concentration of treated lesions (necrotic cores included) over "
        "the mean of the perfused normal liver (perfused territory minus lesions, vessels included)",
        "tumor_to_normal_ratio_range_treated_lesions": [min(treated), max(treated)],
        "ldm": ldm_block(),
        "rois": rois,
        "lesions": lesion_info,
        "ct": {**grid_info(ct_aff, ct_shape), "noise_sd_hu": CT_NOISE_HU,
               "partial_volume": "linear ramp of the signed distance over the voxel size (2.29 mm)",
               "tissue_hu": {"liver": an.TISSUE_HU[an.LIVER], "portal_vein": an.TISSUE_HU[an.PORTAL],
                             "fat": an.TISSUE_HU[an.FAT], "muscle": an.TISSUE_HU[an.MUSCLE],
                             "lung": an.TISSUE_HU[an.LUNG], "bone_cortex": an.TISSUE_HU[an.BONE],
                             "spleen": an.TISSUE_HU[an.SPLEEN], "kidney": an.TISSUE_HU[an.KIDNEY_R]}},
        "spect": {**grid_info(spect_aff, spect_shape), "fwhm_mm": spect_fwhm,
                  "counts_per_mbq_at_scan": counts_per_mbq, "decay_factor_injection_to_scan": decay,
                  "expected_total_counts": expected_total, "total_counts": int(counts.sum()),
                  "model": "Gaussian blur of the truth activity at scan time, trilinear sampling, Poisson counts; "
                  "no scatter or attenuation modelled (an ideal corrected reconstruction)"},
        "pet": {**grid_info(pet_aff, pet_shape), "fwhm_mm": pet_fwhm, "units": "BQML",
                "decay_correction": "ADMIN (values are concentrations at injection_datetime)",
                "noise_counts_per_bq_per_ml": pet_counts_per_bqml,
                "model": "Gaussian blur of the truth concentration, Poisson noise of expected x counts_per_bq_per_ml"},
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
        "label_names": {"lesions": {str(k): f"lesion_{k}" for k in range(1, len(SIRT_LESIONS) + 1)},
                        "kidneys": {"1": "right_kidney", "2": "left_kidney"}},
    }
    save_truth(truth, gt / "truth.json")
    return truth

