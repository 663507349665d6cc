"""Numbers and keys as a reader sees them: fixed resolution per quantity, no ``e`` notation.

results.json keeps every number at full precision; the report rounds each to the
resolution that means something clinically (doses 0.1 Gy, volumes 0.1 mL,
percentages 0.1 %) and turns internal keys (``total_in_image_gbq``) into labels
with units ("Total in image (GBq)").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "format_activity_gbq",
    "format_dose_gy",
    "format_fraction_percent",
    "format_length_mm",
    "format_mass_g",
    "format_number",
    "format_percent",
    "format_quantity",
    "format_ratio",
    "format_volume_ml",
    "humanize_key",
    "key_value_rows",
    "short_uid",
    "is_uid",
    "UID_PATTERN",
    "number_like",
    "numeric_columns",
]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

#: A DICOM UID (PS3.5 9.1: digits and dots, components without leading zeros), long enough
#: to be worth shortening in a table.
UID_PATTERN = re.compile(r"(?<![\d.])[0-2](?:\.(?:0|[1-9]\d*)){4,}(?![\d.])")
_UID_MIN_CHARS = 24


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: Any, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits, never ``e`` notation.

    '–' for None/NaN, "yes"/"no" for booleans, integers as they are. Values below
    1e-4 or from 1e7 up are written as a power of ten ("1.602 × 10⁻¹³"); values
    with more integer digits than ``digits`` are rounded to an integer.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude < 1e-4 or magnitude >= 1e7:
            mant, exp = f"{value:.{digits}e}".split("e")
            mant = f"{float(mant):.{digits}g}"
            return f"{mant} × 10{str(int(exp)).translate(_SUPERSCRIPT)}"
        text = f"{value:.{digits}g}"
        if "e" in text:  # more integer digits than significant digits asked for
            return str(round(value))
        return text
    return str(value)


def _fixed(value: Any, decimals: int, floor_zero: bool) -> str:
    """``value`` with ``decimals`` decimals; below half the last digit "< 0.1" (``floor_zero``
    also for an exact 0), "–" when missing."""
    if _missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    step = 10.0 ** -decimals
    if abs(v) < step / 2 and (v != 0 or floor_zero):
        return f"< {step:.{decimals}f}"
    text = f"{v:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_dose_gy(value: Any) -> str:
    """Absorbed dose to 0.1 Gy; below 0.05 Gy (and 0) "< 0.1"."""
    return _fixed(value, 1, floor_zero=True)


def format_volume_ml(value: Any) -> str:
    """Volume to 0.1 mL ("< 0.1" for a non-zero volume below 0.05 mL)."""
    return _fixed(value, 1, floor_zero=False)


def format_mass_g(value: Any) -> str:
    """Mass to 0.1 g."""
    return _fixed(value, 1, floor_zero=False)


def format_percent(value: Any) -> str:
    """A percentage (already in %) to 0.1 % ("< 0.1" for a non-zero value below 0.05 %)."""
    return _fixed(value, 1, floor_zero=False)


def format_fraction_percent(value: Any) -> str:
    """A fraction (0–1) shown in per cent to 0.1 %."""
    if _missing(value) or isinstance(value, bool):
        return format_percent(value)
    return format_percent(100.0 * float(value))


def format_length_mm(value: Any) -> str:
    """A signed length (margin, distance, error) to 0.1 mm."""
    if _missing(value):
        return "–"
    text = f"{float(value):.1f}"
    return "0.0" if text == "-0.0" else text


def format_activity_gbq(value: Any) -> str:
    """Activity to 1 MBq (3 decimals in GBq)."""
    return _fixed(value, 3, floor_zero=False)


def format_ratio(value: Any) -> str:
    """A dimensionless ratio (T/N, recovery) to 2 decimals."""
    return _fixed(value, 2, floor_zero=False)


#: Formatter per unit, for :func:`format_quantity`.
_BY_UNIT: dict[str, Callable[[Any], str]] = {
    "Gy": format_dose_gy,
    "mL": format_volume_ml,
    "g": format_mass_g,
    "%": format_percent,
    "mm": format_length_mm,
    "GBq": format_activity_gbq,
    "MBq": lambda v: _fixed(v, 1, floor_zero=False),
    "ratio": format_ratio,
}


def format_quantity(value: Any, unit: str) -> str:
    """``value`` at the clinical resolution of ``unit`` (Gy, mL, g, %, mm, GBq, MBq, ratio);
    other units get :func:`format_number`. Lists are joined with commas."""
    if isinstance(value, list | tuple):
        return ", ".join(format_quantity(v, unit) for v in value)
    fmt = _BY_UNIT.get(unit)
    if fmt is None or isinstance(value, str):
        return format_number(value)
    return fmt(value)


# ------------------------------------------------------------------ keys
#: Key suffixes → (unit shown, scale applied to the value), longest first.
_SUFFIXES: tuple[tuple[str, str, float], ...] = (
    ("_gy_kg_per_gbq", "Gy·kg/GBq", 1.0),
    ("_mgy_per_mbq_s", "mGy/(MBq·s)", 1.0),
    ("_bq_per_ml", "Bq/mL", 1.0),
    ("_g_per_ml", "g/mL", 1.0),
    ("_mm_zyx", "mm; z, y, x", 1.0),
    ("_lps_mm", "mm; LPS", 1.0),
    ("_zyx", "z, y, x", 1.0),
    ("_mm2", "mm²", 1.0),
    ("_percent", "%", 1.0),
    ("_fraction", "%", 100.0),
    ("_gy", "Gy", 1.0),
    ("_ml", "mL", 1.0),
    ("_gbq", "GBq", 1.0),
    ("_mbq", "MBq", 1.0),
    ("_mev", "MeV", 1.0),
    ("_kev", "keV", 1.0),
    ("_deg", "°", 1.0),
    ("_hu", "HU", 1.0),
    ("_mm", "mm", 1.0),
    ("_kg", "kg", 1.0),
    ("_cm", "cm", 1.0),
    ("_g", "g", 1.0),
    ("_j", "J", 1.0),
    ("_h", "h", 1.0),
    ("_s", "s", 1.0),
    ("_w", "W", 1.0),
)
_ACRONYMS = {
    "ct": "CT", "pet": "PET", "spect": "SPECT", "nm": "NM", "maa": "MAA", "ldm": "LDM", "vsv": "VSV",
    "dvh": "DVH", "roi": "ROI", "rois": "ROIs", "psf": "PSF", "fwhm": "FWHM", "lsf": "LSF", "tre": "TRE",
    "hu": "HU", "uid": "UID", "pvc": "PVC", "rbv": "RBV", "gtm": "GTM", "lps": "LPS", "rc": "RC",
    "tnr": "T/N", "hcc": "HCC", "y90": "90Y", "bsa": "BSA", "mird": "MIRD", "ebrt": "EBRT",
    "hdr": "HDR", "bed": "BED", "eqd2": "EQD2", "tace": "TACE",
}
#: Labels of keys whose words alone would mislead.
_LABELS = {
    "ldm_gy_kg_per_gbq": ("LDM factor", "Gy·kg/GBq", 1.0),
    "mev_to_j": ("MeV to joule", "J/MeV", 1.0),
    "tumor_to_normal_ratio": ("Tumour-to-normal ratio", "ratio", 1.0),
    "lung_shunt_fraction": ("Lung shunt", "%", 100.0),
}


def humanize_key(key: str) -> tuple[str, str, float]:
    """``(label, unit, scale)`` of a results.json key: 'total_in_image_gbq' → ('Total in image',
    'GBq', 1.0); a '_fraction' key is shown in per cent (scale 100)."""
    if key in _LABELS:
        return _LABELS[key]
    unit, scale, stem = "", 1.0, key
    for suffix, u, s in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            unit, scale, stem = u, s, key[: -len(suffix)]
            break
    words = [_ACRONYMS.get(w.lower(), w) for w in re.split(r"[_\s]+", stem) if w]
    if not words:
        return key, unit, scale
    label = " ".join(words)
    label = label[0].upper() + label[1:]
    return label, unit, scale


def _scaled(value: Any, scale: float) -> Any:
    if scale == 1.0 or isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, list | tuple) and scale != 1.0:
            return [_scaled(v, scale) for v in value]
        return value
    return value * scale


def key_value_rows(
    mapping: Mapping[str, Any],
    precise: bool = False,
    skip: tuple[str, ...] = (),
    nested: bool = False,
    prefix: str = "",
) -> list[list[str]]:
    """Rows ``[label (unit), value]`` of the scalar entries of a results.json block.

    ``precise`` keeps significant digits (constants: 64.053 h stays 64.053) instead
    of the clinical resolution of the unit. Short lists of scalars are joined;
    nested mappings are skipped unless ``nested`` (then labelled "parent: child").
    """
    rows: list[list[str]] = []
    for key, value in mapping.items():
        if key in skip:
            continue
        label, unit, scale = humanize_key(str(key))
        if prefix:
            label = f"{prefix}: {label[0].lower() + label[1:] if not label[:2].isupper() else label}"
        if isinstance(value, Mapping):
            if nested:
                rows.extend(key_value_rows(value, precise, skip, nested, label))
            continue
        if isinstance(value, list | tuple) and (not value or len(value) > 8 or not all(
                isinstance(v, int | float | str) or v is None for v in value)):
            continue
        shown = _scaled(value, scale)
        unit_shown = "" if unit == "ratio" else unit
        text = (
            (", ".join(format_number(v, 6) for v in shown) if isinstance(shown, list | tuple)
             else format_number(shown, 6))
            if precise or not unit
            else format_quantity(shown, unit)
        )
        rows.append([f"{label} ({unit_shown})" if unit_shown else label, text])
    return rows


# ------------------------------------------------------------------ UIDs
def is_uid(text: str) -> bool:
    """True for a whole-string DICOM UID long enough to be shortened."""
    return len(text) >= _UID_MIN_CHARS and UID_PATTERN.fullmatch(text) is not None


def short_uid(uid: str) -> str:
    """'1.2.826.0.1.…607060': the first and the last digits of a long UID (the full one
    is on hover in HTML and in the PDF's appendix)."""
    if len(uid) < _UID_MIN_CHARS:
        return uid
    return f"{uid[:12]}…{uid[-6:]}"


# ------------------------------------------------------------------ alignment
_NUMERIC = re.compile(r"^(?:[<>≤≥]\s?)?[-+−]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s?×\s?10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?"
                      r"(?:\s?(?:%|Gy|mL|mm|g))?$|^[–-]$|^[-+]?∞$")


def number_like(text: Any) -> bool:
    """True for a formatted number ("12.3", "< 0.1", "1.6 × 10⁻¹³", "–")."""
    return isinstance(text, str) and _NUMERIC.match(text.strip()) is not None


def numeric_columns(header: list[str], rows: list[list[str]]) -> list[bool]:
    """Per column: every non-empty cell looks like a number (right-aligned)."""
    out = []
    for j in range(len(header)):
        cells = [r[j] for r in rows if j < len(r) and str(r[j]).strip() not in ("", "–")]
        out.append(bool(cells) and all(number_like(c) for c in cells))
    return out
