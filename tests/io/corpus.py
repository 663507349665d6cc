"""The corpus of real DICOM files (pydicom-data, pydicom's own test files, ``shared/real``).

Every entry is read through :func:`workstation.io.read_image`; the outcome is
``read`` (a volume), ``refused`` (a :class:`WorkstationError` with a reason) or
``failed`` (anything else). A read volume is compared with SimpleITK/GDCM's
reading of the same input where SimpleITK reads it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from workstation.core import Volume, WorkstationError
from workstation.core.diagnostics import capture_warnings
from workstation.io import read_image

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_data_files() -> Path | None:
    """The data folder of the PyPI package ``pydicom-data`` (module ``data_store``), if installed."""
    try:
        import data_store  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(data_store.__file__).parent / "data"
    return folder if folder.is_dir() else None


_NOT_DICOM = (".py", ".pyc", ".txt", ".json", ".gz", ".bz2", ".zip", ".dump", ".icc", ".md")


def corpus_entries(shared_real: Path | None) -> list[Path]:
    """Single files of both packages, and the series folders of ``shared/real``."""
    entries: list[Path] = []
    for root in (pydicom_data_files(), PYDICOM_FILES):
        if root is None:
            continue
        entries.extend(
            path for path in sorted(root.glob("*"))
            if path.is_file() and not path.name.endswith(_NOT_DICOM) and path.name != "README"
        )
    if shared_real is not None:
        entries += [
            shared_real / "hcc048_portal_venous_ct",
            shared_real / "totalsegmentator_example" / "ct_dicom",
            shared_real / "dcmqi_liver_seg" / "ct",
            shared_real / "dcmqi_liver_seg" / "liver.dcm",
        ]
    return [e for e in entries if e.exists()]


@dataclass
class Outcome:
    path: Path
    kind: str  # "read", "refused" or "failed"
    detail: str
    volume: Volume | None = None


def read_entry(path: Path) -> Outcome:
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        try:
            volume = read_image(path)
        except WorkstationError as exc:
            return Outcome(path, "refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - counted as a failure of the reader
            return Outcome(path, "failed", f"{type(exc).__name__}: {exc}")
    if leaked:
        return Outcome(path, "failed", f"raw warnings: {[str(w.message) for w in leaked]}")
    return Outcome(path, "read", "", volume)


def sitk_volume(path: Path) -> Volume | None:
    """SimpleITK/GDCM's reading of a file or series folder (``None`` when it cannot)."""
    import SimpleITK as sitk

    with capture_warnings():
        try:
            if path.is_dir():
                reader = sitk.ImageSeriesReader()
                ids = reader.GetGDCMSeriesIDs(str(path))
                if len(ids) != 1:
                    return None
                reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), ids[0]))
                image = reader.Execute()
            else:
                image = sitk.ReadImage(str(path))
        except RuntimeError:
            return None
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        return None
    return Volume.from_sitk(sitk.Cast(image, sitk.sitkFloat64))


def compare_with_sitk(volume: Volume, reference: Volume) -> str | None:
    """``None`` when both readings agree in patient space, else what differs.

    Two conventions differ and are evened out first: the slice step of a
    single-slice image (GDCM: 1 mm; ours: SliceThickness) and the RT Dose
    scaling (GDCM returns the stored values; ours are Gy, DoseGridScaling applied).
    """
    if volume.shape[0] == 1 and reference.shape[0] == 1:
        affine = volume.affine.copy()
        affine[:3, 0] = reference.affine[:3, 0]
        volume = volume.copy_with(affine=affine)
    if volume.modality == "RTDOSE" and volume.metadata.dicom_headers:
        scaling = float(volume.metadata.dicom_headers[0].get("DoseGridScaling", 1.0) or 1.0)
        reference = reference.copy_with(array=reference.array * scaling)
    if not np.allclose(np.sort(volume.shape), np.sort(reference.shape)):
        return f"shape {volume.shape} vs SimpleITK {reference.shape}"
    ours = volume
    if not volume.same_grid(reference, atol_mm=1e-3):
        ours = volume.copy_with(array=volume.array.astype(np.float64)).resample_to(
            reference, interpolation="nearest"
        )
        if not np.allclose(np.sort(np.abs(volume.affine[:3, :3]).ravel()), np.sort(np.abs(reference.affine[:3, :3]).ravel()), atol=1e-3):
            return f"voxel axes {volume.affine[:3, :3].tolist()} vs SimpleITK {reference.affine[:3, :3].tolist()}"
    difference = np.abs(ours.array.astype(np.float64) - reference.array)
    scale = max(float(np.abs(reference.array).max()), 1.0)
    if float(difference.max()) > 1e-4 * scale:
        return f"values differ by up to {float(difference.max()):.4g} (of {scale:.4g})"
    return None
