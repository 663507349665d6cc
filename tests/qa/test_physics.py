"""The physics self-checks of `workstation qa` pass, and a broken check is reported as failed."""

from __future__ import annotations

from workstation.qa import physics


def test_all_physics_checks_pass() -> None:
    rows = physics.run_physics_checks()
    assert len(rows) >= 9
    failed = [r for r in rows if not r["passed"]]
    assert failed == []
    assert all(r["source"] for r in rows)


def test_a_raising_check_is_a_failed_row(monkeypatch) -> None:
    def broken() -> list:
        raise ValueError("kernel table missing")

    monkeypatch.setattr(physics, "PHYSICS_CHECKS", {"broken": broken})
    rows = physics.run_physics_checks()
    assert rows[0]["passed"] is False and "kernel table missing" in rows[0]["source"]
