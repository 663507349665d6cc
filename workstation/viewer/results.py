"""Therapy results as layers: ``rt-dose``, ``combine``, ``tace``, ``lesions`` (and ``sirt``, ``margin``) outputs.

:func:`read_results` recognises an output folder of the command line by its
``results.json`` and files and reads its volumes; :func:`result_layers` turns them
into napari layers (``LayerData``), following the viewer's conventions (names end
with the unit, colour bars titled, masks outlined, images below the overlays):

* **rt-dose / combine**: every dose as a dose wash (Gy), those of one quantity on one
  colour scale (the EQD2 of each treatment and of the sum: their highest value), so
  that a part and the sum compare by colour;
  one shown at a time (the physical dose of ``rt-dose``, the EQD2 sum of
  ``combine``), isodose lines at the prescription and half of it, the structures
  of the RT Structure Set outlined when it can still be read;
* **tace**: the lipiodol density above the liver (inferno, 0–600 HU, transparent at 0),
  the deposits outlined in yellow, the uncovered tumour (gaps) in cyan, the
  rejected hyperdensities in grey, the tumours outlined;
* **lesions**: lesions outlined, large vessels, each long axis as a line on its
  slice with its length, and as markers: the point of each lesion's surface
  nearest to the capsule, the dome and a large vessel (``<structure>_nearest_lps_mm``
  of ``results.json``: on the lesion, where the distance is measured from) with the
  distance, and the hilum.

The same layer builders serve the dock widgets (:mod:`workstation.viewer.therapy`),
which compute the results in the viewer.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.core.volume import Unit, Volume
from workstation.viewer._colormaps import OUTLINE_COLORS
from workstation.viewer.layers import (
    LayerData,
    dose_layer,
    isodose_layer,
    labels_layer,
    margin_layer,
)
from workstation.viewer.overlay_layers import lines_layer, map_layer, markers_layer

__all__ = [
    "LESION_POINT_COLORS",
    "LIPIODOL_DENSITY_LIMITS_HU",
    "RESULT_KINDS",
    "TherapyResults",
    "dose_display_name",
    "focus_point_lps",
    "lesion_layers",
    "read_results",
    "result_layers",
    "rt_dose_layers",
    "structure_layers",
    "tace_layers",
]

#: Output folders :func:`read_results` recognises (the command that wrote them).
RESULT_KINDS = ("rt-dose", "combine", "tace", "lesions", "sirt", "margin")

#: Colour scale of the lipiodol density (HU above the liver background). Deposits
#: measure a few hundred HU above the liver: the sample study's 220–520 HU, dense
#: retention from 365 HU absolute (workstation.tace.constants.DENSE_RETENTION_HU);
#: 600 HU keeps dense deposits distinguishable before the scale saturates. A display
#: choice, not a threshold: the deposits are the segmentation's.
LIPIODOL_DENSITY_LIMITS_HU = (0.0, 600.0)

#: Display colours (RGB 0–1) of the TACE overlays.
LIPIODOL_COLOR = (1.0, 0.9, 0.0)  # yellow outline of the deposits
GAP_COLOR = (0.0, 0.9, 1.0)  # cyan: tumour without lipiodol
EXCLUDED_COLOR = (0.6, 0.6, 0.6)  # grey: bright, but not lipiodol
#: Opacity of the filled gap and rejected-object labels (the CT shows through).
FILLED_OPACITY = 0.55

#: Marker colours of the nearest points of the lesion overview (RGB 0–1).
LESION_POINT_COLORS: dict[str, tuple[float, float, float]] = {
    "capsule": (0.55, 1.0, 0.35),  # green
    "dome": (0.3, 0.75, 1.0),  # sky blue
    "vessel": (1.0, 0.45, 0.2),  # orange
    "hilum": (1.0, 0.0, 1.0),  # magenta
}
LONG_AXIS_COLOR = (1.0, 0.9, 0.0)
VESSEL_COLOR = (0.25, 0.45, 1.0)

#: Isodose lines of an rt-dose result: these fractions of the prescription.
PRESCRIPTION_ISODOSE_FRACTIONS = (0.5, 1.0)


@dataclass
class TherapyResults:
    """An output folder of ``rt-dose``, ``combine``, ``tace``, ``lesions``, ``sirt`` or ``margin``.

    Attributes
    ----------
    kind:
        One of :data:`RESULT_KINDS`.
    directory:
        The folder.
    results:
        Its ``results.json``.
    volumes:
        The volumes read from it, by role: doses by their key (``dose``, ``eqd2``,
        ``eqd2_total``, ``eqd2_<name>``, ``dose_<method>``); ``lipiodol``,
        ``density``, ``excluded``, ``tumors``, ``gaps`` (tace); ``lesions``,
        ``vessels``, ``liver`` (lesions); ``margin`` (margin).
    ct_path:
        The CT the results were computed on, when its path (``results.json``
        inputs) still leads to it; else None.
    structures_path:
        The RT Structure Set of an rt-dose or combine result, when it can still be found.
    dvh_rows:
        ``(quantity, roi, dose_gy, volume_percent)`` of ``dvh.csv``.
    notes:
        What could not be shown, in one sentence each.
    """

    kind: str
    directory: Path
    results: dict[str, Any]
    volumes: dict[str, Volume] = field(default_factory=dict)
    ct_path: Path | None = None
    structures_path: Path | None = None
    dvh_rows: list[tuple[str, str, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The folder's name: the prefix of its layer names."""
        return self.directory.name or str(self.directory)

    @property
    def reference(self) -> Volume:
        """The grid of the results (the first volume)."""
        return next(iter(self.volumes.values()))


# ------------------------------------------------------------------ reading
def _kind_of(directory: Path, results: Mapping[str, Any]) -> str | None:
    files = {p.name for p in directory.iterdir()}
    if "eqd2_total.nii.gz" in files and "treatments" in results:
        return "combine"
    if "dose.nii.gz" in files and "prescription_gy" in results:
        return "rt-dose"
    if "lipiodol.nii.gz" in files and "tumors" in results:
        return "tace"
    if "lesions.nii.gz" in files and "lesion_count" in results:
        return "lesions"
    if any(f.startswith("dose_") and f.endswith(".nii.gz") for f in files) and "methods" in results:
        return "sirt"
    if "margin_map.nii.gz" in files:
        return "margin"
    return None


def _find_input(path: str | None, directory: Path) -> Path | None:
    """An input path of ``results.json``: as written (relative to where the command ran), else
    relative to the results folder's parents (the command ran there); None when it is gone."""
    if not path:
        return None
    p = Path(str(path).split("#", 1)[0])
    candidates = [p] if p.is_absolute() else [p, *(parent / p for parent in list(directory.resolve().parents)[:3])]
    return next((c for c in candidates if c.exists()), None)


def _inputs(results: Mapping[str, Any]) -> dict[str, str]:
    """``results["inputs"]`` as role -> path (rt-dose and combine write a list of {role, path})."""
    raw = results.get("inputs")
    if isinstance(raw, list):
        return {str(item.get("role")): str(item.get("path")) for item in raw if isinstance(item, dict)}
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items() if v is not None}
    return {}


def _read(path: Path, units: Unit) -> Volume:
    from workstation.io import read_image

    vol = read_image(path, units=units.value) if units in (Unit.GY, Unit.MM, Unit.HU) else read_image(path)
    vol.units = units
    return vol


def _labels_from(vol: Volume, names: Mapping[int, str]) -> Volume:
    arr = np.asarray(vol.array)
    if arr.dtype.kind == "f":
        arr = np.rint(arr).astype(np.int32)
    values = [int(v) for v in np.unique(arr) if v != 0]
    return vol.copy_with(array=arr, units=Unit.LABEL, label_names={v: names.get(v, f"label {v}") for v in values})


def gaps_volume(lipiodol: Volume, tumors: Volume) -> Volume:
    """Uncovered tumour voxels as labels (value = tumour label), as ``TaceAnalysis.gaps()``."""
    gap = np.where(np.asarray(lipiodol.array) == 0, np.asarray(tumors.array), 0).astype(np.uint8)
    names = {int(k): f"gap tumour {int(k)}" for k in np.unique(gap) if k}  # as TaceAnalysis.gaps()
    return tumors.copy_with(array=gap, units=Unit.LABEL, label_names=names)


def _read_dvh(path: Path) -> list[tuple[str, str, float, float]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        rows = []
        for row in reader:
            if len(row) >= 4:
                try:
                    rows.append((row[0], row[1], float(row[2]), float(row[3])))
                except ValueError:
                    continue
        return rows


def read_results(directory: str | Path) -> TherapyResults:
    """Read an output folder of ``rt-dose``, ``combine``, ``tace``, ``lesions``, ``sirt`` or ``margin``.

    Raises
    ------
    InvalidInputError
        Not a folder, no readable ``results.json``, or not one of these outputs.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InvalidInputError(f"{d} is not a folder of results.")
    path = d / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{d} holds no results.json: not an output folder of the workstation.") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} cannot be read as JSON ({exc}).") from None
    if not isinstance(results, dict):
        raise InvalidInputError(f"{path} does not hold a JSON object.")
    kind = _kind_of(d, results)
    if kind is None:
        raise InvalidInputError(
            f"{d} is not an output folder of rt-dose, combine, tace, lesions, sirt or margin "
            "(its results.json and files match none of them)."
        )
    inputs = _inputs(results)
    out = TherapyResults(kind, d, results)
    try:
        if kind in ("rt-dose", "combine"):
            from workstation.radiotherapy import dose_layers

            out.volumes = dict(dose_layers(d))
            out.dvh_rows = _read_dvh(d / "dvh.csv")
            out.ct_path = _find_input(inputs.get("CT"), d)
            out.structures_path = _find_input(inputs.get("RT Structure Set"), d)
        elif kind == "sirt":
            for f in sorted(d.glob("dose_*.nii.gz")):
                out.volumes[f.name[: -len(".nii.gz")]] = _read(f, Unit.GY)
            out.dvh_rows = _read_dvh(d / "dvh.csv")
            out.ct_path = _find_input(inputs.get("ct"), d)
        elif kind == "margin":
            out.volumes["margin"] = _read(d / "margin_map.nii.gz", Unit.MM)
            out.ct_path = _find_input(inputs.get("post_ct"), d)
        elif kind == "tace":
            from workstation.tace import EXCLUSION_LABELS

            lipiodol = _labels_from(_read(d / "lipiodol.nii.gz", Unit.LABEL), {1: "lipiodol"})
            tumors = _labels_from(_read(d / "tumor_on_post_ct.nii.gz", Unit.LABEL),
                                  {int(t["label"]): f"tumour {t['label']}" for t in results.get("tumors", [])})
            out.volumes = {"lipiodol": lipiodol, "tumors": tumors, "gaps": gaps_volume(lipiodol, tumors)}
            density = d / "lipiodol_density_hu.nii.gz"
            if density.is_file():
                out.volumes["density"] = _read(density, Unit.HU)
            excluded = d / "lipiodol_excluded.nii.gz"
            if excluded.is_file():
                out.volumes["excluded"] = _labels_from(_read(excluded, Unit.LABEL), EXCLUSION_LABELS)
            out.ct_path = _find_input(inputs.get("post_ct"), d)
        else:  # lesions
            lesions = _labels_from(_read(d / "lesions.nii.gz", Unit.LABEL),
                                   {int(r["label"]): f"lesion {r['label']}" for r in results.get("lesions", [])})
            out.volumes = {"lesions": lesions}
            if (d / "large_vessels.nii.gz").is_file():
                out.volumes["vessels"] = _labels_from(_read(d / "large_vessels.nii.gz", Unit.LABEL),
                                                      {1: "large vessels"})
            liver_spec = inputs.get("liver")
            liver_path = _find_input(liver_spec, d)
            if liver_path is not None and liver_spec is not None:
                from workstation.io import read_mask

                segment = f"#{liver_spec.split('#', 1)[1]}" if "#" in liver_spec else ""
                try:
                    liver = read_mask(f"{liver_path}{segment}", reference=lesions)
                    out.volumes["liver"] = liver.copy_with(
                        array=(np.asarray(liver.array) != 0).astype(np.uint8), units=Unit.LABEL,
                        label_names={1: "liver"})
                except WorkstationError as exc:
                    out.notes.append(f"The liver mask {liver_path} was not shown: {exc}")
            out.ct_path = _find_input(inputs.get("ct"), d)
    except WorkstationError as exc:
        raise InvalidInputError(f"The {kind} results in {d} cannot be read: {exc}") from None
    if not out.volumes:
        raise InvalidInputError(f"{d}: the {kind} results hold no image to show.")
    if out.ct_path is None:
        out.notes.append(f"The CT of the {kind} results in {d} was not found where results.json says; "
                         "open it beside them.")
    return out


# ------------------------------------------------------------------ layers
def dose_display_name(key: str) -> str:
    """``dose`` -> "dose", ``eqd2`` -> "EQD2", ``eqd2_total`` -> "EQD2 total", ``eqd2_sbrt`` -> "EQD2 sbrt"."""
    if key == "eqd2":
        return "EQD2"
    if key.startswith("eqd2_"):
        return f"EQD2 {key[5:]}"
    if key.startswith("dose_"):
        return f"dose {key[5:]}"
    return key


def _finite_max(array: np.ndarray) -> float:
    top = float(np.nanmax(np.where(np.isfinite(array), array, np.nan))) if array.size else 0.0
    return top if np.isfinite(top) else 0.0


def rt_dose_layers(
    doses: Mapping[str, Volume],
    prefix: str,
    shown: str | None = None,
    prescription_gy: float | None = None,
) -> list[LayerData]:
    """Dose washes of every dose on one colour scale, one shown, isodose lines at the prescription.

    Parameters
    ----------
    doses:
        Doses in Gy by key (``dose``, ``eqd2``, ``eqd2_total``, ``eqd2_<name>``).
    prefix:
        Start of every layer name (the results' name): ``"sbrt dose (Gy)"``.
    shown:
        The key shown; the others are added hidden. Default: ``eqd2_total``, else
        ``dose``, else the first.
    prescription_gy:
        Isodose lines at :data:`PRESCRIPTION_ISODOSE_FRACTIONS` of it on the physical dose.

    The washes of one quantity (the EQD2 of each treatment and their sum; the
    physical doses) span 0 to the highest of them (transparent below 5 % of it), so
    the same colour is the same dose in each of them. Each layer's metadata holds
    ``dose_key`` and ``result``.
    """
    if not doses:
        return []

    def quantity(key: str) -> str:
        return "eqd2" if key.startswith("eqd2") else "physical"

    tops: dict[str, float] = {}
    for key, vol in doses.items():
        tops[quantity(key)] = max(tops.get(quantity(key), 0.0), _finite_max(np.asarray(vol.array)))
    if shown is None:
        shown = next((k for k in ("eqd2_total", "dose") if k in doses), next(iter(doses)))
    out: list[LayerData] = []
    for key, vol in doses.items():
        top = tops[quantity(key)] or 1.0
        data = dose_layer(vol, max_gy=top, name=f"{prefix} {dose_display_name(key)}")
        data[1]["visible"] = key == shown
        data[1]["metadata"].update(dose_key=key, result=prefix)
        out.append(data)
    physical = doses.get("dose")
    if physical is not None and prescription_gy:
        levels = [f * float(prescription_gy) for f in PRESCRIPTION_ISODOSE_FRACTIONS]
        levels = [lv for lv in levels if lv > 0]
        if levels:
            name = f"{prefix} isodose " + ", ".join(f"{lv:g}" for lv in levels) + " Gy"
            top = tops["physical"] or 1.0
            data = isodose_layer(physical, levels, name=name, color_range_gy=(0.05 * top, top))
            data[1]["metadata"].update(isodose_of=f"{prefix} dose (Gy)", result=prefix, dose_key="dose")
            data[1]["visible"] = shown == "dose"
            out.append(data)
    return out


def structure_layers(structures: Sequence[Any], reference: Volume, prefix: str) -> list[LayerData]:
    """Outlines of RT structures (``radiotherapy.Structure``: name, weights, kind) on ``reference``.

    A voxel is inside when at least half of it is (weights >= 0.5). The body outline
    is added hidden (it surrounds everything).
    """
    out: list[LayerData] = []
    for n, s in enumerate(structures):
        inside = np.asarray(s.weights) >= 0.5
        if not inside.any():
            continue
        mask = reference.copy_with(array=inside.astype(np.uint8), units=Unit.LABEL, modality=None,
                                   label_names={1: s.name})
        data = labels_layer(mask, name=f"{prefix} {s.name}", contour=1, opacity=1.0,
                            color=OUTLINE_COLORS[n % len(OUTLINE_COLORS)])
        data[1]["metadata"].update(result=prefix, structure_kind=s.kind)
        if s.kind == "body":
            data[1]["visible"] = False
        out.append(data)
    return out


def tace_layers(
    lipiodol: Volume,
    prefix: str = "tace",
    density: Volume | None = None,
    excluded: Volume | None = None,
    tumors: Volume | None = None,
    gaps: Volume | None = None,
) -> list[LayerData]:
    """TACE overlays: density map, deposits (yellow outline), gaps (cyan), rejected objects (grey), tumours.

    Layer names: ``"<prefix> lipiodol density above liver (HU)"``, ``"<prefix> lipiodol"``,
    ``"<prefix> gaps"``, ``"<prefix> not lipiodol"``, ``"<prefix> tumours on post-CT"``.
    """
    out: list[LayerData] = []
    if density is not None:
        dens = density if density.units == Unit.HU else density.copy_with(units=Unit.HU)
        data = map_layer(dens, f"{prefix} lipiodol density above liver", LIPIODOL_DENSITY_LIMITS_HU)
        data[1]["metadata"]["result"] = prefix
        out.append(data)
    if excluded is not None and np.any(np.asarray(excluded.array)):
        from workstation.tace import EXCLUSION_LABELS

        exc = excluded if excluded.label_names else _labels_from(excluded, EXCLUSION_LABELS)
        out.append(labels_layer(exc, name=f"{prefix} not lipiodol", opacity=FILLED_OPACITY, color=EXCLUDED_COLOR))
    if gaps is not None:
        out.append(labels_layer(gaps, name=f"{prefix} gaps", opacity=FILLED_OPACITY, color=GAP_COLOR))
    if tumors is not None:
        out.append(labels_layer(tumors, name=f"{prefix} tumours on post-CT", contour=1, opacity=1.0, color=OUTLINE_COLORS[0]))
    lip = lipiodol.copy_with(label_names=lipiodol.label_names or {1: "lipiodol"})
    out.append(labels_layer(lip, name=f"{prefix} lipiodol", contour=1, opacity=1.0, color=LIPIODOL_COLOR))
    for item in out:
        item[1]["metadata"]["result"] = prefix
    return out


def _fmt_mm(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f} mm"


def lesion_layers(
    results: Mapping[str, Any],
    lesions: Volume,
    prefix: str = "lesions",
    vessels: Volume | None = None,
    liver: Volume | None = None,
) -> list[LayerData]:
    """Lesion overview overlays: outlines, vessels, long axes (lines), nearest points and hilum (markers).

    The nearest points are those of ``results.json`` (``capsule_nearest_lps_mm`` …):
    the points of the lesion's surface closest to the capsule, the dome and a large
    vessel, labelled "1: 5.3 mm to capsule".

    ``results`` is the ``results.json`` dictionary of ``workstation lesions``; the
    lines and points are placed on the grid of ``lesions`` (the CT's).
    """
    out: list[LayerData] = []
    if liver is not None:
        out.append(labels_layer(liver.copy_with(label_names={1: "liver"}), name=f"{prefix} liver", contour=1,
                                opacity=1.0, color=OUTLINE_COLORS[1]))
    if vessels is not None and np.any(np.asarray(vessels.array)):
        out.append(labels_layer(vessels.copy_with(label_names={1: "large vessel"}), name=f"{prefix} large vessels",
                                opacity=FILLED_OPACITY, color=VESSEL_COLOR))
    out.append(labels_layer(lesions, name=f"{prefix} lesion outlines", contour=1, opacity=1.0))
    records = list(results.get("lesions", []))
    segments, texts = [], []
    for r in records:
        ends = r.get("long_axis_ends_lps_mm")
        if ends is not None and len(ends) == 2:
            segments.append(ends)
            texts.append(f"{r['label']}: {r.get('longest_diameter_mm', 0):.1f} mm")
    if segments:
        out.append(lines_layer(segments, lesions, f"{prefix} long axes", color=LONG_AXIS_COLOR, texts=texts))
    points, colors, labels, what, owner = [], [], [], [], []
    for r in records:
        for key in ("capsule", "dome", "vessel"):
            point = r.get(f"{key}_nearest_lps_mm")
            if point is None:
                continue
            points.append(point)
            colors.append(LESION_POINT_COLORS[key])
            labels.append(f"{r['label']}: {_fmt_mm(r.get(f'{key}_distance_mm'))} to {key}")
            what.append(key)
            owner.append(int(r["label"]))
    hilum = (results.get("hilum") or {}).get("lps_mm")
    if hilum is not None:
        points.append(hilum)
        colors.append(LESION_POINT_COLORS["hilum"])
        labels.append("hilum" + (" (estimated)" if "estimated" in str((results.get("hilum") or {}).get("source"))
                                 else ""))
        what.append("hilum")
        owner.append(0)
    if points:
        out.append(markers_layer(points, lesions, f"{prefix} nearest points", colors=colors, texts=labels,
                                 features={"what": what, "lesion": owner}))
    for item in out:
        item[1].setdefault("metadata", {})["result"] = prefix
    return out


def result_layers(res: TherapyResults) -> list[LayerData]:
    """The layers of an output folder (see the module docstring)."""
    v = res.volumes
    if res.kind in ("rt-dose", "combine", "sirt"):
        layers = rt_dose_layers(v, res.name, prescription_gy=res.results.get("prescription_gy")
                                if res.kind == "rt-dose" else None)
        if res.kind in ("rt-dose", "combine") and res.structures_path is not None:
            from workstation.radiotherapy import read_structures

            try:
                structures, _ = read_structures(res.structures_path, res.reference)
            except WorkstationError as exc:
                res.notes.append(f"The structures of {res.structures_path} were not shown: {exc}")
            else:
                layers += structure_layers(structures, res.reference, res.name)
        return layers
    if res.kind == "margin":
        data = margin_layer(v["margin"], name=f"{res.name} margin")
        data[1]["metadata"]["result"] = res.name
        return [data]
    if res.kind == "tace":
        return tace_layers(v["lipiodol"], res.name, density=v.get("density"), excluded=v.get("excluded"),
                           tumors=v.get("tumors"), gaps=v.get("gaps"))
    return lesion_layers(res.results, v["lesions"], res.name, vessels=v.get("vessels"), liver=v.get("liver"))


def focus_point_lps(res: TherapyResults) -> np.ndarray | None:
    """Where to look first (LPS mm): the shown dose's maximum; the tumour with the largest gap (tace);
    the middle of the longest lesion axis (lesions); the thinnest margin."""
    r = res.results
    if res.kind in ("rt-dose", "combine", "sirt"):
        key = next((k for k in ("eqd2_total", "dose") if k in res.volumes), next(iter(res.volumes)))
        vol = res.volumes[key]
        arr = np.where(np.isfinite(vol.array), vol.array, -np.inf)
        return np.asarray(vol.index_to_world(np.unravel_index(int(np.argmax(arr)), vol.shape)), dtype=float)
    if res.kind == "tace":
        tumors = [t for t in r.get("tumors", []) if t.get("largest_gap_centroid_lps_mm") is not None]
        if tumors:
            worst = max(tumors, key=lambda t: t.get("largest_gap_ml") or 0.0)
            return np.asarray(worst["largest_gap_centroid_lps_mm"], dtype=float)
        return _label_centre(res.volumes.get("tumors"))
    if res.kind == "lesions":
        records = [x for x in r.get("lesions", []) if x.get("long_axis_ends_lps_mm")]
        if records:
            big = max(records, key=lambda x: x.get("longest_diameter_mm", 0.0))
            return np.mean(np.asarray(big["long_axis_ends_lps_mm"], dtype=float), axis=0)
        return _label_centre(res.volumes.get("lesions"))
    located = [t for t in r.get("tumors", []) if t.get("minimal_margin_location_lps_mm") is not None
               and t.get("minimal_margin_mm") is not None]
    if not located:
        return None
    thinnest = min(located, key=lambda t: float(t["minimal_margin_mm"]))
    return np.asarray(thinnest["minimal_margin_location_lps_mm"], dtype=float)


def _label_centre(vol: Volume | None) -> np.ndarray | None:
    if vol is None:
        return None
    nz = np.argwhere(np.asarray(vol.array) != 0)
    return None if nz.size == 0 else np.asarray(vol.index_to_world(nz.mean(axis=0)), dtype=float)
