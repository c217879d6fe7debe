"""app/memory: the heap is trimmed every so often, and the trim does return freed pages here."""

from __future__ import annotations

import asyncio
import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from ccupgrade.app.memory import GC_THRESHOLDS, heap_trimmer, trim_heap_forever


def _anonymous_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_the_trim_gives_freed_heap_pages_back() -> None:
    trim = heap_trimmer()
    assert trim is not None  # glibc (the image's Debian and this machine)
    blocks = [bytearray(65536) for _ in range(1500)]  # ~94 MB from the heap, below the mmap threshold
    del blocks[::2]  # half freed, in holes glibc keeps: RSS does not move
    before = _anonymous_mb()
    trim()
    after = _anonymous_mb()
    assert before - after > 30, (before, after)  # ~47 MB were free
    del blocks


async def test_it_trims_every_so_often_until_cancelled() -> None:
    calls = 0
    thrice = asyncio.Event()

    def counting() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            thrice.set()

    task = asyncio.create_task(trim_heap_forever(0.01, counting))
    await asyncio.wait_for(thrice.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_without_malloc_trim_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert heap_trimmer() is None
    await asyncio.wait_for(trim_heap_forever(0.01), 1)  # returns at once


def test_the_gc_is_tuned_for_a_large_long_lived_heap() -> None:
    # In a process of its own: the tuning is process-wide, and the tests keep CPython's defaults.
    script = (
        "import gc; from ccupgrade.app import tune_gc; before = gc.get_threshold(); tune_gc(); "
        "print(before, gc.get_threshold(), gc.get_freeze_count() > 10000)"
    )
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert answer.stdout.split("\n")[0] == f"(700, 10, 10) {GC_THRESHOLDS} True"
