"""RT Structure Sets as masks: closed planar contours rasterized on an image grid (see :mod:`.masks`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import (
    DicomError,
    EmptyMaskError,
    GeometryMismatchError,
    InvalidInputError,
    NoOverlapError,
)
from workstation.core.grid import Grid
from workstation.core.volume import Volume
from workstation.io._labels import combine_segments, failure_reason, find_segment, label_volume

#: A closed planar contour whose points spread over more than this many slices
#: (in the reference's index space) is not parallel to the reference slices.
_PLANARITY_TOL_SLICES = 0.5


# ----------------------------------------------------------------- RTSTRUCT
def read_rtstruct(path: Path, name: str | None, reference: Volume | Grid) -> Volume:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        return _parse_rtstruct(ds, path, name, reference)
    except (DicomError, GeometryMismatchError, EmptyMaskError, InvalidInputError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged structure set is the file's problem
        raise DicomError(
            f"{path}: cannot be read as an RT Structure Set ({failure_reason(exc)}); check it with "
            "`workstation info` or export it again from the planning system."
        ) from None


def _parse_rtstruct(ds: Any, path: Path, name: str | None, reference: Volume | Grid) -> Volume:
    rois = {
        int(item.ROINumber): str(getattr(item, "ROIName", f"ROI {item.ROINumber}"))
        for item in getattr(ds, "StructureSetROISequence", [])
    }
    roi_for = {
        int(item.ROINumber): str(getattr(item, "ReferencedFrameOfReferenceUID", "") or "")
        for item in getattr(ds, "StructureSetROISequence", [])
    }
    contours_by_roi: dict[int, list[np.ndarray]] = defaultdict(list)
    skipped_types: dict[str, int] = defaultdict(int)
    for item in getattr(ds, "ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        for contour in getattr(item, "ContourSequence", []):
            geometric = str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR")).upper()
            if geometric != "CLOSED_PLANAR":
                skipped_types[geometric] += 1
                continue
            try:
                points = _contour_points(contour)
            except (AttributeError, KeyError, ValueError, UnicodeDecodeError):
                raise DicomError(
                    f"{path}: a contour of ROI {rois.get(number, number)!r} has malformed ContourData."
                ) from None
            contours_by_roi[number].append(points)
    if not rois:
        raise DicomError(f"{path}: the RT Structure Set defines no ROI.")
    numbers = [find_segment(rois, name, path)] if name is not None else sorted(rois)
    warnings = [
        f"{path.name}: {count} {kind} contour(s) ignored (only CLOSED_PLANAR contours are areas)."
        for kind, count in skipped_types.items()
    ]
    frame_of_reference = next((roi_for[n] for n in numbers if roi_for.get(n)), None)
    masks = []
    for number in numbers:
        mask, roi_warnings = _rasterize_roi_any_plane(
            contours_by_roi.get(number, []), reference, f"ROI {rois[number]!r} of {path}"
        )
        warnings += roi_warnings
        masks.append(mask)
    if name is not None:
        if not masks[0].any():
            raise EmptyMaskError(
                f"ROI {name!r} of {path} has no voxel on the image grid "
                "(no closed contour on or near its slices)."
            )
        return _finish_rtstruct(
            masks[0].astype(np.uint8),
            {1: rois[numbers[0]]},
            reference,
            path,
            frame_of_reference,
            warnings,
        )
    combined, overlap = combine_segments(masks, numbers, path)
    return _finish_rtstruct(
        combined,
        {n: rois[n] for n in numbers},
        reference,
        path,
        frame_of_reference,
        warnings + overlap,
    )


def _contour_points(contour: Any) -> np.ndarray:
    """ContourData (3006,0050) as an (N, 3) float array.

    The raw decimal string is split and converted by numpy: pydicom's
    per-value DS objects cost ~20 µs each, i.e. seconds for a body contour set.
    """
    from pydicom.dataelem import RawDataElement

    element = contour.get_item(0x30060050)
    if element is None:
        raise KeyError("ContourData")
    if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
        text = element.value.decode("ascii").strip(" \x00")
        values = np.array(text.split("\\"), dtype=float) if text else np.empty(0)
    else:
        values = np.asarray(contour.ContourData, dtype=float)
    if values.size % 3:
        raise ValueError("ContourData is not a list of (x, y, z) triplets")
    return values.reshape(-1, 3)


def _finish_rtstruct(
    array: np.ndarray,
    names: dict[int, str],
    reference: Volume | Grid,
    path: Path,
    frame_of_reference: str | None,
    warnings: list[str],
) -> Volume:
    return label_volume(
        array,
        reference.affine.copy(),
        names,
        path,
        "RTSTRUCT",
        frame_of_reference or None,
        warnings,
    )


def _parallel_to_slices(contours: list[np.ndarray], reference: Volume | Grid) -> bool:
    for points in contours:
        if len(points) >= 3:
            k = reference.world_to_index(points)[:, 0]
            if float(np.ptp(k)) > _PLANARITY_TOL_SLICES:
                return False
    return True


def _rasterize_roi_any_plane(
    contours: list[np.ndarray], reference: Volume | Grid, what: str
) -> tuple[np.ndarray, list[str]]:
    """Rasterize on the reference grid, through a contour-aligned grid when the planes differ.

    Contours parallel to the reference slices are rasterized directly. Otherwise
    (e.g. axial contours and an oblique SPECT reconstruction) they are
    rasterized on an auxiliary grid whose slices are the contour planes (normal
    from the contours, in-plane axes closest to the reference's, in-plane
    spacing the reference's finest, slice spacing the contours' median
    spacing), which is then resampled onto the reference by nearest neighbour.
    """
    if _parallel_to_slices(contours, reference):
        return _rasterize_roi(contours, reference, what)
    usable = [c for c in contours if len(c) >= 3]
    largest = max(usable, key=len)
    centred = largest - largest.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][2]
    heights = [points @ normal for points in usable]
    if max(float(np.ptp(h)) for h in heights) > 0.5 * float(reference.spacing_mm.min()):
        raise GeometryMismatchError(
            f"The contours of {what} are not planar or not parallel to each other, "
            "so they cannot be rasterized."
        )
    # In-plane axes: the reference's column direction projected on the contour plane, then
    # the row axis completing a right-handed frame with the normal.
    axis_i = reference.direction[:, 2] - (reference.direction[:, 2] @ normal) * normal
    if np.linalg.norm(axis_i) < 1e-3:
        axis_i = reference.direction[:, 1] - (reference.direction[:, 1] @ normal) * normal
    axis_i /= np.linalg.norm(axis_i)
    axis_j = np.cross(normal, axis_i)
    pixel = float(reference.spacing_mm[1:].min())
    levels = np.unique(np.round([float(h.mean()) for h in heights], 3))
    step = float(np.median(np.diff(levels))) if len(levels) > 1 else float(reference.spacing_mm[0])
    points = np.concatenate(usable)
    u, v = points @ axis_j, points @ axis_i
    lo = np.array([levels[0], u.min() - 2 * pixel, v.min() - 2 * pixel])
    size = np.array(
        [
            int(round((levels[-1] - levels[0]) / step)) + 1,
            int(np.ceil((u.max() - u.min()) / pixel)) + 5,
            int(np.ceil((v.max() - v.min()) / pixel)) + 5,
        ]
    )
    direction = np.column_stack([normal, axis_j, axis_i])
    origin = direction @ lo
    aux = Grid.from_geometry(tuple(int(n) for n in size), origin, [step, pixel, pixel], direction)
    mask, warnings = _rasterize_roi(contours, aux, what)
    if not mask.any():
        return np.zeros(reference.shape, dtype=bool), warnings
    try:
        resampled = Volume(mask.astype(np.uint8), aux.affine).resample_to(reference, interpolation="nearest")
    except NoOverlapError:
        return np.zeros(reference.shape, dtype=bool), warnings
    warnings.append(
        f"{what}: the contours are not parallel to the image slices; they were rasterized in "
        "their own planes and resampled onto the image by nearest neighbour."
    )
    return resampled.array.astype(bool), warnings


def _rasterize_roi(
    contours: list[np.ndarray], reference: Volume | Grid, what: str
) -> tuple[np.ndarray, list[str]]:
    """Rasterize one ROI's closed planar contours on the reference grid.

    Contours are grouped by plane (their mean position along the reference's
    slice axis, in slice units); the contours of one plane are filled together
    with the even-odd rule, so a contour inside another is a hole. Each
    reference slice then takes the plane nearest to its centre (nearest
    neighbour along the slice axis, like every other mask resampling) when that
    plane lies within half the ROI's contour spacing (median distance between
    its planes); an ROI drawn on a single plane goes to the nearest slice.
    Planes equally near are united. So contours drawn on the reference's own
    slices map one to one; dense contours (e.g. 1 mm CT planes) on a coarse
    SPECT grid give each slice the cross-section at its centre rather than the
    union of all planes in the slab; sparse contours on a fine grid fill the
    slices between them up to half-way, without gaps.
    """
    from workstation.io._polygon import fill_even_odd

    nz, ny, nx = reference.shape
    out = np.zeros((nz, ny, nx), dtype=bool)
    warnings: list[str] = []
    planes: dict[float, list[np.ndarray]] = defaultdict(list)
    for points in contours:
        if len(points) < 3:
            continue
        index = reference.world_to_index(points)  # (N, 3) continuous (k, j, i)
        k = index[:, 0]
        if float(np.ptp(k)) > _PLANARITY_TOL_SLICES:
            raise GeometryMismatchError(
                f"The contours of {what} are not parallel to the image slices (a contour spans "
                f"{float(np.ptp(k)):.1f} slices); use an image whose slices are in the contours' planes."
            )
        planes[round(float(k.mean()), 3)].append(index[:, 1:])
    if not planes:
        return out, warnings
    positions = np.array(sorted(planes))
    spacing = float(np.median(np.diff(positions))) if len(positions) > 1 else 0.0
    # Nearest neighbour on the stack of contour planes: a slice centre farther than half
    # the contour spacing from every plane is outside the ROI. A single plane reaches the
    # slice it falls on (half a slice).
    reach = 0.5 * spacing if len(positions) > 1 else 0.5
    filled: dict[float, np.ndarray] = {}
    for s in range(nz):
        distance = np.abs(positions - s)
        nearest = float(distance.min())
        if nearest > reach + 1e-6:
            continue
        for position in positions[distance <= nearest + 1e-3]:
            key = float(position)
            if key not in filled:
                filled[key] = fill_even_odd(planes[key], (ny, nx))
            out[s] |= filled[key]
    outside = sum(len(planes[float(p)]) for p in positions if not -0.5 <= p < nz - 0.5)
    if outside:
        warnings.append(
            f"{what}: {outside} contour(s) lie outside the image slices and were not used."
        )
    return out, warnings
