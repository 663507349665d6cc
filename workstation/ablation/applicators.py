"""Applicator planning: predicted ellipsoidal ablation zones from a user's device table.

An applicator is a tip position (LPS mm) and a shaft direction (pointing from
the skin entry towards the tip). Its zone is an ellipsoid of revolution about
the shaft with the ``length_mm`` and ``diameter_mm`` that the user's device
table gives for the chosen power and time; its centre lies
``tip_to_centre_mm`` back along the shaft from the tip. The numbers come only
from the user's table (the manufacturer's ex-vivo or clinical chart for that
device); the workstation ships none. Several applicators combine as the union
of their zones, rendered as a fractional (partial-volume) mask so that the
margin computation sees the ellipsoid's surface with sub-voxel accuracy.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume

if TYPE_CHECKING:
    from workstation.ablation.margins import MarginAnalysis

__all__ = [
    "DEVICE_TABLE_COLUMNS",
    "Applicator",
    "DeviceTable",
    "ZoneSize",
    "evaluate_plan",
    "parse_applicator",
    "predicted_zone",
]

#: Required columns of a device table CSV; ``tip_to_centre_mm`` is optional (default 0).
DEVICE_TABLE_COLUMNS: tuple[str, ...] = ("power_w", "time_s", "length_mm", "diameter_mm")


@dataclass(frozen=True)
class ZoneSize:
    """One row of a device table.

    Parameters
    ----------
    power_w:
        Generator power (W).
    time_s:
        Ablation time (s).
    length_mm:
        Zone extent along the shaft (mm).
    diameter_mm:
        Zone extent across the shaft (mm).
    tip_to_centre_mm:
        Distance (mm) from the applicator tip back along the shaft to the zone centre.
    """

    power_w: float
    time_s: float
    length_mm: float
    diameter_mm: float
    tip_to_centre_mm: float = 0.0


@dataclass
class DeviceTable:
    """A user-supplied chart of zone sizes by power and time."""

    entries: list[ZoneSize]
    source: str = ""
    has_tip_offset: bool = False

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> DeviceTable:
        """Read a CSV with columns ``power_w,time_s,length_mm,diameter_mm[,tip_to_centre_mm]``."""
        p = Path(path)
        if not p.is_file():
            raise InvalidInputError(f"{p}: no such device table file.")
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in DEVICE_TABLE_COLUMNS if c not in header]
            if missing:
                raise InvalidInputError(
                    f"{p}: the device table lacks the column(s) {', '.join(missing)}; "
                    f"expected {','.join(DEVICE_TABLE_COLUMNS)}[,tip_to_centre_mm]."
                )
            has_offset = "tip_to_centre_mm" in header
            entries = []
            for line_no, row in enumerate(reader, start=2):
                norm = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                if not any(norm.values()):
                    continue
                try:
                    vals = {c: float(norm[c]) for c in DEVICE_TABLE_COLUMNS}
                    offset = float(norm["tip_to_centre_mm"]) if has_offset and norm.get("tip_to_centre_mm") else 0.0
                except ValueError:
                    raise InvalidInputError(f"{p}, line {line_no}: a value is not a number.") from None
                if min(vals.values()) <= 0:
                    raise InvalidInputError(f"{p}, line {line_no}: power, time and sizes must be positive.")
                entries.append(ZoneSize(tip_to_centre_mm=offset, **vals))
        if not entries:
            raise InvalidInputError(f"{p}: the device table has no rows.")
        return cls(entries, str(p), has_offset)

    def lookup(self, power_w: float, time_s: float) -> ZoneSize:
        """The row for exactly this power (W) and time (s); no extrapolation."""
        for e in self.entries:
            if abs(e.power_w - power_w) < 1e-6 and abs(e.time_s - time_s) < 1e-6:
                return e
        have = ", ".join(f"{e.power_w:g} W/{e.time_s:g} s" for e in self.entries)
        raise InvalidInputError(
            f"The device table {self.source} has no row for {power_w:g} W and {time_s:g} s "
            f"(it has: {have})."
        )


@dataclass
class Applicator:
    """One applicator and its predicted zone.

    Parameters
    ----------
    tip_lps_mm:
        Tip position, LPS mm.
    direction_lps:
        Shaft direction from the entry towards the tip (normalised here).
    size:
        Zone size (from a device table, or given directly).
    name:
        Label for reports.
    """

    tip_lps_mm: np.ndarray
    direction_lps: np.ndarray
    size: ZoneSize
    name: str = ""
    _unit: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tip_lps_mm = np.asarray(self.tip_lps_mm, dtype=float).reshape(3)
        d = np.asarray(self.direction_lps, dtype=float).reshape(3)
        norm = float(np.linalg.norm(d))
        if not np.isfinite(norm) or norm < 1e-9:
            raise InvalidInputError(f"Applicator {self.name!r} has a zero or invalid direction vector.")
        self.direction_lps = d / norm
        self._unit = self.direction_lps

    @property
    def centre_lps_mm(self) -> np.ndarray:
        """Zone centre: ``tip_to_centre_mm`` back along the shaft from the tip."""
        return self.tip_lps_mm - self._unit * self.size.tip_to_centre_mm

    def level(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Ellipsoidal radius of points: < 1 inside the zone, 1 on its surface.

        Its gradient is at most 2 / min(length, diameter) per mm.
        """
        rel = np.asarray(points_lps_mm, dtype=float) - self.centre_lps_mm
        along = rel @ self._unit
        across2 = np.maximum(np.einsum("...i,...i->...", rel, rel) - along**2, 0.0)
        a = self.size.length_mm / 2.0
        b = self.size.diameter_mm / 2.0
        return np.sqrt((along / a) ** 2 + across2 / b**2)

    def inside(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """True for points inside the ellipsoidal zone."""
        return self.level(points_lps_mm) <= 1.0

    def bounding_box_lps(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS box (min, max) of the ellipsoid."""
        a = self.size.length_mm / 2.0
        b = self.size.diameter_mm / 2.0
        u = self._unit
        half = np.sqrt((a * u) ** 2 + b**2 * (1.0 - u**2))
        c = self.centre_lps_mm
        return c - half, c + half

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tip_lps_mm": [round(float(x), 2) for x in self.tip_lps_mm],
            "direction_lps": [round(float(x), 4) for x in self.direction_lps],
            "centre_lps_mm": [round(float(x), 2) for x in self.centre_lps_mm],
            "power_w": self.size.power_w,
            "time_s": self.size.time_s,
            "length_mm": self.size.length_mm,
            "diameter_mm": self.size.diameter_mm,
            "tip_to_centre_mm": self.size.tip_to_centre_mm,
        }


def parse_applicator(text: str, table: DeviceTable, name: str = "") -> Applicator:
    """Parse ``"X,Y,Z,DX,DY,DZ,POWER_W,TIME_S"`` (tip LPS mm, shaft direction, setting)."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) != 8:
        raise InvalidInputError(
            f"--applicator {text!r} must be 8 numbers X,Y,Z,DX,DY,DZ,POWER_W,TIME_S "
            "(tip in LPS mm, shaft direction towards the tip, power in W, time in s)."
        )
    size = table.lookup(nums[6], nums[7])
    return Applicator(np.array(nums[:3]), np.array(nums[3:6]), size, name=name)


def predicted_zone(
    applicators: list[Applicator], reference: Volume, supersampling: int = 4
) -> Volume:
    """Union of the applicators' zones as a fractional mask on a grid parallel to ``reference``.

    The grid has ``reference``'s spacing and orientation and is extended as
    needed to hold every zone whole (so no zone is clipped by the reference's
    extent). Each voxel's value is the fraction of ``supersampling³``
    sub-voxel points that lie inside any zone.

    Parameters
    ----------
    applicators:
        One or more applicators.
    reference:
        Volume whose orientation and spacing the result takes (e.g. the tumour mask).
    supersampling:
        Sub-samples per voxel edge.
    """
    if not applicators:
        raise InvalidInputError("At least one --applicator is needed to predict a zone.")
    lows, highs = zip(*(a.bounding_box_lps() for a in applicators), strict=True)
    wmin, wmax = np.min(lows, axis=0), np.max(highs, axis=0)
    corners = np.array([[x, y, z] for x in (wmin[0], wmax[0]) for y in (wmin[1], wmax[1])
                        for z in (wmin[2], wmax[2])])
    idx = reference.world_to_index(corners)
    lo = np.floor(idx.min(axis=0)).astype(int) - 2
    hi = np.ceil(idx.max(axis=0)).astype(int) + 3
    shape = tuple(int(x) for x in hi - lo)
    s = int(supersampling)
    offsets = (np.arange(s) + 0.5) / s - 0.5
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), axis=-1)
    grid += lo
    centres = reference.index_to_world(grid)
    half_diag = 0.5 * float(np.linalg.norm(reference.spacing_mm))
    inside = np.zeros(shape, dtype=bool)
    band = np.zeros(shape, dtype=bool)
    for a in applicators:
        lev = a.level(centres)
        inside |= lev <= 1.0
        # Voxels farther than half a diagonal from the surface are wholly in or out.
        band |= np.abs(lev - 1.0) <= 1.01 * half_diag * 2.0 / min(a.size.length_mm, a.size.diameter_mm)
    acc = inside.astype(np.float32)
    idx = grid[band]
    hits = np.zeros(len(idx), dtype=np.float32)
    for dk in offsets:
        for dj in offsets:
            for di in offsets:
                pts = reference.index_to_world(idx + np.array([dk, dj, di]))
                hit = np.zeros(len(idx), dtype=bool)
                for a in applicators:
                    hit |= a.inside(pts)
                hits += hit
    acc[band] = hits / float(s**3)
    affine = reference.affine.copy()
    affine[:3, 3] = reference.index_to_world(lo.astype(float))
    return Volume(
        acc, affine, frame_of_reference_uid=reference.frame_of_reference_uid,
        units=Unit.FRACTION, modality=None,
    )


def evaluate_plan(
    tumor: Volume,
    applicators: list[Applicator],
    liver: Volume | None = None,
    subcapsular_mm: float = 5.0,
    device_table: DeviceTable | None = None,
    **options: Any,
) -> tuple[MarginAnalysis, Volume]:
    """Margins of a planned (predicted) zone around the tumour(s).

    Returns the margin analysis (its ``results`` gain ``applicators``,
    ``predicted_zone_ml`` and ``plan_covers_margin_mm``: for 0, 5 and 10 mm,
    whether every tumour's minimal margin reaches it) and the predicted zone.
    """
    from workstation.ablation.margins import analyse_margins

    zone = predicted_zone(applicators, tumor)
    analysis = analyse_margins(tumor, zone, liver, subcapsular_mm, **options)
    res = analysis.results
    res["applicators"] = [a.describe() for a in applicators]
    res["predicted_zone_ml"] = round(float(zone.array.sum(dtype=np.float64) * zone.voxel_volume_ml), 3)
    mins = [t["minimal_margin_mm"] for t in res["tumors"]]
    res["plan_covers_margin_mm"] = {
        str(r): bool(mins) and all(m is not None and m >= r for m in mins) for r in (0, 5, 10)
    }
    res["device_table"] = device_table.source if device_table is not None else None
    if device_table is not None and not device_table.has_tip_offset:
        res["warnings"].append(
            "The device table has no tip_to_centre_mm column: each zone is centred on the "
            "applicator tip; check the manufacturer's chart for the zone's position."
        )
    return analysis, zone
