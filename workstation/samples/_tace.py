"""The TACE sample study: pre-TACE contrast CT and post-TACE unenhanced CT with known lipiodol.

Three hepatocellular carcinomas of the digital patient were treated by
conventional TACE (lipiodol emulsion). The post-TACE CT (unenhanced, the
next day) shows the deposited lipiodol; its geometry is analytic in the
tissue frame (= the pre-CT frame), so the coverage of each tumour is known:

1. complete: lipiodol fills the tumour and a 1.5 mm peritumoural halo (100 %);
2. partial: lipiodol beyond an oblique plane through the tumour (68.4 %);
3. rim-sparing: lipiodol only in a central ball of 0.7 x the radius (34.3 %).

Deposition outside the tumours: a non-target ellipsoid in segment 4
(reflux into a left hepatic arterial branch). Hyperdensities that are not lipiodol: a
surgical clip inside the liver with streak artefacts, and a calcified
granuloma; both are on the pre-TACE CT as well. The patient moved rigidly and
breathed differently between the scans (the ablation case's transform model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples import _shapes as sh
from workstation.samples._common import GENERATOR_VERSION, grid_info, save_truth, write_nifti
from workstation.samples._motion import breathing_transform, displaced_points, invert_point
from workstation.samples._patient import add_texture

__all__ = ["TACE_TUMOURS", "make_tace", "tace_lipiodol_sd"]

PATIENT_TACE = dw.Patient("SAMPLE^TACE", "WS-TACE-001", "19530211", "M", 71.0, 1.70)

#: The three treated tumours (tissue frame = pre-CT frame); HU on the pre-CT
#: (portal venous phase, washout).
TACE_TUMOURS: tuple[an.Lesion, ...] = (
    an.Lesion((-80.0, 22.0, -30.0), 28.0, 80.0, 1.0, description="complete deposition"),
    an.Lesion((-58.0, -32.0, -8.0), 26.0, 80.0, 1.0, description="partial deposition (oblique plane)"),
    an.Lesion((-105.0, 2.0, -8.0), 30.0, 80.0, 1.0, description="rim-sparing deposition"),
)
#: Unenhanced attenuation (HU) of the tumours on the post-TACE CT.
TUMOUR_UNENHANCED_HU = 40.0

#: Unenhanced CT attenuation (HU) of the tissues: typical published values for
#: an unenhanced abdomen (liver 55-65, blood 40, muscle 50, kidney 30, spleen 45),
#: chosen to look like a clinical scan, not measured.
UNENHANCED_HU: dict[int, float] = {
    **an.TISSUE_HU,
    an.AORTA: 42.0, an.IVC: 40.0, an.KIDNEY_R: 32.0, an.KIDNEY_L: 32.0, an.SPLEEN: 46.0,
    an.HEART: 42.0, an.LIVER: 58.0, an.PORTAL: 40.0, an.HEPATIC_VEIN: 40.0,
}

# --- deposition geometry (tissue frame, mm)
HALO_MM = 1.5  # complete tumour: peritumoural lipiodol halo
PARTIAL_NORMAL = np.array([1.0, -1.0, 0.6]) / np.linalg.norm([1.0, -1.0, 0.6])
PARTIAL_OFFSET_FRACTION = -0.25  # plane at -0.25 R from the centre along the normal
RIM_SPARING_INNER_FRACTION = 0.7
NON_TARGET_CENTRE = (-8.0, -15.0, -30.0)
NON_TARGET_RADII_MM = (9.0, 7.0, 6.0)
#: Lipiodol attenuation above the tissue (HU) of each deposit, before ±20 % heterogeneity.
DEPOSIT_HU = {"tumour_1": 420.0, "halo_1": 220.0, "tumour_2": 350.0, "tumour_3": 520.0, "non_target": 260.0}
HETEROGENEITY = 0.2  # relative SD of the deposit density (smooth, 5 mm correlation)

# --- not lipiodol
CLIP_ENDS = ((-48.0, -41.0, -45.5), (-41.0, -38.0, -44.5))  # titanium clip, tissue frame
CLIP_RADIUS_MM = 0.8
CLIP_HU = 6000.0  # before the 12-bit limit of the writer (3071 HU)
STREAK_AMPLITUDE_HU = 550.0
STREAK_DECAY_MM = 12.0
STREAK_WIDTH_MM = 0.9  # Gaussian SD across a streak
CALCIFICATION_CENTRE = (-95.0, 40.0, -36.0)
CALCIFICATION_DIAMETER_MM = 6.0
CALCIFICATION_HU = 650.0
CT_NOISE_HU = 12.0
#: Lipiodol within this distance (mm) of a tumour is peritumoural, not non-target
#: (the definition of workstation.tace; stated here so the truth uses the same one).
PERITUMOURAL_MM = 5.0


def tace_lipiodol_sd(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Signed distances (mm, sign exact) of each lipiodol deposit, tissue frame."""
    t1, t2, t3 = TACE_TUMOURS
    r2 = t2.diameter_mm / 2
    c2 = np.asarray(t2.centre_lps_mm)
    s = (x - c2[0]) * PARTIAL_NORMAL[0] + (y - c2[1]) * PARTIAL_NORMAL[1] + (z - c2[2]) * PARTIAL_NORMAL[2]
    return {
        "tumour_1": sh.sphere(x, y, z, t1.centre_lps_mm, t1.diameter_mm / 2 + HALO_MM),
        "tumour_2": sh.intersect(sh.sphere(x, y, z, t2.centre_lps_mm, r2 + HALO_MM),
                                 PARTIAL_OFFSET_FRACTION * r2 - s),
        "tumour_3": sh.sphere(x, y, z, t3.centre_lps_mm, RIM_SPARING_INNER_FRACTION * t3.diameter_mm / 2),
        "non_target": sh.ellipsoid(x, y, z, NON_TARGET_CENTRE, NON_TARGET_RADII_MM),
    }


def _extra_structures(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "clip": sh.capsule(x, y, z, CLIP_ENDS[0], CLIP_ENDS[1], CLIP_RADIUS_MM),
        "calcification": sh.sphere(x, y, z, CALCIFICATION_CENTRE, CALCIFICATION_DIAMETER_MM / 2),
    }


def _streaks(
    affine: np.ndarray, shape: tuple[int, int, int], centre: np.ndarray, half_length_z_mm: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Radial bright and dark streaks (HU) in the slices through a metal object.

    Eight lines through the metal's centre at jittered angles, alternately bright
    and dark, Gaussian across (``STREAK_WIDTH_MM``), decaying as r0 / (r + r0);
    slice weight = overlap of the slice with the metal's z extent.
    """
    x, y, z = im.grid_axes(affine, shape)
    dz = float(np.linalg.norm(affine[:3, 0]))
    out = np.zeros(shape, dtype=np.float32)
    angles = np.arange(8) * np.pi / 8 + rng.uniform(-0.15, 0.15, 8)
    dx, dy = x - centre[0], y - centre[1]
    r = np.sqrt(dx**2 + dy**2)
    pattern = np.zeros(np.broadcast_shapes(dx.shape, dy.shape), dtype=np.float64)
    for n, a in enumerate(angles):
        across = -dx * np.sin(a) + dy * np.cos(a)
        pattern += (1.0 if n % 2 == 0 else -0.8) * np.exp(-0.5 * (across / STREAK_WIDTH_MM) ** 2)
    pattern *= STREAK_AMPLITUDE_HU * STREAK_DECAY_MM / (r + STREAK_DECAY_MM)
    for k in range(shape[0]):
        zk = float(z[k, 0, 0])
        overlap = min(zk + dz / 2, centre[2] + half_length_z_mm) - max(zk - dz / 2, centre[2] - half_length_z_mm)
        weight = float(np.clip(overlap / min(dz, 2 * half_length_z_mm), 0.0, 1.0))
        if weight > 0:
            out[k] = (weight * pattern[0]).astype(np.float32)
    return out


def _paint_extras(hu: np.ndarray, pts: tuple[np.ndarray, np.ndarray, np.ndarray], voxel_mm: float) -> dict[str, np.ndarray]:
    extras = _extra_structures(*pts)
    hu += sh.occupancy(extras["calcification"], voxel_mm).astype(np.float32) * (CALCIFICATION_HU - hu)
    # thin metal: the occupancy of a 1.6 mm rod in a ~2 mm voxel is below 1; HU scaled by it
    hu += sh.occupancy(extras["clip"], voxel_mm).astype(np.float32) * (CLIP_HU - hu)
    return {name: sd < 0 for name, sd in extras.items()}


def rim_coverage_analytic(label: int, within_mm: float = 1.0, n: int = 40000) -> float:
    """Area fraction of tumour ``label``'s surface with lipiodol within ``within_mm`` (exact geometry).

    Distances from the sphere to each convex deposit: the halo ball (tumour 1),
    ball ∩ half-space (tumour 2: plane, or the rim circle of its disc), the
    inner ball (tumour 3).
    """
    lesion = TACE_TUMOURS[label - 1]
    r = lesion.diameter_mm / 2
    u = sh.fibonacci_sphere(n)
    if label == 1:
        return 1.0
    if label == 3:
        gap = r - RIM_SPARING_INNER_FRACTION * r
        return float(gap <= within_mm)
    s = u @ PARTIAL_NORMAL * r
    d = PARTIAL_OFFSET_FRACTION * r
    rho_p = np.sqrt(np.maximum(r**2 - s**2, 0.0))
    rho_d = np.sqrt((r + HALO_MM) ** 2 - d**2)
    dist = np.where(rho_p <= rho_d, d - s, np.hypot(d - s, rho_p - rho_d))
    covered = (s >= d) | (dist <= within_mm)
    return float(covered.mean())


def coverage_analytic(label: int) -> float:
    """Volume fraction (0..1) of tumour ``label`` that holds lipiodol (exact geometry)."""
    if label == 1:
        return 1.0
    if label == 3:
        return RIM_SPARING_INNER_FRACTION**3
    h = (1.0 - PARTIAL_OFFSET_FRACTION)  # cap height over the radius
    return h**2 * (3.0 - h) / 4.0


def make_tace(out: Path, seed: int = 1977) -> dict[str, Any]:
    """Pre-TACE contrast CT and post-TACE unenhanced CT with known lipiodol deposition."""
    from dataclasses import replace

    from scipy import ndimage


    rng = np.random.default_rng(seed)
    lesions_pre = TACE_TUMOURS
    lesions_post = tuple(replace(les, hu=TUMOUR_UNENHANCED_HU) for les in TACE_TUMOURS)

    # ----------------------------------------------------------------- pre-TACE CT
    pre_shape = (40, 112, 128)
    pre_sp = (3.0, 1.75, 1.75)
    pre_aff = im.axial_grid(pre_shape, pre_sp, (-35.0, 5.0, -22.0))
    px, py, pz = im.grid_axes(pre_aff, pre_shape)
    vox_pre = float(np.prod(pre_sp) ** (1 / 3))
    hu_pre, labels_pre = an.paint_patient(px, py, pz, lesions_pre, vox_pre)
    add_texture(hu_pre, labels_pre, pre_aff, rng)
    full_pre = np.broadcast_arrays(px, py, pz)
    _paint_extras(hu_pre, (full_pre[0], full_pre[1], full_pre[2]), vox_pre)
    clip_c = np.mean(np.asarray(CLIP_ENDS), axis=0)
    hu_pre += _streaks(pre_aff, pre_shape, clip_c, 1.5, rng)
    hu_pre += im.correlated_noise(pre_shape, CT_NOISE_HU, 0.6, rng)
    tumour_pre = an.lesion_index(labels_pre)
    liver_pre = np.isin(labels_pre, an.liver_labels())

    # ---------------------------------------------------------------- post-TACE CT
    post_shape = (48, 128, 144)
    post_sp = (2.5, 1.5, 1.5)
    post_aff = im.axial_grid(post_shape, post_sp, (-38.0, 8.0, -33.0))
    transform = breathing_transform(post_aff, post_shape)
    tissue = displaced_points(transform, post_aff, post_shape)
    tx, ty, tz = tissue[..., 0], tissue[..., 1], tissue[..., 2]
    vox_post = float(np.prod(post_sp) ** (1 / 3))
    hu_post, labels_post = an.paint_patient(tx, ty, tz, lesions_post, vox_post, tissue_hu=UNENHANCED_HU)
    add_texture(hu_post, labels_post, post_aff, rng)
    liver_post = np.isin(labels_post, an.liver_labels())
    tumour_post = an.lesion_index(labels_post)
    deposits = tace_lipiodol_sd(tx, ty, tz)
    het = 1.0 + HETEROGENEITY * im.smooth_field(post_shape, tuple(5.0 / np.asarray(post_sp)), rng)
    het = np.clip(het, 0.4, None).astype(np.float32)
    t1_sd = sh.sphere(tx, ty, tz, TACE_TUMOURS[0].centre_lps_mm, TACE_TUMOURS[0].diameter_mm / 2)
    lipiodol = np.zeros(post_shape, dtype=np.uint8)
    names = {"tumour_1": 1, "tumour_2": 2, "tumour_3": 3, "non_target": 4}
    partial_volume_mm3: dict[str, float] = {}
    for name, sd in deposits.items():
        sd = sh.intersect(sd, an.liver_sd(tx, ty, tz))  # lipiodol stays in the liver
        density = np.full(post_shape, DEPOSIT_HU[name], dtype=np.float32)
        if name == "tumour_1":
            density = np.where(t1_sd < 0, DEPOSIT_HU["tumour_1"], DEPOSIT_HU["halo_1"]).astype(np.float32)
        occupancy = sh.occupancy(sd, vox_post).astype(np.float32)
        partial_volume_mm3[name] = float(occupancy.sum(dtype=np.float64)) * float(np.prod(post_sp))
        hu_post += occupancy * density * het
        lipiodol[(sd < 0) & (lipiodol == 0)] = names[name]
    extras_post = _paint_extras(hu_post, (tx, ty, tz), vox_post)
    rot = np.array(transform.GetNthTransform(0).GetMatrix()).reshape(3, 3)
    clip_post = invert_point(transform, clip_c, rot)
    hu_post += _streaks(post_aff, post_shape, clip_post, 1.5, rng)
    hu_post += im.correlated_noise(post_shape, CT_NOISE_HU, 0.6, rng)
    for k in range(1, 4):
        if not liver_post[tumour_post == k].all() or not liver_pre[tumour_pre == k].all():
            raise RuntimeError(f"sample generator: TACE tumour {k} is not inside the liver")
    if not liver_post[extras_post["clip"]].all() or not extras_post["clip"].any():
        raise RuntimeError("sample generator: the clip is not inside the liver on the post-CT grid")

    # ------------------------------------------------------------------- writing
    pre_study = dw.Study(dw.derived_uid("tace", "pre-study"), "20260302", "101500",
                         "CT Liver triphasic (pre-TACE)", "TAC1", "WST0101")
    post_study = dw.Study(dw.derived_uid("tace", "post-study"), "20260317", "090000",
                          "CT Abdomen unenhanced (day 1 after TACE)", "TAC2", "WST0102")
    pre_series = dw.Series(dw.derived_uid("tace", "pre-ct"), 4, "CT Liver portal venous 3mm",
                           dw.derived_uid("tace", "pre-frame"), "20260302", "102000")
    post_series = dw.Series(dw.derived_uid("tace", "post-ct"), 2, "CT Abdomen unenhanced 2.5mm post cTACE",
                            dw.derived_uid("tace", "post-frame"), "20260317", "090500")
    dw.write_ct_series(hu_pre, pre_aff, out / "pre_ct", PATIENT_TACE, pre_study, pre_series)
    dw.write_ct_series(hu_post, post_aff, out / "post_ct", PATIENT_TACE, post_study, post_series,
                       tube_current_ma=160)

    gt = out / "ground_truth"
    artefact = extras_post["clip"] | extras_post["calcification"]
    files = {
        "tumor_pre": write_nifti(tumour_pre, pre_aff, gt / "tumor_pre.nii.gz"),
        "liver_pre": write_nifti(liver_pre, pre_aff, gt / "liver_pre.nii.gz"),
        "tumor_post": write_nifti(tumour_post, post_aff, gt / "tumor_post.nii.gz"),
        "liver_post": write_nifti(liver_post, post_aff, gt / "liver_post.nii.gz"),
        "lipiodol": write_nifti(lipiodol, post_aff, gt / "lipiodol.nii.gz"),
        "not_lipiodol": write_nifti(artefact.astype(np.uint8) + extras_post["clip"], post_aff,
                                     gt / "not_lipiodol.nii.gz"),
    }
    import SimpleITK as sitk

    sitk.WriteTransform(transform, str(gt / "transform.tfm"))
    files["transform"] = "transform.tfm"
    voxel_ml = float(np.prod(post_sp)) / 1000.0
    structure = np.ones((3, 3, 3), dtype=bool)
    tumours = []
    for k, lesion in enumerate(TACE_TUMOURS, start=1):
        t = tumour_post == k
        covered = t & (lipiodol > 0)
        gaps, n = ndimage.label(t & (lipiodol == 0), structure=structure)
        sizes = np.bincount(gaps.ravel())[1:] if n else np.zeros(0)
        largest = int(np.argmax(sizes)) + 1 if n else 0
        gap_centre = (post_aff[:3, :3] @ np.argwhere(gaps == largest).mean(axis=0) + post_aff[:3, 3]
                      if n else None)
        cov = coverage_analytic(k)
        tumours.append({
            "label": k,
            "description": lesion.description,
            "diameter_mm": lesion.diameter_mm,
            "centre_pre_lps_mm": list(lesion.centre_lps_mm),
            "centre_post_lps_mm": [float(v) for v in invert_point(transform, np.asarray(lesion.centre_lps_mm), rot)],
            "volume_ml_analytic": 4 / 3 * np.pi * (lesion.diameter_mm / 2) ** 3 / 1000,
            "volume_ml_mask_post": int(t.sum()) * voxel_ml,
            "lipiodol_coverage_percent": 100.0 * cov,
            "lipiodol_coverage_percent_mask_post": 100.0 * int(covered.sum()) / int(t.sum()),
            "rim_coverage_fraction": rim_coverage_analytic(k),
            "largest_gap_ml_analytic": (1.0 - cov) * 4 / 3 * np.pi * (lesion.diameter_mm / 2) ** 3 / 1000,
            "largest_gap_ml_mask_post": float(sizes[largest - 1]) * voxel_ml if n else 0.0,
            "largest_gap_centroid_post_lps_mm": None if gap_centre is None else [float(v) for v in gap_centre],
            "class": _truth_class(100.0 * cov, rim_coverage_analytic(k)),
            "deposit_hu_above_tissue": DEPOSIT_HU[f"tumour_{k}"],
        })
    nt_ml = 4 / 3 * np.pi * float(np.prod(NON_TARGET_RADII_MM)) / 1000
    truth: dict[str, Any] = {
        "case": "tace",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "description": "Conventional TACE of three HCCs: pre-TACE portal-venous CT and unenhanced CT the day "
        "after, with complete, partial and rim-sparing lipiodol deposition, a non-target deposit, a surgical "
        "clip with streak artefacts and a calcified granuloma (the last two are not lipiodol).",
        "coordinates": "DICOM patient LPS, millimetres; pre-CT and post-CT have distinct frames of reference; "
        "the tissue frame is the pre-CT frame",
        "pre_ct": {**grid_info(pre_aff, pre_shape), "frame_of_reference_uid": pre_series.frame_of_reference_uid,
                   "series_instance_uid": pre_series.uid, "study_instance_uid": pre_study.uid,
                   "phase": "portal venous (liver 110 HU, portal vein 185 HU, tumours 80 HU)"},
        "post_ct": {**grid_info(post_aff, post_shape), "frame_of_reference_uid": post_series.frame_of_reference_uid,
                    "series_instance_uid": post_series.uid, "study_instance_uid": post_study.uid,
                    "phase": "unenhanced (liver 58 HU, vessels 40 HU, tumours 40 HU)",
                    "noise_sd_hu": CT_NOISE_HU},
        "transform": {"file": "transform.tfm",
                      "convention": "ITK: maps post-CT points to pre-CT (tissue) points; the model of the "
                      "ablation case (rigid + breathing B-spline) on this post-CT grid"},
        "tumors": tumours,
        "non_target": {
            "description": "lipiodol reflux into a segment 4 branch (left of the Cantlie line): an ellipsoid",
            "centre_pre_lps_mm": list(NON_TARGET_CENTRE),
            "radii_mm": list(NON_TARGET_RADII_MM),
            "non_target_ml": nt_ml,
            "non_target_ml_mask_post": int((lipiodol == 4).sum()) * voxel_ml,
            "non_target_ml_post": partial_volume_mm3["non_target"] / 1000.0,
            "post_volume_note": "non_target_ml is the tissue (pre-CT) volume; non_target_ml_post its volume on "
            "the post-CT grid (sum of the partial-volume occupancies that made the image): the breathing "
            "deformation compresses this region by about 4 %",
            "deposit_hu_above_tissue": DEPOSIT_HU["non_target"],
            "definition": f"lipiodol in the liver farther than {PERITUMOURAL_MM:g} mm from every tumour; the "
            f"{HALO_MM:g} mm halo of tumour 1 is peritumoural",
        },
        "not_lipiodol": {
            "clip": {"ends_pre_lps_mm": [list(e) for e in CLIP_ENDS], "radius_mm": CLIP_RADIUS_MM,
                     "centre_post_lps_mm": [float(v) for v in clip_post],
                     "hu": "6000 x partial volume, stored clipped at 3071 HU",
                     "streaks": f"8 radial lines in the slices through the clip, alternately bright and dark, "
                     f"{STREAK_AMPLITUDE_HU:g} HU x {STREAK_DECAY_MM:g} / (r + {STREAK_DECAY_MM:g} mm), "
                     f"Gaussian SD {STREAK_WIDTH_MM:g} mm across"},
            "calcification": {"centre_pre_lps_mm": list(CALCIFICATION_CENTRE),
                              "diameter_mm": CALCIFICATION_DIAMETER_MM, "hu": CALCIFICATION_HU,
                              "on_pre_ct": True},
            "mask": "not_lipiodol.nii.gz: 1 calcification, 2 clip (post-CT grid)",
        },
        "lipiodol_model": {
            "image": "HU = tissue + occupancy x deposit HU x (1 + 0.2 smooth field, 5 mm), partial-volume "
            "ramp over the voxel size; no extra blur",
            "deposit_hu_above_tissue": DEPOSIT_HU,
            "partial_plane": {"normal": [float(v) for v in PARTIAL_NORMAL],
                              "offset_over_radius": PARTIAL_OFFSET_FRACTION,
                              "coverage": "cap fraction h^2 (3 - h) / 4 with h = 1.25"},
            "rim_sparing_inner_radius_over_radius": RIM_SPARING_INNER_FRACTION,
            "halo_mm": HALO_MM,
        },
        "classification_scale": "complete > 90 % with no peripheral defect (rim coverage >= 0.9), moderate "
        "50-90 %, poor < 50 % (Cancer Imaging 16, 2016, doi:10.1186/s40644-016-0090-4)",
        "ground_truth_files": files,
        "ground_truth_grids": "tumor_pre and liver_pre on the pre-CT grid; tumor_post, liver_post, lipiodol "
        "(1-3 tumour deposits, 4 non-target) and not_lipiodol on the post-CT grid",
        "label_names": {"tumor_pre": {"1": "tumor_1", "2": "tumor_2", "3": "tumor_3"},
                        "lipiodol": {"1": "tumour_1", "2": "tumour_2", "3": "tumour_3", "4": "non_target"}},
    }
    save_truth(truth, gt / "truth.json")
    return truth


def _truth_class(coverage_percent: float, rim_fraction: float) -> str:
    if coverage_percent > 90.0 and rim_fraction >= 0.9:
        return "complete"
    if coverage_percent >= 50.0:
        return "moderate"
    return "poor"
