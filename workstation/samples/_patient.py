"""The SIRT patient (also the MAA and cohort patients): lesions, CT rendering, tissue masks, particle uptake.

Shared by :mod:`._sirt`, :mod:`._maa`, :mod:`._cohort` and :mod:`._tace` (the CT texture).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.dosimetry.nuclides import Y90
from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._physics import (
    DENSITY_SOURCES,
    LUNG_DENSITY_G_PER_ML,
    SOFT_TISSUE_DENSITY_G_PER_ML,
)

# ---------------------------------------------------------------- shared patient
PATIENT_SIRT = dw.Patient("SAMPLE^SIRT", "WS-SIRT-001", "19580312", "M", 78.0, 1.76)

#: The lesions of the SIRT patient (tissue frame). Diameters 14–52 mm.
SIRT_LESIONS: tuple[an.Lesion, ...] = (
    an.Lesion((-65.0, 25.0, -20.0), 52.0, 55.0, 4.0, necrotic_core_diameter_mm=22.0,
              description="large hypodense lesion, right lobe, necrotic core"),
    an.Lesion((-70.0, 0.0, 15.0), 32.0, 165.0, 6.0,
              description="hyperdense lesion at the dome, under the right lung base"),
    an.Lesion((-118.0, 5.0, -20.0), 22.0, 60.0, 3.0,
              description="hypodense subcapsular lesion, lateral right lobe"),
    an.Lesion((40.0, -35.0, 12.0), 14.0, 160.0, 5.0,
              description="small hyperdense lesion, left lobe (outside the treated territory)"),
)

CT_NOISE_HU = 12.0  # SD of CT noise (HU), slightly correlated (sigma 0.6 voxel)

TEXTURE_HU = {an.VISCERA: 40.0, an.LUNG: 25.0, an.LIVER: 4.0, an.FAT: 8.0, an.MUSCLE: 6.0,
               an.SPLEEN: 5.0, an.KIDNEY_L: 6.0, an.KIDNEY_R: 6.0, an.MARROW: 40.0}


def right_lobe(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True right of the Cantlie line (a vertical plane through the IVC and the gallbladder fossa)."""
    return x < -24.0 - 0.176 * (y - 38.0)


def render_ct(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    lesions: tuple[an.Lesion, ...],
    rng: np.random.Generator,
    points: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HU (with texture, partial volume and noise) and tissue labels on a grid.

    ``points`` are the tissue-frame coordinates of the voxel centres; by default
    the grid's own coordinates (scanner frame = tissue frame).
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    voxel_mm = float(np.prod(spacing) ** (1 / 3))
    x, y, z = points if points is not None else im.grid_axes(affine, shape)
    hu, labels = an.paint_patient(x, y, z, lesions, voxel_mm)
    add_texture(hu, labels, affine, rng)
    hu += im.correlated_noise(shape, CT_NOISE_HU, 0.6, rng)
    return hu, labels


def add_texture(hu: np.ndarray, labels: np.ndarray, affine: np.ndarray, rng: np.random.Generator) -> None:
    """Add the smooth tissue texture (:data:`TEXTURE_HU` amplitudes, 4 mm correlation) to ``hu`` in place."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    amp = np.zeros(256, dtype=np.float32)
    for label, value in TEXTURE_HU.items():
        amp[label] = value
    hu += amp[labels] * im.smooth_field(hu.shape, tuple(4.0 / spacing), rng).astype(np.float32)


def tissue_masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    liver = np.isin(labels, an.liver_labels())
    kidneys = np.zeros(labels.shape, np.uint8)
    kidneys[labels == an.KIDNEY_R] = 1
    kidneys[labels == an.KIDNEY_L] = 2
    return {
        "body": labels != an.AIR,
        "lungs": labels == an.LUNG,
        "liver": liver,
        "lesions": an.lesion_index(labels),
        "liver_vessels": np.isin(labels, (an.PORTAL, an.HEPATIC_VEIN)),
        "spleen": labels == an.SPLEEN,
        "kidneys": kidneys,
    }


def microspheres(
    labels: np.ndarray,
    affine: np.ndarray,
    lesions: tuple[an.Lesion, ...],
    territory: np.ndarray,
    administered_bq: float,
    lung_shunt: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Particle (microsphere or MAA) concentration (Bq/mL) at administration.

    Normal perfused liver: 1 ± 15 % smooth heterogeneity (10 mm correlation);
    lesion k: ``uptake_ratio`` × that mean, rim-weighted (0.7 + 0.6 (r/R)²) and
    ± 20 % heterogeneous, zero in a necrotic core; large vessels and unperfused
    liver: zero; lungs: uniform. Scaled so that the liver holds exactly
    ``(1 - lung_shunt)`` and the lungs ``lung_shunt`` of ``administered_bq``.
    """
    shape = labels.shape
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    conc = np.zeros(shape, dtype=np.float64)
    normal = territory & (labels == an.LIVER)
    het = np.clip(1.0 + 0.15 * im.smooth_field(shape, tuple(10.0 / spacing), rng), 0.4, None)
    conc[normal] = het[normal]
    normal_mean = float(conc[normal].mean())
    het2 = im.smooth_field(shape, tuple(6.0 / spacing), rng)
    x, y, z = im.grid_axes(affine, shape)
    index = an.lesion_index(labels)
    for k, lesion in enumerate(lesions, start=1):
        viable = (labels == an.LESION_BASE + k) & territory
        if not viable.any():
            continue
        cx, cy, cz = lesion.centre_lps_mm
        r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (lesion.diameter_mm / 2)
        f = (0.7 + 0.6 * np.minimum(r, 1.0) ** 2) * np.clip(1.0 + 0.2 * het2, 0.3, None)
        f_viable = f[viable]
        # uptake ratio relative to the mean of the whole lesion (necrotic core included)
        n_total = int((index == k).sum())
        conc[viable] = lesion.uptake_ratio * normal_mean * f_viable * n_total / f_viable.sum()
    liver = np.isin(labels, an.liver_labels())
    lungs = labels == an.LUNG
    conc[lungs] = 1.0
    liver_sum = conc[liver].sum() * voxel_ml
    lung_sum = conc[lungs].sum() * voxel_ml
    conc[liver] *= (1.0 - lung_shunt) * administered_bq / liver_sum
    conc[lungs] *= lung_shunt * administered_bq / lung_sum
    return conc


def roi_summary(conc: np.ndarray, dose: np.ndarray | None, mask: np.ndarray, voxel_ml: float, density: float) -> dict[str, Any]:
    n = int(mask.sum())
    out: dict[str, Any] = {
        "voxels": n,
        "volume_ml": n * voxel_ml,
        "mass_g": n * voxel_ml * density,
        "density_g_per_ml": density,
        "activity_gbq": float(conc[mask].astype(np.float64).sum() * voxel_ml * 1e-9),
        "mean_bq_per_ml": float(conc[mask].astype(np.float64).mean()) if n else 0.0,
    }
    if dose is not None:
        out["mean_ldm_gy"] = float(dose[mask].astype(np.float64).mean()) if n else 0.0
    return out


def ldm_dose(conc: np.ndarray, lungs: np.ndarray) -> np.ndarray:
    """LDM absorbed dose (Gy) for complete decay: D = f × A / M per voxel.

    f = 49.67 Gy·kg/GBq (``Y90.ldm_gy_kg_per_gbq``); A = C × V × 1e-9 GBq and
    M = ρ × V × 1e-3 kg give D = f × 1e-6 × C / ρ with C in Bq/mL and ρ in g/mL.
    """
    density = np.where(lungs, LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML)
    return Y90.ldm_gy_kg_per_gbq * 1e-6 * conc / density


def ldm_block() -> dict[str, Any]:
    return {
        "formula": "D[Gy] = f * A[GBq] / M[kg] per voxel, M = voxel volume x density",
        "ldm_gy_kg_per_gbq": Y90.ldm_gy_kg_per_gbq,
        "density_g_per_ml": {"lungs": LUNG_DENSITY_G_PER_ML, "all_other_tissue": SOFT_TISSUE_DENSITY_G_PER_ML},
        "half_life_h": Y90.half_life_h,
        "sources": [*Y90.sources, *DENSITY_SOURCES.values()],
        "dose_is_for": "complete decay of the true activity (permanent implant), no transport",
    }


def check_lesions_inside(masks: dict[str, np.ndarray], lesions: tuple[an.Lesion, ...]) -> None:
    idx = masks["lesions"]
    for k in range(1, len(lesions) + 1):
        m = idx == k
        if not m.any() or not masks["liver"][m].all():
            raise RuntimeError(f"sample generator: lesion {k} is not inside the liver")


def lesion_entry(k: int, lesion: an.Lesion, mask: np.ndarray, voxel_ml: float, affine: np.ndarray,
                  tnr: float) -> dict[str, Any]:
    idx = np.argwhere(mask)
    centroid = idx.mean(axis=0) @ affine[:3, :3].T + affine[:3, 3]
    r = lesion.diameter_mm / 2
    return {
        "label": k,
        "description": lesion.description,
        "centre_lps_mm": list(lesion.centre_lps_mm),
        "mask_centroid_lps_mm": [float(v) for v in centroid],
        "diameter_mm": lesion.diameter_mm,
        "volume_ml_analytic": 4 / 3 * np.pi * r**3 / 1000,
        "volume_ml_mask": int(mask.sum()) * voxel_ml,
        "ct_hu": lesion.hu,
        "necrotic_core_diameter_mm": lesion.necrotic_core_diameter_mm,
        "tumor_to_normal_ratio": tnr,
        # deprecated alias (the spelling of generator version 1's first truth files); results.json
        # and the rest of truth.json spell it tumor_to_normal_ratio
        "tumour_to_normal_ratio": tnr,
    }


