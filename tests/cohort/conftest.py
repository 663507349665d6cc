"""Cohort fixtures: the command line's option catalogue and small manifests of real commands."""

from __future__ import annotations

from pathlib import Path

import pytest


def cli_catalogue() -> dict:
    """What the command line accepts, as ``cohort run`` reads it from its own commands."""
    import typer

    from workstation.cli._main import app
    from workstation.cli.cohort import option_catalogue

    group = typer.main.get_command(app)
    return option_catalogue(group.context_class(group, info_name="workstation"))


@pytest.fixture(scope="session")
def catalogue() -> dict:
    return cli_catalogue()


@pytest.fixture
def plan_manifest(tmp_path: Path) -> Path:
    """Five MIRD/BSA plans (no images: milliseconds each) and one the plan command refuses.

    Expected activities follow A = D M / (f (1 - LSF)) with f = 49.67 Gy kg/GBq (MIRD).
    """
    rows = ["id,command,model,target-gy,liver-ml,lung-shunt,height-cm,weight-kg,tumor-ml"]
    rows += [f"mird{i},plan,mird,{100 + 10 * i},{1400 + 50 * i},0.05,,," for i in range(5)]
    rows.append("bsa-incomplete,plan,bsa,,1500,,170,,")  # the command needs --weight-kg (and --tumor-ml)
    path = tmp_path / "plans.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
