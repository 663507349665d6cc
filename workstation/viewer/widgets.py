"""Dock widgets of the workstation, one per workflow step.

Each widget is a ``QWidget`` taking the napari viewer (npe2 passes it) and is
declared in ``napari.yaml``. Long steps run in a worker thread
(:class:`~workstation.viewer._widget_base.StepWidget`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._widget_base import LayerChoice, StepWidget, layer_volume
from workstation.viewer.layers import WINDOW_PRESETS, isodose_layer, window_limits

__all__ = ["StudyWidget", "OverlayWidget"]


class StudyWidget(StepWidget):
    """Load a study (DICOM folder or NIfTI/NRRD files) and choose the CT window."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Open DICOM folder…")
        self.files_button = QPushButton("Open image files…")
        self.preset = QComboBox()
        self.preset.addItems([p for p in WINDOW_PRESETS])
        self.preset.currentTextChanged.connect(self.apply_window)
        self.form.addRow(self.files_button)
        self.form.addRow("CT window", self.preset)
        self.run_button.clicked.connect(self._ask_folder)
        self.files_button.clicked.connect(self._ask_files)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "DICOM study folder")
        if folder:
            self.load([folder])

    def _ask_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Images", "", "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm);;All files (*)"
        )
        if files:
            self.load(files)

    def load(self, paths: list[str | Path]) -> Any:
        """Read the paths in a worker and add one layer per volume (CT first)."""
        from workstation.viewer._plugin import read_path

        names = [str(p) for p in paths]

        def compute() -> list[Any]:
            return read_path(names)

        def show(layer_data: list[Any]) -> None:
            from workstation.viewer._app import add_layer

            oblique = []
            for item in layer_data:
                layer = add_layer(self.viewer, item)
                if "display_error_mm" in layer.metadata:
                    oblique.append(f"{layer.name} ({layer.metadata['display_error_mm']} mm)")
            self.viewer.reset_view()
            text = f"Loaded {len(layer_data)} layer(s) from {', '.join(Path(n).name for n in names)}."
            if oblique:
                text += (" Oblique grid, drawn without its out-of-slice tilt (coordinates stay exact): "
                         + ", ".join(oblique) + ".")
            self.done(text)

        return self.run_in_worker(compute, show, "Reading…")

    def apply_window(self, preset: str | None = None) -> None:
        """Apply a CT window preset to every CT layer."""
        lo, hi = window_limits(preset or self.preset.currentText())
        for layer in self.viewer.layers:
            if "window_preset" in getattr(layer, "metadata", {}):
                layer.contrast_limits = (lo, hi)
                layer.metadata["window_preset"] = preset


def _parse_levels(text: str) -> list[float]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise InvalidInputError(
            f"Isodose levels must be numbers in Gy separated by commas, not {text!r}."
        ) from None


class OverlayWidget(StepWidget):
    """Dose wash threshold and scale, isodose lines with their legend, and the signed margin colour map.

    The dose picker offers dose layers (and images of unknown kind, e.g. a dose
    opened by another reader), never a CT or an emission image; the margin picker
    margin maps likewise.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Apply")
        self.dose = LayerChoice(napari_viewer, (LayerKind.DOSE, LayerKind.IMAGE))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1e5)
        self.threshold.setDecimals(2)
        self.threshold.setSuffix(" Gy")
        self.threshold.setValue(5.0)
        self.maximum = QDoubleSpinBox()
        self.maximum.setRange(0.01, 1e5)
        self.maximum.setDecimals(1)
        self.maximum.setSuffix(" Gy")
        self.maximum.setValue(150.0)
        self.levels = QLineEdit("40, 70, 120")
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.form.addRow("Dose layer", self.dose)
        self.form.addRow("Transparent below", self.threshold)
        self.form.addRow("Top of colour scale", self.maximum)
        self.form.addRow("Isodose levels (Gy)", self.levels)
        self.form.addRow("Isodose legend", self.legend)
        row = QHBoxLayout()
        self.margin = LayerChoice(napari_viewer, (LayerKind.MARGIN, LayerKind.IMAGE))
        self.margin_button = QPushButton("Show as signed margin")
        row.addWidget(self.margin)
        row.addWidget(self.margin_button)
        self.form.addRow("Margin map", row)
        self.run_button.clicked.connect(self._apply_clicked)
        self.margin_button.clicked.connect(self._margin_clicked)

    def _apply_clicked(self) -> None:
        self._guarded(self.apply)

    def _margin_clicked(self) -> None:
        self._guarded(self.show_margin)

    def apply(self) -> None:
        """Restyle the chosen layer as a dose wash and (re)draw its isodose lines."""
        from workstation.viewer._colormaps import dose_wash_colormap

        layer = self.dose.layer()
        if layer is None:
            raise InvalidInputError("Choose a dose layer first.")
        if layer_kind(layer) not in (LayerKind.DOSE, LayerKind.IMAGE):
            raise InvalidInputError(f"{layer.name} is not a dose image.")
        thr, top = float(self.threshold.value()), float(self.maximum.value())
        if thr >= top:
            raise InvalidInputError(
                f"The threshold {thr:g} Gy must be below the top of the colour scale {top:g} Gy."
            )
        layer.colormap = dose_wash_colormap()
        layer.contrast_limits_range = (min(thr, float(np.nanmin(layer.data))), max(top, layer.contrast_limits_range[1]))
        layer.contrast_limits = (thr, top)
        layer.blending = "translucent_no_depth"
        if layer_kind(layer) == LayerKind.IMAGE:  # an image of unknown unit, shown as dose from now on
            layer.metadata["units"] = Unit.GY.value
        from workstation.viewer._display import show_colorbar

        show_colorbar(layer)
        levels = _parse_levels(self.levels.text())
        for old in [lay for lay in self.viewer.layers if lay.metadata.get("isodose_of") == layer.name]:
            self.viewer.layers.remove(old)
        self.legend.setText("")
        if levels:
            from workstation.viewer._app import add_layer

            dose = layer_volume(layer)
            data = isodose_layer(dose, levels, color_range_gy=(thr, top))
            if data[1]["name"] in self.viewer.layers:  # the same levels on another dose layer
                data[1]["name"] += f" ({layer.name})"
            data[1]["metadata"]["isodose_of"] = layer.name
            # Keep the isodose lines where the dose is drawn (a registered dose has its own placement).
            data[1].pop("scale", None)
            data[1].pop("translate", None)
            data[1]["affine"] = np.asarray(layer.affine.affine_matrix) @ _scale_translate(layer)
            add_layer(self.viewer, data)
            self.legend.setText(isodose_legend_html(data[1]["metadata"]))
        self.done(f"Dose wash {thr:g}–{top:g} Gy; isodose lines at {', '.join(f'{v:g}' for v in levels)} Gy.")

    def show_margin(self, limit_mm: float = 10.0) -> None:
        """Restyle the chosen layer as a signed margin map (red < 0 < blue, ±limit mm)."""
        from workstation.viewer._colormaps import diverging_colormap

        layer = self.margin.layer()
        if layer is None:
            raise InvalidInputError("Choose a margin-map layer first.")
        if layer_kind(layer) not in (LayerKind.MARGIN, LayerKind.IMAGE):
            raise InvalidInputError(f"{layer.name} is not a margin map.")
        if layer_kind(layer) == LayerKind.IMAGE:
            layer.metadata["units"] = Unit.MM.value
        layer.colormap = diverging_colormap()
        layer.contrast_limits_range = (-max(limit_mm, 50.0), max(limit_mm, 50.0))
        layer.contrast_limits = (-limit_mm, limit_mm)
        from workstation.viewer._display import show_colorbar

        show_colorbar(layer)
        self.done(f"{layer.name}: signed margin, red < 0 mm < blue, saturating at ±{limit_mm:g} mm.")


def isodose_legend_html(meta: dict[str, Any]) -> str:
    """A legend of isodose lines: a swatch of each line's colour and its level (Gy)."""
    items = []
    for level, rgba in zip(meta["levels_gy"], meta["level_colors"], strict=True):
        hex_colour = "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])
        items.append(f'<span style="color:{hex_colour}">&#9632;</span>&nbsp;{level:g}&nbsp;Gy')
    return " &nbsp; ".join(items)


def _scale_translate(layer: Any) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = np.diag(np.asarray(layer.scale, dtype=float)[-3:])
    m[:3, 3] = np.asarray(layer.translate, dtype=float)[-3:]
    return m
