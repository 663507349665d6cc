"""The `workstation register` and `workstation transform` commands on NIfTI files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workstation.cli import main
from workstation.core import Unit
from workstation.io import write_image
from workstation.registration import read_transform, transform_points


@pytest.fixture(scope="module")
def files(tmp_path_factory, rigid_pair):
    d = tmp_path_factory.mktemp("reg_cli")
    fixed = rigid_pair.fixed.copy_with(frame_of_reference_uid=None)
    moving = rigid_pair.moving.copy_with(frame_of_reference_uid=None)
    write_image(fixed, d / "fixed.nii.gz")
    write_image(moving, d / "moving.nii.gz")
    write_image(rigid_pair.liver_fixed, d / "liver.nii.gz")
    from workstation.core.morphology import dilate

    liver = rigid_pair.liver_fixed
    dilated = liver.copy_with(array=dilate(liver.array > 0, 15.0, liver.spacing_mm).astype(np.uint8))
    write_image(dilated, d / "liver_15mm.nii.gz")  # the liver and its edges, as recommended
    empty = rigid_pair.liver_fixed.copy_with(array=np.zeros(fixed.shape, dtype=np.uint8))
    write_image(empty, d / "empty.nii.gz")
    far = moving.copy_with(affine=moving.affine.copy())
    far.affine[:3, 3] += [0.0, 0.0, 2000.0]
    write_image(far, d / "far.nii.gz")
    return d


def test_register_rigid_writes_outputs(files, rigid_pair, capsys):
    out = files / "out"
    code = main(["--quiet", "register", "--fixed", str(files / "fixed.nii.gz"), "--moving",
                 str(files / "moving.nii.gz"), "--fixed-mask", str(files / "liver_15mm.nii.gz"),
                 "--mode", "rigid", "--no-inverse-consistency", "--threads", "2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        "moving_resampled.nii.gz", "registration.json", "transform.tfm"]
    report = json.loads((out / "registration.json").read_text())
    assert report["mode"] == "rigid" and report["masks"][0]["role"] == "fixed_mask"
    assert report["metric"]["after"] < report["metric"]["before"]
    tx = read_transform(out / "transform.tfm")
    pts = rigid_pair.liver_points()
    tre = np.linalg.norm(transform_points(pts, tx) - rigid_pair.truth(pts), axis=1)
    assert tre.mean() <= 1.0
    # transform a mask with the written transform
    code = main(["--quiet", "transform", "--mask", str(files / "liver.nii.gz"), "--transform",
                 str(out / "transform.tfm"), "--reference", str(files / "fixed.nii.gz"),
                 "--partial", "-o", str(files / "liver_frac.nii.gz")])
    assert code == 0, capsys.readouterr().err
    from workstation.io import read_image

    frac = read_image(files / "liver_frac.nii.gz")
    assert frac.array.max() <= 1.0 and frac.array.max() > 0.99


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--moving", "far.nii.gz"], "do not overlap"),
        (["--fixed-mask", "empty.nii.gz"], "empty"),
        (["--mode", "elastic"], "--mode"),
        (["--landmarks", "missing.csv"], "no such landmark file"),
    ],
)
def test_register_bad_input_exit_2(files, capsys, args, message):
    base = {"--fixed": "fixed.nii.gz", "--moving": "moving.nii.gz"}
    argv = ["register"]
    opts = dict(base)
    extra = []
    it = iter(args)
    for key in it:
        value = next(it)
        if key in opts:
            opts[key] = value
        else:
            extra += [key, str(files / value) if value.endswith((".gz", ".csv")) else value]
    for key, value in opts.items():
        argv += [key, str(files / value)]
    argv += extra + ["-o", str(files / "bad_out")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (files / "bad_out" / "transform.tfm").exists()


def test_register_refuses_to_write_into_input(files, capsys):
    code = main(["register", "--fixed", str(files / "fixed.nii.gz"), "--moving",
                 str(files / "moving.nii.gz"), "-o", str(files / "fixed.nii.gz")])
    assert code == 2
    assert "overwrite" in capsys.readouterr().err


def test_transform_needs_exactly_one_input(files, capsys):
    code = main(["transform", "--transform", "x.tfm", "--reference", str(files / "fixed.nii.gz"),
                 "-o", str(files / "x.nii.gz")])
    assert code == 2 and "exactly one" in capsys.readouterr().err


def test_units_of_fixture(rigid_pair):
    assert rigid_pair.liver_fixed.units == Unit.LABEL
