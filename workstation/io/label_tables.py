"""Names of the values of a label image: embedded tables, colour tables beside the file, TotalSegmentator.

Where the names of a multi-label file come from, in order:

1. a label table embedded in the NIfTI header extension (TotalSegmentator
   writes its multi-label output ``--ml`` with a CIFTI/Caret ``LabelTable``
   XML extension, ``<Label Key="5" ...>liver</Label>``);
2. a 3D Slicer colour table beside the file (``NAME.ctbl``, ``NAME.txt`` or
   ``NAME_ColorTable.ctbl``, where NAME is the file name without
   ``.nii.gz``/``.nii``/``.nrrd``/``.mha``): lines ``value name R G B A``,
   ``#`` comments;
3. TotalSegmentator's class map of its ``total`` task (v2), when asked for
   (:data:`TOTALSEGMENTATOR_TOTAL_V2`).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

__all__ = [
    "TOTALSEGMENTATOR_TOTAL_V2",
    "colour_table_beside",
    "nifti_label_table",
    "read_colour_table",
    "write_colour_table",
]

#: Label value → structure of TotalSegmentator's ``total`` task, version 2
#: (Wasserthal J et al., Radiology: Artificial Intelligence 5:e230024, 2023;
#: ``class_map["total"]`` in ``totalsegmentator/map_to_binary.py`` of the
#: TotalSegmentator repository, v2.x).
TOTALSEGMENTATOR_TOTAL_V2: dict[int, str] = {
    1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach",
    7: "pancreas", 8: "adrenal_gland_right", 9: "adrenal_gland_left", 10: "lung_upper_lobe_left",
    11: "lung_lower_lobe_left", 12: "lung_upper_lobe_right", 13: "lung_middle_lobe_right",
    14: "lung_lower_lobe_right", 15: "esophagus", 16: "trachea", 17: "thyroid_gland", 18: "small_bowel",
    19: "duodenum", 20: "colon", 21: "urinary_bladder", 22: "prostate", 23: "kidney_cyst_left",
    24: "kidney_cyst_right", 25: "sacrum", 26: "vertebrae_S1", 27: "vertebrae_L5", 28: "vertebrae_L4",
    29: "vertebrae_L3", 30: "vertebrae_L2", 31: "vertebrae_L1", 32: "vertebrae_T12", 33: "vertebrae_T11",
    34: "vertebrae_T10", 35: "vertebrae_T9", 36: "vertebrae_T8", 37: "vertebrae_T7", 38: "vertebrae_T6",
    39: "vertebrae_T5", 40: "vertebrae_T4", 41: "vertebrae_T3", 42: "vertebrae_T2", 43: "vertebrae_T1",
    44: "vertebrae_C7", 45: "vertebrae_C6", 46: "vertebrae_C5", 47: "vertebrae_C4", 48: "vertebrae_C3",
    49: "vertebrae_C2", 50: "vertebrae_C1", 51: "heart", 52: "aorta", 53: "pulmonary_vein",
    54: "brachiocephalic_trunk", 55: "subclavian_artery_right", 56: "subclavian_artery_left",
    57: "common_carotid_artery_right", 58: "common_carotid_artery_left", 59: "brachiocephalic_vein_left",
    60: "brachiocephalic_vein_right", 61: "atrial_appendage_left", 62: "superior_vena_cava",
    63: "inferior_vena_cava", 64: "portal_vein_and_splenic_vein", 65: "iliac_artery_left",
    66: "iliac_artery_right", 67: "iliac_vena_left", 68: "iliac_vena_right", 69: "humerus_left",
    70: "humerus_right", 71: "scapula_left", 72: "scapula_right", 73: "clavicula_left", 74: "clavicula_right",
    75: "femur_left", 76: "femur_right", 77: "hip_left", 78: "hip_right", 79: "spinal_cord",
    80: "gluteus_maximus_left", 81: "gluteus_maximus_right", 82: "gluteus_medius_left",
    83: "gluteus_medius_right", 84: "gluteus_minimus_left", 85: "gluteus_minimus_right",
    86: "autochthon_left", 87: "autochthon_right", 88: "iliopsoas_left", 89: "iliopsoas_right", 90: "brain",
    91: "skull", 92: "rib_left_1", 93: "rib_left_2", 94: "rib_left_3", 95: "rib_left_4", 96: "rib_left_5",
    97: "rib_left_6", 98: "rib_left_7", 99: "rib_left_8", 100: "rib_left_9", 101: "rib_left_10",
    102: "rib_left_11", 103: "rib_left_12", 104: "rib_right_1", 105: "rib_right_2", 106: "rib_right_3",
    107: "rib_right_4", 108: "rib_right_5", 109: "rib_right_6", 110: "rib_right_7", 111: "rib_right_8",
    112: "rib_right_9", 113: "rib_right_10", 114: "rib_right_11", 115: "rib_right_12", 116: "sternum",
    117: "costal_cartilages",
}

_IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".seg.nrrd")
#: NIfTI-1 header size and the offset of its extension flag (nifti1.h).
_NIFTI1_HEADER_BYTES = 348


def _stem(path: Path) -> str:
    name = path.name
    for ending in sorted(_IMAGE_ENDINGS, key=len, reverse=True):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return path.stem


def nifti_label_table(path: str | os.PathLike[str]) -> dict[int, str]:
    """Label names embedded in a NIfTI-1 header extension (a ``LabelTable`` XML), or ``{}``.

    The extensions follow the 348-byte header: a 4-byte flag, then blocks of
    (esize, ecode, data) up to ``vox_offset`` (NIfTI-1 standard, nifti1.h).
    """
    p = Path(path)
    if not p.name.lower().endswith((".nii", ".nii.gz")) or not p.is_file():
        return {}
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rb") as fh:
            head = fh.read(_NIFTI1_HEADER_BYTES + 4)
            if len(head) < _NIFTI1_HEADER_BYTES + 4:
                return {}
            endian = "<" if int.from_bytes(head[0:4], "little") == _NIFTI1_HEADER_BYTES else ">"
            if int.from_bytes(head[0:4], "little" if endian == "<" else "big") != _NIFTI1_HEADER_BYTES:
                return {}
            if head[_NIFTI1_HEADER_BYTES] == 0:
                return {}
            import struct

            vox_offset = int(struct.unpack(f"{endian}f", head[108:112])[0])
            extensions = fh.read(max(vox_offset - _NIFTI1_HEADER_BYTES - 4, 0))
    except (OSError, EOFError, ValueError):
        return {}
    names: dict[int, str] = {}
    text = extensions.decode("utf-8", errors="replace")
    for key, label in re.findall(r'<Label\s+Key="(\d+)"[^>]*>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</Label>', text, re.S):
        names[int(key)] = label.strip()
    return names


def colour_table_beside(path: str | os.PathLike[str]) -> Path | None:
    """The Slicer colour table beside a label file (see the module docstring), or None."""
    p = Path(path)
    stem = _stem(p)
    for candidate in (f"{stem}.ctbl", f"{stem}_ColorTable.ctbl", f"{stem}.txt"):
        beside = p.with_name(candidate)
        if beside.is_file():
            return beside
    return None


def read_colour_table(path: str | os.PathLike[str]) -> dict[int, str]:
    """A Slicer colour table: ``value name R G B A`` per line, ``#`` comments; background 0 left out."""
    names: dict[int, str] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        if value != 0 and len(parts) >= 2:
            names[value] = parts[1]
    return names


def write_colour_table(path: str | os.PathLike[str], names: dict[int, str]) -> Path:
    """Write a Slicer colour table (atomically) for ``names``; spaces in names become underscores."""
    from workstation.io._atomic import atomic_path

    target = Path(path)
    lines = ["# Color table file written by workstation", f"# {len(names) + 1} values", "0 Background 0 0 0 0"]
    for value in sorted(names):
        r, g, b = _colour(value)
        lines.append(f"{value} {names[value].replace(' ', '_')} {r} {g} {b} 255")
    with atomic_path(target) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _colour(value: int) -> tuple[int, int, int]:
    """A distinct, stable colour per label value (golden-ratio hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((value * 0.618033988749895) % 1.0, 0.65, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)
