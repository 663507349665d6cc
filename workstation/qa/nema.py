"""Phantom QA on a NEMA IEC body phantom image (PET or SPECT).

Geometry of the phantom (NEMA NU 2-2012, section 7.3, and IEC 61675-1):
six fillable spheres of inner diameter 10, 13, 17, 22, 28 and 37 mm whose
centres lie in one transverse plane on a circle of 114.4 mm diameter that is
concentric with a cylindrical lung insert of 50 ± 2 mm outer diameter; the
spheres follow each other round the circle in order of size. Background
variability uses twelve 37 mm circular ROIs on the sphere plane and on planes
±10 mm and ±20 mm from it (NEMA NU 2-2012 7.4.1).

The analysis is automatic:

1. the phantom body is the connected region above half the background level
   (the background level is the median of the smoothed image over voxels
   above 5 % of its maximum: the background compartment dominates the volume);
2. the lung insert is the cold cylinder inside the body; its axis is the
   centre of the sphere ring;
3. the sphere plane is where the hot signal peaks along the phantom axis;
4. the ring angle and handedness are found by exhaustive search of a template
   (mean value inside the six spheres), then refined with the ring centre and
   the plane position by Nelder–Mead;
5. each sphere is then searched locally around its template position; a
   sphere ≥ 17 mm more than the position tolerance away from the template is
   reported as misplaced. A smaller sphere is reported where it was found when
   it is visible: its mean excess over the background, in a ball of its size,
   is at least ``SPHERE_VISIBILITY_SNR`` times the standard deviation of the
   same ball's mean over the background ROI positions (Rose criterion);
   otherwise it is reported as not visible, with that signal-to-noise ratio;
6. recovery coefficients (mean over the exact sphere volume with partial-voxel
   weights, and maximum) are compared with a model of a uniform sphere blurred
   by an isotropic Gaussian whose width is fitted to the spheres ≥ 17 mm (the
   calibration factor is measured on the background, not fitted): a sphere
   whose recovery departs from the model by more than the tolerance is
   reported as mis-scaled.

The image is assumed to be acquired axially (phantom axis along array axis 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, optimize, special

from workstation.core.errors import InvalidInputError
from workstation.core.morphology import largest_component
from workstation.core.volume import Unit, Volume
from workstation.qa._roi_geometry import (
    Sampler,
    axis_frame,
    ball_points,
    local_search,
    voxel_weights_ball,
    voxel_weights_disc,
)

__all__ = [
    "NEMA_SPHERE_DIAMETERS_MM",
    "NEMA_RING_RADIUS_MM",
    "NEMA_LUNG_INSERT_DIAMETER_MM",
    "NEMA_BACKGROUND_ROI_DIAMETER_MM",
    "QA_TOLERANCES",
    "PhantomQAResult",
    "analyse_nema_phantom",
    "sphere_recovery_model",
]

#: Inner sphere diameters (mm). Source: NEMA NU 2-2012, section 7.3.1.
NEMA_SPHERE_DIAMETERS_MM: tuple[float, ...] = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
#: Radius (mm) of the circle of sphere centres: 114.4 mm diameter. Source: NEMA NU 2-2012, 7.3.1.
NEMA_RING_RADIUS_MM: float = 57.2
#: Outer diameter of the lung insert (mm). Source: NEMA NU 2-2012, 7.3.1 (50 ± 2 mm).
NEMA_LUNG_INSERT_DIAMETER_MM: float = 50.0
#: Background ROI diameter (mm) and plane offsets (mm). Source: NEMA NU 2-2012, 7.4.1.
NEMA_BACKGROUND_ROI_DIAMETER_MM: float = 37.0
NEMA_BACKGROUND_PLANE_OFFSETS_MM: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0)

#: Pass/fail tolerances of the phantom QA. These are the project's acceptance
#: limits, chosen so that a correct PET or SPECT phantom scan passes with room
#: for noise while a sphere moved by a radius or filled at a wrong concentration fails.
QA_TOLERANCES: dict[str, dict[str, Any]] = {
    "sphere_position_mm": {
        "value": 6.0,
        "applies_to": "spheres >= 17 mm",
        "why": "about one SPECT voxel (4.8 mm) plus noise; a misplaced insert moves by more",
    },
    "recovery_model_residual": {
        "value": 0.10,
        "applies_to": "spheres >= 17 mm",
        "why": "|RC_mean - fitted blurred-sphere model|; 10 % of the true concentration",
    },
    "background_accuracy": {
        "value": 0.10,
        "applies_to": "quantitative images (Bq/mL)",
        "why": "measured / stated background concentration within 10 % (dose calibrator and "
        "image calibration uncertainties of a few per cent each)",
    },
    "recovery_monotonic": {
        "value": 0.05,
        "applies_to": "spheres >= 17 mm",
        "why": "RC_mean must not fall by more than 0.05 from one sphere to the next larger one",
    },
}

_LOCALISED_MIN_DIAMETER_MM = 17.0

#: Signal-to-noise ratio above which a sphere counts as visible: the Rose criterion, an object is
#: detected with certainty when its signal exceeds about 5 standard deviations of the noise of an
#: area of its size (Rose A., J Opt Soc Am 38:196, 1948; Burgess A.E., J Opt Soc Am A 16:633,
#: 1999). The local search maximises over about 200 positions, which lifts pure noise by ~3 SD,
#: so 5 keeps a search in the noise from being called a sphere.
SPHERE_VISIBILITY_SNR: float = 5.0


@dataclass
class SphereResult:
    diameter_mm: float
    centre_lps_mm: list[float]
    found_centre_lps_mm: list[float] | None
    position_error_mm: float | None
    mean_value: float
    max_value: float
    rc_mean: float
    rc_max: float
    rc_model: float
    dose_recovery: float | None = None
    #: Excess of the ball mean over the background at the found position / SD of the same ball's
    #: mean over the background ROI positions.
    visibility_snr: float | None = None
    visible: bool | None = None
    #: Why the sphere has no found position (not visible above the noise), else None.
    note: str | None = None


@dataclass
class PhantomQAResult:
    """Everything the phantom analysis measured; :meth:`to_dict` gives the qa.json part."""

    units: str
    calibration: str
    sphere_concentration: float
    background_concentration: float
    background_measured: float
    background_variability_percent: float
    ring_centre_lps_mm: list[float]
    lung_insert_found: bool
    lung_insert_residual_percent: float | None
    fitted_fwhm_mm: float
    #: Calibration of the image measured on the background (measured / stated); the name is kept
    #: from qa.json's first version.
    fitted_scale: float
    spheres: list[SphereResult]
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks if c["passed"] is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "calibration": self.calibration,
            "sphere_concentration": self.sphere_concentration,
            "background_concentration": self.background_concentration,
            "background_measured": self.background_measured,
            "background_variability_percent": self.background_variability_percent,
            "ring_centre_lps_mm": self.ring_centre_lps_mm,
            "lung_insert_found": self.lung_insert_found,
            "lung_insert_residual_percent": self.lung_insert_residual_percent,
            "fitted_fwhm_mm": self.fitted_fwhm_mm,
            "fitted_scale": self.fitted_scale,
            "spheres": [s.__dict__ for s in self.spheres],
            "checks": self.checks,
            "passed": self.passed,
            "tolerances": QA_TOLERANCES,
            "geometry_source": "NEMA NU 2-2012 section 7.3 (IEC 61675-1 body phantom)",
        }


# ------------------------------------------------------------------ model
def sphere_recovery_model(diameter_mm: float, fwhm_mm: float) -> tuple[float, float]:
    """Recovery of a uniform sphere blurred by an isotropic 3D Gaussian.

    Returns ``(rc_mean, rc_max)``: the blurred profile averaged over the sphere
    volume, and its value at the centre. The blurred profile of a ball of
    radius R at distance r from its centre is (σ = FWHM / 2.3548)::

        f(r) = ½[erf((R−r)/(√2σ)) + erf((R+r)/(√2σ))]
               − σ/(r√(2π)) [exp(−(R−r)²/2σ²) − exp(−(R+r)²/2σ²)]

    (convolution of the ball indicator with the Gaussian in spherical
    coordinates), and f(0) = erf(R/(√2σ)) − √(2/π)(R/σ)exp(−R²/2σ²).
    """
    radius = diameter_mm / 2.0
    sigma = max(fwhm_mm, 1e-6) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    s2 = math.sqrt(2.0) * sigma
    rc_max = special.erf(radius / s2) - math.sqrt(2.0 / math.pi) * (radius / sigma) * math.exp(
        -(radius**2) / (2 * sigma**2)
    )
    # Gauss-Legendre quadrature of 3/R^3 ∫_0^R f(r) r^2 dr
    nodes, weights = np.polynomial.legendre.leggauss(64)
    r = 0.5 * radius * (nodes + 1.0)
    w = 0.5 * radius * weights
    f = 0.5 * (special.erf((radius - r) / s2) + special.erf((radius + r) / s2)) - sigma / (
        r * math.sqrt(2.0 * math.pi)
    ) * (np.exp(-((radius - r) ** 2) / (2 * sigma**2)) - np.exp(-((radius + r) ** 2) / (2 * sigma**2)))
    rc_mean = float(3.0 / radius**3 * np.sum(w * f * r**2))
    return rc_mean, float(rc_max)


# ------------------------------------------------------------------ analysis
def analyse_nema_phantom(
    image: Volume,
    sphere_concentration: float,
    background_concentration: float,
    diameters_mm: tuple[float, ...] = NEMA_SPHERE_DIAMETERS_MM,
    ring_radius_mm: float = NEMA_RING_RADIUS_MM,
    dose_engine: Any | None = None,
) -> PhantomQAResult:
    """Localise the spheres and lung insert, measure recovery, and run the checks.

    Parameters
    ----------
    image:
        PET or SPECT image of the phantom, in Bq/mL (quantitative) or counts.
    sphere_concentration, background_concentration:
        Stated activity concentrations (Bq/mL) at the image's reference time.
        For count images the stated background calibrates counts to Bq/mL.
    dose_engine:
        Optional callable ``(activity_bqml: Volume) -> dose Volume`` used for
        the dose recovery per sphere (the ratio of the mean dose in each sphere
        computed from the image to that from the ideal phantom activity).
    """
    if not (sphere_concentration > 0 and background_concentration > 0):
        raise InvalidInputError(
            "--sphere-concentration and --background must both be positive (Bq/mL), "
            f"got {sphere_concentration} and {background_concentration}."
        )
    data = np.asarray(image.array, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise InvalidInputError("The phantom image contains NaN or infinite voxels.")
    if min(image.shape) < 8:
        raise InvalidInputError(f"The phantom image is too small ({image.shape}) for sphere analysis.")
    spacing = image.spacing_mm
    smooth = ndimage.gaussian_filter(data, sigma=2.0 / spacing).astype(np.float32)
    peak = float(smooth.max())
    if peak <= 0:
        raise InvalidInputError("The phantom image has no positive voxel.")
    candidates = smooth > 0.05 * peak
    bkg_level = float(np.median(smooth[candidates]))
    body = largest_component(smooth > 0.5 * bkg_level)
    if body.sum() * image.voxel_volume_ml < 500:
        raise InvalidInputError(
            "No phantom body found: the region above half the background level is under 500 mL."
        )
    filled = np.stack([ndimage.binary_fill_holes(sl) for sl in body])
    axis, u, v = axis_frame(image)

    # --- lung insert: cold core inside the filled body
    cold = filled & ~body
    cold = ndimage.binary_opening(cold, iterations=1)
    lung_found = False
    body_centre = image.index_to_world(np.argwhere(filled).mean(axis=0))
    ring_centre = body_centre
    lab, n = ndimage.label(cold)
    if n:
        sizes = ndimage.sum(cold, lab, index=np.arange(1, n + 1))
        best = int(np.argmax(sizes)) + 1
        comp = lab == best
        nslices = int(np.count_nonzero(comp.any(axis=(1, 2))))
        expected_area = math.pi * (NEMA_LUNG_INSERT_DIAMETER_MM / 2) ** 2 * 0.3
        area = comp.sum() / max(nslices, 1) * spacing[1] * spacing[2]
        if nslices * spacing[0] >= 40 and area >= expected_area:
            lung_found = True
            ring_centre = image.index_to_world(np.argwhere(comp).mean(axis=0))

    # --- sphere plane along the axis
    hot = np.clip(smooth - 1.5 * bkg_level, 0, None) * filled
    profile = hot.sum(axis=(1, 2))
    if profile.max() <= 0:
        raise InvalidInputError(
            "No hot spheres found: nothing in the phantom exceeds 1.5 × the background level."
        )
    k0 = int(np.argmax(profile))
    plane_idx = np.array(image.world_to_index(ring_centre), dtype=float)
    plane_idx[0] = k0
    plane_point = image.index_to_world(plane_idx)
    ring_centre = ring_centre + np.dot(plane_point - ring_centre, axis) * axis

    sampler = Sampler(image, smooth)
    balls = [ball_points(0.5 * d) for d in diameters_mm]
    nsph = len(diameters_mm)

    def centres(params: np.ndarray) -> np.ndarray:
        theta, hand, dz, du, dv = params
        c0 = ring_centre + dz * axis + du * u + dv * v
        ang = theta + hand * 2 * math.pi * np.arange(nsph) / nsph
        return c0 + ring_radius_mm * (np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v)

    volumes = np.asarray(diameters_mm, dtype=float) ** 3

    def score(params: np.ndarray) -> float:
        # the integral of the image over the six template balls: a large ball
        # collects most over the large sphere, which fixes the order round the ring
        cs = centres(params)
        total = 0.0
        for c, b, vol3 in zip(cs, balls, volumes, strict=True):
            total += vol3 * float(sampler(c + b).mean())
        return total

    best_params, best_score = None, -np.inf
    for hand in (1.0, -1.0):
        for theta in np.deg2rad(np.arange(0, 360, 2.0)):
            p = np.array([theta, hand, 0.0, 0.0, 0.0])
            s = score(p)
            if s > best_score:
                best_score, best_params = s, p
    assert best_params is not None
    hand = best_params[1]

    def neg(x: np.ndarray) -> float:
        return -score(np.array([x[0], hand, x[1], x[2], x[3]]))

    res = optimize.minimize(
        neg,
        np.array([best_params[0], 0.0, 0.0, 0.0]),
        method="Nelder-Mead",
        options={
            "xatol": 1e-3,
            "fatol": 1e-6 * abs(best_score),
            "maxiter": 800,
            # steps of ~3 degrees and 2 mm: the coarse search is on a 2 degree grid at the
            # voxel plane nearest to the hot peak
            "initial_simplex": np.array([best_params[0], 0.0, 0.0, 0.0])
            + np.vstack([np.zeros(4), np.diag([0.05, 2.0, 2.0, 2.0])]),
        },
    )
    params = np.array([res.x[0], hand, res.x[1], res.x[2], res.x[3]])
    template = centres(params)
    ring_c = ring_centre + res.x[1] * axis + res.x[2] * u + res.x[3] * v

    # --- calibration
    is_quant = image.units == Unit.BQML
    background_measured, bv, roi_centres = _background(
        image, data, filled, ring_c, axis, u, v, template, diameters_mm, ring_radius_mm
    )
    background_smooth = np.array([float(sampler(c[None, :])[0]) for c in roi_centres])
    if background_measured <= 0:
        raise InvalidInputError("The measured phantom background is not positive.")
    if is_quant:
        to_bqml = 1.0
        calibration = "quantitative (Bq/mL from the image)"
    else:
        to_bqml = background_concentration / background_measured
        calibration = "counts calibrated on the stated background concentration"

    # --- spheres
    sphere_results: list[SphereResult] = []
    for d, c, b in zip(diameters_mm, template, balls, strict=True):
        found, err, snr, visible, note = None, None, None, None, None
        if d >= _LOCALISED_MIN_DIAMETER_MM:
            found = local_search(sampler, c, b, search_mm=max(14.0, 0.6 * d))
            err = float(np.linalg.norm(found - c))
        else:
            # a small sphere: search near the template (fitted on all six), and keep the position
            # only when the sphere stands out of the noise of a ball of its size
            candidate = local_search(sampler, c, b, search_mm=6.0)
            excess = float(sampler(candidate + b).mean()) - float(np.median(background_smooth))
            noise = float(np.std([sampler(rc + b).mean() for rc in roi_centres], ddof=1))
            snr = excess / noise if noise > 0 else float("inf")
            visible = bool(snr >= SPHERE_VISIBILITY_SNR)
            if visible:
                found, err = candidate, float(np.linalg.norm(candidate - c))
            else:
                note = (f"the {d:g} mm sphere is not visible above the background noise: its excess in a "
                        f"{d:g} mm ball is {snr:.1f} times the noise of such a ball in the background "
                        f"(at least {SPHERE_VISIBILITY_SNR:g} needed, Rose criterion)")
        sl, w = voxel_weights_ball(image, c, 0.5 * d)
        if sl is None or w.sum() == 0:
            raise InvalidInputError(f"The {d:g} mm sphere lies outside the image.")
        vals = data[sl]
        mean_v = float((vals * w).sum() / w.sum()) * to_bqml
        max_v = float(vals[w >= 0.5].max() if np.any(w >= 0.5) else vals.max()) * to_bqml
        sphere_results.append(
            SphereResult(
                diameter_mm=float(d),
                centre_lps_mm=[float(x) for x in c],
                found_centre_lps_mm=None if found is None else [float(x) for x in found],
                position_error_mm=err,
                mean_value=mean_v,
                max_value=max_v,
                rc_mean=mean_v / sphere_concentration,
                rc_max=max_v / sphere_concentration,
                rc_model=float("nan"),
                visibility_snr=snr,
                visible=True if d >= _LOCALISED_MIN_DIAMETER_MM else visible,
                note=note,
            )
        )

    # --- fit the blurred-sphere model: one parameter, the FWHM
    # A sphere on a warm background: measured = C_B + (C_S - C_B) * rc_model(d)
    # (linearity of the blur), so RC_mean = scale * (C_B + (C_S - C_B) * m) / C_S. The
    # calibration scale is measured on the large background (measured / stated), not fitted:
    # fitting it with the FWHM on four spheres lets noise trade one against the other.
    ratio_b = background_concentration / sphere_concentration
    big = [s for s in sphere_results if s.diameter_mm >= _LOCALISED_MIN_DIAMETER_MM]
    scale = float(background_measured * to_bqml / background_concentration)

    def model_rc(dm: float, fwhm: float, scale: float) -> float:
        m, _ = sphere_recovery_model(dm, fwhm)
        return scale * (ratio_b + (1 - ratio_b) * m)

    def fit_fwhm(spheres: list[SphereResult]) -> float:
        def loss(f: float) -> float:
            return float(sum((s.rc_mean - model_rc(s.diameter_mm, f, scale)) ** 2 for s in spheres))

        res = optimize.minimize_scalar(loss, bounds=(0.5, 60.0), method="bounded",
                                       options={"xatol": 1e-3})
        return float(res.x)

    fwhm = fit_fwhm(big)
    # A robust refit without the worst sphere, so one bad sphere cannot drag the model.
    if len(big) >= 4:
        resid = [abs(s.rc_mean - model_rc(s.diameter_mm, fwhm, scale)) for s in big]
        worst = int(np.argmax(resid))
        fwhm = fit_fwhm([s for i, s in enumerate(big) if i != worst])
    for sphere in sphere_results:
        sphere.rc_model = model_rc(sphere.diameter_mm, fwhm, scale)

    if dose_engine is not None:
        _dose_recovery(image, data * to_bqml, sphere_results, template, sphere_concentration,
                       background_concentration, filled, dose_engine)

    lung_resid = None
    if lung_found:
        # NEMA NU 2-2012 7.4.2: a 30 mm ROI centred on the lung insert, relative to the background.
        disc = ball_points(15.0)
        disc = disc - np.outer(disc @ axis, axis)
        vals = [sampler(ring_c + off * axis + disc).mean() for off in NEMA_BACKGROUND_PLANE_OFFSETS_MM]
        lung_resid = float(np.mean(vals) / background_measured * 100.0)

    result = PhantomQAResult(
        units=image.units.value,
        calibration=calibration,
        sphere_concentration=float(sphere_concentration),
        background_concentration=float(background_concentration),
        background_measured=float(background_measured * to_bqml),
        background_variability_percent=float(bv),
        ring_centre_lps_mm=[float(x) for x in ring_c],
        lung_insert_found=lung_found,
        lung_insert_residual_percent=lung_resid,
        fitted_fwhm_mm=fwhm,
        fitted_scale=scale,
        spheres=sphere_results,
    )
    result.checks = _checks(result, is_quant)
    return result


def _background(
    image: Volume,
    data: np.ndarray,
    filled: np.ndarray,
    ring_c: np.ndarray,
    axis: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    template: np.ndarray,
    diameters_mm: tuple[float, ...],
    ring_radius_mm: float,
) -> tuple[float, float, list[np.ndarray]]:
    """Mean background (image units), background variability (%) and the ROI centres (LPS mm),
    from 37 mm ROIs.

    Twelve ROI centres per plane are chosen automatically, spread by
    farthest-point sampling over the in-plane positions that keep the ROI
    15 mm from the phantom edge, clear of the spheres and the lung insert
    (NEMA NU 2-2012 7.4.1 places them by hand with the same rules).
    """
    r_roi = NEMA_BACKGROUND_ROI_DIAMETER_MM / 2
    edge = ndimage.distance_transform_edt(filled, sampling=image.spacing_mm)
    k_plane = int(round(image.world_to_index(ring_c)[0]))
    k_plane = min(max(k_plane, 0), image.shape[0] - 1)
    sl_edge = edge[k_plane]
    jj, ii = np.nonzero(sl_edge >= 15.0 + r_roi)
    if len(jj) == 0:
        raise InvalidInputError("The phantom is too small for 37 mm background ROIs.")
    pts = image.index_to_world(np.stack([np.full(len(jj), k_plane), jj, ii], -1).astype(float))
    rel = pts - ring_c
    inplane = rel - np.outer(rel @ axis, axis)
    ok = np.linalg.norm(inplane, axis=1) >= NEMA_LUNG_INSERT_DIAMETER_MM / 2 + r_roi + 5
    for c, d in zip(template, diameters_mm, strict=True):
        cin = (c - ring_c) - np.dot(c - ring_c, axis) * axis
        ok &= np.linalg.norm(inplane - cin, axis=1) >= d / 2 + r_roi + 5
    cand = inplane[ok]
    if len(cand) < 12:
        raise InvalidInputError("Not enough phantom background to place twelve 37 mm ROIs.")
    chosen = [int(np.argmax(np.linalg.norm(cand, axis=1)))]
    dist = np.linalg.norm(cand - cand[chosen[0]], axis=1)
    for _ in range(11):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(cand - cand[nxt], axis=1))
    means = []
    centres = []
    for off in NEMA_BACKGROUND_PLANE_OFFSETS_MM:
        for idx in chosen:
            centre = ring_c + cand[idx] + off * axis
            sl, w = voxel_weights_disc(image, centre, axis, r_roi)
            if sl is None:
                continue
            means.append(float((data[sl] * w).sum() / w.sum()))
            centres.append(centre)
    arr = np.array(means)
    return float(arr.mean()), float(arr.std(ddof=1) / arr.mean() * 100.0), centres


def _dose_recovery(
    image: Volume,
    activity_bqml: np.ndarray,
    spheres: list[SphereResult],
    template: np.ndarray,
    c_sphere: float,
    c_bkg: float,
    body: np.ndarray,
    dose_engine: Any,
) -> None:
    """Dose recovery per sphere: image-based mean sphere dose / ideal-phantom mean sphere dose."""
    ideal = np.where(body, c_bkg, 0.0).astype(np.float32)
    for s, c in zip(spheres, template, strict=True):
        sl, w = voxel_weights_ball(image, c, s.diameter_mm / 2)
        ideal[sl] = ideal[sl] * (1 - w) + c_sphere * w
    dose_img = dose_engine(image.copy_with(array=activity_bqml.astype(np.float32), units=Unit.BQML))
    dose_true = dose_engine(image.copy_with(array=ideal, units=Unit.BQML))
    for s, c in zip(spheres, template, strict=True):
        sl, w = voxel_weights_ball(image, c, s.diameter_mm / 2)
        m_img = float((dose_img.array[sl] * w).sum() / w.sum())
        m_true = float((dose_true.array[sl] * w).sum() / w.sum())
        s.dose_recovery = m_img / m_true if m_true > 0 else None


def _checks(result: PhantomQAResult, quantitative: bool) -> list[dict[str, Any]]:
    tol = QA_TOLERANCES
    checks: list[dict[str, Any]] = []
    for s in result.spheres:
        if s.position_error_mm is not None:
            ok = s.position_error_mm <= tol["sphere_position_mm"]["value"]
            checks.append(
                {
                    "check": f"sphere {s.diameter_mm:g} mm position",
                    "value": round(s.position_error_mm, 2),
                    "tolerance": f"<= {tol['sphere_position_mm']['value']} mm",
                    "passed": ok,
                    "reason": None
                    if ok
                    else f"the {s.diameter_mm:g} mm sphere is {s.position_error_mm:.1f} mm from its "
                    "expected place on the NEMA ring (misplaced insert or wrong phantom geometry)",
                }
            )
    for s in result.spheres:
        if s.diameter_mm < _LOCALISED_MIN_DIAMETER_MM:
            continue
        r = s.rc_mean - s.rc_model
        ok = abs(r) <= tol["recovery_model_residual"]["value"]
        checks.append(
            {
                "check": f"sphere {s.diameter_mm:g} mm recovery vs model",
                "value": round(r, 4),
                "tolerance": f"|RC_mean - model| <= {tol['recovery_model_residual']['value']}",
                "passed": ok,
                "reason": None
                if ok
                else f"the {s.diameter_mm:g} mm sphere recovers {s.rc_mean:.2f} of the stated "
                f"concentration where the fitted resolution model predicts {s.rc_model:.2f} "
                "(sphere filled at another concentration, or wrong size)",
            }
        )
    big = [s for s in result.spheres if s.diameter_mm >= _LOCALISED_MIN_DIAMETER_MM]
    drops = [b.rc_mean - a.rc_mean for a, b in zip(big, big[1:], strict=False)]
    worst = min(drops) if drops else 0.0
    ok = worst >= -tol["recovery_monotonic"]["value"]
    checks.append(
        {
            "check": "recovery increases with sphere size",
            "value": round(worst, 4),
            "tolerance": f">= -{tol['recovery_monotonic']['value']}",
            "passed": ok,
            "reason": None if ok else "a larger sphere recovers less than a smaller one",
        }
    )
    if quantitative:
        rel = result.background_measured / result.background_concentration - 1
        ok = abs(rel) <= tol["background_accuracy"]["value"]
        checks.append(
            {
                "check": "background concentration",
                "value": round(rel, 4),
                "tolerance": f"|measured/stated - 1| <= {tol['background_accuracy']['value']}",
                "passed": ok,
                "reason": None
                if ok
                else f"the background measures {result.background_measured:.4g} Bq/mL against "
                f"{result.background_concentration:.4g} stated ({rel * 100:+.1f} %)",
            }
        )
    return checks
