"""`workstation segment`: outputs, seeds in LPS mm, and exit status 2 with one sentence for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.segmentation.phantoms import Phantom, dice
from workstation.cli import main
from workstation.core import Unit
from workstation.io import read_image, write_image


@pytest.fixture(scope="module")
def ablation_file(ablation_ct: Phantom, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ct") / "post_ct.nii.gz"
    write_image(ablation_ct.ct, path)
    return path


def test_segment_ablation_zone_cli(ablation_ct: Phantom, ablation_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "zone.nii.gz"
    x, y, z = ablation_ct.extra["centre"]
    code = main(["-q", "segment", "ablation-zone", "--image", str(ablation_file), "--seed", str(x), str(y), str(z), "-o", str(out)])
    assert code == 0
    zone = read_image(out)
    assert zone.same_grid(ablation_ct.ct)
    assert dice(zone.array > 0, ablation_ct.truth["ablation_zone"]) >= 0.9


def test_segment_uptake_cli_within(tmp_path: Path, ablation_ct: Phantom) -> None:
    ct = ablation_ct.ct
    spect = ct.copy_with(array=np.where(ablation_ct.truth["ablation_zone"], 100.0, 10.0).astype(np.float32), units=Unit.BQML)
    img, within, out = tmp_path / "spect.nii.gz", tmp_path / "within.nii.gz", tmp_path / "uptake.nii.gz"
    write_image(spect, img)
    half = np.zeros(ct.shape, np.uint8)
    half[:, :, :60] = 1
    write_image(ct.copy_with(array=half, units=Unit.LABEL), within)
    assert main(["-q", "segment", "uptake", "--image", str(img), "--within", str(within), "--percent", "50", "-o", str(out)]) == 0
    got = read_image(out).array > 0
    np.testing.assert_array_equal(got, ablation_ct.truth["ablation_zone"] & (half > 0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "kidney"], "Unknown KIND"),
        (["segment", "ablation-zone"], "needs a seed"),
        (["segment", "ablation-zone", "--seed", "1", "2"], "--seed needs three numbers"),
        (["segment", "ablation-zone", "--seed", "900", "0", "0"], "outside the image"),
        (["segment", "body", "--seed", "0", "0", "0"], "not used"),
        (["segment", "lungs", "--percent", "40"], "uptake"),
        (["segment", "uptake"], "exactly one"),
        (["segment", "body", "--within", "/nonexistent/mask.nii.gz"], "nonexistent"),
    ],
)
def test_segment_bad_input_exit_2(
    args: list[str], message: str, ablation_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.nii.gz"
    code = main(["-q", *args, "--image", str(ablation_file), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_segment_refuses_to_write_into_input(ablation_file: Path) -> None:
    assert main(["-q", "segment", "body", "--image", str(ablation_file), "-o", str(ablation_file)]) == 2


def test_segment_mask_without_overlap_exit_2(ablation_ct: Phantom, ablation_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    far = ablation_ct.ct.copy_with(array=np.ones(ablation_ct.ct.shape, np.uint8), units=Unit.LABEL)
    far.affine[:3, 3] += 1000.0
    mask = tmp_path / "far.nii.gz"
    write_image(far, mask)
    x, y, z = ablation_ct.extra["centre"]
    code = main(["-q", "segment", "ablation-zone", "--image", str(ablation_file), "--within", str(mask),
                 "--seed", str(x), str(y), str(z), "-o", str(tmp_path / "z.nii.gz")])
    assert code == 2
    assert "overlap" in capsys.readouterr().err


def test_segment_lesions_cli_seeds_and_within(abdomen: Phantom, tmp_path: Path) -> None:
    img, liver, out = tmp_path / "ct.nii.gz", tmp_path / "liver.nii.gz", tmp_path / "lesions.nii.gz"
    write_image(abdomen.ct, img)
    write_image(abdomen.ct.copy_with(array=abdomen.truth["liver"].astype(np.uint8), units=Unit.LABEL), liver)
    seeds = []
    for n in (0, 6):  # the 30 mm and the 16 mm hypodense lesions
        seeds += ["--seed", *[str(v) for v in abdomen.lesion_centres[n]]]
    assert main(["-q", "segment", "lesions", "--image", str(img), "--within", str(liver), *seeds, "-o", str(out)]) == 0
    labels = read_image(out).array
    assert set(np.unique(labels)) == {0, 1, 2}
    assert dice(labels == 1, abdomen.lesions[0]) >= 0.8
    assert dice(labels == 2, abdomen.lesions[6]) >= 0.8


def test_segment_lesions_seed_line_cli(portal_ct, tmp_path: Path) -> None:
    """``--seed-line X1 Y1 Z1 X2 Y2 Z2``: a lesion's long axis, after a click (labels in that order)."""
    img, liver, out = tmp_path / "ct.nii.gz", tmp_path / "liver.nii.gz", tmp_path / "lesions.nii.gz"
    write_image(portal_ct.ct, img)
    write_image(portal_ct.ct.copy_with(array=portal_ct.truth["liver"].astype(np.uint8), units=Unit.LABEL), liver)
    (a, b) = portal_ct.long_axis("hypo_20hu")
    click = portal_ct.specs["necrotic"].centre
    args = ["-q", "segment", "lesions", "--image", str(img), "--within", str(liver),
            "--seed", *[str(v) for v in click], "--seed-line", *[str(v) for v in (*a, *b)], "-o", str(out)]
    assert main(args) == 0
    labels = read_image(out).array
    assert dice(labels == 1, portal_ct.lesions["necrotic"]) >= 0.83
    assert dice(labels == 2, portal_ct.lesions["hypo_20hu"]) >= 0.85


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed-line", "1", "2", "3"], "--seed-line needs six numbers"),
        (["--seed-line", "1", "2", "3", "4", "5", "x"], "--seed-line needs six numbers"),
    ],
)
def test_seed_line_bad_input_exit_2(extra: list[str], message: str, ablation_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "segment", "lesions", "--image", str(ablation_file), *extra, "-o", str(tmp_path / "o.nii.gz")])
    assert code == 2 and message in capsys.readouterr().err


def test_seed_line_is_for_lesions_only(ablation_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "segment", "liver", "--image", str(ablation_file), "--seed-line", "0", "0", "0", "1", "1", "1",
                 "-o", str(tmp_path / "o.nii.gz")])
    assert code == 2 and "not used by 'segment liver'" in capsys.readouterr().err


def test_segment_import_multilabel_and_folder(tmp_path: Path, ablation_ct: Phantom) -> None:
    """``segment import``: a multi-label file (TotalSegmentator class map) and a folder; OUT#name reads back."""
    from workstation.io import read_mask

    ct = ablation_ct.ct
    arr = np.zeros(ct.shape, np.uint8)
    arr[10:20, 20:50, 20:50] = 5  # liver in TotalSegmentator's total task
    arr[25:30, 60:80, 60:80] = 1  # spleen
    ml = tmp_path / "seg_ml.nii.gz"
    write_image(ct.copy_with(array=arr, units=Unit.LABEL), ml)
    out = tmp_path / "imported.nii.gz"
    assert main(["-q", "segment", "import", str(ml), "--ml", "-o", str(out)]) == 0
    assert (tmp_path / "imported.ctbl").is_file()
    liver = read_mask(f"{out}#liver")
    np.testing.assert_array_equal(liver.array > 0, arr == 5)
    # a folder of one file per structure, put on the CT's grid
    folder = tmp_path / "ts"
    folder.mkdir()
    write_image(ct.copy_with(array=(arr == 5).astype(np.uint8), units=Unit.LABEL), folder / "liver.nii.gz")
    write_image(ct.copy_with(array=(arr == 1).astype(np.uint8), units=Unit.LABEL), folder / "spleen.nii.gz")
    ct_file = tmp_path / "ct.nii.gz"
    write_image(ct, ct_file)
    out2 = tmp_path / "from_folder.nii.gz"
    assert main(["-q", "segment", "import", str(folder), "--image", str(ct_file), "-o", str(out2)]) == 0
    spleen = read_mask(f"{out2}#spleen")
    np.testing.assert_array_equal(spleen.array > 0, arr == 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "import"], "takes one SOURCE"),
        (["segment", "import", "/nonexistent/seg.nii.gz"], "no such file or folder"),
    ],
)
def test_segment_import_bad_input_exit_2(args: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.nii.gz"
    code = main(["-q", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()
