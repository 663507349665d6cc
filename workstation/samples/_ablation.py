"""The ablation sample study: pre- and post-ablation CT with a known transform and known margins."""

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
from workstation.samples._patient import render_ct

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


class _FastTransform:
    """Vectorised evaluation of a smooth transform from its samples on a 1 mm grid (cubic spline)."""

    def __init__(self, transform: Any, centre_lps_mm: np.ndarray, half_width_mm: float, rotation: np.ndarray):
        from scipy import ndimage

        n = int(2 * half_width_mm) + 1
        self.affine = im.axial_grid((n, n, n), (1.0, 1.0, 1.0), tuple(centre_lps_mm))
        pts = displaced_points(transform, self.affine, (n, n, n))
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
    fast = _FastTransform(transform, invert_point(transform, t_centre, rot), 40.0, rot)
    r = ABLATION_TUMOUR.diameter_mm / 2
    _, c = ablation_frame()
    n_t = int(4 * np.pi * r**2 / spacing_mm**2)
    n_a = int(4 * np.pi * max(ABLATION_RADII_MM) ** 2 / spacing_mm**2)
    u_t = sh.fibonacci_sphere(n_t)
    u_a = sh.fibonacci_sphere(n_a)
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


def make_ablation(out: Path, seed: int = 7) -> dict[str, Any]:
    """Pre- and post-ablation CT of a liver tumour with a known transform and margins."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    shape = (64, 160, 160)
    spacing = (2.5, 1.5, 1.5)
    pre_aff = im.axial_grid(shape, spacing, (-70.0, 10.0, -30.0))
    post_aff = im.axial_grid(shape, spacing, (-70.0, 10.0, -42.0))
    lesions = (ABLATION_TUMOUR,)

    hu_pre, labels_pre = render_ct(pre_aff, shape, lesions, rng)
    tumour_pre = an.lesion_index(labels_pre) == 1
    liver_pre = np.isin(labels_pre, an.liver_labels())
    if not liver_pre[tumour_pre].all():
        raise RuntimeError("sample generator: the ablation target is not inside the liver")

    transform = breathing_transform(post_aff, shape)
    tissue = displaced_points(transform, post_aff, shape)
    tx, ty, tz = tissue[..., 0], tissue[..., 1], tissue[..., 2]
    hu_post, labels_post = render_ct(post_aff, shape, lesions, rng, points=(tx, ty, tz))
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
    t_post = invert_point(transform, t_pre, rot)

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
        "tumor_pre": write_nifti(tumour_pre, pre_aff, gt / "tumor_pre.nii.gz"),
        "liver_pre": write_nifti(liver_pre, pre_aff, gt / "liver_pre.nii.gz"),
        "tumor_post": write_nifti(tumour_post, post_aff, gt / "tumor_post.nii.gz"),
        "ablation_zone": write_nifti(ablation_zone, post_aff, gt / "ablation_zone.nii.gz"),
        "liver_post": write_nifti(liver_post, post_aff, gt / "liver_post.nii.gz"),
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
        "pre_ct": {**grid_info(pre_aff, shape), "frame_of_reference_uid": pre_series.frame_of_reference_uid,
                   "series_instance_uid": pre_series.uid, "study_instance_uid": pre_study.uid},
        "post_ct": {**grid_info(post_aff, shape), "frame_of_reference_uid": post_series.frame_of_reference_uid,
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
    save_truth(truth, gt / "truth.json")
    return truth

