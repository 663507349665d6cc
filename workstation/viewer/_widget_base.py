"""Shared pieces of the dock widgets: layer pickers, worker runs with a progress bar."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import InvalidInputError, WorkstationError
from workstation.viewer._kinds import LayerKind, layer_kind


def prefer_named(*words: str, truth: str | None = None, avoid: tuple[str, ...] = ()) -> list[Any]:
    """Picker preferences: the sample study's ``truth`` mask, else a name with one of ``words`` (not ``avoid``)."""
    def by_truth(layer: Any) -> bool:
        return truth is not None and layer.metadata.get("truth") == truth

    def by_name(layer: Any) -> bool:
        name = layer.name.lower()
        return any(w in name for w in words) and not any(w in name for w in avoid)

    return [by_truth, by_name]


def require_layer(layer: Any, what: str) -> Any:
    """``layer``, or an InvalidInputError "Choose ``what`` first." when it is None."""
    if layer is None:
        raise InvalidInputError(f"Choose {what} first.")
    return layer


class LayerChoice(QComboBox):
    """A combo box of the viewer's layers of some kinds, kept up to date (insert, remove, rename).

    Parameters
    ----------
    viewer:
        The napari viewer.
    kinds:
        The :class:`~workstation.viewer._kinds.LayerKind` values offered; a layer of
        another kind is never listed (a CT is never an activity image).
    prefer:
        Which offered layer is chosen by default: the first for which this returns
        True (a list: tried in turn); with none, nothing is chosen ("(none)").
        Default: the first layer of the first kind in ``kinds``.
    exclude:
        Layers never offered, e.g. the one another picker holds.

    The first entry is always "(none)": a picker starts on a layer of the right
    kind or on nothing, never on whatever layer comes first. Until the user picks
    an entry, the default is chosen again as layers come and go.
    """

    NONE = "(none)"

    def __init__(
        self,
        viewer: Any,
        kinds: tuple[str, ...],
        prefer: Callable[[Any], bool] | Sequence[Callable[[Any], bool]] | None = None,
        exclude: Callable[[Any], bool] | None = None,
        optional: bool = False,
    ) -> None:
        super().__init__()
        self._viewer = viewer
        self._kinds = tuple(kinds)
        if prefer is None:
            prefer = [lambda layer: layer_kind(layer) == self._kinds[0]]
        self._prefer = [prefer] if callable(prefer) else list(prefer)
        self._exclude = exclude
        self.optional = optional
        self._layers: list[Any] = [None]
        self._user_chose = False
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.activated.connect(self._on_activated)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        viewer.layers.events.reordered.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _on_inserted(self, event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _on_activated(self, *_: Any) -> None:
        self._user_chose = True

    def offers(self, layer: Any) -> bool:
        """True when this picker lists ``layer``."""
        if layer_kind(layer) not in self._kinds:
            return False
        return not (self._exclude is not None and self._exclude(layer))

    def refresh(self, *_: Any) -> None:
        """Rebuild the list; keep the chosen layer (by identity) when it is still offered."""
        current = self.layer()
        self.blockSignals(True)
        self.clear()
        self._layers = [None]
        self.addItem(self.NONE)
        for layer in self._viewer.layers:
            if self.offers(layer):
                self._layers.append(layer)
                self.addItem(layer.name)
        if current is not None and current in self._layers:
            self.setCurrentIndex(self._layers.index(current))
        elif not self._user_chose:
            self.setCurrentIndex(self._default_index())
        else:
            self.setCurrentIndex(0)
        self.blockSignals(False)

    def _default_index(self) -> int:
        for prefer in self._prefer:
            for n, layer in enumerate(self._layers):
                if layer is not None and prefer(layer):
                    return n
        return 0

    def layer(self) -> Any | None:
        """The chosen layer, or None."""
        index = self.currentIndex()
        if not 0 <= index < len(self._layers):
            return None
        layer = self._layers[index]
        return layer if layer is not None and layer in self._viewer.layers else None

    def select(self, name: str) -> None:
        """Choose the layer called ``name`` (it must be offered), as the user would."""
        self.refresh()
        index = self.findText(name)
        if index >= 0:
            self.setCurrentIndex(index)
            self._user_chose = True

class StepWidget(QWidget):
    """A dock widget with a form, a run button, a progress bar and a status line.

    Subclasses fill ``self.form`` and call :meth:`run_in_worker` from their
    button handler; the long step runs in a napari ``thread_worker`` so the
    viewer stays responsive, and the result is handled in the GUI thread.
    """

    #: (fraction 0–1 or negative for "busy", text): emitted from the worker thread,
    #: delivered in the GUI thread (a queued Qt connection).
    progress_changed = Signal(float, str)

    #: Smallest width of a dock (px): forms and tables are not cut off in a narrow dock.
    MIN_WIDTH_PX = 380

    def __init__(self, viewer: Any, run_label: str) -> None:
        super().__init__()
        from workstation.viewer._display import prepare_viewer

        prepare_viewer(viewer)
        self.viewer = viewer
        self.setMinimumWidth(self.MIN_WIDTH_PX)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.run_button = QPushButton(run_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.extra_layout = QVBoxLayout()
        layout.addLayout(self.extra_layout)
        layout.addStretch(1)
        self.worker: Any = None
        self.progress_changed.connect(self._show_progress)

    def report_progress(self, fraction: float, text: str | None = None) -> None:
        """Progress callback for the backends; safe to call from the worker thread."""
        self.progress_changed.emit(float(fraction), text or "")

    def _show_progress(self, fraction: float, text: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round(100 * min(fraction, 1.0)))
        if text:
            self.status.setText(text)

    def _guarded(self, action: Callable[[], Any]) -> None:
        """Call ``action()``; an ``InvalidInputError`` shows its sentence in the status line."""
        try:
            action()
        except InvalidInputError as exc:
            self.fail(str(exc))

    def _clicked(self) -> None:
        """Run-button slot of the steps that define ``run()``."""
        self._guarded(self.run)  # type: ignore[attr-defined]

    def fail(self, message: str) -> None:
        """Show a problem in the status line (command-line syntax in it is said in GUI words)."""
        self.status.setText(f"⚠ {gui_text(message)}")
        self.status.setStyleSheet("color: #ff6b6b")

    def done(self, message: str) -> None:
        """Show an outcome in the status line (command-line syntax in it is said in GUI words)."""
        self.status.setText(gui_text(message))
        self.status.setStyleSheet("")

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        """When shown in a dock (also from the Plugins menu), tabs show their whole titles."""
        super().showEvent(event)
        window = self.window()
        if window is not None and window is not self:
            from workstation.viewer._display import untruncate_dock_tabs

            untruncate_dock_tabs(window)

    def run_in_worker(
        self,
        compute: Callable[[], Any],
        on_result: Callable[[Any], None],
        busy_text: str,
    ) -> Any:
        """Run ``compute()`` in a worker thread, then ``on_result(result)`` in the GUI thread.

        Errors a user can cause (``WorkstationError``) show their sentence in the
        status line; other exceptions show their type and message too.
        """
        from napari.qt.threading import create_worker

        self.run_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)  # busy until the backend reports a fraction
        self.done(busy_text)

        def _finish() -> None:
            self.run_button.setEnabled(True)
            self.progress.setRange(0, 100)
            self.progress.setValue(100)
            self.progress.setVisible(False)

        def _result(value: Any) -> None:
            try:
                on_result(value)
            except WorkstationError as exc:
                self.fail(str(exc))

        def _error(exc: BaseException) -> None:
            if isinstance(exc, WorkstationError):
                self.fail(str(exc))
            else:
                self.fail(f"internal error: {type(exc).__name__}: {exc}")

        # Errors are shown in the status line (_error), not re-raised in the event loop.
        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(_result)
        worker.errored.connect(_error)
        worker.finished.connect(_finish)
        self.worker = worker
        worker.start()
        return worker


#: Command-line options the computing packages name in their messages, in the widgets' words.
_GUI_WORDS: dict[str, str] = {
    "--administered-gbq": "the administered activity (Administered)",
    "--lung-shunt": "the lung shunt",
    "--activity-units": "the activity units (Activity units)",
    "--ct": "a CT",
    "--method": "the method",
    "--roi-role": "the role column",
    "--roi": "an ROI",
    "--labels": "a labels layer",
    "--dose": "a dose layer",
}


def gui_text(text: str) -> str:
    """A message of the computing packages without command-line syntax.

    ``give --roi lungs=MASK`` becomes ``give an ROI with the lungs role``;
    other options their words in the widgets (``--administered-gbq`` → "the
    administered activity (Administered)") or their name without dashes.
    """
    text = re.sub(r"--roi ([A-Za-z_]+)=(?:MASK|\.\.\.)", r"an ROI with the \1 role", text)
    text = re.sub(r"([A-Za-z_]+)=MASK", r"\1", text)
    return re.sub(
        r"--[a-z][a-z0-9-]*", lambda m: _GUI_WORDS.get(m.group(0), m.group(0)[2:].replace("-", " ")), text
    )


def fill_table(table: QTableWidget, header: list[str], rows: list[list[Any]]) -> None:
    """Fill a read-only table; floats are shown with 4 significant digits."""
    table.clear()
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))
            item = QTableWidgetItem(text)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def centre_view(viewer: Any, point_lps_mm: Any) -> np.ndarray:
    """Show the axial slice through an LPS point (mm) with the point in the middle of the canvas.

    Returns the point in napari world coordinates (z, y, x).
    """
    world = np.asarray(point_lps_mm, dtype=float)[::-1]
    viewer.dims.set_point(0, float(world[0]))
    viewer.scene.camera.center = tuple(float(c) for c in world)
    return world


def replace_layers(viewer: Any, layer_data: list[Any]) -> list[Any]:
    """Add ``LayerData`` tuples, each replacing the layer of the same name made by a result.

    A result shown again replaces its layers; a layer the user opened or drew
    (no ``metadata["result"]``) is never removed: napari numbers the new name instead.
    """
    from workstation.viewer._app import add_layer

    out = []
    for item in layer_data:
        name = item[1].get("name")
        old = next((layer for layer in viewer.layers if layer.name == name), None)
        if old is not None and old.metadata.get("result") is not None:
            viewer.layers.remove(old)
        out.append(add_layer(viewer, item))
    return out


def layer_volume(layer: Any) -> Any:
    """The Volume behind a layer (its metadata), rebuilt from the layer when absent."""
    from workstation.core.volume import Volume
    from workstation.viewer.layers import volume_from_layer

    vol = layer.metadata.get("volume") if hasattr(layer, "metadata") else None
    if isinstance(vol, Volume) and vol.array is layer.data:
        return vol
    return volume_from_layer(layer.data, layer.as_layer_data_tuple()[1])


def spin_box(lo: float, hi: float, value: float, decimals: int = 2, suffix: str = "") -> QDoubleSpinBox:
    """A spin box over lo..hi with a value, decimals and a unit suffix."""
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    if suffix:
        box.setSuffix(f" {suffix}")
    return box


def kind_is(kind: LayerKind) -> Any:
    """A picker preference: layers of this kind."""
    return lambda layer: layer_kind(layer) == kind
