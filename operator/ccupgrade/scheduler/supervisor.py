"""Every task the scheduler starts, so none is lost and none fails silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("ccupgrade.scheduler")


class Supervisor:
    """Keeps the spawned tasks, logs a task's unexpected failure once with its name, cancels all at exit.

    Without it, an exception in a fire-and-forget task surfaces only as "Task exception was never
    retrieved" at garbage collection, and a task still running at shutdown is never cancelled."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Starts a named task that the supervisor keeps until it ends (logged if it fails) or close() cancels it."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("%s failed: %s", task.get_name(), error, exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancels every task and waits until all have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
