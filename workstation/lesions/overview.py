"""Per-lesion overview on any CT with liver and lesion masks (the ``workstation lesions`` command).

For each lesion (a label value, or a 26-connected component of a binary mask):

* **Longest axial diameter and short axis** (RECIST 1.1, Eisenhauer et al. 2009;
  mRECIST, Lencioni & Llovet 2010): in each axial slice the largest distance
  between two lesion voxels (Feret diameter of the voxel centres, plus the
  voxel's extent along that direction, which removes the half-voxel lost at
  each end), and the extent perpendicular to it in the same slice; the slice
  with the longest diameter is reported.
* **Volume** (mL): voxel count x voxel volume.
* **Distances** (mm, from the lesion's surface, 0 when touching): to the liver
  capsule (the liver mask's surface), to the dome (the liver's upper envelope,
  its diaphragmatic surface), to the nearest large vessel (>= 3 mm: a vessel
  mask given, or segmented on a contrast CT), and to the hilum (a landmark
  point, or estimated). Surfaces and point-to-surface distances come from
  :func:`workstation.ablation.analyse_margins`, the project's sub-voxel surface
  code (the other mask in the role of the ablation zone).
* **Couinaud segment estimate** from landmarks (see :class:`HepaticLandmarks`).
* **Hepatic tumour burden**: lesion volume inside the liver over the liver volume (%).

Each number is set against the published criteria of
:mod:`workstation.lesions.constants` as a fact; there is no recommendation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from workstation import __version__
from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.outputs import report_or_summary
from workstation.core.volume import Unit, Volume
from workstation.lesions import constants as K

__all__ = [
    "HepaticLandmarks",
    "LesionOverview",
    "axial_diameters",
    "couinaud_segment",
    "lesion_overview",
    "run_lesions",
    "segment_large_vessels",
]

_CONN = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class HepaticLandmarks:
    """Points (LPS mm) that fix the Couinaud planes and the hilum.

    Attributes
    ----------
    ivc:
        A point on the inferior vena cava axis at the hepatic vein confluence.
    portal_bifurcation:
        The bifurcation of the main portal vein (the hilum).
    right_hepatic_vein, middle_hepatic_vein, left_hepatic_vein:
        A distal point on each hepatic vein.

    Notes
    -----
    The planes (Couinaud 1957; Bismuth, World J Surg 6:3-9, 1982) are taken as
    vertical planes through the IVC axis and each hepatic vein's distal point
    (right: anterior 5/8 vs posterior 6/7; middle: right vs left liver; left:
    medial 4 vs lateral 2/3) and the horizontal plane through the portal
    bifurcation (superior 2/4a/7/8 vs inferior 3/4b/5/6). Real planes are curved
    and the left lateral 2/3 border follows the left portal vein, not this
    plane; the caudate lobe (1) cannot be separated by planes and is only
    flagged. Segment estimates near a plane (< 10 mm) are marked uncertain.
    """

    ivc: tuple[float, float, float] | None = None
    portal_bifurcation: tuple[float, float, float] | None = None
    right_hepatic_vein: tuple[float, float, float] | None = None
    middle_hepatic_vein: tuple[float, float, float] | None = None
    left_hepatic_vein: tuple[float, float, float] | None = None

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> HepaticLandmarks:
        """Read ``{"ivc": [x, y, z], "portal_bifurcation": [...], ...}`` (LPS mm)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"The landmarks file {p} cannot be read as JSON ({exc}).") from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"The landmarks file {p} must hold a JSON object of named points.")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(f"The landmarks file {p} has unknown names {sorted(unknown)}; known: {sorted(known)}.")
        out: dict[str, tuple[float, float, float]] = {}
        for name, value in data.items():
            arr = np.asarray(value, dtype=float) if isinstance(value, list) else np.array([])
            if arr.shape != (3,) or not np.all(np.isfinite(arr)):
                raise InvalidInputError(f"The landmark {name!r} in {p} must be three numbers (LPS mm).")
            out[name] = (float(arr[0]), float(arr[1]), float(arr[2]))
        return cls(**out)


@dataclass
class LesionOverview:
    """What :func:`lesion_overview` computes.

    Attributes
    ----------
    results:
        The ``results.json`` dictionary of ``workstation lesions``.
    lesions:
        Label volume of the lesions (CT grid).
    vessels:
        The large-vessel mask used (CT grid), or None.
    """

    results: dict[str, Any]
    lesions: Volume
    vessels: Volume | None = None
    liver: Volume | None = None
    surfaces: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ helpers
def _bool_on(mask: Volume, ct: Volume, what: str) -> np.ndarray:
    if not mask.same_grid(ct):
        mask = mask.resample_to(ct, interpolation="nearest", fill_value=0)
    arr = np.asarray(mask.array)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"The {what} mask {mask.metadata.source_path or ''} contains NaN values.")
        return arr >= 0.5
    return arr != 0


def _labels(lesions: Volume, ct: Volume) -> np.ndarray:
    les = lesions if lesions.same_grid(ct) else lesions.resample_to(ct, interpolation="nearest", fill_value=0)
    arr = np.asarray(les.array)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"The lesion mask {lesions.metadata.source_path or ''} contains NaN values.")
        arr = np.where(arr == np.round(arr), arr, arr >= 0.5)
    if arr.min() < 0:
        raise InvalidInputError(f"The lesion mask {lesions.metadata.source_path or ''} has negative values.")
    values = np.unique(arr[arr != 0])
    if values.size == 0:
        raise EmptyMaskError(f"The lesion mask {lesions.metadata.source_path or ''} has no voxel on the CT.")
    if values.size > 255:
        raise InvalidInputError(f"The lesion mask {lesions.metadata.source_path or ''} has {values.size} values; "
                                "it looks like an image, not a label mask.")
    if values.size == 1:
        lab, _ = ndi.label(arr != 0, structure=_CONN)
        return lab.astype(np.int32)
    return arr.astype(np.int32)


def axial_diameters(mask: np.ndarray, volume: Volume, voxel_correction: float = 0.5) -> dict[str, Any]:
    """Longest axial diameter and perpendicular short axis of one lesion mask (mm).

    Parameters
    ----------
    mask:
        Boolean lesion mask on ``volume``'s grid.
    volume:
        The grid (axis 0 must be within 10 degrees of the patient's z axis).

    Returns
    -------
    dict
        ``longest_diameter_mm``, ``short_axis_mm``, ``slice_index``, ``slice_z_mm``,
        ``long_axis_ends_lps_mm`` (the two voxel centres, before the voxel correction).
    """
    from scipy.spatial import ConvexHull, QhullError

    direction = volume.direction
    if abs(direction[2, 0]) < np.cos(np.radians(10.0)):
        raise InvalidInputError("Axial diameters need an image whose slices are axial (within 10 degrees).")
    spacing = volume.spacing_mm
    e_row, e_col = direction[:, 1], direction[:, 2]
    best: dict[str, Any] = {"longest_diameter_mm": 0.0}
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        jj, ii = np.nonzero(mask[k])
        pts = np.stack([jj * spacing[1], ii * spacing[2]], axis=-1).astype(float)  # in-plane mm (rows, cols)
        if len(pts) >= 3:
            try:
                hull = pts[ConvexHull(pts).vertices]
            except QhullError:  # collinear points
                hull = pts
        else:
            hull = pts
        d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
        a, b = np.unravel_index(int(np.argmax(d)), d.shape)
        vec = hull[b] - hull[a]
        length = float(np.linalg.norm(vec))
        u = vec / length if length > 0 else np.array([1.0, 0.0])
        # voxel extent along u (a rectangle of spacing[1] x spacing[2] projected on u)
        long_mm = length + voxel_correction * (abs(u[0]) * spacing[1] + abs(u[1]) * spacing[2])
        if long_mm <= best["longest_diameter_mm"]:
            continue
        perp = np.array([-u[1], u[0]])
        proj = pts @ perp
        short_mm = float(proj.max() - proj.min()) + voxel_correction * (
            abs(perp[0]) * spacing[1] + abs(perp[1]) * spacing[2])
        ends_idx = [np.array([k, p[0] / spacing[1], p[1] / spacing[2]]) for p in (hull[a], hull[b])]
        best = {
            "longest_diameter_mm": long_mm,
            "short_axis_mm": short_mm,
            "slice_index": int(k),
            "slice_z_mm": float(volume.index_to_world([k, 0, 0])[2]),
            "long_axis_ends_lps_mm": [[round(float(c), 2) for c in volume.index_to_world(e)] for e in ends_idx],
        }
    _ = (e_row, e_col)
    return best


def segment_large_vessels(
    ct: Volume, liver: np.ndarray, lesions: np.ndarray,
    min_diameter_mm: float = K.LARGE_VESSEL_MIN_DIAMETER_MM,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Intrahepatic vessels at least ``min_diameter_mm`` wide on a contrast-enhanced CT.

    Voxels of the liver (lesions and 2 mm around them removed) brighter than the
    parenchyma by :data:`~workstation.lesions.constants.VESSEL_MIN_CONTRAST_HU`
    after a 1-voxel Gaussian, opened by a ball of half the minimum diameter
    (keeps the parts at least that wide), components under 0.05 mL removed.

    Returns
    -------
    mask, info:
        Boolean mask on the CT grid (None on an unenhanced CT) and what was done.
    """
    hu = ct.array.astype(np.float32)
    values = hu[liver & ~lesions]
    if values.size < 100:
        raise EmptyMaskError("The liver mask leaves fewer than 100 parenchyma voxels outside the lesions.")
    bg = float(np.median(values))
    if bg <= K.CONTRAST_ENHANCED_LIVER_HU:
        return None, {"segmented": False, "liver_background_hu": round(bg, 1),
                      "reason": f"the liver measures {bg:.0f} HU (unenhanced); vessels are not segmented"}
    spacing = ct.spacing_mm
    smooth = ndi.gaussian_filter(hu, 1.0, mode="nearest", truncate=2.0)
    near_lesion = ndi.distance_transform_edt(~lesions, sampling=spacing) <= 2.0
    cand = liver & ~near_lesion & (smooth > bg + K.VESSEL_MIN_CONTRAST_HU)
    r = min_diameter_mm / 2.0
    centres = ndi.distance_transform_edt(cand, sampling=spacing) >= r
    opened = (ndi.distance_transform_edt(~centres, sampling=spacing) <= r) & cand if centres.any() else centres
    lab, n = ndi.label(opened, structure=_CONN)
    if n:
        sizes = np.bincount(lab.ravel()) * ct.voxel_volume_ml
        keep = sizes >= 0.05
        keep[0] = False
        opened = keep[lab]
    return opened, {"segmented": True, "liver_background_hu": round(bg, 1),
                    "threshold_hu": round(bg + K.VESSEL_MIN_CONTRAST_HU, 1),
                    "min_diameter_mm": min_diameter_mm,
                    "volume_ml": round(float(opened.sum() * ct.voxel_volume_ml), 2)}


def _large_only(vessels: np.ndarray, spacing: np.ndarray, min_diameter_mm: float) -> np.ndarray:
    r = min_diameter_mm / 2.0
    centres = ndi.distance_transform_edt(vessels, sampling=spacing) >= r - 1e-6
    if not centres.any():
        return centres
    return (ndi.distance_transform_edt(~centres, sampling=spacing) <= r + 1e-6) & vessels


def _roof_mask(liver: np.ndarray, ct: Volume) -> np.ndarray:
    """Everything below the liver's upper envelope, the envelope extended beyond the liver's footprint."""
    z_of_k = ct.index_to_world(np.stack([np.arange(ct.shape[0]), np.zeros(ct.shape[0]), np.zeros(ct.shape[0])],
                                        axis=-1))[:, 2]
    zk = np.broadcast_to(z_of_k[:, None, None], liver.shape)
    top = np.where(liver, zk, -np.inf).max(axis=0)
    has = np.isfinite(top)
    _, idx = ndi.distance_transform_edt(~has, sampling=ct.spacing_mm[1:], return_indices=True)
    top = top[idx[0], idx[1]]
    return zk <= top[None, :, :] + 1e-6


def _margins(lesions: Volume, other: np.ndarray, ct: Volume, limit_mm: float) -> dict[int, Any]:
    """analyse_margins of every lesion against ``other``: label → TumorSurface."""
    from workstation.ablation import analyse_margins

    zone = ct.copy_with(array=other.astype(np.uint8), units=Unit.LABEL, label_names={1: "other"}, modality=None)
    values = [int(v) for v in np.unique(lesions.array) if v]
    les = lesions if len(values) > 1 else lesions.copy_with(array=(lesions.array != 0).astype(np.uint8))
    analysis = analyse_margins(les, zone, coverage_radii_mm=(0.0,), margin_limit_mm=limit_mm,
                               binary_surface="constrained")
    if len(values) == 1:
        return {values[0]: analysis.surfaces[0]} if analysis.surfaces else {}
    return {s.label: s for s in analysis.surfaces}


def _distance(surface: Any, limit_mm: float, inside_positive: bool) -> tuple[float | None, list[float] | None]:
    """Distance (mm) from a lesion surface to the other surface: 0 when they touch or overlap."""
    m = np.asarray(surface.margin_mm)
    if inside_positive:  # the lesion lies inside the other mask (liver, roof): the distance is the smallest margin
        i = int(np.argmin(m))
        value = max(0.0, float(m[i]))
    else:  # the other mask lies outside the lesion (vessels): the distance is minus the largest margin
        i = int(np.argmax(m))
        value = max(0.0, -float(m[i]))
    if value >= limit_mm - 1e-6:
        return None, None
    return value, [round(float(c), 2) for c in surface.vertices_lps_mm[i]]


def couinaud_segment(point_lps_mm: Any, lm: HepaticLandmarks) -> dict[str, Any]:
    """Couinaud segment estimate of a point from landmarks (see :class:`HepaticLandmarks`).

    Returns
    -------
    dict
        ``segment`` (e.g. ``"7"``, ``"4a"``, ``"right liver (5-8)"`` when only some
        planes are known, None without the IVC, middle hepatic vein and portal
        bifurcation), ``uncertain`` (within 10 mm of a plane), ``caudate_region``.
    """
    if lm.ivc is None or lm.middle_hepatic_vein is None or lm.portal_bifurcation is None:
        return {"segment": None, "uncertain": None, "caudate_region": None,
                "reason": "needs the IVC, middle hepatic vein and portal bifurcation landmarks"}
    p = np.asarray(point_lps_mm, dtype=float)
    ivc = np.asarray(lm.ivc, dtype=float)

    def side(vein: tuple[float, float, float], q: np.ndarray) -> float:
        """Signed in-plane distance (mm) of q from the vertical plane through the IVC and the vein."""
        d = np.asarray(vein[:2]) - ivc[:2]
        n = np.array([-d[1], d[0]]) / np.linalg.norm(d)
        return float((q[:2] - ivc[:2]) @ n)

    near: list[float] = []
    mid = side(lm.middle_hepatic_vein, p)
    right_ref = side(lm.middle_hepatic_vein, ivc + np.array([-100.0, 0.0, 0.0]))  # patient's right = -x
    near.append(abs(mid))
    superior = p[2] >= lm.portal_bifurcation[2]
    near.append(abs(p[2] - lm.portal_bifurcation[2]))
    if mid * right_ref > 0:  # right liver
        if lm.right_hepatic_vein is None:
            segment = "right liver (7/8 superior)" if superior else "right liver (5/6 inferior)"
        else:
            s = side(lm.right_hepatic_vein, p)
            anterior_ref = side(lm.right_hepatic_vein, np.asarray(lm.middle_hepatic_vein, dtype=float))
            near.append(abs(s))
            anterior = s * anterior_ref > 0
            segment = ("8" if superior else "5") if anterior else ("7" if superior else "6")
    else:
        if lm.left_hepatic_vein is None:
            segment = "left liver (2-4)"
        else:
            s = side(lm.left_hepatic_vein, p)
            medial_ref = side(lm.left_hepatic_vein, np.asarray(lm.middle_hepatic_vein, dtype=float))
            near.append(abs(s))
            medial = s * medial_ref > 0
            segment = ("4a" if superior else "4b") if medial else ("2" if superior else "3")
    pb = np.asarray(lm.portal_bifurcation, dtype=float)
    caudate = bool(pb[1] < p[1] < ivc[1] + 10.0 and np.linalg.norm(p[:2] - ivc[:2]) < 35.0
                   and abs(p[2] - pb[2]) < 40.0)
    return {"segment": segment, "uncertain": bool(min(near) < 10.0), "caudate_region": caudate,
            "nearest_plane_mm": round(float(min(near)), 1)}


def _facts(rec: dict[str, Any], burden: float) -> list[dict[str, Any]]:
    out = []
    for c in K.CRITERIA:
        value = burden if c.quantity == "tumour_burden_percent" else rec.get(c.quantity)
        if value is None:
            continue
        if c.key == "heat_sink":
            relation = "in contact with a large vessel" if value <= 0.0 else f"{value:.1f} mm from the nearest large vessel"
        elif c.quantity == "capsule_distance_mm":
            relation = "within" if value <= c.threshold else "beyond"
            relation = f"{value:.1f} mm from the capsule ({relation} {c.threshold:g} mm)"
        else:
            relation = "at most" if value <= c.threshold else "above"
            relation = f"{value:.1f} ({relation} {c.threshold:g})"
        out.append({"criterion": c.key, "value": round(float(value), 2), "relation": relation,
                    "statement": c.statement, "source": c.source})
    return out


# ------------------------------------------------------------------ main
def lesion_overview(
    ct: Volume,
    liver: Volume,
    lesions: Volume,
    vessels: Volume | None = None,
    landmarks: HepaticLandmarks | None = None,
    segment_vessels: bool = True,
) -> LesionOverview:
    """Per-lesion size, location, distances and the hepatic tumour burden.

    Parameters
    ----------
    ct:
        The CT (HU); any axial grid.
    liver, lesions:
        Masks on any overlapping grid (nearest-neighbour resampled onto the CT).
        Lesions: a label image (one lesion per value) or a binary mask (one per
        26-connected component).
    vessels:
        A vessel mask; its parts at least 3 mm wide are the large vessels. Without
        it, vessels are segmented on a contrast-enhanced CT (``segment_vessels``).
    landmarks:
        Points for the hilum and the Couinaud planes.

    Returns
    -------
    LesionOverview
    """
    if ct.is_label() or ct.modality not in (None, "CT") or ct.units not in (Unit.HU, Unit.UNKNOWN):
        raise InvalidInputError(f"The image {ct.metadata.source_path or ''} is not a CT in HU.")
    if not np.all(np.isfinite(ct.array)):
        raise InvalidInputError(f"The CT {ct.metadata.source_path or ''} contains NaN or infinite values.")
    liver_m = _bool_on(liver, ct, "liver")
    if not liver_m.any():
        raise EmptyMaskError(f"The liver mask {liver.metadata.source_path or ''} has no voxel on the CT.")
    labels = _labels(lesions, ct)
    # Work in the box of the liver and the lesions: the capsule and segmented vessels lie inside it,
    # a given vessel mask may lie up to the distance limit outside it. The dome (the liver's upper
    # envelope, extended to the image's edges) is measured on the whole grid.
    full_ct, liver_full, labels_full = ct, liver_m, labels
    reach_mm = K.DISTANCE_LIMIT_MM if vessels is not None else 0.0
    margin = np.ceil(reach_mm / ct.spacing_mm).astype(int) + 3
    box = ct.copy_with(array=liver_m | (labels != 0)).nonzero_box(margin_voxels=margin)
    assert box is not None
    ct, liver_m, labels = ct.crop(box), liver_m[box], labels[box]
    lesion_vol = ct.copy_with(array=labels.astype(np.uint8 if labels.max() < 256 else np.uint16), units=Unit.LABEL,
                              modality=None, label_names={int(v): f"lesion {int(v)}" for v in np.unique(labels) if v})
    any_lesion = labels != 0
    spacing = ct.spacing_mm
    warnings: list[str] = []
    v_ml = ct.voxel_volume_ml

    vessel_info: dict[str, Any]
    if vessels is not None:
        given = _bool_on(vessels, ct, "vessel")
        large = _large_only(given & ~any_lesion, spacing, K.LARGE_VESSEL_MIN_DIAMETER_MM)
        vessel_info = {"source": vessels.metadata.source_path or "given mask", "segmented": False,
                       "min_diameter_mm": K.LARGE_VESSEL_MIN_DIAMETER_MM,
                       "volume_ml": round(float(large.sum() * v_ml), 2)}
    elif segment_vessels:
        large_or_none, vessel_info = segment_large_vessels(ct, liver_m, any_lesion)
        large = large_or_none if large_or_none is not None else np.zeros(ct.shape, bool)
        if large_or_none is None:
            warnings.append("Unenhanced CT and no vessel mask: the distance to large vessels is not measured "
                            "(give --vessels).")
    else:
        large = np.zeros(ct.shape, bool)
        vessel_info = {"segmented": False, "reason": "not requested"}
    limit = K.DISTANCE_LIMIT_MM
    capsule = _margins(lesion_vol, liver_m, ct, limit)
    roof = _roof_mask(liver_full, full_ct) if abs(ct.direction[2, 0]) > 0.98 else None
    dome = (_margins(full_ct.copy_with(array=labels_full.astype(lesion_vol.array.dtype), units=Unit.LABEL,
                                       modality=None, label_names=dict(lesion_vol.label_names)),
                     roof, full_ct, limit) if roof is not None else {})
    near_vessel = _margins(lesion_vol, large, ct, limit) if large.any() else {}

    hilum = None if landmarks is None or landmarks.portal_bifurcation is None else np.asarray(landmarks.portal_bifurcation)
    hilum_source = "landmark (portal bifurcation)" if hilum is not None else None
    if hilum is None and large.any():
        edt = ndi.distance_transform_edt(large & liver_m, sampling=spacing)
        if edt.max() > 0:
            hilum = ct.index_to_world(np.array(np.unravel_index(int(np.argmax(edt)), edt.shape), dtype=float))
            hilum_source = ("estimated: centre of the widest intrahepatic vessel (the portal trunk at the hilum "
                            "on most scans); about 1-3 cm uncertain")
    liver_ml = float(liver_m.sum() * v_ml)
    burden = 100.0 * float((any_lesion & liver_m).sum() * v_ml) / liver_ml

    records = []
    for value in sorted(int(v) for v in np.unique(labels) if v):
        m = labels == value
        rec: dict[str, Any] = {"label": value, "volume_ml": round(float(m.sum() * v_ml), 4),
                               "centroid_lps_mm": [round(float(c), 2) for c in ct.index_to_world(np.argwhere(m).mean(axis=0))]}
        try:
            rec.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in axial_diameters(m, ct).items()})
        except InvalidInputError as exc:
            warnings.append(str(exc))
        rec["inside_liver_fraction"] = round(float(liver_m[m].mean()), 4)
        surf = capsule.get(value)
        rec["capsule_distance_mm"], rec["capsule_nearest_lps_mm"] = (
            _distance(surf, limit, True) if surf is not None else (None, None))
        if value in dome:
            rec["dome_distance_mm"], rec["dome_nearest_lps_mm"] = _distance(dome[value], limit, True)
        else:
            rec["dome_distance_mm"], rec["dome_nearest_lps_mm"] = None, None
        if value in near_vessel:
            rec["vessel_distance_mm"], rec["vessel_nearest_lps_mm"] = _distance(near_vessel[value], limit, False)
        else:
            rec["vessel_distance_mm"], rec["vessel_nearest_lps_mm"] = None, None
        if hilum is not None and surf is not None:
            inside_h = bool(m[tuple(np.clip(np.round(ct.world_to_index(hilum)).astype(int), 0, np.array(ct.shape) - 1))])
            d = 0.0 if inside_h else float(np.linalg.norm(surf.vertices_lps_mm - hilum, axis=1).min())
            rec["hilum_distance_mm"] = round(d, 2)
        else:
            rec["hilum_distance_mm"] = None
        for key in ("capsule_distance_mm", "dome_distance_mm", "vessel_distance_mm"):
            if rec[key] is not None:
                rec[key] = round(rec[key], 2)
        rec["couinaud"] = couinaud_segment(rec["centroid_lps_mm"], landmarks) if landmarks else {
            "segment": None, "reason": "no landmarks given"}
        rec["facts"] = _facts(rec, burden)
        records.append(rec)
        if rec["inside_liver_fraction"] < 0.5:
            warnings.append(f"Lesion {value}: less than half of it lies inside the liver mask.")
    n_large = sum(1 for r in records if r.get("longest_diameter_mm", 0) > 30.0)
    results: dict[str, Any] = {
        "workstation_version": __version__,
        "lesion_count": len(records),
        "lesions": records,
        "liver_volume_ml": round(liver_ml, 2),
        "tumour_volume_ml": round(float((any_lesion & liver_m).sum() * v_ml), 3),
        "tumour_burden_percent": round(burden, 3),
        "largest_diameter_mm": max((r.get("longest_diameter_mm", 0.0) for r in records), default=None),
        "sum_of_diameters_mm": round(sum(r.get("longest_diameter_mm", 0.0) for r in records), 2),
        "lesions_over_30_mm": n_large,
        "vessels": vessel_info,
        "hilum": {"lps_mm": None if hilum is None else [round(float(c), 2) for c in hilum], "source": hilum_source},
        "landmarks": None if landmarks is None else {k: v for k, v in landmarks.__dict__.items()},
        "definitions": {
            "longest_diameter_mm": "largest in-plane distance between lesion voxels in one axial slice plus one "
            "voxel extent along it (RECIST 1.1 axial plane), the slice with the largest value",
            "short_axis_mm": "extent perpendicular to the long axis in the same slice (plus one voxel)",
            "capsule_distance_mm": "smallest distance from the lesion surface to the liver surface (0: touching)",
            "dome_distance_mm": "smallest distance from the lesion surface to the liver's upper envelope (the "
            "diaphragmatic surface, the dome)",
            "vessel_distance_mm": f"smallest distance to a vessel at least {K.LARGE_VESSEL_MIN_DIAMETER_MM:g} mm wide",
            "hilum_distance_mm": "smallest distance from the lesion surface to the hilum point",
            "tumour_burden_percent": "lesion volume inside the liver / liver volume (lesions included) x 100",
            "distance_limit_mm": f"distances beyond {limit:g} mm are reported as null",
            "surfaces": "sub-voxel surfaces and distances of workstation.ablation.analyse_margins",
        },
        "criteria": K.criteria_block(),
        "note": "Facts against published criteria; no treatment recommendation.",
        "warnings": warnings,
    }
    def on_ct(mask: np.ndarray, names: dict[int, str]) -> Volume:
        """A mask of the working box back on the whole CT grid."""
        whole = np.zeros(full_ct.shape, mask.dtype)
        whole[box] = mask
        return full_ct.copy_with(array=whole, units=Unit.LABEL, modality=None, label_names=names)

    vessel_vol = on_ct(large.astype(np.uint8), {1: "large vessels"}) if large.any() else None
    liver_vol = on_ct(liver_m.astype(np.uint8), {1: "liver"})
    lesion_vol = on_ct(lesion_vol.array, dict(lesion_vol.label_names))
    return LesionOverview(results, lesion_vol, vessel_vol, liver_vol, {"capsule": capsule})


#: Renders the lesion report: ``(overview, ct, title) -> (html, pdf bytes or None)``.
def run_lesions(
    ct: str | os.PathLike[str],
    liver: str,
    lesions: str,
    out_dir: str | os.PathLike[str],
    vessels: str | None = None,
    landmarks: str | os.PathLike[str] | None = None,
    series: str | None = None,
    report_renderer: Any | None = None,
) -> dict[str, Any]:
    """Read the inputs, run :func:`lesion_overview`, write ``results.json``, the lesion labels and the report."""
    from workstation.io import (
        atomic_directory,
        ensure_not_input,
        read_image,
        read_mask,
        write_image,
    )

    out = Path(out_dir)
    ensure_not_input(out, ct, liver.split("#")[0], lesions.split("#")[0],
                     None if vessels is None else vessels.split("#")[0], landmarks)
    image = read_image(ct, series=series)
    liver_vol = read_mask(liver, reference=image)
    liver_vol.metadata.source_path = str(liver)
    lesion_vol = read_mask(lesions, reference=image)
    lesion_vol.metadata.source_path = str(lesions)
    vessel_vol = None
    if vessels is not None:
        vessel_vol = read_mask(vessels, reference=image)
        vessel_vol.metadata.source_path = str(vessels)
    lm = HepaticLandmarks.from_json(landmarks) if landmarks is not None else None
    overview = lesion_overview(image, liver_vol, lesion_vol, vessel_vol, lm)
    results = overview.results
    results["inputs"] = {"ct": str(ct), "liver": liver, "lesions": lesions, "vessels": vessels,
                         "landmarks": None if landmarks is None else str(landmarks)}
    render = None if report_renderer is None else (lambda: report_renderer(overview, image, "Lesion overview"))
    html, pdf, note = report_or_summary(render)  # no minimal summary: results.json is the summary
    results["report"] = note
    with atomic_directory(out) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        write_image(overview.lesions, tmp / "lesions.nii.gz")
        if overview.vessels is not None:
            write_image(overview.vessels, tmp / "large_vessels.nii.gz")
        if html is not None:
            (tmp / "report.html").write_text(html, encoding="utf-8")
        if pdf is not None:
            (tmp / "report.pdf").write_bytes(pdf)
    return results
