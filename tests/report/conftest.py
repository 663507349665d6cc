"""Report fixtures: SIRT, margin, registration and QA documents built from synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

#: A real-looking DICOM UID (long enough to be shortened in the reports).
SERIES_UID = "1.2.826.0.1.3680043.8.498.59023094765360179337137280881626607060"


def roi_entry(mean: float, volume_ml: float = 1234.5) -> dict:
    return {"volume_ml": volume_ml, "mass_g": 1.03 * volume_ml, "mean_gy": mean, "min_gy": 0.0312,
            "max_gy": 3 * mean, "d2_gy": 2.5 * mean, "d50_gy": mean, "d70_gy": 0.8 * mean,
            "d90_gy": 0.5 * mean, "d95_gy": 0.4 * mean, "d98_gy": 0.3 * mean,
            "v_gy_percent": {"20": 99.0, "40": 80.123, "70": 50.0, "100": 30.0, "120": 20.0, "205": 0.03}}


def _ct(shape: tuple[int, int, int], spacing: list[float], seed: int) -> Volume:
    """Abdomen-like CT: a soft-tissue ellipse in air with Gaussian noise (HU)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    cy, cx = shape[1] / 2, shape[2] / 2
    body = ((y - cy) / (0.42 * shape[1])) ** 2 + ((x - cx) / (0.46 * shape[2])) ** 2 < 1
    hu = np.where(body, 55.0, -1000.0) + rng.normal(0, 12, shape)
    aff = affine_from_geometry([-shape[2] * spacing[2] / 2, -shape[1] * spacing[1] / 2, -40], spacing)
    return Volume(hu.astype(np.float32), aff, units=Unit.HU, modality="CT")


@pytest.fixture(scope="session")
def sirt_case():
    """(results, doses, ct, rois, dvh curves, inputs) of a liver with one hot lesion."""
    ct = _ct((12, 48, 48), [4.0, 2.0, 2.0], seed=5)
    z, y, x = np.meshgrid(np.arange(12), np.arange(48), np.arange(48), indexing="ij")
    r_lesion = np.sqrt(((z - 6) * 2.0) ** 2 + (y - 20) ** 2 + (x - 26) ** 2)
    lesion = (r_lesion < 6).astype(np.uint8)
    liver = (((y - 24) / 16.0) ** 2 + ((x - 22) / 18.0) ** 2 < 1).astype(np.uint8)
    lungs = (((y - 10) / 6.0) ** 2 + ((x - 38) / 6.0) ** 2 < 1).astype(np.uint8)
    # soft-edged dose: 50 Gy liver, 250 Gy lesion peak falling off over ~2 voxels
    dose = 50.0 * liver + 200.0 / (1 + np.exp((r_lesion - 6) / 1.2)) + 2.0 * lungs
    ct.metadata.patient_name = "DOE^JANE"
    ct.metadata.patient_id = "P-0042"
    ct.metadata.study_instance_uid = "1.2.826.0.1.3680043.8.498.10459626568486751327378003422754612263"
    results = {
        "workstation_version": "0.1.0", "nuclide": "Y-90",
        "constants": {"half_life_h": 64.053, "mean_energy_mev": 0.9336, "ldm_gy_kg_per_gbq": 49.67,
                      "mev_to_j": 1.602176634e-13,
                      "sources": ["Graves et al. 2019 Med Phys 46:5284"]},
        "activity": {"calibration": "administered", "total_in_image_gbq": 1.8765, "administered_gbq": 2.0,
                     "lung_shunt_fraction": 0.05, "negative_activity_fraction": 3.425e-5},
        "methods": {"ldm": {"rois": {"liver": roi_entry(45.678), "lesion": roi_entry(212.34, 3.9),
                                     "lungs": roi_entry(0.0312, 2500.0)},
                            "energy_outside_rois_fraction": 1.113e-6},
                    "vsv": {"rois": {"liver": roi_entry(44.4), "lesion": roi_entry(198.7, 3.9),
                                     "lungs": roi_entry(0.0401, 2500.0)}}},
        "tumor_to_normal_ratio": 4.6489,
        "lung_mean_dose_gy": 9.87,
        "roi_roles": {"liver": "liver", "lesion": "lesion", "lungs": "lung"},
        "safety_thresholds": {"lung_single_gy": {"value": 30.0, "unit": "Gy", "source": "Ho S et al. 1997"},
                              "lsf_resin_max": {"value": 0.2, "unit": "fraction", "source": "IFU"}},
        "warnings": ["Lung dose 31.2 Gy exceeds 30 Gy per treatment (Ho et al. 1997)."],
    }
    dose_vol = ct.copy_with(array=dose.astype(np.float32), units=Unit.GY)
    rois = {"liver": ct.copy_with(array=liver, units=Unit.LABEL),
            "lesion": ct.copy_with(array=lesion, units=Unit.LABEL),
            "lungs": ct.copy_with(array=lungs, units=Unit.LABEL)}
    d = np.linspace(0, 300, 61)
    curves = {m: {"liver": (d, 100 / (1 + np.exp((d - 48) / 6))), "lesion": (d, 100 / (1 + np.exp((d - 200) / 25)))}
              for m in ("ldm", "vsv")}
    inputs = [{"role": "activity", "path": "spect/NM1.dcm", "modality": "NM", "series_uid": SERIES_UID,
               "description": "Y-90 bremsstrahlung SPECT"}]
    return results, {"ldm": dose_vol, "vsv": dose_vol}, ct, rois, curves, inputs


@pytest.fixture(scope="session")
def margin_case():
    """(results, ct, tumour, zone, margin map) of one tumour with a 3.25 mm thinnest margin."""
    ct = _ct((20, 40, 40), [2.0, 1.0, 1.0], seed=6)
    z, y, x = np.meshgrid(np.arange(20), np.arange(40), np.arange(40), indexing="ij")
    tumor = ct.copy_with(array=(((z - 10) * 2) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 64).astype(np.uint8),
                         units=Unit.LABEL)
    zone = ct.copy_with(array=(((z - 10) * 2) ** 2 + (y - 20) ** 2 + (x - 22) ** 2 < 196).astype(np.uint8),
                        units=Unit.LABEL)
    mm = np.full(ct.shape, np.nan, np.float32)
    mm[10, 12, 20] = 6.0
    mm[10, 20, 28] = 3.25
    loc = ct.index_to_world([10, 20, 28]).tolist()
    results = {"workstation_version": "0.1.0", "minimal_margin_mm": 3.25,
               "tumors": [{"label": 1, "volume_ml": 2.1, "minimal_margin_mm": 3.25,
                           "minimal_margin_location_lps_mm": loc,
                           "margin_percentiles_mm": {"5": 3.5, "25": 4.0, "50": 6.0, "75": 8.0, "95": 9.5},
                           "surface_fraction": {"below_0mm": 0.0, "0_to_5mm": 0.3, "5_to_10mm": 0.7,
                                                "at_least_10mm": 0.0},
                           "insufficient_coverage_ml": {"0": 0.0, "5": 0.8, "10": 3.9},
                           "subcapsular_excluded_fraction": 0.0}],
               "method": {"surface": "marching cubes", "margin_limit_mm": 30.0},
               "warnings": [], "registration": None}
    return results, ct, tumor, zone, ct.copy_with(array=mm)


def registration_report(mode: str = "deformable", inverse: bool = True) -> dict:
    """A registration.json dictionary shaped like ``workstation.registration.register``'s."""
    reg = {
        "mode": mode,
        "fixed": {"source": "post_ct", "modality": "CT", "series_instance_uid": SERIES_UID},
        "moving": {"source": "pre_ct", "modality": "CT"},
        "metric": {"name": "normalized correlation", "note": "lower is better; evaluated at the working "
                   "resolution on the metric region", "before": -0.703807, "after": None},
        "parameters": {"working_spacing_mm": 2.0, "shrink_factors": [4, 2, 1], "seed": 20261127},
        "initialisation": "image centres aligned",
        "same_frame_of_reference": False,
        "stages": [{"stage": "rigid", "final_metric_value_last_level": -0.987224,
                    "stop_condition": "RegularStepGradientDescentOptimizerv4: Step too small"},
                   {"stage": "bspline", "final_metric_value_last_level": -0.995433,
                    "control_point_spacing_mm": [60.0, 60.0, 53.33]}],
        "estimated_error": {},
        "jacobian_determinant": {"min": 0.9584, "max": 1.1466, "folding_fraction": 0.0},
        "rigid_regions": [{"name": "tumor_pre.nii.gz", "volume_change_percent": -0.001}],
        "warnings": [],
    }
    if inverse:
        reg["estimated_error"]["inverse_consistency_mm"] = {
            "mean": 0.412, "median": 0.38, "p95": 0.951, "max": 1.73, "n_points": 5000,
            "note": "|T_reverse(T_forward(x)) - x| over points of the fixed metric region"}
    return reg


# ------------------------------------------------------------------ therapy reports
def _soft_ball(r_mm: np.ndarray, radius_mm: float, edge_mm: float = 1.5) -> np.ndarray:
    """1 inside a ball, 0 outside, a logistic edge ``edge_mm`` wide (partial volume, blur)."""
    return 1.0 / (1.0 + np.exp((r_mm - radius_mm) / edge_mm))


def _distance_mm(volume: Volume, centre_lps_mm: np.ndarray) -> np.ndarray:
    pts = volume.index_to_world(np.argwhere(np.ones(volume.shape, bool))).reshape(*volume.shape, 3)
    return np.linalg.norm(pts - centre_lps_mm, axis=-1)


@pytest.fixture(scope="session")
def rt_run(tmp_path_factory):
    """The real ``rt-dose`` evaluation of a synthetic SBRT plan: 45 Gy in 3 fractions to a PTV
    (r 15 mm) around a GTV (r 8 mm) in a small liver (r 35 mm), whose constraints fail."""
    from tests.radiotherapy.rt_factory import write_external_plan, write_rtdose
    from workstation.io import write_image
    from workstation.radiotherapy import run_rt_dose

    tmp = tmp_path_factory.mktemp("rt")
    centre = np.array([0.0, 0.0, 0.0])

    def dose_fn(p: np.ndarray) -> np.ndarray:
        r = np.linalg.norm(p - centre, axis=-1)
        return 60.0 * _soft_ball(r, 16.0, 2.0) + 8.0 * np.exp(-r / 25.0)

    dose_path = write_rtdose(tmp / "RD.dcm", dose_fn, ipp=(-45.0, -45.0, -45.0), spacing_frc=(3.0, 3.0, 3.0),
                             shape=(31, 31, 31))
    write_external_plan(tmp / "RP.dcm", fractions=3, prescription_gy=45.0, beams=2)
    ct = _ct((24, 40, 40), [4.0, 2.5, 2.5], seed=11)
    ct.affine[:3, 3] = [-48.75, -48.75, -46.0]  # the grid centred on the target
    ct.metadata.patient_name, ct.metadata.patient_id = "DOE^JOHN", "P-0043"
    r = _distance_mm(ct, centre)
    specs = {}
    for name, mask in (("GTV", r <= 8.0), ("PTV", r <= 15.0), ("Liver", r <= 35.0)):
        specs[name] = str(tmp / f"{name}.nii.gz")
        write_image(ct.copy_with(array=mask.astype(np.uint8), units=Unit.LABEL), specs[name])
    return run_rt_dose(dose_path, plan=tmp / "RP.dcm", rois=specs, ct=ct), ct


@pytest.fixture(scope="session")
def combine_run(tmp_path_factory):
    """The real ``combine`` sum of an SBRT (3 fractions) and an HDR (1 fraction) dose on one CT."""
    from workstation.io import write_image
    from workstation.radiotherapy import run_combine

    tmp = tmp_path_factory.mktemp("combine")
    ct = _ct((16, 40, 40), [4.0, 2.5, 2.5], seed=12)
    ct.affine[:3, 3] = [-48.75, -48.75, -30.0]
    a, b = np.array([-10.0, 0.0, 0.0]), np.array([15.0, 5.0, 0.0])
    ra, rb = _distance_mm(ct, a), _distance_mm(ct, b)
    doses = {"sbrt": 50.0 * _soft_ball(ra, 14.0, 2.0), "hdr": 20.0 * np.clip(6.0 / np.maximum(rb, 1.0), 0, 8)}
    specs = []
    for name, scheme in (("sbrt", "ebrt:3"), ("hdr", "hdr:1")):
        path = tmp / f"{name}.nii.gz"
        write_image(ct.copy_with(array=doses[name].astype(np.float32), units=Unit.GY, modality=None), path)
        specs.append(f"{name}={path}:{scheme}")
    rois = {}
    for name, mask in (("GTV", ra <= 8.0), ("Liver", _distance_mm(ct, np.zeros(3)) <= 40.0)):
        rois[name] = str(tmp / f"{name}.nii.gz")
        write_image(ct.copy_with(array=mask.astype(np.uint8), units=Unit.LABEL), rois[name])
    return run_combine(specs, ct, rois=rois)


@pytest.fixture(scope="session")
def tace_analysis():
    """The real TACE analysis of a synthetic post-TACE CT: tumour 1 filled with lipiodol, tumour 2
    half filled, one non-target deposit; soft edges, texture and noise."""
    from scipy import ndimage

    from workstation.tace import analyse_tace

    rng = np.random.default_rng(21)
    shape, spacing = (28, 72, 72), [2.5, 1.5, 1.5]
    ct0 = _ct(shape, spacing, seed=21)
    centres = {1: np.array([-20.0, -10.0, -5.0]), 2: np.array([22.0, 8.0, -5.0])}
    r = {k: _distance_mm(ct0, c) for k, c in centres.items()}
    liver = np.zeros(shape, bool)
    liver[2:-2, 6:-6, 6:-6] = True
    hu = np.where(liver, 58.0, -100.0) + 4.0 * ndimage.gaussian_filter(rng.standard_normal(shape), 2.0) / 0.1
    pts_x = ct0.index_to_world(np.argwhere(np.ones(shape, bool))).reshape(*shape, 3)[..., 0]
    hu += 380.0 * _soft_ball(r[1], 9.0, 0.8)
    hu += 330.0 * _soft_ball(r[2], 10.0, 0.8) * (pts_x > centres[2][0])  # the half towards the patient's left
    hu += 300.0 * _soft_ball(_distance_mm(ct0, np.array([0.0, 30.0, -5.0])), 4.0, 0.8)  # non-target
    hu += rng.normal(0.0, 12.0, shape)
    ct = ct0.copy_with(array=hu.astype(np.float32))
    ct.metadata.patient_name = "DOE^JANE"
    tumours = np.zeros(shape, np.uint8)
    tumours[r[1] <= 9.0] = 1
    tumours[r[2] <= 10.0] = 2
    tumor = ct.copy_with(array=tumours, units=Unit.LABEL, modality=None, label_names={1: "t1", 2: "t2"})
    liver_vol = ct.copy_with(array=liver.astype(np.uint8), units=Unit.LABEL, modality=None)
    return analyse_tace(ct, tumor, liver_vol)


@pytest.fixture(scope="session")
def lesion_overview_case():
    """(overview, CT) of the real lesion overview on a synthetic contrast CT: a liver with a
    portal vein and two lesions (one 22 mm near the capsule, one 12 mm deep), landmarks given."""
    from workstation.lesions import HepaticLandmarks, lesion_overview

    shape, spacing = (30, 80, 80), [3.0, 2.0, 2.0]
    ct0 = _ct(shape, spacing, seed=31)
    liver_r = _distance_mm(ct0, np.array([0.0, 0.0, 0.0]))
    liver = liver_r <= 55.0
    pts = ct0.index_to_world(np.argwhere(np.ones(shape, bool))).reshape(*shape, 3)
    vessel = (np.hypot(pts[..., 0] - 5.0, pts[..., 1] + 5.0) <= 4.0) & liver  # a vertical vein, 8 mm wide
    l1 = _distance_mm(ct0, np.array([-35.0, 0.0, 0.0])) <= 11.0
    l2 = _distance_mm(ct0, np.array([20.0, 15.0, 10.0])) <= 6.0
    hu = np.asarray(ct0.array, dtype=np.float64)
    hu = np.where(liver, hu + 55.0, hu)  # 110 HU liver on the 55 HU body
    hu = np.where(vessel, hu + 80.0, hu)  # enhancing vessel
    hu = np.where(l1 | l2, hu - 60.0, hu)  # hypodense lesions
    ct = ct0.copy_with(array=hu.astype(np.float32))
    labels = np.zeros(shape, np.uint8)
    labels[l1], labels[l2] = 1, 2
    landmarks = HepaticLandmarks(ivc=(5.0, 30.0, 40.0), portal_bifurcation=(5.0, -5.0, -10.0),
                                 right_hepatic_vein=(-50.0, -10.0, 30.0), middle_hepatic_vein=(0.0, -50.0, 30.0),
                                 left_hepatic_vein=(45.0, -20.0, 30.0))
    overview = lesion_overview(ct, ct.copy_with(array=(liver | l1 | l2).astype(np.uint8), units=Unit.LABEL),
                               ct.copy_with(array=labels, units=Unit.LABEL), landmarks=landmarks)
    return overview, ct
