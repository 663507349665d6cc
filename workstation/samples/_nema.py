"""The nema sample study: NEMA IEC body phantom in 90Y, PET and SPECT."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.dosimetry.nuclides import Y90
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._common import GENERATOR_VERSION, grid_info, iso, save_truth, write_nifti

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
    pet = im.pet_bqml(cv, pet_aff, pet_shape, pet_fwhm, pet_kappa, rng)
    pet_scan = _dt.datetime(2026, 2, 2, 10, 0, 0)
    dw.write_pet_series(pet, pet_aff, out / "pet", PATIENT_NEMA, pet_study, pet_series, rp, pet_scan, 1800000)
    spect_shape = (48, 128, 128)
    spect_aff = im.axial_grid(spect_shape, (4.8, 4.8, 4.8), (0.0, -35.0, 0.0))
    spect_fwhm = 14.0
    counts_per_mbq = 1200.0
    spect_scan = _dt.datetime(2026, 2, 2, 12, 0, 0)
    decay = Y90.decay_factor((spect_scan - reference).total_seconds())
    counts, expected = im.spect_counts(cv, spect_aff, spect_shape, spect_fwhm, counts_per_mbq, decay, rng)
    dw.write_nm_tomo(counts, spect_aff, out / "spect" / "NM000001.dcm", PATIENT_NEMA, spect_study, spect_series,
                     rp, ("Y90 BREMS", 90.0, 125.0), 30000)

    gt = out / "ground_truth"
    files = {
        "spheres": write_nifti(spheres, aff, gt / "spheres.nii.gz"),
        "lung_insert": write_nifti(lung_mask, aff, gt / "lung_insert.nii.gz"),
        "background": write_nifti(background, aff, gt / "background.nii.gz"),
        "phantom": write_nifti(phantom, aff, gt / "phantom.nii.gz"),
        "activity_bqml": write_nifti(conc32, aff, gt / "activity_bqml.nii.gz", Unit.BQML),
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
        "reference_datetime": iso(reference),
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
        "pet": {**grid_info(pet_aff, pet_shape), "fwhm_mm": pet_fwhm, "noise_counts_per_bq_per_ml": pet_kappa,
                "decay_correction": "ADMIN", "acquisition_datetime": iso(pet_scan)},
        "spect": {**grid_info(spect_aff, spect_shape), "fwhm_mm": spect_fwhm, "counts_per_mbq_at_scan": counts_per_mbq,
                  "decay_factor_reference_to_scan": decay, "expected_total_counts": expected,
                  "total_counts": int(counts.sum()), "acquisition_datetime": iso(spect_scan)},
        "ground_truth_files": files,
        "ground_truth_grid": grid_info(aff, shape),
        "label_names": {"spheres": {str(k): f"sphere_{int(d)}mm" for k, d in enumerate(NEMA_SPHERE_DIAMETERS_MM, 1)}},
    }
    save_truth(truth, gt / "truth.json")
    return truth
