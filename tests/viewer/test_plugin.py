"""The npe2 plugin: manifest, reader, writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workstation.core import InvalidInputError, Unit
from workstation.viewer._plugin import get_reader, write_labels_image, write_labels_seg

pytestmark = pytest.mark.gui


def test_manifest_is_valid_and_discovered():
    import npe2

    manifest = npe2.PluginManifest.from_distribution("workstation")
    assert manifest.name == "workstation"
    commands = {c.id for c in manifest.contributions.commands}
    for contribution in manifest.contributions.commands:
        # every python_name resolves (a widget whose backend is missing must not be declared)
        module, _, attr = contribution.python_name.partition(":")
        mod = __import__(module, fromlist=[attr])
        assert hasattr(mod, attr), contribution.python_name
    assert {"workstation.get_reader", "workstation.write_labels_image", "workstation.sample_sirt"} <= commands


def test_reader_places_nifti_layers_in_patient_space(study, study_files):
    reader = get_reader(study_files["ct"])
    assert reader is not None
    [(data, kwargs, kind)] = reader(study_files["ct"])
    ct = study["ct"]
    assert kind == "image" and data.shape == ct.shape
    assert kwargs["scale"] == pytest.approx((3.0, 1.5, 1.25))
    assert kwargs["translate"] == pytest.approx(tuple(ct.origin_mm[::-1]))
    assert kwargs["contrast_limits"] == (-150.0, 250.0)  # CT: soft-tissue window
    [(lab, lkw, lkind)] = reader(study_files["lesion"])
    assert lkind == "labels" and int(lab.max()) == 1
    assert lkw["translate"] == pytest.approx(tuple(ct.origin_mm[::-1]))


def test_reader_declines_other_files(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert get_reader(str(other)) is None
    assert get_reader(str(tmp_path)) is None  # a folder without DICOM


def test_reader_through_napari(make_napari_viewer, study_files, study):
    viewer = make_napari_viewer()
    layers = viewer.open(study_files["ct"], plugin="workstation")
    assert len(layers) == 1
    idx = (3, 10, 20)
    np.testing.assert_allclose(layers[0].data_to_world(idx), study["ct"].index_to_world(idx)[::-1])


def test_seg_nrrd_reader_keeps_segment_names(study, tmp_path):
    import SimpleITK as sitk

    lab = study["lesion"].array.astype(np.uint8) * 3
    image = study["lesion"].copy_with(array=lab).to_sitk()
    image.SetMetaData("Segment0_Name", "tumour A")
    image.SetMetaData("Segment0_LabelValue", "3")
    image.SetMetaData("Segment0_Layer", "0")
    image.SetMetaData("Segment0_ID", "Segment_1")
    path = tmp_path / "lesions.seg.nrrd"
    sitk.WriteImage(image, str(path))
    [(data, kwargs, kind)] = get_reader(str(path))(str(path))
    assert kind == "labels"
    assert "tumour A" in kwargs["features"]["name"]
    assert kwargs["translate"] == pytest.approx(tuple(study["lesion"].origin_mm[::-1]))


def test_labels_writer_round_trip(make_napari_viewer, study, tmp_path):
    from workstation.io.formats import read_sitk_image
    from workstation.viewer import add_layer, labels_layer

    viewer = make_napari_viewer()
    expected_sum = int(study["lesion"].array.sum()) + 2
    layer = add_layer(viewer, labels_layer(study["lesion"]))
    layer.data[0, 0, 0] = 2  # an edit in the viewer is saved (the layer shares the volume's array)
    out = tmp_path / "edited.nii.gz"
    written = viewer.layers.save(str(out), selected=False, plugin="workstation")
    assert [Path(p) for p in written] == [out]
    back = read_sitk_image(out)
    np.testing.assert_allclose(back.affine, study["lesion"].affine, atol=1e-4)
    assert back.array[0, 0, 0] == 2 and int(back.array.sum()) == expected_sum


def test_seg_writer_needs_a_dicom_reference(study, tmp_path):
    from workstation.viewer import labels_layer

    data, kwargs, _ = labels_layer(study["lesion"])
    with pytest.raises(InvalidInputError, match="NIfTI"):
        write_labels_seg(str(tmp_path / "seg.dcm"), data, kwargs)
    assert not (tmp_path / "seg.dcm").exists()
    written = write_labels_image(str(tmp_path / "l.nrrd"), data, kwargs)
    assert Path(written[0]).is_file()
    assert study["lesion"].units == Unit.LABEL


def test_sample_sirt_study_opens_in_patient_space(make_napari_viewer):
    from workstation.samples import sample_data_dir
    from workstation.viewer._plugin import sample_sirt

    assert (sample_data_dir() / "sirt" / "ct").is_dir(), "the committed sample studies are missing"
    layers = sample_sirt()
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names[:3] == ["sirt ct", "sirt spect (counts)", "sirt pet (Bq/mL)"]  # emission: name and unit
    assert {"sirt liver", "sirt lesions", "sirt lungs"} <= set(names)
    viewer = make_napari_viewer()
    added = viewer.open_sample("workstation", "sirt")
    assert len(added) == len(layers)
    ct_layer, spect_layer = viewer.layers["sirt ct"], viewer.layers["sirt spect (counts)"]
    ct, spect = ct_layer.metadata["volume"], spect_layer.metadata["volume"]
    # The SPECT and the CT share a frame of reference: one LPS point, both layers.
    point = ct.index_to_world((40, 96, 96))
    np.testing.assert_allclose(spect_layer.data_to_world(spect.world_to_index(point)), point[::-1], atol=1e-6)
    assert ct.frame_of_reference_uid == spect.frame_of_reference_uid


def test_dicom_study_folder_gives_one_layer_per_series():
    from workstation.samples import sample_data_dir

    folder = sample_data_dir() / "sirt"
    reader = get_reader(str(folder))
    assert reader is not None
    layers = reader(str(folder))
    kinds = [kwargs["metadata"]["volume"].modality for _, kwargs, _ in layers]
    assert kinds[0] == "CT" and sorted(kinds) == ["CT", "NM", "PT"]
    for data, kwargs, _ in layers:
        vol = kwargs["metadata"]["volume"]
        assert data is vol.array
        assert kwargs["translate"] == pytest.approx(tuple(vol.origin_mm[::-1]))


def test_labels_saved_as_dicom_seg_on_the_sample_ct(make_napari_viewer, tmp_path):
    """A labels layer drawn on a DICOM CT is saved as DICOM SEG and read back voxel for voxel."""
    from workstation.io import read_mask

    viewer = make_napari_viewer()
    viewer.open_sample("workstation", "sirt")
    layer = viewer.layers["sirt lesions"]
    out = tmp_path / "lesions_seg.dcm"
    viewer.layers.selection = {layer}
    written = viewer.layers.save(str(out), selected=True, plugin="workstation")
    assert [Path(p) for p in written] == [out]
    reference = layer.metadata["reference"]
    back = read_mask(str(out), reference=reference)
    np.testing.assert_array_equal(back.array, layer.data)
    assert set(back.label_names.values()) == {"lesions 1", "lesions 2", "lesions 3", "lesions 4"}


def test_reader_recognises_dose_and_margin_files(study, tmp_path):
    from workstation.io import write_image

    write_image(study["dose"], tmp_path / "dose_ldm.nii.gz")
    [(_, kwargs, _)] = get_reader(str(tmp_path / "dose_ldm.nii.gz"))(str(tmp_path / "dose_ldm.nii.gz"))
    assert kwargs["colormap"].name.startswith("dose wash") and kwargs["contrast_limits"] == (3.0, 60.0)
    write_image(study["dose"].copy_with(units=Unit.MM), tmp_path / "margin_map.nii.gz")
    [(_, kwargs, _)] = get_reader(str(tmp_path / "margin_map.nii.gz"))(str(tmp_path / "margin_map.nii.gz"))
    assert kwargs["contrast_limits"] == (-10.0, 10.0)
