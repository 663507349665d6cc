"""Dock widgets of the other therapies: radiotherapy doses, TACE lipiodol coverage, lesion overview.

Each widget computes its result from the viewer's layers in a worker thread
(``radiotherapy.run_rt_dose``, ``tace.analyse_tace``, ``lesions.lesion_overview``)
or opens an output folder of the command line (:func:`~workstation.viewer.results.read_results`),
and shows it the same way: the overlays of :mod:`workstation.viewer.results`, a
table (clicking a row centres the view on what it describes) and, for the doses,
the DVH of the dose shown.
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
    QSpinBox,
    QWidget,
)

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Volume
from workstation.viewer._kinds import LayerKind, layer_kind
from workstation.viewer._result_widget import ResultWidget, label_centres, label_mask, path_row
from workstation.viewer._widget_base import (
    LayerChoice,
    centre_view,
    fill_table,
    layer_volume,
    prefer_named,
    replace_layers,
    require_layer,
)
from workstation.viewer.results import (
    TherapyResults,
    dose_display_name,
    lesion_layers,
    rt_dose_layers,
    structure_layers,
    tace_layers,
)

__all__ = ["LesionWidget", "RadiotherapyWidget", "TaceWidget"]


# ---------------------------------------------------------------- radiotherapy
class RadiotherapyWidget(ResultWidget):
    """Doses of a planning system (``rt-dose``) or a sum of treatments (``combine``).

    Evaluate a plan from its DICOM files (RT Dose, optionally RT Plan and RT
    Structure Set) on a CT layer, or open an ``rt-dose`` / ``combine`` output
    folder. Every dose becomes a layer (physical dose, EQD2, each treatment's EQD2
    and their sum), all on one colour scale; "Dose shown" switches between them,
    with the DVH of that dose. The line under it reads every dose of the result at
    the cursor, shown or not.
    """

    KINDS = ("rt-dose", "combine")
    OPEN_LABEL = "Open rt-dose / combine results…"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Evaluate plan")
        self.dose_path = QLineEdit()
        self.dose_path.setPlaceholderText("RT Dose file or folder")
        self.plan_path = QLineEdit()
        self.plan_path.setPlaceholderText("optional: fractions, prescription")
        self.structures_path = QLineEdit()
        self.structures_path.setPlaceholderText("optional")
        self.ct = LayerChoice(napari_viewer, (LayerKind.CT,), optional=True)
        self.prescription = QDoubleSpinBox()
        self.prescription.setRange(0.0, 1000.0)
        self.prescription.setDecimals(2)
        self.prescription.setSuffix(" Gy")
        self.prescription.setSpecialValueText("from the plan")
        self.fractions = QSpinBox()
        self.fractions.setRange(0, 100)
        self.fractions.setSpecialValueText("from the plan")
        self.form.addRow(self.open_button)
        self.form.addRow("RT Dose", path_row(self.dose_path, lambda: self._browse(self.dose_path, "RT Dose")))
        self.form.addRow("RT Plan", path_row(self.plan_path, lambda: self._browse(self.plan_path, "RT Plan")))
        self.form.addRow("RT Structure Set", path_row(
            self.structures_path, lambda: self._browse(self.structures_path, "RT Structure Set")))
        self.form.addRow("CT (evaluation grid)", self.ct)
        self.form.addRow("Prescription", self.prescription)
        self.form.addRow("Fractions", self.fractions)
        self.shown = QComboBox()
        self.shown.activated.connect(lambda *_: self._guarded(lambda: self.show_dose(self.shown.currentData())))
        self.at_cursor = QLabel("")
        self.at_cursor.setWordWrap(True)
        shown_row = QWidget()
        shown_layout = QHBoxLayout(shown_row)
        shown_layout.setContentsMargins(0, 0, 0, 0)
        shown_layout.addWidget(QLabel("Dose shown"))
        shown_layout.addWidget(self.shown, 1)
        self.extra_layout.addWidget(shown_row)
        self.extra_layout.addWidget(self.at_cursor)
        self.extra_layout.addWidget(self.table)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 3), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.extra_layout.addWidget(self.canvas)
        self.run_button.clicked.connect(self._clicked)
        self.dose_layers: dict[str, Any] = {}
        napari_viewer.cursor.events.position.connect(self._on_cursor)

    def _browse(self, line: QLineEdit, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, what, "", "DICOM (*.dcm);;All files (*)")
        if path:
            line.setText(path)

    # ---- evaluate a plan
    def run(self) -> Any:
        from workstation.radiotherapy import run_rt_dose

        dose = self.dose_path.text().strip()
        if not dose:
            raise InvalidInputError("Choose the RT Dose file of the plan first.")
        plan = self.plan_path.text().strip() or None
        structures = self.structures_path.text().strip() or None
        for what, path in (("RT Dose", dose), ("RT Plan", plan), ("RT Structure Set", structures)):
            if path is not None and not Path(path).exists():
                raise InvalidInputError(f"The {what} {path} does not exist.")
        ct_layer_ = self.ct.layer()
        ct = layer_volume(ct_layer_) if ct_layer_ is not None else None
        rx = float(self.prescription.value()) or None
        fx = int(self.fractions.value()) or None

        def compute() -> Any:
            return run_rt_dose(dose, plan=plan, structures=structures, ct=ct, prescription_gy=rx, fractions=fx)

        def show(result: Any) -> None:
            doses = {"dose": result.dose}
            if result.eqd2 is not None:
                doses["eqd2"] = result.eqd2
            res = TherapyResults("rt-dose", Path("plan"), result.results, volumes=doses, dvh_rows=result.dvh_rows)
            grid = ct if ct is not None else result.dose
            layers = rt_dose_layers(doses, res.name, prescription_gy=result.results.get("prescription_gy"))
            layers += structure_layers(result.structures, grid, res.name)
            self.show_results(res, layers)

        return self.run_in_worker(compute, show, "Evaluating the plan…")

    # ---- show a result
    def show_results(self, res: TherapyResults, layers: list[Any] | None = None) -> None:
        """Add the result's layers, list its doses, fill the table and the DVH."""
        if layers is None:
            from workstation.viewer.results import result_layers

            layers = result_layers(res)
        self.results = res
        added = replace_layers(self.viewer, layers)
        self.dose_layers = {layer.metadata["dose_key"]: layer for layer in added
                            if layer_kind(layer) == LayerKind.DOSE and "dose_key" in layer.metadata}
        self.shown.clear()
        for key, layer in self.dose_layers.items():
            self.shown.addItem(layer.name, key)
        visible = next((k for k, layer in self.dose_layers.items() if layer.visible), None)
        if visible is not None:
            self.shown.setCurrentIndex(self.shown.findData(visible))
        fill_table(self.table, *self._rows(res))
        self._plot_dvh(visible)
        if visible is not None:  # the slice through the shown dose's maximum
            dose = self.dose_layers[visible].metadata["volume"]
            arr = np.where(np.isfinite(dose.array), dose.array, -np.inf)
            self.viewer.dims.set_point(0, float(dose.index_to_world(np.unravel_index(int(np.argmax(arr)),
                                                                                    dose.shape))[2]))
        self.done(self._notes(self._summary(res), res))

    def show_dose(self, key: str) -> None:
        """Show the dose ``key`` of the current result (and its isodose lines), hide the others; its DVH."""
        if key not in self.dose_layers:
            raise InvalidInputError(f"No dose {key!r} in the result shown; choose one of {', '.join(self.dose_layers)}.")
        for k, layer in self.dose_layers.items():
            layer.visible = k == key
        prefix = self.results.name if self.results is not None else ""
        for layer in self.viewer.layers:
            if layer_kind(layer) == LayerKind.ISODOSE and layer.metadata.get("result") == prefix:
                layer.visible = layer.metadata.get("dose_key") == key
        index = self.shown.findData(key)
        if index >= 0:
            self.shown.setCurrentIndex(index)
        self._plot_dvh(key)

    def _summary(self, res: TherapyResults) -> str:
        r = res.results
        if res.kind == "combine":
            names = [t.get("name") for t in r.get("treatments", [])]
            return (f"{res.name}: EQD2 sum of {', '.join(str(n) for n in names)}; highest EQD2 "
                    f"{r.get('eqd2_total_max_gy', float('nan')):.1f} Gy.")
        rx, fx = r.get("prescription_gy"), r.get("fractions")
        text = f"{res.name}: " + (f"{rx:g} Gy" if rx is not None else "no prescription") + (
            f" in {fx} fraction(s)." if fx else ".")
        failed = [c for c in r.get("constraints", []) if not c.get("passed")]
        if r.get("constraints"):
            text += (f" {len(r['constraints']) - len(failed)} of {len(r['constraints'])} liver constraints met.")
        conf = r.get("conformity") or {}
        if conf.get("paddick") is not None:
            text += f" Paddick conformity {conf['paddick']:.3f} ({conf.get('target')})."
        return text

    def _rows(self, res: TherapyResults) -> tuple[list[str], list[list[Any]]]:
        rois = res.results.get("rois") or {}
        if res.kind == "combine":
            names = [str(t.get("name")) for t in res.results.get("treatments", [])]
            header = ["ROI", "α/β (Gy)", "EQD2 mean (Gy)", "EQD2 D98 (Gy)", "EQD2 D2 (Gy)",
                      *[f"{n} EQD2 mean (Gy)" for n in names]]
            rows = []
            for name, entry in rois.items():
                total = entry.get("total") or {}
                rows.append([name, entry.get("alpha_beta_gy"), total.get("mean_gy"), total.get("d98_gy"),
                             total.get("d2_gy"), *[(entry.get(n) or {}).get("mean_gy") for n in names]])
            return header, rows
        brachy = res.results.get("kind") == "brachy"
        header = ["structure", "volume (mL)", "mean (Gy)", "D98 (Gy)", "D95 (Gy)", "D50 (Gy)", "D2 (Gy)",
                  "V100 (%)", "EQD2 mean (Gy)"]
        if brachy:
            header[3:3] = ["D100 (Gy)", "D90 (Gy)"]
        rows = []
        for name, m in rois.items():
            row = [name, m.get("volume_ml"), m.get("mean_gy"), m.get("d98_gy"), m.get("d95_gy"), m.get("d50_gy"),
                   m.get("d2_gy"), m.get("v100_percent"), m.get("eqd2_mean_gy")]
            if brachy:
                row[3:3] = [m.get("d100_gy"), m.get("d90_gy")]
            rows.append(row)
        return header, rows

    def _quantity(self, key: str | None) -> str | None:
        """The dvh.csv quantity of a dose key (``dose`` -> ``physical``)."""
        if key is None:
            return None
        return "physical" if key == "dose" else key

    def _plot_dvh(self, key: str | None) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(1, 1, 1)
        quantity = self._quantity(key)
        curves: dict[str, list[tuple[float, float]]] = {}
        rows = self.results.dvh_rows if self.results is not None else []
        for q, roi, dose_gy, percent in rows:
            if q == quantity:
                curves.setdefault(roi, []).append((dose_gy, percent))
        for roi, points in curves.items():
            arr = np.asarray(points)
            ax.plot(arr[:, 0], arr[:, 1], label=roi)
        label = dose_display_name(key) if key else "dose"
        ax.set_xlabel(f"{label} (Gy)")
        ax.set_ylabel("volume (%)")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=7)
        self.canvas.draw_idle()

    def dvh_curves(self) -> dict[str, np.ndarray]:
        """The DVH curves drawn, by ROI: (n, 2) arrays of (dose Gy, volume %)."""
        if not self.figure.axes:
            return {}
        return {line.get_label(): np.column_stack(line.get_data()) for line in self.figure.axes[0].lines}

    def values_at(self, point_lps_mm: Any) -> dict[str, float]:
        """Every dose of the shown result at an LPS point (Gy), shown or hidden; outside a grid left out."""
        from workstation.viewer._display import _value_at

        world = np.asarray(point_lps_mm, dtype=float)[::-1]
        out = {}
        for layer in self.dose_layers.values():
            if layer not in self.viewer.layers:
                continue
            value = _value_at(layer, world)
            if value is not None:
                out[layer.name] = float(value)
        return out

    def _on_cursor(self, event: Any = None) -> None:
        if not self.dose_layers:
            return
        try:
            position = np.asarray(self.viewer.cursor.position, dtype=float)[-3:]
            values = self.values_at(position[::-1])
            self.at_cursor.setText("At the cursor: " + (" · ".join(f"{n}: {v:.1f} Gy" for n, v in values.items())
                                                          or "outside the dose grids"))
        except (ValueError, TypeError, IndexError, RuntimeError):  # a layer changing; the widget closed
            return

    def go_to(self, row: int, column: int = 0) -> np.ndarray:
        """Centre the view on the shown dose's maximum inside the structure of ``row``, else its maximum."""
        key = self.shown.currentData()
        if key is None or self.results is None:
            raise InvalidInputError("Open a result first.")
        dose = self.dose_layers[key].metadata["volume"]
        item = self.table.item(row, 0)
        name = item.text() if item is not None else ""
        structure = next((layer for layer in self.viewer.layers if layer.name == f"{self.results.name} {name}"), None)
        arr = np.where(np.isfinite(dose.array), dose.array, -np.inf)
        if structure is not None and np.shape(structure.data) == dose.shape:
            arr = np.where(np.asarray(structure.data) != 0, arr, -np.inf)
        index = np.unravel_index(int(np.argmax(arr)), dose.shape)
        point = np.asarray(dose.index_to_world(index), dtype=float)
        centre_view(self.viewer, point)
        return point


# ------------------------------------------------------------------- TACE
class TaceWidget(ResultWidget):
    """Lipiodol deposition and per-tumour coverage after TACE.

    Analyse the post-TACE CT with the tumour and liver masks (and the pre-TACE CT,
    registered first, with the tumours on it), preview the deposits alone, or open a
    ``tace`` output folder. Overlays: the density above the liver (inferno, 0–600
    HU), deposits (yellow), gaps (cyan), rejected hyperdensities (grey). Clicking a
    tumour's row centres the view on the tumour, its gap columns on the largest
    gap; a non-target deposit's row on that deposit.
    """

    KINDS = ("tace",)
    OPEN_LABEL = "Open tace results…"
    #: Table columns (1-based) that go to the largest gap when clicked.
    GAP_COLUMNS = (4, 5)

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Analyse")
        self.post_ct = LayerChoice(napari_viewer, (LayerKind.CT,), prefer=[
            lambda layer: layer_kind(layer) == LayerKind.CT and "post" in layer.name.lower(),
            lambda layer: layer_kind(layer) == LayerKind.CT])
        self.pre_ct = LayerChoice(napari_viewer, (LayerKind.CT,), prefer=lambda layer: False, optional=True,
                                  exclude=lambda layer: layer is self.post_ct.layer())
        self.post_ct.currentIndexChanged.connect(lambda *_: self.pre_ct.refresh())
        labels = (LayerKind.LABELS,)
        self.tumor = LayerChoice(napari_viewer, labels, prefer=prefer_named("tumor", "tumour", "lesion", truth="tumor",
                                                                       avoid=("gap",)))
        self.liver = LayerChoice(napari_viewer, labels, prefer=prefer_named("liver", truth="liver"))
        self.mode = QComboBox()
        self.mode.addItems(["deformable", "affine", "rigid"])
        self.preview_button = QPushButton("Preview deposits")
        self.preview_button.clicked.connect(lambda: self._guarded(self.preview))
        self.form.addRow(self.open_button)
        self.form.addRow("Post-TACE CT", self.post_ct)
        self.form.addRow("Tumours", self.tumor)
        self.form.addRow("Liver", self.liver)
        self.form.addRow("Pre-TACE CT", self.pre_ct)
        self.form.addRow("Registration", self.mode)
        self.form.addRow(self.preview_button)
        self.extra_layout.addWidget(self.table)
        self.run_button.clicked.connect(self._clicked)
        self.analysis: Any = None
        self._targets: list[dict[str, Any]] = []

    def _inputs(self) -> tuple[Volume, Volume, Volume, Volume | None]:
        post_layer = require_layer(self.post_ct.layer(), "the post-TACE CT")
        tumor_layer = require_layer(self.tumor.layer(), "the tumour labels layer")
        liver_layer = require_layer(self.liver.layer(), "the liver labels layer")
        if tumor_layer is liver_layer:
            raise InvalidInputError("The tumour and liver layers must be two different layers.")
        pre_layer = self.pre_ct.layer()
        post, tumor, liver = layer_volume(post_layer), label_mask(tumor_layer), label_mask(liver_layer)
        pre = layer_volume(pre_layer) if pre_layer is not None else None
        if pre is not None and tumor.same_grid(post) and not tumor.same_grid(pre):
            # With a pre-TACE CT the tumours are carried from it through the registration:
            # tumours drawn on the post-TACE CT would be moved by it, silently wrong.
            raise InvalidInputError(
                f"{tumor_layer.name} lies on the post-TACE CT's grid, but with a pre-TACE CT the tumours must be "
                f"those drawn on the pre-TACE CT ({pre_layer.name}); choose them, or no pre-TACE CT."
            )
        return post, tumor, liver, pre

    def preview(self) -> Any:
        """The deposits alone (segmentation without registration or coverage): a quick look."""
        from workstation.tace import segment_lipiodol

        post, _, liver, _ = self._inputs()

        def show(seg: Any) -> None:
            layers = tace_layers(seg.mask, "tace", density=seg.density_hu, excluded=seg.excluded)
            replace_layers(self.viewer, layers)
            volume = seg.stats.get("lipiodol_volume_ml")
            text = "Deposits previewed" + (f": {volume:.2f} mL in the liver" if volume is not None else "") + (
                " (no registration, no coverage: Analyse for those).")
            self.done(text + ((" " + " ".join(seg.warnings)) if seg.warnings else ""))

        return self.run_in_worker(lambda: segment_lipiodol(post, liver), show, "Segmenting lipiodol…")

    def run(self) -> Any:
        from workstation.tace import analyse_tace

        post, tumor, liver, pre = self._inputs()
        mode = self.mode.currentText()

        def compute() -> Any:
            return analyse_tace(post, tumor, liver, pre_ct=pre, registration_mode=mode,
                                progress=self.report_progress)

        def show(analysis: Any) -> None:
            self.analysis = analysis
            seg = analysis.segmentation
            volumes = {"lipiodol": seg.mask, "density": seg.density_hu, "excluded": seg.excluded,
                       "tumors": analysis.tumors, "gaps": analysis.gaps()}
            res = TherapyResults("tace", Path("tace"), analysis.results, volumes=volumes)
            self.show_results(res)

        return self.run_in_worker(compute, show, "Analysing the TACE…" + (" (registering first)" if pre else ""))

    def show_results(self, res: TherapyResults, layers: list[Any] | None = None) -> None:
        """Add the overlays and fill the per-tumour table (and the non-target deposits)."""
        v = res.volumes
        if layers is None:
            layers = tace_layers(v["lipiodol"], res.name, density=v.get("density"), excluded=v.get("excluded"),
                                 tumors=v.get("tumors"), gaps=v.get("gaps"))
        self.results = res
        replace_layers(self.viewer, layers)
        centres = label_centres(v["tumors"]) if "tumors" in v else {}
        rows: list[list[Any]] = []
        self._targets = []
        for t in res.results.get("tumors", []):
            rim = t.get("rim_coverage_fraction")
            gap_ml = t.get("largest_gap_ml")
            where = ("peripheral" if t.get("largest_gap_peripheral") else "central") if gap_ml else ""
            rows.append([f"tumour {t['label']}", t.get("volume_ml"), t.get("lipiodol_coverage_percent"),
                         None if rim is None else 100.0 * float(rim), gap_ml, where, t.get("class")])
            self._targets.append({"centre": centres.get(int(t["label"])), "gap": t.get("largest_gap_centroid_lps_mm")})
        for n, deposit in enumerate(res.results.get("non_target_deposits", []), start=1):
            rows.append([f"non-target deposit {n}", deposit.get("volume_ml"), None, None, None, None,
                         f"mean {deposit.get('mean_hu', float('nan')):.0f} HU"])
            self._targets.append({"centre": deposit.get("centroid_lps_mm"), "gap": None})
        fill_table(self.table, ["", "volume (mL)", "lipiodol coverage (%)", "rim coverage (%)",
                                "largest gap (mL)", "gap", "class"], rows)
        summary = " ".join(res.results.get("summary", [])) or f"{len(rows)} tumour(s)."
        self.done(self._notes(summary, res))
        tumors = res.results.get("tumors", [])
        if tumors:  # start on the largest gap (or the first tumour when none has a gap)
            worst = int(np.argmax([t.get("largest_gap_ml") or 0.0 for t in tumors]))
            self.table.selectRow(worst)
            if self._targets[worst]["gap"] is not None or self._targets[worst]["centre"] is not None:
                self.go_to(worst, self.GAP_COLUMNS[0])

    def go_to(self, row: int, column: int = 0) -> np.ndarray:
        """Centre the view on the tumour (or, from a gap column, its largest gap) or deposit of ``row``."""
        if not 0 <= row < len(self._targets):
            raise InvalidInputError("Analyse the TACE (or open its results) and choose a tumour first.")
        target = self._targets[row]
        point = target["gap"] if column in self.GAP_COLUMNS and target["gap"] is not None else target["centre"]
        if point is None:
            raise InvalidInputError("That row has no location to go to.")
        centre_view(self.viewer, point)
        return np.asarray(point, dtype=float)


# ----------------------------------------------------------------- lesions
#: Lesion table columns (0-based) whose click goes to the nearest point of that kind.
_POINT_COLUMNS = {4: "capsule", 5: "dome", 6: "vessel"}


class LesionWidget(ResultWidget):
    """Per-lesion overview: size, distances to capsule, dome, large vessels and hilum, tumour burden.

    Computed from a CT with liver and lesion masks (vessels optional: segmented on a
    contrast CT), or opened from a ``lesions`` output folder. Overlays: lesion
    outlines, large vessels, each long axis as a line on its slice, the nearest
    capsule/dome/vessel points and the hilum. Clicking a row centres the view on the
    lesion's long axis; a distance column on that nearest point. The facts of the
    selected lesion, with their published criteria, are listed under the table.
    """

    KINDS = ("lesions",)
    OPEN_LABEL = "Open lesions results…"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "Lesion overview")
        labels = (LayerKind.LABELS,)
        self.ct = LayerChoice(napari_viewer, (LayerKind.CT,))
        self.liver = LayerChoice(napari_viewer, labels, prefer=prefer_named("liver", truth="liver"))
        self.lesions = LayerChoice(napari_viewer, labels, prefer=prefer_named(
            "lesion", "tumor", "tumour", truth="lesions", avoid=("outline", "gap")))
        self.vessels = LayerChoice(napari_viewer, labels, prefer=lambda layer: False, optional=True)
        self.form.addRow(self.open_button)
        self.form.addRow("CT", self.ct)
        self.form.addRow("Liver", self.liver)
        self.form.addRow("Lesions", self.lesions)
        self.form.addRow("Vessels", self.vessels)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.extra_layout.addWidget(self.table)
        self.extra_layout.addWidget(self.facts)
        self.run_button.clicked.connect(self._clicked)
        self.overview: Any = None

    def run(self) -> Any:
        from workstation.lesions import lesion_overview

        ct_layer_ = require_layer(self.ct.layer(), "a CT")
        liver_layer = require_layer(self.liver.layer(), "the liver labels layer")
        lesion_layer = require_layer(self.lesions.layer(), "the lesion labels layer")
        vessel_layer = self.vessels.layer()
        if len({id(x) for x in (liver_layer, lesion_layer, vessel_layer) if x is not None}) < (
                3 if vessel_layer is not None else 2):
            raise InvalidInputError("The liver, lesion and vessel layers must be different layers.")
        ct = layer_volume(ct_layer_)
        liver, lesions = label_mask(liver_layer), label_mask(lesion_layer)
        vessels = label_mask(vessel_layer) if vessel_layer is not None else None

        def compute() -> Any:
            return lesion_overview(ct, liver, lesions, vessels=vessels)

        def show(overview: Any) -> None:
            self.overview = overview
            volumes = {"lesions": overview.lesions}
            if overview.vessels is not None and vessels is None:  # segmented here: show them
                volumes["vessels"] = overview.vessels
            self.show_results(TherapyResults("lesions", Path("lesions"), overview.results, volumes=volumes))

        return self.run_in_worker(compute, show, "Measuring the lesions…")

    def show_results(self, res: TherapyResults, layers: list[Any] | None = None) -> None:
        """Add the overlays, fill the per-lesion table, show the largest lesion."""
        v = res.volumes
        if layers is None:
            layers = lesion_layers(res.results, v["lesions"], res.name, vessels=v.get("vessels"),
                                   liver=v.get("liver"))
        self.results = res
        replace_layers(self.viewer, layers)
        records = list(res.results.get("lesions", []))
        rows = []
        for r in records:
            seg = (r.get("couinaud") or {}).get("segment")
            rows.append([f"lesion {r['label']}", r.get("longest_diameter_mm"), r.get("short_axis_mm"),
                         r.get("volume_ml"), r.get("capsule_distance_mm"), r.get("dome_distance_mm"),
                         r.get("vessel_distance_mm"), r.get("hilum_distance_mm"), seg or "–"])
        fill_table(self.table, ["", "long axis (mm)", "short axis (mm)", "volume (mL)", "capsule (mm)",
                                "dome (mm)", "vessel (mm)", "hilum (mm)", "Couinaud"], rows)
        r = res.results
        text = (f"{r.get('lesion_count', len(records))} lesion(s), hepatic tumour burden "
                f"{r.get('tumour_burden_percent', float('nan')):.2f} % of {r.get('liver_volume_ml', float('nan')):.0f} mL; "
                "distances beyond the limit are shown as empty. " + str(r.get("note", "")))
        self.done(self._notes(text.strip(), res))
        if records:
            largest = int(np.argmax([x.get("longest_diameter_mm", 0.0) for x in records]))
            self.table.selectRow(largest)
            self.go_to(largest)

    def go_to(self, row: int, column: int = 0) -> np.ndarray:
        """Centre on lesion ``row`` (the middle of its long axis), or on a nearest point from its column."""
        records = self.results.results.get("lesions", []) if self.results is not None else []
        if not 0 <= row < len(records):
            raise InvalidInputError("Compute the lesion overview (or open its results) and choose a lesion first.")
        r = records[row]
        self._show_facts(r)
        key = _POINT_COLUMNS.get(column)
        point = r.get(f"{key}_nearest_lps_mm") if key is not None else None
        if point is None:
            ends = r.get("long_axis_ends_lps_mm")
            point = np.mean(np.asarray(ends, dtype=float), axis=0) if ends else r.get("centroid_lps_mm")
        if point is None:
            raise InvalidInputError(f"Lesion {r['label']} has no location to go to.")
        centre_view(self.viewer, point)
        return np.asarray(point, dtype=float)

    def _show_facts(self, record: dict[str, Any]) -> None:
        import html

        items = [f"<li>{html.escape(str(f.get('relation', '')))}: {html.escape(str(f.get('statement', '')))} "
                 f"<i>({html.escape(str(f.get('source', '')))})</i></li>" for f in record.get("facts", [])]
        self.facts.setText(f"<b>Lesion {record['label']}</b><ul>{''.join(items)}</ul>" if items else "")
