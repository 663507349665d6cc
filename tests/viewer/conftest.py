"""Synthetic studies for the viewer tests (fixed geometry, analytic doses)."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import Unit, Volume, affine_from_geometry


@pytest.fixture
def study() -> dict[str, Volume]:
    """A CT (40 HU body in air), a dose cube of 60 Gy and a spherical lesion, one grid.

    Grid: 24 slices × 64 rows × 80 columns, spacing (z, y, x) = (3.0, 1.5, 1.25) mm,
    origin (-50, -40, 100) mm LPS; axis-aligned, so the layer has scale/translate.
    """
    shape = (24, 64, 80)
    affine = affine_from_geometry([-50.0, -40.0, 100.0], [3.0, 1.5, 1.25])
    ct = np.full(shape, -1000, dtype=np.int16)
    ct[:, 8:56, 8:72] = 40
    dose = np.zeros(shape, dtype=np.float32)
    dose[6:18, 20:40, 30:50] = 60.0
    zz, yy, xx = np.indices(shape)
    lesion = (((zz - 12) * 3.0) ** 2 + ((yy - 30) * 1.5) ** 2 + ((xx - 40) * 1.25) ** 2 <= 12.0**2)
    uid = "1.2.826.0.1.3680043.8.498.1"
    return {
        "ct": Volume(ct, affine, frame_of_reference_uid=uid, modality="CT", units=Unit.HU),
        "dose": Volume(dose, affine, frame_of_reference_uid=uid, modality="RTDOSE", units=Unit.GY),
        "lesion": Volume(
            lesion.astype(np.uint8), affine, frame_of_reference_uid=uid, units=Unit.LABEL,
            label_names={1: "lesion"},
        ),
    }


@pytest.fixture
def study_files(study: dict[str, Volume], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The study written as NIfTI files."""
    from workstation.io import write_image

    folder = tmp_path_factory.mktemp("study")
    out = {}
    for name, vol in study.items():
        path = folder / f"{name}.nii.gz"
        write_image(vol, path)
        out[name] = str(path)
    return out


def _grid(shape, spacing_zyx, origin_lps):
    """Affine and LPS coordinates (x, y, z) of the voxel centres of an axis-aligned grid."""
    affine = affine_from_geometry(list(origin_lps), list(spacing_zyx))
    kk, jj, ii = np.indices(shape).astype(float)
    x = origin_lps[0] + ii * spacing_zyx[2]
    y = origin_lps[1] + jj * spacing_zyx[1]
    z = origin_lps[2] + kk * spacing_zyx[0]
    return affine, x, y, z


@pytest.fixture
def tace_study() -> dict:
    """An unenhanced post-TACE CT: liver 60 HU, tumours 40 HU, lipiodol known.

    Grid 28 × 64 × 72, spacing (z, y, x) = (2.5, 1.5, 1.5) mm. Tumour 1: a 9 mm
    ball at (-16, 0, 0) mm filled with lipiodol (+400 HU): coverage 100 %, no gap.
    Tumour 2: a 10 mm ball at (16, 4, 0) mm with lipiodol (+350 HU) on its +x half
    only: coverage 50 %, the gap the -x half ball, whose centroid lies 3R/8 = 3.75 mm
    from the centre (hemisphere centroid). Partial-volume blur 0.6 voxel, correlated
    noise about 10 HU (seed 1234).
    """
    from scipy import ndimage as ndi

    shape = (28, 64, 72)
    affine, x, y, z = _grid(shape, (2.5, 1.5, 1.5), (-54.0, -48.0, -35.0))
    body = (x / 52.0) ** 2 + (y / 46.0) ** 2 <= 1.0
    liver = (x / 44.0) ** 2 + (y / 38.0) ** 2 + (z / 30.0) ** 2 <= 1.0
    c1, r1, c2, r2 = np.array([-16.0, 0.0, 0.0]), 9.0, np.array([16.0, 4.0, 0.0]), 10.0
    t1 = (x - c1[0]) ** 2 + (y - c1[1]) ** 2 + (z - c1[2]) ** 2 <= r1**2
    t2 = (x - c2[0]) ** 2 + (y - c2[1]) ** 2 + (z - c2[2]) ** 2 <= r2**2
    hu = np.where(body, 40.0, -1000.0)
    hu = np.where(liver, 60.0, hu)
    hu = np.where(t1 | t2, 40.0, hu)
    hu += np.where(t1, 400.0, 0.0) + np.where(t2 & (x > c2[0]), 350.0, 0.0)
    rng = np.random.default_rng(1234)
    hu = ndi.gaussian_filter(hu, 0.6) + ndi.gaussian_filter(rng.normal(0.0, 14.0, shape), 0.5)
    uid = "1.2.826.0.1.3680043.8.498.2"
    return {
        "ct": Volume(hu.astype(np.float32), affine, frame_of_reference_uid=uid, modality="CT", units=Unit.HU),
        "tumor": Volume((t1 * 1 + t2 * 2).astype(np.uint8), affine, frame_of_reference_uid=uid, units=Unit.LABEL,
                        label_names={1: "tumour 1", 2: "tumour 2"}),
        "liver": Volume(liver.astype(np.uint8), affine, frame_of_reference_uid=uid, units=Unit.LABEL,
                        label_names={1: "liver"}),
        "gap_centroid_lps": c2 - np.array([3.0 * r2 / 8.0, 0.0, 0.0]),
        "tumour_centres_lps": {1: c1, 2: c2},
    }


@pytest.fixture
def lesion_study() -> dict:
    """A contrast CT with a box liver, one 10 mm lesion and a 3 mm vessel along z.

    Grid 30 × 64 × 80, spacing (z, y, x) = (2.0, 1.5, 1.5) mm. Liver: voxel centres
    with |x| <= 50, |y| <= 36, |z| <= 22 mm (110 HU); lesion: ball of 10 mm at
    (-25, 0, 0) mm (70 HU); vessel: cylinder of radius 3 mm on the axis x = 5, y = 0
    (180 HU). Analytic: long axis 20 mm; capsule and dome 12 mm (to the last liver
    voxel centres, 13 mm to the mask's outer face); vessel 30 - 10 - 3 = 17 mm.
    """
    from scipy import ndimage as ndi

    shape = (30, 64, 80)
    affine, x, y, z = _grid(shape, (2.0, 1.5, 1.5), (-60.0, -48.0, -30.0))
    liver = (np.abs(x) <= 50.0) & (np.abs(y) <= 36.0) & (np.abs(z) <= 22.0)
    lesion = (x + 25.0) ** 2 + y**2 + z**2 <= 10.0**2
    vessel = ((x - 5.0) ** 2 + y**2 <= 3.0**2) & liver
    hu = np.where(liver, 110.0, 40.0)
    hu = np.where(vessel, 180.0, hu)
    hu = np.where(lesion, 70.0, hu)
    rng = np.random.default_rng(77)
    hu = ndi.gaussian_filter(hu, 0.6) + rng.normal(0.0, 10.0, shape)

    def mask(m, name):
        return Volume(m.astype(np.uint8), affine, units=Unit.LABEL, label_names={1: name})

    return {"ct": Volume(hu.astype(np.float32), affine, modality="CT", units=Unit.HU),
            "liver": mask(liver, "liver"), "lesion": mask(lesion, "lesion"), "vessel": mask(vessel, "vessel")}


def _eqd2(dose_gy: np.ndarray, fractions: int, alpha_beta_gy: float) -> np.ndarray:
    """EQD2 of a fractionated dose (linear-quadratic): D (d + a/b) / (2 + a/b), d = D / n."""
    return dose_gy * (dose_gy / fractions + alpha_beta_gy) / (2.0 + alpha_beta_gy)


@pytest.fixture
def rt_folders(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Output folders in the contract's form: ``out/sbrt`` (rt-dose) and ``out/sum`` (combine), and the CT.

    CT: 20 × 40 × 48 voxels of (z, y, x) = (3, 2, 2) mm. Physical dose: a Gaussian
    D(r) = 60 Gy exp(-r² / (2 (8 mm)²)) about (0, 0, 0) mm in 3 fractions; its EQD2 at
    α/β 10 Gy. The combine sum: that EQD2 (``sbrt``) plus an HDR part, the same
    Gaussian of 20 Gy in 1 fraction about (12, 0, 0) mm (EQD2 at α/β 10). results.json
    inputs name the CT relative to the folder above ``out`` (where the command ran).
    """
    import json

    from workstation.io import write_image

    root = tmp_path_factory.mktemp("therapy")
    shape = (20, 40, 48)
    affine, x, y, z = _grid(shape, (3.0, 2.0, 2.0), (-47.0, -39.0, -28.5))
    ct_arr = np.where(x**2 / 45.0**2 + y**2 / 38.0**2 <= 1.0, 40, -1000).astype(np.int16)
    ct = Volume(ct_arr, affine, modality="CT", units=Unit.HU)
    write_image(ct, root / "ct.nii.gz")
    r2 = x**2 + y**2 + z**2
    dose = (60.0 * np.exp(-r2 / (2 * 8.0**2))).astype(np.float32)
    eqd2 = _eqd2(dose.astype(np.float64), 3, 10.0).astype(np.float32)
    hdr = (20.0 * np.exp(-((x - 12.0) ** 2 + y**2 + z**2) / (2 * 8.0**2))).astype(np.float64)
    eqd2_hdr = _eqd2(hdr, 1, 10.0).astype(np.float32)
    gtv = r2 <= 10.0**2
    sbrt = root / "out" / "sbrt"
    sbrt.mkdir(parents=True)
    write_image(Volume(dose, affine, units=Unit.GY), sbrt / "dose.nii.gz")
    write_image(Volume(eqd2, affine, units=Unit.GY), sbrt / "eqd2.nii.gz")
    mean_gtv = float(dose[gtv].mean())
    results = {
        "kind": "external", "prescription_gy": 45.0, "fractions": 3,
        "rois": {"GTV": {"volume_ml": float(gtv.sum() * 0.012), "mean_gy": mean_gtv, "d98_gy": 30.0,
                         "d95_gy": 33.0, "d50_gy": 50.0, "d2_gy": 59.0, "v100_percent": 60.0,
                         "eqd2_mean_gy": float(eqd2[gtv].mean())}},
        "conformity": {"paddick": 0.8, "target": "GTV"}, "constraints": [], "warnings": [],
        "inputs": [{"role": "RT Dose", "path": "plan/RD.dcm"}, {"role": "CT", "path": "ct.nii.gz"}],
    }
    (sbrt / "results.json").write_text(json.dumps(results), encoding="utf-8")
    lines = ["quantity,roi,dose_gy,volume_percent"]
    for quantity, arr in (("physical", dose), ("eqd2", eqd2)):
        lines.extend(f"{quantity},GTV,{level:.6g},{100.0 * float((arr[gtv] >= level).mean()):.6g}"
                     for level in np.linspace(0.0, float(arr[gtv].max()), 20))
    (sbrt / "dvh.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    total = (eqd2.astype(np.float64) + eqd2_hdr).astype(np.float32)
    summed = root / "out" / "sum"
    summed.mkdir()
    write_image(Volume(total, affine, units=Unit.GY), summed / "eqd2_total.nii.gz")
    write_image(Volume(eqd2, affine, units=Unit.GY), summed / "eqd2_sbrt.nii.gz")
    write_image(Volume(eqd2_hdr, affine, units=Unit.GY), summed / "eqd2_hdr.nii.gz")
    combine = {
        "treatments": [{"name": "sbrt", "scheme": {"kind": "ebrt", "fractions": 3}},
                       {"name": "hdr", "scheme": {"kind": "hdr", "fractions": 1}}],
        "rois": {"GTV": {"kind": "gtv", "alpha_beta_gy": 10.0,
                         "total": {"mean_gy": float(total[gtv].mean()), "d98_gy": 1.0, "d2_gy": 2.0},
                         "sbrt": {"mean_gy": float(eqd2[gtv].mean())},
                         "hdr": {"mean_gy": float(eqd2_hdr[gtv].mean())}}},
        "eqd2_total_max_gy": float(total.max()), "warnings": [],
        "inputs": [{"role": "dose sbrt", "path": "plan/RD.dcm"}, {"role": "CT", "path": "ct.nii.gz"}],
    }
    (summed / "results.json").write_text(json.dumps(combine), encoding="utf-8")
    return {"root": root, "sbrt": sbrt, "sum": summed, "ct": ct, "dose": dose, "eqd2": eqd2,
            "eqd2_hdr": eqd2_hdr, "total": total, "affine": affine}
