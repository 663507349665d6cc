"""SIRT dosimetry (90Y, 166Ho): nuclide data, voxel S-value kernels, dose engines, DVHs, planning, safety, radiobiology.

Physics sources are cited in each module; every constant used is copied into
``results.json["constants"]``. Entry points:

* :func:`voxel_s_kernel` - voxel S-values from the Graves et al. (2019) dose point kernel;
* :func:`absorbed_dose_ldm`, :func:`absorbed_dose_vsv`, :func:`absorbed_dose_vsv_density`;
* :func:`calibrate_activity` - quantitative or administered-activity calibration;
* :func:`gtm_region_means`, :func:`rbv_correct` - region-based partial-volume correction;
* :func:`run_sirt` / :func:`write_outputs` - the ``workstation sirt`` workflow;
* :class:`RoiRole`, :func:`resolve_roles` - what each ROI is (chosen, else guessed from its name);
* :func:`plan_bsa`, :func:`plan_mird`, :func:`plan_partition`, :func:`plan_multi_compartment`;
* :func:`maa_uptake` - lung shunt, tumour-to-normal ratio and masses from a 99mTc-MAA SPECT(/CT);
* :func:`safety_warnings`.
"""

from workstation.dosimetry.activity import ActivityCalibration, calibrate_activity
from workstation.dosimetry.density import density_volume, hu_to_density
from workstation.dosimetry.dvh import (
    cumulative_dvh,
    differential_dvh,
    dose_at_volume,
    roi_weights,
    volume_at_dose,
    write_dvh_csv,
)
from workstation.dosimetry.engines import (
    METHODS,
    absorbed_dose_ldm,
    absorbed_dose_vsv,
    absorbed_dose_vsv_density,
    deposited_energy_j,
    emitted_energy_j,
    fft_convolve,
)
from workstation.dosimetry.kernels import VoxelKernel, dose_point_kernel, voxel_s_kernel
from workstation.dosimetry.maa import maa_uptake
from workstation.dosimetry.metrics import lung_dose_formula_gy, roi_metrics
from workstation.dosimetry.nuclides import Y90, Nuclide, get_nuclide
from workstation.dosimetry.pipeline import SirtResult, run_sirt, write_outputs
from workstation.dosimetry.planning import (
    Territory,
    body_surface_area_dubois,
    body_surface_area_mosteller,
    plan_bsa,
    plan_mird,
    plan_multi_compartment,
    plan_partition,
)
from workstation.dosimetry.pvc import GtmResult, gtm_region_means, rbv_correct
from workstation.dosimetry.roles import RoiRole, guess_role, resolve_roles
from workstation.dosimetry.safety import THRESHOLDS, safety_warnings

__all__ = [
    "METHODS",
    "THRESHOLDS",
    "Y90",
    "ActivityCalibration",
    "GtmResult",
    "Nuclide",
    "RoiRole",
    "SirtResult",
    "Territory",
    "VoxelKernel",
    "absorbed_dose_ldm",
    "absorbed_dose_vsv",
    "absorbed_dose_vsv_density",
    "body_surface_area_dubois",
    "body_surface_area_mosteller",
    "calibrate_activity",
    "cumulative_dvh",
    "density_volume",
    "deposited_energy_j",
    "differential_dvh",
    "dose_at_volume",
    "dose_point_kernel",
    "emitted_energy_j",
    "fft_convolve",
    "get_nuclide",
    "guess_role",
    "gtm_region_means",
    "hu_to_density",
    "lung_dose_formula_gy",
    "maa_uptake",
    "plan_bsa",
    "plan_mird",
    "plan_multi_compartment",
    "plan_partition",
    "rbv_correct",
    "resolve_roles",
    "roi_metrics",
    "roi_weights",
    "run_sirt",
    "safety_warnings",
    "volume_at_dose",
    "write_dvh_csv",
    "voxel_s_kernel",
    "write_outputs",
]
