"""Region-based partial-volume correction (PVC) with a known system resolution.

Emission images (90Y bremsstrahlung SPECT, 90Y PET) are the activity blurred by
the system point-spread function (PSF); small or thin regions lose counts to
their surroundings (spill-out) and gain counts from them (spill-in). With
anatomical regions from the CT and the PSF known (stated by the scanner, or
measured on a phantom, e.g. the fitted FWHM of
:func:`workstation.qa.analyse_nema_phantom` on a NEMA IEC phantom image of the
same scanner and reconstruction), both effects can be undone at the level of the
regions:

GTM (geometric transfer matrix; Rousset OG, Ma Y, Evans AC, J Nucl Med
39:904-911, 1998)
    Regions j = 1..N partition the image support (each voxel's fractions sum to
    at most 1). The *regional spread function* of region j is its partial-voxel
    mask ``w_j`` convolved with the PSF, ``RSF_j = w_j (x) PSF``. With uniform
    true concentrations ``t_j`` the observed weighted mean of region i is
    ``o_i = sum_j GTM_ij t_j`` with ``GTM_ij = sum_v w_i(v) RSF_j(v) / sum_v w_i(v)``
    (the fraction of region j's activity seen in region i). Solving this N x N
    system (non-negative least squares) gives the corrected mean of every region.
RBV (region-based voxel-wise correction; Thomas BA et al., Eur J Nucl Med Mol
Imaging 38:1104-1119, 2011)
    The piecewise-constant synthetic image ``S = sum_j t_j w_j`` built from the GTM
    means and its blurred copy give a voxel-wise correction
    ``corrected = observed x S / (S (x) PSF)``, which keeps the texture inside each
    region (unlike GTM) and restores the counts spilled out of it.

Model and conventions
---------------------
* The PSF is an isotropic 3D Gaussian of the given FWHM (mm), applied on the
  image grid (``sigma_axis = FWHM / (2 sqrt(2 ln 2)) / spacing_axis``, so
  anisotropic voxels are handled), with zero activity outside the field of
  view (``mode="constant"``). The partial-voxel masks are voxel averages of the
  region indicator, so the model treats voxel values as voxel averages of the
  blurred activity (the usual reading of a reconstructed voxel).
* The regions must cover the activity: besides the organ and lesion ROIs, a
  "rest" region (inside the body ROI when given, else the image's non-zero
  support) takes what no other region claims.
* Overlapping ROIs are made disjoint in the order given (earlier ROIs win):
  ``w_j <- min(w_j, 1 - sum_{k<j} w_k)``.
* RBV count consistency: where the blurred synthetic image is below
  ``guard_fraction`` of its maximum the correction factor is not formed (the
  voxel is set to zero inside no region, left unchanged otherwise); then the
  whole corrected image is scaled by one factor so that it holds the same total
  activity (sum x voxel volume) as the observed image (the PSF conserves counts,
  so the true image holds the observed total). The factor (close to 1) is
  reported. In ``run_sirt`` the counts calibration then makes the liver and
  lesions hold administered x (1 - LSF) as without PVC.
* RBV on a finer grid (``grid=``, e.g. the CT's): on coarse emission voxels a
  voxel straddling a lesion edge holds a mix of lesion and liver activity, so even
  a perfect correction leaves ROI means biased (the tissue-fraction effect; 7-12 %
  for 2-5 cm lesions on 4.8 mm SPECT voxels). On the grid of the ROIs this mixing
  disappears. The observed image is interpolated linearly onto that grid and the
  blurred synthetic image goes through the same voxel averaging, sampling and
  interpolation, so the ratio undoes them too.
* PVC amplifies noise and depends on the stated FWHM: a FWHM too small
  under-corrects (means stay low), too large over-corrects (means too high),
  most for the smallest regions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.grid import Grid
from workstation.core.volume import Volume

__all__ = [
    "GtmResult",
    "gaussian_psf_blur",
    "gtm_region_means",
    "rbv_correct",
    "region_weights",
    "PVC_METHODS",
    "PVC_SOURCES",
]

#: Method names accepted by ``run_sirt(pvc=...)`` and ``workstation sirt --pvc``.
PVC_METHODS: tuple[str, ...] = ("gtm", "rbv")

#: Literature of the methods (copied into results.json).
PVC_SOURCES: dict[str, str] = {
    "gtm": "Rousset OG, Ma Y, Evans AC. Correction for partial volume effects in PET: principle and "
    "validation. J Nucl Med 39:904-911 (1998)",
    "rbv": "Thomas BA, Erlandsson K, Modat M, et al. The importance of appropriate partial volume correction "
    "for PET quantification in Alzheimer's disease. Eur J Nucl Med Mol Imaging 38:1104-1119 (2011)",
}

#: FWHM = FWHM_TO_SIGMA x sigma for a Gaussian: 2 sqrt(2 ln 2) (exact).
FWHM_PER_SIGMA: float = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: Name of the region that takes the rest of the body / image support.
REST_REGION: str = "rest"


@dataclass
class GtmResult:
    """Region means before and after the GTM correction.

    Attributes
    ----------
    names:
        Region names, the rest region last.
    observed_mean, corrected_mean:
        Weighted mean image value per region (image units, e.g. counts/voxel or Bq/mL).
    volume_ml:
        Region volume (sum of partial-voxel weights x voxel volume), mL.
    matrix:
        The GTM, ``matrix[i, j]`` = fraction of region j's uniform activity seen as
        mean value in region i.
    weights:
        Disjoint partial-voxel weights (float32, image grid), same order as ``names``.
    fwhm_mm:
        PSF FWHM used, mm.
    residual:
        Relative residual ``|GTM t - o| / |o|`` of the non-negative solution.
    """

    names: list[str]
    observed_mean: np.ndarray
    corrected_mean: np.ndarray
    volume_ml: np.ndarray
    matrix: np.ndarray
    weights: list[np.ndarray] = field(repr=False)
    fwhm_mm: float = 0.0
    residual: float = 0.0

    def means(self) -> dict[str, float]:
        """Region name -> corrected mean."""
        return {n: float(t) for n, t in zip(self.names, self.corrected_mean, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """Per-region table for results.json."""
        regions = {}
        for i, n in enumerate(self.names):
            o = float(self.observed_mean[i])
            t = float(self.corrected_mean[i])
            regions[n] = {
                "volume_ml": float(self.volume_ml[i]),
                "observed_mean": o,
                "corrected_mean": t,
                "recovery_observed_over_corrected": o / t if t > 0 else None,
                "self_recovery_gtm_ii": float(self.matrix[i, i]),
            }
        return {"regions": regions, "psf_fwhm_mm": self.fwhm_mm, "relative_residual": self.residual}


def _check_fwhm(fwhm_mm: float) -> float:
    f = float(fwhm_mm)
    if not (math.isfinite(f) and 0.0 < f <= 100.0):
        raise InvalidInputError(f"The PSF FWHM (--psf-fwhm-mm) must be between 0 and 100 mm, got {fwhm_mm}.")
    return f


def gaussian_psf_blur(array: np.ndarray, spacing_mm: Any, fwhm_mm: float,
                      aperture_mm: Any | None = None) -> np.ndarray:
    """Convolve ``array`` (z, y, x) with an isotropic Gaussian PSF of ``fwhm_mm`` (float32 or float64 as given).

    ``spacing_mm`` is the voxel spacing along (z, y, x); outside the array is zero.
    ``aperture_mm`` (z, y, x): also average over a box of this size (the voxels of
    a coarser grid), approximated by a Gaussian of the same variance (``a^2 / 12``).
    """
    sigma_mm = np.full(3, _check_fwhm(fwhm_mm) / FWHM_PER_SIGMA)
    if aperture_mm is not None:
        sigma_mm = np.sqrt(sigma_mm**2 + np.asarray(aperture_mm, dtype=float) ** 2 / 12.0)
    sigma_vox = sigma_mm / np.asarray(spacing_mm, dtype=float)
    a = np.asarray(array)
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    return ndimage.gaussian_filter(a, sigma=sigma_vox, mode="constant", cval=0.0, truncate=4.0)


def region_weights(
    image: Volume,
    rois: Mapping[str, Volume | np.ndarray],
    body: Volume | np.ndarray | None = None,
    supersample: int = 3,
    min_volume_ml: float = 0.0,
    min_unclaimed_fraction: float = 0.5,
) -> tuple[list[str], list[np.ndarray]]:
    """Disjoint partial-voxel weights of the regions on ``image``'s grid, plus the rest region.

    Parameters
    ----------
    image:
        The emission image whose grid the weights are on.
    rois:
        Region name -> mask (a label/binary Volume on any grid, non-zero inside, or a
        float array of voxel fractions on the image grid). Earlier regions win where
        they overlap.
    body:
        Body mask: the rest region is the body minus the regions. ``None``: the rest
        region is the image's non-zero support minus the regions.
    supersample:
        Sub-voxels per axis for the partial-voxel fractions of masks on other grids.
    min_volume_ml:
        Regions left with less volume than this after the overlaps are removed are dropped.
    min_unclaimed_fraction:
        A region of which less than this fraction is left after the overlaps are
        removed (a sub-region of earlier ones, e.g. a perfused territory after the
        liver) is dropped: its sliver would make the matrix ill-conditioned.

    Returns
    -------
    names, weights
        The rest region is last and named ``"rest"`` (omitted when empty).
    """
    from workstation.dosimetry.dvh import roi_weights

    def _w(name: str, m: Volume | np.ndarray) -> np.ndarray:
        if isinstance(m, Volume):
            return roi_weights(m, image, supersample=supersample, name=name).astype(np.float32, copy=False)
        a = np.asarray(m, dtype=np.float32)
        if a.shape != image.shape:
            raise InvalidInputError(f"The weights of region {name!r} are not on the image grid.")
        return np.clip(a, 0.0, 1.0)

    if not rois:
        raise InvalidInputError("Partial-volume correction needs at least one region (ROI).")
    claimed = np.zeros(image.shape, dtype=np.float32)
    names: list[str] = []
    weights: list[np.ndarray] = []
    ml = image.voxel_volume_ml
    for name, m in rois.items():
        full = _w(name, m)
        w = np.minimum(full, 1.0 - claimed)
        left = float(w.sum(dtype=np.float64))
        if left * ml <= max(min_volume_ml, 0.0) or left < min_unclaimed_fraction * float(full.sum(dtype=np.float64)):
            continue
        claimed += w
        names.append(name)
        weights.append(w)
    if not names:
        raise EmptyMaskError("No region for the partial-volume correction is left on the image grid.")
    if body is not None:
        support = _w("body", body)
    else:
        support = (np.asarray(image.array) != 0).astype(np.float32)
    support = np.maximum(support, claimed)  # regions beyond the body still count as covered
    rest = np.clip(support - claimed, 0.0, 1.0)
    if float(rest.sum(dtype=np.float64)) * ml > max(min_volume_ml, 0.0):
        names.append(REST_REGION)
        weights.append(rest)
    return names, [w.astype(np.float32) for w in weights]


def gtm_region_means(
    image: Volume,
    rois: Mapping[str, Volume | np.ndarray],
    fwhm_mm: float,
    body: Volume | np.ndarray | None = None,
    supersample: int = 3,
    min_volume_ml: float = 0.0,
    min_unclaimed_fraction: float = 0.5,
) -> GtmResult:
    """Partial-volume corrected mean of each region by the geometric transfer matrix.

    Parameters
    ----------
    image:
        Emission image (counts or Bq/mL), blurred by a Gaussian PSF of ``fwhm_mm``.
    rois:
        Region name -> mask (see :func:`region_weights`); e.g. ``normal_liver``
        (liver minus lesions), one entry per lesion, ``lungs``.
    fwhm_mm:
        FWHM of the isotropic Gaussian system PSF, mm (reconstructed resolution).
    body:
        Body mask for the rest region (else the image's non-zero support).

    Returns
    -------
    GtmResult
        Observed and corrected means (image units), volumes (mL), the matrix.
    """
    fwhm = _check_fwhm(fwhm_mm)
    names, weights = region_weights(image, rois, body=body, supersample=supersample,
                                    min_volume_ml=min_volume_ml, min_unclaimed_fraction=min_unclaimed_fraction)
    obs = np.asarray(image.array, dtype=np.float64)
    if not np.all(np.isfinite(obs)):
        raise InvalidInputError("The image for partial-volume correction contains NaN or infinite voxels.")
    sums = np.array([float(w.sum(dtype=np.float64)) for w in weights])
    n = len(names)
    matrix = np.zeros((n, n))
    observed = np.array([float(np.sum(w * obs) / s) for w, s in zip(weights, sums, strict=True)])
    spacing = image.spacing_mm
    for j, wj in enumerate(weights):
        rsf = gaussian_psf_blur(wj.astype(np.float64), spacing, fwhm)
        for i, wi in enumerate(weights):
            matrix[i, j] = float(np.sum(wi * rsf) / sums[i])
    from scipy.optimize import nnls  # only the GTM needs it (scipy.optimize: ~0.3 s to import)

    t, rnorm = nnls(matrix, observed)
    residual = float(rnorm / np.linalg.norm(observed)) if np.linalg.norm(observed) > 0 else 0.0
    return GtmResult(
        names=names, observed_mean=observed, corrected_mean=t, volume_ml=sums * image.voxel_volume_ml,
        matrix=matrix, weights=weights, fwhm_mm=fwhm, residual=residual,
    )


def rbv_correct(
    image: Volume,
    rois: Mapping[str, Volume | np.ndarray],
    fwhm_mm: float,
    body: Volume | np.ndarray | None = None,
    supersample: int = 3,
    guard_fraction: float = 0.01,
    conserve_total: bool = True,
    grid: Volume | Grid | None = None,
    gtm: GtmResult | None = None,
    min_unclaimed_fraction: float = 0.5,
) -> Volume:
    """Region-based voxel-wise partial-volume correction (RBV).

    Parameters
    ----------
    image:
        Emission image (counts or Bq/mL).
    rois:
        Region masks, as for :func:`gtm_region_means` (Volumes when ``grid`` is given).
    fwhm_mm:
        FWHM of the isotropic Gaussian system PSF, mm.
    body:
        Body mask for the rest region (else the image's non-zero support).
    guard_fraction:
        The correction ``S / (S (x) PSF)`` is formed only where ``S (x) PSF`` exceeds
        this fraction of its maximum; elsewhere voxels inside a region keep their
        value and voxels outside all regions become 0.
    conserve_total:
        Scale the result so that its total activity (sum x voxel volume) equals the
        observed image's.
    grid:
        Grid of the corrected image (e.g. the CT's, where the ROIs were drawn).
        ``None``: the image's grid. On a finer grid the observed image is
        interpolated linearly, the synthetic image ``S`` is built from the ROIs on
        that grid and blurred there, so ROI means on that grid are free of the
        mixing of regions inside the coarse emission voxels (tissue-fraction effect).
        The blurred synthetic image is averaged over the image's voxels (a Gaussian
        of the box's variance), sampled on the image grid and interpolated back
        the same way, so the correction also undoes the smoothing of the
        interpolation. The GTM means always come from the image's own grid.
    gtm:
        A :class:`GtmResult` already computed on ``image`` with ``fwhm_mm`` (else computed).

    Returns
    -------
    Volume
        On ``grid`` (or the image's grid), the image's units, float32;
        ``metadata.extra["pvc"]`` holds the method, FWHM, the GTM table and the
        count-conservation factor.
    """
    fwhm = _check_fwhm(fwhm_mm)
    if not (0.0 < guard_fraction < 1.0):
        raise InvalidInputError(f"guard_fraction must be between 0 and 1, got {guard_fraction}.")
    if gtm is None:
        gtm = gtm_region_means(image, rois, fwhm, body=body, supersample=supersample,
                               min_unclaimed_fraction=min_unclaimed_fraction)
    elif abs(gtm.fwhm_mm - fwhm) > 1e-9 or gtm.weights[0].shape != image.shape:
        raise InvalidInputError("The GTM result was computed for another image grid or FWHM.")
    if grid is None or grid.same_grid(image):
        target = image
        names, weights = gtm.names, gtm.weights
    else:
        target = image.resample_to(grid, "linear", fill_value=0.0, dtype=np.float32)
        names, weights = region_weights(target, rois, body=body, supersample=supersample,
                                        min_unclaimed_fraction=min_unclaimed_fraction)
    means = gtm.means()
    uncorrected = []
    obs = np.asarray(target.array, dtype=np.float32)
    synthetic = np.zeros(target.shape, dtype=np.float32)
    covered = np.zeros(target.shape, dtype=np.float32)
    for name, w in zip(names, weights, strict=True):
        if name in means:
            t = means[name]
        else:  # kept on this grid but not on the image grid: no correction of its mean
            t = float(np.sum(w * obs, dtype=np.float64) / np.sum(w, dtype=np.float64))
            uncorrected.append(name)
        synthetic += np.float32(t) * w
        covered += w
    del weights
    if target is image:
        blurred = gaussian_psf_blur(synthetic, target.spacing_mm, fwhm)
    else:
        # the observed values on this grid are voxel averages on the image grid (the GTM's model),
        # interpolated linearly (which smooths further): put the synthetic image through the same
        aperture = np.abs(np.linalg.inv(target.direction) @ image.direction) @ image.spacing_mm
        blurred = gaussian_psf_blur(synthetic, target.spacing_mm, fwhm, aperture_mm=aperture)
        blurred_vol = target.copy_with(array=blurred.astype(np.float32))
        coarse = blurred_vol.resample_to(image, "linear", fill_value=0.0, dtype=np.float32)
        blurred = coarse.resample_to(target, "linear", fill_value=0.0, dtype=np.float32).array
    peak = float(blurred.max())
    if peak <= 0:
        raise InvalidInputError("The partial-volume corrected regions hold no activity (all GTM means are zero).")
    ok = blurred > guard_fraction * peak
    ratio = (covered > 0).astype(np.float32)
    del covered
    ratio[ok] = synthetic[ok] / blurred[ok]
    del synthetic, blurred
    corrected = obs * ratio
    del ratio
    factor = 1.0
    if conserve_total:
        total_obs = float(np.sum(image.array, dtype=np.float64)) * image.voxel_volume_ml
        total_cor = float(np.sum(corrected, dtype=np.float64)) * target.voxel_volume_ml
        if total_cor > 0 and total_obs > 0:
            factor = total_obs / total_cor
            corrected *= factor
    out = target.copy_with(array=corrected.astype(np.float32, copy=False))
    out.metadata.extra["pvc"] = {
        "method": "rbv",
        "psf_fwhm_mm": fwhm,
        "gtm": gtm.to_dict(),
        "guard_fraction": guard_fraction,
        "count_conservation_factor": factor,
        "corrected_voxels": int(ok.sum()),
        "grid": "image" if target is image else "given grid (observed image interpolated linearly)",
        "regions_not_corrected": uncorrected,
    }
    return out
