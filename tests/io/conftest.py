"""Print the fuzz tests' seed and outcome counts at the end of the session."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.io.fuzz_harness import FUZZ_SEED, OUTCOMES

    if not OUTCOMES:
        return
    total = sum(c["inputs"] for c in OUTCOMES.values())
    terminalreporter.write_sep(
        "-", f"reader fuzzing: Hypothesis seed {FUZZ_SEED} (slow run {FUZZ_SEED + 1}), {total} mutated inputs"
    )
    for reader, counts in sorted(OUTCOMES.items()):
        terminalreporter.write_line(
            f"{reader:>12}: {counts['inputs']:4d} inputs, {counts['exit 0']:4d} read (exit 0), "
            f"{counts['exit 2']:4d} refused with a reason (exit 2)"
        )
