"""Ablation margins as DICOM objects in the post-ablation CT's study.

When the post-ablation CT was read from DICOM, ``margin`` also writes

* ``seg_tumor.dcm`` (one segment per tumour label; a fractional mask carried
  by the registration is inside where at least half a voxel) and
  ``seg_ablation.dcm``, on the post-CT;
* ``margins_sr.dcm``: a TID 1500 report, one group per tumour referencing its
  segment, with volume, minimal margin, margin percentiles, the surface
  fractions by margin band and the insufficiently covered volumes;
* ``report_pdf.dcm``: the PDF report as Encapsulated PDF.

The margin quantities use private codes (:data:`workstation.io.sr.LOCAL_SCHEME`)
whose meanings define them (signed distance from the tumour surface to the
ablation-zone surface, positive inside the zone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import WorkstationError
from workstation.core.volume import Unit, Volume

__all__ = ["margin_measurement_groups", "write_margin_dicom"]

_BANDS = {
    "below_0mm": "Percent of the tumour surface with a margin below 0 mm",
    "0_to_5mm": "Percent of the tumour surface with a margin from 0 to 5 mm",
    "5_to_10mm": "Percent of the tumour surface with a margin from 5 to 10 mm",
    "at_least_10mm": "Percent of the tumour surface with a margin of at least 10 mm",
}


def margin_measurement_groups(
    results: dict[str, Any], segments: dict[int, tuple[Any, int]] | None = None
) -> list[Any]:
    """TID 1500 groups from a ``margin`` results.json dictionary (one per tumour).

    Parameters
    ----------
    segments:
        Tumour label → ``(SEG dataset, segment number)``.
    """
    from pydicom.sr.codedict import codes

    from workstation.io.sr import SrGroup, SrMeasurement, local_code, ucum

    segments = segments or {}
    mm, ml, percent = ucum("mm", "millimeter"), ucum("ml", "milliliter"), ucum("%", "percent")
    margin = local_code("ABLMARGIN", "Ablative margin (signed, positive inside the ablation zone)")
    groups = []
    for tumour in results.get("tumors", []):
        label = int(tumour["label"])
        ms = []
        if tumour.get("volume_ml") is not None:
            ms.append(SrMeasurement(codes.SCT.Volume, tumour["volume_ml"], ml))
        if tumour.get("minimal_margin_mm") is not None:
            ms.append(SrMeasurement(margin, tumour["minimal_margin_mm"], mm, codes.SCT.Minimum))
        for p, value in (tumour.get("margin_percentiles_mm") or {}).items():
            if value is not None:
                ms.append(SrMeasurement(local_code(f"ABLMARGIN_P{p}", f"Ablative margin, {p}th percentile over the tumour surface"),
                                        value, mm))
        for band, meaning in _BANDS.items():
            value = (tumour.get("surface_fraction") or {}).get(band)
            if value is not None:
                ms.append(SrMeasurement(local_code(f"SURF_{band.upper()}", meaning), 100.0 * value, percent))
        for level, value in (tumour.get("insufficient_coverage_ml") or {}).items():
            if value is not None:
                ms.append(SrMeasurement(
                    local_code(f"UNCOV_{level}MM", f"Tumour volume not covered with a {level} mm margin"), value, ml))
        groups.append(SrGroup(name=f"tumour {label}", measurements=ms, segment=segments.get(label)))
    return groups


def write_margin_dicom(
    results: dict[str, Any],
    post_ct: Volume,
    tumor: Volume,
    ablation: Volume,
    folder: Path,
    pdf_bytes: bytes | None,
) -> tuple[list[Path], list[str]]:
    """Write the SEGs, the SR and the Encapsulated PDF of a margin analysis into ``folder``.

    Returns
    -------
    tuple
        ``(written files, notes)``; an object that cannot be built is left out with a note.
    """
    import pydicom

    from workstation.io.pdf_dicom import write_encapsulated_pdf
    from workstation.io.seg import write_seg
    from workstation.io.sr import write_measurement_report

    if not post_ct.metadata.dicom_headers:
        return [], ["no DICOM objects: the post-ablation CT was not read from DICOM"]
    written: list[Path] = []
    notes: list[str] = []
    segments: dict[int, tuple[Any, int]] = {}
    evidence = []
    tumour_values = np.asarray(tumor.array)
    if tumour_values.dtype.kind == "f" and tumour_values.max(initial=0) <= 1.0:
        tumour_labels = (tumour_values >= 0.5).astype(np.uint8)  # fractional: inside from half a voxel
    else:
        tumour_labels = np.rint(tumour_values).astype(np.int64)
    labels = [int(v) for v in np.unique(tumour_labels) if v != 0]
    for name, vol, names in (
        ("tumor", tumor.copy_with(array=tumour_labels, units=Unit.LABEL), {v: f"tumour {v}" for v in labels}),
        ("ablation", ablation.copy_with(array=(np.asarray(ablation.array) >= 0.5).astype(np.uint8),
                                        units=Unit.LABEL), {1: "ablation zone"}),
    ):
        path = folder / f"seg_{name}.dcm"
        try:
            write_seg(vol.copy_with(label_names=names), path, post_ct, series_description=f"{names.get(1, name)} (workstation)")
        except WorkstationError as exc:
            notes.append(f"{path.name} not written: {exc}")
            continue
        seg = pydicom.dcmread(path, stop_before_pixels=True)
        evidence.append(seg)
        written.append(path)
        if name == "tumor":
            segments = {v: (seg, k) for k, v in enumerate(labels, start=1)}
    groups = margin_measurement_groups(results, segments)
    if any(g.measurements for g in groups):
        try:
            written.append(write_measurement_report(groups, folder / "margins_sr.dcm", post_ct, evidence=evidence,
                                                    series_description="Ablation margins (workstation)"))
        except WorkstationError as exc:
            notes.append(f"margins_sr.dcm not written: {exc}")
    if pdf_bytes is not None:
        try:
            written.append(write_encapsulated_pdf(pdf_bytes, folder / "report_pdf.dcm", post_ct,
                                                  title="Ablation margin report"))
        except WorkstationError as exc:
            notes.append(f"report_pdf.dcm not written: {exc}")
    return written, notes
