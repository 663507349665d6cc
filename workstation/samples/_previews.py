"""PNG previews of the sample studies (matplotlib ``Figure``, never pyplot).

The previews read the DICOM files back (SimpleITK), so they show what a user
will load, with ground-truth contours on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workstation.core.volume import Volume


def _read_series(folder: Path) -> Volume:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return Volume.from_sitk(reader.Execute())


def _read_file(path: Path) -> Volume:
    import SimpleITK as sitk

    return Volume.from_sitk(sitk.ReadImage(str(path)))


def _read_nifti(path: Path) -> Volume:
    import SimpleITK as sitk

    return Volume.from_sitk(sitk.ReadImage(str(path)))


def _axial(ax, ct: np.ndarray, title: str, contours=(), overlay=None, overlay_max=None, spacing=(1.0, 1.0)) -> None:  # type: ignore[no-untyped-def]
    ax.imshow(ct, cmap="gray", vmin=-160, vmax=240, aspect=spacing[0] / spacing[1], interpolation="nearest")
    if overlay is not None:
        vmax = overlay_max or float(np.percentile(overlay, 99.9))
        ax.imshow(np.ma.masked_less(overlay, 0.08 * vmax), cmap="inferno", vmin=0, vmax=vmax, alpha=0.6,
                  aspect=spacing[0] / spacing[1], interpolation="bilinear")
    for mask, colour in contours:
        if mask.any():
            ax.contour(mask.astype(float), [0.5], colors=colour, linewidths=0.8)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def write_preview(case: str, case_dir: Path, png: Path) -> Path:
    """Write a preview figure of one generated case to ``png``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.4), dpi=80)
    if case in ("sirt", "maa"):
        _preview_patient(fig, case, case_dir)
    elif case == "ablation":
        _preview_ablation(fig, case_dir)
    elif case == "nema":
        _preview_nema(fig, case_dir)
    elif case in ("sbrt", "hdr"):
        _preview_rt(fig, case, case_dir)
    elif case == "tace":
        _preview_tace(fig, case_dir)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, metadata={"Software": None})
    return png


def _preview_patient(fig, case: str, d: Path) -> None:  # type: ignore[no-untyped-def]
    gt = d / "ground_truth"
    ct = _read_series(d / "ct")
    spect = _read_file(d / "spect" / "NM000001.dcm").resample_to(ct)
    liver = _read_nifti(gt / "liver.nii.gz").array > 0
    lesions = _read_nifti(gt / "lesions.nii.gz").array
    lungs = _read_nifti(gt / "lungs.nii.gz").array > 0
    kidneys = _read_nifti(gt / "kidneys.nii.gz").array > 0
    spleen = _read_nifti(gt / "spleen.nii.gz").array > 0
    territory = _read_nifti(gt / "perfused_territory.nii.gz").array > 0
    a = ct.array
    centres = [np.argwhere(lesions == k).mean(axis=0).round().astype(int) for k in (1, 2)]
    k_kid = int(np.argwhere(kidneys).mean(axis=0)[0])
    sp = ct.spacing_mm
    def base(k: int) -> list[tuple[np.ndarray, str]]:
        return [(liver[k], "lime"), (lesions[k] > 0, "red"), (lungs[k], "cyan"), (kidneys[k], "yellow"),
                (spleen[k], "orange")]

    panels = 4
    if case == "sirt":
        pet = _read_series(d / "pet").resample_to(ct)
    for n, k in enumerate([centres[0][0], centres[1][0], k_kid]):
        z = float(ct.index_to_world([k, 0, 0])[2])
        _axial(fig.add_subplot(2, panels, n + 1), a[k], f"CT z = {z:.0f} mm",
               base(k))
    j = centres[0][1]
    _axial(fig.add_subplot(2, panels, 4), a[::-1, j], "CT coronal through lesion 1",
           [(liver[::-1, j], "lime"), (lesions[::-1, j] > 0, "red"), (lungs[::-1, j], "cyan")], spacing=(sp[0], sp[2]))
    k = centres[0][0]
    label = "90Y bremsstrahlung SPECT" if case == "sirt" else "99mTc-MAA SPECT"
    _axial(fig.add_subplot(2, panels, 5), a[k], f"{label} (counts) on CT", [(territory[k], "lime")],
           overlay=spect.array[k], overlay_max=float(spect.array.max()))
    _axial(fig.add_subplot(2, panels, 6), a[::-1, j], f"{label}, coronal", [(territory[::-1, j], "lime")],
           overlay=spect.array[::-1, j], overlay_max=float(spect.array.max()), spacing=(sp[0], sp[2]))
    k2 = centres[1][0]
    if case == "sirt":
        _axial(fig.add_subplot(2, panels, 7), a[k], "90Y PET (Bq/mL) on CT", [(lesions[k] > 0, "cyan")],
               overlay=pet.array[k], overlay_max=float(np.percentile(pet.array, 99.95)))
        act = _read_nifti(gt / "activity_bqml.nii.gz").array
        _axial(fig.add_subplot(2, panels, 8), a[k2], "true activity (Bq/mL), dome lesion", [(lungs[k2], "cyan")],
               overlay=act[k2], overlay_max=float(act.max()))
    else:
        act = _read_nifti(gt / "activity_bqml.nii.gz").array
        _axial(fig.add_subplot(2, panels, 7), a[k], "true MAA activity (Bq/mL)", [(territory[k], "lime")],
               overlay=act[k], overlay_max=float(act.max()))
        _axial(fig.add_subplot(2, panels, 8), a[k2], "SPECT at the dome (lung shunt)", [(lungs[k2], "cyan")],
               overlay=spect.array[k2], overlay_max=float(spect.array.max()))


def _preview_ablation(fig, d: Path) -> None:  # type: ignore[no-untyped-def]
    gt = d / "ground_truth"
    pre = _read_series(d / "pre_ct")
    post = _read_series(d / "post_ct")
    t_pre = _read_nifti(gt / "tumor_pre.nii.gz").array > 0
    l_pre = _read_nifti(gt / "liver_pre.nii.gz").array > 0
    t_post = _read_nifti(gt / "tumor_post.nii.gz").array > 0
    abl = _read_nifti(gt / "ablation_zone.nii.gz").array > 0
    l_post = _read_nifti(gt / "liver_post.nii.gz").array > 0
    cp = np.argwhere(t_pre).mean(axis=0).round().astype(int)
    cq = np.argwhere(t_post).mean(axis=0).round().astype(int)
    sp = pre.spacing_mm
    _axial(fig.add_subplot(2, 3, 1), pre.array[cp[0]], "pre-CT: tumour (red), liver (green)",
           [(t_pre[cp[0]], "red"), (l_pre[cp[0]], "lime")])
    _axial(fig.add_subplot(2, 3, 2), pre.array[cp[0]], "pre-CT without overlay")
    _axial(fig.add_subplot(2, 3, 3), pre.array[::-1, cp[1]], "pre-CT coronal", [(t_pre[::-1, cp[1]], "red")],
           spacing=(sp[0], sp[2]))
    _axial(fig.add_subplot(2, 3, 4), post.array[cq[0]], "post-CT: ablation zone (yellow), tumour carried (red)",
           [(abl[cq[0]], "yellow"), (t_post[cq[0]], "red"), (l_post[cq[0]], "lime")])
    _axial(fig.add_subplot(2, 3, 5), post.array[cq[0]], "post-CT without overlay")
    _axial(fig.add_subplot(2, 3, 6), post.array[::-1, cq[1]], "post-CT coronal",
           [(abl[::-1, cq[1]], "yellow"), (t_post[::-1, cq[1]], "red")], spacing=(sp[0], sp[2]))


def _preview_nema(fig, d: Path) -> None:  # type: ignore[no-untyped-def]
    gt = d / "ground_truth"
    act = _read_nifti(gt / "activity_bqml.nii.gz")
    spheres = _read_nifti(gt / "spheres.nii.gz").array
    pet = _read_series(d / "pet").resample_to(act)
    spect = _read_file(d / "spect" / "NM000001.dcm").resample_to(act)
    k = int(np.argwhere(spheres == 6).mean(axis=0)[0])
    j = int(np.argwhere(spheres == 6).mean(axis=0)[1])
    sp = act.spacing_mm
    for n, (vol, title) in enumerate([(act.array, "true activity (Bq/mL)"), (pet.array, "90Y PET (Bq/mL)"),
                                      (spect.array, "90Y bremsstrahlung SPECT (counts)")]):
        ax = fig.add_subplot(2, 3, n + 1)
        ax.imshow(vol[k], cmap="gray_r", vmin=0, vmax=float(np.percentile(vol[k], 99.9)), interpolation="nearest")
        ax.contour((spheres[k] > 0).astype(float), [0.5], colors="red", linewidths=0.6)
        ax.set_title(f"{title}, sphere plane", fontsize=8)
        ax.set_axis_off()
        ax = fig.add_subplot(2, 3, n + 4)
        ax.imshow(vol[::-1, j], cmap="gray_r", vmin=0, vmax=float(np.percentile(vol[:, j], 99.9)),
                  aspect=sp[0] / sp[2], interpolation="nearest")
        ax.set_title(f"{title}, coronal through the 37 mm sphere", fontsize=8)
        ax.set_axis_off()


def _preview_rt(fig, case: str, d: Path) -> None:  # type: ignore[no-untyped-def]
    """Axial, coronal and sagittal planes through the target: CT, RT Dose wash, structure outlines."""
    import json

    from workstation.io import read_rtdose

    truth = json.loads((d / "ground_truth" / "truth.json").read_text(encoding="utf-8"))
    ct = _read_series(d / "ct")
    dose = read_rtdose(d / "rt" / "RD.dcm").resample_to(ct, "linear", fill_value=0.0)
    target = "ptv" if case == "sbrt" else "ctv"
    masks = {n: _read_nifti(d / "ground_truth" / f"{n}.nii.gz").array > 0 for n in ("gtv", target, "liver")}
    k, j, i = np.argwhere(masks[target]).mean(axis=0).round().astype(int)
    rx = float(truth["prescription_gy"])
    sp = ct.spacing_mm
    colours = {"gtv": "red", target: "magenta", "liver": "sienna"}
    views = [
        (ct.array[k], dose.array[k], [(m[k], colours[n]) for n, m in masks.items()], (sp[1], sp[2]), "axial"),
        (ct.array[::-1, j], dose.array[::-1, j], [(m[::-1, j], colours[n]) for n, m in masks.items()],
         (sp[0], sp[2]), "coronal"),
        (ct.array[::-1, :, i], dose.array[::-1, :, i], [(m[::-1, :, i], colours[n]) for n, m in masks.items()],
         (sp[0], sp[1]), "sagittal"),
    ]
    label = "SBRT 45 Gy / 3 fx" if case == "sbrt" else "HDR 20 Gy / 1 fx"
    for n, (img, dd, contours, spacing, name) in enumerate(views, start=1):
        ax = fig.add_subplot(1, 3, n)
        _axial(ax, img, f"{label}: {name}" + (" (dose from 30 % Rx; GTV red, target magenta)" if n == 1 else ""),
               contours=contours, overlay=np.where(dd >= 0.3 * rx, dd, 0.0), overlay_max=1.5 * rx, spacing=spacing)


def _preview_tace(fig, d: Path) -> None:  # type: ignore[no-untyped-def]
    """Preview panels of the TACE case: each tumour after TACE, the pre-TACE CT, non-target deposit, clip."""
    gt = d / "ground_truth"
    pre = _read_series(d / "pre_ct")
    post = _read_series(d / "post_ct")
    t_pre = _read_nifti(gt / "tumor_pre.nii.gz").array
    t_post = _read_nifti(gt / "tumor_post.nii.gz").array
    lip = _read_nifti(gt / "lipiodol.nii.gz").array
    other = _read_nifti(gt / "not_lipiodol.nii.gz").array
    for n, k in enumerate((1, 2, 3)):
        c = np.argwhere(t_post == k).mean(axis=0).round().astype(int)
        _axial(fig.add_subplot(2, 3, n + 1), post.array[c[0]], f"post-TACE CT, tumour {k}",
               [(t_post[c[0]] == k, "red"), (lip[c[0]] > 0, "yellow")])
    c = np.argwhere(t_pre == 1).mean(axis=0).round().astype(int)
    _axial(fig.add_subplot(2, 3, 4), pre.array[c[0]], "pre-TACE CT (portal venous)", [(t_pre[c[0]] > 0, "red")])
    k_nt = int(np.argwhere(lip == 4).mean(axis=0)[0])
    _axial(fig.add_subplot(2, 3, 5), post.array[k_nt], "non-target deposit (segment 4)", [(lip[k_nt] == 4, "yellow")])
    k_clip = int(np.argwhere(other == 2).mean(axis=0)[0])
    _axial(fig.add_subplot(2, 3, 6), post.array[k_clip], "clip with streaks (not lipiodol)",
           [(other[k_clip] > 0, "cyan")])
