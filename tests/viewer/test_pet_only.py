"""A PET-only study (no CT): the emission image is a visible grey base under the dose wash."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry

pytestmark = pytest.mark.gui

# A pixel is grey when its RGB channels differ by at most this much; coloured above COLOURED.
GREY_SPREAD = 8
COLOURED = 30


@pytest.fixture
def pet_only():
    """A PET of a body (20 kBq/mL, Poisson-like noise) with a 10:1 lesion, and its dose (Gy).

    Grid 20 x 96 x 96, (z, y, x) spacing (4, 4, 4) mm: the shape of a whole-body PET slab.
    The dose is the LDM of the activity (49.67 Gy kg/GBq, 1.03 g/mL: 48.2 Gy per GBq/kg,
    here 0.0482 mGy per Bq/mL), so it is 10:1 too.
    """
    rng = np.random.default_rng(19)
    shape = (20, 96, 96)
    affine = affine_from_geometry([-192.0, -192.0, -40.0], [4.0, 4.0, 4.0])
    zz, yy, xx = np.indices(shape)
    body = ((yy - 48) / 38.0) ** 2 + ((xx - 48) / 44.0) ** 2 <= 1.0
    lesion = ((zz - 10) * 4.0) ** 2 + ((yy - 40) * 4.0) ** 2 + ((xx - 30) * 4.0) ** 2 <= 16.0**2
    conc = np.where(body, 2.0e4, 0.0) + np.where(lesion, 1.8e5, 0.0)
    pet = rng.poisson(conc / 500.0) * 500.0  # counting noise of ~16 % in the background
    dose = conc * 49.67 / 1.03 * 1e-9 * 1e3  # Bq/mL -> GBq/kg at 1.03 g/mL, x Gy kg/GBq
    return (
        Volume(pet.astype(np.float32), affine, modality="PT", units=Unit.BQML),
        Volume(dose.astype(np.float32), affine, modality="RTDOSE", units=Unit.GY),
        body & ~lesion,
    )


def _pixels(viewer):
    from qtpy.QtWidgets import QApplication

    viewer.window._qt_window.resize(900, 700)
    QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)


def test_pet_only_base_is_visible_under_the_dose(make_napari_viewer, pet_only):
    from workstation.viewer import add_volumes

    pet, dose, background = pet_only
    viewer = make_napari_viewer(show=True)
    # The wash from 15 % of the maximum: the lesion is coloured, the background shows the PET itself.
    layers = add_volumes(viewer, [pet], dose=dose, dose_threshold_gy=0.15 * float(dose.array.max()))
    base = layers[0]
    assert base.metadata["emission_role"] == "base" and base.colormap.name == "gray"
    img = _pixels(viewer)
    spread = img.max(axis=2) - img.min(axis=2)
    level = img.mean(axis=2)
    # The body background (20 kBq/mL at a third of the window) is mid grey, not black: with the
    # fused style (inferno, additive at 0.6, window to the 99.9th percentile) it was ~ (13, 7, 33).
    grey_body = (spread <= GREY_SPREAD) & (level > 60) & (level < 150)
    air = (spread <= GREY_SPREAD) & (level < 10)
    coloured = spread > COLOURED
    assert grey_body.sum() > 20_000, f"background not visible: {grey_body.sum()} grey pixels"
    assert air.sum() > 20_000  # outside the body stays dark: the body stands out
    assert coloured.sum() > 1_000  # the dose wash over the lesion (and the colour bars)
    # The colour bars of the dose and of the PET are titled with their name and unit.
    titles = {layer.name for layer in viewer.layers if layer._overlays["layer_name"].visible}
    assert titles == {"PT (Bq/mL)", "dose (Gy)"}


@pytest.mark.slow
def test_view_screenshot_of_the_sample_pet_only(tmp_path):
    """`workstation view PET --dose DOSE --screenshot` on the sample 90Y PET: the liver shows in grey."""
    from matplotlib.image import imread

    from workstation.samples import sample_data_dir

    study = sample_data_dir() / "sirt"
    out = tmp_path / "pet.png"
    proc = subprocess.run(
        [sys.executable, "-m", "workstation.cli", "view", str(study / "pet"),
         "--dose", str(study / "ground_truth" / "dose_ldm_gy.nii.gz"), "--dose-threshold", "150",
         "--screenshot", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    img = (imread(out)[..., :3] * 255).astype(int)
    spread = img.max(axis=2) - img.min(axis=2)
    level = img.mean(axis=2)
    liver = (spread <= GREY_SPREAD) & (level > 50)  # 90Y in the normal liver: grey, not black
    assert liver.sum() > 5_000, liver.sum()
    assert (spread > COLOURED).sum() > 500  # the dose wash over the lesions
