"""One function per sample study; each writes DICOM + ground truth and returns truth.json."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.dosimetry.nuclides import Y90
from workstation.io.formats import write_image
from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._physics import (
    DENSITY_SOURCES,
    LUNG_DENSITY_G_PER_ML,
    SOFT_TISSUE_DENSITY_G_PER_ML,
    TC99M_HALF_LIFE_H,
)

GENERATOR_VERSION = 1

# ---------------------------------------------------------------- shared patient
PATIENT_SIRT = dw.Patient("SAMPLE^SIRT", "WS-SIRT-001", "19580312", "M", 78.0, 1.76)

#: The lesions of the SIRT patient (tissue frame). Diameters 14–52 mm.
SIRT_LESIONS: tuple[an.Lesion, ...] = (
    an.Lesion((-65.0, 25.0, -20.0), 52.0, 55.0, 4.0, necrotic_core_diameter_mm=22.0,
              description="large hypodense lesion, right lobe, necrotic core"),
    an.Lesion((-70.0, 0.0, 15.0), 32.0, 165.0, 6.0,
              description="hyperdense lesion at the dome, under the right lung base"),
    an.Lesion((-118.0, 5.0, -20.0), 22.0, 60.0, 3.0,
              description="hypodense subcapsular lesion, lateral right lobe"),
    an.Lesion((40.0, -35.0, 12.0), 14.0, 160.0, 5.0,
              description="small hyperdense lesion, left lobe (outside the treated territory)"),
)

CT_NOISE_HU = 12.0  # SD of CT noise (HU), slightly correlated (sigma 0.6 voxel)

_TEXTURE_HU = {an.VISCERA: 40.0, an.LUNG: 25.0, an.LIVER: 4.0, an.FAT: 8.0, an.MUSCLE: 6.0,
               an.SPLEEN: 5.0, an.KIDNEY_L: 6.0, an.KIDNEY_R: 6.0, an.MARROW: 40.0}


def right_lobe(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True right of the Cantlie line (a vertical plane through the IVC and the gallbladder fossa)."""
    return x < -24.0 - 0.176 * (y - 38.0)


def _iso(t: _dt.datetime) -> str:
    return t.isoformat()


def _write_nifti(array: np.ndarray, affine: np.ndarray, path: Path, units: Unit = Unit.LABEL) -> str:
    arr = array.astype(np.uint8) if array.dtype == bool else array
    write_image(Volume(arr, affine, units=units), path)
    return path.name


def _render_ct(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    lesions: tuple[an.Lesion, ...],
    rng: np.random.Generator,
    points: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HU (with texture, partial volume and noise) and tissue labels on a grid.

    ``points`` are the tissue-frame coordinates of the voxel centres; by default
    the grid's own coordinates (scanner frame = tissue frame).
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    voxel_mm = float(np.prod(spacing) ** (1 / 3))
    x, y, z = points if points is not None else im.grid_axes(affine, shape)
    hu, labels = an.paint_patient(x, y, z, lesions, voxel_mm)
    amp = np.zeros(256, dtype=np.float32)
    for label, value in _TEXTURE_HU.items():
        amp[label] = value
    hu += amp[labels] * im.smooth_field(shape, tuple(4.0 / spacing), rng).astype(np.float32)
    hu += im.correlated_noise(shape, CT_NOISE_HU, 0.6, rng)
    return hu, labels


def _masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    liver = np.isin(labels, an.liver_labels())
    kidneys = np.zeros(labels.shape, np.uint8)
    kidneys[labels == an.KIDNEY_R] = 1
    kidneys[labels == an.KIDNEY_L] = 2
    return {
        "body": labels != an.AIR,
        "lungs": labels == an.LUNG,
        "liver": liver,
        "lesions": an.lesion_index(labels),
        "liver_vessels": np.isin(labels, (an.PORTAL, an.HEPATIC_VEIN)),
        "spleen": labels == an.SPLEEN,
        "kidneys": kidneys,
    }


def _microspheres(
    labels: np.ndarray,
    affine: np.ndarray,
    lesions: tuple[an.Lesion, ...],
    territory: np.ndarray,
    administered_bq: float,
    lung_shunt: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Particle (microsphere or MAA) concentration (Bq/mL) at administration.

    Normal perfused liver: 1 ± 15 % smooth heterogeneity (10 mm correlation);
    lesion k: ``uptake_ratio`` × that mean, rim-weighted (0.7 + 0.6 (r/R)²) and
    ± 20 % heterogeneous, zero in a necrotic core; large vessels and unperfused
    liver: zero; lungs: uniform. Scaled so that the liver holds exactly
    ``(1 - lung_shunt)`` and the lungs ``lung_shunt`` of ``administered_bq``.
    """
    shape = labels.shape
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    conc = np.zeros(shape, dtype=np.float64)
    normal = territory & (labels == an.LIVER)
    het = np.clip(1.0 + 0.15 * im.smooth_field(shape, tuple(10.0 / spacing), rng), 0.4, None)
    conc[normal] = het[normal]
    normal_mean = float(conc[normal].mean())
    het2 = im.smooth_field(shape, tuple(6.0 / spacing), rng)
    x, y, z = im.grid_axes(affine, shape)
    index = an.lesion_index(labels)
    for k, lesion in enumerate(lesions, start=1):
        viable = (labels == an.LESION_BASE + k) & territory
        if not viable.any():
            continue
        cx, cy, cz = lesion.centre_lps_mm
        r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (lesion.diameter_mm / 2)
        f = (0.7 + 0.6 * np.minimum(r, 1.0) ** 2) * np.clip(1.0 + 0.2 * het2, 0.3, None)
        f_viable = f[viable]
        # uptake ratio relative to the mean of the whole lesion (necrotic core included)
        n_total = int((index == k).sum())
        conc[viable] = lesion.uptake_ratio * normal_mean * f_viable * n_total / f_viable.sum()
    liver = np.isin(labels, an.liver_labels())
    lungs = labels == an.LUNG
    conc[lungs] = 1.0
    liver_sum = conc[liver].sum() * voxel_ml
    lung_sum = conc[lungs].sum() * voxel_ml
    conc[liver] *= (1.0 - lung_shunt) * administered_bq / liver_sum
    conc[lungs] *= lung_shunt * administered_bq / lung_sum
    return conc


def _roi(conc: np.ndarray, dose: np.ndarray | None, mask: np.ndarray, voxel_ml: float, density: float) -> dict[str, Any]:
    n = int(mask.sum())
    out: dict[str, Any] = {
        "voxels": n,
        "volume_ml": n * voxel_ml,
        "mass_g": n * voxel_ml * density,
        "density_g_per_ml": density,
        "activity_gbq": float(conc[mask].astype(np.float64).sum() * voxel_ml * 1e-9),
        "mean_bq_per_ml": float(conc[mask].astype(np.float64).mean()) if n else 0.0,
    }
    if dose is not None:
        out["mean_ldm_gy"] = float(dose[mask].astype(np.float64).mean()) if n else 0.0
    return out


def _spect_counts(
    conc: Volume,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    fwhm_mm: float,
    counts_per_mbq: float,
    decay_factor: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Poisson counts of a SPECT reconstruction: blurred activity at scan time × sensitivity."""
    voxel_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    expected = im.blur_and_sample(conc, affine, shape, fwhm_mm) * voxel_ml * decay_factor * 1e-6 * counts_per_mbq
    return rng.poisson(expected).astype(np.uint16), float(expected.sum())


def _pet_bqml(
    conc: Volume, affine: np.ndarray, shape: tuple[int, int, int], fwhm_mm: float,
    counts_per_bqml: float, rng: np.random.Generator,
) -> np.ndarray:
    """PET image (Bq/mL at administration): blurred truth with Poisson noise of ``counts_per_bqml``."""
    expected = im.blur_and_sample(conc, affine, shape, fwhm_mm)
    return rng.poisson(expected * counts_per_bqml) / counts_per_bqml


def _ldm_dose(conc: np.ndarray, lungs: np.ndarray) -> np.ndarray:
    """LDM absorbed dose (Gy) for complete decay: D = f × A / M per voxel.

    f = 49.67 Gy·kg/GBq (``Y90.ldm_gy_kg_per_gbq``); A = C × V × 1e-9 GBq and
    M = ρ × V × 1e-3 kg give D = f × 1e-6 × C / ρ with C in Bq/mL and ρ in g/mL.
    """
    density = np.where(lungs, LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML)
    return Y90.ldm_gy_kg_per_gbq * 1e-6 * conc / density


def _ldm_block() -> dict[str, Any]:
    return {
        "formula": "D[Gy] = f * A[GBq] / M[kg] per voxel, M = voxel volume x density",
        "ldm_gy_kg_per_gbq": Y90.ldm_gy_kg_per_gbq,
        "density_g_per_ml": {"lungs": LUNG_DENSITY_G_PER_ML, "all_other_tissue": SOFT_TISSUE_DENSITY_G_PER_ML},
        "half_life_h": Y90.half_life_h,
        "sources": [*Y90.sources, *DENSITY_SOURCES.values()],
        "dose_is_for": "complete decay of the true activity (permanent implant), no transport",
    }


def _grid_info(affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, Any]:
    return {
        "size_xyz": [int(s) for s in shape[::-1]],
        "spacing_xyz_mm": [float(s) for s in np.linalg.norm(affine[:3, :3], axis=0)[::-1]],
        "origin_lps_mm": [float(v) for v in affine[:3, 3]],
        "direction": "identity (rows +y posterior, columns +x left, slices +z superior)",
    }


def _save_truth(truth: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------ SIRT
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
    hu, labels = _render_ct(ct_aff, ct_shape, SIRT_LESIONS, rng)
    x, y, z = im.grid_axes(ct_aff, ct_shape)
    masks = _masks(labels)
    _check_lesions_inside(masks, SIRT_LESIONS)
    territory = masks["liver"] & np.broadcast_to(right_lobe(x, y), ct_shape)
    conc = _microspheres(labels, ct_aff, SIRT_LESIONS, territory, administered_bq, lung_shunt, rng)
    conc32 = conc.astype(np.float32)
    dose32 = _ldm_dose(conc32.astype(np.float64), masks["lungs"]).astype(np.float32)
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
    counts, expected_total = _spect_counts(conc_vol, spect_aff, spect_shape, spect_fwhm, counts_per_mbq, decay, rng)
    frame_ms = 20000
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_SIRT, study, spect_series, rp,
                     ("Y90 BREMS", 90.0, 125.0), frame_ms)

    pet_shape = (66, 96, 96)
    pet_aff = im.axial_grid(pet_shape, (4.0, 4.0, 4.0), (0.0, 5.0, -25.5))
    pet_fwhm = 6.0
    pet_counts_per_bqml = 2.5e-5
    pet_scan = _dt.datetime(2026, 1, 19, 15, 0, 0)
    pet = _pet_bqml(conc_vol, pet_aff, pet_shape, pet_fwhm, pet_counts_per_bqml, rng)
    dw.write_pet_series(pet, pet_aff, out / "pet", PATIENT_SIRT, study, pet_series, rp, pet_scan, 1800000)

    gt = out / "ground_truth"
    files = {}
    for name, arr in masks.items():
        files[name] = _write_nifti(arr, ct_aff, gt / f"{name}.nii.gz")
    files["perfused_territory"] = _write_nifti(territory, ct_aff, gt / "perfused_territory.nii.gz")
    files["activity_bqml"] = _write_nifti(conc32, ct_aff, gt / "activity_bqml.nii.gz", Unit.BQML)
    files["dose_ldm_gy"] = _write_nifti(dose32, ct_aff, gt / "dose_ldm_gy.nii.gz", Unit.GY)

    lungs = masks["lungs"]
    liver = masks["liver"]
    lesion_idx = masks["lesions"]
    normal = liver & (lesion_idx == 0)
    perfused_normal = territory & (lesion_idx == 0)
    rois = {
        "liver": _roi(conc32, dose32, liver, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "normal_liver": _roi(conc32, dose32, normal, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "perfused_territory": _roi(conc32, dose32, territory, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "perfused_normal_liver": _roi(conc32, dose32, perfused_normal, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML),
        "lungs": _roi(conc32, dose32, lungs, voxel_ml, LUNG_DENSITY_G_PER_ML),
    }
    all_lesions = lesion_idx > 0
    rois["all_lesions"] = _roi(conc32, dose32, all_lesions, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML)
    lesion_info = []
    pn_mean = rois["perfused_normal_liver"]["mean_bq_per_ml"]
    for k, lesion in enumerate(SIRT_LESIONS, start=1):
        m = lesion_idx == k
        rois[f"lesion_{k}"] = _roi(conc32, dose32, m, voxel_ml, SOFT_TISSUE_DENSITY_G_PER_ML)
        lesion_info.append(_lesion_entry(k, lesion, m, voxel_ml, ct_aff, rois[f"lesion_{k}"]["mean_bq_per_ml"] / pn_mean))
    total_gbq = float(conc32.astype(np.float64).sum() * voxel_ml * 1e-9)
    treated = [e["tumour_to_normal_ratio"] for e in lesion_info if e["tumour_to_normal_ratio"] > 0]
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
        "injection_datetime": _iso(injection),
        "spect_acquisition_datetime": _iso(scan),
        "pet_acquisition_datetime": _iso(pet_scan),
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
        "ldm": _ldm_block(),
        "rois": rois,
        "lesions": lesion_info,
        "ct": {**_grid_info(ct_aff, ct_shape), "noise_sd_hu": CT_NOISE_HU,
               "partial_volume": "linear ramp of the signed distance over the voxel size (2.29 mm)",
               "tissue_hu": {"liver": an.TISSUE_HU[an.LIVER], "portal_vein": an.TISSUE_HU[an.PORTAL],
                             "fat": an.TISSUE_HU[an.FAT], "muscle": an.TISSUE_HU[an.MUSCLE],
                             "lung": an.TISSUE_HU[an.LUNG], "bone_cortex": an.TISSUE_HU[an.BONE],
                             "spleen": an.TISSUE_HU[an.SPLEEN], "kidney": an.TISSUE_HU[an.KIDNEY_R]}},
        "spect": {**_grid_info(spect_aff, spect_shape), "fwhm_mm": spect_fwhm,
                  "counts_per_mbq_at_scan": counts_per_mbq, "decay_factor_injection_to_scan": decay,
                  "expected_total_counts": expected_total, "total_counts": int(counts.sum()),
                  "model": "Gaussian blur of the truth activity at scan time, trilinear sampling, Poisson counts; "
                  "no scatter or attenuation modelled (an ideal corrected reconstruction)"},
        "pet": {**_grid_info(pet_aff, pet_shape), "fwhm_mm": pet_fwhm, "units": "BQML",
                "decay_correction": "ADMIN (values are concentrations at injection_datetime)",
                "noise_counts_per_bq_per_ml": pet_counts_per_bqml,
                "model": "Gaussian blur of the truth concentration, Poisson noise of expected x counts_per_bq_per_ml"},
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
        "label_names": {"lesions": {str(k): f"lesion_{k}" for k in range(1, len(SIRT_LESIONS) + 1)},
                        "kidneys": {"1": "right_kidney", "2": "left_kidney"}},
    }
    _save_truth(truth, gt / "truth.json")
    return truth


def _check_lesions_inside(masks: dict[str, np.ndarray], lesions: tuple[an.Lesion, ...]) -> None:
    idx = masks["lesions"]
    for k in range(1, len(lesions) + 1):
        m = idx == k
        if not m.any() or not masks["liver"][m].all():
            raise RuntimeError(f"sample generator: lesion {k} is not inside the liver")


def _lesion_entry(k: int, lesion: an.Lesion, mask: np.ndarray, voxel_ml: float, affine: np.ndarray,
                  tnr: float) -> dict[str, Any]:
    idx = np.argwhere(mask)
    centroid = idx.mean(axis=0) @ affine[:3, :3].T + affine[:3, 3]
    r = lesion.diameter_mm / 2
    return {
        "label": k,
        "description": lesion.description,
        "centre_lps_mm": list(lesion.centre_lps_mm),
        "mask_centroid_lps_mm": [float(v) for v in centroid],
        "diameter_mm": lesion.diameter_mm,
        "volume_ml_analytic": 4 / 3 * np.pi * r**3 / 1000,
        "volume_ml_mask": int(mask.sum()) * voxel_ml,
        "ct_hu": lesion.hu,
        "necrotic_core_diameter_mm": lesion.necrotic_core_diameter_mm,
        "tumour_to_normal_ratio": tnr,
    }


# -------------------------------------------------------------------- ablation
PATIENT_ABLATION = dw.Patient("SAMPLE^ABLATION", "WS-ABL-001", "19610704", "F", 64.0, 1.65)

#: Target tumour of the ablation case (tissue frame = pre-CT frame).
ABLATION_TUMOUR = an.Lesion((-88.0, 15.0, -35.0), 24.0, 62.0, 1.0, description="hypodense target tumour")

#: Ablation zone: an ellipsoid along the applicator axis e3 with radii (mm) along
#: (e1, e2, e3), centred 3.5 mm from the tumour centre along e1 (nominal margins
#: 2.5 mm towards -e1, 9.5 mm towards +e1, 5 mm along ±e2, 9 mm along ±e3),
#: plus a smooth radial irregularity of up to ±1.5 mm.
ABLATION_AXIS = np.array([-0.6, -0.7, 0.4]) / np.linalg.norm([-0.6, -0.7, 0.4])
ABLATION_RADII_MM = (18.0, 17.0, 21.0)
ABLATION_OFFSET_E1_MM = 3.5
_IRREGULARITY = (  # (amplitude mm, frequency vector, phase rad)
    (0.6, (2.0, 1.0, 0.0), 0.3),
    (0.5, (0.0, 2.0, -1.0), 1.1),
    (0.4, (1.0, -1.0, 2.0), 2.0),
)


def ablation_frame() -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal axes (rows e1, e2, e3) and centre (LPS mm, tissue frame) of the ablation zone."""
    e3 = ABLATION_AXIS
    e1 = np.cross(e3, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(e3, e1)
    axes = np.stack([e1, e2, e3])
    centre = np.asarray(ABLATION_TUMOUR.centre_lps_mm) + ABLATION_OFFSET_E1_MM * e1
    return axes, centre


def ablation_radius(directions: np.ndarray) -> np.ndarray:
    """Radius (mm) of the star-shaped ablation zone along unit directions (…, 3) (tissue frame)."""
    axes, _ = ablation_frame()
    local = directions @ axes.T
    radii = np.asarray(ABLATION_RADII_MM)
    r = 1.0 / np.sqrt(np.sum((local / radii) ** 2, axis=-1))
    for amp, freq, phase in _IRREGULARITY:
        r = r + amp * np.sin(np.pi * (local @ np.asarray(freq)) + phase)
    return r


def ablation_sd(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Radial signed distance (mm; sign exact) to the ablation-zone surface, tissue frame."""
    _, c = ablation_frame()
    d = np.stack(np.broadcast_arrays(x - c[0], y - c[1], z - c[2]), axis=-1)
    rho = np.linalg.norm(d, axis=-1)
    u = d / np.maximum(rho, 1e-9)[..., None]
    return rho - ablation_radius(u)


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniformly spread unit vectors (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=-1)


def breathing_transform(post_affine: np.ndarray, post_shape: tuple[int, int, int]) -> Any:
    """The true post→pre transform: rigid(B-spline(p)) (ITK convention, fixed = post-CT).

    The B-spline (order 3, 4×4×4 mesh over the post-CT field of view) displaces
    superior tissue more than inferior tissue, like a different breath hold:
    up to 5 mm cranio-caudal, 2 mm antero-posterior, 1 mm lateral. The rigid part
    rotates by (1.7°, −1.1°, 2.9°) about the post-CT centre and translates by
    (6, −4, 12) mm.
    """
    import SimpleITK as sitk

    ref = Volume(np.zeros(post_shape, np.uint8), post_affine).to_sitk()
    bspline = sitk.BSplineTransformInitializer(ref, [4, 4, 4], 3)
    fixed = np.array(bspline.GetFixedParameters())
    size = fixed[0:3].astype(int)
    origin = fixed[3:6]
    spacing = fixed[6:9]
    direction = fixed[9:18].reshape(3, 3)
    ii, jj, kk = np.meshgrid(*(np.arange(n) for n in size), indexing="ij")
    idx = np.stack([ii, jj, kk], axis=-1).reshape(-1, 3)  # x fastest after transpose below
    pos = origin + (idx * spacing) @ direction.T
    s = 0.5 * (1.0 + np.tanh((pos[:, 2] + 10.0) / 40.0)) * (1.0 + 0.2 * np.cos(pos[:, 0] / 60.0))
    disp = np.stack([1.0 * s, -2.0 * s, 5.0 * s], axis=-1)
    # ITK coefficient order: component-major, then x fastest, y, z
    coeff = disp.reshape(size[0], size[1], size[2], 3).transpose(3, 2, 1, 0).reshape(3, -1)
    bspline.SetParameters(tuple(float(v) for v in coeff.ravel()))
    rigid = sitk.Euler3DTransform()
    centre = post_affine[:3, :3] @ ((np.array(post_shape) - 1) / 2) + post_affine[:3, 3]
    rigid.SetCenter(tuple(float(v) for v in centre))
    rigid.SetRotation(0.03, -0.02, 0.05)
    rigid.SetTranslation((6.0, -4.0, 12.0))
    return sitk.CompositeTransform([rigid, bspline])


def _displaced_points(transform: Any, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """T(p) for every voxel centre p of a grid: (nz, ny, nx, 3) LPS mm."""
    import SimpleITK as sitk

    ref = Volume(np.zeros(shape, np.uint8), affine).to_sitk()
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, ref.GetSize(), ref.GetOrigin(), ref.GetSpacing(), ref.GetDirection()
    )
    return im.grid_points(affine, shape) + sitk.GetArrayFromImage(field)


class _FastTransform:
    """Vectorised evaluation of a smooth transform from its samples on a 1 mm grid (cubic spline)."""

    def __init__(self, transform: Any, centre_lps_mm: np.ndarray, half_width_mm: float, rotation: np.ndarray):
        from scipy import ndimage

        n = int(2 * half_width_mm) + 1
        self.affine = im.axial_grid((n, n, n), (1.0, 1.0, 1.0), tuple(centre_lps_mm))
        pts = _displaced_points(transform, self.affine, (n, n, n))
        self.coeffs = [ndimage.spline_filter(pts[..., c], order=3) for c in range(3)]
        self.inv_affine = np.linalg.inv(self.affine)
        self.rotation = rotation

    def __call__(self, p: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        idx = p @ self.inv_affine[:3, :3].T + self.inv_affine[:3, 3]
        return np.stack(
            [ndimage.map_coordinates(c, idx.T, order=3, prefilter=False, mode="nearest") for c in self.coeffs],
            axis=-1,
        )

    def inverse(self, q: np.ndarray, iterations: int = 30) -> np.ndarray:
        """Solve T(p) = q by the fixed-point iteration p ← p − Rᵀ(T(p) − q)."""
        p = q.copy()
        for _ in range(iterations):
            step = (self(p) - q) @ self.rotation
            p = p - step
            if np.abs(step).max() < 1e-10:
                break
        return p


def ablation_margins(transform: Any, spacing_mm: float = 0.5) -> dict[str, Any]:
    """True margins in post-CT space: surface samplings plus a local refinement of the minimum.

    The tumour sphere and the ablation-zone surface are sampled in the tissue
    frame (Fibonacci lattices, ``spacing_mm``), carried to post-CT space by
    T⁻¹, and each tumour-surface sample gets the signed distance to the nearest
    ablation-surface sample (positive inside the zone): the percentiles come
    from these (sampling error below h²/(6d) ≈ 0.03 mm for h = 0.5 mm, d ≥ 1.5 mm).
    The minimal margin is then refined by minimising the distance between the
    two surfaces over both surface parameters (Nelder–Mead, 1e-7 mm), starting
    from the closest sampled pair.
    """
    from scipy.optimize import minimize
    from scipy.spatial import cKDTree

    rot = np.array(transform.GetNthTransform(0).GetMatrix()).reshape(3, 3)
    t_centre = np.asarray(ABLATION_TUMOUR.centre_lps_mm)
    fast = _FastTransform(transform, _invert_point(transform, t_centre, rot), 40.0, rot)
    r = ABLATION_TUMOUR.diameter_mm / 2
    _, c = ablation_frame()
    n_t = int(4 * np.pi * r**2 / spacing_mm**2)
    n_a = int(4 * np.pi * max(ABLATION_RADII_MM) ** 2 / spacing_mm**2)
    u_t = fibonacci_sphere(n_t)
    u_a = fibonacci_sphere(n_a)
    tumour_tissue = t_centre + r * u_t
    tumour_post = fast.inverse(tumour_tissue)
    abl_post = fast.inverse(c + ablation_radius(u_a)[:, None] * u_a)
    residual = float(np.abs(fast(tumour_post) - tumour_tissue).max())
    dist, nearest = cKDTree(abl_post).query(tumour_post)
    inside = ablation_sd(*tumour_tissue.T) < 0
    if not inside.all():
        raise RuntimeError("sample generator: the ablation zone does not cover the tumour")
    k = int(np.argmin(dist))

    def local(u0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t1 = np.cross(u0, [0.0, 0.0, 1.0] if abs(u0[2]) < 0.9 else [1.0, 0.0, 0.0])
        t1 /= np.linalg.norm(t1)
        return t1, np.cross(u0, t1)

    tu1, tu2 = local(u_t[k])
    au1, au2 = local(u_a[nearest[k]])

    def gap(params: np.ndarray) -> float:
        ut = u_t[k] + params[0] * tu1 + params[1] * tu2
        ut /= np.linalg.norm(ut)
        ua = u_a[nearest[k]] + params[2] * au1 + params[3] * au2
        ua /= np.linalg.norm(ua)
        pts = np.stack([t_centre + r * ut, c + ablation_radius(ua[None])[0] * ua])
        post = fast.inverse(pts)
        return float(np.linalg.norm(post[0] - post[1]))

    step = spacing_mm / r
    res = minimize(gap, np.zeros(4), method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 4000,
                            "initial_simplex": np.vstack([np.zeros(4), step * np.eye(4)])})
    minimal = min(float(res.fun), float(dist[k]))
    return {
        "minimal_margin_mm": minimal,
        "minimal_margin_sampled_mm": float(dist[k]),
        "margin_percentiles_mm": {str(q): float(np.percentile(dist, q)) for q in (5, 25, 50, 75, 95)},
        "maximal_margin_mm": float(dist.max()),
        "minimal_margin_location_post_lps_mm": [float(v) for v in tumour_post[k]],
        "surface_samples": {"tumour": n_t, "ablation_zone": n_a, "spacing_mm": spacing_mm},
        "inverse_transform_residual_mm": residual,
        "method": "tumour sphere and ablation surface sampled in the tissue frame (Fibonacci lattices, 0.5 mm), "
        "mapped to post-CT space by the inverse of transform.tfm (fixed-point iteration on a 1 mm "
        "cubic-spline sampling of the transform), nearest-sample distances (percentiles); the minimum "
        "refined by Nelder-Mead over both surfaces' parameters; positive inside the ablation zone",
    }


def _invert_point(transform: Any, q: np.ndarray, rot: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Solve T(p) = q for one point with SimpleITK's own evaluation of T."""
    p = np.asarray(q, dtype=float).copy()
    for _ in range(iterations):
        p = p - (np.asarray(transform.TransformPoint(tuple(p))) - q) @ rot
    return p


def make_ablation(out: Path, seed: int = 7) -> dict[str, Any]:
    """Pre- and post-ablation CT of a liver tumour with a known transform and margins."""
    import SimpleITK as sitk

    from workstation.samples import _shapes as sh

    rng = np.random.default_rng(seed)
    shape = (64, 160, 160)
    spacing = (2.5, 1.5, 1.5)
    pre_aff = im.axial_grid(shape, spacing, (-70.0, 10.0, -30.0))
    post_aff = im.axial_grid(shape, spacing, (-70.0, 10.0, -42.0))
    lesions = (ABLATION_TUMOUR,)

    hu_pre, labels_pre = _render_ct(pre_aff, shape, lesions, rng)
    tumour_pre = an.lesion_index(labels_pre) == 1
    liver_pre = np.isin(labels_pre, an.liver_labels())
    if not liver_pre[tumour_pre].all():
        raise RuntimeError("sample generator: the ablation target is not inside the liver")

    transform = breathing_transform(post_aff, shape)
    tissue = _displaced_points(transform, post_aff, shape)
    tx, ty, tz = tissue[..., 0], tissue[..., 1], tissue[..., 2]
    hu_post, labels_post = _render_ct(post_aff, shape, lesions, rng, points=(tx, ty, tz))
    liver_post = np.isin(labels_post, an.liver_labels())
    tumour_post = an.lesion_index(labels_post) == 1
    voxel_mm = float(np.prod(spacing) ** (1 / 3))
    axes, centre = ablation_frame()
    abl = ablation_sd(tx, ty, tz)
    tract = sh.capsule(tx, ty, tz, tuple(centre), tuple(centre + 90.0 * axes[2]), 1.5)
    liver_sd = an.liver_sd(tx, ty, tz)
    # hyperaemic rim (2.5 mm outside the zone, +30 HU) and the applicator tract (45 HU) in the liver
    rim = sh.intersect(sh.subtract(abl - 2.5, abl), liver_sd)
    hu_post += (30.0 * sh.occupancy(rim, voxel_mm)).astype(np.float32)
    f = sh.occupancy(abl, voxel_mm).astype(np.float32)
    ablation_hu = 38.0 + im.correlated_noise(shape, 6.0, 2.0, rng)
    hu_post += f * (ablation_hu - hu_post)
    f_tract = sh.occupancy(sh.intersect(tract, liver_sd, -abl), voxel_mm).astype(np.float32)
    hu_post += f_tract * (45.0 - hu_post)
    ablation_zone = abl < 0

    margins = ablation_margins(transform)
    if margins["minimal_margin_mm"] < 1.0:
        raise RuntimeError("sample generator: the ablation zone does not cover the tumour by 1 mm")
    rot = np.array(transform.GetNthTransform(0).GetMatrix()).reshape(3, 3)
    t_pre = np.asarray(ABLATION_TUMOUR.centre_lps_mm)
    t_post = _invert_point(transform, t_pre, rot)

    pre_study = dw.Study(dw.derived_uid("ablation", "pre-study"), "20251020", "091500",
                         "CT Liver triphasic (planning)", "ABL1", "WSA0101")
    post_study = dw.Study(dw.derived_uid("ablation", "post-study"), "20251103", "113000",
                          "CT Liver post microwave ablation", "ABL2", "WSA0102")
    pre_series = dw.Series(dw.derived_uid("ablation", "pre-ct"), 3, "CT Liver portal venous 2.5mm",
                           dw.derived_uid("ablation", "pre-frame"), "20251020", "092000")
    post_series = dw.Series(dw.derived_uid("ablation", "post-ct"), 3, "CT Liver portal venous 2.5mm post MWA",
                            dw.derived_uid("ablation", "post-frame"), "20251103", "113500")
    dw.write_ct_series(hu_pre, pre_aff, out / "pre_ct", PATIENT_ABLATION, pre_study, pre_series)
    dw.write_ct_series(hu_post, post_aff, out / "post_ct", PATIENT_ABLATION, post_study, post_series)

    gt = out / "ground_truth"
    files = {
        "tumor_pre": _write_nifti(tumour_pre, pre_aff, gt / "tumor_pre.nii.gz"),
        "liver_pre": _write_nifti(liver_pre, pre_aff, gt / "liver_pre.nii.gz"),
        "tumor_post": _write_nifti(tumour_post, post_aff, gt / "tumor_post.nii.gz"),
        "ablation_zone": _write_nifti(ablation_zone, post_aff, gt / "ablation_zone.nii.gz"),
        "liver_post": _write_nifti(liver_post, post_aff, gt / "liver_post.nii.gz"),
    }
    gt.mkdir(parents=True, exist_ok=True)
    sitk.WriteTransform(transform, str(gt / "transform.tfm"))
    files["transform"] = "transform.tfm"
    voxel_ml = float(np.prod(spacing)) / 1000.0
    bspline = transform.GetNthTransform(1)
    rigid = transform.GetNthTransform(0)
    truth = {
        "case": "ablation",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "description": "Planning CT and post-microwave-ablation CT of one liver tumour; the ablation zone "
        "covers the tumour with a deliberately uneven margin; the patient moved rigidly and breathed "
        "differently between the scans.",
        "coordinates": "DICOM patient LPS, millimetres; pre-CT and post-CT have distinct frames of reference",
        "pre_ct": {**_grid_info(pre_aff, shape), "frame_of_reference_uid": pre_series.frame_of_reference_uid,
                   "series_instance_uid": pre_series.uid, "study_instance_uid": pre_study.uid},
        "post_ct": {**_grid_info(post_aff, shape), "frame_of_reference_uid": post_series.frame_of_reference_uid,
                    "series_instance_uid": post_series.uid, "study_instance_uid": post_study.uid},
        "transform": {
            "file": "transform.tfm",
            "convention": "ITK: maps points of the fixed image (post-CT) to the moving image (pre-CT); "
            "T(p) = rigid(bspline(p)) (SimpleITK CompositeTransform([rigid, bspline]))",
            "rigid": {"type": "Euler3DTransform", "center_lps_mm": list(rigid.GetCenter()),
                      "angles_rad_xyz": [rigid.GetAngleX(), rigid.GetAngleY(), rigid.GetAngleZ()],
                      "translation_mm": list(rigid.GetTranslation())},
            "bspline": {"type": "BSplineTransform", "order": 3, "mesh_size": [4, 4, 4],
                        "max_displacement_mm": float(np.abs(np.array(bspline.GetParameters())).max()),
                        "description": "breathing-like: up to 5 mm cranio-caudal, 2 mm antero-posterior, "
                        "1 mm lateral, larger superiorly"},
        },
        "tumors": [{
            "label": 1,
            "diameter_mm": ABLATION_TUMOUR.diameter_mm,
            "centre_pre_lps_mm": [float(v) for v in t_pre],
            "centre_post_lps_mm": [float(v) for v in t_post],
            "volume_ml_analytic": 4 / 3 * np.pi * (ABLATION_TUMOUR.diameter_mm / 2) ** 3 / 1000,
            "volume_ml_mask_pre": int(tumour_pre.sum()) * voxel_ml,
            "volume_ml_mask_post": int(tumour_post.sum()) * voxel_ml,
            "ct_hu_pre": ABLATION_TUMOUR.hu,
            **margins,
        }],
        "minimal_margin_mm": margins["minimal_margin_mm"],
        "ablation_zone": {
            "centre_tissue_lps_mm": [float(v) for v in centre],
            "applicator_axis_tissue": [float(v) for v in axes[2]],
            "radii_mm_e1_e2_e3": list(ABLATION_RADII_MM),
            "offset_from_tumour_centre_along_e1_mm": ABLATION_OFFSET_E1_MM,
            "irregularity": "r(u) = ellipsoid radius + sum of 3 smooth sinusoids of u (amplitudes 0.6, 0.5, 0.4 mm)",
            "volume_ml_mask": int(ablation_zone.sum()) * voxel_ml,
            "fraction_inside_liver": float(liver_post[ablation_zone].mean()),
            "ct_hu": 38.0,
            "rim": "2.5 mm hyperaemic rim outside the zone, +30 HU (not part of the zone)",
        },
        "ground_truth_files": files,
        "ground_truth_grids": "tumor_pre and liver_pre on the pre-CT grid; tumor_post, ablation_zone and "
        "liver_post on the post-CT grid",
    }
    _save_truth(truth, gt / "truth.json")
    return truth


# ------------------------------------------------------------------------ MAA
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
    hu, labels = _render_ct(ct_aff, ct_shape, lesions, rng, points=points)
    hu += im.correlated_noise(ct_shape, 16.0, 0.6, rng)  # low-dose CT: about 20 HU noise in total
    masks = _masks(labels)
    _check_lesions_inside(masks, lesions)
    territory = masks["liver"] & np.broadcast_to(right_lobe(points[0], points[1]), ct_shape)
    conc = _microspheres(labels, ct_aff, lesions, territory, administered_bq, lung_shunt, rng)
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
    counts, expected = _spect_counts(Volume(conc, ct_aff), spect_aff, spect_shape, fwhm, counts_per_mbq, decay, rng)
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_SIRT, study, spect_series, rp,
                     ("Tc99m 140 keV", 126.0, 154.0), 15000, collimator="LEHR")

    gt = out / "ground_truth"
    files = {name: _write_nifti(arr, ct_aff, gt / f"{name}.nii.gz") for name, arr in masks.items()}
    files["perfused_territory"] = _write_nifti(territory, ct_aff, gt / "perfused_territory.nii.gz")
    files["activity_bqml"] = _write_nifti(conc32, ct_aff, gt / "activity_bqml.nii.gz", Unit.BQML)
    lesion_idx = masks["lesions"]
    rho = SOFT_TISSUE_DENSITY_G_PER_ML
    rois = {
        "liver": _roi(conc32, None, masks["liver"], voxel_ml, rho),
        "perfused_territory": _roi(conc32, None, territory, voxel_ml, rho),
        "perfused_normal_liver": _roi(conc32, None, territory & (lesion_idx == 0), voxel_ml, rho),
        "lungs": _roi(conc32, None, masks["lungs"], voxel_ml, LUNG_DENSITY_G_PER_ML),
        "all_lesions": _roi(conc32, None, lesion_idx > 0, voxel_ml, rho),
    }
    pn_mean = rois["perfused_normal_liver"]["mean_bq_per_ml"]
    lesion_info = []
    for k, lesion in enumerate(lesions, start=1):
        m = lesion_idx == k
        rois[f"lesion_{k}"] = _roi(conc32, None, m, voxel_ml, rho)
        entry = _lesion_entry(k, lesion, m, voxel_ml, ct_aff, rois[f"lesion_{k}"]["mean_bq_per_ml"] / pn_mean)
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
        "injection_datetime": _iso(injection),
        "spect_acquisition_datetime": _iso(scan),
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
        "ct": {**_grid_info(ct_aff, ct_shape), "noise_sd_hu": float(np.hypot(CT_NOISE_HU, 16.0))},
        "spect": {**_grid_info(spect_aff, spect_shape), "fwhm_mm": fwhm, "counts_per_mbq_at_scan": counts_per_mbq,
                  "decay_factor_injection_to_scan": decay, "expected_total_counts": expected,
                  "total_counts": int(counts.sum())},
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
        "label_names": {"lesions": {str(k): f"lesion_{k}" for k in range(1, len(lesions) + 1)},
                        "kidneys": {"1": "right_kidney", "2": "left_kidney"}},
    }
    _save_truth(truth, gt / "truth.json")
    return truth


# ----------------------------------------------------------------------- NEMA
PATIENT_NEMA = dw.Patient("QA^NEMA_IEC_PHANTOM", "WS-QA-NEMA", "20200101", "O", 10.0, 0.3)

#: Inner sphere diameters (mm) of the NEMA NU 2-2012 / IEC 61675-1 body phantom.
NEMA_SPHERE_DIAMETERS_MM: tuple[float, ...] = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
#: In-plane angle (deg, from +x towards +y) of each sphere centre on the 114.4 mm circle.
NEMA_SPHERE_ANGLES_DEG: tuple[float, ...] = (90.0, 30.0, -30.0, -90.0, -150.0, 150.0)
NEMA_SPHERE_CIRCLE_DIAMETER_MM = 114.4  # NEMA NU 2-2012 section 7.3
NEMA_SPHERE_PLANE_Z_MM = 20.0  # 70 mm below the lid-side inner end face (z = +90 mm)
NEMA_LUNG_INSERT_RADIUS_MM = 25.0  # 50 mm diameter, centred, full length
NEMA_INTERIOR_LENGTH_MM = 180.0


def nema_interior_sd(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Signed distance (sign exact) of the phantom's interior.

    Cross-section: a half-disc of radius 147 mm (anterior, y < 0) on a rounded
    rectangle 294 × 77 mm whose lower corners are quarter circles of 77 mm radius
    (posterior, flat side on the couch); 180 mm long, centred at z = 0.
    """
    from workstation.samples import _shapes as sh

    upper = sh.intersect(np.sqrt(x**2 + y**2) - 147.0, y + 0 * x)
    # the lower part also covers y in [-10, 0] (inside the half-disc) so that the union has no seam
    box = np.maximum(np.abs(x) - 70.0, np.abs(y - 33.5) - 43.5)
    corners = sh.union(np.sqrt((x - 70.0) ** 2 + y**2) - 77.0, np.sqrt((x + 70.0) ** 2 + y**2) - 77.0)
    lower = sh.intersect(sh.union(box, corners), y - 77.0 + 0 * x)
    return sh.intersect(sh.union(upper, lower), np.abs(z) - NEMA_INTERIOR_LENGTH_MM / 2 + 0 * x)


def nema_sphere_centres() -> list[tuple[float, float, float]]:
    r = NEMA_SPHERE_CIRCLE_DIAMETER_MM / 2
    return [(round(r * float(np.cos(np.radians(a))), 9) + 0.0, round(r * float(np.sin(np.radians(a))), 9) + 0.0,
             NEMA_SPHERE_PLANE_Z_MM) for a in NEMA_SPHERE_ANGLES_DEG]


def make_nema(out: Path, seed: int = 2012) -> dict[str, Any]:
    """NEMA IEC body phantom filled with 90Y (sphere-to-background 8:1), imaged by PET and SPECT."""
    from workstation.samples import _shapes as sh

    rng = np.random.default_rng(seed)
    background_bqml = 0.25e6
    sbr = 8.0
    sphere_bqml = sbr * background_bqml
    lung_bqml = 0.0
    reference = _dt.datetime(2026, 2, 2, 9, 0, 0)
    shape = (94, 118, 152)
    spacing = (2.0, 2.0, 2.0)
    aff = im.axial_grid(shape, spacing, (0.0, -35.0, 0.0))
    x, y, z = im.grid_axes(aff, shape)
    interior = nema_interior_sd(x, y, z)
    lung = sh.intersect(np.sqrt(x**2 + y**2) - NEMA_LUNG_INSERT_RADIUS_MM + 0 * z, interior)
    centres = nema_sphere_centres()
    sphere_sd = [sh.sphere(x, y, z, c, d / 2) for c, d in zip(centres, NEMA_SPHERE_DIAMETERS_MM, strict=True)]
    # truth concentration: partial-volume weighted mean concentration of each voxel
    conc = background_bqml * sh.occupancy(interior, 2.0)
    f = sh.occupancy(lung, 2.0)
    conc = conc + f * (lung_bqml - conc)
    spheres = np.zeros(shape, np.uint8)
    for k, (sd, d) in enumerate(zip(sphere_sd, NEMA_SPHERE_DIAMETERS_MM, strict=True), start=1):
        # the linear ramp over-fills a ball by (pi r h^2 / 3) mm^3 (its curvature); shifting the
        # surface by h^2 / (12 r) removes that first-order bias (h = 2 mm voxel)
        f = sh.occupancy(sd + 2.0**2 / (12.0 * d / 2), 2.0)
        conc = conc + f * (sphere_bqml - conc)
        spheres[sd < 0] = k
    phantom = interior < 0
    lung_mask = lung < 0
    background = phantom & ~lung_mask & (spheres == 0)
    conc32 = conc.astype(np.float32)
    voxel_ml = 8e-3

    vol_interior = (np.pi * 147.0**2 / 2 + 140.0 * 77.0 + np.pi * 77.0**2 / 2) * NEMA_INTERIOR_LENGTH_MM / 1000
    vol_lung = np.pi * NEMA_LUNG_INSERT_RADIUS_MM**2 * NEMA_INTERIOR_LENGTH_MM / 1000
    vol_spheres = [4 / 3 * np.pi * (d / 2) ** 3 / 1000 for d in NEMA_SPHERE_DIAMETERS_MM]
    analytic_bq = (background_bqml * (vol_interior - vol_lung - sum(vol_spheres)) + lung_bqml * vol_lung
                   + sphere_bqml * sum(vol_spheres))

    cv = Volume(conc, aff)
    rp = dw.Radiopharmaceutical(("14691008", "SCT", "^90^Yttrium"), None, "Y-90 chloride", analytic_bq,
                                Y90.half_life_s, reference, positron_fraction=3.186e-5, route="none (phantom)")
    pet_study = dw.Study(dw.derived_uid("nema", "pet-study"), "20260202", "100000", "QA NEMA IEC Y-90 PET",
                         "QA1", "WSQ0001")
    spect_study = dw.Study(dw.derived_uid("nema", "spect-study"), "20260202", "120000", "QA NEMA IEC Y-90 SPECT",
                           "QA2", "WSQ0002")
    pet_series = dw.Series(dw.derived_uid("nema", "pet"), 1, "PET Y-90 NEMA IEC OSEM TOF",
                           dw.derived_uid("nema", "pet-frame"), "20260202", "100000",
                           station="SAMPLE-PETCT", model="Digital PET")
    spect_series = dw.Series(dw.derived_uid("nema", "spect"), 1, "SPECT Y-90 NEMA IEC bremsstrahlung",
                             dw.derived_uid("nema", "spect-frame"), "20260202", "120000")
    pet_shape = (50, 96, 96)
    pet_aff = im.axial_grid(pet_shape, (4.0, 4.0, 4.0), (0.0, -35.0, 0.0))
    pet_fwhm = 6.0
    pet_kappa = 8e-5
    pet = _pet_bqml(cv, pet_aff, pet_shape, pet_fwhm, pet_kappa, rng)
    pet_scan = _dt.datetime(2026, 2, 2, 10, 0, 0)
    dw.write_pet_series(pet, pet_aff, out / "pet", PATIENT_NEMA, pet_study, pet_series, rp, pet_scan, 1800000)
    spect_shape = (48, 128, 128)
    spect_aff = im.axial_grid(spect_shape, (4.8, 4.8, 4.8), (0.0, -35.0, 0.0))
    spect_fwhm = 14.0
    counts_per_mbq = 1200.0
    spect_scan = _dt.datetime(2026, 2, 2, 12, 0, 0)
    decay = Y90.decay_factor((spect_scan - reference).total_seconds())
    counts, expected = _spect_counts(cv, spect_aff, spect_shape, spect_fwhm, counts_per_mbq, decay, rng)
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_NEMA, spect_study, spect_series,
                     rp, ("Y90 BREMS", 90.0, 125.0), 30000)

    gt = out / "ground_truth"
    files = {
        "spheres": _write_nifti(spheres, aff, gt / "spheres.nii.gz"),
        "lung_insert": _write_nifti(lung_mask, aff, gt / "lung_insert.nii.gz"),
        "background": _write_nifti(background, aff, gt / "background.nii.gz"),
        "phantom": _write_nifti(phantom, aff, gt / "phantom.nii.gz"),
        "activity_bqml": _write_nifti(conc32, aff, gt / "activity_bqml.nii.gz", Unit.BQML),
    }
    sphere_info = []
    for k, (c, d) in enumerate(zip(centres, NEMA_SPHERE_DIAMETERS_MM, strict=True), start=1):
        sphere_info.append({
            "label": k, "diameter_mm": d, "centre_lps_mm": list(c),
            "volume_ml_analytic": vol_spheres[k - 1], "volume_ml_mask": int((spheres == k).sum()) * voxel_ml,
            "concentration_bq_per_ml": sphere_bqml,
        })
    truth = {
        "case": "nema",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "description": "NEMA NU 2-2012 / IEC 61675-1 body phantom: six hot spheres (8:1) in a warm background "
        "and a cold lung insert, 90Y, imaged by PET and by bremsstrahlung SPECT.",
        "coordinates": "phantom coordinates = LPS mm of both scanners (the phantom lay at the same place); PET "
        "and SPECT have distinct frames of reference and studies",
        "series": {"pet": pet_series.uid, "spect": spect_series.uid},
        "frame_of_reference_uid": {"pet": pet_series.frame_of_reference_uid,
                                   "spect": spect_series.frame_of_reference_uid},
        "nuclide": "Y-90",
        "reference_datetime": _iso(reference),
        "activity_reference": "concentrations are at reference_datetime (RadiopharmaceuticalStartDateTime); "
        "PET values are decay corrected to it (DecayCorrection ADMIN); SPECT counts are at scan time",
        "background_bq_per_ml": background_bqml,
        "sphere_bq_per_ml": sphere_bqml,
        "lung_insert_bq_per_ml": lung_bqml,
        "sphere_to_background_ratio": sbr,
        "spheres": sphere_info,
        "sphere_circle_diameter_mm": NEMA_SPHERE_CIRCLE_DIAMETER_MM,
        "sphere_plane_z_mm": NEMA_SPHERE_PLANE_Z_MM,
        "lung_insert": {"centre_xy_mm": [0.0, 0.0], "diameter_mm": 2 * NEMA_LUNG_INSERT_RADIUS_MM,
                        "length_mm": NEMA_INTERIOR_LENGTH_MM, "volume_ml_analytic": vol_lung},
        "interior": {"volume_ml_analytic": vol_interior, "length_mm": NEMA_INTERIOR_LENGTH_MM,
                     "cross_section": "half-disc r = 147 mm (y < 0) over a 294 x 77 mm rounded rectangle with "
                     "77 mm corner radii (y > 0)"},
        "total_activity_analytic_gbq": analytic_bq * 1e-9,
        "total_activity_in_truth_gbq": float(conc32.astype(np.float64).sum() * voxel_ml * 1e-9),
        "activity_bqml_model": "mean concentration of each 2 mm voxel (linear partial-volume ramp across each "
        "surface, curvature-corrected for the spheres), so each sphere's activity is analytic to about 1 %; the "
        "masks are voxel-centre classifications",
        "geometry_source": "NEMA NU 2-2012 section 7.3 (sphere diameters, 114.4 mm circle, lung insert); sphere "
        "angles and plane as stated here (approximating the standard drawing)",
        "pet": {**_grid_info(pet_aff, pet_shape), "fwhm_mm": pet_fwhm, "noise_counts_per_bq_per_ml": pet_kappa,
                "decay_correction": "ADMIN", "acquisition_datetime": _iso(pet_scan)},
        "spect": {**_grid_info(spect_aff, spect_shape), "fwhm_mm": spect_fwhm, "counts_per_mbq_at_scan": counts_per_mbq,
                  "decay_factor_reference_to_scan": decay, "expected_total_counts": expected,
                  "total_counts": int(counts.sum()), "acquisition_datetime": _iso(spect_scan)},
        "ground_truth_files": files,
        "ground_truth_grid": _grid_info(aff, shape),
        "label_names": {"spheres": {str(k): f"sphere_{int(d)}mm" for k, d in enumerate(NEMA_SPHERE_DIAMETERS_MM, 1)}},
    }
    _save_truth(truth, gt / "truth.json")
    return truth
