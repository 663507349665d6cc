"""Geometry of a stack of files, from headers only: slice order, affine, problems.

Single-frame series (CT, PT, MR): slices are sorted by the projection of
ImagePositionPatient on the slice normal n = row cosine × column cosine
(DICOM PS3.3 C.7.6.2.1.1). The affine's columns are n·Δ (slice axis), the
column cosine·ΔR (rows) and the row cosine·ΔC (columns), origin the first
sorted slice's position.

NM multi-frame (PS3.3 C.8.4.15, NM Reconstruction Module): frame f lies at
IPP + f · SpacingBetweenSlices · n, with the signed SpacingBetweenSlices ("a
positive spacing indicates slices are stacked behind the first slice and a
negative spacing indicates slices are stacked in front of the first slice");
IPP/IOP come from DetectorInformationSequence[0] (the NM Detector module,
C.8.4.11), else from the top level. Vendors differ: some write a negative
spacing (GE workstation reconstructions, DaTscan and bone SPECT examples),
others a positive one, and readers that ignore the sign or use SliceThickness
show the former upside down — see OHIF Viewers issue #4352 and dcm2niix issue
#885, which quote the standard text above.

RTDOSE (PS3.3 C.8.8.3.2): frame f lies at IPP + GridFrameOffsetVector[f] · n
(relative offsets, first one 0; an absolute vector, first value equal to the
IPP along n, is converted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.multival import MultiValue

from workstation.core.errors import DicomError
from workstation.io.dicom._headers import (
    NM_IMAGE_STORAGE,
    RTDOSE_STORAGE,
    FileRecord,
    describe,
    failure_text,
    floats,
    number,
)
from workstation.io.dicom._pixels import excess_padding_warning, truncation_problem

#: Positions closer than this along the normal are the same slice (mm).
_DUPLICATE_TOL_MM = 1e-3
#: Relative tolerance on slice spacing before a stack counts as non-uniform:
#: positions are written as 16-character decimal strings, so rounding is far
#: below this; real gaps are a whole slice.
_SPACING_REL_TOL = 0.01
#: Minimum absolute spacing tolerance (mm).
_SPACING_ABS_TOL_MM = 0.005
#: In-plane drift of the slice origins (as a fraction of a pixel over the
#: whole stack) above which the stack counts as acquired with gantry tilt.
_TILT_PIXEL_FRACTION = 0.05


@dataclass
class StackPlan:
    """How to assemble one volume from files, decided from headers alone."""

    kind: str  #: "slices", "nm", "rtdose", "enhanced"
    records: list[FileRecord]
    shape: tuple[int, int, int]
    affine: np.ndarray
    #: For multi-frame: the frame index (in the file) of each output slice.
    frame_index: np.ndarray | None = None
    #: For gated NM: (n_slices, n_gates) frame indices summed/averaged per slice.
    gate_frames: np.ndarray | None = None
    #: Gantry tilt: in-plane shift (rows, columns) in pixels of each slice.
    tilt_shift_px: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


def orientation_of(ds) -> np.ndarray | None:  # noqa: ANN001 - pydicom Dataset
    """ImageOrientationPatient as (row cosine, column cosine), shape (2, 3), normalised."""
    iop = floats(ds.get("ImageOrientationPatient"), 6)
    if iop is None:
        return None
    rc = iop.reshape(2, 3)
    norms = np.linalg.norm(rc, axis=1)
    if np.any(norms < 1e-6):
        return None
    return rc / norms[:, None]


def pixel_spacing_of(ds) -> np.ndarray | None:  # noqa: ANN001
    """PixelSpacing as (row spacing, column spacing) in mm."""
    ps = floats(ds.get("PixelSpacing"), 2)
    if ps is None or np.any(ps <= 0):
        return None
    return ps


def _in_plane(label: str, ds, path, rec: FileRecord | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    if rec is not None:
        rc = None if rec.orientation is None else _normalised(rec.orientation)
        ps = rec.pixel_spacing if rec.pixel_spacing is not None and np.all(rec.pixel_spacing > 0) else None
    else:
        rc, ps = orientation_of(ds), pixel_spacing_of(ds)
    if rc is None:
        modality = str(ds.get("Modality", "") or "")
        if modality.upper() in _PROJECTION_MODALITIES or "ImagePositionPatient" not in ds:
            raise DicomError(
                f"{label}: {path} is a 2D {modality or 'image'} without patient geometry (no "
                "ImageOrientationPatient/ImagePositionPatient); only cross-sectional images (CT, MR, "
                "PET, SPECT/NM reconstructions, RT Dose) can be read as volumes."
            )
        raise DicomError(f"{label}: {path} has no ImageOrientationPatient, so its slice direction is unknown.")
    if abs(float(rc[0] @ rc[1])) > 1e-3:
        raise DicomError(
            f"{label}: ImageOrientationPatient of {path} is not orthogonal "
            f"(row·column = {float(rc[0] @ rc[1]):.4f})."
        )
    if ps is None:
        raise DicomError(f"{label}: {path} has no PixelSpacing, so its voxel size is unknown.")
    normal = np.cross(rc[0], rc[1])
    normal /= np.linalg.norm(normal)
    return rc, ps, normal


#: Modalities of projection images, which have no volume geometry.
_PROJECTION_MODALITIES = {"CR", "DX", "MG", "US", "XA", "RF", "OT", "SC", "IO", "PX", "ES", "XC"}


def _normalised(iop: np.ndarray) -> np.ndarray | None:
    rc = np.asarray(iop, dtype=float).reshape(2, 3)
    norms = np.linalg.norm(rc, axis=1)
    if np.any(norms < 1e-6):
        return None
    return rc / norms[:, None]


def _affine(origin: np.ndarray, normal_step: np.ndarray, rc: np.ndarray, ps: np.ndarray) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, 0] = normal_step
    affine[:3, 1] = rc[1] * ps[0]  # down the rows: column cosine × row spacing
    affine[:3, 2] = rc[0] * ps[1]  # along a row: row cosine × column spacing
    affine[:3, 3] = origin
    return affine


def plan_single_frame(records: list[FileRecord], label: str) -> StackPlan:
    """Sort single-frame files into a volume; raise DicomError naming the problem."""
    warnings: list[str] = []
    # Identical instances (the same file exported twice) are de-duplicated.
    unique: dict[str, FileRecord] = {}
    for rec in records:
        uid = rec.sop_instance_uid
        if uid and uid in unique:
            continue
        unique[uid or str(rec.path)] = rec
    if len(unique) < len(records):
        warnings.append(
            f"{len(records) - len(unique)} duplicate file(s) of the same instance were ignored."
        )
    recs = list(unique.values())
    first = recs[0].header
    rc, ps, normal = _in_plane(label, first, recs[0].path, recs[0])
    for rec in recs:
        if problem := truncation_problem(rec, 1):
            raise DicomError(f"{label}: {problem}.")
        if note := excess_padding_warning(rec, 1):
            warnings.append(note)
    positions = []
    for rec in recs:
        ipp = rec.position
        if ipp is None:
            raise DicomError(f"{label}: {rec.path} has no ImagePositionPatient, so its place is unknown.")
        positions.append(ipp)
    pos = np.array(positions)
    along = pos @ normal
    order = np.argsort(along, kind="stable")
    pos, along = pos[order], along[order]
    recs = [recs[i] for i in order]
    n = len(recs)
    if n == 1:
        step = number(first.get("SpacingBetweenSlices")) or number(first.get("SliceThickness"))
        if not step or step <= 0:
            step = 1.0
            warnings.append("Single-slice image without slice thickness: 1 mm assumed.")
        return StackPlan(
            "slices", recs, (1, recs[0].rows, recs[0].columns),
            _affine(pos[0], normal * abs(step), rc, ps), warnings=warnings,
        )
    diffs = np.diff(along)
    dup = np.flatnonzero(diffs < _DUPLICATE_TOL_MM)
    if dup.size:
        i = int(dup[0])
        raise DicomError(
            f"{label}: several images share a slice position, "
            f"e.g. {recs[i].path.name} and {recs[i + 1].path.name} both at "
            f"{along[i]:.2f} mm along the slice normal (several phases or echoes in one series?)."
        )
    step = float(np.median(diffs))
    tol = max(_SPACING_ABS_TOL_MM, _SPACING_REL_TOL * step)
    bad = np.flatnonzero(np.abs(diffs - step) > tol)
    if bad.size:
        i = int(bad[np.argmax(np.abs(diffs[bad] - step))])
        gap = float(diffs[i])
        ratio = gap / step
        what = (
            f"{round(ratio) - 1} slice(s) appear to be missing"
            if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1
            else "the slice spacing is not uniform"
        )
        raise DicomError(
            f"{label}: {what}: the gap between {recs[i].path.name} ({along[i]:.2f} mm along the "
            f"slice normal) and {recs[i + 1].path.name} ({along[i + 1]:.2f} mm) is {gap:.2f} mm, "
            f"while the other slices are {step:.2f} mm apart."
        )
    for rec in recs[1:]:
        other = None if rec.orientation is None else _normalised(rec.orientation)
        if other is None or np.max(np.abs(other - rc)) > 1e-4:
            raise DicomError(f"{label}: {rec.path.name} has a different ImageOrientationPatient.")
    step_mm = (along[-1] - along[0]) / (n - 1)
    offsets = pos - pos[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    shift_px = np.stack([in_plane @ rc[1] / ps[0], in_plane @ rc[0] / ps[1]], axis=1)
    plan = StackPlan(
        "slices", recs, (n, recs[0].rows, recs[0].columns),
        _affine(pos[0], normal * step_mm, rc, ps), warnings=warnings,
    )
    drift = float(np.max(np.abs(shift_px)))
    if drift > _TILT_PIXEL_FRACTION:
        # Slices are parallel planes whose origins slide in-plane: gantry tilt
        # (or a sheared stack). Each slice is shifted back onto the first
        # slice's in-plane grid when the volume is read.
        total = float(np.linalg.norm(in_plane[-1]))
        angle = float(np.degrees(np.arctan2(total, along[-1] - along[0])))
        gantry = number(first.get("GantryDetectorTilt"))
        plan.tilt_shift_px = shift_px
        plan.warnings.append(
            f"The slices are sheared by {angle:.1f}° (gantry tilt"
            + (f" {gantry:g}° in the header" if gantry else "")
            + "); each slice was resampled onto an orthogonal grid with linear interpolation."
        )
    return plan


def _nm_geometry(rec: FileRecord, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ds = rec.header
    det = ds.get("DetectorInformationSequence")
    source = ds
    if det:
        item = det[0]
        if floats(item.get("ImagePositionPatient"), 3) is not None and orientation_of(item) is not None:
            source = item
    ipp = floats(source.get("ImagePositionPatient"), 3)
    if ipp is None or orientation_of(source) is None:
        raise DicomError(
            f"{label}: {rec.path} has no ImagePositionPatient/ImageOrientationPatient, "
            "neither in DetectorInformationSequence nor at the top level."
        )
    ps = pixel_spacing_of(ds)
    if ps is None:
        raise DicomError(f"{label}: {rec.path} has no PixelSpacing, so its voxel size is unknown.")
    rc = orientation_of(source)
    assert rc is not None
    normal = np.cross(rc[0], rc[1])
    normal /= np.linalg.norm(normal)
    return ipp, rc, ps, normal


def strict_number(ds: Any, keyword: str, label: str, rec: FileRecord) -> float | None:
    """A single-valued number element: ``None`` when absent, DicomError when malformed."""
    element = ds.get(keyword)
    if element is None or element == "":
        return None
    value = number(element)
    if value is None:
        raise DicomError(f"{label}: {rec.path.name}: {keyword} is {str(element)[:40]!r}, not one finite number.")
    return value


def _frame_vector(ds: Any, keyword: str, n_frames: int, label: str, rec: FileRecord) -> np.ndarray | None:
    """A 1-based per-frame index vector (SliceVector, TimeSlotVector) as 0-based, validated."""
    vector = ds.get(keyword)
    if vector is None:
        return None
    values = list(vector) if isinstance(vector, MultiValue | list | tuple) else [vector]
    if len(values) != n_frames:
        raise DicomError(
            f"{label}: {rec.path.name}: {keyword} has {len(values)} values for "
            f"{n_frames} frames (NumberOfFrames)."
        )
    try:
        out = np.asarray([int(v) for v in values]) - 1
    except (TypeError, ValueError):
        raise DicomError(f"{label}: {rec.path.name}: {keyword} holds values that are not whole numbers.") from None
    if out.size and (out.min() < 0 or out.max() >= n_frames):
        raise DicomError(
            f"{label}: {rec.path.name}: {keyword} holds {int(out.min()) + 1}..{int(out.max()) + 1}, "
            f"outside 1..{n_frames} (one number per frame)."
        )
    return out


def plan_nm(rec: FileRecord, label: str) -> StackPlan:
    """Geometry of a multi-frame NM reconstruction (RECON TOMO / RECON GATED TOMO)."""
    ds = rec.header
    warnings: list[str] = []
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    kind = image_type[2] if len(image_type) > 2 else ""
    if kind not in ("RECON TOMO", "RECON GATED TOMO"):
        raise DicomError(
            f"{label}: {rec.path.name} is an NM image of type {kind or 'unknown'!r}, not a "
            "reconstructed tomographic volume (RECON TOMO); planar and projection data "
            "cannot be read as a volume."
        )
    n_frames = rec.number_of_frames
    ipp, rc, ps, normal = _nm_geometry(rec, label)
    spacing = strict_number(ds, "SpacingBetweenSlices", label, rec)
    if spacing is None or spacing == 0:
        thickness = strict_number(ds, "SliceThickness", label, rec)
        if not thickness or thickness <= 0:
            raise DicomError(
                f"{label}: {rec.path.name} has neither SpacingBetweenSlices nor SliceThickness, "
                "so the slice spacing is unknown."
            )
        spacing = thickness
        warnings.append(
            "SpacingBetweenSlices is missing; SliceThickness "
            f"({thickness:g} mm) was used as the slice spacing, stacking along the normal."
        )
    slices = _frame_vector(ds, "SliceVector", n_frames, label, rec)
    if slices is None:
        slices = np.arange(n_frames)
    n_slices = int(slices.max()) + 1 if slices.size else 0
    gate_frames = None
    if kind == "RECON GATED TOMO":
        slots = _frame_vector(ds, "TimeSlotVector", n_frames, label, rec)
        if slots is None:
            n_gates = max(1, n_frames // max(n_slices, 1))
            if ds.get("SliceVector") is None:
                # Without vectors the frames are taken as gate-major, slice-minor.
                n_slices = n_frames // n_gates
                slices = np.arange(n_frames) % n_slices
            slots = np.arange(n_frames) // n_slices
        n_gates = int(slots.max()) + 1
        gate_frames = np.full((n_slices, n_gates), -1, dtype=int)
        gate_frames[slices, slots] = np.arange(n_frames)
        if np.any(gate_frames < 0):
            raise DicomError(f"{label}: {rec.path.name}: SliceVector/TimeSlotVector are incomplete.")
        warnings.append(f"Gated reconstruction: the {n_gates} gates were combined into one volume.")
    else:
        if len(set(slices.tolist())) != n_frames:
            raise DicomError(f"{label}: {rec.path.name}: SliceVector repeats slice numbers.")
    frame_index = np.empty(n_slices, dtype=int)
    if gate_frames is None:
        frame_index[slices] = np.arange(n_frames)
    else:
        frame_index = gate_frames[:, 0]
    if problem := truncation_problem(rec, n_frames):
        raise DicomError(f"{label}: {problem}.")
    affine = _affine(ipp, normal * spacing, rc, ps)
    plan = StackPlan(
        "nm", [rec], (n_slices, rec.rows, rec.columns), affine,
        frame_index=frame_index, gate_frames=gate_frames, warnings=warnings,
    )
    if spacing < 0:
        _flip_to_positive(plan)
    return plan


def _flip_to_positive(plan: StackPlan) -> None:
    """Reverse slice order so the slice axis points along +normal (same voxels in space)."""
    nz = plan.shape[0]
    a = plan.affine.copy()
    a[:3, 3] = a[:3, 3] + (nz - 1) * a[:3, 0]
    a[:3, 0] = -a[:3, 0]
    plan.affine = a
    if plan.frame_index is not None:
        plan.frame_index = plan.frame_index[::-1].copy()
    if plan.gate_frames is not None:
        plan.gate_frames = plan.gate_frames[::-1].copy()


def plan_rtdose(rec: FileRecord, label: str) -> StackPlan:
    """Geometry of an RT Dose grid (multi-frame with GridFrameOffsetVector)."""
    ds = rec.header
    rc, ps, normal = _in_plane(label, ds, rec.path)
    ipp = floats(ds.get("ImagePositionPatient"), 3)
    if ipp is None:
        raise DicomError(f"{label}: {rec.path} has no ImagePositionPatient, so its place is unknown.")
    n_frames = rec.number_of_frames
    raw_offsets = ds.get("GridFrameOffsetVector")
    offsets = floats(raw_offsets)
    if raw_offsets not in (None, "") and offsets is None:
        raise DicomError(
            f"{label}: {rec.path.name}: GridFrameOffsetVector is {str(raw_offsets)[:40]!r}, "
            "not a list of finite numbers (mm)."
        )
    if n_frames == 1 and offsets is None:
        offsets = np.zeros(1)
    if offsets is None or offsets.size != n_frames:
        raise DicomError(
            f"{label}: {rec.path.name}: GridFrameOffsetVector has "
            f"{0 if offsets is None else offsets.size} value(s) for {n_frames} frame(s) "
            "(NumberOfFrames); one offset per frame is needed."
        )
    scaling = strict_number(ds, "DoseGridScaling", label, rec)
    if scaling is not None and scaling <= 0:
        raise DicomError(
            f"{label}: {rec.path.name}: DoseGridScaling is {scaling:g}; a dose scaling must be "
            "positive (a negative or zero scaling gives negative or no dose)."
        )
    if offsets[0] != 0:
        # Absolute offsets (PS3.3 C.8.8.3.2): the z coordinates of the planes, defined for
        # IOP 1\0\0\0\1\0 (normal +z), where they are also the positions along the normal;
        # feet-first and prone grids (normal -z) are written the same way by some planning
        # systems: positions along the normal are then (z - z_IPP) * n_z.
        if abs(offsets[0] - float(ipp @ normal)) <= 1e-3:
            offsets = offsets - float(ipp @ normal)
        elif abs(abs(normal[2]) - 1.0) < 1e-4 and abs(offsets[0] - float(ipp[2])) <= 1e-3:
            offsets = (offsets - float(ipp[2])) * float(np.sign(normal[2]))
        else:
            raise DicomError(
                f"{label}: {rec.path.name}: GridFrameOffsetVector starts at neither 0 nor "
                "the first frame's position."
            )
    if problem := truncation_problem(rec, n_frames):
        raise DicomError(f"{label}: {problem}.")
    order = np.argsort(offsets, kind="stable")
    sorted_off = offsets[order]
    if n_frames > 1:
        diffs = np.diff(sorted_off)
        step = float(np.median(diffs))
        if step <= 0 or np.any(np.abs(diffs - step) > max(_SPACING_ABS_TOL_MM, _SPACING_REL_TOL * step)):
            raise DicomError(f"{label}: {rec.path.name}: the dose grid frames are not evenly spaced.")
    else:
        step = number(ds.get("SliceThickness")) or 1.0
        if step <= 0:
            step = 1.0
    origin = ipp + sorted_off[0] * normal
    return StackPlan(
        "rtdose", [rec], (n_frames, rec.rows, rec.columns),
        _affine(origin, normal * step, rc, ps), frame_index=order,
    )


def plan_enhanced(rec: FileRecord, label: str) -> StackPlan:
    """Geometry of an enhanced multi-frame image (Enhanced CT/MR/PET, legacy converted).

    The per-frame functional groups are interpreted by highdicom
    (``Image.get_volume_geometry``); the slice axis is then turned to point
    along +normal like every other volume this package returns.
    """
    import highdicom as hd

    try:
        image = hd.Image.from_dataset(rec.header, copy=True)
        geometry = image.get_volume_geometry()
    except Exception as exc:  # noqa: BLE001 - any failure is a property of the file
        raise DicomError(
            f"{label}: the frame geometry of {rec.path.name} cannot be read "
            f"({failure_text(exc)})."
        ) from None
    if geometry is None:
        raise DicomError(
            f"{label}: the frames of {rec.path.name} ({describe(rec.header)}) do not form one "
            "regularly spaced volume (several stacks or phases, or uneven positions)."
        )
    if problem := truncation_problem(rec, rec.number_of_frames):
        raise DicomError(f"{label}: {problem}.")
    affine = np.asarray(geometry.affine, dtype=float)
    shape = tuple(int(v) for v in geometry.spatial_shape)
    plan = StackPlan("enhanced", [rec], shape, affine, frame_index=np.arange(shape[0]))  # type: ignore[arg-type]
    normal = np.cross(affine[:3, 2], affine[:3, 1])
    if float(affine[:3, 0] @ normal) < 0:
        _flip_to_positive(plan)
    return plan


def plan_for(records: list[FileRecord], label: str) -> StackPlan:
    """The plan for a stack of files (one multi-frame file or many single frames)."""
    sop = records[0].sop_class_uid
    if sop == NM_IMAGE_STORAGE:
        return plan_nm(records[0], label)
    if sop == RTDOSE_STORAGE:
        return plan_rtdose(records[0], label)
    if "PerFrameFunctionalGroupsSequence" in records[0].header:
        return plan_enhanced(records[0], label)
    frames = int(number(records[0].header.get("NumberOfFrames"), 1) or 1)
    if frames > 1:
        raise DicomError(
            f"{label}: {records[0].path.name} is a multi-frame {records[0].header.get('Modality', '')} "
            f"image without per-frame geometry (SOP class {records[0].sop_class_uid or 'unknown'}, no "
            "PerFrameFunctionalGroupsSequence), so it cannot be read as a volume."
        )
    return plan_single_frame(records, label)
