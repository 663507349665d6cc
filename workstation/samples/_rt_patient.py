"""The local-radiotherapy patient of the ``sbrt`` and ``hdr`` sample studies.

One digital patient (the analytic anatomy of :mod:`._anatomy`) with two liver
metastases in the right lobe, treated twice: SBRT of the posterior one (``sbrt``), then
interstitial HDR brachytherapy of the anterior one (``hdr``). Each study has
its own CT and frame of reference; both scanner frames equal the tissue frame,
so the transform between them is the identity (written to
``ground_truth/to_sbrt.tfm`` of the ``hdr`` study, for ``workstation combine``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.volume import Unit, Volume
from workstation.io.formats import write_image
from workstation.samples import _anatomy as an
from workstation.samples import _dicom_write as dw
from workstation.samples import _imaging as im
from workstation.samples._rt_write import StructureSpec

PATIENT_RT = dw.Patient("SAMPLE^LIVER_RT", "WS-RT-001", "19550821", "F", 71.0, 1.68)

#: Lesion 1: posterior right lobe (SBRT); lesion 2: anterior right lobe (HDR brachytherapy).
RT_LESIONS: tuple[an.Lesion, ...] = (
    an.Lesion((-62.0, 18.0, -12.0), 24.0, 55.0, 1.0, description="hypodense metastasis, right lobe (SBRT)"),
    an.Lesion((-58.0, -32.0, -32.0), 26.0, 60.0, 1.0, description="hypodense metastasis, anterior right lobe (HDR)"),
)
#: CT of both studies: 5 mm slices, 3.5 mm pixels (a small planning CT).
CT_SHAPE = (48, 112, 112)
CT_SPACING_MM = (5.0, 3.5, 3.5)
CT_CENTRE_LPS_MM = (0.0, 5.0, -25.5)
CT_NOISE_HU = 10.0
#: Planning margins (mm): PTV = GTV + 5 mm (SBRT); CTV = GTV + 3 mm (HDR).
PTV_MARGIN_MM = 5.0
CTV_MARGIN_MM = 3.0


def render_ct(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(HU, tissue labels, affine) of the planning CT."""
    affine = im.axial_grid(CT_SHAPE, CT_SPACING_MM, CT_CENTRE_LPS_MM)
    x, y, z = im.grid_axes(affine, CT_SHAPE)
    voxel_mm = float(np.prod(CT_SPACING_MM) ** (1 / 3))
    hu, labels = an.paint_patient(x, y, z, RT_LESIONS, voxel_mm)
    hu += im.correlated_noise(CT_SHAPE, CT_NOISE_HU, 0.6, rng)
    return hu, labels, affine


def distance_to(affine: np.ndarray, centre: tuple[float, float, float], shape: tuple[int, int, int]) -> np.ndarray:
    """Distance (mm) of every voxel centre of a grid to a point."""
    x, y, z = im.grid_axes(affine, shape)
    c = np.asarray(centre)
    return np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)


def structures(labels: np.ndarray, affine: np.ndarray, lesion: int, margin_mm: float,
               target_name: str, target_type: str) -> list[StructureSpec]:
    """GTV (the painted lesion), the expanded target, liver and body masks on the CT grid."""
    les = RT_LESIONS
    gtv = an.lesion_index(labels) == lesion
    r = distance_to(affine, les[lesion - 1].centre_lps_mm, labels.shape)
    target = (r <= les[lesion - 1].diameter_mm / 2 + margin_mm) | gtv
    liver = np.isin(labels, an.liver_labels())
    body = labels != an.AIR
    return [
        StructureSpec("GTV", gtv, "GTV"),
        StructureSpec(target_name, target, target_type),
        StructureSpec("Liver", liver, "ORGAN"),
        StructureSpec("Body", body, "EXTERNAL"),
    ]


def grid_info(affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, Any]:
    return {"size_xyz": [int(s) for s in shape[::-1]],
            "spacing_xyz_mm": [float(v) for v in np.linalg.norm(affine[:3, :3], axis=0)[::-1]],
            "origin_lps_mm": [float(v) for v in affine[:3, 3]]}


def write_ground_truth(out: Path, specs: list[StructureSpec], affine: np.ndarray) -> dict[str, str]:
    """The structure masks (NIfTI, CT grid); the analytic dose is a formula in truth.json."""
    gt = out / "ground_truth"
    files = {}
    for s in specs:
        name = s.name.lower()
        write_image(Volume(s.mask.astype(np.uint8), affine, units=Unit.LABEL), gt / f"{name}.nii.gz")
        files[name] = f"{name}.nii.gz"
    return files


def save_truth(truth: dict[str, Any], out: Path) -> None:
    path = out / "ground_truth" / "truth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=2), encoding="utf-8")
