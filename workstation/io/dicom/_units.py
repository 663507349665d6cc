"""The units of a DICOM image's values, from its header: HU, Bq/mL, counts, Gy (read and indexed alike)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from workstation.core.errors import DicomError
from workstation.core.volume import Unit
from workstation.io.dicom._headers import number
from workstation.io.dicom._pet import pet_units

__all__ = ["real_world_value_mapping", "units_of"]


def units_of(ds: Dataset, warnings: list[str]) -> Unit:
    """Units of the rescaled (or real-world mapped) values of a file."""
    modality = str(ds.get("Modality", "") or "").upper()
    try:
        mapping = real_world_value_mapping(ds) if modality == "NM" else None
    except DicomError:
        mapping = None  # reported when the volume is read
    if mapping is not None:
        return mapping[2]
    if modality == "CT":
        rescale_type = str(ds.get("RescaleType", "") or "").upper()
        return Unit.HU if rescale_type in ("", "HU") else Unit.UNKNOWN
    if modality == "PT":
        return pet_units(ds, warnings)
    if modality == "NM":
        raw = str(ds.get("Units", "") or "").strip().upper()
        if raw == "BQML":
            return Unit.BQML
        return Unit.COUNTS
    if modality == "RTDOSE":
        return Unit.GY if str(ds.get("DoseUnits", "")).upper() == "GY" else Unit.UNKNOWN
    return Unit.UNKNOWN


def real_world_value_mapping(ds: Dataset) -> tuple[float, float, Unit, str] | None:
    """(slope, intercept, unit, unit code) of the Real World Value Mapping, preferring Bq/mL."""
    seq = ds.get("RealWorldValueMappingSequence")
    if not seq:
        return None
    best = None
    for item in seq:
        raw_slope = item.get("RealWorldValueSlope")
        if raw_slope is None:
            continue  # LUT-based mappings are not supported; fall back to rescale
        slope = number(raw_slope)
        raw_intercept = item.get("RealWorldValueIntercept")
        intercept = number(raw_intercept, 0.0) if raw_intercept not in (None, "") else 0.0
        if slope is None or slope == 0 or intercept is None:
            raise DicomError(
                f"RealWorldValueSlope/Intercept are {str(raw_slope)[:20]!r}/{str(raw_intercept)[:20]!r}, "
                "not finite numbers with a non-zero slope; the values cannot be mapped to their units."
            )
        codes = item.get("MeasurementUnitsCodeSequence")
        code = str(codes[0].get("CodeValue", "")) if codes else ""
        unit = Unit.parse(code)
        if unit == Unit.UNKNOWN and code.strip("{}").lower() in ("counts", "cnts", "count"):
            unit = Unit.COUNTS
        candidate = (slope, intercept, unit, code)
        if best is None or (unit == Unit.BQML and best[2] != Unit.BQML):
            best = candidate
    return best
