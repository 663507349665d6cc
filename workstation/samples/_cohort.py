"""A synthetic cohort with known outcome models: ``workstation sample-data --cohort N``.

Each patient of the cohort has two treatments, each a row of ``manifest.csv``:

``P01-sirt``
    Right-lobar 90Y radioembolisation: a CT and a 90Y PET (Bq/mL) series
    (DICOM) of the digital patient of :mod:`._anatomy`, scaled isotropically
    by a random factor (body habitus and liver size), with three spherical
    lesions at random places of the right lobe, random diameters and
    microsphere uptake ratios, a random administered activity and lung shunt.
    Each lesion's response (1/0) is drawn from :data:`DOSE_RESPONSE`, a
    logistic curve of its true mean absorbed dose (the LDM dose of the true
    activity, before any blur or noise).
``P01-margin``
    Microwave ablation of one liver tumour: tumour and ablation-zone masks
    (spheres; NIfTI on an anisotropic grid) whose true minimal margin is
    analytic (``R - r - offset``). The time to local progression is drawn
    from :data:`MARGIN_PROGRESSION`, an exponential model whose hazard falls
    by a fixed ratio per millimetre of minimal margin, with uniform
    administrative censoring.

The generator's parameters (and every patient's truth) are in ``truth.json``, so
that ``workstation cohort analyze`` can be checked against them. The outcome
models are illustrative: of the order of the published tumour-dose thresholds
of 90Y radioembolisation (e.g. a 50 % response probability near 100-200 Gy) and
of the local-progression benefit of wider ablation margins, not fits of
published data.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from workstation.core.progress import Progress
from workstation.core.volume import Unit
from workstation.dosimetry.nuclides import Y90
from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._common import write_nifti
from workstation.samples._patient import ldm_dose, microspheres, render_ct, right_lobe, tissue_masks

__all__ = [
    "COHORT_GENERATOR_VERSION",
    "DOSE_RESPONSE",
    "MARGIN_PROGRESSION",
    "DoseResponseModel",
    "MarginProgressionModel",
    "make_cohort",
]

#: Bumped whenever the cohort generator's output changes.
COHORT_GENERATOR_VERSION = 1


@dataclass(frozen=True)
class DoseResponseModel:
    """Logistic response of a lesion to its mean absorbed dose.

    ``P(response | D) = 1 / (1 + exp(-(intercept + slope_per_gy * D)))`` with
    ``D`` the lesion's true mean LDM dose (Gy).
    """

    intercept: float
    slope_per_gy: float
    dose_metric: str = "mean_gy"
    dose_method: str = "ldm"

    def probability(self, dose_gy: np.ndarray | float) -> np.ndarray:
        """Response probability at ``dose_gy`` (Gy)."""
        z = self.intercept + self.slope_per_gy * np.asarray(dose_gy, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def d50_gy(self) -> float:
        """The dose (Gy) of a 50 % response probability."""
        return -self.intercept / self.slope_per_gy

    def draw(self, dose_gy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Responses (0/1) drawn at ``dose_gy``."""
        return (rng.random(np.shape(dose_gy)) < self.probability(dose_gy)).astype(np.int64)

    def as_dict(self) -> dict[str, Any]:
        return {"model": "logistic: P = 1 / (1 + exp(-(intercept + slope_per_gy * D)))",
                "intercept": self.intercept, "slope_per_gy": self.slope_per_gy, "d50_gy": self.d50_gy,
                "dose": "true mean LDM absorbed dose of the lesion (complete decay), Gy",
                "dose_metric": self.dose_metric, "dose_method": self.dose_method}


@dataclass(frozen=True)
class MarginProgressionModel:
    """Exponential time to local progression after ablation, by minimal margin.

    Hazard ``h(m) = base_hazard_per_month * hazard_ratio_per_mm ** m`` (a Cox
    model with log hazard ratio ``log(hazard_ratio_per_mm)`` per mm of minimal
    margin ``m``), censored at a follow-up uniform in ``follow_up_months``.
    """

    base_hazard_per_month: float
    hazard_ratio_per_mm: float
    follow_up_months: tuple[float, float]

    @property
    def log_hazard_ratio_per_mm(self) -> float:
        return math.log(self.hazard_ratio_per_mm)

    def draw(self, margin_mm: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(months to progression or censoring, progressed 0/1) at minimal margins ``margin_mm``."""
        m = np.asarray(margin_mm, dtype=np.float64)
        rate = self.base_hazard_per_month * self.hazard_ratio_per_mm ** m
        t_event = rng.exponential(1.0 / rate)
        t_censor = rng.uniform(*self.follow_up_months, size=m.shape)
        progressed = (t_event <= t_censor).astype(np.int64)
        return np.minimum(t_event, t_censor), progressed

    def as_dict(self) -> dict[str, Any]:
        return {"model": "exponential time to local progression, hazard = base * HR_per_mm ** minimal_margin_mm; "
                "uniform administrative censoring",
                "base_hazard_per_month": self.base_hazard_per_month,
                "hazard_ratio_per_mm": self.hazard_ratio_per_mm,
                "log_hazard_ratio_per_mm": self.log_hazard_ratio_per_mm,
                "follow_up_months": list(self.follow_up_months),
                "margin": "true (analytic) minimal margin of the tumour sphere in the ablation sphere, mm"}


#: Illustrative lesion dose–response: D50 = 150 Gy, 10 % -> 90 % between about 77 and 223 Gy.
DOSE_RESPONSE = DoseResponseModel(intercept=-4.5, slope_per_gy=0.03)

#: Illustrative margin–progression model: 3 %/month at a 0 mm margin, hazard ratio 0.8 per mm.
MARGIN_PROGRESSION = MarginProgressionModel(base_hazard_per_month=0.03, hazard_ratio_per_mm=0.8,
                                            follow_up_months=(12.0, 36.0))

# ------------------------------------------------------------ SIRT patients
#: CT grid (z, y, x): 4 mm slices, 3.2 mm pixels; PET grid: 4.8 mm isotropic (coarse, for speed).
_CT_SHAPE = (40, 88, 120)
_CT_SPACING_MM = (4.0, 3.2, 3.2)
_PET_SHAPE = (34, 60, 80)
_PET_SPACING_MM = (4.8, 4.8, 4.8)
_GRID_CENTRE_LPS_MM = (0.0, 5.0, -20.0)
_PET_FWHM_MM = 6.5
#: PET noise: counts per (Bq/mL) per voxel (about 15 % in the liver at 2 GBq).
_PET_COUNTS_PER_BQML = 3e-5
_LESIONS_PER_PATIENT = 3
_LESION_DIAMETER_MM = (22.0, 40.0)
_UPTAKE_RATIO = (1.0, 5.5)
_ADMINISTERED_GBQ = (0.6, 1.6)
_LUNG_SHUNT = (0.03, 0.10)
_SCALE = (0.9, 1.08)

# ---------------------------------------------------------- margin patients
_TUMOUR_RADIUS_MM = (7.0, 14.0)
_MARGIN_MM = (-3.0, 10.0)
_OFFSET_MM = (0.0, 5.0)  # plus the negative part of the margin (the zone is never smaller than the tumour)
_MARGIN_SPACING_MM = (2.0, 1.0, 1.0)  # (z, y, x): 2 mm slices, 1 mm pixels


def _pick_lesions(labels: np.ndarray, affine: np.ndarray, scale: float, rng: np.random.Generator
                  ) -> tuple[an.Lesion, ...]:
    """Three non-overlapping lesions (tissue frame) inside the right lobe, clear of the capsule."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    liver = np.isin(labels, an.liver_labels())
    depth_mm = ndimage.distance_transform_edt(liver, sampling=spacing)
    x, y, z = im.grid_axes(affine, labels.shape)
    lobe = np.broadcast_to(right_lobe(x / scale, y / scale), labels.shape)
    # keep the lesions off the kidney/IVC side of the liver (the carved part)
    candidates = np.argwhere(lobe & (depth_mm > 0))
    lesions: list[an.Lesion] = []
    placed: list[tuple[np.ndarray, float]] = []  # (centre LPS mm, radius mm), scanner frame
    for _ in range(_LESIONS_PER_PATIENT):
        for _attempt in range(500):
            d_mm = float(rng.uniform(*_LESION_DIAMETER_MM))
            idx = candidates[rng.integers(len(candidates))]
            r_scanner = d_mm / 2 * scale
            if depth_mm[tuple(idx)] < r_scanner + 6.0:
                continue
            c = affine[:3, :3] @ idx.astype(float) + affine[:3, 3]
            if any(np.linalg.norm(c - o) < r_scanner + rr + 6.0 for o, rr in placed):
                continue
            placed.append((c, r_scanner))
            ratio = float(math.exp(rng.uniform(math.log(_UPTAKE_RATIO[0]), math.log(_UPTAKE_RATIO[1]))))
            cx, cy, cz = (float(v) / scale for v in c)
            lesions.append(an.Lesion((cx, cy, cz), d_mm, float(rng.uniform(45.0, 70.0)), ratio,
                                     description="hypodense metastasis, right lobe"))
            break
        else:  # pragma: no cover - the right lobe always has room for three lesions
            raise RuntimeError("cohort generator: no room for another lesion in the right lobe")
    return tuple(lesions)


def _sirt_patient(out: Path, number: int, seed: int, rng: np.random.Generator) -> dict[str, Any]:
    """CT + 90Y PET (DICOM), masks (NIfTI) and lesion truth of one SIRT patient."""
    pid = f"P{number:02d}"
    scale = float(rng.uniform(*_SCALE))
    administered_bq = float(rng.uniform(*_ADMINISTERED_GBQ)) * 1e9
    lung_shunt = float(rng.uniform(*_LUNG_SHUNT))
    ct_aff = im.axial_grid(_CT_SHAPE, _CT_SPACING_MM, _GRID_CENTRE_LPS_MM)
    x, y, z = im.grid_axes(ct_aff, _CT_SHAPE)
    tissue_points = (x / scale, y / scale, z / scale)
    voxel_mm = float(np.prod(_CT_SPACING_MM) ** (1 / 3)) / scale
    _, labels0 = an.paint_patient(*tissue_points, (), voxel_mm)
    lesions = _pick_lesions(labels0, ct_aff, scale, rng)
    hu, labels = render_ct(ct_aff, _CT_SHAPE, lesions, rng, points=tissue_points)
    masks = tissue_masks(labels)
    index = masks["lesions"]
    for k in range(1, len(lesions) + 1):
        if not (index == k).any():  # pragma: no cover - guarded by _pick_lesions
            raise RuntimeError(f"cohort generator: lesion {k} of {pid} has no voxel")
    territory = masks["liver"] & np.broadcast_to(right_lobe(x / scale, y / scale), _CT_SHAPE)
    # the microsphere model works in scanner coordinates: lesions scaled with the patient
    scanner_lesions = tuple(replace(les, centre_lps_mm=tuple(scale * v for v in les.centre_lps_mm),  # type: ignore[arg-type]
                                    diameter_mm=scale * les.diameter_mm) for les in lesions)
    conc = microspheres(labels, ct_aff, scanner_lesions, territory, administered_bq, lung_shunt, rng)
    dose = ldm_dose(conc, masks["lungs"])

    injection = _dt.datetime(2026, 2, 2, 10, 0, 0) + _dt.timedelta(days=7 * number)
    pet_scan = injection + _dt.timedelta(hours=4)
    patient = dw.Patient(f"COHORT^{pid}", f"WS-COH-{seed}-{pid}", "19600101", "F" if number % 2 else "M",
                         round(70.0 * scale**3, 1), round(1.70 * scale, 2))
    tag = f"cohort-{seed}-{pid}"
    study = dw.Study(dw.derived_uid(tag, "study"), injection.strftime("%Y%m%d"), "150000",
                     "PET/CT Y-90 post SIRT", f"C{number:03d}", f"WSC{number:04d}")
    frame = dw.derived_uid(tag, "frame")
    ct_series = dw.Series(dw.derived_uid(tag, "ct"), 2, "CT Abdomen 4mm (PET/CT)", frame,
                          injection.strftime("%Y%m%d"), "140500")
    pet_series = dw.Series(dw.derived_uid(tag, "pet"), 4, "PET Y-90 OSEM TOF (Bq/mL)", frame,
                           injection.strftime("%Y%m%d"), "140000", station="SAMPLE-PETCT", model="Digital PET")
    rp = dw.Radiopharmaceutical(("14691008", "SCT", "^90^Yttrium"), ("764678003", "SCT", "Yttrium^90^ microspheres"),
                                "Y-90 microspheres", administered_bq, Y90.half_life_s, injection,
                                positron_fraction=3.186e-5)
    dw.write_ct_series(hu, ct_aff, out / "ct", patient, study, ct_series)
    from workstation.core.volume import Volume

    pet_aff = im.axial_grid(_PET_SHAPE, _PET_SPACING_MM, _GRID_CENTRE_LPS_MM)
    pet = im.pet_bqml(Volume(conc, ct_aff), pet_aff, _PET_SHAPE, _PET_FWHM_MM, _PET_COUNTS_PER_BQML, rng)
    dw.write_pet_series(pet, pet_aff, out / "pet", patient, study, pet_series, rp, pet_scan, 1_800_000)
    write_nifti(masks["liver"], ct_aff, out / "masks" / "liver.nii.gz")
    write_nifti(masks["lungs"], ct_aff, out / "masks" / "lungs.nii.gz")
    write_nifti(index, ct_aff, out / "masks" / "lesions.nii.gz")

    voxel_ml = float(np.prod(_CT_SPACING_MM)) / 1000.0
    true_doses = np.array([float(dose[index == k].mean()) for k in range(1, len(lesions) + 1)])
    responses = DOSE_RESPONSE.draw(true_doses, rng)
    lesion_truth = [
        {"roi": f"lesions_{k}", "label": k, "diameter_mm": les.diameter_mm * scale,
         "centre_lps_mm": [scale * v for v in les.centre_lps_mm], "uptake_ratio": les.uptake_ratio,
         "volume_ml_mask": int((index == k).sum()) * voxel_ml,
         "activity_gbq": float(conc[index == k].sum() * voxel_ml * 1e-9),
         "true_mean_gy": float(true_doses[k - 1]),
         "response_probability": float(DOSE_RESPONSE.probability(true_doses[k - 1])),
         "response": int(responses[k - 1])}
        for k, les in enumerate(lesions, start=1)
    ]
    return {
        "id": f"{pid}-sirt", "patient": pid, "scale": scale, "administered_gbq": administered_bq * 1e-9,
        "lung_shunt_fraction": lung_shunt,
        "liver_volume_ml": int(masks["liver"].sum()) * voxel_ml,
        "series": {"ct": ct_series.uid, "pet": pet_series.uid}, "study_instance_uid": study.uid,
        "lesions": lesion_truth,
    }


def _margin_patient(out: Path, number: int, rng: np.random.Generator) -> dict[str, Any]:
    """Tumour and ablation-zone masks (spheres, analytic minimal margin) of one ablation patient."""
    from workstation.core.volume import Volume
    from workstation.io.formats import write_image
    from workstation.samples import _shapes as sh

    pid = f"P{number:02d}"
    r = float(rng.uniform(*_TUMOUR_RADIUS_MM))
    margin = float(rng.uniform(*_MARGIN_MM))
    # an uncovered tumour edge comes from an off-centre zone, never from a zone smaller than the tumour
    offset = float(rng.uniform(*_OFFSET_MM)) + max(0.0, -margin)
    direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    radius = r + margin + offset
    tumour_centre = np.array([-80.0, 10.0, -20.0]) + rng.uniform(-20.0, 20.0, 3)
    zone_centre = tumour_centre + offset * direction
    half = radius + offset + 8.0
    shape = tuple(int(math.ceil(2 * half / s)) + 1 for s in _MARGIN_SPACING_MM)
    aff = im.axial_grid(shape, _MARGIN_SPACING_MM, tuple(zone_centre))  # type: ignore[arg-type]
    x, y, z = im.grid_axes(aff, shape)  # type: ignore[arg-type]
    tumour = sh.sphere(x, y, z, tuple(tumour_centre), r) < 0  # type: ignore[arg-type]
    zone = sh.sphere(x, y, z, tuple(zone_centre), radius) < 0  # type: ignore[arg-type]
    for name, arr in (("tumor", tumour), ("ablation_zone", zone)):
        write_image(Volume(arr.astype(np.uint8), aff, units=Unit.LABEL), out / f"{name}.nii.gz")
    return {"id": f"{pid}-margin", "patient": pid, "tumour_radius_mm": r, "ablation_radius_mm": radius,
            "centre_offset_mm": offset, "tumour_centre_lps_mm": tumour_centre.tolist(),
            "true_minimal_margin_mm": margin,
            "minimal_margin_formula": "ablation radius - tumour radius - centre offset (spheres)"}


#: The manifest's columns, in order.
_COLUMNS = ("id", "command", "activity", "ct", "roi.liver", "roi.lesions", "roi.lungs", "method",
            "pvc", "psf-fwhm-mm", "administered-gbq", "lung-shunt", "outcome.lesions_1", "outcome.lesions_2", "outcome.lesions_3",
            "tumor", "ablation", "progression_months", "progressed")


def make_cohort(out: Path, n_patients: int, seed: int = 2026,
                progress: Progress | None = None) -> dict[str, Any]:
    """Write a cohort of ``n_patients`` (SIRT + ablation each), its manifest and its truth.

    Parameters
    ----------
    out:
        Output folder: ``manifest.csv``, ``truth.json`` and ``P01/``, ``P02/``, …
        (``sirt/{ct,pet,masks}``, ``ablation/``).
    n_patients:
        Number of patients (1-99).
    seed:
        Seed of every random draw (anatomy, activity, noise, outcomes).
    progress:
        Optional ``progress(fraction, text)``.

    Returns
    -------
    dict
        The content of ``truth.json``.
    """
    from workstation.core.errors import InvalidInputError

    if not 1 <= int(n_patients) <= 99:
        raise InvalidInputError(f"--cohort must be between 1 and 99 patients, got {n_patients}.")
    rng = np.random.default_rng(seed)
    sirt, margins = [], []
    for number in range(1, int(n_patients) + 1):
        if progress is not None:
            progress((number - 1) / n_patients, f"generating patient {number} of {n_patients}")
        folder = out / f"P{number:02d}"
        sirt.append(_sirt_patient(folder / "sirt", number, seed, rng))
        margins.append(_margin_patient(folder / "ablation", number, rng))
    months, progressed = MARGIN_PROGRESSION.draw(np.array([m["true_minimal_margin_mm"] for m in margins]), rng)
    for m, t, e in zip(margins, months, progressed, strict=True):
        m["progression_months"] = round(float(t), 2)
        m["progressed"] = int(e)
    rows = []
    for s, m in zip(sirt, margins, strict=True):
        pid = s["patient"]
        rows.append({
            "id": s["id"], "command": "sirt", "activity": f"{pid}/sirt/pet", "ct": f"{pid}/sirt/ct",
            "roi.liver": f"{pid}/sirt/masks/liver.nii.gz", "roi.lesions": f"{pid}/sirt/masks/lesions.nii.gz",
            "roi.lungs": f"{pid}/sirt/masks/lungs.nii.gz", "method": "ldm,vsv",
            "pvc": "rbv", "psf-fwhm-mm": f"{_PET_FWHM_MM:g}",
            "administered-gbq": f"{s['administered_gbq']:.4f}", "lung-shunt": f"{s['lung_shunt_fraction']:.4f}",
            **{f"outcome.{les['roi']}": les["response"] for les in s["lesions"]},
        })
        rows.append({
            "id": m["id"], "command": "margin", "tumor": f"{pid}/ablation/tumor.nii.gz",
            "ablation": f"{pid}/ablation/ablation_zone.nii.gz",
            "progression_months": f"{m['progression_months']:.2f}", "progressed": m["progressed"],
        })
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in _COLUMNS})
    truth = {
        "case": "cohort",
        "cohort_generator_version": COHORT_GENERATOR_VERSION,
        "seed": seed,
        "patients": int(n_patients),
        "description": "Synthetic cohort: per patient one right-lobar 90Y SIRT (PET/CT, three lesions with "
        "responses from a known dose-response curve) and one ablation (tumour and zone masks with a known "
        "minimal margin, local progression from a known hazard model).",
        "dose_response": DOSE_RESPONSE.as_dict(),
        "margin_progression": MARGIN_PROGRESSION.as_dict(),
        "sirt": {"ct_grid": {"shape_zyx": list(_CT_SHAPE), "spacing_mm_zyx": list(_CT_SPACING_MM)},
                 "pet_grid": {"shape_zyx": list(_PET_SHAPE), "spacing_mm_zyx": list(_PET_SPACING_MM),
                              "fwhm_mm": _PET_FWHM_MM, "noise_counts_per_bq_per_ml": _PET_COUNTS_PER_BQML},
                 "ranges": {"scale": list(_SCALE), "lesion_diameter_mm": list(_LESION_DIAMETER_MM),
                            "uptake_ratio_log_uniform": list(_UPTAKE_RATIO),
                            "administered_gbq": list(_ADMINISTERED_GBQ), "lung_shunt": list(_LUNG_SHUNT)},
                 "ldm_gy_kg_per_gbq": Y90.ldm_gy_kg_per_gbq, "ldm_sources": list(Y90.sources)},
        "margin": {"spacing_mm_zyx": list(_MARGIN_SPACING_MM),
                   "ranges": {"tumour_radius_mm": list(_TUMOUR_RADIUS_MM), "minimal_margin_mm": list(_MARGIN_MM),
                              "centre_offset_mm": list(_OFFSET_MM)}},
        "treatments": {"sirt": sirt, "margin": margins},
        "manifest": "manifest.csv (paths relative to this folder)",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth
