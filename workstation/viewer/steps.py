"""Dock widgets that drive the computing packages: SIRT dosimetry, planning
models, ablation margins, segmentation; registration lives in
:mod:`.registration_step` and is re-exported here.

Each calls the package's public function in a worker thread and shows the
result as layers (in patient space) and tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.roles import guess_role
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._widget_base import (
    LayerChoice,
    StepWidget,
    centre_view,
    fill_table,
    layer_volume,
    prefer_named,
    require_layer,
    spin_box,
)
from workstation.viewer.registration_step import RegisterWidget, checkerboard

__all__ = ["MarginWidget", "PlanningWidget", "RegisterWidget", "SegmentWidget", "SirtWidget", "checkerboard"]


# -------------------------------------------------------------------- SIRT
#: Roles offered in the SIRT widget's ROI table: (value, label).
_ROLE_LABELS: list[tuple[str, str]] = [
    ("liver", "liver"), ("lesion", "lesion / tumour"), ("lung", "lungs"), ("body", "body"),
    ("normal_liver", "normal liver"), ("other", "other"),
]


class SirtWidget(StepWidget):
    """90Y voxel dosimetry: dose wash, ROI metrics table and DVH plot.

    The ROI table lists every labels layer with a role (liver, lesion, lungs,
    body, normal liver, other) that decides what the dosimetry does with it
    (:mod:`workstation.dosimetry.roles`): prefilled from the sample truth or the
    layer name, changed by the user; the dose never depends on a name silently.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute dose")
        self.activity = LayerChoice(napari_viewer, (LayerKind.ACTIVITY, LayerKind.IMAGE))
        self.ct = LayerChoice(napari_viewer, (LayerKind.CT,), optional=True)
        self.rois = QTableWidget(0, 2)
        self.rois.setHorizontalHeaderLabels(["ROI (labels layer)", "role"])
        self.rois.verticalHeader().setVisible(False)
        self.rois.horizontalHeader().setStretchLastSection(True)
        self.rois.setMinimumHeight(110)
        self.rois.itemChanged.connect(self._on_roi_checked)
        self._roi_rows: list[tuple[Any, QTableWidgetItem, QComboBox]] = []
        self._roi_state: dict[int, dict[str, Any]] = {}
        self.method = QComboBox()
        self.method.addItems(["ldm", "vsv", "vsv-density", "all"])
        self.units = QComboBox()
        self.units.addItems(["from file", "Bq/mL", "counts"])
        self.administered = spin_box(0.0, 50.0, 0.0, 3, "GBq")
        self.administered.setSpecialValueText("from image")
        self.lsf = spin_box(0.0, 100.0, 0.0, 1, "%")
        self.form.addRow("Activity (SPECT/PET)", self.activity)
        self.form.addRow("CT", self.ct)
        self.form.addRow("ROIs and roles", self.rois)
        self.form.addRow("Method", self.method)
        self.form.addRow("Activity units", self.units)
        self.form.addRow("Administered", self.administered)
        self.form.addRow("Lung shunt", self.lsf)
        self.table = QTableWidget()
        self.extra_layout.addWidget(self.table)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 3), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.extra_layout.addWidget(self.canvas)
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        napari_viewer.layers.events.removed.connect(self._refresh_rois)
        napari_viewer.layers.events.reordered.connect(self._refresh_rois)
        for layer in napari_viewer.layers:
            layer.events.name.connect(self._refresh_rois)
        self._refresh_rois()
        self.run_button.clicked.connect(self._clicked)
        self.result: Any = None

    # ---- the ROI table
    def _on_inserted(self, event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            layer.events.name.connect(self._refresh_rois)
        self._refresh_rois()

    def _on_roi_checked(self, item: QTableWidgetItem) -> None:
        for layer, row_item, _ in self._roi_rows:
            if row_item is item:
                self._roi_state.setdefault(id(layer), {})["checked_chosen"] = True

    def _save_roi_state(self) -> None:
        for layer, item, combo in self._roi_rows:
            state = self._roi_state.setdefault(id(layer), {})
            state["checked"] = item.checkState() == Qt.CheckState.Checked
            state["role"] = combo.currentData()

    def _refresh_rois(self, *_: Any) -> None:
        """Rebuild the table: one row per labels layer, its choice kept across renames."""
        self._save_roi_state()
        layers = [lay for lay in self.viewer.layers if layer_kind(lay) == LayerKind.LABELS]
        self.rois.blockSignals(True)
        self.rois.setRowCount(len(layers))
        self._roi_rows = []
        for row, layer in enumerate(layers):
            state = self._roi_state.setdefault(id(layer), {})
            if not state.get("chosen"):  # prefill: the truth (sample studies), else the name
                state["role"] = layer.metadata.get("roi_role") or guess_role(layer.name).value
            if not state.get("checked_chosen"):  # used unless its role is "other", until the user says
                state["checked"] = state["role"] != "other"
            item = QTableWidgetItem(layer.name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if state["checked"] else Qt.CheckState.Unchecked)
            combo = QComboBox()
            for value, label in _ROLE_LABELS:
                combo.addItem(label, value)
            combo.setCurrentIndex(combo.findData(state["role"]))
            combo.activated.connect(lambda *_, st=state, it=item, co=combo: self._role_chosen(st, it, co))
            self.rois.setItem(row, 0, item)
            self.rois.setCellWidget(row, 1, combo)
            self._roi_rows.append((layer, item, combo))
        self.rois.blockSignals(False)
        self.rois.resizeColumnToContents(0)

    def _role_chosen(self, state: dict[str, Any], item: QTableWidgetItem, combo: QComboBox) -> None:
        """The user chose a role: it stays; the ROI is used unless the role is "other" (or they unticked it)."""
        state["chosen"] = True
        state["role"] = combo.currentData()
        if not state.get("checked_chosen"):
            self.rois.blockSignals(True)
            item.setCheckState(Qt.CheckState.Unchecked if state["role"] == "other" else Qt.CheckState.Checked)
            self.rois.blockSignals(False)

    def roi_names(self) -> list[str]:
        """Names of the labels layers listed in the ROI table, in order."""
        return [layer.name for layer, _, _ in self._roi_rows]

    def select_rois(self, names: list[str]) -> None:
        """Use these labels layers as ROIs (and no other)."""
        for layer, item, _ in self._roi_rows:
            item.setCheckState(Qt.CheckState.Checked if layer.name in names else Qt.CheckState.Unchecked)

    def set_role(self, name: str, role: str) -> None:
        """Choose the role of the ROI ``name`` (as the user would in its role column)."""
        from workstation.dosimetry.roles import parse_role

        value = parse_role(role).value
        for layer, item, combo in self._roi_rows:
            if layer.name == name:
                combo.setCurrentIndex(combo.findData(value))
                self._role_chosen(self._roi_state[id(layer)], item, combo)
                return
        raise InvalidInputError(f"No labels layer called {name!r} in the ROI table.")

    def roi_roles(self) -> dict[str, str]:
        """The chosen ROIs and their roles, ``{layer name: role}``."""
        return {layer.name: str(combo.currentData()) for layer, item, combo in self._roi_rows
                if item.checkState() == Qt.CheckState.Checked}

    # ---- the run
    def run(self) -> Any:
        from workstation.dosimetry import run_sirt

        act_layer = require_layer(self.activity.layer(), "an activity image (SPECT or PET)")
        if layer_kind(act_layer) not in (LayerKind.ACTIVITY, LayerKind.IMAGE):
            raise InvalidInputError(f"{act_layer.name} is not an activity image (SPECT or PET).")
        activity = act_layer.metadata.get("source_volume") or layer_volume(act_layer)
        if act_layer.metadata.get("transform") is not None:
            raise InvalidInputError(
                f"{act_layer.name} was registered to another image; compute the dose on the "
                "acquired SPECT/PET and its own CT (same frame of reference)."
            )
        ct_layer_ = self.ct.layer()
        ct = layer_volume(ct_layer_) if ct_layer_ is not None else None
        roles = self.roi_roles()
        rois = {name: layer_volume(self.viewer.layers[name]) for name in roles}
        units = None if self.units.currentText() == "from file" else self.units.currentText()
        administered = float(self.administered.value()) or None
        lsf = float(self.lsf.value()) / 100.0
        method = self.method.currentText()

        def compute() -> Any:
            return run_sirt(
                activity, ct=ct, rois=rois, activity_units=units, administered_gbq=administered,
                lung_shunt_fraction=lsf, method=method, progress=self.report_progress, roi_roles=roles,
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
        header = ["method", "ROI", "role", "volume (mL)", "mass (g)", "mean (Gy)", "D70 (Gy)", "D90 (Gy)",
                  "V100 (%)", "V205 (%)", "max (Gy)"]
        roles = result.results.get("roi_roles", {})
        rows = []
        for method, block in result.results["methods"].items():
            for roi, m in block["rois"].items():
                v = m.get("v_gy_percent", {})
                role = dict(_ROLE_LABELS).get(roles.get(roi, ""), roles.get(roi, ""))
                rows.append([method, roi, role, m.get("volume_ml"), m.get("mass_g"), m.get("mean_gy"),
                             m.get("d70_gy"), m.get("d90_gy"), v.get("100"), v.get("205"), m.get("max_gy")])
        fill_table(self.table, header, rows)
        self._plot_dvh(result.dvh_rows)
        warnings = result.warnings or result.results.get("warnings", [])
        chosen = self.roi_roles()
        text = f"Dose computed ({', '.join(result.doses)})"
        if chosen:
            text += " with " + ", ".join(f"{n} as {dict(_ROLE_LABELS)[r]}" for n, r in chosen.items())
        text += "."
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
_PLAN_MODELS: dict[str, str] = {
    "bsa": "BSA (resin microspheres)",
    "mird": "MIRD single compartment (glass)",
    "partition": "Partition model",
}

_PLAN_FIELDS: dict[str, list[tuple[str, str, float, float, float, int, str]]] = {
    # model: (argument, label, min, max, default, decimals, unit); "%" fields are fractions x 100
    "bsa": [
        ("height_cm", "Height", 50, 250, 170, 1, "cm"),
        ("weight_kg", "Weight", 20, 300, 70, 1, "kg"),
        ("liver_volume_ml", "Liver volume", 1, 10000, 1500, 1, "mL"),
        ("tumor_volume_ml", "Tumour volume", 0, 10000, 150, 1, "mL"),
        ("treated_fraction", "Treated part of the liver", 0, 100, 100, 1, "%"),
        ("lung_shunt_fraction", "Lung shunt", 0, 100, 5, 1, "%"),
    ],
    "mird": [
        ("target_dose_gy", "Target dose", 1, 1000, 120, 1, "Gy"),
        ("perfused_mass_g", "Perfused mass", 1, 10000, 1500, 1, "g"),
        ("lung_shunt_fraction", "Lung shunt", 0, 100, 5, 1, "%"),
        ("residual_fraction", "Residual in vial and catheter", 0, 100, 0, 1, "%"),
    ],
    "partition": [
        ("tumor_mass_g", "Tumour mass", 0.1, 10000, 150, 1, "g"),
        ("normal_mass_g", "Normal liver mass", 1, 10000, 1350, 1, "g"),
        ("tnr", "Tumour-to-normal ratio", 0.1, 100, 3, 2, ""),
        ("lung_shunt_fraction", "Lung shunt", 0, 100, 5, 1, "%"),
        ("normal_limit_gy", "Normal liver limit", 1, 200, 40, 1, "Gy"),
    ],
}

#: Readable names of the planning results' keys (the last part of a dotted key).
_PLAN_WORDS: dict[str, str] = {
    "model": "model",
    "prescribed_activity": "prescribed activity",
    "bsa": "body surface area",
    "bsa_formula": "body-surface-area formula",
    "activity_before_reduction": "activity before the lung-shunt reduction",
    "lung_shunt_reduction": "lung-shunt reduction",
    "prescription_basis": "prescription basis",
    "limited_by": "limited by",
    "ldm": "LDM factor",
    "source": "source",
    "tnr": "tumour-to-normal ratio",
    "lung_shunt": "lung shunt",
    "perfused_liver": "perfused liver",
    "normal_liver": "normal liver",
    "tumor": "tumour",
    "lung": "lungs",
}
#: Key suffixes that carry a unit: (suffix, unit, factor applied to the value).
_PLAN_UNITS: list[tuple[str, str, float]] = [
    ("_gy_kg_per_gbq", "Gy kg/GBq", 1.0), ("_gbq", "GBq", 1.0), ("_gy", "Gy", 1.0), ("_m2", "m²", 1.0),
    ("_ml", "mL", 1.0), ("_cm", "cm", 1.0), ("_kg", "kg", 1.0), ("_g", "g", 1.0), ("_fraction", "%", 100.0),
    ("_reduction", "%", 100.0),
]
_PLAN_SECTIONS = {"inputs": "input", "doses": "dose", "activities_gbq": "activity"}


def plan_rows(result: dict[str, Any]) -> list[list[str]]:
    """A planning result as readable (quantity, value with unit) rows; fractions in %.

    ``prescribed_activity_gbq`` -> ("Prescribed activity", "1.71 GBq");
    ``inputs.lung_shunt_fraction`` -> ("Input: lung shunt", "5 %"); warnings are
    left out (the status line shows them).
    """
    rows: list[list[str]] = []

    def add(key: str, value: Any, section: str | None, section_unit: tuple[str, float] | None) -> None:
        unit, factor = section_unit or ("", 1.0)
        stem = key
        for suffix, u, f in _PLAN_UNITS:
            if key.endswith(suffix):
                stem, unit, factor = key[: -len(suffix)], u, f
                break
        words = _PLAN_WORDS.get(stem) or _PLAN_WORDS.get(key) or stem.replace("_", " ").replace("tumor", "tumour")
        label = f"{section}: {words}" if section else words
        if isinstance(value, bool) or value is None:
            text = "—" if value is None else ("yes" if value else "no")
        elif isinstance(value, int | float):
            text = f"{value * factor:.4g}" + (f" {unit}" if unit else "")
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        rows.append([label[0].upper() + label[1:], text])

    for key, value in result.items():
        if key == "warnings":
            continue
        if isinstance(value, dict):
            section = _PLAN_SECTIONS.get(key, key.replace("_", " "))
            section_unit = ("GBq", 1.0) if key.endswith("_gbq") else None
            for sub, sub_value in value.items():
                if not isinstance(sub_value, dict):
                    add(sub, sub_value, section, section_unit)
        else:
            add(key, value, None, None)
    return rows


class PlanningWidget(StepWidget):
    """Prescribed activity from the BSA, MIRD single-compartment or partition model.

    Fractions (lung shunt, residual, treated part) are entered and shown in %, as
    in the SIRT dosimetry widget.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute activity")
        self.model = QComboBox()
        for key, label in _PLAN_MODELS.items():
            self.model.addItem(label, key)
        self.pages = QStackedWidget()
        self.inputs: dict[str, dict[str, QDoubleSpinBox]] = {}
        for model, fields in _PLAN_FIELDS.items():
            page = QWidget()
            form = QFormLayout(page)
            boxes = {}
            for arg, label, lo, hi, default, decimals, unit in fields:
                boxes[arg] = spin_box(lo, hi, default, decimals, unit)
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

    def set_model(self, model: str) -> None:
        """Show the model ``bsa``, ``mird`` or ``partition``."""
        index = self.model.findData(model)
        if index < 0:
            raise InvalidInputError(f"Unknown planning model {model!r}; choose bsa, mird or partition.")
        self.model.setCurrentIndex(index)

    def run(self) -> dict[str, Any]:
        """Compute at once (the models are closed formulas) and fill the table."""
        from workstation import dosimetry

        model = str(self.model.currentData())
        units = {arg: unit for arg, _, _, _, _, _, unit in _PLAN_FIELDS[model]}
        kwargs = {arg: float(box.value()) / (100.0 if units[arg] == "%" else 1.0)
                  for arg, box in self.inputs[model].items()}
        function = {"bsa": dosimetry.plan_bsa, "mird": dosimetry.plan_mird, "partition": dosimetry.plan_partition}[model]
        result = dict(function(**kwargs))
        self.result = result
        fill_table(self.table, ["quantity", "value"], plan_rows(result))
        text = f"{self.model.currentText()}: {result['prescribed_activity_gbq']:.3g} GBq."
        if result.get("warnings"):
            text += " Warnings: " + " ".join(result["warnings"])
        self.done(text)
        return result


# ----------------------------------------------------------------- margins
class MarginWidget(StepWidget):
    """Ablation margins: per-tumour table, signed margin map, jump to the thinnest point."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Compute margins")
        labels = (LayerKind.LABELS,)
        self.tumor = LayerChoice(napari_viewer, labels, prefer=prefer_named("tumor", "tumour", "lesion", truth="tumor"))
        self.ablation = LayerChoice(napari_viewer, labels, prefer=prefer_named(
            "zone", "ablation", truth="ablation zone", avoid=("tumor", "tumour", "lesion", "liver")))
        self.liver = LayerChoice(napari_viewer, labels, prefer=prefer_named("liver", truth="liver"), optional=True)
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

        tumor_layer = require_layer(self.tumor.layer(), "a tumour labels layer")
        ablation_layer = require_layer(self.ablation.layer(), "an ablation-zone labels layer")
        if tumor_layer is self.liver.layer() or ablation_layer is self.liver.layer() or tumor_layer is ablation_layer:
            raise InvalidInputError("The tumour, ablation-zone and liver layers must be three different layers.")
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
        minimal = result.results.get("minimal_margin_mm")
        if not rows:
            self.fail(f"No tumour found in {self.tumor.currentText()}: it has no voxel inside.")
        elif minimal is None:
            self.fail(f"No minimal margin over {len(rows)} tumour(s): every tumour surface point was excluded "
                      "(subcapsular) or lies outside the margin range.")
        else:
            self.done(f"Minimal margin {minimal:.1f} mm over {len(rows)} tumour(s).")

    def jump_to_thinnest(self, row: int = 0) -> np.ndarray:
        """Centre the view on the thinnest-margin point of tumour ``row``; returns it (LPS mm)."""
        tumors = self.result.results["tumors"] if self.result is not None else []
        if not 0 <= row < len(tumors):
            raise InvalidInputError("Compute the margins and choose a tumour first.")
        point = tumors[row].get("minimal_margin_location_lps_mm")
        if point is None:
            raise InvalidInputError(f"Tumour {tumors[row]['label']} has no thinnest point.")
        world = centre_view(self.viewer, point)
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
        self.image = LayerChoice(napari_viewer, (LayerKind.CT, LayerKind.ACTIVITY, LayerKind.IMAGE))
        self.seeds = LayerChoice(napari_viewer, (LayerKind.POINTS,), optional=True)
        self.within = LayerChoice(napari_viewer, (LayerKind.LABELS,), prefer=lambda layer: False, optional=True)
        self.percent = spin_box(0.0, 100.0, 40.0, 1, "% of max")
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
        image_layer = require_layer(self.image.layer(), "an image")
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
                return seg.segment_lesions(image, within, seeds_lps=seeds.tolist() if len(seeds) else None)
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
            data[1]["metadata"]["segmented"] = kind  # the Correct widget starts on it
            add_layer(self.viewer, data)
            voxels = int(np.count_nonzero(labels.array))
            self.done(f"{kind}: {voxels * labels.voxel_volume_ml:.1f} mL in {len(labels.label_names) or 1} label(s).")

        return self.run_in_worker(compute, show, f"Segmenting {kind}…")
