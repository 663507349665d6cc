"""Running a manifest: real commands (plan: no images), records, tables, resume, failures, equality."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from workstation.cli import main
from workstation.cohort import read_manifest, run_cohort
from workstation.dosimetry.nuclides import Y90


def _plan_alone(args: list[str]) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["plan", *args, "--json"]) == 0
    return json.loads(buf.getvalue())


def test_serial_run_records_tables_and_resume(tmp_path: Path, plan_manifest: Path, catalogue: dict) -> None:
    manifest = read_manifest(plan_manifest, catalogue)
    out = tmp_path / "results"
    run = run_cohort(manifest, out, main, serial=True)
    assert run.counts == {"done": 5, "failed": 1, "skipped": 0}
    t = run.tables["treatments"].set_index("id")
    assert list(t.index) == [c.id for c in manifest.cases]
    # the failing case is recorded with the command's own sentence; the others went on
    assert t.loc["bsa-incomplete", "status"] == "failed"
    assert t.loc["bsa-incomplete", "reason"] == "--model bsa needs --weight-kg."
    for i in range(5):
        row = t.loc[f"mird{i}"]
        assert row["status"] == "done"
        # the number is exactly that of the command run alone (same code, same inputs)
        alone = _plan_alone(["--model", "mird", "--target-gy", str(100 + 10 * i), "--liver-ml",
                             str(1400 + 50 * i), "--lung-shunt", "0.05"])
        assert row["prescribed_activity_gbq"] == pytest.approx(alone["prescribed_activity_gbq"], rel=1e-12)
        # and the MIRD formula A = D M / (f (1 - LSF)), M = V x 1.03 g/mL
        expected = (100 + 10 * i) * (1400 + 50 * i) * 1.03e-3 / (Y90.ldm_gy_kg_per_gbq * 0.95)
        assert row["prescribed_activity_gbq"] == pytest.approx(expected, rel=1e-9)
        assert row["argv"].startswith("workstation plan --model mird")
        assert len(row["fingerprint"]) == 64 and row["code_hash"] == run.summary["code_hash"]
    # files: the tables in both formats, read back equal
    for level in ("treatments", "rois", "lesions"):
        assert (out / f"{level}.parquet").is_file() and (out / f"{level}.csv").is_file()
    back = pd.read_parquet(out / "treatments.parquet")
    assert back["prescribed_activity_gbq"].tolist() == pytest.approx(
        run.tables["treatments"]["prescribed_activity_gbq"].tolist(), nan_ok=True)
    import pyarrow.parquet as pq

    stored = json.loads(pq.read_schema(out / "treatments.parquet").metadata[b"workstation"])
    assert stored["code_hash"] == run.summary["code_hash"]
    assert "tumour" in stored["eqd2"]["tissues"]
    summary = json.loads((out / "cohort.json").read_text())
    assert summary["counts"] == run.counts and summary["failed"][0]["id"] == "bsa-incomplete"

    # rerun: unchanged cases are skipped (their numbers kept), the failed one runs again
    again = run_cohort(manifest, out, main, serial=True)
    assert again.counts == {"done": 0, "failed": 1, "skipped": 5}
    t2 = again.tables["treatments"].set_index("id")
    assert t2["prescribed_activity_gbq"].drop("bsa-incomplete").tolist() == \
        t["prescribed_activity_gbq"].drop("bsa-incomplete").tolist()

    # a changed option reruns that case only; --force reruns all
    text = plan_manifest.read_text().replace("mird2,plan,mird,120,", "mird2,plan,mird,125,")
    plan_manifest.write_text(text)
    changed = run_cohort(read_manifest(plan_manifest, catalogue), out, main, serial=True)
    assert changed.counts == {"done": 1, "failed": 1, "skipped": 4}
    assert changed.tables["treatments"].set_index("id").loc["mird2", "status"] == "done"
    forced = run_cohort(read_manifest(plan_manifest, catalogue), out, main, serial=True, force=True)
    assert forced.counts == {"done": 5, "failed": 1, "skipped": 0}


def test_dask_run_equals_serial_run(tmp_path: Path, plan_manifest: Path, catalogue: dict) -> None:
    """The same cases on a Dask cluster (workers as threads here; processes in the slow tests)."""
    manifest = read_manifest(plan_manifest, catalogue)
    serial = run_cohort(manifest, tmp_path / "serial", main, serial=True)
    started: list[dict] = []
    dask_run = run_cohort(manifest, tmp_path / "dask", main, workers=2, processes=False, memory_limit=None,
                          on_start=started.append)
    assert started and started[0]["workers"] == 2 and started[0]["dashboard"].startswith("http")
    assert dask_run.counts == serial.counts
    a = serial.tables["treatments"].set_index("id")
    b = dask_run.tables["treatments"].set_index("id")
    assert b.index.is_unique and list(b.index) == list(a.index)
    pd.testing.assert_series_equal(a["prescribed_activity_gbq"], b["prescribed_activity_gbq"], rtol=1e-12)
    assert (a["fingerprint"] == b["fingerprint"]).all()  # same inputs, options and code
    assert (b["status"] == a["status"]).all() and b.loc["bsa-incomplete", "reason"] == a.loc["bsa-incomplete", "reason"]


def test_output_inside_an_input_folder_is_refused(tmp_path: Path, catalogue: dict) -> None:
    from workstation.core.errors import InvalidInputError

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "t.nii.gz").write_bytes(b"\0")
    (tmp_path / "m.csv").write_text("id,command,tumor,ablation\nA,margin,in,in/t.nii.gz\n")
    manifest = read_manifest(tmp_path / "m.csv", catalogue)
    with pytest.raises(InvalidInputError, match="would overwrite or write into the input"):
        run_cohort(manifest, tmp_path / "in" / "results", main, serial=True)
    assert not (tmp_path / "in" / "results").exists()
