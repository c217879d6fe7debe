"""The test bed's start/stop context manager: a bring-up that fails halfway leaves nothing running."""

from __future__ import annotations

import pytest

from ccupgrade.testbed.processes import Started


class Recorder(Started):
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")
        if self.fail:
            raise RuntimeError("half started")

    def stop(self) -> None:
        self.calls.append("stop")


def test_stop_follows_the_block() -> None:
    with Recorder(fail=False) as started:
        assert started.calls == ["start"]
    assert started.calls == ["start", "stop"]


def test_a_failed_start_is_stopped_and_raised() -> None:
    recorder = Recorder(fail=True)
    with pytest.raises(RuntimeError, match="half started"), recorder:
        pytest.fail("the block runs only after a successful start")
    assert recorder.calls == ["start", "stop"]
