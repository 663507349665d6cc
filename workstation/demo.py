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


class _Lanes:
    """Background lanes: queued steps run one after another in ``n`` lanes, each in its own
    process (``python -m workstation``), beside the steps the main process runs.

    With one lane per core beyond the first, the demo keeps every core busy without
    running more processes than there are cores (each would only slow the others and add
    its memory to the machine's).
    """

    def __init__(self, n: int, echo: Callable[[str], None]) -> None:
        import queue
        import threading

        self.echo = echo
        self.queue: queue.Queue[tuple[DemoStep, threading.Event, list[Any]] | None] = queue.Queue()
        self.current: list[Any] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(max(1, n))]
        for t in self.threads:
            t.start()

    def _work(self) -> None:
        import subprocess

        while True:
            item = self.queue.get()
            if item is None:
                return
            step, done, slot = item
            if self.stopped.is_set():
                step.exit_code, step.notes = -1, ["not run: the demo stopped"]
                done.set()
                continue
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "workstation", "--quiet", *step.args],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            self.current.append(proc)
            _, err = proc.communicate()
            self.current.remove(proc)
            step.seconds = time.perf_counter() - t0
            step.exit_code = proc.returncode
            slot.append((err or "").strip())
            self.echo(f"    {step.name}: {step.seconds:.1f} s (background)")
            done.set()

    def grow(self) -> None:
        """One more lane: the main process has finished its own steps, so its core is free."""
        import threading

        thread = threading.Thread(target=self._work, daemon=True)
        self.threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Kill what runs and skip what is queued."""
        self.stopped.set()
        for proc in list(self.current):
            if proc.poll() is None:
                proc.kill()
        for _ in self.threads:
            self.queue.put(None)


class _Runner:
    def __init__(self, out: Path, echo: Callable[[str], None],
                 run_command: Callable[[list[str]], int]) -> None:
        self.out = out
        self.echo = echo
        self.run_command = run_command
        self.steps: list[DemoStep] = []
        self.lanes = _Lanes(max(1, (os.cpu_count() or 2) - 1), echo)

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        # done or failed: stop the background lanes (on failure, what still runs is killed)
        self.lanes.stop()

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

    def start(self, name: str, args: list[str], outputs: list[str]) -> tuple[DemoStep, Any, list[str]]:
        """Queue a step for a background lane (it runs while the next steps do)."""
        import threading

        step = DemoStep(name, args, outputs)
        self.echo(f"[{len(self.steps) + 1}] {name} (in the background): workstation {' '.join(args)}")
        self.steps.append(step)
        done, slot = threading.Event(), list[str]()
        self.lanes.queue.put((step, done, slot))
        return step, done, slot

    def finish(self, handle: tuple[DemoStep, Any, list[str]], ok_codes: tuple[int, ...] = (0,)) -> DemoStep:
        """Wait for a background step; check its exit status and outputs."""
        step, done, slot = handle
        done.wait()
        if step.exit_code not in ok_codes:
            err = slot[0] if slot else ""
            raise WorkstationError(
                f"The demo step '{step.name}' failed with exit code {step.exit_code}: "
                f"{err.splitlines()[-1] if err else 'no message'}"
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


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


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
        tace_gt = s / "tace" / "ground_truth"
        sbrt = s / "sbrt"
        truth_sirt = _load(sirt_gt / "truth.json")
        truth_abl = _load(abl_gt / "truth.json")
        summary: dict[str, Any] = {"sample_data": str(s), "output": str(out)}
        ct_path = str(s / "sirt" / "ct")
        screenshots = _screenshot_possible()

        # The background lane, in the order its results are needed:
        # physics and phantom QA (its resolution feeds the partial-volume correction below)
        qa_handle = run.start("physics and NEMA phantom QA", ["qa", "-o", str(out / "qa")],
                              ["qa/qa.json", "qa/report.html", "qa/report.pdf"])
        # ablation margins, the pre-ablation CT registered to the post-ablation CT, tumour kept rigid
        margin_handle = run.start(
            "ablation margins (pre-CT registered to post-CT)",
            ["margin", "--tumor", str(abl_gt / "tumor_pre.nii.gz"),
             "--ablation", str(abl_gt / "ablation_zone.nii.gz"),
             "--liver", str(abl_gt / "liver_post.nii.gz"),
             "--pre-ct", str(s / "ablation" / "pre_ct"), "--post-ct", str(s / "ablation" / "post_ct"),
             "--no-inverse-consistency", "-o", str(out / "margins")],
            ["margins/results.json", "margins/margin_map.nii.gz", "margins/report.html", "margins/report.pdf",
             "margins/registration/transform.tfm", "margins/registration/registration.json"])
        # lipiodol coverage after TACE, the pre-TACE CT registered to the post-TACE CT
        tace_handle = run.start(
            "TACE lipiodol coverage (pre-CT registered to post-CT)",
            ["tace", "--post-ct", str(s / "tace" / "post_ct"), "--pre-ct", str(s / "tace" / "pre_ct"),
             "--tumor", str(tace_gt / "tumor_pre.nii.gz"), "--liver", str(tace_gt / "liver_post.nii.gz"),
             "--registration-mode", "affine", "-o", str(out / "tace")],
            ["tace/results.json", "tace/lipiodol.nii.gz", "tace/report.html"])
        # SBRT plan from a planning system: coverage, constraints, EQD2
        rt_handle = run.start(
            "SBRT plan: coverage, liver constraints, EQD2",
            ["rt-dose", "--dose", str(sbrt / "rt" / "RD.dcm"), "--plan", str(sbrt / "rt" / "RP.dcm"),
             "--structures", str(sbrt / "rt" / "RS.dcm"), "--ct", str(sbrt / "ct"), "-o", str(out / "rt_dose")],
            ["rt_dose/results.json", "rt_dose/dvh.csv", "rt_dose/eqd2.nii.gz", "rt_dose/report.html"])

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
        # 4. segmentation of the SIRT CT
        seg_notes = {}
        for kind in ("liver", "lungs"):
            step = run.run(f"segment the {kind}", ["segment", kind, "--image", ct_path,
                                                    "-o", str(out / "segmentation" / f"{kind}.nii.gz")],
                           [f"segmentation/{kind}.nii.gz"])
            auto = read_image(out / "segmentation" / f"{kind}.nii.gz").array
            truth = read_image(sirt_gt / f"{kind}.nii.gz").array
            dice = _dice(auto, truth)
            seg_notes[kind] = dice
            step.notes.append(f"Dice {dice:.3f} against the ground truth")
        # a lesion from the radiologist's long axis (RECIST style): two points across lesion 1
        lesion = truth_sirt["lesions"][0]
        cx, cy, cz = lesion["centre_lps_mm"]
        half = lesion["diameter_mm"] / 2
        line = [f"{v:g}" for v in (cx - half, cy, cz, cx + half, cy, cz)]
        step = run.run("segment a lesion from its long axis",
                       ["segment", "lesions", "--image", ct_path, "--within", str(sirt_gt / "liver.nii.gz"),
                        "--seed-line", *line, "-o", str(out / "segmentation" / "lesion_long_axis.nii.gz")],
                       ["segmentation/lesion_long_axis.nii.gz"])
        drawn = read_image(out / "segmentation" / "lesion_long_axis.nii.gz").array != 0
        dice = _dice(drawn, read_image(sirt_gt / "lesions.nii.gz").array == lesion["label"])
        seg_notes["lesion_long_axis"] = dice
        step.notes.append(f"Dice {dice:.3f} against lesion {lesion['label']} of the ground truth")
        summary["segmentation_dice"] = seg_notes
        # 5. the planning (MAA) CT registered to the treatment CT: a rigid CT-to-CT registration
        #    between two frames of reference, checked against the known patient shift
        step = run.run("register the MAA CT to the SIRT CT",
                       ["register", "--fixed", ct_path, "--moving", str(s / "maa" / "ct"), "--mode", "rigid",
                        "--no-inverse-consistency", "-o", str(out / "registration_maa_to_sirt")],
                       ["registration_maa_to_sirt/transform.tfm", "registration_maa_to_sirt/registration.json",
                        "registration_maa_to_sirt/moving_resampled.nii.gz"])
        tre = _registration_error_mm(out / "registration_maa_to_sirt" / "transform.tfm", sirt_gt / "liver.nii.gz",
                                     _load(maa_gt / "truth.json"))
        summary["maa_to_sirt_registration_error_mm"] = tre
        step.notes.append(f"error over the liver {tre['mean']:.2f} mm mean, {tre['max']:.2f} mm max "
                          "(known shift between the studies)")
        # 6. planning on the MAA study: the partition model
        maa_rois = ["--roi", f"liver={maa_gt / 'liver.nii.gz'}", "--roi", f"lesions={maa_gt / 'lesions.nii.gz'}",
                    "--roi", f"lungs={maa_gt / 'lungs.nii.gz'}",
                    "--roi", f"perfused={maa_gt / 'perfused_territory.nii.gz'}"]
        step = run.run("partition-model plan from the MAA SPECT/CT",
                       ["plan", "--model", "partition", "--maa", str(s / "maa" / "spect"),
                        "--maa-ct", str(s / "maa" / "ct"), *maa_rois, "--target-tumor-gy", "150",
                        "--json"],
                       ["plan/plan.json"], capture=out / "plan" / "plan.json")
        plan = _load(out / "plan" / "plan.json")
        summary["plan"] = plan
        lsf = plan.get("maa", {}).get("lung_shunt_fraction")
        if lsf is not None:
            step.notes.append(f"lung shunt fraction {lsf:.3f} and tumour-to-normal ratio "
                              f"{plan['maa']['tumor_to_normal_ratio']:.2f} from the MAA image")
        step.notes.append(f"prescribed activity {plan['prescribed_activity_gbq']:.2f} GBq")
        # 7. lesion overview of the SIRT CT: size, location, distances, tumour burden
        step = run.run("lesion overview of the SIRT CT",
                       ["lesions", "--ct", ct_path, "--liver", str(sirt_gt / "liver.nii.gz"),
                        "--lesions", str(sirt_gt / "lesions.nii.gz"), "-o", str(out / "lesions")],
                       ["lesions/results.json", "lesions/report.html"])
        step.notes.append(_lesion_note(_load(out / "lesions" / "results.json"), truth_sirt))
        # 8. de-identification for sharing: the SPECT/CT keeps its shared frame of reference
        step = run.run("anonymize the SPECT/CT (PS3.15 basic profile)",
                       ["anonymize", str(s / "sirt" / "spect"), ct_path, "-o", str(out / "anonymized"),
                        "--key", "demo"], [])
        step.notes.append(_anonymized_note(out / "anonymized"))

        qa_step = run.finish(qa_handle, ok_codes=(0, 3))
        qa = _load(out / "qa" / "qa.json")
        summary["qa_passed"] = qa["passed"]
        # the system resolution of each modality, fitted on the phantom of the same reconstruction
        fwhm = {m: next((p["fitted_fwhm_mm"] for p in qa["phantoms"] if m.upper() in p["name"]), None)
                for m in ("spect", "pet")}
        summary["fwhm_mm_from_qa"] = fwhm
        qa_step.notes.append(f"QA {'passed' if qa['passed'] else 'FAILED'}; resolution "
                             + ", ".join(f"{m.upper()} {v:.1f} mm FWHM" for m, v in fwhm.items() if v))
        # 9. SIRT dosimetry on the SPECT and on the PET, every engine
        rois = ["--roi", f"liver={sirt_gt / 'liver.nii.gz'}", "--roi", f"lesions={sirt_gt / 'lesions.nii.gz'}",
                "--roi", f"lungs={sirt_gt / 'lungs.nii.gz'}"]
        admin = ["--administered-gbq", str(truth_sirt["administered_gbq"]),
                 "--lung-shunt", str(truth_sirt["lung_shunt_fraction"])]
        sirt_outputs = ["dose_ldm.nii.gz", "dose_vsv.nii.gz", "dose_vsv-density.nii.gz", "rtdose_vsv.dcm",
                        "dvh.csv", "results.json", "report.html"]
        shots = []
        for label, image in (("spect", s / "sirt" / "spect"), ("pet", s / "sirt" / "pet")):
            d = out / f"sirt_{label}"
            # partial-volume correction (RBV) with the resolution measured by the phantom QA
            pvc = ["--pvc", "rbv", "--psf-fwhm-mm", f"{fwhm[label]:.2f}"] if fwhm[label] else []
            step = run.run(f"SIRT dosimetry on the {label.upper()}",
                           ["sirt", "--activity", str(image), "--ct", ct_path, *rois, *admin, *pvc,
                            "--method", "all", "-o", str(d)],
                           [f"sirt_{label}/{n}" for n in sirt_outputs])
            res = _load(d / "results.json")
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
            if screenshots and label == "spect":
                # a picture of the dose on the anatomy
                shots.append(run.start("screenshot of the dose over the CT",
                                       ["view", ct_path, "--dose", str(d / "dose_vsv.nii.gz"),
                                        "--labels", str(sirt_gt / "lesions.nii.gz"),
                                        "--screenshot", str(out / "screenshot_sirt.png")],
                                       ["screenshot_sirt.png"]))
            if screenshots and label == "pet":
                # the PET-only path: no CT, the emission image as the base layer
                shots.append(run.start("screenshot of the PET-only study",
                                       ["view", str(image), "--dose", str(d / "dose_ldm.nii.gz"),
                                        "--labels", f"lesions={sirt_gt / 'lesions.nii.gz'}",
                                        "--screenshot", str(out / "screenshot_pet_only.png")],
                                       ["screenshot_pet_only.png"]))

        # the main process only waits from here on: its core takes a lane of the queued steps
        run.lanes.grow()
        step = run.finish(margin_handle)
        mres = _load(out / "margins" / "results.json")
        summary["minimal_margin_mm"] = mres["minimal_margin_mm"]
        summary["truth_minimal_margin_mm"] = truth_abl["minimal_margin_mm"]
        step.notes.append(f"minimal margin {mres['minimal_margin_mm']:.2f} mm "
                          f"(truth {truth_abl['minimal_margin_mm']:.2f} mm)")
        step = run.finish(tace_handle)
        summary["tace"] = _tace_check(_load(out / "tace" / "results.json"), _load(tace_gt / "truth.json"))
        step.notes.append(summary["tace"]["note"])
        step = run.finish(rt_handle)
        summary["rt_dose"] = _rt_check(_load(out / "rt_dose" / "results.json"), _load(sbrt / "ground_truth" / "truth.json"))
        step.notes.append(summary["rt_dose"]["note"])
        # 10. the reports as a reader opens them: a real browser, 1280 px wide (every report is
        #     written by now; the screenshots may still run beside it)
        summary["report_check"] = _browser_check(
            [out / "sirt_spect" / "report.html", out / "margins" / "report.html", out / "qa" / "report.html",
             out / "tace" / "report.html", out / "rt_dose" / "report.html", out / "lesions" / "report.html"],
            out / "report_screenshots", run)
        for handle in shots:
            run.finish(handle)
    summary["seconds"] = time.perf_counter() - t_start
    summary["steps"] = [
        {"name": st.name, "seconds": round(st.seconds, 2),
         "command": ("workstation " + " ".join(st.args)) if st.args else "headless Chromium (workstation.report.browser)",
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


def _lesion_note(res: dict[str, Any], truth: dict[str, Any]) -> str:
    lesions = res.get("lesions") or []
    burden = res.get("tumour_burden_percent")
    text = f"{len(lesions)} lesions (truth {len(truth.get('lesions', []))})"
    return text + (f", tumour burden {burden:.1f} % of the liver" if isinstance(burden, int | float) else "")


def _anonymized_note(folder: Path) -> str:
    """How many series were written, and whether the SPECT and CT still share a frame of reference."""
    import pydicom

    frames: dict[str, str] = {}
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        frames.setdefault(str(ds.SeriesInstanceUID), str(ds.get("FrameOfReferenceUID", "")))
    if len(frames) < 2:
        raise WorkstationError(f"The demo's anonymization wrote {len(frames)} series in {folder}, not 2.")
    if len(set(frames.values())) != 1:
        raise WorkstationError("The anonymized SPECT and CT no longer share a frame of reference.")
    return f"{len(frames)} series de-identified; SPECT and CT still share one frame of reference"


def _tace_check(res: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """Per-tumour coverage and class against the sample's truth (acceptance: 3 percentage points)."""
    rows = []
    for t, tt in zip(res["tumors"], truth["tumors"], strict=True):
        rows.append({"label": t["label"], "coverage_percent": t["lipiodol_coverage_percent"],
                     "truth_percent": tt["lipiodol_coverage_percent"], "class": t["class"], "truth_class": tt["class"]})
    worst = max(abs(r["coverage_percent"] - r["truth_percent"]) for r in rows)
    classes_ok = all(r["class"] == r["truth_class"] for r in rows)
    note = (f"coverage within {worst:.1f} percentage points of the truth for {len(rows)} tumours; classes "
            + ("all correct" if classes_ok else "NOT all correct"))
    return {"tumors": rows, "worst_coverage_error_pp": worst, "classes_correct": classes_ok, "note": note}


def _rt_check(res: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """PTV D98 and V100 against the plan's known DVH (acceptance: 3 % of the prescription)."""
    ptv, known = res["rois"]["PTV"], truth["known_dvh"]["PTV"]
    error = ptv["d98_gy"] - known["d98_gy"]
    note = (f"PTV D98 {ptv['d98_gy']:.1f} Gy (known {known['d98_gy']:.1f} Gy), V100 {ptv['v100_percent']:.1f} %; "
            f"prescription {truth['prescription_gy']:g} Gy in {truth['fractions']} fractions")
    return {"ptv_d98_gy": ptv["d98_gy"], "known_ptv_d98_gy": known["d98_gy"], "d98_error_gy": error,
            "ptv_v100_percent": ptv["v100_percent"], "prescription_gy": truth["prescription_gy"], "note": note}


def _browser_check(pages: list[Path], shots: Path, run: _Runner) -> dict[str, Any] | None:
    """Open the reports in headless Chromium (when installed): page width, console errors, summary first."""
    from workstation.report.browser import check_page, chromium_path, open_browser

    if chromium_path() is None:
        return None
    t0 = time.perf_counter()
    shots.mkdir(parents=True, exist_ok=True)
    results = {}
    with open_browser(1280, 800) as page:
        for path in (p for p in pages if p.is_file()):
            results[path.parent.name] = check_page(page, path, screenshot=shots / f"{path.parent.name}.png")
    bad = [name for name, r in results.items()
           if r.overflows or r.console_errors or not r.summary_in_first_screen]
    step = DemoStep("reports in a browser (1280 px)", [], [f"report_screenshots/{n}.png" for n in results],
                    seconds=time.perf_counter() - t0, exit_code=0)
    step.notes.append(f"{len(results)} reports: " + ("all fit the window, summary first, no console error"
                                                    if not bad else "a problem in " + ", ".join(bad)))
    run.steps.append(step)
    return {"pages": sorted(results), "problems": bad}
