"""`python -m ccupgrade.testbed.crash_after_status run …`: the operator, which SIGKILLs itself right
after its first status write that records new Events, before it posts them.

The crash-safety test's kill between a status write and its Events: the next operator must post
them from the status's `eventJournal`. It wraps the operator's writer from here, so the operator
itself carries no switch that makes it kill itself.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from ccupgrade.cli import main as operator_main
from ccupgrade.kube import KubeIO
from ccupgrade.mirror import Mirrored
from ccupgrade.models import Watched

log = logging.getLogger("ccupgrade.testbed")

Publish = Callable[[KubeIO, Watched, Mirrored], Coroutine[Any, Any, Watched | None]]


def dying_after_status(publish: Publish) -> Publish:
    """`publish`, then a SIGKILL (like a crash) once a status with new Events is stored."""

    async def publish_then_die(io: KubeIO, watched: Watched, result: Mirrored) -> Watched | None:
        stored = await publish(io, watched, result)
        if result.changed and result.events and stored is not None:
            log.warning("crash test: SIGKILL after the status write, before its %d Events", len(result.events))
            os.kill(os.getpid(), signal.SIGKILL)
        return stored

    return publish_then_die


def main() -> int:
    """The operator's command line, its status writes wrapped."""
    KubeIO.publish = dying_after_status(KubeIO.publish)  # type: ignore[method-assign,assignment]
    return operator_main()


if __name__ == "__main__":
    raise SystemExit(main())
