"""The base of the therapy dock widgets: a step widget that also opens an output folder, a table, helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
)

from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.core.volume import Unit, Volume
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._widget_base import StepWidget, layer_volume, replace_layers
from workstation.viewer.results import TherapyResults, read_results

__all__ = ["ResultWidget", "label_centres", "label_mask", "path_row"]


def label_mask(layer: Any) -> Volume:
    """The Volume of a labels layer, as labels."""
    return layer_volume(layer).copy_with(units=Unit.LABEL)


def label_centres(labels: Volume) -> dict[int, np.ndarray]:
    """Centroid (LPS mm) of each label value."""
    from scipy import ndimage as ndi

    arr = np.asarray(labels.array)
    values = [int(v) for v in np.unique(arr) if v != 0]
    if not values:
        return {}
    centres = ndi.center_of_mass(np.ones(arr.shape, dtype=np.uint8), arr, values)
    return {v: np.asarray(labels.index_to_world(np.asarray(c, dtype=float)), dtype=float)
            for v, c in zip(values, centres, strict=True)}


class ResultWidget(StepWidget):
    """A step widget that can also open an output folder of the command line (``KINDS``)."""

    KINDS: tuple[str, ...] = ()
    OPEN_LABEL = "Open results folder…"

    def __init__(self, viewer: Any, run_label: str) -> None:
        super().__init__(viewer, run_label)
        self.open_button = QPushButton(self.OPEN_LABEL)
        self.open_button.clicked.connect(self._ask_folder)
        self.results: TherapyResults | None = None
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.cellClicked.connect(lambda row, column: self._guarded(lambda: self.go_to(row, column)))
        self.table.setMinimumHeight(120)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"{' or '.join(self.KINDS)} output folder")
        if folder:
            self._guarded(lambda: self.open_results(folder))

    def open_results(self, folder: str | Path) -> Any:
        """Read an output folder in a worker and show it (its CT too, when it is not open yet)."""
        from workstation.viewer.results import result_layers

        ct_grids = [layer_volume(layer) for layer in self.viewer.layers if layer_kind(layer) == LayerKind.CT]
        kinds = self.KINDS

        def compute() -> tuple[TherapyResults, Volume | None, list[Any]]:
            from workstation.io import read_image

            res = read_results(folder)
            if res.kind not in kinds:
                raise InvalidInputError(
                    f"{res.directory} holds {res.kind} results; open it in the widget for {res.kind}, "
                    f"this one shows {' and '.join(kinds)} results."
                )
            ct = None
            if res.ct_path is not None and not any(v.same_grid(res.reference) for v in ct_grids):
                try:
                    ct = read_image(res.ct_path)
                except WorkstationError as exc:
                    res.notes.append(f"The CT {res.ct_path} was not opened: {exc}")
            return res, ct, result_layers(res)

        def show(value: tuple[TherapyResults, Volume | None, list[Any]]) -> None:
            res, ct, layers = value
            if ct is not None:
                from workstation.viewer.layers import ct_layer

                data = ct_layer(ct, name=f"{res.name} CT")
                data[1]["metadata"]["result"] = res.name
                replace_layers(self.viewer, [data])
            self.show_results(res, layers)

        return self.run_in_worker(compute, show, f"Reading {Path(folder).name}…")

    def show_results(self, res: TherapyResults, layers: list[Any] | None = None) -> None:
        raise NotImplementedError

    def go_to(self, row: int, column: int = 0) -> np.ndarray:
        raise NotImplementedError

    def _notes(self, text: str, res: TherapyResults) -> str:
        extra = list(res.results.get("warnings") or []) + list(res.notes)
        return text + ((" " + " ".join(extra)) if extra else "")


def path_row(line: QLineEdit, browse: Any) -> QHBoxLayout:
    """A file path field with a "…" button that calls ``browse``."""
    row = QHBoxLayout()
    button = QPushButton("…")
    button.setMaximumWidth(32)
    button.clicked.connect(browse)
    row.addWidget(line)
    row.addWidget(button)
    return row
