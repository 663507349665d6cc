"""Index a folder of DICOM files by series and geometric stack, from headers only."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.diagnostics import capture_warnings, warning_source
from workstation.core.errors import DicomError, InvalidInputError
from workstation.core.progress import Progress
from workstation.core.volume import Unit
from workstation.io.dicom._headers import (
    NM_IMAGE_STORAGE,
    NON_IMAGE_SOP_CLASSES,
    RTDOSE_STORAGE,
    FileRecord,
    Unreadable,
    int_or_none,
    number,
    read_header,
)
from workstation.io.dicom._stack import StackPlan, orientation_of, pixel_spacing_of, plan_for
from workstation.io.dicom._units import units_of

__all__ = ["DicomIndex", "SeriesInfo", "index_dicom"]


@dataclass
class SeriesInfo:
    """One readable stack of a series (or one non-image object such as an RTSTRUCT).

    A series whose files have different geometry (orientation, pixel spacing or
    matrix size) is split into stacks ``1..n_stacks``; its :attr:`key` is then
    ``"<SeriesInstanceUID>:<stack>"``, else the UID alone.
    """

    series_instance_uid: str
    modality: str
    description: str
    sop_class_uid: str
    records: list[FileRecord] = field(repr=False)
    stack: int = 1
    n_stacks: int = 1
    plan: StackPlan | None = field(default=None, repr=False)
    #: Why this stack cannot be read as a volume (``None`` when it can).
    problem: str | None = None
    #: What sets this stack apart from the series' other stacks at the same
    #: positions (e.g. ``"AcquisitionNumber 2"``); ``None`` for geometry splits.
    distinct_by: str | None = None
    #: The files have no SeriesInstanceUID; ``series_instance_uid`` is a stand-in key.
    uid_missing: bool = False
    #: How the files were grouped, when that needs saying (missing UIDs).
    warnings: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """What ``series=`` accepts to select exactly this stack."""
        return self.series_instance_uid if self.n_stacks == 1 else f"{self.series_instance_uid}:{self.stack}"

    @property
    def files(self) -> list[Path]:
        return [r.path for r in self.records]

    @property
    def is_image(self) -> bool:
        """True for stacks that are meant to be read as volumes (they hold pixel data)."""
        return self.sop_class_uid not in NON_IMAGE_SOP_CLASSES and self.records[0].has_pixels

    @property
    def is_localizer(self) -> bool:
        image_type = [str(v).upper() for v in (self.records[0].header.get("ImageType") or [])]
        return "LOCALIZER" in image_type

    @property
    def header(self) -> Any:
        return self.records[0].header

    @property
    def frame_of_reference_uid(self) -> str | None:
        value = self.header.get("FrameOfReferenceUID")
        return str(value) if value else None

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """Volume shape (z, y, x) when the stack is readable."""
        return self.plan.shape if self.plan else None

    @property
    def affine(self) -> np.ndarray | None:
        return self.plan.affine if self.plan else None

    @property
    def units(self) -> Unit:
        """Units the voxel values will have (from headers)."""
        return units_of(self.records[0].header, [])

    def summary(self) -> str:
        """One line for lists in messages: UID, modality, description, size."""
        size = "x".join(map(str, self.shape[::-1])) if self.shape else f"{len(self.records)} file(s)"
        desc = f" {self.description!r}" if self.description else ""
        which = f", {self.distinct_by}" if self.distinct_by else ""
        return f"{self.key} ({self.modality}{desc}, {size}{which})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (geometry in x, y, z order as in SimpleITK/NIfTI)."""
        out: dict[str, Any] = {
            "key": self.key,
            "series_instance_uid": self.series_instance_uid,
            "stack": self.stack,
            "distinct_by": self.distinct_by,
            "modality": self.modality,
            "description": self.description,
            "series_number": int_or_none(self.header.get("SeriesNumber")),
            "sop_class_uid": self.sop_class_uid,
            "study_instance_uid": str(self.header.get("StudyInstanceUID", "")) or None,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "number_of_files": len(self.records),
            "readable": self.problem is None and self.plan is not None,
            "problem": self.problem,
        }
        if self.plan is not None:
            affine = self.plan.affine
            spacing_zyx = np.linalg.norm(affine[:3, :3], axis=0)
            direction_zyx = affine[:3, :3] / spacing_zyx
            out.update(
                size=[int(s) for s in self.plan.shape[::-1]],
                spacing=[round(float(s), 6) for s in spacing_zyx[::-1]],
                origin=[round(float(o), 6) for o in affine[:3, 3]],
                direction=[round(float(d), 8) for d in direction_zyx[:, ::-1].ravel()],
                units=self.units.value,
                warnings=[*self.warnings, *self.plan.warnings],
            )
        else:
            out.update(size=None, spacing=None, origin=None, direction=None,
                       units=self.units.value if self.is_image else None, warnings=[])
        return out


@dataclass
class DicomIndex:
    """Every series/stack found under a path, and the files that were skipped."""

    root: Path
    series: list[SeriesInfo]
    #: Files that are not DICOM (or are DICOMDIR index files), skipped.
    skipped: list[Path] = field(default_factory=list)
    #: Files that look like DICOM but cannot be parsed: (path, reason).
    unreadable: list[Unreadable] = field(default_factory=list)

    def warnings_for(self, info: SeriesInfo) -> list[str]:
        """Warnings that concern reading ``info``: its grouping, its files' library warnings, skipped files."""
        notes = list(info.warnings) + [w for rec in info.records for w in rec.warnings]
        if self.skipped:
            notes.append(
                f"{self.root}: {len(self.skipped)} file(s) that are not DICOM were skipped "
                f"(e.g. {self.skipped[0].name})."
            )
        return notes

    @property
    def images(self) -> list[SeriesInfo]:
        return [s for s in self.series if s.is_image]

    def select(self, series: str | None = None) -> SeriesInfo:
        """The stack chosen by ``series`` (key, UID or unique prefix); see :func:`read_dicom_image`."""
        if series is None:
            candidates = self.images
            if not candidates:
                raise DicomError(self._nothing_message())
            if len(candidates) > 1:
                primary = [s for s in candidates if not s.is_localizer]
                if len(primary) == 1:
                    return primary[0]
                if len({s.series_instance_uid for s in candidates}) == 1:
                    raise DicomError(self._stacks_message(candidates))
                raise DicomError(
                    f"{self.root} holds {len(candidates)} image series; choose one with "
                    f"--series UID (or a unique prefix): " + "; ".join(s.summary() for s in candidates) + "."
                )
            return candidates[0]
        wanted = series.strip()
        exact = [s for s in self.series if s.key == wanted]
        if not exact:
            exact = [s for s in self.series if s.series_instance_uid == wanted]
        matches = exact or [
            s for s in self.series if s.key.startswith(wanted) or s.series_instance_uid.startswith(wanted)
        ]
        uids = {s.series_instance_uid for s in matches}
        if not matches:
            listing = "; ".join(s.summary() for s in self.series) or "none"
            raise DicomError(f"No series in {self.root} matches {wanted!r}; available: {listing}.")
        if len(uids) > 1:
            raise DicomError(
                f"The series prefix {wanted!r} is ambiguous in {self.root}: "
                + "; ".join(s.summary() for s in matches) + "."
            )
        if len(matches) > 1:
            raise DicomError(self._stacks_message(matches))
        return matches[0]

    def _stacks_message(self, stacks: list[SeriesInfo]) -> str:
        if any(s.distinct_by for s in stacks):
            return (
                f"Series {stacks[0].series_instance_uid} ({stacks[0].modality}) in {self.root} holds "
                f"{len(stacks)} stacks (images repeated at the same positions, or different "
                "geometry); choose one with --series UID:N: "
                + "; ".join(s.summary() for s in stacks) + "."
            )
        return (
            f"Series {stacks[0].series_instance_uid} ({stacks[0].modality}) in {self.root} holds "
            f"{len(stacks)} stacks with different geometry (orientation, pixel spacing or "
            "image size); choose one with --series UID:N: "
            + "; ".join(f"{s.summary()} {_geometry_text(s)}" for s in stacks) + "."
        )

    def _nothing_message(self) -> str:
        if self.unreadable:
            bad = self.unreadable[0]
            return f"{bad.path}: is not a readable DICOM file ({bad.reason})."
        if self.series:
            empty = [s for s in self.series if not s.records[0].has_pixels and s.modality in _IMAGE_MODALITIES]
            if empty:
                return (
                    f"{empty[0].records[0].path}: the {empty[0].modality} image has no pixel data "
                    "(the file is truncated or its header is damaged)."
                )
            kinds = ", ".join(sorted({_short(s.modality) for s in self.series}))
            return (
                f"{self.root} holds no image series, only {kinds} objects; a SEG or RTSTRUCT is "
                "a MASK: use it with `workstation mask` or an option that takes a MASK (--roi, --tumor)."
            )
        if self.root.is_file():
            return (
                f"{self.root} is not a DICOM file (no DICOM header could be parsed: it is truncated, "
                "damaged or of another kind); an IMG is a DICOM folder or file, or a .nii/.nii.gz, "
                ".nrrd/.nhdr or .mha/.mhd file."
            )
        return (
            f"{self.root}: no DICOM files found ({len(self.skipped)} other file(s) skipped); "
            "an IMG is a DICOM folder or file, or a .nii/.nii.gz, .nrrd/.nhdr or .mha/.mhd file."
        )


#: Modalities whose objects are images (a file of one without pixel data is damaged).
_IMAGE_MODALITIES = {"CT", "MR", "PT", "NM", "RTDOSE", "OT", "CR", "DX", "US", "XA", "MG", "SC"}


def _short(text: str) -> str:
    """A header value for messages: printable and short."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return clean if len(clean) <= 16 else repr(clean[:13] + "...")


def _geometry_text(info: SeriesInfo) -> str:
    ds = info.header
    rc = orientation_of(ds)
    ps = pixel_spacing_of(ds)
    iop = "?" if rc is None else "[" + ", ".join(f"{v:.3g}" for v in rc.ravel()) + "]"
    spacing = "?" if ps is None else "x".join(f"{v:g}" for v in ps)
    return f"[orientation {iop}, pixel spacing {spacing} mm, {ds.get('Columns')}x{ds.get('Rows')}]"


def _list_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def _geometry_key(rec: FileRecord) -> tuple[Any, ...]:
    return (
        None if rec.orientation is None else tuple(rec.orientation),
        None if rec.pixel_spacing is None else tuple(rec.pixel_spacing),
        rec.rows,
        rec.columns,
    )


def _same_geometry(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if a[2:] != b[2:]:
        return False
    for x, y, tol in ((a[0], b[0], 1e-4), (a[1], b[1], 1e-4)):
        if (x is None) != (y is None):
            return False
        if x is not None and np.max(np.abs(np.subtract(x, y))) > tol:
            return False
    return True


def _split_stacks(records: list[FileRecord]) -> list[tuple[list[FileRecord], str | None]]:
    """Group files of one series into stacks, each with what sets it apart.

    Files are grouped by geometry (orientation, pixel spacing, matrix size);
    a group with repeated slice positions is split further by temporal
    position, acquisition number, echo or trigger time when that resolves the
    repeats. Multi-frame files are stacks of their own.
    """
    stacks: list[tuple[tuple[Any, ...] | None, list[FileRecord]]] = []
    for rec in records:
        multi = (
            rec.sop_class_uid in (NM_IMAGE_STORAGE, RTDOSE_STORAGE)
            or rec.number_of_frames > 1
            or rec.sop_class_uid in NON_IMAGE_SOP_CLASSES
            or not rec.has_pixels
        )
        if multi:
            stacks.append((None, [rec]))
            continue
        key = _geometry_key(rec)
        for skey, members in stacks:
            if skey is not None and _same_geometry(skey, key):
                members.append(rec)
                break
        else:
            stacks.append((key, [rec]))
    out: list[tuple[list[FileRecord], str | None]] = []
    for stack_key, members in stacks:
        if stack_key is None:
            out.append((members, None))
        else:
            out.extend(_split_repeated_positions(members))
    return out


#: Attributes that tell apart images of one series acquired at the same
#: positions (dynamic frames, repeated acquisitions, echoes, cardiac phases).
_REPEAT_KEYS = ("TemporalPositionIdentifier", "AcquisitionNumber", "EchoNumbers", "TriggerTime")


def _split_repeated_positions(members: list[FileRecord]) -> list[tuple[list[FileRecord], str | None]]:
    """Split a stack with repeated slice positions by phase/echo/acquisition, when that resolves them."""
    rec0 = members[0]
    if rec0.orientation is None or any(r.position is None for r in members):
        return [(members, None)]
    rc = rec0.orientation.reshape(2, 3)
    normal = np.cross(rc[0], rc[1])
    along = np.round([float(r.position @ normal) for r in members], 3)  # type: ignore[operator]
    unique_uids = {r.sop_instance_uid for r in members}
    if len(set(along.tolist())) == len(members) or len(unique_uids) < len(members):
        return [(members, None)]  # no repeats, or plain duplicate files (handled when read)
    for attribute in _REPEAT_KEYS:
        groups: dict[str, list[int]] = {}
        for i, rec in enumerate(members):
            groups.setdefault(str(rec.header.get(attribute, "")), []).append(i)
        if len(groups) < 2:
            continue
        if all(len(set(along[idx].tolist())) == len(idx) for idx in groups.values()):
            return [
                ([members[i] for i in idx], f"{attribute} {value or '(none)'}")
                for value, idx in sorted(groups.items(), key=lambda kv: _sort_number(kv[0]))
            ]
    return [(members, None)]


def _sort_number(text: str) -> tuple[float, str]:
    value = number(text)
    return (value if value is not None else float("inf"), text)


#: Key of the series formed by files without a SeriesInstanceUID (``--series no-uid``).
NO_UID_KEY = "no-uid"


def _text(value: Any) -> str:
    return str(value or "").strip(" \x00")


def _group_by_series(
    records: list[FileRecord], root: Path
) -> tuple[dict[str, list[FileRecord]], dict[str, list[str]]]:
    """Files by SeriesInstanceUID; files without one grouped as GDCM groups them.

    GDCM (and so SimpleITK's series reader) puts every file whose
    SeriesInstanceUID is missing or empty into one series with the empty UID;
    such files are grouped here the same way, split further by modality and
    frame of reference so that an anonymised CT and PET in one folder stay
    apart, and the geometry split that follows separates different stacks.
    Returns the groups and, per stand-in key, the warning that says so.
    """
    by_series: dict[str, list[FileRecord]] = {}
    missing: dict[tuple[str, str], list[FileRecord]] = {}
    for rec in records:
        uid = _text(rec.header.get("SeriesInstanceUID"))
        if uid:
            by_series.setdefault(uid, []).append(rec)
        else:
            key = (_text(rec.header.get("Modality")), _text(rec.header.get("FrameOfReferenceUID")))
            missing.setdefault(key, []).append(rec)
    notes: dict[str, list[str]] = {}
    for n, ((modality, frame), recs) in enumerate(sorted(missing.items()), start=1):
        stand_in = NO_UID_KEY if len(missing) == 1 else f"{NO_UID_KEY}-{n}"
        absent = ["SeriesInstanceUID"]
        if not any(_text(r.header.get("StudyInstanceUID")) for r in recs):
            absent.append("StudyInstanceUID")
        by = f"modality {modality or 'unknown'}" + (f", frame of reference {frame}" if frame else "")
        notes[stand_in] = [
            f"{len(recs)} file(s) in {root} have no {' and no '.join(absent)} (e.g. {recs[0].path.name}); "
            f"they were grouped as one series ({by}), as GDCM groups files without a "
            f"SeriesInstanceUID; select it with --series {stand_in}."
        ]
        by_series[stand_in] = recs
    return by_series, notes


def index_dicom(
    path: str | os.PathLike[str],
    progress: Progress | None = None,
    max_workers: int | None = None,
) -> DicomIndex:
    """Scan a folder (recursively) or a single file, reading headers only.

    Parameters
    ----------
    path:
        A DICOM folder or file.
    progress:
        Optional callback receiving the fraction of files read (0…1).
    max_workers:
        Threads reading headers in parallel (default: a few per core).

    Returns
    -------
    DicomIndex
        Series split into stacks of equal geometry, ordered by series number
        and description; non-DICOM files are counted in ``skipped``.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidInputError(f"{root}: no such file or folder.")
    files = _list_files(root)
    records: list[FileRecord] = []
    skipped: list[Path] = []
    unreadable: list[Unreadable] = []
    workers = max_workers or min(8, (os.cpu_count() or 2) * 2)
    with capture_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(read_header, files, chunksize=16)):
            if isinstance(result, FileRecord):
                records.append(result)
            elif isinstance(result, Unreadable):
                unreadable.append(result)
            else:
                skipped.append(files[i])
            if progress is not None and (i % 64 == 0 or i == len(files) - 1):
                progress((i + 1) / max(len(files), 1))
    by_series, grouping = _group_by_series(records, root)
    series: list[SeriesInfo] = []
    for uid, recs in by_series.items():
        stacks = _split_stacks(recs)
        for n, (members, distinct) in enumerate(stacks, start=1):
            ds = members[0].header
            sop = members[0].sop_class_uid
            modality = str(ds.get("Modality", "") or NON_IMAGE_SOP_CLASSES.get(sop, "OT"))
            info = SeriesInfo(
                series_instance_uid=uid,
                modality=modality,
                description=str(ds.get("SeriesDescription", "") or "").strip(),
                sop_class_uid=sop,
                records=members,
                stack=n,
                n_stacks=len(stacks),
                distinct_by=distinct,
                uid_missing=uid in grouping,
                warnings=list(grouping.get(uid, [])),
            )
            if info.is_image:
                label = f"series {info.key} ({modality}{' ' + repr(info.description) if info.description else ''})"
                with capture_warnings(), warning_source(members[0].path) as caught:
                    try:
                        info.plan = plan_for(members, label)
                    except DicomError as exc:
                        info.problem = str(exc)
                info.warnings.extend(caught)
            series.append(info)
    series.sort(key=lambda s: (int_or_none(s.header.get("SeriesNumber")) or 0, s.description, s.key))
    return DicomIndex(root=root, series=series, skipped=skipped, unreadable=unreadable)
