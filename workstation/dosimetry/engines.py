"""Absorbed-dose engines: all three start from one activity map.

Input: an activity-concentration :class:`Volume` in Bq/mL at the time of
administration. Doses are for complete decay of that activity (permanent
implant: cumulated decays = A x tau, tau = T1/2 / ln 2). Every engine deposits
``E = f / (1e9 tau e)`` MeV per decay, the energy implied by the LDM factor ``f``
(Gy kg/GBq), so the engines differ only in where the energy goes and into
which mass it is divided:

``ldm``
    Local deposition: ``D = A[GBq] f / m[kg]`` in each voxel, with the voxel mass
    from a tissue density (default 1.03 g/mL, the liver convention; an array
    allows lungs at lung density).
``vsv``
    Convolution of the cumulated decays with the voxel S-value kernel of the
    image's voxel size in water-like tissue of the same uniform density
    (default 1.03 g/mL; :mod:`.kernels` scales ranges as 1/rho), by FFT
    (``scipy.fft.rfftn``, float32, zero padding to the full linear convolution, so
    no wrap-around). Energy deposited beyond the image edge is lost, as it is
    from a patient.
``vsv-density``
    Energy spread by the *water* kernel, then divided by the local mass from the
    CT (HU->density, :mod:`.density`): ``D(x) = D_water(x) * 1.0 / rho(x)``.
    This first-order heterogeneity correction (evaluated against Monte Carlo by
    Dieudonne et al., J Nucl Med 54:236, 2013) conserves the energy deposited in
    each voxel exactly. Lungs are handled explicitly: activity inside a lung mask
    is deposited locally at the local lung density (the electron range in lung,
    about 3x longer than in water, is still short compared with the lung, and
    the mass-weighted mean lung dose equals the clinical formula
    LSF x A x f / M_lung). Voxels below ``air_density_g_per_ml`` (outside the
    body) get no dose; the energy they would receive is reported.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from workstation.core.constants import MEV_TO_J
from workstation.core.errors import GeometryMismatchError, InvalidInputError, UnitError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.density import SOFT_TISSUE_DENSITY_G_PER_ML
from workstation.dosimetry.kernels import VoxelKernel, voxel_s_kernel
from workstation.dosimetry.nuclides import Nuclide, get_nuclide

__all__ = [
    "METHODS",
    "fft_convolve",
    "cumulated_decays",
    "absorbed_dose_ldm",
    "absorbed_dose_vsv",
    "absorbed_dose_vsv_density",
    "deposited_energy_j",
    "engine_kernel",
    "emitted_energy_j",
    "AIR_DENSITY_G_PER_ML",
]

#: Engine names as used by the CLI and results.json.
METHODS: tuple[str, ...] = ("ldm", "vsv", "vsv-density")

#: Below this density (g/mL) a voxel is air outside the body (about -980 HU with
#: the Schneider 2000 calibration) and receives no dose in ``vsv-density``.
AIR_DENSITY_G_PER_ML: float = 0.02


def _check_activity(activity: Volume) -> np.ndarray:
    if activity.units != Unit.BQML:
        raise UnitError(
            f"The dose engines need activity concentration in Bq/mL, got {activity.units.value}."
        )
    arr = np.asarray(activity.array)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("The activity map contains NaN or infinite values.")
    if np.any(arr < 0):
        raise InvalidInputError(
            "The activity map has negative voxels; calibrate it first (negative voxels are clipped there)."
        )
    return arr


def cumulated_decays(activity: Volume, nuclide: str | Nuclide = "Y-90") -> np.ndarray:
    """Number of decays per voxel for complete decay, float64: ``C[Bq/mL] V[mL] tau[s]``."""
    arr = _check_activity(activity)
    nuc = get_nuclide(nuclide)
    return arr.astype(np.float64) * activity.voxel_volume_ml * nuc.mean_life_s


def fft_convolve(
    array: np.ndarray, kernel: np.ndarray, dtype: type = np.float32, workers: int = -1
) -> np.ndarray:
    """Linear ("same" size, centred) convolution of a 3D array with an odd-shaped kernel.

    Zero padding to at least ``n + k - 1`` per axis (next fast FFT length) makes
    it a linear, not circular, convolution. Tiny negative round-off is clipped.
    """
    if any(s % 2 == 0 for s in kernel.shape):
        raise InvalidInputError(f"The kernel must have odd sizes, got {kernel.shape}.")
    # pocketfft is fast for lengths with factors 2, 3, 5, 7, 11 (real=False allows 7 and 11)
    shape = [scipy.fft.next_fast_len(n + k - 1) for n, k in zip(array.shape, kernel.shape, strict=True)]
    fa = scipy.fft.rfftn(array.astype(dtype, copy=False), s=shape, workers=workers)
    fk = scipy.fft.rfftn(kernel.astype(dtype, copy=False), s=shape, workers=workers)
    fa *= fk
    del fk
    full = scipy.fft.irfftn(fa, s=shape, workers=workers)
    start = [k // 2 for k in kernel.shape]
    out = full[tuple(slice(s, s + n) for s, n in zip(start, array.shape, strict=True))]
    out = np.ascontiguousarray(out)
    np.maximum(out, 0.0, out=out)
    return out


def engine_kernel(
    activity: Volume,
    nuclide: str | Nuclide = "Y-90",
    ldm_gy_kg_per_gbq: float | None = None,
    density_g_per_ml: float = SOFT_TISSUE_DENSITY_G_PER_ML,
) -> VoxelKernel:
    """The kernel of ``activity``'s voxel size at ``density_g_per_ml``, normalised to the LDM energy per decay."""
    nuc = get_nuclide(nuclide)
    _check_axis_aligned(activity)
    kernel = voxel_s_kernel(tuple(activity.spacing_mm), density_g_per_ml, nuc)
    return kernel.normalized(nuc.energy_per_decay_mev_for_ldm(ldm_gy_kg_per_gbq))


def _check_axis_aligned(vol: Volume) -> None:
    d = vol.direction
    if abs(abs(np.linalg.det(d)) - 1.0) > 1e-3 or not np.allclose(d.T @ d, np.eye(3), atol=1e-3):
        raise GeometryMismatchError(
            "The activity image has non-orthogonal (sheared) voxel axes; resample it to an orthogonal grid first."
        )


def _dose_volume(activity: Volume, dose: np.ndarray, method: str, **extra: object) -> Volume:
    vol = activity.copy_with(array=dose.astype(np.float32), units=Unit.GY, modality="RTDOSE")
    vol.metadata.extra = {"method": method, **extra}
    nuclide = extra.get("nuclide", "Y-90")
    vol.metadata.series_description = f"{nuclide} absorbed dose ({method})"
    return vol


def absorbed_dose_ldm(
    activity: Volume,
    nuclide: str | Nuclide = "Y-90",
    ldm_gy_kg_per_gbq: float | None = None,
    tissue_density_g_per_ml: float | np.ndarray = SOFT_TISSUE_DENSITY_G_PER_ML,
) -> Volume:
    """Local-deposition dose (Gy) of an activity map (Bq/mL at administration).

    Parameters
    ----------
    activity:
        Activity concentration, Bq/mL, decay-corrected to the administration.
    ldm_gy_kg_per_gbq:
        LDM factor (Gy kg/GBq); default the nuclide's (49.67 for 90Y).
    tissue_density_g_per_ml:
        Density used for the voxel mass (scalar or an array on the activity grid).
    """
    arr = _check_activity(activity)
    nuc = get_nuclide(nuclide)
    f = nuc.ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
    # D = A[GBq] f / m[kg] = C[Bq/mL] V 1e-9 f / (rho V 1e-3) = C 1e-6 f / rho
    dose = arr.astype(np.float32) * np.float32(1e-6 * f)
    if np.ndim(tissue_density_g_per_ml) == 0:
        dose *= np.float32(1.0 / float(tissue_density_g_per_ml))
    else:
        dose /= np.asarray(tissue_density_g_per_ml, dtype=np.float32)
    return _dose_volume(activity, dose, "ldm", ldm_gy_kg_per_gbq=f, nuclide=nuc.name)


def absorbed_dose_vsv(
    activity: Volume,
    nuclide: str | Nuclide = "Y-90",
    ldm_gy_kg_per_gbq: float | None = None,
    kernel: VoxelKernel | None = None,
    workers: int = -1,
    tissue_density_g_per_ml: float = SOFT_TISSUE_DENSITY_G_PER_ML,
) -> Volume:
    """Voxel S-value convolution dose (Gy) in water-like tissue of uniform density.

    ``kernel`` defaults to :func:`engine_kernel` (voxel size of ``activity``, density
    ``tissue_density_g_per_ml``, normalised to the LDM energy per decay).
    """
    conc = _check_activity(activity)
    nuc = get_nuclide(nuclide)
    k = engine_kernel(activity, nuc, ldm_gy_kg_per_gbq, tissue_density_g_per_ml) if kernel is None else kernel
    if not np.allclose(k.spacing_mm, activity.spacing_mm, rtol=1e-4):
        raise GeometryMismatchError(
            f"The kernel spacing {k.spacing_mm} mm differs from the activity voxel size "
            f"{tuple(np.round(activity.spacing_mm, 4))} mm."
        )
    dose = _convolve_concentration(conc, k, activity.voxel_volume_ml * nuc.mean_life_s, workers)
    return _dose_volume(activity, dose, "vsv", kernel_energy_closure=k.energy_closure, nuclide=nuc.name)


def _convolve_concentration(
    conc: np.ndarray, kernel: VoxelKernel, decays_per_bq_ml: float, workers: int
) -> np.ndarray:
    """Dose (Gy, float32) = conc (Bq/mL) convolved with S (Gy/decay) x decays per (Bq/mL).

    The kernel is folded with the decays per Bq/mL (V tau) so that float32 values stay
    in a comfortable range (about 1e-5 Gy per Bq/mL); float32 FFT round-off is below
    1e-6 of the maximum dose.
    """
    kern = kernel.values_gy_per_decay * decays_per_bq_ml
    return fft_convolve(np.asarray(conc, dtype=np.float32), kern, dtype=np.float32, workers=workers)


def absorbed_dose_vsv_density(
    activity: Volume,
    density: Volume,
    nuclide: str | Nuclide = "Y-90",
    ldm_gy_kg_per_gbq: float | None = None,
    local_deposition_mask: np.ndarray | None = None,
    air_density_g_per_ml: float = AIR_DENSITY_G_PER_ML,
    workers: int = -1,
) -> Volume:
    """Density-corrected convolution dose (Gy); see the module docstring.

    Parameters
    ----------
    activity:
        Activity concentration (Bq/mL at administration).
    density:
        Mass density (g/mL) on the activity grid (:func:`.density.density_volume`).
    local_deposition_mask:
        Boolean array on the activity grid (lungs): activity inside deposits locally.
    air_density_g_per_ml:
        Voxels below this density receive no dose (their energy is reported in
        ``metadata.extra["energy_to_air_j"]``).
    """
    if not density.same_grid(activity):
        raise GeometryMismatchError("The density map must be on the activity grid; resample it first.")
    rho = np.asarray(density.array, dtype=np.float32)
    if not np.all(np.isfinite(rho)) or np.any(rho < 0):
        raise InvalidInputError("The density map has negative or non-finite values.")
    nuc = get_nuclide(nuclide)
    f = nuc.ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
    conc = _check_activity(activity)
    k = engine_kernel(activity, nuc, f, density_g_per_ml=1.0)  # water: energy per volume
    decays_per_bq_ml = activity.voxel_volume_ml * nuc.mean_life_s
    if local_deposition_mask is None:
        local = None
        energy_like = _convolve_concentration(conc, k, decays_per_bq_ml, workers)
    else:
        local = np.asarray(local_deposition_mask, bool)
        if local.shape != conc.shape:
            raise GeometryMismatchError("The local-deposition (lung) mask must be on the activity grid.")
        spread = np.where(local, np.float32(0.0), conc.astype(np.float32))
        energy_like = _convolve_concentration(spread, k, decays_per_bq_ml, workers)
        del spread
        # local part: LDM at unit density (the unit-density dose of locally absorbed energy)
        energy_like[local] += conc[local].astype(np.float32) * np.float32(1e-6 * f)
    # energy per voxel = water dose x water mass; dose = energy / (rho V)
    air = rho < air_density_g_per_ml
    voxel_kg_water = activity.voxel_volume_ml * 1e-3
    energy_air = float(energy_like[air].sum(dtype=np.float64) * voxel_kg_water)
    dose = energy_like
    np.divide(dose, rho, out=dose, where=~air)
    dose[air] = 0.0
    return _dose_volume(
        activity,
        dose,
        "vsv-density",
        energy_to_air_j=energy_air,
        air_density_g_per_ml=air_density_g_per_ml,
        local_deposition_voxels=0 if local is None else int(local.sum()),
        nuclide=nuc.name,
    )


def deposited_energy_j(dose: Volume, density_g_per_ml: float | np.ndarray = 1.0) -> float:
    """Energy (J) deposited: sum of dose (Gy) x voxel mass (kg)."""
    mass_kg = np.asarray(density_g_per_ml, dtype=np.float64) * dose.voxel_volume_ml * 1e-3
    return float(np.sum(dose.array.astype(np.float64) * mass_kg))


def emitted_energy_j(
    activity: Volume, nuclide: str | Nuclide = "Y-90", ldm_gy_kg_per_gbq: float | None = None
) -> float:
    """Energy (J) emitted by the activity map for complete decay, at the LDM energy per decay."""
    nuc = get_nuclide(nuclide)
    e = nuc.energy_per_decay_mev_for_ldm(ldm_gy_kg_per_gbq)
    return float(cumulated_decays(activity, nuc).sum() * e * MEV_TO_J)

