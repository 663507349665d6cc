"""Units, decay-correction reference and radiopharmaceutical from PET/NM headers."""

from __future__ import annotations

import datetime as _dt
import re

from pydicom.dataset import Dataset

from workstation.core.volume import Radiopharmaceutical, Unit
from workstation.io.dicom._headers import number, parse_da_tm, parse_dt

#: Element names (as they appear in RadionuclideCodeSequence code meanings such
#: as "^90^Yttrium", DICOM PS3.16 CID 4020) → chemical symbols.
_ELEMENTS = {
    "yttrium": "Y",
    "technetium": "Tc",
    "fluorine": "F",
    "gallium": "Ga",
    "indium": "In",
    "iodine": "I",
    "lutetium": "Lu",
    "holmium": "Ho",
    "rubidium": "Rb",
    "carbon": "C",
    "nitrogen": "N",
    "oxygen": "O",
    "copper": "Cu",
    "zirconium": "Zr",
    "thallium": "Tl",
    "rhenium": "Re",
    "samarium": "Sm",
    "radium": "Ra",
    "strontium": "Sr",
    "xenon": "Xe",
    "cobalt": "Co",
    "terbium": "Tb",
    "actinium": "Ac",
    "bismuth": "Bi",
    "lead": "Pb",
    "scandium": "Sc",
}
_SYMBOLS = {symbol.lower(): symbol for symbol in _ELEMENTS.values()}


def nuclide_name(text: str | None) -> str | None:
    """Normalise a nuclide description to the project's notation (``"Y-90"``, ``"Tc-99m"``).

    Accepts DICOM code meanings (``"^99m^Technetium"``), ``"Yttrium-90"``,
    ``"Y90"``, ``"90Y"``, ``"F-18"``; returns ``None`` when not recognised.
    """
    if not text:
        return None
    t = text.strip()
    m = re.fullmatch(r"\^?(\d{1,3})(m?)\^?\s*([A-Za-z]+)", t)  # ^99m^Technetium, 90Y
    if m:
        mass, meta, elem = m.groups()
    else:
        m = re.fullmatch(r"([A-Za-z]+)\s*-?\s*(\d{1,3})\s*(m?)", t)  # Yttrium-90, Y90, Tc-99m
        if not m:
            return None
        elem, mass, meta = m.groups()
    low = elem.lower()
    symbol = _ELEMENTS.get(low) or _SYMBOLS.get(low)
    if symbol is None:
        return None
    return f"{symbol}-{int(mass)}{meta.lower()}"


def radiopharmaceutical_from(ds: Dataset, warnings: list[str]) -> Radiopharmaceutical | None:
    """Read RadiopharmaceuticalInformationSequence[0] (PET and NM headers).

    The injection time is RadiopharmaceuticalStartDateTime, else
    RadiopharmaceuticalStartTime on SeriesDate (one day earlier when that
    would put the injection after the series start, with a warning).
    """
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        return None
    item = seq[0]
    nuclide = None
    codes = item.get("RadionuclideCodeSequence")
    if codes:
        nuclide = nuclide_name(str(codes[0].get("CodeMeaning", "") or ""))
    name = str(item.get("Radiopharmaceutical", "") or "") or None
    if nuclide is None:
        nuclide = nuclide_name(str(item.get("Radionuclide", "") or ""))
    injection = parse_dt(item.get("RadiopharmaceuticalStartDateTime"))
    if injection is None and item.get("RadiopharmaceuticalStartTime"):
        injection = parse_da_tm(ds.get("SeriesDate") or ds.get("StudyDate"),
                                item.get("RadiopharmaceuticalStartTime"))
        series_start = series_datetime(ds)
        if injection is not None and series_start is not None and injection > series_start:
            injection -= _dt.timedelta(days=1)
            warnings.append(
                "RadiopharmaceuticalStartTime is later than the series time on the same day; "
                "the injection was taken to be on the previous day."
            )
    total = number(item.get("RadionuclideTotalDose"))
    # RadionuclideTotalDose is in MBq in the NM Isotope module (PS3.3 C.8.4.10) but in Bq in
    # the PET Isotope module (PS3.3 C.8.9.2)
    if total is not None and str(ds.get("Modality", "")).upper() == "NM":
        total *= 1e6
    return Radiopharmaceutical(
        nuclide=nuclide,
        administered_activity_bq=total,
        injection_datetime=injection,
        half_life_s=number(item.get("RadionuclideHalfLife")),
        name=name,
    )


def series_datetime(ds: Dataset) -> _dt.datetime | None:
    """SeriesDate/SeriesTime, else AcquisitionDateTime/AcquisitionDate+Time, else StudyDate/Time."""
    for date_kw, time_kw in (
        ("SeriesDate", "SeriesTime"),
        ("AcquisitionDate", "AcquisitionTime"),
        ("StudyDate", "StudyTime"),
    ):
        value = parse_da_tm(ds.get(date_kw), ds.get(time_kw))
        if value is not None and ds.get(time_kw):
            return value
    return parse_dt(ds.get("AcquisitionDateTime"))


def acquisition_datetime(ds: Dataset) -> _dt.datetime | None:
    """AcquisitionDateTime, else AcquisitionDate/Time, else the series date-time."""
    return (
        parse_dt(ds.get("AcquisitionDateTime"))
        or parse_da_tm(ds.get("AcquisitionDate") or ds.get("SeriesDate"), ds.get("AcquisitionTime"))
        or series_datetime(ds)
    )


#: Private creator of the Philips PET group and the element offset of its
#: Activity Concentration Scale Factor (7053,xx09): rescaled CNTS values times
#: this factor are Bq/mL. Source: Philips Vereos PET/CT DICOM Conformance
#: Statement ("Philips PET Private Group"); the same element is used by the
#: QIBA vendor-neutral SUV pseudo-code for Units CNTS.
PHILIPS_PET_CREATOR = "Philips PET Private Group"
PHILIPS_ACTIVITY_SCALE_OFFSET = 0x09


def philips_activity_scale(ds: Dataset) -> float | None:
    """Philips' Activity Concentration Scale Factor (Bq/mL per rescaled count), when usable."""
    try:
        block = ds.private_block(0x7053, PHILIPS_PET_CREATOR)
        element = block[PHILIPS_ACTIVITY_SCALE_OFFSET]
    except (KeyError, ValueError):
        return None
    value = element.value
    if isinstance(value, bytes):  # read as UN (implicit VR without a private dictionary)
        text = value.decode("ascii", "replace").strip(" \x00")
        value = text if text else None
    factor = number(value)
    return factor if factor is not None and factor > 0 else None


def pet_units(ds: Dataset, warnings: list[str]) -> Unit:
    """PET Units (0054,1001): BQML → Bq/mL, CNTS → counts (Bq/mL with Philips' scale factor)."""
    raw = str(ds.get("Units", "") or "").strip().upper()
    if raw == "BQML":
        return Unit.BQML
    if raw == "CNTS":
        return Unit.BQML if philips_activity_scale(ds) is not None else Unit.COUNTS
    if raw:
        warnings.append(
            f"PET Units is {raw!r}, not BQML; the values are not an activity concentration "
            "and are marked as unknown units."
        )
    else:
        warnings.append("PET Units (0054,1001) is missing; the values are marked as unknown units.")
    return Unit.UNKNOWN


def decay_reference(
    ds: Dataset,
    radiopharmaceutical: Radiopharmaceutical | None,
    warnings: list[str],
    slice_headers: list[Dataset] | None = None,
) -> tuple[str | None, _dt.datetime | None]:
    """DecayCorrection and the time the values are decay corrected to.

    START: the series start (SeriesDate/SeriesTime); when that is later than
    the earliest slice AcquisitionDate/Time (series time rewritten by
    post-processing, seen on some scanners) the earliest acquisition time is
    used instead, with a warning — the rule of the QIBA vendor-neutral SUV
    pseudo-code. ADMIN: the injection time. NONE: no reference (values are at
    their acquisition time).
    """
    mode = str(ds.get("DecayCorrection", "") or "").strip().upper() or None
    if mode == "START":
        series_start = series_datetime(ds)
        acquired = [
            t for h in (slice_headers or [ds])
            if (t := parse_da_tm(h.get("AcquisitionDate") or h.get("SeriesDate"), h.get("AcquisitionTime")))
            is not None and h.get("AcquisitionTime")
        ]
        earliest = min(acquired) if acquired else None
        if series_start is not None and earliest is not None and series_start > earliest:
            warnings.append(
                f"SeriesTime ({series_start:%H:%M:%S}) is later than the earliest AcquisitionTime "
                f"({earliest:%H:%M:%S}); the decay-correction reference (START) was taken as the "
                "earliest acquisition time."
            )
            return mode, earliest
        return mode, series_start or earliest
    if mode == "ADMIN":
        ref = radiopharmaceutical.injection_datetime if radiopharmaceutical else None
        if ref is None:
            warnings.append("DecayCorrection is ADMIN but the injection time is missing.")
        return mode, ref
    return mode, None
