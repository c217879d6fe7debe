"""The process's heap: the cyclic GC tuned for a large, long-lived heap, and the free pages
handed back to the OS between bursts (glibc's `malloc_trim`).

At 5,000 objects the heap holds ~400,000 tracked objects (each object's record and status), and
CPython ran a full collection after every ~2,000 status writes (its 25 % rule): 52 of them in 2.5
minutes took 22 s, a fifth of the operator's CPU, in the bursts where the API server needs it most.
The thresholds (10,000, 10, 10) instead of (700, 10, 10) let a full collection come after ~1M
allocations rather than ~70,000, and the young collections run 14 times less often (most of a
burst's young objects, the new records and statuses, live on, so each young collection costs more:
~9 ms). In a 5,000-object run the collections took 9 % of the operator's CPU, against 13 % with
(700, 10, 100) and 20 % with the defaults. The objects alive after start-up (modules, classes:
~76,000) are frozen out of every collection.

A burst (thousands of watch bodies, statuses and requests at once) leaves glibc holding the
pages it freed: the process's RSS stays at the burst's peak long after the operator holds far
less (at 1,000 objects ~25 MB of 150 MB). `malloc_trim(0)` returns them; every 30 s it costs a
few milliseconds. No library wraps this one call, so it is made through ctypes; where the C
library has no `malloc_trim` (musl, macOS), nothing runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("ccupgrade.memory")

TRIM_EVERY = 30.0
GC_THRESHOLDS = (10_000, 10, 10)  # see the module


def tune_gc() -> None:
    """Fewer full collections, and none over what start-up made (see the module); call once, before
    the work starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def heap_trimmer() -> Callable[[], None] | None:
    """glibc's `malloc_trim(0)` as a call, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> None:
        trim(0)

    return call


async def trim_heap_forever(every: float = TRIM_EVERY, trimmer: Callable[[], None] | None = None) -> None:
    """Trims the heap every `every` seconds until cancelled (returns at once where it cannot)."""
    trim = trimmer or heap_trimmer()
    if trim is None:
        log.debug("no malloc_trim in this C library: freed heap pages stay with the process")
        return
    while True:
        await asyncio.sleep(every)
        trim()
