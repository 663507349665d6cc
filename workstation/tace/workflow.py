"""The ``tace`` workflow: register, segment the deposits, measure each tumour, write the outputs.

:func:`analyse_tace` works on Volumes (Python, the viewer, the demo);
:func:`run_tace` reads the inputs named on the command line and writes
``results.json``, ``lipiodol.nii.gz`` and the other outputs atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from scipy import ndimage as ndi

from workstation import __version__
from workstation.core.errors import EmptyMaskError, InvalidInputError
from workstation.core.outputs import report_or_summary, summary_page
from workstation.core.progress import Progress, no_progress, scaled
from workstation.core.volume import Unit, Volume
from workstation.tace import constants as K
from workstation.tace.coverage import (
    TumorFraction,
    non_target_deposition,
    rim_coverage,
    tumor_coverage,
)
from workstation.tace.deposition import LipiodolSegmentation, segment_lipiodol

__all__ = ["ReportRenderer", "TaceAnalysis", "analyse_tace", "run_tace"]

RegistrationMode = Literal["rigid", "affine", "deformable"]


@dataclass
class TaceAnalysis:
    """Everything :func:`analyse_tace` computes.

    Attributes
    ----------
    results:
        The ``results.json`` dictionary of ``workstation tace``.
    ct:
        The post-TACE CT (the grid of every volume below).
    segmentation:
        The deposits, their density map and the rejected hyperdensities.
    tumors:
        Label volume of the tumours on the post-TACE grid (fraction >= 0.5).
    fractions:
        Per-tumour partial-volume fractions on the post-TACE grid.
    liver:
        Liver mask on the post-TACE grid.
    transform:
        Registration transform (post-CT points → pre-CT points) or None.
    """

    results: dict[str, Any]
    ct: Volume
    segmentation: LipiodolSegmentation
    tumors: Volume
    fractions: list[TumorFraction] = field(default_factory=list)
    liver: Volume | None = None
    transform: Any | None = None

    @property
    def lipiodol(self) -> Volume:
        return self.segmentation.mask

    def gaps(self) -> Volume:
        """Label volume of the uncovered tumour voxels (value = tumour label), post-TACE grid."""
        gap = np.where(self.segmentation.mask.array == 0, self.tumors.array, 0).astype(np.uint8)
        names = {int(k): f"gap tumour {int(k)}" for k in np.unique(gap) if k}
        return self.tumors.copy_with(array=gap, units=Unit.LABEL, label_names=names)


def _tumour_labels(tumor: Volume) -> Volume:
    """A label volume: label values kept; a binary mask split into 26-connected components."""
    arr = np.asarray(tumor.array)
    src = tumor.metadata.source_path or "tumor"
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"The tumor mask {src} contains NaN or infinite values.")
        if np.any(arr != np.round(arr)):
            arr = arr >= 0.5
    if arr.dtype != bool and arr.min() < 0:
        raise InvalidInputError(f"The tumor mask {src} has negative values; labels must be >= 0.")
    values = np.unique(arr[arr != 0])
    if values.size == 0:
        raise EmptyMaskError(f"The tumor mask {src} is empty (no voxel inside).")
    if values.size > 255:
        raise InvalidInputError(f"The tumor mask {src} has {values.size} distinct values; it looks like an image.")
    if values.size == 1:
        lab, n = ndi.label(arr != 0, structure=np.ones((3, 3, 3), dtype=bool))
        names = {k: f"tumor {k}" for k in range(1, n + 1)}
        return tumor.copy_with(array=lab.astype(np.uint8 if n < 256 else np.uint16), units=Unit.LABEL,
                               label_names=names)
    names = {int(v): tumor.label_names.get(int(v), f"tumor {int(v)}") for v in values}
    return tumor.copy_with(array=arr.astype(np.uint16 if values.max() > 255 else np.uint8),
                           units=Unit.LABEL, label_names=names)


def _fractions(labels: Volume, post: Volume, transform: Any | None) -> list[TumorFraction]:
    """Each tumour's partial-volume fraction on the post-TACE grid.

    A nearest-neighbour pass finds each tumour's box on the post-TACE grid; the
    supersampled partial-volume resampling then runs on that box (plus 3 voxels) only.
    """
    from workstation.registration import transform_volume

    out = []
    if transform is None and labels.same_grid(post):
        coarse = labels
    else:
        coarse = transform_volume(labels, post, transform, interpolation="nearest")
    for value in sorted(labels.label_names):
        frac = np.zeros(post.shape, dtype=np.float32)
        if transform is None and labels.same_grid(post):
            frac = (labels.array == value).astype(np.float32)
        else:
            box = coarse.copy_with(array=(coarse.array == value).astype(np.uint8)).nonzero_box(margin_voxels=3)
            if box is not None:
                part = transform_volume(labels, post.crop(box), transform, interpolation="partial", label=value)
                frac[box] = part.array
        if not np.any(frac >= 0.5):
            raise EmptyMaskError(
                f"Tumour {value} of {labels.metadata.source_path or 'the tumor mask'} falls outside the "
                "post-TACE CT (or is smaller than half a voxel there)."
            )
        out.append(TumorFraction(int(value), frac))
    return out


def _label_map(fractions: list[TumorFraction], post: Volume) -> Volume:
    arr = np.zeros(post.shape, dtype=np.uint8)
    best = np.zeros(post.shape, dtype=np.float32)
    for tf in fractions:
        take = (tf.fraction >= 0.5) & (tf.fraction > best)
        arr[take] = tf.label
        best[take] = tf.fraction[take]
    return post.copy_with(array=arr, units=Unit.LABEL, modality=None,
                          label_names={tf.label: f"tumor {tf.label}" for tf in fractions})


def _check_post(post: Volume) -> None:
    if post.is_label() or post.modality not in (None, "CT") or post.units not in (Unit.HU, Unit.UNKNOWN):
        raise InvalidInputError(
            f"The post-TACE image {post.metadata.source_path or ''} is not a CT "
            f"({post.modality or post.units.value})."
        )


def analyse_tace(
    post_ct: Volume,
    tumor: Volume,
    liver: Volume,
    pre_ct: Volume | None = None,
    registration_mode: RegistrationMode = "deformable",
    inverse_consistency: bool = False,
    min_contrast_hu: float | None = None,
    transform: Any | None = None,
    progress: Progress = no_progress,
) -> TaceAnalysis:
    """Lipiodol deposition and per-tumour coverage after TACE.

    Parameters
    ----------
    post_ct:
        The post-TACE CT (HU), ideally unenhanced.
    tumor:
        Tumour mask(s): a label image (one tumour per value) or a binary mask
        (one tumour per 26-connected component). On the pre-TACE CT when
        ``pre_ct`` is given, else on (or overlapping) the post-TACE CT.
    liver:
        Liver mask on (or overlapping) the post-TACE CT.
    pre_ct:
        Pre-TACE CT; it is registered to the post-TACE CT (moving → fixed) with
        the tumours kept rigid (``registration_mode="deformable"``) and the
        deposits excluded from the metric; its hyperdensities are pre-existing.
    registration_mode:
        ``"rigid"``, ``"affine"`` or ``"deformable"`` (rigid tumours).
    inverse_consistency:
        Also estimate the registration error by the reverse registration.
    min_contrast_hu:
        Override of the seed contrast of the segmentation (HU above the liver).
    transform:
        A known SimpleITK transform (post-CT points → pre-CT points, e.g. from an
        earlier ``workstation register``); with ``pre_ct`` it replaces the registration.
    progress:
        Callback ``progress(fraction, text)`` (:class:`~workstation.core.progress.Progress`).

    Returns
    -------
    TaceAnalysis
    """
    _check_post(post_ct)
    if registration_mode not in ("rigid", "affine", "deformable"):
        raise InvalidInputError(
            f"--registration-mode must be rigid, affine or deformable, not {registration_mode!r}."
        )
    labels = _tumour_labels(tumor)
    liver_on = liver if liver.same_grid(post_ct) else liver.resample_to(post_ct, interpolation="nearest")
    liver_mask = (liver_on.array >= 0.5) if liver_on.array.dtype.kind == "f" else (liver_on.array != 0)
    if not liver_mask.any():
        raise EmptyMaskError(f"The liver mask {liver.metadata.source_path or ''} has no voxel on the post-TACE CT.")
    liver_vol = post_ct.copy_with(array=liver_mask.astype(np.uint8), units=Unit.LABEL, modality=None,
                                  label_names={1: "liver"})

    registration: dict[str, Any] | None = None
    if transform is not None and pre_ct is None:
        raise InvalidInputError("A transform needs the pre-TACE CT it maps to (--pre-ct).")
    progress(0.05, "segmenting lipiodol")
    seg = segment_lipiodol(post_ct, liver_vol, min_contrast_hu=min_contrast_hu)
    if pre_ct is not None and transform is not None:
        from workstation.registration import transform_volume

        registration = {"mode": "given transform", "transform": str(transform.GetName())}
        pre_on_post = transform_volume(pre_ct, post_ct, transform, interpolation="linear")
        seg = segment_lipiodol(post_ct, liver_vol, pre_ct_on_post=pre_on_post, min_contrast_hu=min_contrast_hu)
    elif pre_ct is not None:
        from workstation.registration import register, transform_volume

        progress(0.1, "registering the pre-TACE CT")
        rigid = labels.copy_with(array=(labels.array != 0).astype(np.uint8), label_names={1: "tumours"})
        deposits = [seg.mask] if np.any(seg.mask.array) else None
        result = register(
            fixed=post_ct, moving=pre_ct, mode=registration_mode, exclude=deposits,
            rigid_masks=[rigid] if registration_mode == "deformable" else None,
            inverse_consistency=inverse_consistency,
            progress=scaled(progress, 0.1, 0.7),
        )
        transform = result.transform
        registration = result.report
        pre_on_post = transform_volume(pre_ct, post_ct, transform, interpolation="linear")
        progress(0.72, "segmenting lipiodol (pre-existing hyperdensities excluded)")
        seg = segment_lipiodol(post_ct, liver_vol, pre_ct_on_post=pre_on_post, min_contrast_hu=min_contrast_hu)
    progress(0.78, "carrying the tumours to the post-TACE CT")
    fractions = _fractions(labels, post_ct, transform)
    tumors_post = _label_map(fractions, post_ct)

    progress(0.82, "measuring coverage")
    lip = seg.mask.array != 0
    records = [tumor_coverage(tf, lip, seg.density_hu.array, post_ct) for tf in fractions]
    rims, rim_warnings = rim_coverage(tumors_post, seg.mask)
    for rec in records:
        rim = rims.get(rec["label"])
        rec["rim_coverage_fraction"] = None if rim is None else round(rim, 4)
        rec["class"] = K.classify_deposition(rec["lipiodol_coverage_percent"], rim)
    inside_any = tumors_post.array != 0
    nt = non_target_deposition(lip, inside_any, liver_mask, post_ct)
    warnings = list(seg.warnings) + [w for w in rim_warnings if "mask is a" not in w]
    warnings += [f"Tumour {r['label']}: too small for a surface; rim coverage not measured." for r in records
                 if r["rim_coverage_fraction"] is None]
    results: dict[str, Any] = {
        "workstation_version": __version__,
        "tumors": records,
        "non_target_ml": nt["non_target_ml"],
        "peritumoral_ml": nt["peritumoral_ml"],
        "non_target_deposits": nt["non_target_deposits"],
        "registration": registration,
        "lipiodol": {k: v for k, v in seg.stats.items() if k != "warnings"},
        "liver_volume_ml": round(float(liver_mask.sum() * post_ct.voxel_volume_ml), 2),
        "summary": _summary(records, nt),
        "definitions": {
            "lipiodol_coverage_percent": "percentage of the tumour's voxels (at least half inside it) holding lipiodol",
            "rim_coverage_fraction": f"area fraction of the tumour surface with lipiodol within "
            f"{K.RIM_DISTANCE_MM:g} mm (sub-voxel surface of workstation.ablation)",
            "largest_gap_ml": "largest 26-connected uncovered part of the tumour; peripheral when it reaches "
            "the tumour surface",
            "non_target_ml": nt["definition"],
            "class": "lipiodol retention pattern (Cancer Imaging 16, 2016): complete > 90 % without peripheral "
            "defect (rim coverage >= 0.9), moderate 50-90 %, poor < 50 %",
        },
        "constants": K.constants_block(),
        "warnings": warnings,
    }
    progress(0.9, "done")
    return TaceAnalysis(results, post_ct, seg, tumors_post, fractions, liver_vol, transform)


def _summary(records: list[dict[str, Any]], nt: dict[str, Any]) -> list[str]:
    lines = []
    for r in records:
        gap = (f"; largest gap {r['largest_gap_ml']:.2f} mL ({'peripheral' if r['largest_gap_peripheral'] else 'central'})"
               if r["largest_gap_ml"] else "")
        rim = "–" if r["rim_coverage_fraction"] is None else f"{100 * r['rim_coverage_fraction']:.0f} %"
        lines.append(f"Tumour {r['label']} ({r['volume_ml']:.1f} mL): {r['lipiodol_coverage_percent']:.0f} % covered, "
                     f"rim {rim}, {r['class']}{gap}.")
    lines.append(f"Non-target deposition {nt['non_target_ml']:.2f} mL in {nt['non_target_deposit_count']} "
                 f"deposit(s); peritumoural {nt['peritumoral_ml']:.2f} mL.")
    return lines


#: Renders the TACE report: ``(analysis, title) -> (html, pdf bytes or None)``. The
#: report package provides one (:func:`workstation.report.tace.render_tace_report`);
#: the command line passes it in, so the measurement never imports the presentation layer.
ReportRenderer = Callable[[TaceAnalysis, str], tuple[str, bytes | None]]


def _summary_html(results: dict[str, Any], note: str) -> str:
    """The minimal report: the summary lines of results.json and why there is no full report."""
    import html

    rows = "".join(f"<li>{html.escape(line)}</li>" for line in results.get("summary", []))
    return summary_page("Lipiodol coverage after TACE", f"<ul>{rows}</ul><p>{html.escape(note)}</p>")


def run_tace(
    post_ct: str | os.PathLike[str],
    tumor: str,
    liver: str,
    out_dir: str | os.PathLike[str],
    pre_ct: str | os.PathLike[str] | None = None,
    post_series: str | None = None,
    pre_series: str | None = None,
    registration_mode: str = "deformable",
    inverse_consistency: bool = False,
    min_contrast_hu: float | None = None,
    transform: str | os.PathLike[str] | None = None,
    report_renderer: ReportRenderer | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Read the inputs, run :func:`analyse_tace`, write the outputs into ``out_dir`` atomically.

    Outputs: ``results.json``, ``lipiodol.nii.gz`` (label 1), ``lipiodol_density_hu.nii.gz``
    (HU above the liver), ``lipiodol_excluded.nii.gz`` (rejected hyperdensities),
    ``tumor_on_post_ct.nii.gz`` (labels), ``lipiodol_seg.dcm`` (DICOM SEG of the deposits,
    when the post-TACE CT is DICOM), ``registration/`` (with a pre-TACE CT) and
    ``report.html`` / ``report.pdf``.
    """
    from workstation.io import (
        atomic_directory,
        ensure_not_input,
        read_image,
        read_mask,
        write_image,
        write_seg,
    )

    out = Path(out_dir)
    ensure_not_input(out, post_ct, pre_ct, tumor.split("#")[0], liver.split("#")[0], transform)
    if registration_mode not in ("rigid", "affine", "deformable"):
        raise InvalidInputError(
            f"--registration-mode must be rigid, affine or deformable, not {registration_mode!r}."
        )
    progress(0.01, "reading images")
    post = read_image(post_ct, series=post_series)
    pre = read_image(pre_ct, series=pre_series) if pre_ct is not None else None
    tumor_vol = read_mask(tumor, reference=pre if pre is not None else post)
    tumor_vol.metadata.source_path = str(tumor)
    liver_vol = read_mask(liver, reference=post)
    liver_vol.metadata.source_path = str(liver)
    tx = None
    if transform is not None:
        from workstation.registration import read_transform

        tx = read_transform(transform)
    analysis = analyse_tace(post, tumor_vol, liver_vol, pre, cast(RegistrationMode, registration_mode),
                            inverse_consistency=inverse_consistency, min_contrast_hu=min_contrast_hu,
                            transform=tx, progress=progress)
    results = analysis.results
    results["inputs"] = {"post_ct": str(post_ct), "pre_ct": None if pre_ct is None else str(pre_ct),
                         "tumor": str(tumor), "liver": str(liver)}
    render = None if report_renderer is None else (lambda: report_renderer(analysis, "Lipiodol coverage after TACE"))
    html, pdf, note = report_or_summary(render, lambda why: _summary_html(results, why))
    assert html is not None
    results["report"] = note
    progress(0.95, "writing")
    with atomic_directory(out) as tmp:
        write_image(analysis.segmentation.mask, tmp / "lipiodol.nii.gz")
        write_image(analysis.segmentation.density_hu, tmp / "lipiodol_density_hu.nii.gz")
        write_image(analysis.segmentation.excluded, tmp / "lipiodol_excluded.nii.gz")
        write_image(analysis.tumors, tmp / "tumor_on_post_ct.nii.gz")
        if post.metadata.dicom_headers and np.any(analysis.segmentation.mask.array):
            write_seg(analysis.segmentation.mask, tmp / "lipiodol_seg.dcm", post,
                      series_description="Lipiodol deposition (workstation tace)", algorithm_type="AUTOMATIC")
            results["seg"] = "lipiodol_seg.dcm"
        if analysis.transform is not None and transform is None:
            import SimpleITK as sitk

            (tmp / "registration").mkdir()
            tx = analysis.transform
            if tx.GetName() == "CompositeTransform":
                tx = sitk.CompositeTransform(tx)
                tx.FlattenTransform()
            try:
                sitk.WriteTransform(tx, str(tmp / "registration" / "transform.tfm"))
            except RuntimeError:
                results["warnings"].append("The registration transform could not be written as transform.tfm.")
            (tmp / "registration" / "registration.json").write_text(
                json.dumps(results["registration"], indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "report.html").write_text(html, encoding="utf-8")
        if pdf is not None:
            (tmp / "report.pdf").write_bytes(pdf)
    progress(1.0, "done")
    return results
