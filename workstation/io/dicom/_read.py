"""Assemble a Volume from an indexed stack: pixels, rescale, units, metadata."""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.diagnostics import capture_warnings, summarize
from workstation.core.errors import DicomError
from workstation.core.progress import Progress, scaled
from workstation.core.volume import Unit, Volume, VolumeMetadata
from workstation.io.dicom._headers import failure_text, floats, int_or_none, number
from workstation.io.dicom._index import DicomIndex, SeriesInfo, index_dicom
from workstation.io.dicom._pet import (
    acquisition_datetime,
    decay_reference,
    philips_activity_scale,
    radiopharmaceutical_from,
)
from workstation.io.dicom._pixels import read_stored
from workstation.io.dicom._stack import StackPlan
from workstation.io.dicom._units import real_world_value_mapping, units_of
from workstation.io.plausibility import check_geometry, check_values

_INT16 = np.iinfo(np.int16)


def read_dicom_image(
    path: str | os.PathLike[str],
    series: str | None = None,
    progress: Progress | None = None,
) -> Volume:
    """Read one DICOM image volume from a folder or a single file.

    Parameters
    ----------
    path:
        Folder (searched recursively) or one file (e.g. a multi-frame NM).
    series:
        SeriesInstanceUID, a unique prefix of it, or ``UID:N`` for stack N of a
        series that holds several geometries. Needed only when ``path`` holds
        several image series.
    progress:
        Optional callback receiving the fraction done (0…1).

    Returns
    -------
    Volume
        Values in HU (CT), Bq/mL or counts (PT, NM), Gy (RTDOSE); ``int16``
        when the rescaled values are integers that fit, else ``float32``.
        ``metadata.dicom_headers`` holds the files' headers in slice order.

    Raises
    ------
    DicomError
        No DICOM, several series and none chosen, a corrupt or truncated
        file, missing or duplicate slices, mixed geometry, …
    """
    with capture_warnings():
        index = index_dicom(path, progress=scaled(progress, 0.0, 0.3))
        return read_indexed(index, series, progress=scaled(progress, 0.3, 1.0))


def read_indexed(
    index: DicomIndex, series: str | None = None, progress: Progress | None = None
) -> Volume:
    """Read the stack selected by ``series`` from an existing index."""
    unknown = [u for u in index.unreadable if u.series_uid is None]
    if index.unreadable and (not index.images or (series is None and unknown)):
        bad = (unknown or index.unreadable)[0]
        raise DicomError(f"{bad.path}: this DICOM file cannot be read ({bad.reason}).")
    info = index.select(series)
    if not info.is_image:
        raise DicomError(
            f"Series {info.key} in {index.root} is a {info.modality} object, not an image; "
            f"use it where a MASK is taken, e.g. `workstation mask {info.records[0].path} "
            "--image IMG -o labels.nii.gz`."
        )
    # A file that cannot be read may be a slice of the chosen series, unless its
    # header named another series: those are reported as warnings.
    ours = [u for u in index.unreadable if u.series_uid in (None, info.series_instance_uid)]
    if ours:
        bad = ours[0]
        raise DicomError(f"{bad.path}: this DICOM file cannot be read ({bad.reason}).")
    if info.problem is not None or info.plan is None:
        raise DicomError(info.problem or f"Series {info.key} cannot be read.")
    with capture_warnings() as caught:
        volume = _assemble(info, info.plan, progress)
    others = [
        f"{u.path} (series {u.series_uid}) cannot be read and was left out ({u.reason})."
        for u in index.unreadable
    ]
    notes = [*index.warnings_for(info), *others, *caught.sentences()]
    volume.metadata.warnings.extend(n for n in summarize(notes) if n not in volume.metadata.warnings)
    return volume


def _scales(plan: StackPlan) -> tuple[np.ndarray, np.ndarray, Unit, list[str]]:
    """Per-output-slice slope and intercept and the unit they lead to."""
    warnings: list[str] = []
    first = plan.records[0].header
    # The Real World Value Mapping is used for NM (quantitative SPECT); CT and
    # PET are defined by Rescale Slope/Intercept (+ Units for PET).
    try:
        mapping = real_world_value_mapping(first) if plan.kind == "nm" else None
    except DicomError as exc:
        raise DicomError(f"{plan.records[0].path}: {exc}") from None
    unit = units_of(first, warnings)
    nz = plan.shape[0]
    if plan.kind == "slices":
        slopes = np.array([r.rescale_slope for r in plan.records])
        inters = np.array([r.rescale_intercept for r in plan.records])
        if unit == Unit.BQML and str(first.get("Units", "")).strip().upper() == "CNTS":
            # Philips PET in counts: each image's Activity Concentration Scale Factor.
            factors = [philips_activity_scale(r.header) for r in plan.records]
            if any(f is None for f in factors):
                missing = plan.records[factors.index(None)].path.name
                raise DicomError(
                    f"{missing}: Units is CNTS and, unlike the other images of its series, it has no "
                    f"Philips Activity Concentration Scale Factor (7053,1009), so it cannot be put in Bq/mL."
                )
            per_count = np.array(factors, dtype=float)
            slopes, inters = slopes * per_count, inters * per_count
            warnings.append(
                "Units CNTS (Philips): converted to Bq/mL with the Activity Concentration Scale "
                f"Factor (7053,1009) of each image ({per_count.min():.6g}"
                + ("" if np.ptp(per_count) == 0 else f" to {per_count.max():.6g}") + " Bq/mL per count)."
            )
        return slopes, inters, unit, warnings
    if plan.kind == "enhanced":  # highdicom applies the rescale per frame
        return np.ones(nz), np.zeros(nz), unit, warnings
    if plan.kind == "rtdose":
        scale = number(first.get("DoseGridScaling"))
        if scale is None:
            scale = 1.0
            warnings.append("DoseGridScaling is missing; the stored values were taken as Gy (scaling 1).")
        return np.full(nz, scale), np.zeros(nz), unit, warnings
    if mapping is not None:
        slope, inter = mapping[0], mapping[1]
        warnings.append(
            f"Values from the Real World Value Mapping (slope {slope:g}, intercept {inter:g}, "
            f"units {mapping[3] or 'unspecified'})."
        )
    else:
        slope, inter = plan.records[0].rescale_slope, plan.records[0].rescale_intercept
    return np.full(nz, slope), np.full(nz, inter), unit, warnings


def _scaling_hint(plan: StackPlan, slopes: np.ndarray, inters: np.ndarray) -> str:
    """The header elements that scale the stored values, for messages."""
    if plan.kind == "rtdose":
        return f"DoseGridScaling {slopes[0]:g}"
    if plan.kind == "enhanced":
        return "the frames' Pixel Value Transformation"
    if np.ptp(slopes) == 0 and np.ptp(inters) == 0:
        return f"RescaleSlope {slopes[0]:g}, RescaleIntercept {inters[0]:g}"
    return "per-slice RescaleSlope/RescaleIntercept"


def _integer_output(slopes: np.ndarray, inters: np.ndarray, plan: StackPlan) -> bool:
    return (
        plan.kind == "slices"
        and plan.tilt_shift_px is None
        and bool(np.all(slopes == 1.0))
        and bool(np.all(inters == np.round(inters)))
        and bool(np.all(np.abs(inters) < 32768))
    )


def _assemble(info: SeriesInfo, plan: StackPlan, progress: Progress | None) -> Volume:
    slopes, inters, unit, warnings = _scales(plan)
    warnings = list(plan.warnings) + warnings
    use_int = _integer_output(slopes, inters, plan)
    array = _fill(plan, slopes, inters, np.int16 if use_int else np.float32, progress)
    if array is None:  # an integer slice overflowed int16: read again as float32
        array = _fill(plan, slopes, inters, np.float32, progress)
    assert array is not None
    if plan.tilt_shift_px is not None:
        _untilt(array, plan.tilt_shift_px)
    source = f"series {info.key} ({info.modality})"
    names = [r.path.name for r in plan.records] if plan.kind == "slices" else None
    if plan.kind != "slices":
        source = str(plan.records[0].path)
    probe = Volume(array=array, affine=plan.affine.copy(), units=unit)
    check_geometry(probe, source)
    warnings += check_values(probe, source, names, _scaling_hint(plan, slopes, inters))
    return Volume(
        array=array,
        affine=plan.affine.copy(),
        frame_of_reference_uid=info.frame_of_reference_uid,
        modality=info.modality,
        units=unit,
        metadata=_metadata(info, plan, warnings),
    )


def _fill(
    plan: StackPlan,
    slopes: np.ndarray,
    inters: np.ndarray,
    dtype: type,
    progress: Progress | None,
) -> np.ndarray | None:
    """Read all pixels into a preallocated array; ``None`` if int16 would overflow."""
    out: np.ndarray = np.empty(plan.shape, dtype=dtype)
    if plan.kind == "slices":
        overflow = False
        n = len(plan.records)

        def one(k: int) -> bool:
            stored = read_stored(plan.records[k], 1)[0]
            if dtype is np.int16:
                inter = int(inters[k])
                lo, hi = int(stored.min()) + inter, int(stored.max()) + inter
                if lo < _INT16.min or hi > _INT16.max:
                    return True
                # The result fits int16 (checked above), so the wrap-around of
                # the unsafe cast (uint16 > 32767) is undone exactly by the add.
                np.copyto(out[k], stored, casting="unsafe")
                if inter:
                    out[k] += np.int16(inter)
            else:
                np.multiply(stored, slopes[k], out=out[k], casting="unsafe")
                out[k] += np.float32(inters[k])
            return False

        workers = min(8, (os.cpu_count() or 2) * 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, over in enumerate(pool.map(one, range(n))):
                overflow |= over
                if progress is not None and (i % 32 == 0 or i == n - 1):
                    progress((i + 1) / n)
        return None if overflow else out
    rec = plan.records[0]
    if plan.kind == "enhanced":
        return _read_enhanced(plan, out, progress)
    n_frames = rec.number_of_frames
    stored = read_stored(rec, n_frames)
    if plan.gate_frames is not None:
        counts = units_of(rec.header, []) == Unit.COUNTS
        gates = stored[plan.gate_frames].astype(np.float64) * slopes[0] + inters[0]
        combined = gates.sum(axis=1) if counts else gates.mean(axis=1)
        out[:] = combined
    else:
        assert plan.frame_index is not None
        for k, f in enumerate(plan.frame_index):
            np.multiply(stored[f], slopes[k], out=out[k], casting="unsafe")
            out[k] += np.float32(inters[k])
    if progress is not None:
        progress(1.0)
    return out


def _read_enhanced(
    plan: StackPlan, out: np.ndarray, progress: Progress | None
) -> np.ndarray:
    import highdicom as hd

    rec = plan.records[0]
    try:
        volume = hd.imread(str(rec.path)).get_volume(
            dtype=np.float32, apply_real_world_transform=False
        )
    except Exception as exc:  # noqa: BLE001 - decoder or geometry failures are the file's
        raise DicomError(
            f"{rec.path}: the enhanced multi-frame image cannot be read "
            f"({failure_text(exc)})."
        ) from None
    values = np.asarray(volume.array)
    if values.shape != out.shape:
        raise DicomError(f"{rec.path}: the frames do not match the volume geometry of its header.")
    assert plan.frame_index is not None
    out[:] = values[plan.frame_index]
    if progress is not None:
        progress(1.0)
    return out


def _untilt(array: np.ndarray, shift_px: np.ndarray) -> None:
    """Shift each slice in-plane so that all slices share slice 0's row/column grid."""
    from scipy import ndimage

    fill = float(array.min())
    for k in range(1, array.shape[0]):
        array[k] = ndimage.shift(array[k], shift_px[k], order=1, mode="constant", cval=fill)


def _metadata(info: SeriesInfo, plan: StackPlan, warnings: list[str]) -> VolumeMetadata:
    first = plan.records[0].header
    radio = radiopharmaceutical_from(first, warnings)
    decay_mode, reference = None, None
    if info.modality == "PT":
        decay_mode, reference = decay_reference(
            first, radio, warnings, [r.header for r in plan.records]
        )
    headers = [copy.copy(rec.header) for rec in plan.records]
    extra: dict[str, Any] = {"files": [str(r.path) for r in plan.records]}
    if info.modality == "PT":
        extra["pet_units"] = str(first.get("Units", "") or "") or None
    if plan.kind == "nm":
        extra["spacing_between_slices_mm"] = number(first.get("SpacingBetweenSlices"))
    ipp0 = floats(first.get("ImagePositionPatient"), 3)
    if ipp0 is not None:
        extra["first_file_position_lps_mm"] = ipp0.tolist()
    meta = VolumeMetadata(
        patient_id=str(first.get("PatientID", "") or "") or None,
        patient_name=str(first.get("PatientName", "") or "") or None,
        study_instance_uid=str(first.get("StudyInstanceUID", "") or "") or None,
        series_instance_uid=None if info.uid_missing else info.series_instance_uid,
        series_description=info.description or None,
        series_number=int_or_none(first.get("SeriesNumber")),
        acquisition_datetime=acquisition_datetime(first),
        reference_datetime=reference,
        decay_correction=decay_mode,
        radiopharmaceutical=radio,
        sop_class_uid=info.sop_class_uid,
        sop_instance_uids=[r.sop_instance_uid for r in plan.records],
        source_path=str(Path(plan.records[0].path).parent if len(plan.records) > 1 else plan.records[0].path),
        dicom_headers=headers,
        warnings=warnings,
        extra=extra,
    )
    return meta
