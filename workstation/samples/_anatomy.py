"""The analytic digital patient: an upper abdomen defined by signed distances.

Coordinates are patient LPS millimetres (x to the patient's left, y posterior,
z superior) of the *tissue frame*: a scanner frame equals it up to the rigid
or non-rigid map of the study. The right hemidiaphragm dome peaks at z = +40 mm.

Each structure is a signed-distance function; the image is painted layer by
layer (later layers on top) with a partial-volume ramp, and the tissue label of
a voxel is the last layer containing its centre, so ground-truth masks are
exact voxel-centre classifications of the same geometry that made the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.samples import _shapes as sh

Array = np.ndarray

# Tissue label values of the painted label map (internal; masks are written by name).
AIR, FAT, MUSCLE, VISCERA, BONE, MARROW, CSF, DISC, AORTA, IVC = range(10)
KIDNEY_R, KIDNEY_L, SPLEEN, LUNG, HEART, LIVER, PORTAL, HEPATIC_VEIN = range(10, 18)
LESION_BASE = 20  # lesion k (1-based) has tissue label LESION_BASE + k
NECROSIS_BASE = 40  # necrotic core of lesion k has tissue label NECROSIS_BASE + k

#: Attenuation (HU) of each tissue in the portal-venous phase; typical published
#: ranges (fat −100, muscle 40–60, enhanced liver 100–120, aorta 150–200) chosen
#: to look like a clinical contrast CT, not measured values.
TISSUE_HU: dict[int, float] = {
    AIR: -1000.0,
    FAT: -100.0,
    MUSCLE: 50.0,
    VISCERA: 15.0,
    BONE: 750.0,
    MARROW: 230.0,
    CSF: 10.0,
    DISC: 85.0,
    AORTA: 175.0,
    IVC: 135.0,
    KIDNEY_R: 165.0,
    KIDNEY_L: 165.0,
    SPLEEN: 120.0,
    LUNG: -850.0,
    HEART: 130.0,
    LIVER: 110.0,
    PORTAL: 185.0,
    HEPATIC_VEIN: 150.0,
}


@dataclass(frozen=True)
class Lesion:
    """A spherical liver lesion (tissue frame, mm)."""

    centre_lps_mm: tuple[float, float, float]
    diameter_mm: float
    hu: float
    #: Tumour-to-normal-liver ratio of microsphere uptake (before heterogeneity).
    uptake_ratio: float
    necrotic_core_diameter_mm: float = 0.0
    necrosis_hu: float = 20.0
    description: str = ""


def diaphragm_right(x: Array, y: Array) -> Array:
    """Height (z, mm) of the right hemidiaphragm: a dome peaking at +40 mm."""
    return 40.0 - 0.009 * ((x + 70.0) ** 2 + 0.8 * (y - 10.0) ** 2)


def diaphragm_left(x: Array, y: Array) -> Array:
    """Height (z, mm) of the left hemidiaphragm: a dome peaking at +25 mm."""
    return 25.0 - 0.009 * ((x - 70.0) ** 2 + 0.8 * (y - 10.0) ** 2)


def diaphragm(x: Array, y: Array) -> Array:
    """Height (z, mm) of the diaphragm (upper envelope of both domes)."""
    return np.maximum(diaphragm_right(x, y), diaphragm_left(x, y))


PORTAL_SEGMENTS: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((-15.0, 18.0, -48.0), (-35.0, 12.0, -28.0), 7.0),  # main portal vein
    ((-35.0, 12.0, -28.0), (-72.0, 6.0, -14.0), 5.5),  # right portal vein
    ((-72.0, 6.0, -14.0), (-92.0, -30.0, 2.0), 3.5),  # right anterior branch
    ((-72.0, 6.0, -14.0), (-100.0, 40.0, -8.0), 3.5),  # right posterior branch
    ((-35.0, 12.0, -28.0), (8.0, -12.0, -8.0), 4.5),  # left portal vein
    ((8.0, -12.0, -8.0), (45.0, -38.0, 8.0), 3.0),  # left lateral branch
)
HEPATIC_VEIN_SEGMENTS: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((-24.0, 38.0, 18.0), (-95.0, -5.0, 8.0), 4.5),  # right hepatic vein
    ((-24.0, 38.0, 18.0), (-45.0, -40.0, 5.0), 4.0),  # middle hepatic vein
    ((-24.0, 38.0, 18.0), (20.0, -25.0, 12.0), 3.5),  # left hepatic vein
)


def liver_sd(x: Array, y: Array, z: Array, cavity: Array | None = None) -> Array:
    """Signed distance (mm) of the liver capsule, before carving neighbours."""
    right = sh.ellipsoid(x, y, z, (-55.0, 5.0, -5.0), (80.0, 88.0, 75.0))
    left = sh.ellipsoid(x, y, z, (32.0, -32.0, 12.0), (58.0, 40.0, 32.0))
    liver = sh.smooth_union(right, left, 15.0)
    # below the diaphragm (5 mm of muscle between liver and lung)
    liver = sh.intersect(liver, z - (diaphragm(x, y) - 5.0))
    if cavity is not None:
        liver = sh.intersect(liver, cavity + 3.0)
    return liver


def paint_patient(
    x: Array,
    y: Array,
    z: Array,
    lesions: tuple[Lesion, ...],
    voxel_mm: float,
    tissue_hu: dict[int, float] | None = None,
) -> tuple[Array, Array]:
    """Attenuation (HU, with partial volume) and tissue labels at the given points.

    Parameters
    ----------
    x, y, z:
        Broadcastable LPS coordinates (mm) of voxel centres in the tissue frame.
    lesions:
        Liver lesions; they must lie inside the liver (checked by the caller).
    voxel_mm:
        Width (mm) of the partial-volume ramp, about the voxel size.
    tissue_hu:
        Attenuation of each tissue label; default :data:`TISSUE_HU` (portal-venous
        phase). An unenhanced scan passes its own table.

    Returns
    -------
    hu, labels:
        float32 HU image and uint8 tissue labels (see the module constants).
    """
    shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z))
    TISSUE_HU = _TISSUE_HU_DEFAULT if tissue_hu is None else tissue_hu  # noqa: N806
    hu = np.full(shape, TISSUE_HU[AIR], dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)

    def paint(sd: Array, value: float, label: int) -> None:
        nonlocal hu
        f = sh.occupancy(sd, voxel_mm).astype(np.float32)
        f = np.broadcast_to(f, shape)
        hu += f * (np.float32(value) - hu)
        labels[np.broadcast_to(sd < 0, shape)] = label

    body = sh.elliptic_cylinder(x, y, (0.0, 5.0), (165.0, 118.0))
    wall = sh.elliptic_cylinder(x, y, (0.0, 5.0), (150.0, 103.0))
    cavity = sh.elliptic_cylinder(x, y, (0.0, 5.0), (140.0, 93.0))
    paint(body, TISSUE_HU[FAT], FAT)
    paint(wall, TISSUE_HU[MUSCLE], MUSCLE)
    paint(cavity, TISSUE_HU[VISCERA], VISCERA)

    # ribs: a shell just inside the muscle wall, in oblique bands, not anteriorly
    angle = np.arctan2(y - 5.0, x)  # 0 = patient left, -pi/2 = anterior
    shell = sh.subtract(sh.elliptic_cylinder(x, y, (0.0, 5.0), (147.0, 100.0)), cavity + 1.0)
    # ribs 10 mm high every 34 mm, descending 60 mm from the spine to the front;
    # distance (mm) to the nearest rib band
    from_back = np.arctan2(np.abs(x), y - 5.0) / np.pi  # 0 posterior .. 1 anterior
    band = np.abs(((z + 60.0 * from_back) % 34.0) - 17.0) - 5.0
    rib = sh.intersect(shell, band, -(np.abs(angle + np.pi / 2) - 0.6) * 40.0)
    paint(rib, TISSUE_HU[BONE], BONE)

    # spine (vertebral body with discs, canal, lamina, spinous process) and paraspinal muscles
    paraspinal = sh.union(
        sh.elliptic_cylinder(x, y, (-34.0, 100.0), (24.0, 17.0)),
        sh.elliptic_cylinder(x, y, (34.0, 100.0), (24.0, 17.0)),
    )
    paint(paraspinal, TISSUE_HU[MUSCLE], MUSCLE)
    vert = sh.elliptic_cylinder(x, y, (0.0, 66.0), (21.0, 18.0))
    lamina = sh.union(
        sh.subtract(sh.elliptic_cylinder(x, y, (0.0, 95.0), (16.0, 14.0)), sh.elliptic_cylinder(x, y, (0.0, 95.0), (9.0, 8.0))),
        sh.capsule(x, y, z * 0 + 0.0, (0.0, 105.0, 0.0), (0.0, 122.0, 0.0), 4.5),
    )
    paint(sh.union(vert, lamina), TISSUE_HU[BONE], BONE)
    paint(vert + 2.0, TISSUE_HU[MARROW], MARROW)
    disc_phase = np.abs(((z + 5.0) % 31.0) - 15.5)  # discs every 31 mm, 6 mm thick
    paint(sh.intersect(vert, 15.5 - 3.0 - disc_phase + 0 * vert), TISSUE_HU[DISC], DISC)
    paint(sh.elliptic_cylinder(x, y, (0.0, 95.0), (9.0, 8.0)), TISSUE_HU[CSF], CSF)

    aorta = sh.elliptic_cylinder(x, y, (14.0, 42.0), (12.0, 12.0))
    ivc = sh.elliptic_cylinder(x, y, (-24.0, 38.0), (12.0, 10.0))
    paint(aorta, TISSUE_HU[AORTA], AORTA)
    paint(ivc, TISSUE_HU[IVC], IVC)

    kidney_r = sh.ellipsoid(x, y, z, (-72.0, 62.0, -100.0), (27.0, 24.0, 55.0))
    kidney_l = sh.ellipsoid(x, y, z, (72.0, 60.0, -85.0), (27.0, 24.0, 55.0))
    paint(kidney_r, TISSUE_HU[KIDNEY_R], KIDNEY_R)
    paint(kidney_l, TISSUE_HU[KIDNEY_L], KIDNEY_L)
    spleen = sh.intersect(
        sh.ellipsoid(x, y, z, (98.0, 45.0, -5.0), (32.0, 50.0, 58.0)),
        z - (diaphragm_left(x, y) - 5.0),
        cavity + 3.0,
    )
    paint(spleen, TISSUE_HU[SPLEEN], SPLEEN)

    # thorax above the diaphragm: lungs around the mediastinum and heart
    above = diaphragm(x, y) - z
    mediastinum = sh.union(
        sh.elliptic_cylinder(x, y, (0.0, 30.0), (30.0, 75.0)),
        sh.ellipsoid(x, y, z, (25.0, -30.0, 95.0), (68.0, 55.0, 60.0)),
    )
    thorax = sh.intersect(cavity + 3.0, above)
    # no lung in front of the upper abdomen below the heart (anterior costophrenic angle is lateral)
    anterior_pad = sh.intersect(sh.elliptic_cylinder(x, y, (15.0, -60.0), (75.0, 55.0)), z - 30.0)
    non_lung = sh.union(mediastinum, anterior_pad)
    lungs = sh.subtract(thorax, non_lung + 3.0)
    paint(sh.intersect(thorax, non_lung), TISSUE_HU[FAT], FAT)
    paint(lungs, TISSUE_HU[LUNG], LUNG)
    heart = sh.intersect(sh.ellipsoid(x, y, z, (25.0, -30.0, 95.0), (62.0, 49.0, 54.0)), above + 4.0)
    paint(heart, TISSUE_HU[HEART], HEART)

    liver = liver_sd(x, y, z, cavity)
    liver = sh.subtract(liver, sh.union(kidney_r - 3.0, ivc, aorta - 3.0, vert - 6.0, spleen - 3.0))
    paint(liver, TISSUE_HU[LIVER], LIVER)
    portal = sh.union(*(sh.capsule(x, y, z, a, b, r) for a, b, r in PORTAL_SEGMENTS))
    hepatic = sh.union(*(sh.capsule(x, y, z, a, b, r) for a, b, r in HEPATIC_VEIN_SEGMENTS))
    paint(sh.intersect(portal, liver), TISSUE_HU[PORTAL], PORTAL)
    paint(sh.intersect(hepatic, liver), TISSUE_HU[HEPATIC_VEIN], HEPATIC_VEIN)
    for k, lesion in enumerate(lesions, start=1):
        sd = sh.sphere(x, y, z, lesion.centre_lps_mm, lesion.diameter_mm / 2)
        paint(sd, lesion.hu, LESION_BASE + k)
        if lesion.necrotic_core_diameter_mm > 0:
            core = sh.sphere(x, y, z, lesion.centre_lps_mm, lesion.necrotic_core_diameter_mm / 2)
            paint(core, lesion.necrosis_hu, NECROSIS_BASE + k)
    return hu, labels


_TISSUE_HU_DEFAULT = TISSUE_HU


def liver_labels() -> tuple[int, ...]:
    """Tissue labels that belong to the liver (parenchyma, intrahepatic vessels, lesions)."""
    return (LIVER, PORTAL, HEPATIC_VEIN, *range(LESION_BASE + 1, LESION_BASE + 20),
            *range(NECROSIS_BASE + 1, NECROSIS_BASE + 20))


def lesion_index(labels: Array) -> Array:
    """Lesion number (1..N, 0 elsewhere) of each voxel, necrotic cores included."""
    out = np.zeros(labels.shape, dtype=np.uint8)
    les = (labels > LESION_BASE) & (labels < LESION_BASE + 20)
    out[les] = labels[les] - LESION_BASE
    nec = (labels > NECROSIS_BASE) & (labels < NECROSIS_BASE + 20)
    out[nec] = labels[nec] - NECROSIS_BASE
    return out
