"""Manifests: CSV and YAML read alike, every problem of every row reported at once, nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.cli import main
from workstation.cohort import ManifestError, read_manifest


def _inputs(folder: Path) -> None:
    (folder / "pet").mkdir()
    (folder / "pet" / "a.dcm").write_bytes(b"\0" * 16)
    (folder / "liver.nii.gz").write_bytes(b"\0")
    (folder / "lesions.nii.gz").write_bytes(b"\0")
    (folder / "tumor.nii.gz").write_bytes(b"\0")
    (folder / "zone.nii.gz").write_bytes(b"\0")


def test_csv_row_becomes_the_command_line(tmp_path: Path, catalogue: dict) -> None:
    _inputs(tmp_path)
    (tmp_path / "m.csv").write_text(
        "id,command,activity,roi.liver,roi.lesions,method,administered_gbq,outcome.lesions_1,outcome.lesions_2,"
        "tumor,ablation,inverse-consistency,progression_months,progressed\n"
        "S1,sirt,pet,liver.nii.gz,lesions.nii.gz,\"ldm,vsv\",1.5,1,0,,,,,\n"
        "M1,margin,,,,,,,,tumor.nii.gz,zone.nii.gz,false,14.5,1\n", encoding="utf-8")
    manifest = read_manifest(tmp_path / "m.csv", catalogue)
    s1, m1 = manifest.cases
    assert s1.args == ["--activity", str(tmp_path / "pet"), "--roi", f"liver={tmp_path / 'liver.nii.gz'}",
                       "--roi", f"lesions={tmp_path / 'lesions.nii.gz'}", "--method", "ldm,vsv",
                       "--administered-gbq", "1.5"]
    assert s1.argv(tmp_path / "out")[-2:] == ["-o", str(tmp_path / "out")]
    assert s1.outcomes == {"lesions_1": 1, "lesions_2": 0}
    assert s1.progression_months is None and s1.progressed is None
    assert m1.args == ["--tumor", str(tmp_path / "tumor.nii.gz"), "--ablation", str(tmp_path / "zone.nii.gz"),
                       "--no-inverse-consistency"]
    assert (m1.progression_months, m1.progressed) == (14.5, 1)
    assert sorted(s1.input_paths()) == sorted(str(tmp_path / f) for f in ("pet", "liver.nii.gz", "lesions.nii.gz"))


def test_yaml_nested_mappings_equal_the_csv_columns(tmp_path: Path, catalogue: dict) -> None:
    _inputs(tmp_path)
    (tmp_path / "m.csv").write_text(
        "id,command,activity,roi.liver,roi.lesions,outcome.lesions_1\nS1,sirt,pet,liver.nii.gz,lesions.nii.gz,1\n",
        encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "cases:\n  - id: S1\n    command: sirt\n    activity: pet\n"
        "    roi: {liver: liver.nii.gz, lesions: lesions.nii.gz}\n    outcome: {lesions_1: 1}\n", encoding="utf-8")
    a = read_manifest(tmp_path / "m.csv", catalogue).cases[0]
    b = read_manifest(tmp_path / "m.yaml", catalogue).cases[0]
    assert (a.args, a.outcomes, a.inputs) == (b.args, b.outcomes, b.inputs)


BAD = (
    "id,command,activity,roi.liver,administered-gbq,spacing_mm,output,outcome.lesions_1,progression_months\n"
    "S1,sirt,missing_pet,liver.nii.gz,1.5,,,,\n"          # missing input file
    "S2,sirt,pet,liver.nii.gz,lots,,,,\n"                 # not a number
    "S1,sirt,pet,liver.nii.gz,1.5,,,,\n"                  # duplicate id
    "S4,sirtt,pet,,,,,,\n"                                # unknown command
    "S5,sirt,pet,,,3,,,\n"                                # unknown option (a kernel option)
    "S6,sirt,pet,,,,here,,\n"                             # the cohort sets the output
    "S7,sirt,pet,,,,,maybe,\n"                            # outcome not 0/1
    "S8,margin,,,,,,,12\n"                                # margin needs --tumor/--ablation; months without progressed
    "S10,sirt,pet,,nan,,,,\n"                             # not a finite number
    "bad id,sirt,pet,,,,,,\n"                             # id names a folder
)


def test_every_problem_of_every_row_at_once(tmp_path: Path, catalogue: dict) -> None:
    _inputs(tmp_path)
    (tmp_path / "bad.csv").write_text(BAD, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "bad.csv", catalogue)
    problems = info.value.problems
    expected = [
        ("row 1 (S1)", "missing_pet does not exist"),
        ("row 2 (S2)", "administered-gbq"),
        ("row 3 (S1)", "duplicate id 'S1' (first used in row 1)"),
        ("row 4 (S4)", "unknown command 'sirtt' (did you mean 'sirt'?)"),
        ("row 5 (S5)", "unknown option 'spacing_mm' of sirt"),
        ("row 6 (S6)", "is set by the cohort"),
        ("row 7 (S7)", "outcome.lesions_1 must be 1"),
        ("row 8 (S8)", "progression_months and progressed go together"),
        ("row 8 (S8)", "margin needs 'tumor', 'ablation'"),
        ("row 9 (S10)", "'administered-gbq' must be a finite number"),
        ("row 10 (bad id)", "may hold only letters"),
    ]
    for where, what in expected:
        assert any(p.startswith(where) and what in p for p in problems), (where, what, problems)
    assert len(problems) == len(expected)


def test_cli_exit_2_lists_every_problem_and_starts_nothing(tmp_path: Path, capsys) -> None:
    _inputs(tmp_path)
    (tmp_path / "bad.csv").write_text(BAD, encoding="utf-8")
    out = tmp_path / "results"
    code = main(["cohort", "run", str(tmp_path / "bad.csv"), "-o", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "has 11 problems; nothing was run" in err and "Traceback" not in err
    assert err.count("\n  - row ") == 11
    assert not out.exists()


@pytest.mark.parametrize(("text", "suffix", "message"), [
    ("", ".csv", "has no header row"),
    ("id,command\n", ".csv", "no cases"),
    ("- [not, a, mapping]\n", ".yaml", "a case must be a mapping"),
    ("cases: {a: 1}\n", ".yml", "a list of cases"),
    ("id: [unclosed\n", ".yaml", "not valid YAML"),
    ("id,command\n", ".txt", "is a .csv, .yaml or .yml file"),
])
def test_unreadable_manifests(tmp_path: Path, catalogue: dict, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        read_manifest(path, catalogue)


def test_missing_manifest_is_one_problem(tmp_path: Path, catalogue: dict) -> None:
    with pytest.raises(ManifestError, match="no such file") as info:
        read_manifest(tmp_path / "nope.csv", catalogue)
    assert len(info.value.problems) == 1
