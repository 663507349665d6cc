"""Correcting a mask in the viewer: paint and erase, inside/outside strokes refined on the CT, undo, save.

The dock widget works on a labels layer (a liver, a lesion mask: from a file, the
Segment widget or a sample's truth) over its CT. The chosen layer is never changed:
the first edit copies it into ``"<mask> corrected"`` (on the CT's grid), every edit
goes to that copy, and the original stays as a white outline to compare with. Nothing is
written to disk until **Save mask…**.

* **Paint / Erase** switch the corrected layer to napari's brush (the label chosen)
  or eraser; every stroke can be undone.
* **Draw inside / Draw outside** paint strokes on a separate strokes layer on the
  CT's grid (green: tissue the mask missed; red: tissue it took wrongly).
  **Refine** gives the mask, the strokes and the CT to
  :func:`workstation.segmentation.refine_mask` (a random walker on the CT, a
  lesion grown again from the strokes) in a worker thread, and writes the change
  into the corrected layer as one edit: **Undo** (or Ctrl+Z on the layer) takes it back,
  as it takes back a brush stroke.
* **Save mask…** writes the layer as NIfTI/NRRD (``MASK`` of every command,
  ``FILE.nii.gz#N`` for one label) or as DICOM SEG on a DICOM CT (``SEG.dcm#Label``).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QSpinBox, QWidget

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.viewer._colormaps import label_colors
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._widget_base import LayerChoice, StepWidget, layer_volume

__all__ = ["STROKE_COLORS", "STROKE_INSIDE", "STROKE_OUTSIDE", "CorrectWidget"]

#: Stroke labels and their colours (RGB 0–1): inside green, outside red.
STROKE_INSIDE, STROKE_OUTSIDE = 1, 2
STROKE_COLORS: dict[int, tuple[float, float, float]] = {STROKE_INSIDE: (0.2, 1.0, 0.2),
                                                         STROKE_OUTSIDE: (1.0, 0.25, 0.25)}
#: Colour (RGB 0–1) of the original mask's outline once a corrected copy is made.
ORIGINAL_OUTLINE_RGB = (1.0, 1.0, 1.0)
#: Default brush diameter (voxels of the layer painted on).
BRUSH_VOXELS = 5


def _row(*buttons: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for button in buttons:
        layout.addWidget(button)
    return row


def label_names_of(layer: Any) -> dict[int, str]:
    """The labels of a labels layer by value (its metadata's names, else the values present)."""
    names = layer.metadata.get("label_names") or {}
    if names:
        return {int(k): str(v) for k, v in names.items() if int(k) != 0}
    return {int(v): f"label {int(v)}" for v in np.unique(np.asarray(layer.data)) if v != 0}


class CorrectWidget(StepWidget):
    """Correct a liver or lesion mask: paint/erase, inside/outside strokes refined on the CT, undo, save.

    See the module docstring. The strokes layer (``"<mask> corrected strokes"``) is
    not a mask: no picker offers it, and it is cleared after each refinement.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Refine with the strokes")
        self.image = LayerChoice(napari_viewer, (LayerKind.CT,))
        self.mask = LayerChoice(napari_viewer, (LayerKind.LABELS,), prefer=[
            lambda layer: "corrected_from" in layer.metadata,
            lambda layer: layer.metadata.get("segmented") is not None,
            lambda layer: layer.metadata.get("truth") in ("liver", "lesions", "tumor"),
            lambda layer: layer_kind(layer) == LayerKind.LABELS])
        self.label = QComboBox()
        self.label.currentIndexChanged.connect(lambda *_: self._follow_label())
        self.mask.currentIndexChanged.connect(lambda *_: self._fill_labels())
        # The picker rebuilds itself quietly (signals blocked) as layers come and go: follow it.
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda *_: self._fill_labels())
        self.brush = QSpinBox()
        self.brush.setRange(1, 60)
        self.brush.setValue(BRUSH_VOXELS)
        self.brush.setSuffix(" voxels")
        self.brush.valueChanged.connect(lambda *_: self._set_brush())
        self.paint_button = QPushButton("Paint")
        self.erase_button = QPushButton("Erase")
        self.inside_button = QPushButton("Draw inside")
        self.outside_button = QPushButton("Draw outside")
        self.clear_button = QPushButton("Clear strokes")
        self.undo_button = QPushButton("Undo")
        self.save_button = QPushButton("Save mask…")
        self.paint_button.clicked.connect(lambda: self._guarded(lambda: self.edit_mask("paint")))
        self.erase_button.clicked.connect(lambda: self._guarded(lambda: self.edit_mask("erase")))
        self.inside_button.clicked.connect(lambda: self._guarded(lambda: self.draw(STROKE_INSIDE)))
        self.outside_button.clicked.connect(lambda: self._guarded(lambda: self.draw(STROKE_OUTSIDE)))
        self.clear_button.clicked.connect(lambda: self._guarded(self.clear_strokes))
        self.undo_button.clicked.connect(lambda: self._guarded(self.undo))
        self.save_button.clicked.connect(self._ask_save)
        self.form.addRow("CT", self.image)
        self.form.addRow("Mask", self.mask)
        self.form.addRow("Label", self.label)
        self.form.addRow("Brush", self.brush)
        self.form.addRow("Edit the mask", _row(self.paint_button, self.erase_button))
        self.form.addRow("Strokes", _row(self.inside_button, self.outside_button))
        self.extra_layout.addWidget(_row(self.clear_button, self.undo_button, self.save_button))
        self.run_button.clicked.connect(self._clicked)
        self.result: Volume | None = None
        # The corrected copy of each mask layer (by the layer, not its name: a mask segmented
        # again under the same name is a new layer and gets a new copy).
        self._copies: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._strokes: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # by corrected layer
        self._fill_labels()

    # ---- the mask, its label, and the corrected copy edits go to
    def _mask_layer(self) -> Any:
        layer = self.mask.layer()
        if layer is None:
            raise InvalidInputError("Choose the mask (a labels layer) to correct first.")
        return layer

    def _fill_labels(self) -> None:
        layer = self.mask.layer()
        previous = self.label.currentData()
        self.label.clear()
        if layer is None:
            return
        for value, name in sorted(label_names_of(layer).items()):
            self.label.addItem(f"{name} ({value})", value)
        index = self.label.findData(previous)
        if index >= 0:
            self.label.setCurrentIndex(index)

    def chosen_label(self) -> int | None:
        """The label value corrected (None: the mask has no label yet; a refinement then makes label 1)."""
        return self.label.currentData()

    def _follow_label(self) -> None:
        """A label chosen while painting: the brush paints it from now on."""
        layer = self.corrected_layer(create=False)
        value = self.chosen_label()
        if layer is not None and value is not None and layer.mode == "paint":
            layer.selected_label = int(value)

    def _set_brush(self) -> None:
        for layer in (self.corrected_layer(create=False), self.strokes_layer(create=False)):
            if layer is not None:
                layer.brush_size = int(self.brush.value())

    def corrected_layer(self, create: bool = True) -> Any:
        """The layer edits go to: ``"<mask> corrected"``, a copy of the chosen mask.

        The copy is made on the first edit (``create``), on the CT's grid when a CT is
        chosen (nearest neighbour from another grid), and chosen in the Mask picker;
        the original keeps its data and is drawn as an outline. A chosen layer that is
        already a corrected copy is returned as it is.
        """
        layer = self.mask.layer()
        if layer is None:
            if create:
                self._mask_layer()
            return None
        if "corrected_from" in layer.metadata:
            return layer
        image_layer = self.image.layer()
        other = self._copies.get(layer)
        if other is not None and other in self.viewer.layers:
            if create:
                self.mask.select(other.name)
            return other
        if not create:
            return None
        from workstation.viewer._app import add_layer
        from workstation.viewer.layers import labels_layer

        source = layer_volume(layer)
        source = source.copy_with(array=np.array(layer.data, copy=True), units=Unit.LABEL,
                                  label_names=label_names_of(layer))
        if image_layer is not None:
            image = layer_volume(image_layer)
            if not source.same_grid(image):
                source = source.resample_to(image, interpolation="nearest")
        data = labels_layer(source, name=f"{layer.name} corrected", contour=0, opacity=0.5)
        meta = data[1]["metadata"]
        meta["corrected_from"] = layer.name
        for key in ("reference", "roi_role"):  # the DICOM CT for SEG; the ROI role the SIRT widget prefills
            if key in layer.metadata:
                meta[key] = layer.metadata[key]
        copy = add_layer(self.viewer, data)
        self._copies[layer] = copy
        # The original stays visible to compare with: a white outline over the corrected fill.
        layers = self.viewer.layers
        layers.move(layers.index(copy), layers.index(layer))
        layer.contour = 1
        layer.colormap = label_colors(sorted(label_names_of(layer)), ORIGINAL_OUTLINE_RGB)
        self.mask.select(copy.name)
        return copy

    def edit_mask(self, mode: str) -> Any:
        """Paint (the chosen label) or erase on the corrected layer with napari's brush."""
        layer = self.corrected_layer()
        value = self.chosen_label()
        if mode == "paint":
            layer.selected_label = int(value) if value is not None else max(label_names_of(layer) or {1: ""})
        layer.visible = True
        self.viewer.layers.selection.active = layer  # first: napari resets the mode of a layer it deselects
        layer.brush_size = int(self.brush.value())
        layer.mode = mode
        self.done(f"{'Painting' if mode == 'paint' else 'Erasing'} on {layer.name}: drag on the image "
                  "(Undo takes a stroke back).")
        return layer

    # ---- strokes
    def strokes_layer(self, create: bool = True) -> Any:
        """The strokes layer of the corrected mask, on the CT's grid (made when ``create``)."""
        if self.image.layer() is None:
            if create:
                self._mask_layer()
                raise InvalidInputError("Choose the CT the mask was drawn on first.")
            return None
        mask_layer = self.corrected_layer(create=create)
        if mask_layer is None:
            return None
        image_layer = self.image.layer()
        layer = self._strokes.get(mask_layer)
        if layer is not None and layer in self.viewer.layers and layer.data.shape == image_layer.data.shape:
            return layer
        if not create:
            return None
        from workstation.viewer._app import add_layer
        from workstation.viewer.layers import layer_geometry

        image = layer_volume(image_layer)
        data = np.zeros(image.shape, dtype=np.uint8)
        layer = add_layer(self.viewer, (data, {
            "name": f"{mask_layer.name} strokes",
            "colormap": label_colors(list(STROKE_COLORS), STROKE_COLORS),
            "opacity": 0.8,
            "blending": "translucent_no_depth",
            "features": {"index": [0, STROKE_INSIDE, STROKE_OUTSIDE], "name": ["", "inside", "outside"]},
            "metadata": {"strokes_for": mask_layer.name, "label_names": {STROKE_INSIDE: "inside",
                                                                          STROKE_OUTSIDE: "outside"}},
            **layer_geometry(image),
        }, "labels"))
        layer.brush_size = int(self.brush.value())
        self._strokes[mask_layer] = layer
        return layer

    def draw(self, which: int) -> Any:
        """Paint inside (1) or outside (2) strokes on the strokes layer."""
        layer = self.strokes_layer()
        self.viewer.layers.selection.active = layer
        layer.selected_label = int(which)
        layer.brush_size = int(self.brush.value())
        layer.mode = "paint"
        self.done(f"Drawing {'inside' if which == STROKE_INSIDE else 'outside'} strokes: drag on the image, "
                  "then Refine.")
        return layer

    def clear_strokes(self) -> None:
        layer = self.strokes_layer(create=False)
        if layer is not None:
            layer.data[...] = 0
            layer.refresh()

    # ---- refine, undo, save
    def run(self) -> Any:
        from workstation.segmentation import refine_mask

        image_layer = self.image.layer()
        if image_layer is None:
            self._mask_layer()
            raise InvalidInputError("Choose the CT the mask was drawn on first.")
        strokes = self.strokes_layer(create=False)
        data = np.asarray(strokes.data) if strokes is not None else np.zeros(0)
        inside, outside = data == STROKE_INSIDE, data == STROKE_OUTSIDE
        if not inside.any() and not outside.any():
            raise InvalidInputError("Draw inside or outside strokes first (Draw inside, Draw outside).")
        mask_layer = self.corrected_layer()
        image = layer_volume(image_layer)
        # A snapshot: the brush may keep working on the layer while the worker runs.
        snapshot = np.array(mask_layer.data, copy=True)
        mask = layer_volume(mask_layer).copy_with(array=snapshot, units=Unit.LABEL,
                                                  label_names=label_names_of(mask_layer))
        if not mask.same_grid(image):
            raise InvalidInputError(f"{mask_layer.name} lies on another grid than the CT: choose the CT it was "
                                    "drawn on, or correct the original mask again with this CT chosen.")
        label = self.chosen_label()
        before = int(np.count_nonzero(snapshot == label if label is not None else snapshot))

        def compute() -> Volume:
            return refine_mask(image, mask, inside=inside if inside.any() else None,
                               outside=outside if outside.any() else None, label=label)

        def show(refined: Volume) -> None:
            self.result = refined
            after = int(np.count_nonzero(refined.array == (label if label is not None else 1)))
            self.apply(mask_layer, snapshot, refined)
            self.clear_strokes()
            ml = image.voxel_volume_ml
            self.done(f"{mask_layer.name}: {before * ml:.1f} → {after * ml:.1f} mL. "
                      "Undo takes the refinement back.")

        return self.run_in_worker(compute, show, "Refining the mask…")

    @staticmethod
    def apply(mask_layer: Any, before: np.ndarray, refined: Volume) -> int:
        """Write what the refinement changed (against ``before``) into the layer as one undoable edit.

        Returns the number of voxels changed. Brush strokes made on the layer while the
        refinement ran stay where the refinement changed nothing.
        """
        changed = np.nonzero(before != refined.array)
        if changed[0].size:
            mask_layer.data_setitem(changed, refined.array[changed])  # one history entry: one Undo
        names = dict(mask_layer.metadata.get("label_names") or {})
        for value, name in refined.label_names.items():
            names.setdefault(int(value), name)
        mask_layer.metadata["label_names"] = names
        return int(changed[0].size)

    def undo(self) -> None:
        """Take back the last edit of the corrected layer (a refinement or a brush stroke)."""
        layer = self.corrected_layer(create=False)
        if layer is None or not getattr(layer, "_undo_history", None):
            name = self._mask_layer().name if layer is None else layer.name
            raise InvalidInputError(f"Nothing to undo on {name}.")
        layer.undo()
        self.done(f"Undone on {layer.name}.")

    def _ask_save(self) -> None:
        layer = self.mask.layer()
        suggested = f"{layer.name.replace(' ', '_')}.nii.gz" if layer is not None else ""
        path, _ = QFileDialog.getSaveFileName(
            self, "Save mask", suggested, "NIfTI (*.nii.gz);;NRRD (*.nrrd);;DICOM SEG (*.dcm)")
        if path:
            self._guarded(lambda: self.save_mask(path))

    def save_mask(self, path: str | Path) -> Path:
        """Write the corrected layer (else the chosen mask): DICOM SEG for ``.dcm`` (on a DICOM CT), else NIfTI/NRRD/MHA."""
        from workstation.viewer._plugin import write_labels_image, write_labels_seg

        layer = self.corrected_layer(create=False) or self._mask_layer()
        target = Path(path)
        data, state, _ = layer.as_layer_data_tuple()
        meta = dict(state)
        meta["metadata"] = dict(state.get("metadata") or {})
        meta["metadata"]["label_names"] = label_names_of(layer)
        if target.suffix.lower() == ".dcm":
            if "reference" not in meta["metadata"] and self.image.layer() is not None:
                meta["metadata"]["reference"] = layer_volume(self.image.layer())
            written = write_labels_seg(str(target), data, meta)
        else:
            written = write_labels_image(str(target), data, meta)
        self.done(f"Saved {layer.name} as {written[0]}.")
        return Path(written[0])
