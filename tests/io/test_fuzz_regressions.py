"""The findings of issue 17, each with the mutation that found it, on the bundled samples.

Tried as a tester would on mutated copies of the sample CT series and SPECT file,
``workstation convert`` answered exit 1 twice (NM with flipped bytes:
``IndexError: index 94189361658944 is out of bounds for axis 0 with size 64``
and ``NotImplementedError: Unknown Value Representation 'Uv' in tag
(0028,0103)``), printed raw pydicom ``UserWarning``s, and accepted a CT slice
with RescaleIntercept 99999999 (1e8 HU). Each is replayed here byte for byte.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io import test_fuzz_readers as fuzz_readers
from tests.io.fuzz_harness import run_cli
from tests.io.mutations import RawValue, WrongVR
from workstation.io import read_image
from workstation.samples import sample_data_dir

SAMPLES = sample_data_dir() / "sirt"


def _value_offset(path: Path, tag: int) -> int:
    """File offset of the value bytes of a top-level element (explicit VR little endian)."""
    element = pydicom.dcmread(path).get_item(tag)
    assert element is not None and element.value_tell is not None
    return int(element.value_tell)


def _flip(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))


@pytest.fixture
def spect(tmp_path: Path) -> Path:
    target = tmp_path / "in" / "NM000001.dcm"
    target.parent.mkdir()
    shutil.copy(SAMPLES / "spect" / "NM000001.dcm", target)
    return target


def test_flipped_slice_vector_byte_is_exit_2_naming_it(spect: Path, tmp_path: Path) -> None:
    # The high byte of SliceVector[10] (US) flipped: slice 11 becomes 32779 of 64 frames.
    # The reader indexed uninitialised memory (IndexError: index 94189361658944 ...).
    _flip(spect, _value_offset(spect, 0x00540080) + 2 * 10 + 1, 0x80)
    out = tmp_path / "out" / "spect.nii.gz"
    result = run_cli(["convert", str(spect), "-o", str(out)])
    assert result.code == 2, result.stderr
    assert "SliceVector holds 1..32779, outside 1..64" in result.stderr
    assert "NM000001.dcm" in result.stderr and not out.exists() and not result.leaked


def test_pixel_representation_with_unknown_vr_is_exit_2_naming_it(spect: Path, tmp_path: Path) -> None:
    # The VR of PixelRepresentation (0028,0103) 'US' with its second letter flipped to 'v'.
    offset = _value_offset(spect, 0x00280103) - 3  # tag (4) + VR (2) + length (2) precede the value
    assert spect.read_bytes()[offset - 1 : offset + 1] == b"US"
    _flip(spect, offset, ord("v"))
    out = tmp_path / "out" / "spect.nii.gz"
    result = run_cli(["convert", str(spect), "-o", str(out)])
    assert result.code == 2, result.stderr
    assert "PixelRepresentation (0028,0103) cannot be decoded" in result.stderr
    assert "Unknown Value Representation 'Uv'" in result.stderr
    assert not out.exists() and not result.leaked


#: The sample CT's first slices (by name, which is slice order): the mutations hit
#: CT0004, CT0005 and CT0042 as in the issue; fewer files keep the test fast.
CT_FILES = [f"CT{n:04d}.dcm" for n in range(1, 45)]


@pytest.fixture
def ct(tmp_path: Path) -> Path:
    target = tmp_path / "ct"
    target.mkdir()
    for name in CT_FILES:
        shutil.copy(SAMPLES / "ct" / name, target / name)
    return target


def test_rescale_intercept_99999999_is_refused_by_name(ct: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(ct / "CT0042.dcm")
    ds.RescaleIntercept = "99999999"
    ds.save_as(ct / "CT0042.dcm")
    out = tmp_path / "out" / "ct.nii.gz"
    result = run_cli(["convert", str(ct), "-o", str(out)])
    assert result.code == 2, result.stderr
    assert re.search(r"CT0042\.dcm holds values up to 1\.0\d*e\+08 HU", result.stderr), result.stderr
    assert "RescaleIntercept" in result.stderr and "30710 HU" in result.stderr
    assert not out.exists()


def test_invalid_uid_warning_is_ours_said_once_and_names_the_file(ct: Path, tmp_path: Path) -> None:
    # A flipped byte in the SOPInstanceUID of two slices: pydicom warns "Invalid value
    # for VR UI" for each; the user sees one sentence of ours, naming a file, never raw.
    for name in ("CT0004.dcm", "CT0005.dcm"):
        path = ct / name
        _flip(path, _value_offset(path, 0x00080018) + 3, ord("x"))
    out = tmp_path / "out" / "ct.nii.gz"
    result = run_cli(["convert", str(ct), "-o", str(out)])
    assert result.code == 0, result.stderr
    assert not result.leaked
    lines = [line for line in result.stderr.splitlines() if "Invalid value for VR UI" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: ") and "CT0004.dcm: pydicom: Invalid value for VR UI" in lines[0]
    assert "also in 1 other file" in lines[0]
    untouched = tmp_path / "untouched"
    untouched.mkdir()
    for name in CT_FILES:
        shutil.copy(SAMPLES / "ct" / name, untouched / name)
    np.testing.assert_array_equal(read_image(out).array, read_image(untouched).array)


@pytest.mark.slow
def test_no_raw_warning_reaches_the_terminal(ct: Path, tmp_path: Path) -> None:
    """The same as a user runs it: a separate process, its real stderr."""
    path = ct / "CT0004.dcm"
    _flip(path, _value_offset(path, 0x00080018) + 3, ord("x"))
    out = tmp_path / "out" / "ct.nii.gz"
    done = subprocess.run(
        [sys.executable, "-m", "workstation.cli", "convert", str(ct), "-o", str(out)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert "UserWarning" not in done.stderr and "warn_and_log" not in done.stderr
    assert "warning: " in done.stderr and "CT0004.dcm" in done.stderr


def test_itk_warnings_become_ours_and_nothing_reaches_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """ITK writes its warnings to file descriptor 2, past Python: they are caught there too."""
    import struct

    from workstation.core import Unit, Volume, affine_from_geometry
    from workstation.io import write_image

    volume = Volume(np.zeros((3, 4, 5), np.int16), affine_from_geometry([0, 0, 0], [2, 1, 1]), units=Unit.HU)
    path = write_image(volume, tmp_path / "ct.nii", compress=False)
    data = bytearray(path.read_bytes())
    data[280:284] = struct.pack("<f", 7.0)  # srow_x[0]: an sform scale that disagrees with pixdim
    path.write_bytes(bytes(data))
    capfd.readouterr()
    read = read_image(path)
    assert capfd.readouterr().err == ""
    assert any("SimpleITK: the file has unexpected scales in sform" in w for w in read.metadata.warnings)


def test_metaimage_with_absurd_ndims_is_refused_before_itk_crashes(tmp_path: Path) -> None:
    """Found by the slow fuzz run: NDims = 99999 made ITK's MetaIO crash the process."""
    from workstation.core import Unit, Volume, affine_from_geometry
    from workstation.io import write_image

    volume = Volume(np.zeros((3, 4, 5), np.int16), affine_from_geometry([0, 0, 0], [2, 1, 1]), units=Unit.HU)
    path = write_image(volume, tmp_path / "ct.mha", compress=False)
    path.write_bytes(path.read_bytes().replace(b"NDims = 3", b"NDims = 99999 99999 99999"))
    result = run_cli(["convert", str(path), "-o", str(tmp_path / "out" / "ct.nii.gz")])
    assert result.code == 2, result.stderr
    assert "the MetaImage header field NDims is '99999 99999 99999'" in result.stderr


# Findings of the slow fuzz run (seed 20261128) after the io split, replayed with the contract
# check of the fuzz suite: exit 0 with a correct volume, or exit 2 with the reason.
clean = fuzz_readers.clean  # the fuzz suite's module-scoped clean inputs, as a fixture here


def test_bits_stored_with_two_values_is_refused(clean) -> None:  # noqa: ANN001
    """BitsStored 'nan ' (two US values): it was read as its first two bytes, now refused (VM 1)."""
    fuzz_readers._ct_series(clean, RawValue(0x00280101, b"nan"), 0)


def test_bits_stored_against_high_bit_is_refused(clean) -> None:  # noqa: ANN001
    """BitsStored 1 with HighBit 15 on an enhanced CT: every voxel was masked to one bit."""
    fuzz_readers._multiframe("enhanced-ct", clean, RawValue(0x00280101, b"\x01\x00"))


def test_seg_with_corrupt_pixel_spacing_is_refused(clean) -> None:  # noqa: ANN001
    """PixelSpacing re-typed UL on a SEG: a mask 5e8 mm wide was written; now the geometry is checked."""
    fuzz_readers._seg(clean, WrongVR(0x00280030, "UL"))


def test_big_endian_bits_stored_12_reads(tmp_path: Path) -> None:
    """The HighBit check reads a big-endian file's value as big endian (HighBit 11 is not 2816)."""
    from pydicom.data import get_testdata_file
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import ExplicitVRBigEndian

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    stored = np.clip(ds.pixel_array.astype(np.int16), -2048, 2047)  # 12 signed bits
    ds.BitsStored, ds.HighBit = 12, 11
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = stored.astype(">i2").tobytes()
    path = tmp_path / "ct_big_endian.dcm"
    dcmwrite(path, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    volume = read_image(path)
    expected = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(volume.array[0], expected, rtol=0, atol=1e-3)  # float32 of integers
