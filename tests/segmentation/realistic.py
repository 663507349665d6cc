"""A realistic synthetic abdominal CT for the liver and lesion tests (issue 11, item 6).

What makes it harder than :mod:`tests.segmentation.phantoms` and closer to a
patient:

* organs touch the liver with no fat in between and at nearly its CT number:
  the spleen on the left lobe, the stomach wall under it, the intrahepatic
  vena cava, the heart on the dome through a 4 mm diaphragm, the abdominal
  wall laterally; a bowel loop and the spleen hang on the liver by thin
  (4-5 mm) bridges of liver-like tissue;
* portal and hepatic veins inside the liver, the portal vein continuing out
  of the hilum to the splenic vein;
* lesions with soft edges (each blurred by its own σ of 1.5-2.5 mm): hypo- and
  hyperdense, rim-enhancing, necrotic, heterogeneous (darker core, faint
  periphery), lobulated, next to a vein, subcapsular, 15-40 HU contrast;
* parenchymal texture (filtered noise, σ 3 mm), a CT point-spread function
  (σ 0.7 mm in-plane) and correlated noise (white noise filtered with
  σ 0.8 mm, scaled to 15 HU in the portal-venous phase, 25 HU in the
  low-dose non-contrast CT of a SPECT/CT).

Every structure is a signed distance function (mm, negative inside); its
partial-volume fraction is the Gaussian CDF of the distance over the edge
width (a straight edge blurred by a Gaussian), composited in painting order.
The ground truth of a structure is where its distance is <= 0 after the later
structures painted over it, i.e. its 50 % partial-volume level.

CT numbers (HU) are typical published values: portal-venous liver 100-120,
spleen 110-130, unenhanced liver 55-65 and spleen 45-50, muscle 45-55, fat
about -100, water 0-20 (e.g. Bae KT, Radiology 256:32-61, 2010 for contrast
enhancement; Kodama Y et al., AJR 188:1307-1312, 2007 for unenhanced liver
and spleen).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.special import ndtr

from workstation.core import Unit, Volume, affine_from_geometry

#: CT numbers (HU) per tissue and phase.
PHASES: dict[str, dict[str, float]] = {
    "portal": {
        "fat": -100.0, "muscle": 55.0, "liver": 110.0, "spleen": 120.0, "kidney": 170.0,
        "blood": 150.0, "myocardium": 100.0, "stomach_wall": 100.0, "water": 15.0, "ivc": 120.0,
        "aorta": 150.0, "portal": 180.0, "hepatic": 160.0, "bone": 600.0, "lung": -850.0,
        "bowel_wall": 100.0, "bile": 10.0,
    },
    "lowdose": {
        "fat": -100.0, "muscle": 50.0, "liver": 58.0, "spleen": 48.0, "kidney": 32.0,
        "blood": 42.0, "myocardium": 48.0, "stomach_wall": 45.0, "water": 10.0, "ivc": 42.0,
        "aorta": 42.0, "portal": 42.0, "hepatic": 42.0, "bone": 500.0, "lung": -850.0,
        "bowel_wall": 48.0, "bile": 10.0,
    },
}
NOISE_HU = {"portal": 15.0, "lowdose": 25.0}


@dataclass(frozen=True)
class LesionSpec:
    """One lesion: centre (LPS mm), radius (mm), contrast to the parenchyma (HU) and kind."""

    name: str
    centre: tuple[float, float, float]
    radius_mm: float
    contrast_hu: float
    edge_sigma_mm: float = 2.0
    kind: str = "uniform"  # uniform, rim, necrotic, heterogeneous, lobulated
    inner_contrast_hu: float = 0.0  # rim: the core; necrotic: the necrosis; heterogeneous: the centre


#: The lesions (portal-venous contrasts; the low-dose CT scales them by 0.75).
LESIONS: tuple[LesionSpec, ...] = (
    LesionSpec("hypo_20hu", (-95.0, -10.0, -5.0), 14.0, -20.0, 2.0),
    LesionSpec("hyper_25hu", (-40.0, 10.0, 25.0), 10.0, 25.0, 1.5),
    LesionSpec("rim", (-70.0, -45.0, -40.0), 15.0, 30.0, 1.5, "rim", -35.0),
    LesionSpec("necrotic", (-100.0, 25.0, -35.0), 17.0, -25.0, 2.0, "necrotic", -85.0),
    LesionSpec("heterogeneous", (-77.0, 47.0, 6.5), 19.0, -15.0, 2.5, "heterogeneous", -40.0),
    LesionSpec("subcapsular", (-108.0, -25.0, 25.0), 12.0, -30.0, 1.5),
    LesionSpec("small", (-20.0, -50.0, -15.0), 6.0, -40.0, 1.5),
    LesionSpec("faint_15hu", (15.0, -45.0, 8.0), 11.0, -15.0, 2.0),
    LesionSpec("lobulated", (-45.0, -20.0, -45.0), 13.0, -25.0, 2.0, "lobulated"),
)


@dataclass
class RealisticCT:
    ct: Volume
    phase: str
    truth: dict[str, np.ndarray]
    lesions: dict[str, np.ndarray]
    specs: dict[str, LesionSpec]
    liver_seed: tuple[float, float, float]
    extra: dict[str, object] = field(default_factory=dict)

    def long_axis(self, name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """RECIST-style line: the longest in-plane diameter of the lesion's truth in its central slice (LPS mm)."""
        mask = self.lesions[name]
        spec = self.specs[name]
        k = int(np.rint(self.ct.world_to_index(spec.centre)[0]))
        pts = np.argwhere(mask[k])
        if len(pts) < 2:
            raise ValueError(f"lesion {name} is not in its central slice")
        j, i = pts[:, 0].astype(float), pts[:, 1].astype(float)
        # farthest pair among the hull points (in mm)
        xy = np.stack([j * self.ct.spacing_mm[1], i * self.ct.spacing_mm[2]], axis=1)
        edge = _boundary(mask[k])
        e = np.argwhere(edge).astype(float)
        exy = e * self.ct.spacing_mm[1:]
        d = ((exy[:, None, :] - exy[None, :, :]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmax(d)), d.shape)
        del xy
        pa = self.ct.index_to_world([k, e[a, 0], e[a, 1]])
        pb = self.ct.index_to_world([k, e[b, 0], e[b, 1]])
        return (tuple(float(v) for v in pa), tuple(float(v) for v in pb))  # type: ignore[return-value]


def _boundary(mask2d: np.ndarray) -> np.ndarray:
    return mask2d & ~ndi.binary_erosion(mask2d)


def _ellipsoid_sd(p: tuple[np.ndarray, ...], c, axes) -> np.ndarray:
    """First-order signed distance (mm) to an ellipsoid: (ρ - 1)/|∇ρ|."""
    z, y, x = p
    u = [(x - c[0]) / axes[0], (y - c[1]) / axes[1], (z - c[2]) / axes[2]]
    rho = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) + 1e-6
    grad = np.sqrt((u[0] / axes[0]) ** 2 + (u[1] / axes[1]) ** 2 + (u[2] / axes[2]) ** 2) / rho + 1e-9
    return (rho - 1.0) / grad


def _segment_sd(p: tuple[np.ndarray, ...], a, b, radius: float) -> np.ndarray:
    z, y, x = p
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / float(d @ d), 0.0, 1.0)
    return np.sqrt((x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2) - radius


def _smooth_union(d1: np.ndarray, d2: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distances (blend width ``k`` mm)."""
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 * (1 - h) + d1 * h - k * h * (1 - h)


class _Painter:
    """Composites soft structures on a grid, region by region (bounding boxes in mm)."""

    def __init__(self, shape, spacing, origin) -> None:
        self.shape = shape
        self.spacing = np.asarray(spacing, float)
        self.origin = np.asarray(origin, float)  # LPS of voxel (0,0,0); axes z, y, x aligned with +z, +y, +x
        self.hu = np.full(shape, -1000.0, np.float32)
        self.label = np.zeros(shape, np.uint8)
        self.names: dict[str, int] = {}

    def _box(self, lo, hi) -> tuple[slice, ...]:
        # lo/hi in LPS (x, y, z); axes of the array are (z, y, x)
        out = []
        for ax, w in zip((0, 1, 2), (2, 1, 0), strict=True):
            a = int(np.floor((lo[w] - self.origin[w]) / self.spacing[ax]))
            b = int(np.ceil((hi[w] - self.origin[w]) / self.spacing[ax])) + 1
            out.append(slice(max(a, 0), min(b, self.shape[ax])))
        return tuple(out)

    def coords(self, box: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = (self.origin[2] + np.arange(box[0].start, box[0].stop) * self.spacing[0]).astype(np.float32)
        y = (self.origin[1] + np.arange(box[1].start, box[1].stop) * self.spacing[1]).astype(np.float32)
        x = (self.origin[0] + np.arange(box[2].start, box[2].stop) * self.spacing[2]).astype(np.float32)
        return z[:, None, None], y[None, :, None], x[None, None, :]

    def paint(self, name: str, lo, hi, sd_fn, value, sigma_mm: float = 0.7, truth: bool | str = True) -> None:
        """Paint a structure given its signed distance ``sd_fn(p)`` within the LPS box [lo, hi].

        ``truth``: True gives it a truth label of its own, ``"keep"`` leaves the
        labels below it (a vessel in the liver, the lumen of the stomach),
        False clears them (not a structure the tests look at).
        """
        margin = 3.0 * sigma_mm + 2.0
        box = self._box(np.asarray(lo) - margin, np.asarray(hi) + margin)
        if any(s.stop <= s.start for s in box):
            return
        p = self.coords(box)
        sd = np.broadcast_to(sd_fn(p), tuple(s.stop - s.start for s in box))
        alpha = ndtr(-sd / sigma_mm).astype(np.float32)
        v = value(p, sd) if callable(value) else value
        sub = self.hu[box]
        sub += alpha * (np.asarray(v, np.float32) - sub)
        if truth is True:
            ident = self.names.setdefault(name, len(self.names) + 1)
            self.label[box][sd <= 0] = ident
        elif truth is False:
            self.label[box][sd <= 0] = 0

    def mask(self, name: str) -> np.ndarray:
        return self.label == self.names[name]


def build_realistic_ct(
    phase: str = "portal",
    spacing_zyx_mm: tuple[float, float, float] = (2.5, 1.25, 1.25),
    extent_x_mm: float = 330.0,
    extent_y_mm: float = 270.0,
    z_range_mm: tuple[float, float] = (-130.0, 100.0),
    seed: int = 20261127,
    lesions: bool = True,
) -> RealisticCT:
    """The abdomen CT in the ``"portal"`` (venous) phase or as a ``"lowdose"`` non-contrast CT.

    The default grid is 264 × 216 × 93 voxels of 1.25 × 1.25 × 2.5 mm.
    """
    hu = PHASES[phase]
    sp = np.asarray(spacing_zyx_mm, float)
    nx = int(round(extent_x_mm / sp[2]))
    ny = int(round(extent_y_mm / sp[1]))
    nz = int(round((z_range_mm[1] - z_range_mm[0]) / sp[0])) + 1
    origin = np.array([-(nx - 1) * sp[2] / 2.0, -(ny - 1) * sp[1] / 2.0 + 5.0, z_range_mm[0]])
    pt = _Painter((nz, ny, nx), sp, origin)

    def ell2d(cx, cy, a, b):
        return lambda p: np.broadcast_to(_ellipsoid_sd((p[0] * 0, p[1], p[2]), (cx, cy, 0.0), (a, b, 1e6)), np.broadcast_shapes(p[0].shape, p[1].shape, p[2].shape))

    def dome(p):
        z, y, x = p
        right = 62.0 - 0.0035 * (x + 60.0) ** 2 - 0.003 * y**2
        left = 42.0 - 0.0035 * (x - 65.0) ** 2 - 0.003 * y**2
        return np.where(x < 5.0, right, left)

    cav = ell2d(0.0, 5.0, 127.0, 88.0)

    # table, body (fat), abdominal wall (muscle), cavity
    pt.paint("table", (-165, 123, -1e3), (165, 131, 1e3), lambda p: np.broadcast_to(np.abs(p[1] - 127.0) - 4.0, np.broadcast_shapes(*[q.shape for q in p])), 200.0, truth=False)
    pt.paint("body", (-150, -107, -1e3), (150, 117, 1e3), ell2d(0.0, 5.0, 150.0, 112.0), hu["fat"])
    pt.paint("wall", (-137, -94, -1e3), (137, 104, 1e3), ell2d(0.0, 5.0, 137.0, 99.0), hu["muscle"])
    pt.paint("abdomen", (-127, -83, -1e3), (127, 93, 1e3), cav, hu["fat"] + 10.0)
    # thorax above the dome: lungs beside the heart and mediastinum
    thorax = lambda p: np.maximum(cav(p), dome(p) - p[0])  # noqa: E731
    pt.paint("mediastinum", (-127, -83, -40), (127, 93, 1e3), thorax, hu["fat"] + 40.0, truth=False)
    lungs = lambda p: np.maximum(thorax(p), np.maximum(-(np.abs(p[2] - 8.0) - 32.0), -(np.hypot(p[2], p[1] - 75.0) - 35.0)))  # noqa: E731
    pt.paint("lungs", (-127, -83, -40), (127, 93, 1e3), lungs, hu["lung"])
    heart = lambda p: np.maximum(_ellipsoid_sd(p, (12.0, -18.0, 95.0), (62.0, 52.0, 52.0)), dome(p) - p[0])  # noqa: E731
    pt.paint("heart", (-50, -70, 30), (75, 35, 150), heart, hu["myocardium"])
    blood = lambda p: np.maximum(_ellipsoid_sd(p, (12.0, -18.0, 97.0), (50.0, 40.0, 42.0)), dome(p) + 10.0 - p[0])  # noqa: E731
    pt.paint("heart_blood", (-40, -60, 40), (65, 25, 150), blood, hu["blood"], truth="keep")
    # diaphragm: a 4 mm muscle sheet under the dome
    diaphragm = lambda p: np.maximum(cav(p), np.abs(p[0] - (dome(p) - 2.0)) - 2.0)  # noqa: E731
    pt.paint("diaphragm", (-127, -83, -40), (127, 93, 70), diaphragm, hu["muscle"], truth=False)

    # spine and paraspinal muscles
    pt.paint("paraspinal", (-45, 75, -1e3), (45, 125, 1e3), ell2d(0.0, 100.0, 45.0, 22.0), hu["muscle"], truth=False)
    pt.paint("spine", (-18, 57, -1e3), (18, 93, 1e3), ell2d(0.0, 75.0, 18.0, 18.0), hu["bone"], truth=False)

    # liver: right + left lobe under the dome, touching the diaphragm and the wall
    below = lambda p: (p[0] - (dome(p) - 4.0))  # noqa: E731

    def liver_sd(p):
        right = _ellipsoid_sd(p, (-62.0, 0.0, -8.0), (86.0, 80.0, 76.0))
        left = _ellipsoid_sd(p, (25.0, -40.0, 15.0), (62.0, 34.0, 30.0))
        return np.maximum(np.maximum(_smooth_union(right, left, 12.0), below(p)), cav(p))

    texture_rng = np.random.default_rng(seed + 1)
    tex = ndi.gaussian_filter(texture_rng.normal(0.0, 1.0, (nz, ny, nx)).astype(np.float32), 3.0 / sp)
    tex *= 5.0 / max(float(tex.std()), 1e-6)
    pt.paint("liver", (-160, -90, -95), (90, 90, 70), liver_sd, hu["liver"])
    pt.hu += tex * (pt.label == pt.names["liver"])

    # vessels inside the liver: portal branches from the hilum, hepatic veins to the vena cava
    hilum = (-15.0, 22.0, -45.0)
    portal = [(hilum, (-85.0, 5.0, -20.0), 5.0), (hilum, (-105.0, 40.0, 5.0), 4.5), (hilum, (25.0, -25.0, 5.0), 4.5)]
    for k, (a, b, r) in enumerate(portal):
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
        pt.paint(f"portal_{k}", lo, hi, lambda p, a=a, b=b, r=r: np.maximum(_segment_sd(p, a, b, r), liver_sd(p)), hu["portal"], sigma_mm=0.8, truth="keep")
    hepatic = [((-28.0, 58.0, 45.0), (-105.0, -15.0, 20.0), 4.5), ((-25.0, 58.0, 45.0), (-55.0, -55.0, 25.0), 4.0),
               ((-22.0, 58.0, 45.0), (15.0, -25.0, 35.0), 4.0), ((-60.0, 25.0, 37.0), (-50.0, 55.0, -5.0), 3.5)]
    for k, (a, b, r) in enumerate(hepatic):
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
        pt.paint(f"hepatic_{k}", lo, hi, lambda p, a=a, b=b, r=r: np.maximum(_segment_sd(p, a, b, r), liver_sd(p)), hu["hepatic"], sigma_mm=0.8, truth="keep")

    # lesions
    specs = {s.name: s for s in LESIONS} if lesions else {}
    les_rng = np.random.default_rng(seed + 2)
    scale = 1.0 if phase == "portal" else 0.75
    parenchyma = hu["liver"]
    for spec in specs.values():
        c, r = spec.centre, spec.radius_mm
        if spec.kind == "lobulated":
            def sd_fn(p, c=c, r=r):
                z, y, x = p
                dx, dy, dz = x - c[0], y - c[1], z - c[2]
                rr = np.sqrt(dx**2 + dy**2 + dz**2) + 1e-6
                phi = np.arctan2(dy, dx)
                lob = r * (1.0 + 0.14 * np.cos(3 * phi) * (1 - (dz / rr) ** 2) + 0.08 * (dz / rr))
                return np.maximum(rr - lob, liver_sd(p))
        else:
            def sd_fn(p, c=c, r=r):
                z, y, x = p
                return np.maximum(np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) - r, liver_sd(p))
        outer = parenchyma + scale * spec.contrast_hu
        if spec.kind == "heterogeneous":
            def value(p, sd, c=c, r=r, spec=spec):
                z, y, x = p
                rr = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / r
                frac = np.clip(1.0 - rr**2, 0.0, 1.0)
                return parenchyma + scale * (spec.contrast_hu + (spec.inner_contrast_hu - spec.contrast_hu) * frac)
        else:
            value = outer  # type: ignore[assignment]
        lo, hi = np.array(c) - 1.3 * r, np.array(c) + 1.3 * r
        pt.paint(f"lesion_{spec.name}", lo, hi, sd_fn, value, sigma_mm=spec.edge_sigma_mm)
        if spec.kind in ("rim", "necrotic"):
            inner_r = r - 3.0 if spec.kind == "rim" else 0.5 * r
            pt.paint(f"lesion_{spec.name}_inner", lo, hi,
                     lambda p, c=c, ir=inner_r: np.sqrt((p[2] - c[0]) ** 2 + (p[1] - c[1]) ** 2 + (p[0] - c[2]) ** 2) - ir,
                     parenchyma + scale * spec.inner_contrast_hu, sigma_mm=1.0, truth="keep")
        # lesion texture
        box = pt._box(lo, hi)
        lt = les_rng.normal(0.0, 1.0, tuple(s.stop - s.start for s in box)).astype(np.float32)
        lt = ndi.gaussian_filter(lt, 2.0 / sp)
        lt *= 6.0 / max(float(lt.std()), 1e-6)
        pt.hu[box] += lt * (pt.label[box] == pt.names[f"lesion_{spec.name}"])

    # organs touching the liver
    spleen_sd = lambda p: np.maximum(_ellipsoid_sd(p, (97.0, 12.0, 8.0), (32.0, 58.0, 48.0)), cav(p))  # noqa: E731
    pt.paint("spleen", (60, -50, -45), (130, 75, 60), spleen_sd, hu["spleen"])
    stomach = lambda p: np.maximum(_ellipsoid_sd(p, (60.0, -35.0, -42.0), (42.0, 32.0, 40.0)), cav(p))  # noqa: E731
    pt.paint("stomach", (15, -70, -85), (105, 0, 0), stomach, hu["stomach_wall"])
    pt.paint("stomach_lumen", (20, -65, -80), (100, -5, -5),
             lambda p: _ellipsoid_sd(p, (60.0, -35.0, -42.0), (35.0, 25.0, 33.0)), hu["water"], sigma_mm=0.8, truth="keep")
    pt.paint("stomach_gas", (20, -65, -30), (100, -5, -5),
             lambda p: np.maximum(_ellipsoid_sd(p, (60.0, -35.0, -42.0), (35.0, 25.0, 33.0)), -(p[0] + 22.0)), -1000.0, sigma_mm=0.8, truth="keep")
    kidney = lambda p: _ellipsoid_sd(p, (-72.0, 58.0, -92.0), (30.0, 24.0, 44.0))  # noqa: E731
    pt.paint("kidney", (-105, 30, -140), (-40, 85, -45), kidney, hu["kidney"])
    pt.paint("kidney_left", (40, 30, -140), (105, 85, -45), lambda p: _ellipsoid_sd(p, (72.0, 58.0, -95.0), (30.0, 24.0, 44.0)), hu["kidney"], truth=False)
    pt.paint("gallbladder", (-50, -75, -95), (-10, -35, -30), lambda p: _ellipsoid_sd(p, (-30.0, -58.0, -62.0), (15.0, 14.0, 28.0)), hu["bile"])
    ivc = lambda p: np.maximum(np.hypot(p[2] + 25.0, p[1] - 66.0) - 12.0, p[0] - 60.0)  # noqa: E731
    pt.paint("ivc", (-37, 54, -1e3), (-13, 78, 60), ivc, hu["ivc"])
    pt.paint("aorta", (8, 43, -1e3), (32, 67, 100), lambda p: np.broadcast_to(np.hypot(p[2] - 20.0, p[1] - 55.0) - 12.0, np.broadcast_shapes(*[q.shape for q in p])), hu["aorta"], truth=False)
    # extrahepatic portal and splenic vein
    for a, b, r in ((hilum, (15.0, 35.0, -75.0), 7.0), ((15.0, 35.0, -75.0), (80.0, 25.0, -25.0), 5.0)):
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
        pt.paint("portal_out", lo, hi, lambda p, a=a, b=b, r=r: np.maximum(_segment_sd(p, a, b, r), -liver_sd(p)), hu["portal"], sigma_mm=0.8, truth=False)
    # a bowel loop under the liver and thin bridges of liver-like tissue
    bowel = lambda p: _ellipsoid_sd(p, (-55.0, -30.0, -112.0), (35.0, 25.0, 14.0))  # noqa: E731
    pt.paint("bowel", (-95, -60, -130), (-15, 0, -95), bowel, hu["bowel_wall"])
    pt.paint("bowel_lumen", (-90, -55, -125), (-20, -5, -100), lambda p: _ellipsoid_sd(p, (-55.0, -30.0, -112.0), (28.0, 18.0, 8.0)), hu["water"] + 20, sigma_mm=0.8, truth="keep")
    bridges = [((-60.0, -30.0, -84.0), (-60.0, -30.0, -100.0), 2.5), ((72.0, -20.0, 8.0), (88.0, -38.0, 8.0), 2.5)]
    for k, (a, b, r) in enumerate(bridges):
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
        pt.paint(f"bridge_{k}", lo, hi, lambda p, a=a, b=b, r=r: _segment_sd(p, a, b, r), hu["liver"] - 5.0, truth=False)

    # CT blur (in-plane σ 0.7 mm, along z 1 mm) and correlated noise
    out = ndi.gaussian_filter(pt.hu, [1.0 / sp[0], 0.7 / sp[1], 0.7 / sp[2]])
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.normal(0.0, 1.0, out.shape).astype(np.float32), [0.5, 0.8 / sp[1], 0.8 / sp[2]])
    noise *= NOISE_HU[phase] / max(float(noise.std()), 1e-6)
    out += noise
    affine = affine_from_geometry(origin, sp)
    ct = Volume(np.round(out).astype(np.int16), affine, frame_of_reference_uid="1.2.826.0.1.3680043.8.498.2",
                modality="CT", units=Unit.HU)
    lesion_truth = {name: pt.mask(f"lesion_{name}") for name in specs}
    liver = pt.mask("liver")
    for m in lesion_truth.values():
        liver |= m
    truth = {
        "liver": liver,
        "spleen": pt.mask("spleen"),
        "stomach": pt.mask("stomach"),
        "ivc": pt.mask("ivc"),
        "heart": pt.mask("heart"),
        "kidney": pt.mask("kidney"),
        "bowel": pt.mask("bowel"),
        "gallbladder": pt.mask("gallbladder"),
        "lungs": pt.mask("lungs"),
        "body": _body_truth(pt),
    }
    return RealisticCT(ct=ct, phase=phase, truth=truth, lesions=lesion_truth, specs=specs,
                       liver_seed=(-80.0, 20.0, 30.0))


def _body_truth(pt: _Painter) -> np.ndarray:
    z, y, x = pt.coords(tuple(slice(0, n) for n in pt.shape))
    inside = ((x / 150.0) ** 2 + ((y - 5.0) / 112.0) ** 2) <= 1.0
    return np.broadcast_to(inside, pt.shape).copy()
