"""Transforms applied to points, images and masks: analytic answers."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from workstation.core import EmptyMaskError, InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.registration import (
    jacobian_determinant,
    read_landmarks,
    read_transform,
    transform_points,
    transform_volume,
    write_transform,
)


def _sphere_mask(radius_mm: float, centre=(0.0, 0.0, 0.0), spacing=2.0, n=40) -> Volume:
    affine = affine_from_geometry([-(n - 1) * spacing / 2] * 3, [spacing] * 3)
    vol = Volume(np.zeros((n, n, n), dtype=np.uint8), affine, units=Unit.LABEL)
    idx = np.indices(vol.shape).reshape(3, -1).T
    pts = vol.index_to_world(idx)
    inside = np.linalg.norm(pts - np.asarray(centre), axis=1) <= radius_mm
    vol.array = inside.reshape(vol.shape).astype(np.uint8)
    vol.label_names = {1: "sphere"}
    return vol


def _bspline_composite() -> sitk.Transform:
    ref = sitk.Image([20, 20, 20], sitk.sitkFloat32)
    ref.SetSpacing((5.0, 5.0, 5.0))
    ref.SetOrigin((-50.0, -50.0, -50.0))
    bs = sitk.BSplineTransformInitializer(ref, [3, 3, 3], 3)
    params = np.random.default_rng(3).normal(0.0, 2.0, len(bs.GetParameters()))
    bs.SetParameters(tuple(params))
    rigid = sitk.Euler3DTransform((0, 0, 0), 0.05, -0.03, 0.1, (4.0, -2.0, 7.0))
    return sitk.CompositeTransform([rigid, bs])


def test_points_linear_and_inverse():
    tx = sitk.Euler3DTransform((10.0, 0.0, 0.0), 0.0, 0.0, np.pi / 2, (1.0, 2.0, 3.0))
    p = np.array([[20.0, 0.0, 0.0]])
    # rotation by 90 deg about z around (10,0,0): (20,0,0) -> (10,10,0), then + (1,2,3)
    np.testing.assert_allclose(transform_points(p, tx), [[11.0, 12.0, 3.0]], atol=1e-9)
    np.testing.assert_allclose(transform_points([[11.0, 12.0, 3.0]], tx, inverse=True), p, atol=1e-9)


def test_points_nonlinear_inverse_round_trip():
    tx = _bspline_composite()
    pts = np.random.default_rng(0).uniform(-30, 30, size=(200, 3))
    back = transform_points(transform_points(pts, tx), tx, inverse=True)
    assert np.abs(back - pts).max() < 1e-2  # tolerance_mm 1e-3 per point, with margin


def test_nearest_keeps_labels_and_integer_shift_is_exact():
    mask = _sphere_mask(15.0)
    mask.array[mask.array > 0] = 3
    mask.label_names = {3: "tumour"}
    shift = sitk.TranslationTransform(3, (4.0, 0.0, -6.0))  # exactly 2 and -3 voxels
    out = transform_volume(mask, mask, shift, interpolation="nearest")
    assert out.array.dtype == mask.array.dtype and out.label_names == {3: "tumour"}
    # fixed point x shows moving point x + (4, 0, -6): out[k, j, i] = mask[k - 3, j, i + 2]
    np.testing.assert_array_equal(out.array[3:, :, :-2], mask.array[:-3, :, 2:])


def test_default_interpolation_follows_what_the_volume_is():
    """Labels are never blended by accident: nearest for a label image, linear for an image."""
    mask = _sphere_mask(15.0)
    mask.array[mask.array > 0] = 7
    half = sitk.TranslationTransform(3, (1.0, 0.0, 0.0))  # half a voxel: linear would give 3.5 at the edge
    labels = transform_volume(mask, mask, half)
    assert set(np.unique(labels.array)) == {0, 7} and labels.label_names == mask.label_names
    image = mask.copy_with(array=mask.array.astype(np.float32), units=Unit.BQML, label_names={})
    blended = transform_volume(image, image, half)
    assert np.any((blended.array > 0.5) & (blended.array < 6.5))  # linear at the edge


def test_partial_volume_fraction_conserves_sphere_volume():
    radius = 11.0
    mask = _sphere_mask(radius)
    tx = sitk.Euler3DTransform((0, 0, 0), 0.2, 0.1, -0.3, (1.3, -0.7, 2.1))
    coarse = Volume(np.zeros((16, 16, 16), dtype=np.float32),
                    affine_from_geometry([-22.5] * 3, [3.0, 3.0, 3.0]))
    frac = transform_volume(mask, coarse, tx, interpolation="partial", supersampling=3)
    assert frac.units == Unit.FRACTION and frac.array.min() >= 0.0 and frac.array.max() <= 1.0
    source = mask.array.sum() * mask.voxel_volume_ml  # rigid: the volume is conserved
    volume = frac.array.sum() * coarse.voxel_volume_ml
    # linear interpolation of a 2 mm binary mask on 1 mm sub-voxels: edges average out; 1.5 %
    assert abs(volume / source - 1.0) < 0.015, (volume, source)
    analytic = 4.0 / 3.0 * np.pi * radius**3 / 1000.0
    assert abs(volume / analytic - 1.0) < 0.05  # the 2 mm voxelisation of the sphere itself
    assert ((frac.array > 0) & (frac.array < 1)).any()  # a real partial-volume edge


def test_partial_of_empty_mask_is_an_error():
    mask = _sphere_mask(1.0)
    mask.array[:] = 0
    with pytest.raises(EmptyMaskError):
        transform_volume(mask, mask, None, interpolation="partial")


def test_linear_image_fill_and_reference_frame():
    ct = Volume(np.full((10, 10, 10), 50.0, dtype=np.float32),
                affine_from_geometry([0, 0, 0], [2.0, 2.0, 2.0]), frame_of_reference_uid="1.2",
                units=Unit.HU, modality="CT")
    ref = ct.copy_with(frame_of_reference_uid="9.9")
    out = transform_volume(ct, ref, sitk.TranslationTransform(3, (100.0, 0, 0)))
    assert np.all(out.array == -1000.0)  # CT outside the moving image is air
    assert out.frame_of_reference_uid == "9.9"
    with pytest.raises(InvalidInputError, match="interpolation"):
        transform_volume(ct, ref, None, interpolation="cubic")  # type: ignore[arg-type]


def test_jacobian_of_scaling():
    scale = sitk.ScaleTransform(3, (1.1, 1.0, 0.9))
    ref = Volume(np.zeros((6, 6, 6)), affine_from_geometry([0, 0, 0], [3.0, 3.0, 3.0]))
    jac = jacobian_determinant(scale, ref).array
    np.testing.assert_allclose(jac[1:-1, 1:-1, 1:-1], 1.1 * 0.9, rtol=1e-6)


def test_transform_file_round_trip(tmp_path):
    tx = _bspline_composite()
    path = write_transform(tx, tmp_path / "t.tfm")
    back = read_transform(path)
    pts = np.random.default_rng(1).uniform(-30, 30, size=(20, 3))
    np.testing.assert_allclose(transform_points(pts, back), transform_points(pts, tx), atol=1e-6)
    with pytest.raises(InvalidInputError, match="no such transform"):
        read_transform(tmp_path / "missing.tfm")
    (tmp_path / "bad.tfm").write_text("not a transform\n")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        read_transform(tmp_path / "bad.tfm")


def test_read_landmarks(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text("moving_x,moving_y,moving_z,fixed_x,fixed_y,fixed_z\n1,2,3,4,5,6\n7,8,9,10,11,12\n")
    f, m = read_landmarks(named)
    np.testing.assert_array_equal(f, [[4, 5, 6], [10, 11, 12]])
    np.testing.assert_array_equal(m, [[1, 2, 3], [7, 8, 9]])
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2,3,4,5,6\n")
    f, m = read_landmarks(plain)
    np.testing.assert_array_equal(f, [[1, 2, 3]])
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,z\n1,2,3\n")
    with pytest.raises(InvalidInputError, match="row 2"):
        read_landmarks(bad)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (0.3, -0.2, 0.4)])
def test_jacobian_determinant_on_a_bare_grid_axial_and_oblique(angles):
    """On a grid (no placeholder array), anisotropic, axial or oblique: an affine map's determinant."""
    from workstation.core import Grid

    direction = sitk.Euler3DTransform((0, 0, 0), *angles).GetMatrix()
    grid = Grid.from_geometry((6, 7, 8), (-5.0, 3.0, 10.0), (2.5, 1.5, 0.8),
                              np.array(direction).reshape(3, 3)[:, ::-1], "1.2.3")
    tx = sitk.AffineTransform(3)
    matrix = np.array([[1.1, 0.05, 0.0], [0.0, 0.9, 0.1], [0.02, 0.0, 1.2]])
    tx.SetMatrix(matrix.ravel().tolist())
    jac = jacobian_determinant(tx, grid)
    assert jac.shape == grid.shape and jac.frame_of_reference_uid == "1.2.3"
    np.testing.assert_allclose(jac.affine, grid.affine)
    # a constant matrix: its determinant at every voxel inside the outer faces (ITK's one-sided
    # differences there see half a step); float32 output. Before the direction was accounted
    # for, this oblique grid gave 1.232 for 1.188.
    np.testing.assert_allclose(jac.array[1:-1, 1:-1, 1:-1], np.linalg.det(matrix), rtol=1e-5)
