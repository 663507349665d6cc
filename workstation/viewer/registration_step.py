"""The registration dock widget: register, judge the result, fuse (blend or checkerboard).

Split from :mod:`.steps` (which re-exports it); it calls
:func:`workstation.registration.register` in a worker thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QPushButton,
    QTableWidget,
)

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._widget_base import (
    LayerChoice,
    StepWidget,
    fill_table,
    kind_is,
    layer_volume,
    require_layer,
    spin_box,
)

__all__ = ["FUSION_VIEWS", "RegisterWidget", "checkerboard", "registration_rows"]


# ---------------------------------------------------------------- register
#: Fusion views offered after a registration.
FUSION_VIEWS = ("blend", "checkerboard")


class RegisterWidget(StepWidget):
    """Register a moving image (SPECT/PET or another CT) to a fixed CT.

    The result moves the moving layer through its affine (a linear transform
    whose rotation is about z only), or resamples the moving image (never the
    CT) onto an axis-aligned grid (other rotations, deformable). Then the two
    are shown fused: blended (the moving layer at half opacity over the fixed
    one) or as a checkerboard (squares of the fixed image and of the moving one
    resampled onto the fixed grid, each in its own display window). A
    registration whose metric got worse is not applied unless asked
    ("Apply anyway").
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Register")
        images = (LayerKind.CT, LayerKind.ACTIVITY, LayerKind.IMAGE)
        self.fixed = LayerChoice(napari_viewer, images, prefer=kind_is(LayerKind.CT))
        self.moving = LayerChoice(
            napari_viewer, images,
            prefer=[kind_is(LayerKind.ACTIVITY),
                    lambda layer: layer_kind(layer) == LayerKind.CT and layer is not self.fixed.layer()],
        )
        self.fixed.currentIndexChanged.connect(lambda *_: self.moving.refresh())
        self.mode = QComboBox()
        self.mode.addItems(["rigid", "affine", "deformable"])
        self.fixed_mask = LayerChoice(napari_viewer, (LayerKind.LABELS,), prefer=lambda layer: False, optional=True)
        self.fusion = QComboBox()
        self.fusion.addItems(list(FUSION_VIEWS))
        self.fusion.setEnabled(False)
        self.fusion.currentTextChanged.connect(lambda view: self._guarded(lambda: self.show_fusion(view)))
        self.checker_mm = spin_box(5.0, 200.0, 20.0, 0, "mm")
        self.apply_anyway = QPushButton("Apply anyway")
        self.apply_anyway.setVisible(False)
        self.apply_anyway.clicked.connect(lambda: self._guarded(self.apply_result))
        self.table = QTableWidget()
        self.form.addRow("Fixed (CT)", self.fixed)
        self.form.addRow("Moving", self.moving)
        self.form.addRow("Mode", self.mode)
        self.form.addRow("Fixed mask", self.fixed_mask)
        self.form.addRow("Fusion view", self.fusion)
        self.form.addRow("Checker size", self.checker_mm)
        self.extra_layout.addWidget(self.apply_anyway)
        self.extra_layout.addWidget(self.table)
        self.run_button.clicked.connect(self._clicked)
        self.result: Any = None
        self._pending: tuple[Any, Volume, Volume, Any] | None = None
        self._fused: tuple[Any, Any] | None = None

    def run(self) -> Any:
        from workstation.registration import register

        fixed_layer = require_layer(self.fixed.layer(), "a fixed image")
        moving_layer = require_layer(self.moving.layer(), "a moving image")
        if fixed_layer is moving_layer:
            raise InvalidInputError("The fixed and moving images must be different layers.")
        fixed = layer_volume(fixed_layer)
        moving = moving_layer.metadata.get("source_volume") or layer_volume(moving_layer)
        mask_layer = self.fixed_mask.layer()
        mask = layer_volume(mask_layer) if mask_layer is not None else None
        mode = self.mode.currentText()

        def compute() -> Any:
            return register(fixed, moving, mode=mode, fixed_mask=mask, progress=self.report_progress)

        def show(result: Any) -> None:
            self.result = result
            self.show_result(fixed_layer, moving_layer, moving, fixed, result)

        return self.run_in_worker(compute, show, f"Registering ({mode})…")

    def show_result(self, fixed_layer: Any, layer: Any, moving: Volume, fixed: Volume, result: Any) -> None:
        """Fill the table; apply the transform, unless the metric got worse (then say so and wait)."""
        self.result = result
        self._pending = (layer, moving, fixed, fixed_layer)
        fill_table(self.table, ["registration", "value"], registration_rows(result.report))
        metric = result.report.get("metric") or {}
        before, after = metric.get("before"), metric.get("after")
        if isinstance(before, int | float) and isinstance(after, int | float) and after > before:
            self.apply_anyway.setVisible(True)
            self.fail(
                f"The registration made the {metric.get('name', 'image')} metric worse (before {before:.4g}, "
                f"after {after:.4g}; lower is better), so {layer.name} was left where it was. Check the images "
                "and the fixed mask, try another mode, or apply it anyway."
            )
            return
        self.apply_result()

    def apply_result(self) -> None:
        """Place the moving layer through the registration and show the blend."""
        from workstation.viewer.layers import functional_layer

        if self._pending is None:
            raise InvalidInputError("Register two images first.")
        layer, moving, fixed, fixed_layer = self._pending
        result = self.result
        self.apply_anyway.setVisible(False)
        data, kwargs, _ = functional_layer(moving, transform=result.transform, reference=fixed)
        layer.metadata["source_volume"] = moving  # register again from the original
        layer.metadata["registration"] = result.report
        layer.metadata["transform"] = result.transform
        if data is not layer.data:
            layer.data = data
            layer.metadata["volume"] = kwargs["metadata"]["volume"]
        layer.affine = kwargs.get("affine", np.eye(4))
        layer.scale = kwargs.get("scale", (1.0, 1.0, 1.0))
        layer.translate = kwargs.get("translate", (0.0, 0.0, 0.0))
        self._fused = (fixed_layer, layer)
        self.fusion.setEnabled(True)
        self.show_fusion(self.fusion.currentText())
        how = "resampled (moving image only)" if kwargs["metadata"]["resampled"] else "through the layer affine"
        self.done(f"{layer.name} registered to {fixed_layer.name}; applied {how}. "
                  f"Fusion view: {self.fusion.currentText()}.")

    def show_fusion(self, view: str) -> Any:
        """Show the registered pair blended or as a checkerboard; returns the checkerboard layer (or None)."""
        from workstation.viewer._app import add_layer

        if self._fused is None:
            raise InvalidInputError("Register two images first.")
        fixed_layer, moving_layer = self._fused
        name = f"checkerboard {moving_layer.name} / {fixed_layer.name}"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        viewer_layers = list(self.viewer.layers)
        if viewer_layers.index(moving_layer) < viewer_layers.index(fixed_layer):
            self.viewer.layers.move(viewer_layers.index(moving_layer), viewer_layers.index(fixed_layer) + 1)
        if view == "blend":
            fixed_layer.visible = moving_layer.visible = True
            if layer_kind(moving_layer) == LayerKind.CT:
                moving_layer.opacity = 0.5
            return None
        if view != "checkerboard":
            raise InvalidInputError(f"Unknown fusion view {view!r}; choose {' or '.join(FUSION_VIEWS)}.")
        board = checkerboard(fixed_layer, moving_layer, float(self.checker_mm.value()))
        board_layer = add_layer(self.viewer, (board.array, {
            "name": name, "colormap": "gray", "contrast_limits": (0.0, 1.0),
            "metadata": {"volume": board, "units": Unit.UNKNOWN.value, "kind": LayerKind.IMAGE.value},
            **_geometry(board)}, "image"))
        fixed_layer.visible = moving_layer.visible = False
        return board_layer


def _mm(stats: Any) -> str | None:
    if not isinstance(stats, dict) or "mean" not in stats:
        return None
    return f"mean {stats['mean']:.2f}, 95th percentile {stats.get('p95', float('nan')):.2f} mm"


def registration_rows(report: dict[str, Any]) -> list[list[Any]]:
    """What a reader of a registration needs, as (quantity, value) rows; the rest stays in the report.

    Mode, metric before and after (lower is better), rotation and translation of a
    linear transform, the estimated error (inverse consistency, landmarks) and the
    warnings.
    """
    metric = report.get("metric") or {}
    linear = report.get("linear_part") or {}
    error = report.get("estimated_error") or {}
    rows: list[list[Any]] = [
        ["Mode", report.get("mode")],
        ["Metric", metric.get("name")],
        ["Metric before (lower is better)", metric.get("before")],
        ["Metric after", metric.get("after")],
    ]
    if "rotation_deg" in linear:
        rows.append(["Rotation", f"{linear['rotation_deg']:.2f}°"])
    shift = linear.get("translation_at_region_centre_mm")
    if isinstance(shift, list) and len(shift) == 3:
        rows.append(["Shift at the region centre (LPS)", ", ".join(f"{v:.1f}" for v in shift) + " mm"])
    for key, label in (("inverse_consistency_mm", "Inverse consistency"), ("landmark_tre_mm", "Landmark error")):
        value = error.get(key)
        text = _mm(value.get("after") if isinstance(value, dict) and "after" in value else value)
        if text is not None:
            rows.append([f"{label} (estimated error)", text])
    if error.get("note"):
        rows.append(["Error estimate", error["note"]])
    rows.extend(["Warning", w] for w in report.get("warnings") or [])
    return [row for row in rows if row[1] is not None]


def _geometry(volume: Volume) -> dict[str, Any]:
    from workstation.viewer.layers import layer_geometry

    return layer_geometry(volume)


def _display_fraction(layer: Any, values: np.ndarray) -> np.ndarray:
    """Values mapped through the layer's contrast limits to 0–1 (what its grey level shows)."""
    lo, hi = (float(c) for c in layer.contrast_limits)
    return np.clip((values.astype(np.float32) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def checkerboard(fixed_layer: Any, moving_layer: Any, square_mm: float) -> Volume:
    """A checkerboard of the fixed image and the registered moving image, on the fixed grid.

    Squares of ``square_mm`` in the axial plane alternate between the two, each
    mapped through its own layer's contrast limits to 0–1, so a CT and a SPECT
    can be compared edge to edge. The moving image is resampled (linear) through
    the registration transform of its layer.
    """
    fixed = layer_volume(fixed_layer)
    source = moving_layer.metadata.get("source_volume") or layer_volume(moving_layer)
    transform = moving_layer.metadata.get("transform")
    moving = source.resample_to(fixed, "linear", transform=transform, fill_value=float(np.min(source.array)))
    jj, ii = np.indices(fixed.shape[1:])
    world = fixed.index_to_world(np.stack([np.zeros(jj.size), jj.ravel(), ii.ravel()], axis=1))  # LPS x, y, z
    tiles = ((np.floor(world[:, 0] / square_mm) + np.floor(world[:, 1] / square_mm)) % 2 == 0)
    tiles = tiles.reshape(fixed.shape[1:])
    out = np.where(tiles[np.newaxis], _display_fraction(fixed_layer, fixed.array),
                   _display_fraction(moving_layer, moving.array))
    board = fixed.copy_with(array=out.astype(np.float32), units=Unit.UNKNOWN)
    board.metadata.series_description = "checkerboard"
    return board
