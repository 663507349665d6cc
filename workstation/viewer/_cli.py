"""The ``workstation view`` command's work (the typer command itself lives in ``cli.py``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume

__all__ = ["add_docks", "read_result_folders", "read_view_inputs", "open_window", "open_viewer"]


def split_labels_spec(item: str) -> tuple[str | None, str]:
    """``"NAME=MASK"`` -> (NAME, MASK); a plain ``MASK`` (or a file whose name holds ``=``) -> (None, MASK)."""
    name, sep, spec = item.partition("=")
    if not sep or Path(item.split("#", 1)[0]).exists() or not name.strip() or not spec.strip():
        return None, item
    if any(c in name for c in "/\\"):
        return None, item
    return name.strip(), spec


def _read_labels(item: str, reference: Volume | None) -> Volume:
    """A ``--labels`` mask named by NAME=, else by its segment/label name, else by its file stem."""
    from workstation.io import read_mask
    from workstation.io.masks import split_mask_spec
    from workstation.viewer.layers import named_labels

    name, spec = split_labels_spec(item)
    vol = read_mask(spec, reference=reference)
    path, segment = split_mask_spec(spec)
    if name is None:
        if segment is not None and len(vol.label_names) == 1:
            name = next(iter(vol.label_names.values()))  # FILE#Segment: the segment's name
        else:
            name = _stem(path)
    return named_labels(vol, name)


def _stem(path: Path) -> str:
    text = path.name
    for suffix in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if text.lower().endswith(suffix):
            return text[: -len(suffix)] or text
    return text


def read_view_inputs(
    images: Sequence[str],
    dose: str | None = None,
    labels: Sequence[str] = (),
    series: str | None = None,
) -> tuple[list[Volume], Volume | None, list[Volume]]:
    """Read the ``view`` command's inputs: images, a dose (Gy) and label masks.

    Masks are resampled (nearest) onto the first image when there is one. Each
    ``labels`` item is ``MASK`` or ``NAME=MASK``; its layer is named NAME, else
    after the segment (``FILE#Segment``), else after the file (its stem), and
    unnamed labels of a label image after the layer.
    """
    from workstation.io import read_image

    vols = [read_image(p, series=series) for p in images]
    for path, vol in zip(images, vols, strict=True):
        if vol.units == Unit.LABEL:
            raise InvalidInputError(f"{path} is a label image; give it with --labels.")
    dose_vol = None
    if dose is not None:
        dose_vol = read_image(dose, units=Unit.GY)
        if dose_vol.units not in (Unit.GY, Unit.UNKNOWN):
            raise InvalidInputError(f"The --dose image {dose} holds {dose_vol.units.value}, not Gy.")
        dose_vol.units = Unit.GY
        if dose_vol.array.dtype.kind not in "f":
            dose_vol = dose_vol.copy_with(array=dose_vol.array.astype("float32"))
    reference = vols[0] if vols else dose_vol
    masks = [_read_labels(spec, reference) for spec in labels]
    return vols, dose_vol, masks


def read_result_folders(folders: Sequence[str | Path]) -> tuple[list[Any], list[str]]:
    """Read ``view --results`` folders; also the CTs they were computed on, to open when no image is given.

    Returns the :class:`~workstation.viewer.results.TherapyResults` and the paths of
    their CTs (from their ``results.json`` inputs, where those still lead), each once.
    """
    from workstation.viewer.results import read_results

    therapy = [read_results(folder) for folder in folders]
    cts: list[str] = []
    seen: set[Path] = set()
    for res in therapy:
        if res.ct_path is not None and res.ct_path.resolve() not in seen:
            seen.add(res.ct_path.resolve())
            cts.append(str(res.ct_path))
    return therapy, cts


def open_window(
    images: Sequence[Volume],
    dose: Volume | None,
    labels: Sequence[Volume],
    isodose_levels_gy: Sequence[float] | None = None,
    window: str = "soft tissue",
    dose_threshold_gy: float | None = None,
    results: Sequence[Any] = (),
) -> None:
    """Open the napari window with the volumes and the workstation's dock widgets; block.

    Each of ``results`` (:class:`~workstation.viewer.results.TherapyResults`) is shown by
    its dock widget (radiotherapy doses, TACE, lesions: layers, table, DVH), which is
    brought to the front; sirt and margin results as layers.
    """
    from workstation.viewer._app import DisplayUnavailableError, add_volumes

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise DisplayUnavailableError(
            "Opening the viewer window needs a display (DISPLAY is not set); "
            "use --screenshot PNG to render without one."
        )
    from workstation.viewer.layers import window_limits

    window_limits(window)
    import napari

    viewer = napari.Viewer(title="workstation")
    add_volumes(
        viewer, images, dose=dose, labels=labels, isodose_levels_gy=isodose_levels_gy,
        dose_threshold_gy=dose_threshold_gy, window=window,
    )
    add_docks(viewer, results)
    napari.run()


def add_docks(viewer: Any, results: Sequence[Any] = ()) -> dict[str, Any]:
    """Add the workstation's dock widgets (tabbed, right) and show ``results`` in theirs.

    Returns the widgets by dock name. The dock of the last result shown is in front.
    """
    from workstation.viewer._widget_base import replace_layers
    from workstation.viewer.correct import CorrectWidget
    from workstation.viewer.results import focus_point_lps, result_layers
    from workstation.viewer.steps import (
        MarginWidget,
        PlanningWidget,
        RegisterWidget,
        SegmentWidget,
        SirtWidget,
    )
    from workstation.viewer.therapy import LesionWidget, RadiotherapyWidget, TaceWidget
    from workstation.viewer.widgets import OverlayWidget, StudyWidget

    docks = [
        ("Load a study", StudyWidget),
        ("Register", RegisterWidget),
        ("Segment", SegmentWidget),
        ("Correct", CorrectWidget),
        ("SIRT dosimetry", SirtWidget),
        ("Planning", PlanningWidget),
        ("Ablation margins", MarginWidget),
        ("Radiotherapy doses", RadiotherapyWidget),
        ("TACE", TaceWidget),
        ("Lesions", LesionWidget),
        ("Overlays", OverlayWidget),
    ]
    widgets: dict[str, Any] = {}
    dock_widgets: dict[str, Any] = {}
    for name, widget_class in docks:
        widgets[name] = widget_class(viewer)
        dock_widgets[name] = viewer.window.add_dock_widget(widgets[name], name=name, area="right", tabify=True)
    for res in results:
        owner = next((name for name, w in widgets.items() if res.kind in getattr(w, "KINDS", ())), None)
        if owner is None:  # sirt, margin: their layers
            from workstation.viewer._widget_base import centre_view

            replace_layers(viewer, result_layers(res))
            point = focus_point_lps(res)
            if point is not None:
                centre_view(viewer, point)
            continue
        widgets[owner].show_results(res)
        dock_widgets[owner].raise_()
    from workstation.viewer._display import untruncate_dock_tabs

    untruncate_dock_tabs(viewer.window._qt_window)
    return widgets


#: Public name (``workstation.viewer.open_viewer``), e.g. for ``workstation demo``.
open_viewer = open_window
