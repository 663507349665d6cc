"""Shared pieces of the dock widgets: layer pickers, worker runs with a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QComboBox,
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


class LayerChoice(QComboBox):
    """A combo box listing the viewer's layers of some types, kept up to date."""

    def __init__(self, viewer: Any, layer_types: tuple[str, ...], optional: bool = False) -> None:
        super().__init__()
        self._viewer = viewer
        self._types = layer_types
        self._optional = optional
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        viewer.layers.events.reordered.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        if self._optional:
            self.addItem("(none)")
        for layer in self._viewer.layers:
            if type(layer).__name__.lower() in self._types:
                self.addItem(layer.name)
        index = self.findText(current)
        if index >= 0:
            self.setCurrentIndex(index)
        self.blockSignals(False)

    def layer(self) -> Any | None:
        """The chosen layer, or None."""
        name = self.currentText()
        if not name or name == "(none)" or name not in self._viewer.layers:
            return None
        return self._viewer.layers[name]

    def select(self, name: str) -> None:
        self.refresh()
        index = self.findText(name)
        if index >= 0:
            self.setCurrentIndex(index)


class StepWidget(QWidget):
    """A dock widget with a form, a run button, a progress bar and a status line.

    Subclasses fill ``self.form`` and call :meth:`run_in_worker` from their
    button handler; the long step runs in a napari ``thread_worker`` so the
    viewer stays responsive, and the result is handled in the GUI thread.
    """

    #: (fraction 0–1 or negative for "busy", text): emitted from the worker thread,
    #: delivered in the GUI thread (a queued Qt connection).
    progress_changed = Signal(float, str)

    def __init__(self, viewer: Any, run_label: str) -> None:
        super().__init__()
        self.viewer = viewer
        self.form = QFormLayout()
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
        self.status.setText(f"⚠ {message}")
        self.status.setStyleSheet("color: #ff6b6b")

    def done(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("")

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


def layer_volume(layer: Any) -> Any:
    """The Volume behind a layer (its metadata), rebuilt from the layer when absent."""
    from workstation.core.volume import Volume
    from workstation.viewer.layers import volume_from_layer

    vol = layer.metadata.get("volume") if hasattr(layer, "metadata") else None
    if isinstance(vol, Volume) and vol.array is layer.data:
        return vol
    return volume_from_layer(layer.data, layer.as_layer_data_tuple()[1])
