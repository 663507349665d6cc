"""``workstation demo``: the whole SIRT and ablation workflow on the bundled sample studies.

Each step runs the public command exactly as a user would type it (so the demo
exercises the command-line contract and writes every output of it), then the
demo compares the key numbers with the studies' ground truth.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import WorkstationError

__all__ = ["DemoStep", "run_demo", "display_available"]


@dataclass
class DemoStep:
    name: str
    args: list[str]
    outputs: list[str]
    seconds: float = 0.0
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)


def display_available() -> bool:
    """True when a window can be opened (an X display or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _screenshot_possible() -> bool:
    return display_available() or shutil.which("Xvfb") is not None


class _Runner:
    def __init__(self, out: Path, echo: Callable[[str], None],
                 run_command: Callable[[list[str]], int]) -> None:
        self.out = out
        self.echo = echo
        self.run_command = run_command
        self.steps: list[DemoStep] = []
        self.running: list[Any] = []

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        # a failed step: stop the steps still running in the background
        for proc in self.running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def run(self, name: str, args: list[str], outputs: list[str], capture: Path | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> DemoStep:
        step = DemoStep(name, args, outputs)
        self.echo(f"[{len(self.steps) + 1}] {name}: workstation {' '.join(args)}")
        buf = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            code = self.run_command(["--quiet", *args])
        step.seconds = time.perf_counter() - t0
        step.exit_code = code
        if capture is not None:
            capture.parent.mkdir(parents=True, exist_ok=True)
            capture.write_text(buf.getvalue(), encoding="utf-8")
        self.steps.append(step)
        self.echo(f"    {step.seconds:.1f} s")
        if code not in ok_codes:
            raise WorkstationError(
                f"The demo step '{name}' failed with exit code {code}; run "
                f"'workstation {' '.join(args)}' to see why."
            )
        self._check_outputs(step)
        return step

    def _check_outputs(self, step: DemoStep) -> None:
        missing = [o for o in step.outputs if not (self.out / o).is_file()]
        if missing:
            raise WorkstationError(f"The demo step '{step.name}' did not write {', '.join(missing)}.")


    def start(self, name: str, args: list[str], outputs: list[str]) -> tuple[DemoStep, Any, float]:
        """Start a step in a separate process (it runs while the next steps do)."""
        import subprocess

        step = DemoStep(name, args, outputs)
        self.echo(f"[{len(self.steps) + 1}] {name} (in the background): workstation {' '.join(args)}")
        self.steps.append(step)
        proc = subprocess.Popen(
            [sys.executable, "-m", "workstation", "--quiet", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.running.append(proc)
        return step, proc, time.perf_counter()

    def finish(self, handle: tuple[DemoStep, Any, float], ok_codes: tuple[int, ...] = (0,)) -> DemoStep:
        step, proc, t0 = handle
        _, err = proc.communicate()
        self.running.remove(proc)
        step.seconds = time.perf_counter() - t0
        step.exit_code = proc.returncode
        self.echo(f"    {step.name}: {step.seconds:.1f} s (background)")
        if proc.returncode not in ok_codes:
            raise WorkstationError(
                f"The demo step '{step.name}' failed with exit code {proc.returncode}: "
                f"{(err or '').strip().splitlines()[-1] if (err or '').strip() else 'no message'}"
            )
        self._check_outputs(step)
        return step


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a != 0, b != 0
    denom = a.sum() + b.sum()
    return float(2 * np.logical_and(a, b).sum() / denom) if denom else 1.0


def _registration_error_mm(tfm: Path, liver_mask: Path, truth_maa: dict[str, Any]) -> dict[str, float]:
    """Error of a SIRT-CT -> MAA-CT transform over liver voxels, against the known shift."""
    from workstation.io import read_image
    from workstation.registration import read_transform, transform_points

    liver = read_image(liver_mask)
    idx = np.argwhere(liver.array != 0)[::50]
    pts = liver.index_to_world(idx)
    shift = np.asarray(truth_maa["to_sirt_frame"]["translation_mm"], dtype=float)
    # a point p of the MAA study is p + shift in the SIRT frame, so the true
    # fixed (SIRT) -> moving (MAA) map is q -> q - shift
    err = np.linalg.norm(transform_points(pts, read_transform(tfm)) - (pts - shift), axis=1)
    return {"mean": float(err.mean()), "max": float(err.max())}


def run_demo(out_dir: str | os.PathLike[str], run_command: Callable[[list[str]], int],
             viewer: bool = True, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every step; returns the summary written to ``DIR/demo_summary.json``.

    Parameters
    ----------
    out_dir
        Output folder.
    run_command
        Runs one ``workstation`` command line in this process and returns its exit
        status (the CLI passes its own runner; the demo never imports the CLI).
        Steps that run beside the others start ``python -m workstation`` instead.
    viewer
        Open the viewer at the end when there is a display and a terminal.
    echo
        Where progress lines go.
    """
    from workstation.io import read_image
    from workstation.samples import sample_data_dir

    t_start = time.perf_counter()
    s = sample_data_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _Runner(out, echo, run_command) as run:
        sirt_gt = s / "sirt" / "ground_truth"
        abl_gt = s / "ablation" / "ground_truth"
        maa_gt = s / "maa" / "ground_truth"
        truth_sirt = json.loads((sirt_gt / "truth.json").read_text(encoding="utf-8"))
        truth_abl = json.loads((abl_gt / "truth.json").read_text(encoding="utf-8"))
        summary: dict[str, Any] = {"sample_data": str(s), "output": str(out)}

        # 1. what is in the sample folder
        run.run("index the sample studies", ["info", str(s), "--json"], ["info.json"],
                capture=out / "info.json")
        # 2. a DICOM multi-frame NM to NIfTI
        run.run("convert the SPECT to NIfTI",
                ["convert", str(s / "sirt" / "spect"), "-o", str(out / "convert" / "sirt_spect.nii.gz")],
                ["convert/sirt_spect.nii.gz"])
        # 3. the 90Y voxel S-value kernel of the SPECT voxel size
        run.run("voxel S-value kernel",
                ["kernel", "--nuclide", "Y-90", "--spacing", "4.8", "4.8", "4.8",
                 "-o", str(out / "kernel" / "y90_4.8mm.npy"), "--json"],
                ["kernel/y90_4.8mm.npy", "kernel/kernel.json"], capture=out / "kernel" / "kernel.json")
        # 9 (started now, in its own process): ablation margins, the pre-ablation CT registered
        #    to the post-ablation CT with the tumour kept rigid
        margin_handle = run.start(
            "ablation margins (pre-CT registered to post-CT)",
            ["margin", "--tumor", str(abl_gt / "tumor_pre.nii.gz"),
             "--ablation", str(abl_gt / "ablation_zone.nii.gz"),
             "--liver", str(abl_gt / "liver_post.nii.gz"),
             "--pre-ct", str(s / "ablation" / "pre_ct"), "--post-ct", str(s / "ablation" / "post_ct"),
             "--no-inverse-consistency", "-o", str(out / "margins")],
            ["margins/results.json", "margins/margin_map.nii.gz", "margins/report.html", "margins/report.pdf",
         "margins/registration/transform.tfm", "margins/registration/registration.json"])
        # 4. physics and phantom QA (also measures the SPECT and PET resolution used below);
        #    it runs in its own process while the segmentation and registration steps run
        qa_handle = run.start("physics and NEMA phantom QA", ["qa", "-o", str(out / "qa")],
                              ["qa/qa.json", "qa/report.html", "qa/report.pdf"])
        # 5. segmentation of the SIRT CT
        ct_path = str(s / "sirt" / "ct")
        seg_notes = {}
        for kind in ("liver", "lungs"):
            step = run.run(f"segment the {kind}", ["segment", kind, "--image", ct_path,
                                                    "-o", str(out / "segmentation" / f"{kind}.nii.gz")],
                           [f"segmentation/{kind}.nii.gz"])
            auto = read_image(out / "segmentation" / f"{kind}.nii.gz").array
            truth = read_image(sirt_gt / f"{kind}.nii.gz").array
            d = _dice(auto, truth)
            seg_notes[kind] = d
            step.notes.append(f"Dice {d:.3f} against the ground truth")
        summary["segmentation_dice"] = seg_notes
        # 6. the planning (MAA) CT registered to the treatment CT: a rigid CT-to-CT registration
        #    between two frames of reference, checked against the known patient shift
        step = run.run("register the MAA CT to the SIRT CT",
                       ["register", "--fixed", ct_path, "--moving", str(s / "maa" / "ct"), "--mode", "rigid",
                        "--no-inverse-consistency", "-o", str(out / "registration_maa_to_sirt")],
                       ["registration_maa_to_sirt/transform.tfm", "registration_maa_to_sirt/registration.json",
                        "registration_maa_to_sirt/moving_resampled.nii.gz"])
        tre = _registration_error_mm(out / "registration_maa_to_sirt" / "transform.tfm", sirt_gt / "liver.nii.gz",
                                     json.loads((maa_gt / "truth.json").read_text(encoding="utf-8")))
        summary["maa_to_sirt_registration_error_mm"] = tre
        step.notes.append(f"error over the liver {tre['mean']:.2f} mm mean, {tre['max']:.2f} mm max "
                          "(known shift between the studies)")
        qa_step = run.finish(qa_handle, ok_codes=(0, 3))
        qa = json.loads((out / "qa" / "qa.json").read_text(encoding="utf-8"))
        summary["qa_passed"] = qa["passed"]
        # the system resolution of each modality, fitted on the phantom of the same reconstruction
        fwhm = {m: next((p["fitted_fwhm_mm"] for p in qa["phantoms"] if m.upper() in p["name"]), None)
                for m in ("spect", "pet")}
        summary["fwhm_mm_from_qa"] = fwhm
        qa_step.notes.append(f"QA {'passed' if qa['passed'] else 'FAILED'}; resolution "
                             + ", ".join(f"{m.upper()} {v:.1f} mm FWHM" for m, v in fwhm.items() if v))
        # 7. SIRT dosimetry on the SPECT and on the PET, every engine
        rois = ["--roi", f"liver={sirt_gt / 'liver.nii.gz'}", "--roi", f"lesions={sirt_gt / 'lesions.nii.gz'}",
                "--roi", f"lungs={sirt_gt / 'lungs.nii.gz'}"]
        admin = ["--administered-gbq", str(truth_sirt["administered_gbq"]),
                 "--lung-shunt", str(truth_sirt["lung_shunt_fraction"])]
        sirt_outputs = ["dose_ldm.nii.gz", "dose_vsv.nii.gz", "dose_vsv-density.nii.gz", "rtdose_vsv.dcm",
                        "dvh.csv", "results.json", "report.html"]
        for label, image in (("spect", s / "sirt" / "spect"), ("pet", s / "sirt" / "pet")):
            d = out / f"sirt_{label}"
            # partial-volume correction (RBV) with the resolution measured by the phantom QA
            pvc = ["--pvc", "rbv", "--psf-fwhm-mm", f"{fwhm[label]:.2f}"] if fwhm[label] else []
            step = run.run(f"SIRT dosimetry on the {label.upper()}",
                           ["sirt", "--activity", str(image), "--ct", ct_path, *rois, *admin, *pvc,
                            "--method", "all", "-o", str(d)],
                           [f"sirt_{label}/{n}" for n in sirt_outputs])
            res = json.loads((d / "results.json").read_text(encoding="utf-8"))
            true_liver = truth_sirt["rois"]["liver"]["mean_ldm_gy"]
            liver = res["methods"]["ldm"]["rois"]["liver"]["mean_gy"]
            step.notes.append(f"liver mean LDM dose {liver:.1f} Gy (truth {true_liver:.1f} Gy)")
            lesion_err = []
            for key, entry in sorted(truth_sirt["rois"].items()):
                roi = res["methods"]["ldm"]["rois"].get(key.replace("lesion_", "lesions_"))
                if key.startswith("lesion_") and roi is not None and entry.get("mean_ldm_gy", 0) > 1:
                    lesion_err.append(100 * (roi["mean_gy"] / entry["mean_ldm_gy"] - 1))
            if lesion_err:
                step.notes.append("treated lesions, LDM mean vs truth: "
                                  + ", ".join(f"{e:+.1f} %" for e in lesion_err))
            summary[f"sirt_{label}"] = {"liver_mean_ldm_gy": liver, "truth_liver_mean_ldm_gy": true_liver,
                                        "tumor_to_normal_ratio": res.get("tumor_to_normal_ratio")}
        # 10 (started now, in its own process): a picture of the dose on the anatomy
        if _screenshot_possible():
            shot = run.start("screenshot of the dose over the CT",
                             ["view", ct_path, "--dose", str(out / "sirt_spect" / "dose_vsv.nii.gz"),
                              "--labels", str(sirt_gt / "lesions.nii.gz"),
                              "--screenshot", str(out / "screenshot_sirt.png")],
                             ["screenshot_sirt.png"])
        # 8. planning on the MAA study: the partition model
        maa_rois = ["--roi", f"liver={maa_gt / 'liver.nii.gz'}", "--roi", f"lesions={maa_gt / 'lesions.nii.gz'}",
                    "--roi", f"lungs={maa_gt / 'lungs.nii.gz'}",
                    "--roi", f"perfused={maa_gt / 'perfused_territory.nii.gz'}"]
        step = run.run("partition-model plan from the MAA SPECT/CT",
                       ["plan", "--model", "partition", "--maa", str(s / "maa" / "spect"),
                        "--maa-ct", str(s / "maa" / "ct"), *maa_rois, "--target-tumor-gy", "150",
                        "--json"],
                       ["plan/plan.json"], capture=out / "plan" / "plan.json")
        plan = json.loads((out / "plan" / "plan.json").read_text(encoding="utf-8"))
        summary["plan"] = plan
        lsf = plan.get("maa", {}).get("lung_shunt_fraction")
        if lsf is not None:
            step.notes.append(f"lung shunt fraction {lsf:.3f} and tumour-to-normal ratio "
                              f"{plan['maa']['tumor_to_normal_ratio']:.2f} from the MAA image")
        step.notes.append(f"prescribed activity {plan['prescribed_activity_gbq']:.2f} GBq")
        step = run.finish(margin_handle)
        mres = json.loads((out / "margins" / "results.json").read_text(encoding="utf-8"))
        summary["minimal_margin_mm"] = mres["minimal_margin_mm"]
        summary["truth_minimal_margin_mm"] = truth_abl["minimal_margin_mm"]
        step.notes.append(f"minimal margin {mres['minimal_margin_mm']:.2f} mm "
                          f"(truth {truth_abl['minimal_margin_mm']:.2f} mm)")
        # 10. a picture of the dose on the anatomy
        if _screenshot_possible():
            run.finish(shot)
    summary["seconds"] = time.perf_counter() - t_start
    summary["steps"] = [
        {"name": st.name, "command": "workstation " + " ".join(st.args), "seconds": round(st.seconds, 2),
         "exit_code": st.exit_code, "outputs": st.outputs, "notes": [n for n in st.notes if n]}
        for st in run.steps
    ]
    from workstation.io import atomic_path

    with atomic_path(out / "demo_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if viewer and display_available() and sys.stdin.isatty():
        echo("opening the viewer (close the window to finish)")
        run_command(["view", ct_path, "--dose", str(out / "sirt_spect" / "dose_vsv.nii.gz"),
                  "--labels", str(sirt_gt / "lesions.nii.gz")])
    return summary
