"""The ``hdr`` sample study: interstitial 192Ir HDR brachytherapy of a second (anterior) right-lobe metastasis, 1 x 20 Gy.

Files: ``ct/`` (CT with the catheters' positions known), ``rt/RS.dcm`` (GTV, CTV,
Liver, Body), ``rt/RP.dcm`` (3 catheters, 18 dwell positions, 192Ir source,
20 Gy to the CTV in 1 fraction), ``rt/RD.dcm`` (PLAN dose, 3 mm grid over the
liver), ``ground_truth/`` (masks, ``to_sbrt.tfm``, truth.json with the known
DVH metrics, D90/D100 included).

Dose model (a point-source sum, not a planning algorithm): every dwell position
i with dwell time t_i contributes ``S_K Λ t_i / r_i²`` (TG-43 point-source
approximation with g(r) = 1 and no anisotropy; r in cm, clamped at 2 mm, the
catheter wall), with the source strength S_K decayed from its calibration to
the treatment date and the dose-rate constant Λ = 1.109 cGy h⁻¹ U⁻¹ of the
microSelectron HDR v2 source (AAPM/ESTRO consensus, Perez-Calatayud J et al.,
Med Phys 39:2904, 2012). Dwell times are equal, scaled so that 95 % of the CTV
receives the prescription (D95 = 20 Gy on the CT grid).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from workstation.samples import _dicom_write as dw
from workstation.samples import _rt_patient as rp
from workstation.samples import _rt_write as rw
from workstation.samples._sbrt import DOSE_ORIGIN_LPS_MM, DOSE_SHAPE, DOSE_SPACING_MM, dw_affine

__all__ = ["make_hdr", "dwell_positions", "point_source_dose_gy"]

PRESCRIPTION_GY = 20.0
FRACTIONS = 1
#: 192Ir: half-life 73.83 d (ENSDF via NNDC NuDat: 73.829 d); source strength 40 700 U
#: (about 10 Ci) at calibration; dose-rate constant (cGy h^-1 U^-1), see the module docstring.
IR192_HALF_LIFE_DAYS = 73.83
SOURCE_STRENGTH_U = 40700.0
DOSE_RATE_CONSTANT_CGY_PER_H_U = 1.109
CALIBRATION = ("20260220", "100000")
TREATMENT_DATE = ("20260309", "100000")
#: Catheters: parallel, along this direction (LPS), 8 mm from the lesion axis, 5 mm dwell steps.
CATHETER_DIRECTION = np.array([0.35, -0.85, 0.40]) / np.linalg.norm([0.35, -0.85, 0.40])
CATHETER_OFFSET_MM = 8.0
DWELL_STEP_MM = 5.0
DWELLS_PER_CATHETER = 6
R_MIN_MM = 2.0


def source_strength_at_treatment_u() -> float:
    """S_K (U = µGy m² h⁻¹) at the treatment date, decayed from calibration."""
    import datetime as _dt

    cal = _dt.datetime.strptime("".join(CALIBRATION), "%Y%m%d%H%M%S")
    tx = _dt.datetime.strptime("".join(TREATMENT_DATE), "%Y%m%d%H%M%S")
    days = (tx - cal).total_seconds() / 86400.0
    return SOURCE_STRENGTH_U * math.exp(-math.log(2.0) * days / IR192_HALF_LIFE_DAYS)


def dwell_positions() -> list[np.ndarray]:
    """Dwell positions (N, 3, LPS mm) of each catheter, tip last."""
    centre = np.asarray(rp.RT_LESIONS[1].centre_lps_mm)
    d = CATHETER_DIRECTION
    e1 = np.cross(d, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    steps = (np.arange(DWELLS_PER_CATHETER) - (DWELLS_PER_CATHETER - 1) / 2) * DWELL_STEP_MM
    out = []
    for k in range(3):
        phi = 2 * math.pi * k / 3
        axis = centre + CATHETER_OFFSET_MM * (math.cos(phi) * e1 + math.sin(phi) * e2)
        out.append(axis[None, :] + steps[:, None] * d[None, :])
    return out


def point_source_dose_gy(points: np.ndarray, positions: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Dose (Gy) at points (..., 3) from dwells (N, 3) with times (N,) s (module docstring)."""
    sk = source_strength_at_treatment_u()
    rate_gy_per_s_at_1cm = sk * DOSE_RATE_CONSTANT_CGY_PER_H_U * 0.01 / 3600.0
    out = np.zeros(points.shape[:-1])
    for pos, t in zip(positions, times_s, strict=True):
        r_cm = np.maximum(np.linalg.norm(points - pos, axis=-1), R_MIN_MM) / 10.0
        out += rate_gy_per_s_at_1cm * t / r_cm**2
    return out


def make_hdr(out: Path, seed: int = 192) -> dict[str, Any]:
    """Write the HDR study (see the module docstring); returns truth.json."""
    from workstation.radiotherapy.coverage import structure_metrics
    from workstation.samples import _imaging as im

    rng = np.random.default_rng(seed)
    hu, labels, ct_aff = rp.render_ct(rng)
    lesion = rp.RT_LESIONS[1]
    specs = rp.structures(labels, ct_aff, 2, rp.CTV_MARGIN_MM, "CTV", "CTV")
    study = dw.Study(dw.derived_uid("hdr", "study"), "20260309", "080000", "HDR brachytherapy liver", "HDR1",
                     "WSA0102")
    frame = dw.derived_uid("hdr", "frame-of-reference")
    ct_series = dw.Series(dw.derived_uid("hdr", "ct"), 2, "CT catheters in situ 5mm", frame, "20260309", "080000")
    rs_series = dw.Series(dw.derived_uid("hdr", "rtstruct"), 3, "Structures HDR", frame, "20260309", "090000",
                          station="SAMPLE-TPS", model="Sample TPS")
    rp_series = dw.Series(dw.derived_uid("hdr", "rtplan"), 4, "Plan HDR 20Gy/1", frame, "20260309", "093000",
                          station="SAMPLE-TPS", model="Sample TPS")
    rd_series = dw.Series(dw.derived_uid("hdr", "rtdose"), 5, "Dose HDR 20Gy/1", frame, "20260309", "093000",
                          station="SAMPLE-TPS", model="Sample TPS")
    dw.write_ct_series(hu, ct_aff, out / "ct", rp.PATIENT_RT, study, ct_series)
    uids = rw.structure_uids(ct_series, rp.CT_SHAPE[0])
    rs_uid = rw.write_rtstruct(out / "rt" / "RS.dcm", specs, ct_aff, uids, ct_series.uid, rp.PATIENT_RT, study,
                               rs_series, "HDR")
    catheters = dwell_positions()
    positions = np.concatenate(catheters)
    ct_points = im.grid_points(ct_aff, rp.CT_SHAPE)
    unit = point_source_dose_gy(ct_points, positions, np.ones(len(positions)))
    voxel_ml = float(np.prod(rp.CT_SPACING_MM)) / 1000.0
    ctv = specs[1].mask
    d95_unit = structure_metrics(unit, ctv.astype(np.float32), voxel_ml)["d95_gy"]
    dwell_s = PRESCRIPTION_GY / d95_unit
    times = np.full(len(positions), dwell_s)
    dose_ct = unit * dwell_s
    sk = source_strength_at_treatment_u()
    trak = sk * float(times.sum()) / 3600.0
    source = rw.Source("IR192", IR192_HALF_LIFE_DAYS, SOURCE_STRENGTH_U, CALIBRATION, "Sample HDR v2")
    channels = [(c, np.full(len(c), dwell_s)) for c in catheters]
    plan_series_date = dw.Series(rp_series.uid, rp_series.number, rp_series.description, frame,
                                 TREATMENT_DATE[0], TREATMENT_DATE[1], rp_series.station, rp_series.model)
    plan_uid = rw.write_brachy_plan(out / "rt" / "RP.dcm", rp.PATIENT_RT, study, plan_series_date, rs_uid, 2,
                                    PRESCRIPTION_GY, FRACTIONS, source, channels, trak, "HDR liver",
                                    DWELL_STEP_MM)
    dose_aff = dw_affine(DOSE_ORIGIN_LPS_MM, DOSE_SPACING_MM)
    dose_grid = point_source_dose_gy(im.grid_points(dose_aff, DOSE_SHAPE), positions, times)
    rw.write_rtdose(out / "rt" / "RD.dcm", dose_grid, dose_aff, rp.PATIENT_RT, study, rd_series, plan_uid,
                    "Point-source HDR dose (sample)")
    files = rp.write_ground_truth(out, specs, ct_aff)
    tfm = out / "ground_truth" / "to_sbrt.tfm"
    tfm.write_text("#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
                   "Parameters: 1 0 0 0 1 0 0 0 1 0 0 0\nFixedParameters: 0 0 0\n", encoding="utf-8")
    files["to_sbrt"] = tfm.name
    masks = {s.name: s.mask for s in specs if s.name != "Body"}
    masks["Liver - GTV"] = specs[2].mask & ~specs[0].mask
    truth = {
        "case": "hdr",
        "description": "Interstitial 192Ir HDR brachytherapy of an anterior right-lobe metastasis, 20 Gy in 1 fraction to the "
        "CTV (GTV + 3 mm), 3 catheters; point-source dose model.",
        "patient_id": rp.PATIENT_RT.patient_id,
        "frame_of_reference_uid": frame,
        "study_instance_uid": study.uid,
        "series": {"ct": ct_series.uid, "rtstruct": rs_series.uid, "rtplan": rp_series.uid, "rtdose": rd_series.uid},
        "sop_instance_uids": {"rtstruct": rs_uid, "rtplan": plan_uid},
        "prescription_gy": PRESCRIPTION_GY,
        "fractions": FRACTIONS,
        "lesion": {"centre_lps_mm": list(lesion.centre_lps_mm), "diameter_mm": lesion.diameter_mm},
        "brachy": {"channels": len(catheters), "dwell_positions": int(len(positions)),
                   "dwell_time_s": dwell_s, "total_dwell_time_s": float(times.sum()),
                   "source_strength_at_calibration_u": SOURCE_STRENGTH_U,
                   "source_strength_at_treatment_u": sk, "trak_ugy_at_1m": trak,
                   "dose_rate_constant_cgy_per_h_u": DOSE_RATE_CONSTANT_CGY_PER_H_U,
                   "half_life_days": IR192_HALF_LIFE_DAYS, "r_min_mm": R_MIN_MM,
                   "dwell_positions_lps_mm": [c.round(3).tolist() for c in catheters]},
        "known_dvh": rw.dvh_truth(dose_ct, masks, voxel_ml, PRESCRIPTION_GY, brachy=True),
        "known_dvh_definition": "structure metrics of the point-source dose at the CT voxel centres with the "
        "ground-truth masks (0/1 weights), as workstation.radiotherapy.structure_metrics computes them",
        "to_sbrt": "identity: both scanner frames equal the tissue frame of the digital patient",
        "ct": rp.grid_info(ct_aff, rp.CT_SHAPE),
        "rtdose": rp.grid_info(dose_aff, DOSE_SHAPE),
        "ground_truth_files": files,
        "ground_truth_grid": "the CT grid (same geometry as ct/)",
    }
    rp.save_truth(truth, out)
    return truth
