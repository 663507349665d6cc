"""The MASK syntax: plain images, 3D Slicer .seg.nrrd, DICOM SEG, RTSTRUCT, resampling, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.io.mask_factory import circle, dicom_reference, write_nrrd, write_rtstruct
from workstation.core import (
    EmptyMaskError,
    GeometryMismatchError,
    InvalidInputError,
    NoOverlapError,
    Unit,
    Volume,
    affine_from_geometry,
)
from workstation.io import write_image
from workstation.io._polygon import fill_even_odd
from workstation.io.masks import read_mask, split_mask_spec

# --------------------------------------------------------------------------- helpers
# NRRD index axes x, y, z (rows of the matrix) in LPS millimetres: an oblique, anisotropic grid.
_ROT = np.array(
    [[np.cos(0.3), np.sin(0.3), 0.0], [-np.sin(0.3), np.cos(0.3), 0.0], [0.0, 0.0, 1.0]]
)
_DIRS_LPS = _ROT * np.array([[0.9], [1.1], [2.5]])  # spacing 0.9, 1.1, 2.5 mm
_ORIGIN_LPS = np.array([-20.0, 35.0, -110.0])
_RAS = np.array([-1.0, -1.0, 1.0])


def _expected_affine() -> np.ndarray:
    """Index (k, j, i) → LPS for the NRRD grid above (array axes reverse the NRRD axes)."""
    affine = np.eye(4)
    affine[:3, 0] = _DIRS_LPS[2]
    affine[:3, 1] = _DIRS_LPS[1]
    affine[:3, 2] = _DIRS_LPS[0]
    affine[:3, 3] = _ORIGIN_LPS
    return affine


def _slicer_fields(segments: list[tuple[str, int, int]]) -> dict[str, str]:
    fields = {}
    for n, (name, layer, value) in enumerate(segments):
        fields[f"Segment{n}_ID"] = f"Segment_{n + 1}"
        fields[f"Segment{n}_Name"] = name
        fields[f"Segment{n}_Layer"] = str(layer)
        fields[f"Segment{n}_LabelValue"] = str(value)
    return fields


def _shared_layer(rng: np.random.Generator) -> np.ndarray:
    arr = np.zeros((5, 7, 9), np.uint8)
    arr[1:4, 2:5, 2:6] = 1
    arr[2, 3, 7] = 4
    return arr


# ------------------------------------------------------------------- spec parsing
def test_split_mask_spec(tmp_path: Path) -> None:
    assert split_mask_spec("a/b.seg.nrrd#Liver") == (Path("a/b.seg.nrrd"), "Liver")
    assert split_mask_spec("a/b.nii.gz") == (Path("a/b.nii.gz"), None)
    odd = tmp_path / "x#1.nii.gz"
    odd.write_bytes(b"")
    assert split_mask_spec(odd) == (odd, None)
    with pytest.raises(InvalidInputError, match="empty segment name"):
        split_mask_spec("a.seg.nrrd#")


def test_missing_file_names_the_mask(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nope.seg.nrrd#Liver"):
        read_mask(tmp_path / "nope.seg.nrrd#Liver")


# ------------------------------------------------------------------ Slicer .seg.nrrd
@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior"])
def test_seg_nrrd_shared_layer_geometry_and_names(
    tmp_path: Path, rng: np.random.Generator, space: str
) -> None:
    arr = _shared_layer(rng)
    flip = _RAS if space.startswith("right") else np.ones(3)
    path = write_nrrd(
        tmp_path / "s.seg.nrrd",
        arr,
        _DIRS_LPS * flip,
        _ORIGIN_LPS * flip,
        space=space,
        fields=_slicer_fields([("Liver", 0, 1), ("Tumor", 0, 4)]),
    )
    labels = read_mask(path)
    np.testing.assert_allclose(labels.affine, _expected_affine(), atol=1e-9)
    assert labels.units == Unit.LABEL
    assert labels.label_names == {1: "Liver", 4: "Tumor"}
    np.testing.assert_array_equal(labels.array, arr)
    tumor = read_mask(f"{path}#Tumor")
    assert tumor.label_names == {1: "Tumor"} and int(tumor.array.sum()) == 1
    assert tumor.array[2, 3, 7] == 1
    # Case-insensitive fallback.
    assert read_mask(f"{path}#liver").array.sum() == 36


def test_seg_nrrd_one_segment_per_layer_overlapping(tmp_path: Path) -> None:
    data = np.zeros((5, 7, 9, 2), np.uint8)
    data[1:4, 2:5, 2:6, 0] = 1  # "Liver" on layer 0
    data[2:4, 3:6, 4:8, 1] = 1  # "Ablation" on layer 1, overlapping the liver
    path = write_nrrd(
        tmp_path / "l.seg.nrrd",
        data,
        _DIRS_LPS * _RAS,
        _ORIGIN_LPS * _RAS,
        space="right-anterior-superior",
        layers_last=True,
        fields=_slicer_fields([("Liver", 0, 1), ("Ablation", 1, 1)]),
    )
    liver = read_mask(f"{path}#Liver")
    ablation = read_mask(f"{path}#Ablation")
    np.testing.assert_allclose(liver.affine, _expected_affine(), atol=1e-9)
    np.testing.assert_array_equal(liver.array, data[..., 0])
    np.testing.assert_array_equal(ablation.array, data[..., 1])
    both = read_mask(path)
    assert both.label_names == {1: "Liver", 2: "Ablation"}
    np.testing.assert_array_equal(both.array != 0, data.any(axis=-1))
    assert any("overlap" in w for w in both.metadata.warnings)


def test_seg_nrrd_without_layer_fields(tmp_path: Path) -> None:
    """Files from Slicer < 4.11: no LabelValue/Layer; 3D → value = index + 1."""
    arr = np.zeros((3, 4, 5), np.uint8)
    arr[1, 1, 1] = 1
    arr[1, 2, 2] = 2
    path = write_nrrd(
        tmp_path / "old.seg.nrrd",
        arr,
        np.eye(3),
        [0, 0, 0],
        fields={"Segment0_Name": "A", "Segment1_Name": "B"},
    )
    assert read_mask(f"{path}#B").array.sum() == 1
    assert read_mask(f"{path}#B").array[1, 2, 2] == 1


def test_unknown_and_empty_segments(tmp_path: Path, rng: np.random.Generator) -> None:
    path = write_nrrd(
        tmp_path / "s.seg.nrrd",
        _shared_layer(rng),
        np.eye(3),
        [0, 0, 0],
        fields=_slicer_fields([("Liver", 0, 1), ("Tumor", 0, 4), ("Spleen", 0, 9)]),
    )
    with pytest.raises(
        InvalidInputError, match=r"no segment named 'Kidney'.*'Liver', 'Tumor', 'Spleen'"
    ):
        read_mask(f"{path}#Kidney")
    with pytest.raises(EmptyMaskError, match="Spleen"):
        read_mask(f"{path}#Spleen")


# -------------------------------------------------------------------- plain images
def test_plain_image_label_values_and_resampling(tmp_path: Path) -> None:
    # A label image on a coarse grid; the reference is finer and shifted.
    coarse = np.zeros((4, 6, 6), np.uint8)
    coarse[1:3, 2:4, 2:4] = 3
    mask_vol = Volume(
        coarse, affine_from_geometry([0.0, 0.0, 0.0], [4.0, 4.0, 4.0]), units=Unit.LABEL
    )
    path = write_image(mask_vol, tmp_path / "m.nii.gz")
    ref = Volume(
        np.zeros((10, 14, 14), np.float32),
        affine_from_geometry([-1.0, -1.0, -2.0], [2.0, 2.0, 2.0]),
    )
    out = read_mask(path, reference=ref)
    assert out.same_grid(ref)
    assert set(np.unique(out.array)) == {0, 3}
    # Analytic: a reference voxel centre x is inside when its nearest coarse voxel is labelled,
    # i.e. when 2*4 - 2 <= x < 4*4 - 2 along each axis (coarse voxels 2..3 span [6, 14) mm).
    centres = ref.index_to_world(np.stack(np.indices(ref.shape), axis=-1))
    lo = np.array([6.0, 6.0, 2.0])  # x, y from voxels 2..3, z from voxels 1..2: [2, 10)
    hi = np.array([14.0, 14.0, 10.0])
    expected = np.all((centres >= lo) & (centres < hi), axis=-1)
    np.testing.assert_array_equal(out.array == 3, expected)
    assert read_mask(f"{path}#3").array.sum() == 8


def test_float_image_non_zero_is_inside(tmp_path: Path) -> None:
    arr = np.zeros((3, 4, 5), np.float32)
    arr[1, 1, 1:3] = [0.25, -2.0]
    path = write_image(Volume(arr, np.eye(4)), tmp_path / "f.nrrd")
    out = read_mask(path)
    assert out.array.dtype == np.uint8 and out.array.sum() == 2


def test_disjoint_mask_is_an_error(tmp_path: Path, ct_volume: Volume) -> None:
    arr = np.ones((3, 3, 3), np.uint8)
    far = Volume(arr, affine_from_geometry([500.0, 500.0, 500.0], [1.0, 1.0, 1.0]))
    path = write_image(far, tmp_path / "far.nii.gz")
    with pytest.raises(NoOverlapError, match=r"far\.nii\.gz does not overlap"):
        read_mask(path, reference=ct_volume)


def test_mask_grid_overlaps_but_voxels_outside(tmp_path: Path, ct_volume: Volume) -> None:
    arr = np.zeros((40, 40, 40), np.uint8)
    arr[-1, -1, -1] = 1  # the only voxel lies far from the image
    big = Volume(arr, affine_from_geometry([-60.0, -90.0, 100.0], [5.0, 5.0, 5.0]))
    path = write_image(big, tmp_path / "big.nii.gz")
    with pytest.raises(NoOverlapError, match="none of its voxels"):
        read_mask(path, reference=ct_volume)


def test_empty_image_mask(tmp_path: Path) -> None:
    path = write_image(Volume(np.zeros((2, 3, 4), np.uint8), np.eye(4)), tmp_path / "e.nii.gz")
    with pytest.raises(EmptyMaskError, match="empty"):
        read_mask(path)


# ------------------------------------------------------------------- RTSTRUCT
def _pixel_area_tolerance(perimeter_mm: float, pixel_mm: float) -> float:
    # Pixel-centre sampling can misclassify only pixels whose centre lies within half a
    # pixel diagonal of the boundary: |error| <= perimeter × pixel diagonal / 2 (mm²).
    return perimeter_mm * pixel_mm * np.sqrt(2.0) / 2.0


@pytest.mark.parametrize("oblique", [False, True])
def test_rtstruct_ring_with_hole_even_odd(
    tmp_path: Path, rng: np.random.Generator, oblique_direction: np.ndarray, oblique: bool
) -> None:
    direction = oblique_direction if oblique else None
    grid = Volume(
        np.zeros((6, 64, 64), np.int16),
        affine_from_geometry([-30.0, -30.0, 50.0], [3.0, 1.0, 1.0], direction),
        frame_of_reference_uid="1.2.3.4.5",
    )
    ref = dicom_reference(grid)
    u, v = ref.direction[:, 2], ref.direction[:, 1]
    centre = ref.index_to_world([2, 31.3, 32.6])  # in slice 2's plane, off the pixel grid
    outer, inner = circle(centre, 20.0, 360, u, v), circle(centre, 9.0, 360, u, v)
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Ring": [outer, inner], "Disk": [outer]})
    ring = read_mask(f"{path}#Ring", reference=ref)
    assert ring.same_grid(ref) and ring.label_names == {1: "Ring"}
    assert ring.array[[0, 1, 3, 4, 5]].sum() == 0
    area = float(ring.array[2].sum())  # pixels of 1 mm²
    analytic = np.pi * (20.0**2 - 9.0**2)
    assert abs(area - analytic) <= _pixel_area_tolerance(2 * np.pi * (20.0 + 9.0), 1.0)
    # The hole is empty, the ring is filled.
    centre_index = np.rint(ref.world_to_index(centre)).astype(int)
    assert ring.array[tuple(centre_index)] == 0
    assert ring.array[2, centre_index[1], centre_index[2] + 14] == 1
    disk = read_mask(f"{path}#Disk", reference=ref)
    assert abs(float(disk.array.sum()) - np.pi * 400.0) <= _pixel_area_tolerance(
        2 * np.pi * 20, 1.0
    )
    both = read_mask(path, reference=ref)
    assert both.label_names == {1: "Ring", 2: "Disk"}
    np.testing.assert_array_equal(both.array != 0, disk.array != 0)


def test_rtstruct_contours_go_to_the_nearest_slice(tmp_path: Path) -> None:
    ref = dicom_reference(
        Volume(
            np.zeros((5, 32, 32), np.int16), affine_from_geometry([0.0, 0.0, 0.0], [4.0, 1.0, 1.0])
        )
    )
    square = np.array([[5.0, 5.0, 0.0], [15.0, 5.0, 0.0], [15.0, 15.0, 0.0], [5.0, 15.0, 0.0]])
    contours = {
        "near1": [square + [0, 0, 4.0 + 1.5]],  # 1.5 mm above slice 1 (spacing 4): slice 1
        "near2": [square + [0, 0, 4.0 + 2.5]],  # 2.5 mm above slice 1: slice 2
        # Two contours of one ROI on planes 1 mm apart both fall on slice 3: united, not cancelled.
        "thin": [square + [0, 0, 11.5], square + [0, 0, 12.5]],
    }
    path = write_rtstruct(tmp_path / "rs.dcm", ref, contours)
    for name, expected_slice in [("near1", 1), ("near2", 2), ("thin", 3)]:
        mask = read_mask(f"{path}#{name}", reference=ref)
        assert np.flatnonzero(mask.array.any(axis=(1, 2))).tolist() == [expected_slice]
        # Half-open edges: a 10 × 10 mm square with corners on pixel centres covers 100 pixels.
        assert mask.array.sum() == 100


def test_rtstruct_needs_reference_and_planar_contours(tmp_path: Path) -> None:
    ref = dicom_reference(
        Volume(
            np.zeros((5, 20, 20), np.int16), affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0])
        )
    )
    warped = np.array([[2.0, 2.0, 0.0], [12.0, 2.0, 6.0], [12.0, 12.0, 0.0], [2.0, 12.0, 6.0]])
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Warped": [warped]})
    with pytest.raises(InvalidInputError, match="needs the image"):
        read_mask(f"{path}#Warped")
    with pytest.raises(GeometryMismatchError, match="not planar"):
        read_mask(f"{path}#Warped", reference=ref)


def test_rtstruct_axial_contours_on_an_oblique_grid(
    tmp_path: Path, oblique_direction: np.ndarray
) -> None:
    """Axial contours of a sphere used on an oblique grid: rasterized in their planes, resampled."""
    grid = Volume(
        np.zeros((24, 40, 40), np.int16),
        affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0], oblique_direction),
    )
    ref = dicom_reference(grid)
    centre = ref.index_to_world([11.5, 19.5, 19.5])
    radius, step = 12.0, 1.5
    heights = np.arange(-radius + step / 2, radius, step)
    contours = [circle(centre + [0, 0, h], np.sqrt(radius**2 - h**2), 240) for h in heights]
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Sphere": contours})
    mask = read_mask(f"{path}#Sphere", reference=ref)
    assert any("not parallel" in w for w in mask.metadata.warnings)
    distance = np.linalg.norm(
        ref.index_to_world(np.stack(np.indices(ref.shape), axis=-1)) - centre, axis=-1
    )
    wrong = (mask.array != 0) != (distance <= radius)
    # Only voxels near the surface may differ: the planes are sampled by nearest neighbour
    # (half the 1.5 mm contour spacing), pixel centres of the auxiliary grid are tested
    # (half its 1 mm pixel diagonal, 0.71 mm), and the reference takes the nearest auxiliary
    # voxel (half its 1.5 × 1 × 1 mm diagonal, 1.03 mm). Observed: 0.89 mm.
    assert np.all(np.abs(distance[wrong] - radius) <= 0.75 + 0.71 + 1.03)
    volume = float(mask.array.sum()) * ref.voxel_volume_ml * 1000
    # Surface errors mostly cancel: observed -0.3 %; a 1 mm surface shell is 25 % of the volume.
    assert abs(volume - 4 / 3 * np.pi * radius**3) <= 0.02 * 4 / 3 * np.pi * radius**3


def test_rtstruct_unknown_roi_and_empty_roi(tmp_path: Path) -> None:
    ref = dicom_reference(
        Volume(
            np.zeros((3, 20, 20), np.int16), affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0])
        )
    )
    far = circle([5.0, 5.0, 200.0], 3.0)
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Far": [far], "None": []})
    with pytest.raises(InvalidInputError, match="available: 'Far', 'None'"):
        read_mask(f"{path}#Liver", reference=ref)
    with pytest.raises(EmptyMaskError, match="'Far'"):
        read_mask(f"{path}#Far", reference=ref)


# ---------------------------------------------------------------- DICOM SEG extras
def test_fractional_seg_threshold_and_partial_coverage(tmp_path: Path) -> None:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    grid = Volume(
        np.zeros((8, 10, 12), np.int16),
        affine_from_geometry([-5.0, -5.0, 20.0], [2.0, 1.0, 1.0]),
        frame_of_reference_uid="1.2.3.4.6",
    )
    ref = dicom_reference(grid)
    fraction = np.zeros(grid.shape, np.float32)
    fraction[3, 2:6, 2:6] = 0.8
    fraction[4, 2:6, 2:6] = 0.3  # below one half: outside
    fraction[5, 2:6, 2:6] = 0.5  # exactly one half: inside
    volume = hd.Volume(
        fraction,
        ref.affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=ref.frame_of_reference_uid,
    )
    seg = hd.seg.Segmentation(
        source_images=ref.metadata.dicom_headers,
        pixel_array=volume,
        segmentation_type="FRACTIONAL",
        segment_descriptions=[
            hd.seg.SegmentDescription(
                1, "Tumor", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm, "MANUAL"
            )
        ],
        series_instance_uid=hd.UID(),
        series_number=5,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        max_fractional_value=100,
    )
    path = tmp_path / "frac.dcm"
    seg.save_as(path)
    assert seg.NumberOfFrames == 3  # the SEG covers only 3 of the 8 slices
    mask = read_mask(f"{path}#Tumor", reference=ref)
    assert mask.same_grid(ref)
    expected = np.zeros(grid.shape, bool)
    expected[3, 2:6, 2:6] = expected[5, 2:6, 2:6] = True
    np.testing.assert_array_equal(mask.array.astype(bool), expected)


# -------------------------------------------------------------- polygon filling
def test_fill_even_odd_self_intersecting_and_nested() -> None:
    square = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [10.0, 0.0]])
    inner = square * 0.4 + 3.0
    island = square * 0.1 + 4.5
    filled = fill_even_odd([square, inner, island], (12, 12))
    assert filled.sum() == 100 - 16 + 1
    assert filled[1, 1] and not filled[4, 4] and filled[5, 5]
    # Hourglass (edges cross at the centre): the upper and lower lobes are inside, the sides not.
    bow = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]])
    lobes = fill_even_odd([bow], (11, 11))
    assert lobes[1, 5] and lobes[9, 5] and not lobes[5, 1] and not lobes[5, 9]


def test_rtstruct_dense_contours_give_the_cross_section_at_each_slice_centre(
    tmp_path: Path,
) -> None:
    """A sphere contoured every 1 mm, used on 4 mm slices: each slice takes the plane at its centre."""
    ref = dicom_reference(
        Volume(
            np.zeros((9, 48, 48), np.int16),
            affine_from_geometry([-24.0, -24.0, -16.0], [4.0, 1.0, 1.0]),
        )
    )
    radius = 12.0
    planes = np.arange(-11.0, 12.0, 1.0)
    contours = [circle([0.3, -0.2, z], np.sqrt(radius**2 - z**2), 240) for z in planes]
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Sphere": contours})
    mask = read_mask(f"{path}#Sphere", reference=ref)
    for k in range(9):
        z = -16.0 + 4.0 * k
        r2 = radius**2 - z**2
        expected = np.pi * r2 if r2 > 0 and abs(z) <= 11.5 else 0.0
        tol = _pixel_area_tolerance(2 * np.pi * np.sqrt(max(r2, 0.0)), 1.0) + 1.0
        assert abs(float(mask.array[k].sum()) - expected) <= tol, (k, z)


def test_rtstruct_sparse_contours_fill_the_slices_between(tmp_path: Path) -> None:
    """Contours every 3 mm on 1 mm slices: slices within 1.5 mm of a contour plane take it."""
    ref = dicom_reference(
        Volume(
            np.zeros((26, 24, 24), np.int16),
            affine_from_geometry([-12.0, -12.0, -5.0], [1.0, 1.0, 1.0]),
        )
    )
    contours = [circle([0.0, 0.0, z], 6.0, 120) for z in (0.0, 3.0, 6.0, 9.0, 12.0)]
    path = write_rtstruct(tmp_path / "rs.dcm", ref, {"Cylinder": contours})
    mask = read_mask(f"{path}#Cylinder", reference=ref)
    filled = np.flatnonzero(mask.array.any(axis=(1, 2)))
    # z = -1 … 13 mm are slices 4 … 18: the contours' extent plus half a spacing at each end.
    assert filled.tolist() == list(range(4, 19))


def test_intensity_image_as_mask_is_binary(tmp_path: Path, rng: np.random.Generator) -> None:
    """An integer image with thousands of values (counts) is not a label map: non-zero = inside."""
    counts = rng.integers(0, 5000, size=(6, 30, 30)).astype(np.uint16)
    path = write_image(Volume(counts, np.eye(4)), tmp_path / "counts.nii.gz")
    mask = read_mask(path)
    assert mask.label_names == {1: "label 1"}
    np.testing.assert_array_equal(mask.array, (counts != 0).astype(np.uint8))


def test_mask_needs_reference_says_which_specs_need_an_image(tmp_path: Path) -> None:
    """Only an RT Structure Set needs the image grid; every other MASK has its own (and is read without)."""
    from workstation.core import Grid
    from workstation.io import mask_needs_reference

    grid = Volume(np.zeros((3, 20, 20), np.int16), affine_from_geometry([0.0, 0.0, 0.0], [2.0, 1.0, 1.0]))
    ref = dicom_reference(grid)
    rs = write_rtstruct(tmp_path / "rs.dcm", ref, {"Disk": [circle([9.5, 9.5, 2.0], 5.0)]})
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[1, 5:15, 5:15] = 1
    nifti = tmp_path / "labels.nii.gz"
    write_image(Volume(labels, grid.affine, units=Unit.LABEL), nifti)
    nrrd = write_nrrd(tmp_path / "s.seg.nrrd", _shared_layer(np.random.default_rng(0)), _DIRS_LPS, _ORIGIN_LPS,
                      fields=_slicer_fields([("Liver", 0, 1)]))

    assert mask_needs_reference(rs) and mask_needs_reference(f"{rs}#Disk")
    for spec in (nifti, f"{nifti}#1", nrrd, f"{nrrd}#Liver", tmp_path / "missing.nii.gz"):
        assert not mask_needs_reference(spec)
    assert read_mask(f"{nifti}#1").array.sum() == 100  # read without a reference
    with pytest.raises(InvalidInputError, match="needs the image"):
        read_mask(f"{rs}#Disk")
    # a Grid is a reference as good as an image: same voxels as with the image itself
    on_grid = read_mask(f"{rs}#Disk", reference=Grid(ref.shape, ref.affine))
    np.testing.assert_array_equal(on_grid.array, read_mask(f"{rs}#Disk", reference=ref).array)
    assert on_grid.array.sum() > 0
