"""MASK syntax ``LABELS#N`` and ``LABELS#name``: names from a NIfTI label table, a Slicer colour table, TotalSegmentator."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from workstation.core import InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.io import read_mask, write_image
from workstation.io.label_tables import (
    TOTALSEGMENTATOR_TOTAL_V2,
    nifti_label_table,
    write_colour_table,
)


def _labels(tmp_path: Path, name: str = "labels.nii.gz") -> tuple[Path, np.ndarray]:
    arr = np.zeros((6, 8, 9), np.uint8)
    arr[1:3, 2:5, 2:6] = 5
    arr[3:5, 1:4, 1:3] = 1
    arr[4, 6, 7] = 63
    vol = Volume(arr, affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0]), units=Unit.LABEL)
    path = tmp_path / name
    write_image(vol, path)
    return path, arr


def _add_label_table_extension(path: Path, names: dict[int, str]) -> None:
    """Rewrite a NIfTI-1 file with a TotalSegmentator-style label table extension (NIfTI-1 layout, nifti1.h)."""
    raw = gzip.decompress(path.read_bytes())
    offset = int(struct.unpack("<f", raw[108:112])[0])
    xml = "".join(f'<Label Key="{k}" Red="1" Green="0" Blue="0" Alpha="1"><![CDATA[{v}]]></Label>' for k, v in names.items())
    content = f'<?xml version="1.0"?><CaretExtension><LabelTable>{xml}</LabelTable></CaretExtension>'.encode()
    content += b"\0" * (-(len(content) + 8) % 16)
    extension = struct.pack("<ii", len(content) + 8, 0) + content
    header = bytearray(raw[:348])
    new_offset = 352 + len(extension)
    header[108:112] = struct.pack("<f", float(new_offset))
    out = bytes(header) + b"\x01\0\0\0" + extension + raw[offset:]
    path.write_bytes(gzip.compress(out))


def test_label_by_value_and_by_embedded_name(tmp_path: Path) -> None:
    path, arr = _labels(tmp_path)
    by_value = read_mask(f"{path}#5")
    np.testing.assert_array_equal(by_value.array, (arr == 5).astype(np.uint8))
    _add_label_table_extension(path, {1: "spleen", 5: "liver", 63: "inferior_vena_cava"})
    assert nifti_label_table(path) == {1: "spleen", 5: "liver", 63: "inferior_vena_cava"}
    liver = read_mask(f"{path}#liver")
    np.testing.assert_array_equal(liver.array, (arr == 5).astype(np.uint8))
    assert liver.label_names == {1: "liver"} and not liver.metadata.warnings
    assert read_mask(path).label_names == {1: "spleen", 5: "liver", 63: "inferior_vena_cava"}
    assert read_mask(f"{path}#5").label_names == {1: "liver"}


def test_names_from_a_slicer_colour_table_beside_the_file(tmp_path: Path) -> None:
    path, arr = _labels(tmp_path, "seg.nii.gz")
    write_colour_table(tmp_path / "seg.ctbl", {1: "tumour 1", 5: "liver"})
    tumour = read_mask(f"{path}#tumour_1")  # Slicer tables write spaces as underscores
    np.testing.assert_array_equal(tumour.array, (arr == 1).astype(np.uint8))
    assert read_mask(f"{path}#LIVER").array.sum() == (arr == 5).sum()  # case-insensitive


def test_totalsegmentator_class_map_when_the_file_names_nothing(tmp_path: Path) -> None:
    path, arr = _labels(tmp_path)
    liver = read_mask(f"{path}#liver")
    np.testing.assert_array_equal(liver.array, (arr == 5).astype(np.uint8))
    assert any("TotalSegmentator" in w for w in liver.metadata.warnings)
    assert TOTALSEGMENTATOR_TOTAL_V2[63] == "inferior_vena_cava"
    with pytest.raises(InvalidInputError, match="no segment named 'pancreas'"):
        read_mask(f"{path}#pancreas")  # a class of the map, but not in the file
    with pytest.raises(InvalidInputError, match="no segment named 'kidney'"):
        read_mask(f"{path}#kidney")


def test_real_totalsegmentator_multilabel_file(shared_real: Path) -> None:
    path = shared_real / "totalsegmentator_example" / "segmentation_ml.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent from shared/real")
    names = nifti_label_table(path)
    assert names[5] == "liver" and names[1] == "spleen" and len(names) == 117
    # TotalSegmentator's table is its v2 class map
    assert all(TOTALSEGMENTATOR_TOTAL_V2[k] == v for k, v in names.items())
    liver = read_mask(f"{path}#liver")
    assert liver.array.sum() == (read_mask(f"{path}#5").array > 0).sum() > 0
