"""The one geometry type: an array that never travels without its affine.

Conventions (the whole project relies on them):

* ``Volume.array`` has axes ``(z, y, x)``: axis 0 is the slice axis, axis 1 the
  row axis (DICOM rows, "down" the image), axis 2 the column axis (along a row).
* ``Volume.affine`` is a 4×4 matrix mapping an array index ``(k, j, i, 1)`` (in
  the array's axis order) to patient coordinates ``(x, y, z, 1)`` in the DICOM
  patient coordinate system LPS (x to the patient's left, y posterior, z
  superior), in millimetres. This is the convention of highdicom's ``Volume``.
* SimpleITK uses (x, y, z) for spacing, size and direction columns; the
  reversal happens once, in :meth:`Volume.to_sitk` / :meth:`Volume.from_sitk`.
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from workstation.core.errors import EmptyMaskError, GeometryMismatchError, NoOverlapError
from workstation.core.grid import Grid, _box_bounds, _check_affine, affine_from_geometry

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "Grid",
    "Unit",
    "Radiopharmaceutical",
    "VolumeMetadata",
    "Volume",
    "affine_from_geometry",
]


class Unit(StrEnum):
    """Physical unit of a volume's voxel values."""

    HU = "HU"
    BQML = "Bq/mL"
    COUNTS = "counts"
    GY = "Gy"
    GBQ = "GBq"
    MM = "mm"
    G_PER_ML = "g/mL"
    LABEL = "label"
    FRACTION = "fraction"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | Unit | None) -> Unit:
        """Accept an enum member, its value (case-insensitive) or common aliases."""
        if value is None:
            return cls.UNKNOWN
        if isinstance(value, Unit):
            return value
        text = str(value).strip()
        aliases = {
            "bqml": cls.BQML,
            "bq/ml": cls.BQML,
            "bq/cc": cls.BQML,
            "cnts": cls.COUNTS,
            "counts": cls.COUNTS,
            "hu": cls.HU,
            "gy": cls.GY,
            "label": cls.LABEL,
            "mm": cls.MM,
        }
        low = text.lower()
        if low in aliases:
            return aliases[low]
        for member in cls:
            if member.value.lower() == low:
                return member
        return cls.UNKNOWN


@dataclass(frozen=True)
class Radiopharmaceutical:
    """What was injected, how much and when.

    Parameters
    ----------
    nuclide:
        Nuclide name in the project's notation, e.g. ``"Y-90"``, ``"Tc-99m"``.
    administered_activity_bq:
        Activity at ``injection_datetime`` in becquerel (DICOM RadionuclideTotalDose).
    injection_datetime:
        Time of administration (DICOM RadiopharmaceuticalStartDateTime).
    half_life_s:
        Half-life in seconds as written in the header (DICOM RadionuclideHalfLife).
    """

    nuclide: str | None = None
    administered_activity_bq: float | None = None
    injection_datetime: _dt.datetime | None = None
    half_life_s: float | None = None
    name: str | None = None


@dataclass
class VolumeMetadata:
    """Metadata that later steps need; every field is optional."""

    patient_id: str | None = None
    patient_name: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    series_description: str | None = None
    series_number: int | None = None
    acquisition_datetime: _dt.datetime | None = None
    #: Time to which the voxel values are decay corrected (PET: DecayCorrection START/ADMIN).
    reference_datetime: _dt.datetime | None = None
    decay_correction: str | None = None
    radiopharmaceutical: Radiopharmaceutical | None = None
    sop_class_uid: str | None = None
    sop_instance_uids: list[str] = field(default_factory=list)
    source_path: str | None = None
    #: Header datasets (pydicom) of the source series, used by writers to
    #: reference it; not copied by :meth:`Volume.copy_with`.
    dicom_headers: list[Any] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Volume:
    """A 3D image or mask with exact geometry.

    Parameters
    ----------
    array:
        Voxel values, axes (z, y, x).
    affine:
        4×4 map from array index (k, j, i) to patient LPS millimetres.
    frame_of_reference_uid:
        DICOM Frame of Reference UID, or ``None`` when unknown.
    modality:
        DICOM modality (``"CT"``, ``"NM"``, ``"PT"``, ``"RTDOSE"``, ``"SEG"``, …).
    units:
        Physical unit of the values.
    label_names:
        For label images (``units == Unit.LABEL``): label value → name.
    metadata:
        Series, study and radiopharmaceutical information.
    """

    array: np.ndarray
    affine: np.ndarray
    frame_of_reference_uid: str | None = None
    modality: str | None = None
    units: Unit = Unit.UNKNOWN
    label_names: dict[int, str] = field(default_factory=dict)
    metadata: VolumeMetadata = field(default_factory=VolumeMetadata)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise GeometryMismatchError(
                f"A volume must be 3D (z, y, x), but the array is {self.array.ndim}D."
            )
        self.affine = _check_affine(self.affine)
        self.units = Unit.parse(self.units)

    # ------------------------------------------------------------------ geometry
    @property
    def grid(self) -> Grid:
        """The voxel grid (shape, affine, frame of reference) without the values."""
        return Grid._trusted(self.shape, self.affine, self.frame_of_reference_uid)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nz, ny, nx)."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel spacing along (z, y, x) in millimetres."""
        return self.grid.spacing_mm

    @property
    def direction(self) -> np.ndarray:
        """3×3 matrix whose columns are the LPS unit vectors of array axes 0, 1, 2."""
        return self.grid.direction

    @property
    def origin_mm(self) -> np.ndarray:
        """LPS position (mm) of the centre of voxel (0, 0, 0)."""
        return self.grid.origin_mm

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm³)."""
        return self.grid.voxel_volume_ml

    def index_to_world(self, index_zyx: Any) -> np.ndarray:
        """Map array indices (…, 3) in (k, j, i) order to LPS millimetres (…, 3)."""
        return self.grid.index_to_world(index_zyx)

    def world_to_index(self, points_lps_mm: Any) -> np.ndarray:
        """Map LPS millimetres (…, 3) to continuous array indices (k, j, i)."""
        return self.grid.world_to_index(points_lps_mm)

    def corners_world(self) -> np.ndarray:
        """The 8 outer corners (voxel edges, not centres) of the volume in LPS mm."""
        return self.grid.corners_world()

    def bounding_box_world(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS bounding box (min, max) of the voxel extent in mm."""
        return self.grid.bounding_box_world()

    def same_grid(self, other: Volume | Grid, atol_mm: float = 1e-3) -> bool:
        """True when both volumes have the same shape and (within ``atol_mm``) affine."""
        return self.grid.same_grid(other, atol_mm=atol_mm)

    def overlaps(self, other: Volume | Grid) -> bool:
        """True when the voxel extents intersect in patient space.

        The test samples ``other``'s extent in this volume's index space, so it
        is exact for parallel grids and conservative for oblique ones.
        """
        return self.grid.overlaps(other)

    def crop(self, index_box: tuple[slice, slice, slice]) -> Volume:
        """The volume inside an index box (slices with step 1), with its geometry.

        The array is a copy; metadata and label names are kept.
        """
        starts, stops = _box_bounds(index_box, self.shape)
        box = (slice(starts[0], stops[0]), slice(starts[1], stops[1]), slice(starts[2], stops[2]))
        return self.copy_with(array=self.array[box].copy(), affine=self.grid.crop(box).affine)

    def nonzero_box(self, margin_voxels: int | Sequence[int] | np.ndarray = 0) -> tuple[slice, slice, slice] | None:
        """The index box of the non-zero voxels plus a margin (clipped), or ``None`` when all are zero.

        ``margin_voxels`` is one margin for every axis or one per axis (z, y, x).
        """
        nz = [np.flatnonzero(np.any(self.array, axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
        if any(len(i) == 0 for i in nz):
            return None
        margins = [int(m) for m in np.broadcast_to(np.asarray(margin_voxels, dtype=int), (3,))]
        return tuple(  # type: ignore[return-value]
            slice(max(int(i[0]) - m, 0), min(int(i[-1]) + 1 + m, n))
            for i, m, n in zip(nz, margins, self.shape, strict=True)
        )

    # ----------------------------------------------------------- constructors
    def copy_with(self, array: np.ndarray | None = None, **changes: Any) -> Volume:
        """A new volume with the same geometry and metadata and (optionally) new values."""
        meta = copy.copy(self.metadata)
        meta.warnings = list(self.metadata.warnings)
        meta.extra = dict(self.metadata.extra)
        fields: dict[str, Any] = {
            "array": self.array if array is None else array,
            "affine": self.affine.copy(),
            "metadata": meta,
            "label_names": dict(self.label_names),
        }
        fields.update(changes)
        return replace(self, **fields)

    # ------------------------------------------------------------ SimpleITK
    def to_sitk(self) -> sitk.Image:
        """Convert to a SimpleITK image (spacing, origin, direction in x, y, z order)."""
        import SimpleITK as sitk

        arr = self.array
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        image = sitk.GetImageFromArray(np.ascontiguousarray(arr))
        self.grid.set_sitk_geometry(image)
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, **kwargs: Any) -> Volume:
        """Build a volume from a SimpleITK image (3D, scalar)."""
        import SimpleITK as sitk

        if image.GetDimension() != 3:
            raise GeometryMismatchError(
                f"Only 3D images are supported, but this image is {image.GetDimension()}D."
            )
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryMismatchError(
                "Only scalar images are supported, but this image has "
                f"{image.GetNumberOfComponentsPerPixel()} components per voxel."
            )
        array = sitk.GetArrayFromImage(image)
        spacing_xyz = np.array(image.GetSpacing())
        direction_xyz = np.array(image.GetDirection()).reshape(3, 3)
        affine = affine_from_geometry(
            image.GetOrigin(), spacing_xyz[::-1], direction_xyz[:, ::-1]
        )
        return cls(array=array, affine=affine, **kwargs)

    # ------------------------------------------------------------ resampling
    def resample_to(
        self,
        reference: Volume | Grid,
        interpolation: Literal["linear", "nearest", "bspline"] | None = None,
        fill_value: float = 0.0,
        transform: Any | None = None,
        dtype: Any | None = None,
    ) -> Volume:
        """Resample this volume onto ``reference``'s grid in patient space.

        Parameters
        ----------
        reference:
            Volume or grid whose geometry (shape, affine) the result takes.
        interpolation:
            ``"linear"`` for images, ``"nearest"`` for masks and labels. By default
            it follows what the volume is: ``"nearest"`` for a label image
            (``units == Unit.LABEL``) or a boolean array, ``"linear"`` otherwise, so
            labels are never blended by accident.
        fill_value:
            Value of reference voxels that fall outside this volume.
        transform:
            Optional SimpleITK transform mapping points of the reference space
            to this volume's space (the ITK resampling convention).
        dtype:
            Output dtype; by default float32 for linear, the input dtype for nearest.
        """
        import SimpleITK as sitk

        if interpolation is None:
            interpolation = "nearest" if self.is_label() or self.array.dtype == bool else "linear"
        target = reference.grid if isinstance(reference, Volume) else reference
        if transform is None and self.same_grid(target):
            out = self.array if dtype is None else self.array.astype(dtype)
            return self.copy_with(array=out.copy(), affine=target.affine.copy())
        if transform is None and not self.overlaps(target):
            raise NoOverlapError(
                "The volumes do not overlap in patient space "
                f"(source bounds {np.round(self.bounding_box_world(), 1).tolist()} mm, "
                f"target bounds {np.round(target.bounding_box_world(), 1).tolist()} mm)."
            )
        interp = {
            "linear": sitk.sitkLinear,
            "nearest": sitk.sitkNearestNeighbor,
            "bspline": sitk.sitkBSpline,
        }[interpolation]
        src = self
        if interpolation != "nearest" and self.array.dtype.kind in "biu":
            src = self.copy_with(array=self.array.astype(np.float32))
        tx = transform if transform is not None else sitk.Transform()
        out_img = sitk.Resample(src.to_sitk(), target.to_sitk_reference(), tx, interp, float(fill_value))
        out = sitk.GetArrayFromImage(out_img)
        if dtype is not None:
            out = out.astype(dtype)
        elif interpolation == "nearest":
            out = out.astype(self.array.dtype)
        return self.copy_with(array=out, affine=target.affine.copy())

    # ------------------------------------------------------------- masks
    def is_label(self) -> bool:
        """True for a label image (``units == Unit.LABEL``)."""
        return self.units == Unit.LABEL

    def is_ct(self, guess_from_values: bool = False) -> bool:
        """True for a CT: modality ``CT`` or values in HU.

        With ``guess_from_values``, an image of unknown kind (no modality, unknown
        units: a NIfTI file) whose values look like HU also counts: its 1st
        percentile lies between -1100 and -800 (air) and no value is below -1300.
        """
        if self.modality == "CT" or self.units == Unit.HU:
            return True
        if not guess_from_values or self.modality is not None or self.units != Unit.UNKNOWN:
            return False
        sample = self.array.ravel()[:: max(1, self.array.size // 100_000)]
        low = float(np.percentile(sample, 1))
        return -1100.0 <= low <= -800.0 and float(sample.min()) >= -1100.0 - 200.0

    def mask(self, name_or_value: str | int | None = None) -> np.ndarray:
        """Boolean array of one label (by name or value), or of all non-zero voxels."""
        if name_or_value is None:
            return self.array != 0
        if isinstance(name_or_value, str):
            for value, name in self.label_names.items():
                if name == name_or_value:
                    return self.array == value
            raise EmptyMaskError(
                f"No segment named {name_or_value!r}; known: {sorted(self.label_names.values())}."
            )
        return self.array == name_or_value
