"""The ETA is stable for the whole active workflow: no flicker between `unknown` and no ETA (an
empty column in `kubectl get -w`) between tasks, and no status write for such a flicker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.mirror_walk import Walk


def _eta_text(stored: dict[str, Any] | None) -> str | None:
    eta = (stored or {}).get("eta")
    return None if eta is None else str(eta["text"])


def _without(stored: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (stored or {}).items() if k not in keys}


@pytest.mark.parametrize("scenario", ["standard", "history"])
def test_the_eta_column_does_not_flicker_during_an_upgrade(scenario: str) -> None:
    """Poll every second through the upgrade (Init at 0, Running from 5, Success at 55): from the
    first ETA to the end of the workflow the column always shows one (without the fix, `standard`
    went unknown, empty, unknown, empty… as each task ended and the next queued)."""
    walk = Walk(scenario)
    shown: list[tuple[int, str | None, str | None]] = []
    eta_only_writes = 0
    for second in range(0, 61):
        before = walk.stored
        result = walk.observe(second, now=second)
        shown.append((second, walk.status.phase, _eta_text(walk.stored)))
        if result.changed and _without(before, "eta", "lastSyncTime") == _without(walk.stored, "eta", "lastSyncTime"):
            eta_only_writes += 1
    active = [text for second, phase, text in shown if phase == "Running" and second >= 10]  # a task has started
    assert active
    assert None not in active, shown
    assert all(text is None for _, phase, text in shown if phase == "Success")  # done: nothing to estimate
    assert eta_only_writes == 0, shown
    if scenario == "standard":  # no history: unknown throughout, never empty
        assert set(active) == {"unknown"}
    else:  # an estimate from the past upgrade, never unknown once a task has ended
        assert "unknown" not in [text for second, phase, text in shown if phase == "Running" and second >= 15]


def test_a_workflow_that_is_over_has_no_eta() -> None:
    """Cancelled after its pre-check: tasks queued and none failed, but the workflow is over, so
    nothing is estimated (the ETA between tasks is for an active workflow only)."""
    walk = Walk("cancelled")
    for second in range(0, 31):
        walk.observe(second, now=second)
        if walk.status.phase == "Running" and second >= 16:
            assert walk.status.eta is not None  # between tasks of an active workflow: one is shown
    assert walk.status.phase == "Cancel"
    assert walk.status.eta is None
