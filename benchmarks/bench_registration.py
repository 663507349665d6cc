"""CT-to-CT deformable registration against elastix, one run, same data, same threads.

Data: the sample ablation pair (``sample_data/ablation``: pre-CT = moving, post-CT =
fixed, ground-truth ``transform.tfm`` mapping post-CT points to pre-CT points) when it
exists, otherwise the analytic phantom pair of ``workstation.registration._phantom``
(the one of the acceptance tests). The script says which.

Both methods get the same images and the same metric region (the post-CT liver
dilated by 15 mm minus the ablation zone dilated by 5 mm) and a comparable
rigid -> affine -> cubic B-spline (60 mm control points) pipeline with normalized
correlation: elastix with ``benchmarks/elastix_{rigid,affine,bspline}.txt``
(adaptive stochastic gradient descent, its usual choice), the workstation with
its defaults (regular-step gradient descent, then L-BFGS-B). The workstation also
keeps the tumour rigid (``rigid_masks``); elastix has no such option here.

Printed: wall time of each and their ratio; TRE (|T(x) - T_true(x)| over the
post-CT liver voxels) mean / 95th percentile / max; the tumour volume change
(Jacobian determinant of each transform averaged over the true post-CT tumour).

Run: ``.venv/bin/python benchmarks/bench_registration.py [--threads 2]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workstation.core import Unit, Volume  # noqa: E402
from workstation.io import read_image, write_image  # noqa: E402
from workstation.registration import (  # noqa: E402
    jacobian_determinant,
    read_transform,
    register,
    transform_points,
)
from workstation.registration._register import (  # noqa: E402
    EXCLUDE_MARGIN_MM,
    _dilate_mm,
)

HERE = Path(__file__).resolve().parent


def _mask(path: Path, reference: Volume) -> Volume:
    vol = read_image(path)
    vol = vol.resample_to(reference, interpolation="nearest") if not vol.same_grid(reference) else vol
    return vol.copy_with(array=(vol.array != 0).astype(np.uint8), units=Unit.LABEL)


def load_sample_pair() -> dict | None:
    base = ROOT / "sample_data" / "ablation"
    gt = base / "ground_truth"
    needed = [base / "pre_ct", base / "post_ct", gt / "transform.tfm", gt / "liver_post.nii.gz",
              gt / "tumor_pre.nii.gz", gt / "tumor_post.nii.gz", gt / "ablation_zone.nii.gz"]
    if not all(p.exists() for p in needed):
        return None
    post = read_image(base / "post_ct")
    pre = read_image(base / "pre_ct")
    truth_tx = read_transform(gt / "transform.tfm")
    return {
        "name": "sample ablation pair (sample_data/ablation, DICOM)",
        "fixed": post,
        "moving": pre,
        "truth": lambda p: transform_points(p, truth_tx),
        "liver_fixed": _mask(gt / "liver_post.nii.gz", post),
        "tumour_moving": _mask(gt / "tumor_pre.nii.gz", pre),
        "tumour_fixed": _mask(gt / "tumor_post.nii.gz", post),
        "ablation_fixed": _mask(gt / "ablation_zone.nii.gz", post),
    }


def load_phantom_pair() -> dict:
    from workstation.registration._phantom import (
        AbdomenPhantom,
        grid_volume,
        rigid_matrix,
        smooth_deformation,
    )

    ph = AbdomenPhantom(seed=7)
    gf = grid_volume((48, 96, 96), (3.0, 3.0, 3.0))
    gm = grid_volume((50, 96, 96), (3.0, 3.0, 3.0), (2.0, -1.5, 1.0))
    r = rigid_matrix((2.0, -1.5, 3.0))
    c, t = np.array([-20.0, 0.0, 0.0]), np.array([4.0, -3.0, 5.0])
    bumps = smooth_deformation([[-70, 10, 30], [-20, -30, -20], [30, 30, 0]],
                               [[0, 4, -7], [5, 0, 3], [-3, -4, 2]], 45.0)

    def truth(p: np.ndarray) -> np.ndarray:
        return (bumps(p) - c) @ r.T + c + t

    return {
        "name": "analytic phantom pair (96x96x48, 3 mm), as in the acceptance tests",
        "fixed": ph.ct(gf, truth, ablated=True, seed=3),
        "moving": ph.ct(gm, seed=4),
        "truth": truth,
        "liver_fixed": ph.mask(gf, "liver", truth),
        "tumour_moving": ph.mask(gm, "tumour"),
        "tumour_fixed": ph.mask(gf, "tumour", truth),
        "ablation_fixed": ph.mask(gf, "ablation_zone", truth),
    }


def numerical_jacobian(fn, pts: np.ndarray, h: float = 0.5) -> np.ndarray:
    """Determinant of the Jacobian of a point map (central differences, h in mm)."""
    cols = []
    for axis in range(3):
        e = np.zeros(3)
        e[axis] = h
        cols.append((fn(pts + e) - fn(pts - e)) / (2 * h))
    return np.linalg.det(np.stack(cols, axis=-1))


def tre_stats(mapped: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    err = np.linalg.norm(mapped - truth, axis=1)
    return {"mean": float(err.mean()), "p95": float(np.percentile(err, 95)), "max": float(err.max())}


def run_elastix(fixed: Volume, moving: Volume, metric_mask: Volume, work: Path,
                threads: int) -> tuple[float, Path]:
    """Run elastix (rigid, affine, B-spline); returns wall time and the final parameter file."""
    write_image(fixed, work / "fixed.mha", compress=False)
    write_image(moving, work / "moving.mha", compress=False)
    write_image(metric_mask, work / "fmask.mha", compress=False)
    out = work / "elastix"
    out.mkdir()
    cmd = ["elastix", "-f", str(work / "fixed.mha"), "-m", str(work / "moving.mha"),
           "-fMask", str(work / "fmask.mha"), "-out", str(out), "-threads", str(threads)]
    for stage in ("rigid", "affine", "bspline"):
        cmd += ["-p", str(HERE / f"elastix_{stage}.txt")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"elastix failed ({proc.returncode}); see {out / 'elastix.log'}")
    return elapsed, out / "TransformParameters.2.txt"


def elastix_field(params: Path, work: Path, threads: int) -> tuple[Volume, np.ndarray, Volume]:
    """Deformation field (x + u(x) = moving point) and spatial Jacobian determinant via transformix."""
    out = work / "transformix"
    out.mkdir()
    cmd = ["transformix", "-def", "all", "-jac", "all", "-tp", str(params), "-out", str(out),
           "-threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"transformix failed ({proc.returncode}); see {out / 'transformix.log'}")
    import SimpleITK as sitk

    field_file = next(out.glob("deformationField.*[ad]"))
    jac_file = next(out.glob("spatialJacobian.*[ad]"))
    field = sitk.ReadImage(str(field_file))
    arr = sitk.GetArrayFromImage(field)  # (z, y, x, 3), LPS mm
    ref = Volume.from_sitk(sitk.VectorIndexSelectionCast(field, 0))
    jac = Volume.from_sitk(sitk.ReadImage(str(jac_file)))
    return ref, arr, jac


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--phantom", action="store_true", help="use the phantom even if sample data exist")
    args = parser.parse_args()
    if shutil.which("elastix") is None or shutil.which("transformix") is None:
        sys.exit("elastix/transformix not found (Debian package elastix).")
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    data = None if args.phantom else load_sample_pair()
    if data is None:
        data = load_phantom_pair()
    fixed, moving = data["fixed"], data["moving"]
    print(f"data: {data['name']}")
    print(f"fixed {fixed.shape[::-1]} @ {np.round(fixed.spacing_mm[::-1], 2)} mm, "
          f"moving {moving.shape[::-1]} @ {np.round(moving.spacing_mm[::-1], 2)} mm, threads {args.threads}")

    liver = data["liver_fixed"]
    liver_margin = liver.copy_with(array=_dilate_mm(liver.array > 0, liver.spacing_mm, 15.0).astype(np.uint8))
    ablation = data["ablation_fixed"]
    metric_region = (liver_margin.array > 0) & ~_dilate_mm(ablation.array > 0, ablation.spacing_mm,
                                                           EXCLUDE_MARGIN_MM)
    metric_mask = liver.copy_with(array=metric_region.astype(np.uint8))

    idx = np.argwhere(liver.array > 0).astype(float)
    pts = liver.index_to_world(idx)
    truth = data["truth"](pts)
    none = tre_stats(pts, truth)
    tumour_f = data["tumour_fixed"].array > 0
    tpts = fixed.index_to_world(np.argwhere(tumour_f).astype(float))
    jac_true = float(np.mean(numerical_jacobian(data["truth"], tpts)))

    # --- workstation
    t0 = time.perf_counter()
    result = register(fixed, moving, mode="deformable", fixed_mask=liver_margin, exclude=[ablation],
                      rigid_masks=[data["tumour_moving"]], inverse_consistency=False,
                      number_of_threads=args.threads)
    t_ws = time.perf_counter() - t0
    ws = tre_stats(transform_points(pts, result.transform), truth)
    jac_ws = jacobian_determinant(result.transform, fixed).array[tumour_f].mean()
    stages = {s["stage"]: s["elapsed_s"] for s in result.report["stages"]}
    print(f"workstation: {t_ws:.1f} s, TRE mean {ws['mean']:.2f} mm", flush=True)

    # --- elastix
    with tempfile.TemporaryDirectory(prefix="bench_reg_") as tmp:
        work = Path(tmp)
        t_el, params = run_elastix(fixed, moving, metric_mask, work, args.threads)
        field_grid, field, jac = elastix_field(params, work, args.threads)
        if not field_grid.same_grid(fixed):
            sys.exit("transformix field is not on the fixed grid")
        mapped = pts + field[tuple(idx.astype(int).T)]
        el = tre_stats(mapped, truth)
        jac_el = jac.array[tumour_f].mean()

    print()
    print(f"{'':28s}{'time s':>9s}{'TRE mean':>10s}{'p95':>8s}{'max':>8s}{'tumour dV %':>13s}")
    print(f"{'no registration':28s}{'':>9s}{none['mean']:10.2f}{none['p95']:8.2f}{none['max']:8.2f}"
          f"{100 * (jac_true - 1):13.2f}  <- true tumour dV")
    print(f"{'workstation (rigid tumour)':28s}{t_ws:9.1f}{ws['mean']:10.2f}{ws['p95']:8.2f}{ws['max']:8.2f}"
          f"{100 * (jac_ws - 1):13.2f}")
    print(f"{'elastix 5 (CLI)':28s}{t_el:9.1f}{el['mean']:10.2f}{el['p95']:8.2f}{el['max']:8.2f}"
          f"{100 * (jac_el - 1):13.2f}")
    print()
    print(f"time ratio workstation / elastix: {t_ws / t_el:.2f}  (workstation stages: {stages})")
    print("TRE in mm over the post-CT liver voxels; tumour dV = mean Jacobian determinant - 1 over "
          "the true post-CT tumour (moving volume / fixed volume - 1).")


if __name__ == "__main__":
    main()
