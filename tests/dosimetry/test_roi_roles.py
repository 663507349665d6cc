"""ROI roles: chosen explicitly, else guessed from the name; never silent when the liver or lungs are missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workstation.cli import main
from workstation.core import InvalidInputError, Volume
from workstation.dosimetry.pipeline import run_sirt
from workstation.dosimetry.roles import (
    RoiRole,
    guess_role,
    parse_role,
    resolve_roles,
    role_warnings,
)
from workstation.io import write_image


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("liver", RoiRole.LIVER), ("sirt liver", RoiRole.LIVER), ("Liver_1", RoiRole.LIVER),
        ("perfused_liver", RoiRole.LIVER), ("lesions", RoiRole.LESION), ("sirt lesions", RoiRole.LESION),
        ("liver lesions", RoiRole.LESION), ("Tumour A", RoiRole.LESION), ("lungs", RoiRole.LUNG),
        ("left-lung", RoiRole.LUNG), ("normal liver", RoiRole.NORMAL_LIVER), ("body", RoiRole.BODY),
        ("label 1", RoiRole.OTHER), ("spleen", RoiRole.OTHER), ("deliver", RoiRole.OTHER),
    ],
)
def test_guess_role_reads_words(name: str, role: RoiRole) -> None:
    assert guess_role(name) is role


def test_parse_role_accepts_common_words_and_names_the_choices() -> None:
    assert parse_role("lungs") is RoiRole.LUNG and parse_role("Tumour") is RoiRole.LESION
    assert parse_role("normal liver") is RoiRole.NORMAL_LIVER and parse_role("normal_liver") is RoiRole.NORMAL_LIVER
    with pytest.raises(InvalidInputError, match="choose one of: liver, lesion, lung"):
        parse_role("kidney")


def test_resolve_roles_chosen_first_then_from_the_name() -> None:
    roles, sources = resolve_roles(["label 1", "lungs"], {"label 1": "liver"})
    assert roles == {"label 1": RoiRole.LIVER, "lungs": RoiRole.LUNG}
    assert sources == {"label 1": "chosen", "lungs": "from the name"}
    with pytest.raises(InvalidInputError, match="'kidney', which is not an ROI"):
        resolve_roles(["liver"], {"kidney": "other"})


def test_role_warnings_say_what_cannot_be_computed() -> None:
    text = " ".join(role_warnings({"tumour": "lesion"}, counts_image=True, lung_formula=False))
    assert "No ROI has the liver role" in text and "normalised over the whole field of view" in text
    assert "no tumour-to-normal ratio" in text and "No ROI has the lung role" in text
    assert "there is no lung dose" in text
    assert role_warnings({"a": "liver", "b": "lung"}, counts_image=True, lung_formula=True) == []


def _renamed(phantom: dict[str, Volume]) -> dict[str, Volume]:
    return {"label 1": phantom["liver"], "label 2": phantom["lesions"], "label 3": phantom["lungs"]}


def test_the_dose_depends_on_the_roles_not_on_the_names(liver_phantom: dict[str, Volume]) -> None:
    p = liver_phantom
    kwargs = dict(administered_gbq=2.0, lung_shunt_fraction=0.05, method="ldm")
    named = run_sirt(p["spect"], rois={"liver": p["liver"], "lesions": p["lesions"], "lungs": p["lungs"]},
                     **kwargs)  # type: ignore[arg-type]
    chosen = run_sirt(p["spect"], rois=_renamed(p),
                      roi_roles={"label 1": "liver", "label 2": "lesion", "label 3": "lungs"},
                      **kwargs)  # type: ignore[arg-type]
    a, b = named.results["methods"]["ldm"]["rois"], chosen.results["methods"]["ldm"]["rois"]
    # The same arithmetic on the same voxels: equal to float rounding (1e-9 relative).
    for old, new in (("liver", "label 1"), ("lesions", "label 2"), ("lungs", "label 3"),
                     ("lesions_1", "label 2_1"), ("normal_liver", "normal_liver")):
        assert b[new]["mean_gy"] == pytest.approx(a[old]["mean_gy"], rel=1e-9), new
    assert chosen.results["tumor_to_normal_ratio"] == pytest.approx(named.results["tumor_to_normal_ratio"], rel=1e-9)
    assert chosen.results["roi_roles"]["label 2_1"] == "lesion"
    assert chosen.results["roi_role_sources"] == {"label 1": "chosen", "label 2": "chosen", "label 3": "chosen"}
    assert not any("role" in w for w in chosen.warnings)

    # Without roles the same names are "other": normalised over the whole field of view, and it says so.
    silent = run_sirt(p["spect"], rois=_renamed(p), **kwargs)  # type: ignore[arg-type]
    assert set(silent.results["roi_roles"].values()) == {"other"}
    assert silent.results["activity"]["normalisation_region"] == "field of view"
    assert any(w.startswith("No ROI has the liver role") for w in silent.warnings)
    assert any(w.startswith("No ROI has the lung role") for w in silent.warnings)
    assert "normal_liver" not in silent.results["methods"]["ldm"]["rois"]


def test_run_sirt_refuses_unknown_roles(liver_phantom: dict[str, Volume]) -> None:
    p = liver_phantom
    with pytest.raises(InvalidInputError, match="Unknown ROI role 'kidney'"):
        run_sirt(p["spect"], rois={"a": p["liver"]}, roi_roles={"a": "kidney"}, administered_gbq=2.0, method="ldm")


def test_sirt_cli_roi_role_option(tmp_path: Path, liver_phantom: dict[str, Volume],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    paths = {}
    for name in ("spect", "liver", "lesions"):
        paths[name] = tmp_path / f"{name}.nii.gz"
        write_image(liver_phantom[name], paths[name])
    out = tmp_path / "out"
    code = main([
        "sirt", "--activity", str(paths["spect"]), "--activity-units", "counts",
        "--roi", f"whole={paths['liver']}", "--roi", f"lesions={paths['lesions']}",
        "--roi-role", "whole=liver", "--administered-gbq", "2", "--method", "ldm", "-o", str(out),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    r = json.loads((out / "results.json").read_text())
    assert r["roi_roles"]["whole"] == "liver" and r["roi_role_sources"]["lesions"] == "from the name"
    assert "normal_liver" in r["methods"]["ldm"]["rois"]  # results.json keys stay the --roi names
    assert "ROI roles: whole liver, lesions lesion (from the name)" in captured.out
    assert "No ROI has the lung role" in captured.out and "No ROI has the liver role" not in captured.out
    code = main(["sirt", "--activity", str(paths["spect"]), "--roi", f"whole={paths['liver']}",
                 "--roi-role", "hole=liver", "-o", str(tmp_path / "bad")])
    assert code == 2 and "'hole', which is not an ROI" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert np.isfinite(r["methods"]["ldm"]["rois"]["whole"]["mean_gy"])
