"""Counts who uses what is kept per cluster, credential or Secret, and drops it with its last user.

The poll groups share clusters (their past task runs, their ended pre-checks), credentials (their
refusal counts, IAM tokens) and Secrets (a cached read); none of that may outlive the objects that
need it, or deleted and rotated ones pile up for the life of the process.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Users(Generic[K]):
    """How many holders each key has; `on_unused(key)` runs when its last one lets go."""

    def __init__(self, on_unused: Callable[[K], None]) -> None:
        self._counts: dict[K, int] = {}
        self._on_unused = on_unused

    def __len__(self) -> int:
        return len(self._counts)

    def take(self, key: K) -> None:
        """One more holder of `key`."""
        self._counts[key] = self._counts.get(key, 0) + 1

    def drop(self, key: K) -> None:
        """One holder fewer; the last one lets what is kept for `key` go."""
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
            return
        self._counts.pop(key, None)
        self._on_unused(key)
