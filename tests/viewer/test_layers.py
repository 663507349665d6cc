"""Layers in patient space: napari world coordinates equal Volume.index_to_world (z, y, x)."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import InvalidInputError, Unit, Volume, affine_from_geometry
from workstation.viewer import (
    dose_layer,
    functional_layer,
    isodose_layer,
    labels_layer,
    layer_geometry,
    volume_from_layer,
    volume_layer,
    window_limits,
)

pytestmark = pytest.mark.gui

# Geometry is computed in float64 by napari and here: 1e-6 mm is far below any voxel.
ATOL_MM = 1e-6


def _napari_layer(layer_data):
    from napari.layers import Image, Labels

    data, kwargs, kind = layer_data
    cls = {"image": Image, "labels": Labels}[kind]
    return cls(data, **kwargs)


def _random_indices(shape, rng, n=20):
    return rng.uniform(0, 1, size=(n, 3)) * (np.array(shape) - 1)


def test_axis_aligned_volume_uses_scale_and_translate(study, rng):
    ct = study["ct"]
    data, kwargs, kind = volume_layer(ct)
    assert kind == "image" and "affine" not in kwargs
    assert kwargs["scale"] == pytest.approx((3.0, 1.5, 1.25))
    assert kwargs["translate"] == pytest.approx((100.0, -40.0, -50.0))  # (z, y, x) of the origin
    layer = _napari_layer((data, kwargs, kind))
    for idx in _random_indices(ct.shape, rng):
        np.testing.assert_allclose(layer.data_to_world(idx), ct.index_to_world(idx)[::-1], atol=ATOL_MM)


def test_oblique_volume_uses_affine(oblique_direction, rng):
    vol = Volume(
        np.zeros((5, 6, 7), np.float32),
        affine_from_geometry([10.0, -20.0, 30.0], [2.0, 0.9, 0.8], oblique_direction),
        units=Unit.HU,
    )
    data, kwargs, kind = volume_layer(vol)
    assert "affine" in kwargs and "scale" not in kwargs
    layer = _napari_layer((data, kwargs, kind))
    for idx in _random_indices(vol.shape, rng):
        np.testing.assert_allclose(layer.data_to_world(idx), vol.index_to_world(idx)[::-1], atol=ATOL_MM)
    # A point of patient space maps back to the same continuous index.
    point = vol.index_to_world((2.5, 1.0, 3.0))
    np.testing.assert_allclose(layer.world_to_data(point[::-1]), (2.5, 1.0, 3.0), atol=1e-9)


def test_flipped_axis_uses_affine(rng):
    direction = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # x runs right to left
    vol = Volume(np.zeros((4, 5, 6)), affine_from_geometry([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], direction))
    geometry = layer_geometry(vol)
    assert "affine" in geometry
    layer = _napari_layer(volume_layer(vol))
    for idx in _random_indices(vol.shape, rng):
        np.testing.assert_allclose(layer.data_to_world(idx), vol.index_to_world(idx)[::-1], atol=ATOL_MM)


def test_volume_from_layer_round_trip(study, oblique_direction):
    for vol in (
        study["lesion"],
        Volume(np.ones((3, 4, 5), np.uint8), affine_from_geometry([1, 2, 3], [2, 1, 1], oblique_direction)),
    ):
        layer = _napari_layer(labels_layer(vol))
        _, state, _ = layer.as_layer_data_tuple()
        back = volume_from_layer(layer.data, state, units=Unit.LABEL)
        np.testing.assert_allclose(back.affine, vol.affine, atol=ATOL_MM)
        assert back.units == Unit.LABEL


def test_window_presets_are_the_published_ones():
    # Radiopaedia "Windowing (CT)": liver W150 L30, lung W1500 L-600, bone W1800 L400, soft tissue W400 L50.
    assert window_limits("liver") == (-45.0, 105.0)
    assert window_limits("lung") == (-1350.0, 150.0)
    assert window_limits("bone") == (-500.0, 1300.0)
    assert window_limits("soft-tissue") == (-150.0, 250.0)
    with pytest.raises(InvalidInputError, match="brain"):
        window_limits("brain")


def test_dose_layer_threshold_and_colormap(study):
    _, kwargs, kind = dose_layer(study["dose"], threshold_gy=2.0)
    assert kind == "image" and kwargs["contrast_limits"] == (2.0, 60.0)
    colors = kwargs["colormap"].colors
    assert colors[0, 3] == 0.0 and np.all(colors[1:, 3] == 1.0)  # transparent at and below threshold
    with pytest.raises(InvalidInputError, match="threshold"):
        dose_layer(study["dose"], threshold_gy=70.0)


def test_rigid_registration_is_applied_through_the_affine(study, rng):
    import SimpleITK as sitk

    spect = study["dose"].copy_with(units=Unit.BQML, modality="NM")
    # Fixed -> moving (ITK): rotate 10 degrees about z around a centre, then shift.
    tx = sitk.Euler3DTransform((-10.0, 5.0, 110.0), 0.0, 0.0, np.deg2rad(10.0), (4.0, -3.0, 7.5))
    data, kwargs, _ = functional_layer(spect, transform=tx)
    assert data is spect.array  # no resampling
    layer = _napari_layer((data, kwargs, "image"))
    for idx in _random_indices(spect.shape, rng):
        fixed_lps = layer.data_to_world(idx)[::-1]
        np.testing.assert_allclose(tx.TransformPoint(tuple(fixed_lps)), spect.index_to_world(idx), atol=1e-6)


def test_deformable_registration_resamples_the_functional_image_only(study):
    import SimpleITK as sitk

    ct, spect = study["ct"], study["dose"].copy_with(units=Unit.BQML, modality="NM")
    field = sitk.Image([8, 8, 8], sitk.sitkVectorFloat64, 3)
    field.SetSpacing((20.0, 20.0, 20.0))
    field.SetOrigin((-80.0, -70.0, 60.0))
    arr = sitk.GetArrayFromImage(field)
    arr[..., 0] = 2.0 * np.sin(np.arange(8) / 2.0)[None, None, :]  # smooth, non-linear x shift (mm)
    disp = sitk.GetImageFromArray(arr, isVector=True)
    disp.CopyInformation(field)
    tx = sitk.DisplacementFieldTransform(disp)
    data, kwargs, _ = functional_layer(spect, transform=tx, reference=ct)
    assert kwargs["metadata"]["resampled"] is True
    assert data.shape == spect.shape  # SPECT voxel size over the CT extent (same here)
    with pytest.raises(InvalidInputError, match="reference"):
        functional_layer(spect, transform=tx)


def test_isodose_lines_are_the_boundaries_of_each_level(study):
    zz, yy, xx = np.indices(study["dose"].shape)
    r = np.hypot((yy - 32) * 1.5, (xx - 40) * 1.25)
    dose = study["dose"].copy_with(array=(100.0 * np.exp(-(r**2) / (2 * 15.0**2))).astype(np.float32))
    lines, kwargs, kind = isodose_layer(dose, [50.0, 20.0])
    assert kind == "labels" and kwargs["features"]["name"][1:] == ["20 Gy", "50 Gy"]
    for n, level in ((1, 20.0), (2, 50.0)):
        on_line = lines == n
        assert on_line.any()
        assert np.all(dose.array[on_line] >= level)
        # Each line voxel has a 4-neighbour in its slice below the level (or above the next level).
        below = np.zeros_like(on_line)
        d = dose.array
        below[:, 1:, :] |= d[:, :-1, :] < level
        below[:, :-1, :] |= d[:, 1:, :] < level
        below[:, :, 1:] |= d[:, :, :-1] < level
        below[:, :, :-1] |= d[:, :, 1:] < level
        assert np.all(below[on_line])
    # The 50 Gy line lies on the analytic circle r = 15 sqrt(2 ln 2) mm, within one voxel diagonal.
    r50 = 15.0 * np.sqrt(2 * np.log(2.0))
    assert np.all(np.abs(r[lines == 2] - r50) <= np.hypot(1.5, 1.25))
    with pytest.raises(InvalidInputError, match="positive"):
        isodose_layer(dose, [0.0, 10.0])


def test_labels_layer_names_and_colours(study):
    _, kwargs, kind = labels_layer(study["lesion"], contour=2)
    assert kind == "labels"
    assert kwargs["features"]["name"] == ["background", "lesion"]
    assert kwargs["metadata"]["contour"] == 2
    cmap = kwargs["colormap"]
    assert cmap.color_dict[0][3] == 0.0 and cmap.color_dict[1][3] == 1.0


def test_out_of_slice_rotation_resamples_the_functional_image_exactly(study):
    import SimpleITK as sitk

    arr = np.zeros(study["dose"].shape, np.float32)
    arr[12, 30, 40] = 1000.0  # a point source
    spect = study["dose"].copy_with(array=arr, units=Unit.BQML, modality="NM")
    source_lps = spect.index_to_world((12, 30, 40))
    tx = sitk.Euler3DTransform(tuple(source_lps + 5.0), np.deg2rad(15.0), 0.0, 0.0, (2.0, 0.0, -3.0))
    data, kwargs, _ = functional_layer(spect, transform=tx)
    assert kwargs["metadata"]["resampled"] is True and "affine" not in kwargs
    layer = _napari_layer((data, kwargs, "image"))
    peak = np.unravel_index(int(np.argmax(data)), data.shape)
    shown_lps = layer.data_to_world(peak)[::-1]
    expected = np.array(tx.GetInverse().TransformPoint(tuple(source_lps)))
    # Linear interpolation spreads the point; its peak voxel is within one voxel diagonal.
    assert np.linalg.norm(shown_lps - expected) <= np.linalg.norm(spect.spacing_mm)


def test_oblique_grid_reports_its_display_error(oblique_direction, study):
    vol = Volume(np.zeros((5, 6, 7)), affine_from_geometry([0, 0, 0], [2.0, 1.0, 1.0], oblique_direction))
    _, kwargs, _ = volume_layer(vol)
    assert kwargs["metadata"]["display_error_mm"] > 0.5
    _, kwargs, _ = volume_layer(study["ct"])
    assert "display_error_mm" not in kwargs["metadata"]
