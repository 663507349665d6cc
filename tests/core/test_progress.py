"""The one progress-callback signature: what qualifies, and scaling into a part of a task."""

from __future__ import annotations

import pytest

from workstation.core.progress import Progress, no_progress, scaled


def test_any_function_of_fraction_and_optional_text_is_a_progress() -> None:
    seen: list[tuple[float, str | None]] = []

    def advance(fraction: float, text: str | None = None) -> None:
        seen.append((fraction, text))

    progress: Progress = advance  # mypy checks this assignment (names need not match)
    progress(0.5)
    progress(1.0, "done")
    assert seen == [(0.5, None), (1.0, "done")]
    no_progress(0.3, "ignored")  # accepts both arguments and reports nothing


def test_scaled_maps_a_part_of_the_task() -> None:
    seen: list[tuple[float, str | None]] = []
    inner = scaled(lambda f, t=None: seen.append((f, t)), 0.3, 0.9)
    assert inner is not None
    inner(0.0)
    inner(0.5, "half")
    inner(1.0)
    assert [f for f, _ in seen] == pytest.approx([0.3, 0.6, 0.9], abs=1e-12)
    assert seen[1][1] == "half"
    assert scaled(None, 0.0, 1.0) is None
