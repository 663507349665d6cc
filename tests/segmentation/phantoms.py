"""Synthetic CT phantoms with exact ground truth for the segmentation tests.

The abdominal phantom is painted on a grid twice as fine as the CT along every
axis, then averaged 2×2×2 (partial volume at every edge) and given Gaussian
noise of 12 HU (a typical abdominal CT). Ground-truth masks are the voxels at
least half covered by the structure, which is how a voxel-centre contour is
drawn. Geometry is LPS (x to the patient's left, y posterior, z superior), so
the liver lies at negative x.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workstation.core import Unit, Volume, affine_from_geometry

# Tissue ids of the fine label map and their CT numbers (HU). Values are typical
# portal-venous-phase abdominal CT numbers (e.g. liver 100-120 HU, enhanced
# vessels 150-200 HU, fat about -100 HU, aerated lung about -850 HU).
AIR, FAT, MUSCLE, LUNG, AIRWAY, LIVER, LIVER_VESSEL, SPLEEN, KIDNEY, BONE = range(10)
BIG_VESSEL, HEART, STOMACH, TABLE, GALLBLADDER, LUNG_VESSEL, BOWEL, MEDIASTINUM = range(10, 18)
LESION0 = 32  # lesion n has id LESION0 + n
HU = {
    AIR: -1000.0, FAT: -95.0, MUSCLE: 50.0, LUNG: -850.0, AIRWAY: -1000.0, LIVER: 110.0,
    LIVER_VESSEL: 180.0, SPLEEN: 118.0, KIDNEY: 185.0, BONE: 500.0, BIG_VESSEL: 160.0,
    HEART: 140.0, STOMACH: 30.0, TABLE: 200.0, GALLBLADDER: 10.0, LUNG_VESSEL: 40.0,
    BOWEL: 40.0, MEDIASTINUM: -60.0,
}

#: (centre LPS mm, radius mm, HU): the liver lesions. Diameters 30, 20, 12, 11, 24, 6 (sub-cm), 16 mm.
LESIONS = [
    ((-80.0, 0.0, 0.0), 15.0, 45.0),
    ((-40.0, -30.0, 20.0), 10.0, 170.0),
    ((-110.0, 20.0, -30.0), 6.0, 55.0),
    ((-60.0, 30.0, -45.0), 5.5, 175.0),
    ((-116.0, -20.0, 12.0), 12.0, 50.0),  # subcapsular
    ((-70.0, -40.0, -30.0), 3.0, 50.0),  # below 1 cm: not required
    ((10.0, -50.0, -20.0), 8.0, 50.0),  # left lobe
]


@dataclass
class Phantom:
    ct: Volume
    truth: dict[str, np.ndarray]
    lesions: list[np.ndarray] = field(default_factory=list)
    lesion_centres: list[tuple[float, float, float]] = field(default_factory=list)
    lesion_diameters_mm: list[float] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    denom = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / denom) if denom else 1.0


def _segment_dist(p: tuple[np.ndarray, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points p=(z, y, x) broadcast arrays (LPS mm; order x,y,z in a,b) to segment ab."""
    x, y, z = p[2], p[1], p[0]
    d = b - a
    t = ((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2)


def _ell(p, c, s) -> np.ndarray:
    z, y, x = p
    return ((x - c[0]) / s[0]) ** 2 + ((y - c[1]) / s[1]) ** 2 + ((z - c[2]) / s[2]) ** 2 <= 1.0


def _paint_abdomen(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tissue ids on the broadcast grid (z[:,None,None], y[None,:,None], x[None,None,:])."""
    p = (z, y, x)
    shape = np.broadcast_shapes(z.shape, y.shape, x.shape)
    t = np.full(shape, AIR, dtype=np.uint8)
    body_r = ((x / 150.0) ** 2 + ((y - 10.0) / 110.0) ** 2) <= 1.0
    body = np.broadcast_to(body_r, shape)
    t[body] = FAT
    muscle = np.broadcast_to(((x / 135.0) ** 2 + ((y - 10.0) / 95.0) ** 2) <= 1.0, shape)
    t[muscle] = MUSCLE
    # cavity narrows towards the apex of the chest
    taper = np.sqrt(np.clip(1.0 - (np.clip(z - 100.0, 0, None) / 100.0) ** 2, 0.0, 1.0))
    cav = ((x / (125.0 * np.maximum(taper, 1e-3))) ** 2 + ((y - 10.0) / (85.0 * np.maximum(taper, 1e-3))) ** 2) <= 1.0
    cav = cav & (taper > 0)
    cav0 = np.broadcast_to(((x / 125.0) ** 2 + ((y - 10.0) / 85.0) ** 2) <= 1.0, shape)
    dome_r = 40.0 - 0.004 * (x + 65.0) ** 2 - 0.003 * y**2
    dome_l = 25.0 - 0.004 * (x - 70.0) ** 2 - 0.003 * y**2
    dome = np.where(x < 5.0, dome_r, dome_l)
    below = z < dome - 5.0
    t[cav0 & below] = FAT
    t[cav0 & (z >= dome - 5.0) & (z < dome)] = MUSCLE  # diaphragm
    t[cav0 & (z >= dome)] = MEDIASTINUM
    heart = _ell(p, (15.0, -20.0, 60.0), (55.0, 50.0, 45.0))
    spine = np.broadcast_to((x**2 + (y - 80.0) ** 2) <= 20.0**2, shape)
    lung = cav & (z >= dome) & ((x < -25.0) | (x > 35.0)) & ~heart & ~np.broadcast_to((x**2 + (y - 80.0) ** 2) <= 30.0**2, shape)
    t[lung] = LUNG
    for a, b in [((-60.0, -30.0, 70.0), (-100.0, -50.0, 140.0)), ((-70.0, 20.0, 60.0), (-90.0, 40.0, 150.0)),
                 ((80.0, -20.0, 60.0), (100.0, 30.0, 140.0))]:
        t[lung & (_segment_dist(p, np.array(a), np.array(b)) <= 2.5)] = LUNG_VESSEL
    t[heart & (z > 20.0)] = HEART
    # airway: trachea from the top down to the carina, main bronchi into the lungs
    carina = np.array([5.0, -5.0, 115.0])
    trachea = _segment_dist(p, carina, np.array([5.0, -5.0, 260.0])) <= 9.0
    bronchi = (_segment_dist(p, carina, np.array([-70.0, 0.0, 85.0])) <= 6.0) | (
        _segment_dist(p, carina, np.array([80.0, 0.0, 85.0])) <= 6.0
    )
    t[(trachea | bronchi) & body] = AIRWAY
    # liver: right lobe + left lobe, under the right dome, inside the cavity
    liver = (_ell(p, (-65.0, -5.0, -5.0), (85.0, 75.0, 70.0)) | _ell(p, (5.0, -45.0, -20.0), (55.0, 35.0, 30.0)))
    liver &= cav0 & below
    t[liver] = LIVER
    portal = [((-30.0, 10.0, -20.0), (-10.0, 20.0, -60.0)), ((-30.0, 10.0, -20.0), (-90.0, -10.0, -10.0)),
              ((-30.0, 10.0, -20.0), (-60.0, -40.0, 30.0)), ((-30.0, 10.0, -20.0), (10.0, -40.0, 10.0)),
              ((-28.0, 45.0, 30.0), (-100.0, 30.0, 25.0)), ((-28.0, 45.0, 30.0), (-60.0, -20.0, 45.0))]
    vessel = np.zeros(shape, bool)
    for k, (a, b) in enumerate(portal):
        vessel |= _segment_dist(p, np.array(a), np.array(b)) <= (5.0 if k < 4 else 4.0)
    t[vessel & liver] = LIVER_VESSEL
    t[vessel & ~liver & cav0 & below] = BIG_VESSEL
    for n, (c, r, _hu) in enumerate(LESIONS):
        t[liver & _ell(p, c, (r, r, r))] = LESION0 + n
    gall = _ell(p, (-45.0, -62.0, -55.0), (15.0, 14.0, 28.0)) & cav0
    t[gall] = GALLBLADDER
    # other organs (each in a thin fat capsule so organs do not fuse)
    for c, s, tissue in [((-65.0, 55.0, -95.0), (28.0, 25.0, 40.0), KIDNEY),
                         ((65.0, 55.0, -95.0), (28.0, 25.0, 40.0), KIDNEY),
                         ((100.0, 45.0, -5.0), (30.0, 30.0, 50.0), SPLEEN),
                         ((70.0, -30.0, -20.0), (40.0, 35.0, 40.0), STOMACH)]:
        t[_ell(p, c, (s[0] + 6, s[1] + 6, s[2] + 6)) & cav0 & below] = FAT
        organ = _ell(p, c, s) & cav0 & below
        t[organ] = tissue
        if tissue == STOMACH:
            t[organ & (z > 5.0)] = AIR  # gas cap
    for c, s in [((-40.0, -40.0, -110.0), (30.0, 20.0, 15.0)), ((40.0, -50.0, -115.0), (35.0, 20.0, 12.0))]:
        loop = _ell(p, c, s) & cav0
        t[loop] = BOWEL
        t[loop & _ell(p, c, (s[0] * 0.4, s[1] * 0.4, s[2] * 0.6))] = AIR
    ivc = np.broadcast_to(((x + 28.0) ** 2 + (y - 62.0) ** 2) <= 10.0**2, shape) & (z < 30.0)
    aorta = np.broadcast_to(((x - 22.0) ** 2 + (y - 45.0) ** 2) <= 11.0**2, shape) & (z < 100.0)
    t[(ivc | aorta) & cav0] = BIG_VESSEL
    t[spine & body] = BONE
    table = np.broadcast_to((np.abs(x) <= 170.0) & (y >= 125.0) & (y <= 135.0), shape)
    t[table] = TABLE
    return t, body


def _block_mean(a: np.ndarray) -> np.ndarray:
    nz, ny, nx = a.shape
    return a.reshape(nz // 2, 2, ny // 2, 2, nx // 2, 2).mean(axis=(1, 3, 5))


def build_abdomen() -> Phantom:
    """Abdominal CT phantom, 128 × 128 × 110 voxels of 2.5 × 2.5 × 3 mm (x, y, z)."""
    nx = ny = 128
    nz = 110
    spacing_zyx = np.array([3.0, 2.5, 2.5])
    origin = np.array([-(nx - 1) * 2.5 / 2, -(ny - 1) * 2.5 / 2, -130.0])
    xf = (origin[0] + (np.arange(2 * nx) - 0.5) * 1.25).astype(np.float32)
    yf = (origin[1] + (np.arange(2 * ny) - 0.5) * 1.25).astype(np.float32)
    zf = (origin[2] + (np.arange(2 * nz) - 0.5) * 1.5).astype(np.float32)
    lut = np.zeros(256, np.float32)
    for k, v in HU.items():
        lut[k] = v
    for n, (_c, _r, hu) in enumerate(LESIONS):
        lut[LESION0 + n] = hu
    hu = np.empty((nz, ny, nx), np.float32)
    frac = {name: np.empty((nz, ny, nx), np.float32) for name in ("liver", "lungs", "body")}
    les_frac = [np.empty((nz, ny, nx), np.float32) for _ in LESIONS]
    step = 10
    for k0 in range(0, nz, step):
        zs = zf[2 * k0 : 2 * (k0 + step)][:, None, None]
        tissue, body = _paint_abdomen(zs, yf[None, :, None], xf[None, None, :])
        sl = slice(k0, k0 + step)
        hu[sl] = _block_mean(lut[tissue])
        is_lesion = tissue >= LESION0
        frac["liver"][sl] = _block_mean(((tissue == LIVER) | (tissue == LIVER_VESSEL) | is_lesion).astype(np.float32))
        frac["lungs"][sl] = _block_mean(((tissue == LUNG) | (tissue == LUNG_VESSEL)).astype(np.float32))
        frac["body"][sl] = _block_mean(np.broadcast_to(body, tissue.shape).astype(np.float32))
        for n in range(len(LESIONS)):
            les_frac[n][sl] = _block_mean((tissue == LESION0 + n).astype(np.float32))
    rng = np.random.default_rng(20261127)
    hu += rng.normal(0.0, 12.0, hu.shape).astype(np.float32)
    affine = affine_from_geometry(origin, spacing_zyx)
    ct = Volume(hu, affine, frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1", modality="CT", units=Unit.HU)
    truth = {name: f >= 0.5 for name, f in frac.items()}
    lesions = [f >= 0.5 for f in les_frac]
    return Phantom(
        ct=ct,
        truth=truth,
        lesions=lesions,
        lesion_centres=[c for c, _r, _h in LESIONS],
        lesion_diameters_mm=[2 * r for _c, r, _h in LESIONS],
    )


def build_ablation_ct() -> Phantom:
    """Post-ablation CT crop: liver with a hypodense ablation zone, gas, rim, needle track, vein.

    1.0 × 1.0 × 2.0 mm voxels (x, y, z), 100 × 100 × 50; noise 12 HU.
    """
    nx = ny = 100
    nz = 50
    spacing_zyx = np.array([2.0, 1.0, 1.0])
    origin = np.array([-90.0, -20.0, -30.0])
    f = 2
    xf = (origin[0] + (np.arange(f * nx) - 0.5 * (f - 1)) / f * 1.0).astype(np.float32)[None, None, :]
    yf = (origin[1] + (np.arange(f * ny) - 0.5 * (f - 1)) / f * 1.0).astype(np.float32)[None, :, None]
    zf = (origin[2] + (np.arange(f * nz) - 0.5 * (f - 1)) / f * 2.0).astype(np.float32)[:, None, None]
    centre = np.array([-40.0, 30.0, 20.0])
    dx, dy, dz = xf - centre[0], yf - centre[1], zf - centre[2]
    r = np.sqrt(dx**2 + dy**2 + dz**2) + 1e-6
    # lobulated ellipsoid: radius modulated by low-order angular terms
    cos_t = dz / r
    phi = np.arctan2(dy, dx)
    base = 1.0 / np.sqrt((dx / r / 19.0) ** 2 + (dy / r / 16.0) ** 2 + (dz / r / 24.0) ** 2)
    radius = base * (1.0 + 0.06 * np.cos(3 * phi) * (1 - cos_t**2) + 0.05 * cos_t)
    zone = r <= radius
    rim = (r > radius) & (r <= radius + 1.5)
    liver = np.broadcast_to((xf > -85.0) & (yf < 75.0), zone.shape)
    tissue_hu = np.where(liver, 110.0, -95.0).astype(np.float32)
    vein = np.broadcast_to(np.sqrt((xf + 40.0 + 0.0 * zf) ** 2 + (yf - 58.0) ** 2) <= 5.0, zone.shape)
    tissue_hu[vein & liver] = 175.0
    tissue_hu[rim & liver & ~vein] = 135.0
    tissue_hu[zone] = 38.0
    rng = np.random.default_rng(7)
    gas_centres = centre + rng.uniform(-8, 8, size=(5, 3))
    for g in gas_centres:
        tissue_hu[(xf - g[0]) ** 2 + (yf - g[1]) ** 2 + ((zf - g[2]) / 1.5) ** 2 <= 2.0**2] = -700.0
    track = (np.sqrt((xf - centre[0]) ** 2 + (yf - centre[1]) ** 2) <= 1.5) & (zf > centre[2])
    tissue_hu[np.broadcast_to(track, zone.shape) & ~zone & liver] = 45.0
    hu = tissue_hu.reshape(nz, f, ny, f, nx, f).mean(axis=(1, 3, 5))
    zone_frac = zone.astype(np.float32).reshape(nz, f, ny, f, nx, f).mean(axis=(1, 3, 5))
    hu = hu + rng.normal(0.0, 12.0, hu.shape).astype(np.float32)
    ct = Volume(hu.astype(np.float32), affine_from_geometry(origin, spacing_zyx), modality="CT", units=Unit.HU)
    return Phantom(ct=ct, truth={"ablation_zone": zone_frac >= 0.5}, extra={"centre": tuple(centre)})
