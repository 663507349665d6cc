"""Mutation fuzzing of every reader through the command line (issue 17).

Each test writes one small valid input (fixed seed), lets Hypothesis draw
mutations of it (``tests/io/mutations.py``: truncation, header byte flips, tag
deletion, garbage values per VR, wrong VRs, Rows/Columns/BitsAllocated/frames
inconsistent with the pixel data, NaN/inf strings; field garbage for NRRD,
MetaImage and NIfTI headers) and runs ``workstation convert`` or
``workstation mask`` on the mutated copy in this process. The contract checked
for every input is in ``fuzz_harness.check_contract``; on exit 0 the written
volume is also checked against an independent decoding (pydicom's pixel data
with the header's scaling) or against the unmutated volume.

The default run draws ``BUDGET`` mutations per reader (> 500 in all, seed
``FUZZ_SEED``; counts printed at the end of the session); the ``slow`` run ten
times as many with another seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.io.dicom_factory import write_nm_multiframe, write_single_frame_series
from tests.io.fuzz_harness import FUZZ_SEED, affine_fit, affine_ok, check_contract, scratch
from tests.io.mask_factory import circle, dicom_reference, write_nrrd, write_rtstruct
from tests.io.mutations import dicom_mutations, nifti_mutations, text_header_mutations
from workstation.core import Unit, Volume, affine_from_geometry
from workstation.io import read_image, write_image, write_rtdose, write_seg

#: Mutations per reader in the default run (11 readers: > 500 inputs).
BUDGET = {
    "ct-series": 90, "nm": 60, "enhanced-ct": 35, "rtdose": 50, "seg": 45, "rtstruct": 40,
    "nifti": 50, "nrrd": 40, "seg.nrrd": 40, "mha": 40, "cli-numbers": 40,
}
SLOW_FACTOR = 10


def _settings(reader: str, slow: bool) -> settings:
    # FUZZ_NO_SHRINK=1 reports every distinct failure at once, unshrunk (for development).
    phases = [Phase.explicit, Phase.generate] if os.environ.get("FUZZ_NO_SHRINK") else list(Phase)
    return settings(
        max_examples=BUDGET[reader] * (SLOW_FACTOR if slow else 1),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        phases=phases,
        report_multiple_bugs=True,
    )


def fuzz(reader: str, strategy: st.SearchStrategy, slow: bool = False):  # noqa: ANN201
    """Decorate a check ``f(mutation)`` as a seeded Hypothesis test over ``strategy``."""

    def wrap(function):  # noqa: ANN001, ANN202
        # (No pytest mark here: the callers carry ``slow``; marking a lambda would
        # silently turn it into a MarkDecorator that never runs.)
        return seed(FUZZ_SEED + (1 if slow else 0))(_settings(reader, slow)(given(strategy)(function)))

    return wrap


# ------------------------------------------------------------------ inputs
_AFFINE = affine_from_geometry([-30.0, -20.0, 40.0], [2.5, 0.9, 0.8])


def _ct_values() -> np.ndarray:
    rng = np.random.default_rng(FUZZ_SEED)
    z, y, x = np.mgrid[0:3, 0:12, 0:14]
    body = ((y - 6) ** 2 / 25 + (x - 7) ** 2 / 36) < 1
    return np.where(body, 40.0, -1000.0) + np.round(rng.normal(0, 12, (3, 12, 14)))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid input per reader, written once."""
    root = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(FUZZ_SEED)
    files: dict[str, Path] = {}
    write_single_frame_series(root / "ct", _ct_values(), _AFFINE)
    files["ct-series"] = root / "ct"
    spect = np.clip(rng.normal(200.0, 40.0, (6, 10, 10)), 0, None)
    files["nm"] = write_nm_multiframe(
        root / "nm.dcm", spect, [-40.0, -40.0, 30.0], [1, 0, 0, 0, 1, 0], [4.0, 4.0], -4.0,
        rwvm={"slope": 0.5, "intercept": 0.0, "units": "Bq/ml"},
    )
    import highdicom as hd

    legacy = [pydicom.dcmread(p) for p in sorted((root / "ct").iterdir())]
    enhanced = hd.legacy.LegacyConvertedEnhancedCTImage(legacy, hd.UID(), 2, hd.UID(), 1)
    files["enhanced-ct"] = root / "enhanced.dcm"
    enhanced.save_as(files["enhanced-ct"], enforce_file_format=True)
    ct = read_image(root / "ct")
    dose = Volume(
        rng.uniform(0.0, 60.0, (4, 8, 9)).astype(np.float32),
        affine_from_geometry([-10.0, -5.0, 42.0], [2.0, 3.0, 3.0]),
        frame_of_reference_uid=ct.frame_of_reference_uid, modality="RTDOSE", units=Unit.GY,
    )
    files["rtdose"] = write_rtdose(dose, root / "rtdose.dcm", reference=ct)
    labels = ct.copy_with(array=(ct.array > -500).astype(np.uint8), units=Unit.LABEL, label_names={1: "body"})
    files["seg"] = write_seg(labels, root / "seg.dcm", ct)
    contour = circle(ct.index_to_world([1, 6, 7]), 4.0, n=24)
    files["rtstruct"] = write_rtstruct(root / "rs.dcm", dicom_reference(ct), {"Lesion": [contour]})
    image = Volume(_ct_values().astype(np.int16), _AFFINE, units=Unit.HU)
    files["nifti"] = write_image(image, root / "ct.nii", compress=False)
    files["nrrd"] = write_image(image, root / "ct.nrrd", compress=False)
    files["mha"] = write_image(image, root / "ct.mha", compress=False)
    seg_layers = np.zeros((3, 12, 14), np.uint8)
    seg_layers[:, 3:8, 4:10] = 1
    seg_layers[1:, 5:7, 6:8] = 2
    files["seg.nrrd"] = write_nrrd(
        root / "labels.seg.nrrd", seg_layers, np.diag([0.8, 0.9, 2.5]), [-30.0, -20.0, 40.0],
        fields={"Segment0_Name": "liver", "Segment0_LabelValue": "1", "Segment0_Layer": "0",
                "Segment1_Name": "tumor", "Segment1_LabelValue": "2", "Segment1_Layer": "0"},
    )
    return files


def _mutate_copy(source: Path, mutation, work: Path, which: int = 0) -> tuple[Path, list[Path]]:  # noqa: ANN001
    """Copy ``source`` (file or folder) into ``work`` with one file mutated; (input, files)."""
    if source.is_dir():
        target = work / source.name
        target.mkdir()
        names = sorted(p.name for p in source.iterdir())
        for i, name in enumerate(names):
            data = (source / name).read_bytes()
            if i == which % len(names):
                data = mutation.apply(data)
            (target / name).write_bytes(data)
        return target, [target]
    # A DICOM file protects its folder from outputs: inputs go to their own folder.
    (work / "in").mkdir()
    target = work / "in" / source.name
    target.write_bytes(mutation.apply(source.read_bytes()))
    return target, [target]


# -------------------------------------------------------- oracles on exit 0
def _pixels(path: Path) -> np.ndarray:
    """Stored values of every frame, decoded with numpy from pydicom's element (native data)."""
    ds = pydicom.dcmread(path, force=True)
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    data = bytes(ds.PixelData)
    bits = int(ds.get("BitsAllocated") or 8 * len(data) // (rows * columns * frames))
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    count = rows * columns * frames
    values = np.frombuffer(data[: count * dtype.itemsize], dtype=dtype)
    try:  # the reader's rule: a BitsStored that is not one value in 1..BitsAllocated is ignored
        stored = int(ds.get("BitsStored") or bits)
    except (TypeError, ValueError):
        stored = bits
    if 0 < stored < bits:
        shift = bits - stored
        values = (values << shift) >> shift if signed else values & ((1 << stored) - 1)
    return values.astype(np.float64).reshape(frames, rows, columns)


def _check_written(output: Path, volume: Volume) -> None:
    written = read_image(output)
    assert written.shape == volume.shape
    assert np.allclose(written.affine, volume.affine, atol=1e-4)
    np.testing.assert_allclose(written.array, volume.array, rtol=1e-6, atol=1e-6, equal_nan=True)


def _check_sane(volume: Volume) -> None:
    assert affine_ok(volume.affine)
    assert np.all(volume.spacing_mm > 0)
    if volume.units == Unit.HU:
        finite = volume.array[np.isfinite(volume.array)]
        assert finite.size == 0 or (finite.max() <= 30710 and np.median(finite) >= -1124), (
            f"implausible HU accepted: {finite.min()}..{finite.max()}"
        )


def _check_frames_match_decoding(volume: Volume, path: Path, clean: Path) -> None:
    """Every slice is one of the file's frames, linearly scaled (no garbled pixels).

    When pydicom itself cannot decode the mutated file (a character set or a
    frame count it rejects, where the reader had no need of it), the frames of
    the unmutated file are the reference.
    """
    try:
        frames = _pixels(path)
    except Exception:  # noqa: BLE001 - the oracle's own limits, not the reader's
        frames = _pixels(clean)
    for k in range(volume.shape[0]):
        residuals = [affine_fit(volume.array[k], frame)[2] for frame in frames]
        scale = max(float(np.nanmax(np.abs(volume.array[k]))), 1.0)
        assert min(residuals) <= 1e-3 * scale, f"slice {k} matches no frame of {path.name}"


# ------------------------------------------------------------------- tests
def _ct_series(clean: dict[str, Path], mutation, which: int) -> None:  # noqa: ANN001
    with scratch() as work:
        folder, inputs = _mutate_copy(clean["ct-series"], mutation, work, which)
        output = work / "out" / "ct.nii.gz"

        def verify(_) -> None:  # noqa: ANN001
            volume = read_image(folder)
            _check_written(output, volume)
            _check_sane(volume)
            for k, name in enumerate(volume.metadata.extra["files"]):
                ds = pydicom.dcmread(name, force=True)
                slope = float(ds.RescaleSlope) if ds.get("RescaleSlope") not in (None, "") else 1.0
                intercept = float(ds.RescaleIntercept) if ds.get("RescaleIntercept") not in (None, "") else 0.0
                expected = _pixels(Path(name))[0] * slope + intercept
                np.testing.assert_allclose(volume.array[k], expected, rtol=1e-5, atol=1e-3)

        check_contract("ct-series", inputs, ["convert", str(folder), "-o", str(output)], output, verify, mutation)


@fuzz("ct-series", st.tuples(dicom_mutations(), st.integers(0, 2)))
def test_fuzz_ct_series(clean, case) -> None:  # noqa: ANN001
    _ct_series(clean, *case)


@pytest.mark.slow
@fuzz("ct-series", st.tuples(dicom_mutations(), st.integers(0, 2)), slow=True)
def test_fuzz_ct_series_long(clean, case) -> None:  # noqa: ANN001
    _ct_series(clean, *case)


def _multiframe(reader: str, clean: dict[str, Path], mutation) -> None:  # noqa: ANN001
    with scratch() as work:
        path, inputs = _mutate_copy(clean[reader], mutation, work)
        output = work / "out" / "volume.nii.gz"

        def verify(_) -> None:  # noqa: ANN001
            volume = read_image(path)
            _check_written(output, volume)
            _check_sane(volume)
            _check_frames_match_decoding(volume, path, clean[reader])

        check_contract(reader, inputs, ["convert", str(path), "-o", str(output)], output, verify, mutation)


@pytest.mark.parametrize("reader", ["nm", "enhanced-ct", "rtdose"])
def test_fuzz_multiframe(clean, reader) -> None:  # noqa: ANN001
    fuzz(reader, dicom_mutations())(lambda clean, mutation: _multiframe(reader, clean, mutation))(clean)


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["nm", "enhanced-ct", "rtdose"])
def test_fuzz_multiframe_long(clean, reader) -> None:  # noqa: ANN001
    fuzz(reader, dicom_mutations(), slow=True)(lambda clean, mutation: _multiframe(reader, clean, mutation))(clean)


def _seg(clean: dict[str, Path], mutation) -> None:  # noqa: ANN001
    with scratch() as work:
        path, inputs = _mutate_copy(clean["seg"], mutation, work)
        output = work / "out" / "labels.nii.gz"

        def verify(_) -> None:  # noqa: ANN001
            labels = read_image(output)
            assert affine_ok(labels.affine)
            assert set(np.unique(labels.array)) <= {0, 1}
            assert labels.array.any()

        check_contract("seg", inputs, ["mask", str(path), "-o", str(output)], output, verify, mutation)


def _rtstruct(clean: dict[str, Path], mutation) -> None:  # noqa: ANN001
    with scratch() as work:
        path, inputs = _mutate_copy(clean["rtstruct"], mutation, work)
        output = work / "out" / "lesion.nii.gz"
        ct = clean["ct-series"]

        def verify(_) -> None:  # noqa: ANN001
            labels = read_image(output)
            assert labels.same_grid(read_image(ct), atol_mm=1e-4)
            assert set(np.unique(labels.array)) <= {0, 1}

        args = ["mask", f"{path}#Lesion", "--image", str(ct), "-o", str(output)]
        check_contract("rtstruct", inputs, args, output, verify, mutation)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("reader", ["seg", "rtstruct"])
def test_fuzz_dicom_masks(clean, reader, slow) -> None:  # noqa: ANN001
    check = _seg if reader == "seg" else _rtstruct
    fuzz(reader, dicom_mutations([0x00620002, 0x30060020, 0x30060039]), slow=slow)(
        lambda clean, mutation: check(clean, mutation)
    )(clean)


def _research(reader: str, clean: dict[str, Path], mutation) -> None:  # noqa: ANN001
    with scratch() as work:
        path, inputs = _mutate_copy(clean[reader], mutation, work)
        output = work / "out" / "volume.nii.gz"
        command = ["mask", str(path), "-o", str(output)] if reader == "seg.nrrd" else ["convert", str(path), "-o", str(output)]

        def verify(_) -> None:  # noqa: ANN001
            volume = read_image(output)
            assert affine_ok(volume.affine)
            assert np.all(volume.spacing_mm > 0)
            if reader != "seg.nrrd":
                _check_written(output, read_image(path))

        check_contract(reader, inputs, command, output, verify, mutation)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("reader", ["nifti", "nrrd", "seg.nrrd", "mha"])
def test_fuzz_research_formats(clean, reader, slow) -> None:  # noqa: ANN001
    strategy = nifti_mutations() if reader == "nifti" else text_header_mutations()
    fuzz(reader, strategy, slow=slow)(lambda clean, mutation: _research(reader, clean, mutation))(clean)


# ------------------------------------------------------- numbers and points
_NUMBER_TEXT = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "0", "-0", "-1", "1e309", "1e-320", "abc", "", "1,5", "0x10", "--1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(2.0, 8.0).map(lambda v: f"{v:.3f}"),  # plausible values: some runs succeed
    st.floats(-20.0, 20.0).map(lambda v: f"{v:.2f}"),
)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_cli_numbers(clean, slow) -> None:  # noqa: ANN001
    """Numbers and points given on the command line: exit 0 or 2, never 1."""

    @fuzz("cli-numbers", st.tuples(st.integers(0, 2), _NUMBER_TEXT, _NUMBER_TEXT, _NUMBER_TEXT), slow=slow)
    def run(clean, case) -> None:  # noqa: ANN001
        which, a, b, c = case
        with scratch() as work:
            output = work / "out" / "result.nii.gz"
            if which == 0:
                args = ["kernel", "--spacing", a, b, c, "--radius-mm", "3", "-o", str(work / "out" / "k.npy")]
                output = work / "out" / "k.npy"
            elif which == 1:
                args = ["segment", "uptake", "--image", str(clean["nifti"]), "--seed", a, b, c, "-o", str(output)]
            else:
                args = ["kernel", "--spacing", "4", "4", "4", "--density", a, "--radius-mm", b, "--json"]
            result = check_contract("cli-numbers", [clean["nifti"]], args, output if which != 2 else None, None, case)
            if which == 2 and result.code == 0:
                assert "nan" not in result.stdout.lower()

    run(clean)
