"""Physically impossible values in a volume just read: refused or warned by name.

A header that survived parsing can still describe impossible data: a rescale
intercept of 99999999 (every CT voxel 1e8 HU), a flipped PixelRepresentation
(air read as +64536 HU), a negative dose scaling, a voxel one kilometre wide.
The dose engines would use such numbers as they are, so the readers check
every volume against the limits below and refuse it (an
:class:`~workstation.core.errors.InvalidInputError` naming the file, the value
and the element that leads to it) or keep it with a warning where real data
can come close (noise, sparse saturated voxels).

The limits are deliberately far outside clinical values: they catch corrupt
headers, never unusual patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workstation.core.errors import DicomError, InvalidInputError
from workstation.core.volume import Unit, Volume

__all__ = [
    "ACTIVITY_MAX_BQ_PER_ML",
    "CT_HU_MAX",
    "CT_HU_MIN",
    "CT_NOISE_MARGIN_HU",
    "DOSE_MAX_GY",
    "NEGATIVE_WARN_FRACTION",
    "POSITION_MAX_MM",
    "SPACING_MAX_MM",
    "check_geometry",
    "check_values",
]

#: Largest CT number a scanner writes (HU): the top of the extended CT scale of
#: Siemens scanners (CT numbers -10240…+30710 HU, ten times the standard
#: 12-bit range; Coolens C, Childs PJ, Phys Med Biol 48:1591, 2003, on metal
#: implants). A standard-scale CT saturates at 3071 HU.
CT_HU_MAX = 30710.0
#: Lowest CT number of the standard 12-bit scale (HU): air is -1000 HU by the
#: definition of the Hounsfield scale; -1024 is the bottom of the stored range.
#: Lower values are padding outside the reconstruction circle.
CT_HU_MIN = -1024.0
#: Noise allowance below ``CT_HU_MIN`` (HU) before a voxel counts as "below air".
CT_NOISE_MARGIN_HU = 100.0
#: A CT slice with more than this fraction of its voxels below air is refused:
#: the padding outside a circular field of view covers 1 - π/4 ≈ 21.5 % of a
#: square image.
CT_BELOW_AIR_FRACTION_MAX = 0.5
#: Voxels above ``CT_HU_MAX`` tolerated (with a warning) per slice, as a fraction.
CT_SATURATED_FRACTION_MAX = 0.01
#: Activity concentration no image can hold (Bq/mL): 100 GBq in one millilitre
#: exceeds the whole activity of any diagnostic or therapeutic administration.
ACTIVITY_MAX_BQ_PER_ML = 1e11
#: Absorbed dose no dose grid holds (Gy): far above the hottest voxels of
#: radioembolization (hundreds to a few thousand Gy) or brachytherapy grids.
DOSE_MAX_GY = 1e5
#: Negative activity or dose (summed) above this fraction of the positive sum is
#: more than reconstruction noise: warned. At or above the positive sum (net
#: activity not positive) the volume is refused.
NEGATIVE_WARN_FRACTION = 0.05
#: Largest voxel spacing (mm) and distance of the grid from the origin (mm) of
#: a medical image; beyond them the geometry elements are corrupt.
SPACING_MAX_MM = 1000.0
POSITION_MAX_MM = 1e5


def check_geometry(volume: Volume, source: str) -> None:
    """Refuse an empty grid, and a zero, negative, enormous or non-finite voxel spacing or position."""
    if volume.array.size == 0:
        size = "x".join(str(n) for n in volume.shape[::-1])
        raise InvalidInputError(f"{source}: the image has no voxels (size {size}); its size elements are wrong.")
    spacing = np.linalg.norm(volume.affine[:3, :3], axis=0)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InvalidInputError(f"{source}: the voxel spacing is {_mm(spacing)} mm; a spacing must be positive.")
    if np.any(spacing > SPACING_MAX_MM):
        raise InvalidInputError(
            f"{source}: the voxel spacing is {_mm(spacing)} mm, more than {SPACING_MAX_MM:g} mm; "
            "the spacing elements of the header are corrupt."
        )
    corners = np.array(volume.bounding_box_world())
    if not np.all(np.isfinite(corners)) or np.max(np.abs(corners)) > POSITION_MAX_MM:
        raise InvalidInputError(
            f"{source}: the image lies {np.max(np.abs(corners)):.3g} mm from the origin of patient "
            f"coordinates (more than {POSITION_MAX_MM:g} mm); its position elements are corrupt."
        )


def _mm(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in np.asarray(values)[::-1]) + ")"


def check_values(
    volume: Volume, source: str, slice_names: Sequence[str] | None = None, hint: str = ""
) -> list[str]:
    """Check the voxel values against their unit; return warnings, raise when impossible.

    Parameters
    ----------
    volume:
        The volume just read (its ``units`` decide the limits).
    source:
        The file or series, for messages.
    slice_names:
        File of each slice (single-frame DICOM), named in messages when given.
    hint:
        What in the header leads to the values (e.g. ``"RescaleSlope 1, RescaleIntercept 99999999"``).
    """
    values = volume.array
    if values.dtype.kind not in "fiu" or values.size == 0:
        return []
    if volume.units == Unit.HU:
        return _check_ct(values, source, slice_names, hint)
    if volume.units in (Unit.BQML, Unit.COUNTS):
        limit = ACTIVITY_MAX_BQ_PER_ML if volume.units == Unit.BQML else None
        return _check_non_negative(values, source, "activity", volume.units.value, limit, hint)
    if volume.units == Unit.GY:
        return _check_non_negative(values, source, "dose", "Gy", DOSE_MAX_GY, hint)
    return []


def _where(source: str, slice_names: Sequence[str] | None, k: int) -> str:
    if slice_names is not None and k < len(slice_names):
        return f"{source}: {slice_names[k]}"
    return f"{source}: slice {k}"


def _check_ct(
    values: np.ndarray, source: str, slice_names: Sequence[str] | None, hint: str
) -> list[str]:
    warnings: list[str] = []
    because = f" ({hint})" if hint else ""
    per_slice = values.reshape(values.shape[0], -1)
    n = per_slice.shape[1]
    # Counting is done only where the extremes call for it; the "below air" share
    # is estimated on every 7th voxel (the test is for more than half a slice).
    above = np.zeros(per_slice.shape[0], dtype=np.int64)
    if float(per_slice.max()) > CT_HU_MAX:
        above = np.count_nonzero(per_slice > CT_HU_MAX, axis=1)
    below = np.zeros(per_slice.shape[0], dtype=np.int64)
    if float(per_slice.min()) < CT_HU_MIN - CT_NOISE_MARGIN_HU:
        sample = per_slice[:, ::7]
        below = np.count_nonzero(sample < CT_HU_MIN - CT_NOISE_MARGIN_HU, axis=1) * (n / sample.shape[1])
    bad = np.flatnonzero(above > CT_SATURATED_FRACTION_MAX * n)
    if bad.size:
        k = int(bad[0])
        raise DicomError(
            f"{_where(source, slice_names, k)} holds values up to {float(per_slice[k].max()):.6g} HU after "
            f"rescale{because}, above the {CT_HU_MAX:g} HU that even an extended CT scale reaches; the "
            "rescale or PixelRepresentation elements are wrong."
        )
    bad = np.flatnonzero(below > CT_BELOW_AIR_FRACTION_MAX * n)
    if bad.size:
        k = int(bad[0])
        raise DicomError(
            f"{_where(source, slice_names, k)}: about {100 * below[k] / n:.0f} % of the slice is below air "
            f"(median {float(np.median(per_slice[k])):.6g} HU after rescale{because}); the rescale "
            "elements are wrong."
        )
    if above.any():
        k = int(np.argmax(above))
        warnings.append(
            f"{_where(source, slice_names, k)}: {int(above.sum())} voxel(s) above {CT_HU_MAX:g} HU "
            f"(up to {float(values.max()):.6g} HU) were kept; they are beyond any CT scale."
        )
    return warnings


def _check_non_negative(
    values: np.ndarray, source: str, what: str, unit: str, limit: float | None, hint: str
) -> list[str]:
    because = f" ({hint})" if hint else ""
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return []
    top = float(finite.max())
    if limit is not None and top > limit:
        raise DicomError(
            f"{source}: the {what} reaches {top:.4g} {unit}{because}, more than the {limit:.3g} {unit} "
            "no image can hold; the scaling elements of the header are wrong."
        )
    if float(finite.min()) >= 0:
        return []
    negative = -float(finite[finite < 0].sum(dtype=np.float64))
    positive = float(finite[finite > 0].sum(dtype=np.float64))
    if negative >= positive:
        raise DicomError(
            f"{source}: the {what} is negative in sum ({-negative:.4g} against {positive:.4g} "
            f"{unit} positive){because}; the scaling elements of the header are wrong."
        )
    if negative > NEGATIVE_WARN_FRACTION * positive:
        return [
            f"{source}: negative {what} values down to {float(finite.min()):.4g} {unit} sum to "
            f"{100 * negative / positive:.1f} % of the positive {what}, more than reconstruction noise."
        ]
    return []
