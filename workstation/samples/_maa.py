"""The maa sample study: 99mTc-MAA planning SPECT/CT of the SIRT patient."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._common import GENERATOR_VERSION, grid_info, iso, save_truth, write_nifti
from workstation.samples._patient import (
    CT_NOISE_HU,
    PATIENT_SIRT,
    SIRT_LESIONS,
    check_lesions_inside,
    lesion_entry,
    microspheres,
    render_ct,
    right_lobe,
    roi_summary,
    tissue_masks,
)
from workstation.samples._physics import (
    LUNG_DENSITY_G_PER_ML,
    SOFT_TISSUE_DENSITY_G_PER_ML,
    TC99M_HALF_LIFE_H,
)


def make_maa(out: Path, seed: int = 99) -> dict[str, Any]:
    """99mTc-MAA planning SPECT/CT of the SIRT patient: known lung shunt and perfused right lobe."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    administered_bq = 150e6
    lung_shunt = 0.08
    half_life_s = TC99M_HALF_LIFE_H * 3600.0
    injection = _dt.datetime(2026, 1, 5, 9, 0, 0)
    scan = _dt.datetime(2026, 1, 5, 10, 0, 0)
    decay = float(2.0 ** (-(scan - injection).total_seconds() / half_life_s))
    lesions = tuple(replace(les, uptake_ratio=ratio) for les, ratio in zip(SIRT_LESIONS, (4.5, 5.0, 2.5, 4.0), strict=True))
    # the patient lies differently on this table: tissue = scanner + offset
    offset = np.array([3.0, -6.0, 14.0])

    ct_shape = (66, 128, 128)
    ct_aff = im.axial_grid(ct_shape, (4.0, 3.0, 3.0), (0.0, 5.0, -27.5))
    x, y, z = im.grid_axes(ct_aff, ct_shape)
    points = (x + offset[0], y + offset[1], z + offset[2])
    hu, labels = render_ct(ct_aff, ct_shape, lesions, rng, points=points)
    hu += im.correlated_noise(ct_shape, 16.0, 0.6, rng)  # low-dose CT: about 20 HU noise in total
    masks = tissue_masks(labels)
    check_lesions_inside(masks, lesions)
    territory = masks["liver"] & np.broadcast_to(right_lobe(points[0], points[1]), ct_shape)
    conc = microspheres(labels, ct_aff, lesions, territory, administered_bq, lung_shunt, rng)
    conc32 = conc.astype(np.float32)
    voxel_ml = float(np.prod([4.0, 3.0, 3.0])) / 1000.0

    study = dw.Study(dw.derived_uid("maa", "study"), "20260105", "095500", "SPECT/CT Tc-99m MAA lung shunt",
                     "MAA1", "WSA0001")
    frame = dw.derived_uid("maa", "frame-of-reference")
    ct_series = dw.Series(dw.derived_uid("maa", "ct"), 2, "CT low dose 4mm (SPECT/CT)", frame, "20260105", "095500")
    spect_series = dw.Series(dw.derived_uid("maa", "spect"), 3, "SPECT Tc-99m MAA OSEM AC SC", frame,
                             "20260105", "100000")
    rp = dw.Radiopharmaceutical(("72454006", "SCT", "^99m^Technetium"),
                                ("85693008", "SCT", "Technetium Tc^99m^ aggregated albumin"),
                                "Tc-99m MAA", administered_bq, half_life_s, injection)
    dw.write_ct_series(hu, ct_aff, out / "ct", PATIENT_SIRT, study, ct_series, tube_current_ma=40)
    spect_shape = (64, 128, 128)
    spect_aff = im.axial_grid(spect_shape, (4.8, 4.8, 4.8), (0.0, 5.0, -27.5))
    fwhm = 10.0
    counts_per_mbq = 30000.0
    counts, expected = im.spect_counts(Volume(conc, ct_aff), spect_aff, spect_shape, fwhm, counts_per_mbq, decay, rng)
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_SIRT, study, spect_series, rp,
                     ("Tc99m 140 keV", 126.0, 154.0), 15000, collimator="LEHR")

    gt = out / "ground_truth"
    files = {name: write_nifti(arr, ct_aff, gt / f"{name}.nii.gz") for name, arr in masks.items()}
    files["perfused_territory"] = write_nifti(territory, ct_aff, gt / "perfused_territory.nii.gz")
    files["activity_bqml"] = write_nifti(conc32, ct_aff, gt / "activity_bqml.nii.gz", Unit.BQML)
    lesion_idx = masks["lesions"]
    rho = SOFT_TISSUE_DENSITY_G_PER_ML
    rois = {
        "liver": roi_summary(conc32, None, masks["liver"], voxel_ml, rho),
        "perfused_territory": roi_summary(conc32, None, territory, voxel_ml, rho),
        "perfused_normal_liver": roi_summary(conc32, None, territory & (lesion_idx == 0), voxel_ml, rho),
        "lungs": roi_summary(conc32, None, masks["lungs"], voxel_ml, LUNG_DENSITY_G_PER_ML),
        "all_lesions": roi_summary(conc32, None, lesion_idx > 0, voxel_ml, rho),
    }
    pn_mean = rois["perfused_normal_liver"]["mean_bq_per_ml"]
    lesion_info = []
    for k, lesion in enumerate(lesions, start=1):
        m = lesion_idx == k
        rois[f"lesion_{k}"] = roi_summary(conc32, None, m, voxel_ml, rho)
        entry = lesion_entry(k, lesion, m, voxel_ml, ct_aff, rois[f"lesion_{k}"]["mean_bq_per_ml"] / pn_mean)
        entry["centre_lps_mm"] = [float(v) for v in np.asarray(lesion.centre_lps_mm) - offset]
        lesion_info.append(entry)
    total = float(conc32.astype(np.float64).sum() * voxel_ml)
    truth = {
        "case": "maa",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "description": "99mTc-MAA planning SPECT/CT of the SIRT patient (two weeks before treatment): right lobar "
        "injection, known lung shunt fraction and perfused territory.",
        "coordinates": "DICOM patient LPS, millimetres, of this study's own frame of reference",
        "frame_of_reference_uid": frame,
        "study_instance_uid": study.uid,
        "series": {"ct": ct_series.uid, "spect": spect_series.uid},
        "to_sirt_frame": {"translation_mm": [float(v) for v in offset],
                          "meaning": "a point p (LPS mm) of this study is p + translation in the sirt study's frame"},
        "nuclide": "Tc-99m",
        "half_life_h": TC99M_HALF_LIFE_H,
        "administered_mbq": administered_bq * 1e-6,
        "injection_datetime": iso(injection),
        "spect_acquisition_datetime": iso(scan),
        "activity_reference": "administration time: activity_bqml.nii.gz is not decayed",
        "total_activity_in_truth_mbq": total * 1e-6,
        "lung_shunt_fraction": lung_shunt,
        "lung_shunt_fraction_from_truth": rois["lungs"]["activity_gbq"] * 1e9 / total,
        "perfused_territory": "right lobe: liver voxels right of the plane x = -24 - 0.176 (y - 38) mm in the sirt "
        "frame (Cantlie line through the IVC and the gallbladder fossa); perfused_territory.nii.gz",
        "perfused_territory_volume_ml": rois["perfused_territory"]["volume_ml"],
        "tumor_to_normal_ratio": rois["all_lesions"]["mean_bq_per_ml"] / pn_mean,
        "rois": rois,
        "lesions": lesion_info,
        "ct": {**grid_info(ct_aff, ct_shape), "noise_sd_hu": float(np.hypot(CT_NOISE_HU, 16.0))},
        "spect": {**grid_info(spect_aff, spect_shape), "fwhm_mm": fwhm, "counts_per_mbq_at_scan": counts_per_mbq,
                  "decay_factor_injection_to_scan": decay, "expected_total_counts": expected,
                  "total_counts": int(counts.sum())},
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
        "label_names": {"lesions": {str(k): f"lesion_{k}" for k in range(1, len(lesions) + 1)},
                        "kidneys": {"1": "right_kidney", "2": "left_kidney"}},
    }
    save_truth(truth, gt / "truth.json")
    return truth


