"""Dock widgets that drive the computing packages: register, SIRT dosimetry,
planning models, ablation margins (and segmentation when it exists).

Each calls the package's public function in a worker thread and shows the
result as layers (in patient space) and tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QWidget,
)

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.viewer._widget_base import LayerChoice, StepWidget, fill_table, layer_volume

__all__ = ["MarginWidget", "PlanningWidget", "RegisterWidget", "SegmentWidget", "SirtWidget"]


def _spin(lo: float, hi: float, value: float, decimals: int = 2, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    if suffix:
        box.setSuffix(f" {suffix}")
    return box


def _require(layer: Any, what: str) -> Any:
    if layer is None:
        raise InvalidInputError(f"Choose {what} first.")
    return layer


def _place_like(target: Any, source: Any) -> None:
    """Give ``target`` the same data→world placement as ``source``."""
    target.affine = np.asarray(source.affine.affine_matrix)
    target.scale = tuple(source.scale)
    target.translate = tuple(source.translate)


def _flatten(report: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    rows: list[list[Any]] = []
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, prefix=f"{name}."))
        elif isinstance(value, bool | int | float | str) or value is None:
            rows.append([name, float(value) if isinstance(value, float) else value])
        elif isinstance(value, list) and len(value) <= 4 and all(isinstance(v, int | float) for v in value):
            rows.append([name, ", ".join(f"{v:.4g}" for v in value)])
    return rows


# ---------------------------------------------------------------- register
class RegisterWidget(StepWidget):
    """Register a moving image (SPECT/PET or another CT) to a fixed CT.

    The result moves the moving layer through its affine (a linear transform
    whose rotation is about z only), or resamples the moving image (never the
    CT) onto an axis-aligned grid (other rotations, deformable).
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Register")
        self.fixed = LayerChoice(napari_viewer, ("image",))
        self.moving = LayerChoice(napari_viewer, ("image",))
        self.mode = QComboBox()
        self.mode.addItems(["rigid", "affine", "deformable"])
        self.fixed_mask = LayerChoice(napari_viewer, ("labels",), optional=True)
        self.table = QTableWidget()
        self.form.addRow("Fixed (CT)", self.fixed)
        self.form.addRow("Moving", self.moving)
        self.form.addRow("Mode", self.mode)
        self.form.addRow("Fixed mask", self.fixed_mask)
        self.extra_layout.addWidget(self.table)
        self.run_button.clicked.connect(self._clicked)
        self.result: Any = None

    def run(self) -> Any:
        from workstation.registration import register

        fixed_layer = _require(self.fixed.layer(), "a fixed image")
        moving_layer = _require(self.moving.layer(), "a moving image")
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
            self._apply(moving_layer, moving, fixed, result)

        return self.run_in_worker(compute, show, f"Registering ({mode})…")

    def _apply(self, layer: Any, moving: Volume, fixed: Volume, result: Any) -> None:
        from workstation.viewer.layers import functional_layer

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
        fill_table(self.table, ["registration", "value"], _flatten(result.report))
        how = "resampled (moving image only)" if kwargs["metadata"]["resampled"] else "through the layer affine"
        self.done(f"{layer.name} registered to {fixed.metadata.series_description or 'the fixed image'}; "
                  f"applied {how}.")


# -------------------------------------------------------------------- SIRT
class SirtWidget(StepWidget):
    """90Y voxel dosimetry: dose wash, ROI metrics table and DVH plot."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute dose")
        self.activity = LayerChoice(napari_viewer, ("image",))
        self.ct = LayerChoice(napari_viewer, ("image",), optional=True)
        self.rois = QListWidget()
        self.rois.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.rois.setMaximumHeight(90)
        self.method = QComboBox()
        self.method.addItems(["ldm", "vsv", "vsv-density", "all"])
        self.units = QComboBox()
        self.units.addItems(["from file", "Bq/mL", "counts"])
        self.administered = _spin(0.0, 50.0, 0.0, 3, "GBq")
        self.administered.setSpecialValueText("from image")
        self.lsf = _spin(0.0, 100.0, 0.0, 1, "%")
        self.form.addRow("Activity (SPECT/PET)", self.activity)
        self.form.addRow("CT", self.ct)
        self.form.addRow("ROIs (labels)", self.rois)
        self.form.addRow("Method", self.method)
        self.form.addRow("Activity units", self.units)
        self.form.addRow("Administered", self.administered)
        self.form.addRow("Lung shunt fraction", self.lsf)
        self.table = QTableWidget()
        self.extra_layout.addWidget(self.table)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 3), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.extra_layout.addWidget(self.canvas)
        napari_viewer.layers.events.inserted.connect(self._refresh_rois)
        napari_viewer.layers.events.removed.connect(self._refresh_rois)
        self._refresh_rois()
        self.run_button.clicked.connect(self._clicked)
        self.result: Any = None

    def _refresh_rois(self, *_: Any) -> None:
        chosen = {item.text() for item in self.rois.selectedItems()}
        self.rois.clear()
        for layer in self.viewer.layers:
            if type(layer).__name__ == "Labels" and not layer.name.startswith("isodose"):
                self.rois.addItem(layer.name)
                if layer.name in chosen:
                    self.rois.item(self.rois.count() - 1).setSelected(True)

    def select_rois(self, names: list[str]) -> None:
        for i in range(self.rois.count()):
            item = self.rois.item(i)
            item.setSelected(item.text() in names)

    def run(self) -> Any:
        from workstation.dosimetry import run_sirt

        act_layer = _require(self.activity.layer(), "an activity image")
        activity = act_layer.metadata.get("source_volume") or layer_volume(act_layer)
        if act_layer.metadata.get("transform") is not None:
            raise InvalidInputError(
                f"{act_layer.name} was registered to another image; compute the dose on the "
                "acquired SPECT/PET and its own CT (same frame of reference)."
            )
        ct_layer_ = self.ct.layer()
        ct = layer_volume(ct_layer_) if ct_layer_ is not None else None
        rois = {item.text(): layer_volume(self.viewer.layers[item.text()]) for item in self.rois.selectedItems()}
        units = None if self.units.currentText() == "from file" else self.units.currentText()
        administered = float(self.administered.value()) or None
        lsf = float(self.lsf.value()) / 100.0
        method = self.method.currentText()

        def compute() -> Any:
            return run_sirt(
                activity, ct=ct, rois=rois, activity_units=units, administered_gbq=administered,
                lung_shunt_fraction=lsf, method=method, progress=self.report_progress,
            )

        def show(result: Any) -> None:
            self.result = result
            self._show(result, act_layer)

        return self.run_in_worker(compute, show, f"Computing {method} dose…")

    def _show(self, result: Any, act_layer: Any) -> None:
        from workstation.viewer._app import add_layer
        from workstation.viewer.layers import dose_layer

        for method, dose in result.doses.items():
            name = f"dose {method} (Gy)"
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            layer = add_layer(self.viewer, dose_layer(dose, name=name))
            layer.visible = method == next(iter(result.doses))
        header = ["method", "ROI", "volume (mL)", "mass (g)", "mean (Gy)", "D70 (Gy)", "D90 (Gy)",
                  "V100 (%)", "V205 (%)", "max (Gy)"]
        rows = []
        for method, block in result.results["methods"].items():
            for roi, m in block["rois"].items():
                v = m.get("v_gy_percent", {})
                rows.append([method, roi, m.get("volume_ml"), m.get("mass_g"), m.get("mean_gy"),
                             m.get("d70_gy"), m.get("d90_gy"), v.get("100"), v.get("205"), m.get("max_gy")])
        fill_table(self.table, header, rows)
        self._plot_dvh(result.dvh_rows)
        warnings = result.warnings or result.results.get("warnings", [])
        text = f"Dose computed ({', '.join(result.doses)})."
        if warnings:
            text += " Warnings: " + " ".join(warnings)
        self.done(text)

    def _plot_dvh(self, dvh_rows: list[tuple[str, str, float, float]]) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(1, 1, 1)
        curves: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for method, roi, dose_gy, percent in dvh_rows:
            curves.setdefault((method, roi), []).append((dose_gy, percent))
        for (method, roi), points in curves.items():
            arr = np.asarray(points)
            ax.plot(arr[:, 0], arr[:, 1], label=f"{roi} ({method})")
        ax.set_xlabel("dose (Gy)")
        ax.set_ylabel("volume (%)")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=7)
        self.canvas.draw_idle()


# ---------------------------------------------------------------- planning
_PLAN_FIELDS: dict[str, list[tuple[str, str, float, float, float, int, str]]] = {
    # model: (argument, label, min, max, default, decimals, unit)
    "bsa": [
        ("height_cm", "Height", 50, 250, 170, 1, "cm"),
        ("weight_kg", "Weight", 20, 300, 70, 1, "kg"),
        ("liver_volume_ml", "Liver volume", 1, 10000, 1500, 1, "mL"),
        ("tumor_volume_ml", "Tumour volume", 0, 10000, 150, 1, "mL"),
        ("treated_fraction", "Treated fraction", 0, 1, 1, 3, ""),
        ("lung_shunt_fraction", "Lung shunt fraction", 0, 1, 0.05, 3, ""),
    ],
    "mird": [
        ("target_dose_gy", "Target dose", 1, 1000, 120, 1, "Gy"),
        ("perfused_mass_g", "Perfused mass", 1, 10000, 1500, 1, "g"),
        ("lung_shunt_fraction", "Lung shunt fraction", 0, 1, 0.05, 3, ""),
        ("residual_fraction", "Residual fraction", 0, 1, 0.0, 3, ""),
    ],
    "partition": [
        ("tumor_mass_g", "Tumour mass", 0.1, 10000, 150, 1, "g"),
        ("normal_mass_g", "Normal liver mass", 1, 10000, 1350, 1, "g"),
        ("tnr", "Tumour-to-normal ratio", 0.1, 100, 3, 2, ""),
        ("lung_shunt_fraction", "Lung shunt fraction", 0, 1, 0.05, 3, ""),
        ("normal_limit_gy", "Normal liver limit", 1, 200, 40, 1, "Gy"),
    ],
}


class PlanningWidget(StepWidget):
    """Prescribed activity from the BSA, MIRD single-compartment or partition model."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute activity")
        self.model = QComboBox()
        self.model.addItems(list(_PLAN_FIELDS))
        self.pages = QStackedWidget()
        self.inputs: dict[str, dict[str, QDoubleSpinBox]] = {}
        for model, fields in _PLAN_FIELDS.items():
            page = QWidget()
            form = QFormLayout(page)
            boxes = {}
            for arg, label, lo, hi, default, decimals, unit in fields:
                boxes[arg] = _spin(lo, hi, default, decimals, unit)
                form.addRow(label, boxes[arg])
            self.inputs[model] = boxes
            self.pages.addWidget(page)
        self.model.currentIndexChanged.connect(self.pages.setCurrentIndex)
        self.form.addRow("Model", self.model)
        self.form.addRow(self.pages)
        self.table = QTableWidget()
        self.extra_layout.addWidget(self.table)
        self.run_button.clicked.connect(self._clicked)
        self.result: dict[str, Any] | None = None

    def run(self) -> dict[str, Any]:
        """Compute at once (the models are closed formulas) and fill the table."""
        from workstation import dosimetry

        model = self.model.currentText()
        kwargs = {arg: float(box.value()) for arg, box in self.inputs[model].items()}
        function = {"bsa": dosimetry.plan_bsa, "mird": dosimetry.plan_mird, "partition": dosimetry.plan_partition}[model]
        result = dict(function(**kwargs))
        self.result = result
        fill_table(self.table, ["quantity", "value"], _flatten(result))
        self.done(f"{model} model computed.")
        return result


# ----------------------------------------------------------------- margins
class MarginWidget(StepWidget):
    """Ablation margins: per-tumour table, signed margin map, jump to the thinnest point."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute margins")
        self.tumor = LayerChoice(napari_viewer, ("labels",))
        self.ablation = LayerChoice(napari_viewer, ("labels",))
        self.liver = LayerChoice(napari_viewer, ("labels",), optional=True)
        self.form.addRow("Tumour(s)", self.tumor)
        self.form.addRow("Ablation zone", self.ablation)
        self.form.addRow("Liver", self.liver)
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jump_button = QPushButton("Jump to the thinnest point")
        self.jump_button.setEnabled(False)
        self.jump_button.clicked.connect(lambda: self.jump_to_thinnest(self.table.currentRow()))
        self.extra_layout.addWidget(self.table)
        self.extra_layout.addWidget(self.jump_button)
        self.run_button.clicked.connect(self._clicked)
        self.result: Any = None

    def run(self) -> Any:
        from workstation.ablation import analyse_margins

        tumor_layer = _require(self.tumor.layer(), "a tumour labels layer")
        ablation_layer = _require(self.ablation.layer(), "an ablation-zone labels layer")
        tumor = layer_volume(tumor_layer).copy_with(units=Unit.LABEL)
        ablation = layer_volume(ablation_layer).copy_with(units=Unit.LABEL)
        liver_layer = self.liver.layer()
        liver = layer_volume(liver_layer).copy_with(units=Unit.LABEL) if liver_layer is not None else None

        def compute() -> Any:
            return analyse_margins(tumor, ablation, liver)

        def show(result: Any) -> None:
            self.result = result
            self._show(result)

        return self.run_in_worker(compute, show, "Computing margins…")

    def _show(self, result: Any) -> None:
        from workstation.viewer._app import add_layer
        from workstation.viewer.layers import margin_layer

        name = "margin (mm)"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        add_layer(self.viewer, margin_layer(result.margin_map, name=name))
        rows = []
        for t in result.results["tumors"]:
            sf = t.get("surface_fraction", {})
            pct = t.get("margin_percentiles_mm", {})
            rows.append([t["label"], t.get("volume_ml"), t.get("minimal_margin_mm"), pct.get("5"),
                         pct.get("50"), sf.get("below_0mm"), sf.get("0_to_5mm"), sf.get("at_least_10mm")])
        fill_table(self.table, ["tumour", "volume (mL)", "min margin (mm)", "P5 (mm)", "P50 (mm)",
                                "surface < 0 mm", "0–5 mm", "≥ 10 mm"], rows)
        self.jump_button.setEnabled(bool(rows))
        if rows:
            self.table.selectRow(int(np.argmin([r[2] if r[2] is not None else np.inf for r in rows])))
        self.done(f"Minimal margin {result.results.get('minimal_margin_mm')} mm over {len(rows)} tumour(s).")

    def jump_to_thinnest(self, row: int = 0) -> np.ndarray:
        """Centre the view on the thinnest-margin point of tumour ``row``; returns it (LPS mm)."""
        tumors = self.result.results["tumors"] if self.result is not None else []
        if not 0 <= row < len(tumors):
            raise InvalidInputError("Compute the margins and choose a tumour first.")
        point = tumors[row].get("minimal_margin_location_lps_mm")
        if point is None:
            raise InvalidInputError(f"Tumour {tumors[row]['label']} has no thinnest point.")
        world = np.asarray(point, dtype=float)[::-1]
        self.viewer.dims.set_point(0, float(world[0]))
        self.viewer.scene.camera.center = tuple(float(c) for c in world)
        name = "thinnest margin"
        if name in self.viewer.layers:
            self.viewer.layers[name].data = world[np.newaxis, :]
        else:
            self.viewer.add_points(world[np.newaxis, :], name=name, size=4, face_color="yellow",
                                   border_color="black", symbol="cross")
        return np.asarray(point, dtype=float)


# ------------------------------------------------------------ segmentation
_SEGMENT_KINDS = ("body", "lungs", "liver", "lesions", "ablation-zone", "uptake")


class SegmentWidget(StepWidget):
    """Segment body, lungs, liver, lesions, an ablation zone or uptake; seeds from a Points layer.

    Seeds are the points of the chosen Points layer, converted from napari
    world coordinates (z, y, x) to LPS millimetres. ``lesions`` needs the
    liver in "Within"; ``ablation-zone`` needs one seed.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Segment")
        self.kind = QComboBox()
        self.kind.addItems(list(_SEGMENT_KINDS))
        self.image = LayerChoice(napari_viewer, ("image",))
        self.seeds = LayerChoice(napari_viewer, ("points",), optional=True)
        self.within = LayerChoice(napari_viewer, ("labels",), optional=True)
        self.percent = _spin(0.0, 100.0, 40.0, 1, "% of max")
        self.form.addRow("Structure", self.kind)
        self.form.addRow("Image", self.image)
        self.form.addRow("Seed points", self.seeds)
        self.form.addRow("Within", self.within)
        self.form.addRow("Uptake threshold", self.percent)
        self.run_button.clicked.connect(self._clicked)
        self.result: Volume | None = None

    def seed_points_lps(self) -> np.ndarray:
        """The seed layer's points in LPS millimetres, (n, 3)."""
        layer = self.seeds.layer()
        if layer is None or len(layer.data) == 0:
            return np.zeros((0, 3))
        world = np.array([layer.data_to_world(p) for p in layer.data], dtype=float)
        if world.shape[1] != 3:
            raise InvalidInputError(f"The seed layer {layer.name!r} must hold 3D points.")
        return world[:, ::-1]

    def run(self) -> Any:
        from workstation import segmentation as seg

        kind = self.kind.currentText()
        image_layer = _require(self.image.layer(), "an image")
        image = layer_volume(image_layer)
        within_layer = self.within.layer()
        within = layer_volume(within_layer).copy_with(units=Unit.LABEL) if within_layer is not None else None
        seeds = self.seed_points_lps()
        percent = float(self.percent.value())
        if kind == "lesions" and within is None:
            raise InvalidInputError("Segmenting lesions needs the liver mask in 'Within'.")
        if kind == "ablation-zone" and len(seeds) != 1:
            raise InvalidInputError(
                f"Segmenting an ablation zone needs exactly one seed point, not {len(seeds)}."
            )

        def compute() -> Volume:
            if kind == "body":
                return seg.segment_body(image)
            if kind == "lungs":
                return seg.segment_lungs(image)
            if kind == "liver":
                return seg.segment_liver(image, seed_lps=seeds[0] if len(seeds) else None)
            if kind == "lesions":
                return seg.segment_lesions(image, within, seeds_lps=seeds if len(seeds) else None)
            if kind == "ablation-zone":
                return seg.segment_ablation_zone(image, seeds[0], within=within)
            return seg.segment_uptake(image, within=within, percent=percent)

        def show(labels: Volume) -> None:
            from workstation.viewer._app import add_layer
            from workstation.viewer.layers import labels_layer

            self.result = labels
            name = kind
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            data = labels_layer(labels, name=name, contour=0, opacity=0.5)
            data[1]["metadata"]["reference"] = image  # for saving as DICOM SEG
            add_layer(self.viewer, data)
            voxels = int(np.count_nonzero(labels.array))
            self.done(f"{kind}: {voxels * labels.voxel_volume_ml:.1f} mL in {len(labels.label_names) or 1} label(s).")

        return self.run_in_worker(compute, show, f"Segmenting {kind}…")
