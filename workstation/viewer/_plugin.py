"""npe2 contributions: reader, writers and sample data (declared in ``napari.yaml``).

Reader rules
------------
* A NIfTI/NRRD/MHA file gives one layer. Integer images with non-negative
  values and at most 64 distinct values open as labels; float images named
  ``*dose*`` as a dose wash (Gy) and ``*margin*`` as a signed margin map (mm);
  images whose minimum is below -500 open as CT (HU, soft-tissue window);
  anything else as a grey image.
* A Slicer ``.seg.nrrd`` gives one labels layer with the segment names.
* A DICOM folder gives **one layer per image series** (per stack when a
  series holds several geometries; localizers are left out), every one placed
  in patient space, so a CT and its SPECT/PET overlay correctly. The CT series
  come first, so they are drawn below the others. This replaces a modal
  series picker: hide or delete the layers you do not need. (The command line
  follows the contract instead: ``--series`` chooses one.)
* A single DICOM file (e.g. multi-frame NM) gives one layer.
* An output folder of ``rt-dose``, ``combine``, ``tace``, ``lesions``, ``sirt`` or
  ``margin`` (a folder with its ``results.json``) gives its result layers
  (:mod:`workstation.viewer.results`); the matching dock widget's "Open … results"
  shows them with their table.
* Layers are named after the file (its stem), a series after its description;
  labels without names in the file after the layer (``liver``, ``lesions 2``).

The reader and the sample studies prepare the viewer they are opened in
(:func:`~workstation.viewer._display.prepare_viewer`): masks are outlined, images go
below the overlays, colour bars carry the layer name and unit, and the status bar
reads every layer in LPS millimetres.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.viewer.layers import LayerData, named_labels, volume_from_layer, volume_layer

__all__ = [
    "get_reader",
    "read_path",
    "write_labels_image",
    "write_labels_seg",
    "sample_sirt",
    "sample_maa",
    "sample_ablation",
    "sample_nema",
    "sample_tace",
]

_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_MAX_LABELS = 64


def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _folder_has_dicom(path: Path, limit: int = 200) -> bool:
    for n, item in enumerate(path.rglob("*")):
        if n > limit:
            break
        if item.is_file() and (item.suffix.lower() == ".dcm" or _is_dicom_file(item)):
            return True
    return False


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """npe2 reader hook: a reader function for ``path``, or None when it is not ours."""
    if isinstance(path, list):
        if not path or not all(isinstance(p, str) for p in path):
            return None
        return read_path if all(get_reader(p) for p in path) else None
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return read_path if (p / "results.json").is_file() or _folder_has_dicom(p) else None
    if name.endswith(_IMAGE_SUFFIXES):
        return read_path
    if p.is_file() and (name.endswith(".dcm") or _is_dicom_file(p)):
        return read_path
    return None


def _prepare_current_viewer() -> None:
    """Prepare the viewer napari is opening our layers in (npe2 readers do not receive it)."""
    try:
        import napari
    except ImportError:  # pragma: no cover - the reader runs inside napari
        return
    viewer = napari.current_viewer()
    if viewer is not None:
        from workstation.viewer._display import prepare_viewer

        prepare_viewer(viewer)


def read_path(path: str | list[str]) -> list[LayerData]:
    """Read a file or folder (or a list of them) into layers (see the module rules)."""
    _prepare_current_viewer()
    paths = path if isinstance(path, list) else [path]
    layers: list[LayerData] = []
    for item in paths:
        layers.extend(_read_one(Path(item)))
    return layers


def _read_one(path: Path) -> list[LayerData]:
    name = path.name.lower()
    if path.is_dir() and (path / "results.json").is_file():
        from workstation.viewer.results import read_results, result_layers

        try:
            return result_layers(read_results(path))
        except InvalidInputError:
            if not _folder_has_dicom(path):
                raise
    if name.endswith(".seg.nrrd"):
        return [volume_layer(_read_seg_nrrd(path), name=path.name[: -len(".seg.nrrd")])]
    if path.is_file() and name.endswith(_IMAGE_SUFFIXES):
        from workstation.io.formats import read_sitk_image

        vol = _guess_kind(read_sitk_image(path), path.name)
        if vol.units == Unit.LABEL:
            vol = named_labels(vol, _stem(path))
        return [volume_layer(vol, name=_stem(path))]
    return [volume_layer(v) for v in read_dicom_series(path)]


def read_dicom_series(path: Path) -> list[Volume]:
    """Every image series of a DICOM folder (or the one of a file), CT first."""
    from workstation.io import read_image

    if path.is_file():
        return [read_image(path)]
    from workstation.io.dicom import index_dicom

    index = index_dicom(path)
    keys = [s.key for s in index.images if not s.is_localizer]
    if not keys:
        raise InvalidInputError(f"{path}: no DICOM image series found.")
    volumes = [read_image(path, series=key) for key in keys]
    volumes.sort(key=lambda v: 0 if v.modality == "CT" else 1)
    return volumes


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _guess_kind(vol: Volume, filename: str = "") -> Volume:
    """Labels, dose, margin or CT for a research-format file whose header says neither.

    A floating-point image whose file name contains "dose" is taken as Gy (the
    ``sirt`` command writes ``dose_<method>.nii.gz``), one whose name contains
    "margin" as mm (``margin_map.nii.gz``).
    """
    if vol.units != Unit.UNKNOWN:
        return vol
    arr = vol.array
    name = filename.lower()
    if np.issubdtype(arr.dtype, np.floating):
        if "dose" in name:
            return vol.copy_with(units=Unit.GY)
        if "margin" in name:
            return vol.copy_with(units=Unit.MM)
    if arr.dtype == bool:
        return vol.copy_with(units=Unit.LABEL)
    if np.issubdtype(arr.dtype, np.integer) and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 10_000:
            present = np.flatnonzero(np.bincount(arr.ravel().astype(np.intp), minlength=hi + 1))
            if present.size <= _MAX_LABELS:
                return vol.copy_with(units=Unit.LABEL)
    if arr.size and float(np.nanmin(arr)) < -500.0:
        return vol.copy_with(units=Unit.HU, modality=vol.modality or "CT")
    return vol


def _read_seg_nrrd(path: Path) -> Volume:
    """A 3D Slicer segmentation as one label volume with segment names."""
    try:
        from workstation.io.masks import read_mask
    except ImportError:
        read_mask = None
    if read_mask is not None:
        return read_mask(str(path))
    import SimpleITK as sitk

    from workstation.io.formats import read_sitk_image

    vol = read_sitk_image(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    keys = set(reader.GetMetaDataKeys())
    names: dict[int, str] = {}
    n = 0
    while f"Segment{n}_Name" in keys:
        value_key = f"Segment{n}_LabelValue"
        value = int(reader.GetMetaData(value_key)) if value_key in keys else n + 1
        names[value] = reader.GetMetaData(f"Segment{n}_Name")
        n += 1
    return vol.copy_with(array=vol.array.astype(np.int32), units=Unit.LABEL, label_names=names)


# ----------------------------------------------------------------- writers
def _labels_volume(data: Any, meta: dict[str, Any]) -> Volume:
    vol = volume_from_layer(data, meta, units=Unit.LABEL)
    names = (meta.get("metadata") or {}).get("label_names")
    if names:
        vol.label_names = {int(k): str(v) for k, v in names.items()}
    return vol


def write_labels_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 writer: a labels layer as NIfTI/NRRD/MHA in patient space."""
    from workstation.io.formats import write_image

    vol = _labels_volume(data, meta)
    arr = vol.array
    if arr.max(initial=0) <= 255 and arr.min(initial=0) >= 0:
        vol = vol.copy_with(array=arr.astype(np.uint8))
    return [str(write_image(vol, path))]


def write_labels_seg(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 writer: a labels layer as DICOM SEG referencing the image it was drawn on.

    The reference is the layer's ``metadata["reference"]`` (set by the
    segmentation widget and the reader) and must come from DICOM.
    """
    from workstation.io.seg import write_seg

    md = meta.get("metadata") or {}
    reference = md.get("reference")
    if not isinstance(reference, Volume) or not reference.metadata.dicom_headers:
        raise InvalidInputError(
            f"{path}: a DICOM SEG must reference a DICOM image, but the layer "
            f"{meta.get('name', '')!r} has none; save it as NIfTI (.nii.gz) instead."
        )
    labels = _labels_volume(data, meta)
    if not labels.same_grid(reference):
        labels = labels.resample_to(reference, interpolation="nearest")
    return [str(write_seg(labels, path, reference=reference))]


# -------------------------------------------------------------- sample data
def _sample_dir(name: str) -> Path:
    from workstation.samples import sample_data_dir

    folder = Path(sample_data_dir()) / name
    if not folder.is_dir():
        raise InvalidInputError(
            f"The sample study {name!r} is missing from {folder.parent}; run "
            "`workstation sample-data` to write it."
        )
    return folder


def _study_layers(
    name: str, images: list[str], truth: dict[str, tuple[str, str]], hidden: tuple[str, ...] = ()
) -> list[LayerData]:
    """Layers of a sample study: its images (CT first) and ground-truth outlines.

    ``truth`` maps a label to (file, ROI role): the role prefills the SIRT widget's
    role column (``metadata["roi_role"]``), from the truth rather than the name.
    """
    _prepare_current_viewer()
    from workstation.io import read_image
    from workstation.io.formats import read_sitk_image
    from workstation.viewer.layers import ct_layer, functional_layer, labels_layer

    folder = _sample_dir(name)
    layers: list[LayerData] = []
    reference: Volume | None = None
    for sub in images:
        src = folder / sub
        if not src.exists():
            raise InvalidInputError(f"The sample study {name!r} has no {sub}/ folder in {folder}.")
        vol = read_image(src)
        if vol.is_ct():
            layer = ct_layer(vol, preset="soft tissue", name=f"{name} {sub}")
            reference = reference or vol
        else:
            layer = functional_layer(vol, name=f"{name} {sub}")
        if sub in hidden:
            layer[1]["visible"] = False
        layers.append(layer)
    for label, (filename, role) in truth.items():
        src = folder / "ground_truth" / filename
        if not src.exists():
            raise InvalidInputError(f"The sample study {name!r} has no ground truth {src.name}.")
        mask = read_sitk_image(src)
        values = [int(v) for v in np.unique(mask.array) if v != 0]
        names = {v: (label if len(values) == 1 else f"{label} {v}") for v in values}
        mask = mask.copy_with(array=mask.array.astype(np.int32), units=Unit.LABEL, label_names=names)
        layer = labels_layer(mask, name=f"{name} {label}", contour=1, opacity=1.0)
        layer[1]["metadata"]["roi_role"] = role
        layer[1]["metadata"]["truth"] = label
        if reference is not None:
            layer[1]["metadata"]["reference"] = reference
        layers.append(layer)
    return layers


def sample_sirt() -> list[LayerData]:
    """The SIRT sample study: CT, 90Y SPECT and PET, liver/lesion/lung outlines (ground truth)."""
    return _study_layers(
        "sirt",
        ["ct", "spect", "pet"],
        {"liver": ("liver.nii.gz", "liver"), "lesions": ("lesions.nii.gz", "lesion"),
         "lungs": ("lungs.nii.gz", "lung")},
        hidden=("pet",),
    )


def sample_maa() -> list[LayerData]:
    """The 99mTc-MAA planning study: CT, SPECT, liver/lesion/lung outlines (ground truth)."""
    return _study_layers(
        "maa",
        ["ct", "spect"],
        {"liver": ("liver.nii.gz", "liver"), "lesions": ("lesions.nii.gz", "lesion"),
         "lungs": ("lungs.nii.gz", "lung")},
    )


def sample_ablation() -> list[LayerData]:
    """The ablation study: post-ablation CT with tumour, ablation-zone and liver outlines.

    The pre-ablation CT is added hidden: it is a separate acquisition, not
    aligned with the post-ablation CT until registered (the Register widget).
    """
    return _study_layers(
        "ablation",
        ["post_ct", "pre_ct"],
        {"tumor": ("tumor_post.nii.gz", "lesion"), "ablation zone": ("ablation_zone.nii.gz", "other"),
         "liver": ("liver_post.nii.gz", "liver")},
        hidden=("pre_ct",),
    )


def sample_nema() -> list[LayerData]:
    """The NEMA IEC body phantom: PET and SPECT with the sphere outlines (ground truth)."""
    return _study_layers("nema", ["pet", "spect"], {"spheres": ("spheres.nii.gz", "lesion")}, hidden=("spect",))


def sample_tace() -> list[LayerData]:
    """The TACE study: unenhanced post-TACE CT with tumour and liver outlines (ground truth, post-CT grid).

    The pre-TACE CT is added hidden (another acquisition, not aligned until
    registered); the tumour outlines are those on the post-TACE CT, so the TACE
    widget analyses the post-TACE CT alone unless given the pre-TACE CT with
    tumours drawn on it.
    """
    return _study_layers(
        "tace",
        ["post_ct", "pre_ct"],
        {"tumor": ("tumor_post.nii.gz", "lesion"), "liver": ("liver_post.nii.gz", "liver")},
        hidden=("pre_ct",),
    )
