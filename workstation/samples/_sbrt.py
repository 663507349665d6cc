"""The ``sbrt`` sample study: liver SBRT of a right-lobe metastasis, 45 Gy in 3 fractions.

Files: ``ct/`` (planning CT), ``rt/RS.dcm`` (GTV, PTV, Liver, Body), ``rt/RP.dcm``
(two 6 MV arcs, 45 Gy to the PTV in 3 fractions), ``rt/RD.dcm`` (PLAN dose,
3 mm grid over the liver), ``ground_truth/`` (masks, the analytic dose on the
CT grid, truth.json with the known DVH metrics).

Analytic dose (Gy, whole course) at distance r from the lesion centre::

    D(r) = D0/2 erfc((r - a) / (sqrt(2) s)) + B exp(-r² / (2 w²))

a conformal high-dose sphere with a Gaussian penumbra (s = 4 mm) plus the
low-dose bath of arc therapy (B = 6 Gy, w = 45 mm). D0 = 45/0.8 Gy (the
prescription is about the 80 % isodose line); ``a`` places the 45 Gy isodose
(bath included) on the PTV surface. Known DVH values come from this function evaluated at the
CT voxel centres with the ground-truth masks; what ``rt-dose`` measures from
the RT Dose (trilinear interpolation of a 3 mm grid, 16-bit quantization)
agrees within the penumbra's interpolation error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from workstation.samples import _dicom_write as dw
from workstation.samples import _rt_patient as rp
from workstation.samples import _rt_write as rw

__all__ = ["make_sbrt", "analytic_dose_gy"]

PRESCRIPTION_GY = 45.0
FRACTIONS = 3
ISODOSE_FRACTION = 0.8
PENUMBRA_SIGMA_MM = 4.0
BATH_GY = 6.0
BATH_WIDTH_MM = 45.0
#: Dose grid: 3 mm over the liver.
DOSE_SPACING_MM = (3.0, 3.0, 3.0)
DOSE_SHAPE = (47, 64, 82)
DOSE_ORIGIN_LPS_MM = (-147.0, -92.0, -90.0)


def analytic_dose_gy(r_mm: np.ndarray) -> np.ndarray:
    """The course dose (Gy) at distance ``r_mm`` from the lesion centre (module docstring)."""
    d0 = PRESCRIPTION_GY / ISODOSE_FRACTION
    r_ptv = rp.RT_LESIONS[0].diameter_mm / 2 + rp.PTV_MARGIN_MM
    bath_at_ptv = BATH_GY * math.exp(-(r_ptv**2) / (2 * BATH_WIDTH_MM**2))
    u = float(special.erfcinv(2 * (PRESCRIPTION_GY - bath_at_ptv) / d0))
    a = r_ptv - math.sqrt(2.0) * PENUMBRA_SIGMA_MM * u
    high = 0.5 * d0 * special.erfc((r_mm - a) / (math.sqrt(2.0) * PENUMBRA_SIGMA_MM))
    return high + BATH_GY * np.exp(-(r_mm**2) / (2 * BATH_WIDTH_MM**2))


def make_sbrt(out: Path, seed: int = 45) -> dict[str, Any]:
    """Write the SBRT study (see the module docstring); returns truth.json."""
    rng = np.random.default_rng(seed)
    hu, labels, ct_aff = rp.render_ct(rng)
    lesion = rp.RT_LESIONS[0]
    specs = rp.structures(labels, ct_aff, 1, rp.PTV_MARGIN_MM, "PTV", "PTV")
    study = dw.Study(dw.derived_uid("sbrt", "study"), "20260302", "090000", "SBRT liver planning", "SBRT1", "WSA0101")
    frame = dw.derived_uid("sbrt", "frame-of-reference")
    ct_series = dw.Series(dw.derived_uid("sbrt", "ct"), 2, "CT planning abdomen 5mm", frame, "20260302", "090000")
    rs_series = dw.Series(dw.derived_uid("sbrt", "rtstruct"), 3, "Structures SBRT", frame, "20260302", "110000",
                          station="SAMPLE-TPS", model="Sample TPS")
    rp_series = dw.Series(dw.derived_uid("sbrt", "rtplan"), 4, "Plan SBRT 45Gy/3", frame, "20260302", "120000",
                          station="SAMPLE-TPS", model="Sample TPS")
    rd_series = dw.Series(dw.derived_uid("sbrt", "rtdose"), 5, "Dose SBRT 45Gy/3", frame, "20260302", "120000",
                          station="SAMPLE-TPS", model="Sample TPS")
    dw.write_ct_series(hu, ct_aff, out / "ct", rp.PATIENT_RT, study, ct_series)
    uids = rw.structure_uids(ct_series, rp.CT_SHAPE[0])
    rs_uid = rw.write_rtstruct(out / "rt" / "RS.dcm", specs, ct_aff, uids, ct_series.uid, rp.PATIENT_RT, study,
                               rs_series, "SBRT")
    arcs = [rw.Arc(181.0, 179.0, "CW", (70.0, 70.0), 1850.0), rw.Arc(179.0, 181.0, "CC", (70.0, 70.0), 1850.0)]
    plan_uid = rw.write_external_plan(out / "rt" / "RP.dcm", rp.PATIENT_RT, study, rp_series, rs_uid, 2,
                                      PRESCRIPTION_GY, FRACTIONS, lesion.centre_lps_mm, arcs, "SBRT liver")
    dose_aff = dw_affine(DOSE_ORIGIN_LPS_MM, DOSE_SPACING_MM)
    dose_grid = analytic_dose_gy(rp.distance_to(dose_aff, lesion.centre_lps_mm, DOSE_SHAPE))
    rw.write_rtdose(out / "rt" / "RD.dcm", dose_grid, dose_aff, rp.PATIENT_RT, study, rd_series, plan_uid,
                    "Analytic SBRT dose (sample)")
    dose_ct = analytic_dose_gy(rp.distance_to(ct_aff, lesion.centre_lps_mm, rp.CT_SHAPE))
    files = rp.write_ground_truth(out, specs, ct_aff)
    voxel_ml = float(np.prod(rp.CT_SPACING_MM)) / 1000.0
    masks = {s.name: s.mask for s in specs if s.name != "Body"}
    normal = specs[2].mask & ~specs[0].mask
    masks["Liver - GTV"] = normal
    truth = {
        "case": "sbrt",
        "description": "Liver SBRT of a right-lobe metastasis, 45 Gy in 3 fractions prescribed to the 80 % isodose "
        "covering the PTV (GTV + 5 mm); analytic dose.",
        "patient_id": rp.PATIENT_RT.patient_id,
        "frame_of_reference_uid": frame,
        "study_instance_uid": study.uid,
        "series": {"ct": ct_series.uid, "rtstruct": rs_series.uid, "rtplan": rp_series.uid, "rtdose": rd_series.uid},
        "sop_instance_uids": {"rtstruct": rs_uid, "rtplan": plan_uid},
        "prescription_gy": PRESCRIPTION_GY,
        "fractions": FRACTIONS,
        "lesion": {"centre_lps_mm": list(lesion.centre_lps_mm), "diameter_mm": lesion.diameter_mm},
        "dose_model": {"formula": "D(r) = D0/2 erfc((r - a)/(sqrt(2) s)) + B exp(-r^2/(2 w^2))",
                       "d0_gy": PRESCRIPTION_GY / ISODOSE_FRACTION, "s_mm": PENUMBRA_SIGMA_MM, "b_gy": BATH_GY,
                       "w_mm": BATH_WIDTH_MM, "prescription_isodose": ISODOSE_FRACTION},
        "known_dvh": rw.dvh_truth(dose_ct, masks, voxel_ml, PRESCRIPTION_GY, brachy=False),
        "known_dvh_definition": "structure metrics of the analytic dose at the CT voxel centres with the "
        "ground-truth masks (0/1 weights), as workstation.radiotherapy.structure_metrics computes them",
        "ct": rp.grid_info(ct_aff, rp.CT_SHAPE),
        "rtdose": rp.grid_info(dose_aff, DOSE_SHAPE),
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
    }
    rp.save_truth(truth, out)
    return truth


def dw_affine(origin: tuple[float, float, float], spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Axial affine from the LPS origin of voxel (0, 0, 0) and the spacing (z, y, x)."""
    from workstation.core.volume import affine_from_geometry

    return affine_from_geometry(origin, spacing_zyx)


