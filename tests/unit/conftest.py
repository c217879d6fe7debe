"""Fixtures shared by the unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from ccupgrade.scheduler.poller import Scheduler


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Scheduler], None]]:
    """Starts schedulers' run loops and cancels them when the test ends."""
    tasks: list[asyncio.Task[None]] = []

    def start(scheduler: Scheduler) -> None:
        tasks.append(asyncio.create_task(scheduler.run()))

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
