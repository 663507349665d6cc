"""SIRT results as DICOM objects a PACS shows, in the patient's study.

Beside ``rtdose_<method>.dcm`` (written by :func:`.pipeline.write_outputs`):

* ``seg_<roi>.dcm``: each ROI given by the user as a DICOM SEG (a multi-label
  lesion ROI keeps one segment per lesion, named ``<roi>_<label>`` as in
  results.json), on the CT when it was read from DICOM, else on the activity image;
* ``rois_rtstruct.dcm``: all ROIs as one RT Structure Set for planning systems
  (overlapping ROIs are fine there);
* ``measurements_sr.dcm``: a TID 1500 measurement report with, per dose method
  and ROI, volume, mass, mean/min/max absorbed dose, D_x and V_X; a group whose
  ROI is a segment of a ``seg_*.dcm`` references it (TID 1411), the derived ROIs
  (``normal_liver``, the union of several lesions) reference the activity images
  (TID 1501);
* ``report_pdf.dcm``: the PDF report as Encapsulated PDF.

D_x, V_X and the method use private codes (:data:`workstation.io.sr.LOCAL_SCHEME`)
with meanings that define them; volume, mass, mean, minimum, maximum and
absorbed dose are SNOMED CT and DCM codes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import WorkstationError
from workstation.core.volume import Unit, Volume

__all__ = ["METHOD_CODES", "sirt_measurement_groups", "write_sirt_dicom"]


def _method_codes() -> dict[str, Any]:
    from workstation.io.sr import local_code

    return {
        "ldm": local_code("LDM", "Local deposition method"),
        "vsv": local_code("VSV", "Voxel S-value convolution"),
        "vsv-density": local_code("VSVD", "Density-corrected voxel S-value convolution"),
    }


#: Dose method (results.json key) → measurement method code.
METHOD_CODES = _method_codes()


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] or "roi"


def _finding_site(name: str) -> Any | None:
    from pydicom.sr.codedict import codes

    from workstation.io.seg import segment_codes

    category, kind = segment_codes(name)
    return kind if category == codes.SCT.AnatomicalStructure else None


def sirt_measurement_groups(
    results: dict[str, Any], segments: dict[str, tuple[Any, int]] | None = None
) -> list[Any]:
    """TID 1500 measurement groups from a sirt ``results.json`` dictionary.

    Parameters
    ----------
    results:
        The ``results`` of :func:`.pipeline.run_sirt`.
    segments:
        ROI name → ``(SEG dataset, segment number)`` of the ROIs written as SEG.
    """
    from pydicom.sr.codedict import codes

    from workstation.io.sr import SrGroup, SrMeasurement, local_code, ucum

    segments = segments or {}
    gy, ml, g, percent = ucum("Gy"), ucum("ml", "milliliter"), ucum("g", "gram"), ucum("%", "percent")
    dose = codes.DCM.AbsorbedDose
    groups = []
    for method, block in results.get("methods", {}).items():
        for name, met in block.get("rois", {}).items():
            ms = [
                SrMeasurement(codes.SCT.Volume, met["volume_ml"], ml),
                SrMeasurement(dose, met["mean_gy"], gy, codes.SCT.Mean),
                SrMeasurement(dose, met["min_gy"], gy, codes.SCT.Minimum),
                SrMeasurement(dose, met["max_gy"], gy, codes.SCT.Maximum),
            ]
            if met.get("mass_g") is not None:
                ms.insert(1, SrMeasurement(codes.SCT.Mass, met["mass_g"], g))
            for key in sorted((k for k in met if re.fullmatch(r"d\d+_gy", k)), key=lambda k: int(k[1:-3])):
                x = key[1:-3]
                concept = local_code(f"D{x}", f"Minimum absorbed dose to the hottest {x} % of the volume")
                ms.append(SrMeasurement(concept, met[key], gy))
            for level, value in sorted(met.get("v_gy_percent", {}).items(), key=lambda kv: float(kv[0])):
                concept = local_code(f"V{level}Gy", f"Percent of the volume receiving at least {level} Gy")
                ms.append(SrMeasurement(concept, value, percent))
            groups.append(
                SrGroup(
                    name=name,
                    measurements=ms,
                    method=METHOD_CODES.get(method),
                    finding_site=_finding_site(name),
                    segment=segments.get(name),
                )
            )
    return groups


def _given_rois(rois: dict[str, Volume]) -> dict[str, Volume]:
    """The ROIs as given (a split lesion ``NAME_<v>`` is a segment of ``NAME``, not its own file)."""
    given = {}
    for name, vol in rois.items():
        parent, _, suffix = name.rpartition("_")
        if suffix.isdigit() and parent in rois:
            continue
        given[name] = vol
    return given


def write_sirt_dicom(
    result: Any,
    folder: Path,
    pdf_bytes: bytes | None,
    rtdose_files: list[Path],
) -> tuple[list[Path], list[str]]:
    """Write the SEG, RTSTRUCT, SR and Encapsulated PDF of a sirt result into ``folder``.

    Returns
    -------
    tuple
        ``(written files, notes)``; a DICOM object that cannot be built (e.g. a
        reference series without frame of reference) is left out with a note,
        the rest of the outputs are not affected.
    """
    import pydicom

    from workstation.io.pdf_dicom import write_encapsulated_pdf
    from workstation.io.rtstruct_writer import write_rtstruct
    from workstation.io.seg import write_seg
    from workstation.io.sr import write_measurement_report

    activity: Volume = result.activity
    ct: Volume | None = result.ct
    if not activity.metadata.dicom_headers:
        return [], ["no DICOM objects: the activity image was not read from DICOM"]
    grid_ref = ct if ct is not None and ct.metadata.dicom_headers else activity
    written: list[Path] = []
    notes: list[str] = []
    segments: dict[str, tuple[Any, int]] = {}
    seg_headers = []
    given = _given_rois(result.rois)
    for name, mask in given.items():
        values = [int(v) for v in np.unique(mask.array) if v != 0]
        if not values:
            continue
        if len(values) == 1:
            labels = mask.copy_with(array=(mask.array != 0).astype(np.uint8), units=Unit.LABEL,
                                    label_names={1: name})
        else:
            labels = mask.copy_with(array=mask.array.astype(np.int64), units=Unit.LABEL,
                                    label_names={v: f"{name}_{v}" for v in values})
        path = folder / f"seg_{_file_part(name)}.dcm"
        try:
            write_seg(labels, path, grid_ref, series_description=f"ROI {name} (workstation)")
        except WorkstationError as exc:
            notes.append(f"seg_{_file_part(name)}.dcm not written: {exc}")
            continue
        seg = pydicom.dcmread(path, stop_before_pixels=True)
        seg_headers.append(seg)
        written.append(path)
        if len(values) == 1:
            segments[name] = (seg, 1)
        else:
            for number, value in enumerate(values, start=1):
                segments[f"{name}_{value}"] = (seg, number)
    if given:
        try:
            written.append(write_rtstruct(given, folder / "rois_rtstruct.dcm", grid_ref,
                                          series_description="SIRT ROIs (workstation)"))
        except WorkstationError as exc:
            notes.append(f"rois_rtstruct.dcm not written: {exc}")
    groups = sirt_measurement_groups(result.results, segments)
    dose_headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in rtdose_files]
    if groups:
        try:
            written.append(write_measurement_report(
                groups, folder / "measurements_sr.dcm", activity, evidence=[*seg_headers, *dose_headers],
                series_description="SIRT dose metrics (workstation)",
            ))
        except WorkstationError as exc:
            notes.append(f"measurements_sr.dcm not written: {exc}")
    if pdf_bytes is not None:
        try:
            written.append(write_encapsulated_pdf(pdf_bytes, folder / "report_pdf.dcm", activity,
                                                  title="SIRT dosimetry report"))
        except WorkstationError as exc:
            notes.append(f"report_pdf.dcm not written: {exc}")
    return written, notes
