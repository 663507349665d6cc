"""Label volumes as every mask reader returns them: segment selection, combination, naming."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume, VolumeMetadata


def select_segment(labels: Volume, name: str | None, path: Path) -> Volume:
    """A binary mask of the segment ``name`` (exact, then case-insensitive match), or all."""
    if name is None:
        return labels
    value = find_segment(labels.label_names, name, path)
    binary = (labels.array == value).astype(np.uint8)
    return labels.copy_with(array=binary, label_names={1: labels.label_names[value]})


def find_segment(names: dict[int, str], name: str, path: Path) -> int:
    for value, candidate in names.items():
        if candidate == name:
            return value
    folded = [v for v, c in names.items() if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    available = ", ".join(repr(n) for n in names.values()) or "none"
    raise InvalidInputError(f"{path} has no segment named {name!r}; available: {available}.")


def label_volume(
    array: np.ndarray,
    affine: np.ndarray,
    names: dict[int, str],
    path: Path,
    modality: str | None,
    frame_of_reference_uid: str | None = None,
    warnings: list[str] | None = None,
) -> Volume:
    top = int(array.max(initial=0))
    dtype = np.uint8 if top < 256 else (np.uint16 if top < 65536 else np.uint32)
    return Volume(
        np.ascontiguousarray(array, dtype=dtype),
        affine,
        frame_of_reference_uid=frame_of_reference_uid,
        modality=modality,
        units=Unit.LABEL,
        label_names=dict(names),
        metadata=VolumeMetadata(source_path=str(path), warnings=list(warnings or [])),
    )


def combine_segments(
    masks: list[np.ndarray], values: list[int], path: Path
) -> tuple[np.ndarray, list[str]]:
    """Label image from binary masks; later masks win where they overlap (with a warning)."""
    out = np.zeros(masks[0].shape, dtype=np.uint32)
    count = np.zeros(masks[0].shape, dtype=np.uint8)
    for mask, value in zip(masks, values, strict=True):
        out[mask] = value
        count += mask
    warnings = []
    overlapping = int((count > 1).sum())
    if overlapping:
        warnings.append(
            f"{path.name}: segments overlap in {overlapping} voxels; the label image keeps the "
            "later segment there (select one with #Name to get it whole)."
        )
    return out, warnings


def failure_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
