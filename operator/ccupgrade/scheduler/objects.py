"""The one store of watched objects: each object's latest known version, from the watch or from
our own write. The scheduler reads it to poll; the writer (`writes.Writer`) keeps it current."""

from __future__ import annotations

from ccupgrade.models import ObjectRef, Watched


class ObjectStore:
    """Latest version per object; a record is frozen and replaced whole, never changed in place."""

    def __init__(self) -> None:
        self._records: dict[ObjectRef, Watched] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, ref: ObjectRef) -> Watched | None:
        """The latest version known, or None for an object not (or no longer) watched."""
        return self._records.get(ref)

    def put(self, watched: Watched) -> None:
        """Makes `watched` the latest version of its object."""
        self._records[watched.ref] = watched

    def drop(self, ref: ObjectRef) -> None:
        """The object was deleted: its record goes."""
        self._records.pop(ref, None)
