"""Acceptance of the cohort mode on a 12-patient synthetic cohort (24 treatments), a real LocalCluster.

Two worker processes; one is killed (SIGKILL) while it runs a case: every case still completes
once. A rerun skips every case; a case's numbers equal the command run alone; the analysis
recovers the generator's dose-response parameters within their 95 % confidence intervals.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workstation.cli import main
from workstation.cohort import analyze_cohort, read_manifest, run_cohort
from workstation.dosimetry.nuclides import Y90

pytestmark = pytest.mark.slow

PATIENTS = 12


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from workstation.samples import generate_cohort

    folder = tmp_path_factory.mktemp("cohort") / "c12"
    truth = generate_cohort(folder, PATIENTS, seed=2026)
    return folder, truth


def _executing_keys(dask_worker) -> list[str]:  # noqa: ANN001 - distributed passes its Worker
    """The keys a worker is executing now (its queue left out)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


@pytest.fixture(scope="module")
def killed_run(cohort: tuple[Path, dict], catalogue: dict) -> dict:
    """Run the cohort on 2 worker processes and SIGKILL one of them while it runs a case."""
    import dask
    from distributed import Client, LocalCluster

    folder, _ = cohort
    out = folder / "results"
    manifest = read_manifest(folder / "manifest.csv", catalogue)
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="3GiB",
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    watcher = Client(cluster)
    killed: dict = {}
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        # Only a case that is executing (not merely queued on the worker) and has started its
        # attempt (attempts.json written) but not finished (no record.json) is a case cut short.
        while not stop.is_set():
            if len(list(out.glob("cases/*/record.json"))) >= 3:
                for address, keys in watcher.run(_executing_keys).items():
                    for key in keys:
                        case_id = key.split("-", 1)[1].rsplit("-", 1)[0]
                        case_dir = out / "cases" / case_id
                        if (case_dir / "record.json").exists() or not (case_dir / "attempts.json").exists():
                            continue
                        pid = watcher.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(address=address, case=case_id, pid=pid,
                                      done_before=len(list(out.glob("cases/*/record.json"))))
                        return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_one_busy_worker, daemon=True)
    thread.start()
    try:
        run = run_cohort(manifest, out, main, scheduler=cluster.scheduler_address)
    finally:
        stop.set()
        thread.join()
        watcher.close()
        cluster.close()
    return {"run": run, "killed": killed, "manifest": manifest, "out": out}


def test_killing_a_worker_still_completes_every_case_once(killed_run: dict) -> None:
    run, killed, out = killed_run["run"], killed_run["killed"], killed_run["out"]
    assert killed, "no worker was killed while running a case"
    assert 3 <= killed["done_before"] < 2 * PATIENTS
    assert run.counts == {"done": 2 * PATIENTS, "failed": 0, "skipped": 0}
    t = run.tables["treatments"]
    assert len(t) == 2 * PATIENTS and t["id"].is_unique and (t["status"] == "done").all()
    # the case that lost its worker ran again, elsewhere, and counts once
    row = t.set_index("id").loc[killed["case"]]
    assert row["attempt"] == 2 and not row["worker"].endswith(f":{killed['pid']}")
    rois, lesions = run.tables["rois"], run.tables["lesions"]
    assert not rois.duplicated(["id", "method", "roi"]).any()
    assert not lesions.duplicated(["id", "method", "lesion"]).any()
    # 12 SIRT x 2 methods x 3 lesions, 12 ablations x 1 tumour
    assert len(lesions) == PATIENTS * 2 * 3 + PATIENTS
    assert not list(out.glob("cases/*/.attempt-*"))  # no half-written attempt left
    on_disk = pd.read_parquet(out / "lesions.parquet")
    assert len(on_disk) == len(lesions) and len(pd.read_csv(out / "lesions.csv")) == len(lesions)


def test_rerun_skips_every_case_with_the_same_numbers(killed_run: dict) -> None:
    first = killed_run["run"]
    again = run_cohort(killed_run["manifest"], killed_run["out"], main, workers=2)
    assert again.counts == {"done": 0, "failed": 0, "skipped": 2 * PATIENTS}
    a = first.tables["lesions"].set_index(["id", "method", "lesion"]).sort_index()
    b = again.tables["lesions"].set_index(["id", "method", "lesion"]).sort_index()
    pd.testing.assert_frame_equal(a.drop(columns="status"), b.drop(columns="status"))


def _numbers(tree: object, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k not in ("outputs", "inputs", "report"):
                out.update(_numbers(v, f"{prefix}{k}."))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(_numbers(v, f"{prefix}{i}."))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        out[prefix] = float(tree)
    return out


@pytest.mark.parametrize("case_id", ["P03-sirt", "P05-margin"])
def test_a_case_equals_the_command_run_alone(killed_run: dict, tmp_path: Path, case_id: str) -> None:
    case = next(c for c in killed_run["manifest"].cases if c.id == case_id)
    alone = tmp_path / "alone"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(case.argv(alone)) == 0
    mine = json.loads((killed_run["out"] / "cases" / case_id / "output" / "results.json").read_text())
    ref = json.loads((alone / "results.json").read_text())
    a, b = _numbers(mine), _numbers(ref)
    assert a.keys() == b.keys() and len(a) > 20
    # same code on the same inputs: equal up to floating-point reassociation (threads), not approximately
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    # and the table rows carry those numbers
    run = killed_run["run"]
    if case.command == "sirt":
        rois = run.tables["rois"]
        row = rois[(rois["id"] == case_id) & (rois["method"] == "ldm") & (rois["roi"] == "lesions_2")].iloc[0]
        assert row["mean_gy"] == ref["methods"]["ldm"]["rois"]["lesions_2"]["mean_gy"]
        assert row["d70_gy"] == ref["methods"]["ldm"]["rois"]["lesions_2"]["d70_gy"]
    else:
        t = run.tables["treatments"].set_index("id")
        assert t.loc[case_id, "minimal_margin_mm"] == ref["minimal_margin_mm"]


def test_provenance_input_uids_and_truth(killed_run: dict, cohort: tuple[Path, dict]) -> None:
    _, truth = cohort
    t = killed_run["run"].tables["treatments"].set_index("id")
    for s in truth["treatments"]["sirt"]:
        inputs = json.loads(t.loc[s["id"], "inputs"])
        series = {uid for v in inputs.values() for uid in v["series_instance_uids"]}
        assert series == {s["series"]["ct"], s["series"]["pet"]}
        assert all(len(v["sha256"]) == 64 for v in inputs.values())
        constants = json.loads(t.loc[s["id"], "constants"])
        assert constants["ldm_gy_kg_per_gbq"] == Y90.ldm_gy_kg_per_gbq and constants["eqd2"]["tissues"]
        # the generator's truth is self-consistent: mean LDM dose = f A / M (M = V x 1.03 g/mL)
        for les in s["lesions"]:
            f_a_m = Y90.ldm_gy_kg_per_gbq * les["activity_gbq"] / (les["volume_ml_mask"] * 1.03e-3)
            assert les["true_mean_gy"] == pytest.approx(f_a_m, rel=1e-6)


def test_measured_lesion_doses_follow_the_truth(killed_run: dict, cohort: tuple[Path, dict]) -> None:
    """PET (6.5 mm FWHM, Poisson noise) with RBV partial-volume correction: lesion mean LDM doses
    within 15 % of the true mean doses, and within 3 % on average.

    RBV assumes a uniform activity per region; the generator's lesions are rim-weighted and
    heterogeneous (+-20 %), and a lesion astride the right lobe's edge is partly unperfused:
    on seed 2026 the worst of 36 lesions is 12 % low (25 mm, TNR 1.3, across the lobe edge);
    without the correction these lesions lose 25-30 % of their mean dose on this PET."""
    _, truth = cohort
    lesions = killed_run["run"].tables["lesions"]
    ldm = lesions[lesions["method"] == "ldm"].set_index(["id", "lesion"])
    ratios = [ldm.loc[(s["id"], les["roi"]), "mean_gy"] / les["true_mean_gy"]
              for s in truth["treatments"]["sirt"] for les in s["lesions"]]
    assert np.all(np.abs(np.asarray(ratios) - 1) < 0.15), ratios
    assert abs(np.mean(ratios) - 1) < 0.03


def test_analysis_recovers_the_generator_dose_response(killed_run: dict, cohort: tuple[Path, dict]) -> None:
    _, truth = cohort
    analysis = analyze_cohort(killed_run["out"], method="ldm", bootstrap=500)
    m = analysis["dose_response"]["metrics"]["mean_gy"]
    assert m["status"] == "ok" and m["n"] == 3 * PATIENTS
    dr = truth["dose_response"]
    for key, value in (("intercept", dr["intercept"]), ("slope_per_gy", dr["slope_per_gy"]), ("d50_gy", dr["d50_gy"])):
        lo, hi = m[key]["ci"]
        assert lo <= value <= hi, (key, value, m[key])
    mo = analysis["margin_outcome"]
    assert mo["n"] == PATIENTS and sum(g["n"] for g in mo.get("kaplan_meier", [])) in (0, PATIENTS)


def test_rt_dose_and_tace_cases_of_the_sample_studies(tmp_path: Path, catalogue: dict) -> None:
    """The other commands of the table, on the bundled studies: rows carry results.json's numbers."""
    from workstation.samples import sample_data_dir

    d = sample_data_dir()
    gt = d / "tace" / "ground_truth"
    (tmp_path / "m.yaml").write_text(
        "- id: sbrt\n  command: rt-dose\n"
        f"  dose: {d / 'sbrt/rt/RD.dcm'}\n  plan: {d / 'sbrt/rt/RP.dcm'}\n  structures: {d / 'sbrt/rt/RS.dcm'}\n"
        f"  ct: {d / 'sbrt/ct'}\n"
        "- id: tace\n  command: tace\n"
        f"  post-ct: {d / 'tace/post_ct'}\n  pre-ct: {d / 'tace/pre_ct'}\n  tumor: {gt / 'tumor_pre.nii.gz'}\n"
        f"  liver: {gt / 'liver_post.nii.gz'}\n  transform: {gt / 'transform.tfm'}\n  outcome: {{tumor_1: 1}}\n",
        encoding="utf-8")
    run = run_cohort(read_manifest(tmp_path / "m.yaml", catalogue), tmp_path / "out", main, serial=True)
    assert run.counts == {"done": 2, "failed": 0, "skipped": 0}, run.summary["failed"]
    sbrt = json.loads((tmp_path / "out/cases/sbrt/output/results.json").read_text())
    rois = run.tables["rois"]
    assert set(rois.loc[rois["id"] == "sbrt", "roi"]) == set(sbrt["rois"])
    for name, met in sbrt["rois"].items():
        row = rois[(rois["id"] == "sbrt") & (rois["roi"] == name)].iloc[0]
        assert row["d95_gy"] == met["d95_gy"] and row["eqd2_mean_gy"] == met["eqd2_mean_gy"]
    tace = json.loads((tmp_path / "out/cases/tace/output/results.json").read_text())
    lesions = run.tables["lesions"].set_index("lesion")
    for t in tace["tumors"]:
        row = lesions.loc[f"tumor_{t['label']}"]
        assert row["lipiodol_coverage_percent"] == t["lipiodol_coverage_percent"] and row["class"] == t["class"]
    assert lesions.loc["tumor_1", "response"] == 1
    treatments = run.tables["treatments"].set_index("id")
    assert treatments.loc["tace", "non_target_ml"] == tace["non_target_ml"]
    assert treatments.loc["sbrt", "prescription_gy"] == sbrt["prescription_gy"]
