"""Fixtures of the sample-study tests: one regeneration of every case per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workstation.samples import generate

REPO_SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All cases generated afresh (about 50 s on one core)."""
    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out


@pytest.fixture(scope="session")
def committed() -> Path:
    """The committed copy; its absence is a failure, not a skip."""
    assert (REPO_SAMPLE_DATA / "sirt" / "ground_truth" / "truth.json").is_file(), (
        "sample_data/ is missing from the repository; run `workstation sample-data -o sample_data --previews`"
    )
    return REPO_SAMPLE_DATA


def load_truth(folder: Path, case: str) -> dict:
    return json.loads((folder / case / "ground_truth" / "truth.json").read_text(encoding="utf-8"))
