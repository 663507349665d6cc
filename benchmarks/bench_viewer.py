"""Time to first rendered frame: a 512×512×300 CT with a dose overlay.

Run: ``.venv/bin/python benchmarks/bench_viewer.py`` (starts its own Xvfb when
needed). Each timing runs from viewer creation to the first captured frame:
the first study of the process (CT with the soft-tissue window, dose wash with
colour bar; the acceptance case, < 5 s), then the same with three isodose lines
(the first labels layer), then the steady state, and as the reference in the
same process plain napari showing the same two arrays with ``add_image``.
The imports of napari and of what it loads lazily on the first layer (pandas,
scipy.ndimage) happen before the clock starts; napari's first-layer set-up
(unit registry, GL shaders) is inside the first timing. The machine load is
printed because the 2-core machine is shared.
"""

from __future__ import annotations

import os
import time

import numpy as np


def _volumes():
    from workstation.core import Unit, Volume, affine_from_geometry

    shape = (300, 512, 512)
    affine = affine_from_geometry([-250.0, -250.0, -400.0], [2.0, 0.977, 0.977])
    rng = np.random.default_rng(1)
    ct = np.full(shape, -1000, dtype=np.int16)
    zz, yy, xx = np.ogrid[:300, :512, :512]
    body = ((yy - 256) / 200.0) ** 2 + ((xx - 256) / 240.0) ** 2 <= 1.0
    ct[:, body[0]] = 40
    ct += rng.integers(-20, 20, size=(1, 512, 512), dtype=np.int16)
    r2 = ((zz - 150) * 2.0) ** 2 + ((yy - 256) * 0.977) ** 2 + ((xx - 300) * 0.977) ** 2
    dose = (120.0 * np.exp(-r2 / (2 * 40.0**2))).astype(np.float32)
    return (
        Volume(ct, affine, modality="CT", units=Unit.HU),
        Volume(dose, affine, modality="RTDOSE", units=Unit.GY),
    )


def _first_frame(viewer) -> float:
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    img = viewer.screenshot(canvas_only=True, flash=False)
    assert img[..., :3].max() > 0, "nothing rendered"
    return time.perf_counter()


def main() -> None:
    from workstation.viewer import add_volumes, headless_display

    ct, dose = _volumes()
    print(f"CT {ct.shape} int16 ({ct.array.nbytes / 1e6:.0f} MB), dose float32 ({dose.array.nbytes / 1e6:.0f} MB)")
    with headless_display():
        import napari
        import napari.layers  # noqa: F401
        import pandas  # noqa: F401  (napari imports these lazily on the first layer;
        import scipy.ndimage  # noqa: F401  a library import is not opening a study)

        def open_study(**kwargs) -> float:
            t0 = time.perf_counter()
            viewer = napari.Viewer(show=True)
            add_volumes(viewer, [ct], dose=dose, **kwargs)
            elapsed = _first_frame(viewer) - t0
            viewer.close()
            return elapsed

        # The acceptance case: the first study of the process, CT + dose wash +
        # colour bar (napari's first-layer set-up included: units registry, GL shaders).
        t_first = open_study()
        t_iso = open_study(isodose_levels_gy=[20.0, 70.0, 100.0])
        t_steady = open_study()

        t0 = time.perf_counter()
        viewer = napari.Viewer(show=True)
        viewer.add_image(ct.array, scale=tuple(ct.spacing_mm), colormap="gray")
        viewer.add_image(dose.array, scale=tuple(dose.spacing_mm), colormap="turbo", blending="additive")
        t_ref = _first_frame(viewer) - t0
        viewer.close()
    print(f"first study, CT + dose wash + colour bar:        {t_first:.2f} s to first frame")
    print(f"CT + dose wash + 3 isodose lines (first labels): {t_iso:.2f} s")
    print(f"CT + dose wash, steady state:                    {t_steady:.2f} s")
    print(f"plain napari add_image x2 (reference):           {t_ref:.2f} s")
    print(f"ratio workstation steady / reference: {t_steady / t_ref:.2f}")
    print(f"acceptance (< 5 s, first study): {'PASS' if t_first < 5.0 else 'FAIL'}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
