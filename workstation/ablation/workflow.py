"""The ``margin`` and ``plan-ablation`` workflows: read inputs, compute, write outputs atomically.

The command line calls these; they are also usable from Python and by the demo.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from workstation.ablation._report import margin_report_html
from workstation.ablation.applicators import DeviceTable, evaluate_plan, parse_applicator
from workstation.ablation.margins import MarginAnalysis, analyse_margins, mask_kind
from workstation.core.outputs import report_or_summary
from workstation.core.progress import Progress, no_progress, scaled
from workstation.core.volume import Volume

__all__ = ["read_margin_mask", "run_margin", "run_plan"]


def read_margin_mask(spec: str | os.PathLike[str], reference: Volume | None = None) -> Volume:
    """Read a ``MASK``, keeping the fractional values of NIfTI/NRRD/MHA masks.

    A plain image file (no ``#Segment``) is read as it is, on its own grid, so
    partial-volume masks keep their fractions and label images their labels;
    every other ``MASK`` (SEG, RTSTRUCT, Slicer segments, DICOM) goes through
    :func:`workstation.io.read_mask`, with ``reference`` as the grid for RTSTRUCT.
    """
    from workstation.io import read_image, read_mask
    from workstation.io.formats import is_sitk_format
    from workstation.io.masks import split_mask_spec

    path, name = split_mask_spec(spec)
    if name is None and is_sitk_format(path) and not str(path).lower().endswith(".seg.nrrd"):
        vol = read_image(path)
    else:
        vol = read_mask(spec, reference=reference)
    vol.metadata.source_path = str(spec)
    return vol


def _write_transform(transform: Any, path: Path) -> str | None:
    """Write an ITK transform (nested composites flattened); a warning instead of a failure."""
    import SimpleITK as sitk

    tx = transform
    if tx.GetName() == "CompositeTransform":
        tx = sitk.CompositeTransform(tx)
        tx.FlattenTransform()
    try:
        sitk.WriteTransform(tx, str(path))
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        return f"The registration transform could not be written as {path.name} ({last})."
    return None


def _write_outputs(
    out_dir: Path,
    analysis: MarginAnalysis,
    extra_images: dict[str, Volume],
    title: str,
    transform: Any | None = None,
    display: dict[str, Any] | None = None,
    report_renderer: ReportRenderer | None = None,
    dicom_results: bool = False,
) -> None:
    from workstation.io import atomic_directory, write_image

    html, pdf, note = _report_files(analysis, title, display or {}, report_renderer)
    analysis.results["report"] = note
    with atomic_directory(out_dir) as tmp:
        shown = display or {}
        ct, tumor, ablation = shown.get("ct"), shown.get("tumor"), shown.get("ablation")
        if (dicom_results and ct is not None and tumor is not None and ablation is not None
                and ct.metadata.dicom_headers):
            from workstation.ablation.dicom_export import write_margin_dicom

            # SEG, SR (TID 1500) and Encapsulated PDF in the post-ablation CT's study
            _files, analysis.results["dicom_notes"] = write_margin_dicom(
                analysis.results, ct, tumor, ablation, tmp, pdf
            )
        if transform is not None:
            (tmp / "registration").mkdir()
            warning = _write_transform(transform, tmp / "registration" / "transform.tfm")
            if warning:
                analysis.results["warnings"].append(warning)
            (tmp / "registration" / "registration.json").write_text(
                json.dumps(analysis.results["registration"], indent=2, allow_nan=False) + "\n",
                encoding="utf-8",
            )
        (tmp / "results.json").write_text(
            json.dumps(analysis.results, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        write_image(analysis.margin_map, tmp / "margin_map.nii.gz")
        for name, vol in extra_images.items():
            write_image(vol, tmp / name)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        if pdf is not None:
            (tmp / "report.pdf").write_bytes(pdf)


#: Renders the margin report: ``(analysis, title, display) -> (html, pdf bytes or None)``;
#: ``display`` holds the CT, tumour and ablation volumes for the slices and, after a
#: registration, the pre-ablation CT (``pre_ct``) and the transform (``transform``). The report
#: package provides one (:func:`workstation.report.margin.render_margin_report`); the
#: command line passes it in, so the measurement never imports the presentation layer.
ReportRenderer = Callable[[MarginAnalysis, str, dict[str, Any]], tuple[str, bytes | None]]


def _report_files(
    analysis: MarginAnalysis, title: str, display: dict[str, Any],
    renderer: ReportRenderer | None,
) -> tuple[str, bytes | None, str]:
    """The rendered report, or the minimal table (the reason noted) without a renderer or on failure."""
    render = None if renderer is None else (lambda: renderer(analysis, title, display))
    html, pdf, note = report_or_summary(render, lambda why: margin_report_html(analysis.results, title, why))
    assert html is not None
    return html, pdf, note


def run_margin(
    tumor_spec: str,
    ablation_spec: str,
    out_dir: str | os.PathLike[str],
    liver_spec: str | None = None,
    pre_ct: str | None = None,
    post_ct: str | None = None,
    pre_series: str | None = None,
    post_series: str | None = None,
    subcapsular_mm: float = 5.0,
    progress: Progress = no_progress,
    registration_mode: str = "deformable",
    inverse_consistency: bool = True,
    report_renderer: ReportRenderer | None = None,
    dicom_results: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Margins of an ablation zone around tumour(s); writes results.json, margin_map, report.

    With ``dicom_results`` and a DICOM post-ablation CT, also the tumour and
    ablation masks as DICOM SEG, the margins as a DICOM SR (TID 1500) and the
    report as Encapsulated PDF, in the post-CT's study.

    With ``pre_ct`` and ``post_ct`` the tumour mask (drawn on the pre-ablation
    CT) is carried to the post-ablation CT by a deformable registration that
    keeps the tumour rigid and excludes the ablation zone from the metric (the
    metric region is the rest of the post-CT); the liver and ablation masks are
    taken to be on the post-ablation CT.
    """
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image

    if registration_mode not in ("rigid", "affine", "deformable"):
        raise InvalidInputError(
            f"--registration-mode must be rigid, affine or deformable, not {registration_mode!r}."
        )
    if (pre_ct is None) != (post_ct is None):
        raise InvalidInputError("--pre-ct and --post-ct must be given together.")
    out = Path(out_dir)
    ensure_not_input(out, tumor_spec, ablation_spec, liver_spec, pre_ct, post_ct)
    progress(0.02, "reading masks")
    pre = read_image(pre_ct, series=pre_series) if pre_ct else None
    post = read_image(post_ct, series=post_series) if post_ct else None
    tumor = read_margin_mask(tumor_spec, reference=pre)
    ablation = read_margin_mask(ablation_spec, reference=post)
    liver = read_margin_mask(liver_spec, reference=post) if liver_spec else None
    registration = None
    extra: dict[str, Volume] = {}
    if pre is not None and post is not None:
        from workstation.registration import register, transform_volume

        kind = mask_kind(tumor, "tumor", allow_labels=True)
        if not np.any(tumor.array != 0):
            from workstation.core.errors import EmptyMaskError

            raise EmptyMaskError(f"The tumor mask {tumor_spec} is empty (no voxel inside).")
        # No fixed mask: on the sample pair, restricting the metric to the liver made the
        # tumour's registration worse (error at the tumour 1.1 mm with the liver mask,
        # 3.3 mm with the liver dilated by 15 mm, 0.6 mm with the whole post-CT).
        tumor_bin = tumor.copy_with(array=(tumor.array != 0).astype(np.uint8))
        result = register(
            fixed=post, moving=pre,
            mode=cast(Literal["rigid", "affine", "deformable"], registration_mode), fixed_mask=None,
            exclude=[ablation], rigid_masks=[tumor_bin] if registration_mode == "deformable" else None,
            inverse_consistency=inverse_consistency,
            progress=scaled(progress, 0.05, 0.65),
        )
        registration = result.report
        interp: Literal["nearest", "partial"] = "nearest" if kind == "label" else "partial"
        progress(0.66, "carrying the tumour to the post-ablation CT")
        moved = transform_volume(tumor, post, result.transform, interpolation=interp)
        moved.metadata.source_path = f"{tumor_spec} (registered to {post_ct})"
        tumor = moved
        extra["tumor_on_post_ct.nii.gz"] = moved
        transform = result.transform
    else:
        transform = None
    progress(0.7, "measuring margins")
    analysis = analyse_margins(
        tumor, ablation, liver, subcapsular_mm, registration=registration, **options
    )
    analysis.results["inputs"] = {
        "tumor": str(tumor_spec), "ablation": str(ablation_spec), "liver": liver_spec,
        "pre_ct": pre_ct, "post_ct": post_ct,
    }
    progress(0.95, "writing")
    _write_outputs(out, analysis, extra, "Ablation margins", transform,
                   display={"ct": post, "tumor": tumor, "ablation": ablation, "pre_ct": pre,
                            "transform": transform},
                   report_renderer=report_renderer, dicom_results=dicom_results)
    return analysis.results


def run_plan(
    tumor_spec: str,
    device_table_path: str | os.PathLike[str],
    applicator_specs: list[str],
    out_dir: str | os.PathLike[str],
    liver_spec: str | None = None,
    subcapsular_mm: float = 5.0,
    progress: Progress = no_progress,
    report_renderer: ReportRenderer | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Predicted zone of planned applicators and its margins around the tumour(s)."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input

    if not applicator_specs:
        raise InvalidInputError("Give at least one --applicator X,Y,Z,DX,DY,DZ,POWER_W,TIME_S.")
    out = Path(out_dir)
    ensure_not_input(out, tumor_spec, str(device_table_path), liver_spec)
    table = DeviceTable.from_csv(device_table_path)
    applicators = [
        parse_applicator(text, table, name=f"applicator {i + 1}")
        for i, text in enumerate(applicator_specs)
    ]
    progress(0.05, "reading masks")
    tumor = read_margin_mask(tumor_spec)
    liver = read_margin_mask(liver_spec) if liver_spec else None
    progress(0.2, "predicting the zone and measuring margins")
    analysis, zone = evaluate_plan(tumor, applicators, liver, subcapsular_mm, device_table=table, **options)
    analysis.results["inputs"] = {"tumor": str(tumor_spec), "liver": liver_spec,
                                  "device_table": str(device_table_path)}
    progress(0.95, "writing")
    _write_outputs(out, analysis, {"predicted_zone.nii.gz": zone}, "Ablation plan",
                   display={"ct": None, "tumor": tumor, "ablation": zone}, report_renderer=report_renderer)
    return analysis.results
