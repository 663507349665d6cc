"""Timing and accuracy of the dose engines against reference convolutions, in one run.

Cases
-----
* ``spect``: a 128^3 SPECT grid (4.42 mm voxels, the kernel is 7^3);
* ``ct``: a 512 x 512 x 300 CT grid (0.8 x 0.8 x 1.5 mm voxels, kernel 31 x 31 x 17).

For each case: kernel build (cold, cache cleared), LDM, VSV (scipy.fft float32 FFT,
the project's engine), VSV-density, and two references on the same activity:
``scipy.ndimage.convolve`` (direct, float64) and a plain float64 ``numpy.fft``
convolution. The direct convolution of the CT case is far too slow for the full
grid (8e11 multiply-adds), so it runs on a 64^3 sub-volume and its time is
scaled by the voxel ratio (stated in the output). Accuracy: maximum absolute
difference to the reference, relative to the maximum dose.

Usage::

    .venv/bin/python benchmarks/bench_dosimetry.py [--skip-ct] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import ndimage

from workstation.core import Unit, Volume, affine_from_geometry
from workstation.dosimetry import engines as E
from workstation.dosimetry import kernels as K


def _timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _activity(shape: tuple[int, int, int], spacing: tuple[float, float, float], seed: int) -> Volume:
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    c = [s / 2 for s in shape]
    r2 = ((zz - c[0]) * spacing[0]) ** 2 + ((yy - c[1]) * spacing[1]) ** 2 + ((xx - c[2]) * spacing[2]) ** 2
    a = np.where(r2 < (0.35 * min(s * h for s, h in zip(shape, spacing, strict=True))) ** 2, 1e5, 0.0)
    a = (a * rng.uniform(0.5, 1.5, size=shape)).astype(np.float32)
    return Volume(a, affine_from_geometry([0, 0, 0], spacing), units=Unit.BQML)


def _numpy_fft(decays: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    shape = [n + k - 1 for n, k in zip(decays.shape, kernel.shape, strict=True)]
    axes = (0, 1, 2)
    full = np.fft.irfftn(np.fft.rfftn(decays, shape, axes) * np.fft.rfftn(kernel, shape, axes), shape, axes)
    start = [k // 2 for k in kernel.shape]
    return full[tuple(slice(s, s + n) for s, n in zip(start, decays.shape, strict=True))]


def run_case(name: str, shape: tuple[int, int, int], spacing: tuple[float, float, float], workers: int,
             direct_sub: int | None) -> dict[str, object]:
    act = _activity(shape, spacing, 1)
    K._build.cache_clear()
    kernel, t_kernel = _timed(lambda: E.engine_kernel(act))
    _, t_kernel_cached = _timed(lambda: E.engine_kernel(act), repeat=3)
    ldm, t_ldm = _timed(lambda: E.absorbed_dose_ldm(act))
    vsv, t_vsv = _timed(lambda: E.absorbed_dose_vsv(act, kernel=kernel, workers=workers), repeat=2)
    rho = act.copy_with(array=np.ones(shape, np.float32), units=Unit.G_PER_ML)
    _, t_vsvd = _timed(lambda: E.absorbed_dose_vsv_density(act, rho, workers=workers))
    decays = E.cumulated_decays(act)
    kern = kernel.values_gy_per_decay
    ref_np, t_np = _timed(lambda: _numpy_fft(decays, kern))
    dmax = float(ref_np.max())
    err_vsv = float(np.abs(vsv.array - ref_np).max() / dmax)
    result: dict[str, object] = {
        "case": name,
        "shape_zyx": list(shape),
        "spacing_mm_zyx": list(spacing),
        "kernel_shape": list(kernel.shape),
        "kernel_build_s": round(t_kernel, 4),
        "kernel_cached_s": round(t_kernel_cached, 6),
        "ldm_s": round(t_ldm, 4),
        "vsv_s": round(t_vsv, 4),
        "vsv_density_s": round(t_vsvd, 4),
        "numpy_fft_float64_s": round(t_np, 4),
        "ratio_numpy_fft_over_vsv": round(t_np / t_vsv, 2),
        "vsv_max_abs_error_vs_numpy_fft_rel_to_max": err_vsv,
    }
    if direct_sub is None:
        ref_dir, t_dir = _timed(lambda: ndimage.convolve(decays, kern, mode="constant", cval=0.0))
        result["ndimage_convolve_s"] = round(t_dir, 3)
        result["ndimage_convolve_note"] = "full grid"
        result["vsv_max_abs_error_vs_direct_rel_to_max"] = float(np.abs(vsv.array - ref_dir).max() / dmax)
    else:
        sub = tuple(slice(n // 2 - direct_sub // 2, n // 2 + direct_sub // 2) for n in shape)
        sub_decays = np.ascontiguousarray(decays[sub])
        ref_dir, t_sub = _timed(lambda: ndimage.convolve(sub_decays, kern, mode="constant", cval=0.0))
        scale = np.prod(shape) / sub_decays.size
        t_dir = t_sub * scale
        sub_vol = act.copy_with(array=np.ascontiguousarray(act.array[sub]))
        sub_vsv = E.absorbed_dose_vsv(sub_vol, kernel=kernel, workers=workers).array
        result["ndimage_convolve_s"] = round(t_dir, 1)
        result["ndimage_convolve_note"] = (
            f"measured {t_sub:.2f} s on a {direct_sub}^3 sub-volume, scaled by the voxel ratio {scale:.0f}"
        )
        result["vsv_max_abs_error_vs_direct_rel_to_max"] = float(
            np.abs(sub_vsv - ref_dir).max() / max(float(ref_dir.max()), 1e-30)
        )
    result["ratio_direct_over_vsv"] = round(t_dir / t_vsv, 1)
    result["ldm_mean_gy"] = float(ldm.array[act.array > 0].mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-ct", action="store_true", help="only the 128^3 SPECT case")
    parser.add_argument("--workers", type=int, default=-1, help="scipy.fft workers (-1: all CPUs)")
    args = parser.parse_args()
    results = [run_case("spect_128", (128, 128, 128), (4.42, 4.42, 4.42), args.workers, None)]
    if not args.skip_ct:
        results.append(run_case("ct_512x512x300", (300, 512, 512), (1.5, 0.8, 0.8), args.workers, 64))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
