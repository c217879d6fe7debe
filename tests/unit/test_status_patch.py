"""A status write dumps each status once: the mirror's documents (made to decide `changed`) are
reused for the merge patch, which stays the one the full dumps give."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.kube.io import KubeIO
from ccupgrade.kube.patching import merge_patch
from ccupgrade.mirror import Mirrored, Observed, PollFailed, mirror
from ccupgrade.mirror.core import failed, suspended
from ccupgrade.models.resource import UpgradeStatus
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.ports import NoObserver
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.mirror_walk import SPEC, T0, Walk


class _PatchingApi:
    """Stands in for KubeApi: applies status merge patches (RFC 7386) and records them."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.patches: list[dict[str, Any]] = []

    async def create(self, path: str, body: dict[str, Any]) -> None:
        pass

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return {"items": []}  # no Events listed

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(json.loads(json.dumps(patch)))
        self.body = {
            **self.body,
            "metadata": {**self.body["metadata"], "resourceVersion": str(len(self.patches) + 1)},
            "status": _applied(self.body.get("status") or {}, patch["status"]),
        }
        return self.body


def _applied(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _applied(result[key], value)
        else:
            result[key] = value
    return result


def _full(status: UpgradeStatus | None) -> dict[str, Any]:
    return {} if status is None else status.model_dump(mode="json", by_alias=True, exclude_none=True)


class _Capturing(KubeIO):
    """KubeIO, keeping the results it is asked to write."""

    def __init__(self, api: _PatchingApi) -> None:
        super().__init__(api)
        self.results: list[Mirrored] = []

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        self.results.append(result)
        return await super().publish(watched, result)


Derive = Callable[[UpgradeStatus | None], Mirrored]


def _observed(second: float) -> Observed:
    walk = Walk("standard")
    walk.cluster.clock.set(second)
    return Observed(parse_workflow_list(json.dumps(walk.cluster.render_list())).items)


CASES: dict[str, Derive] = {
    "first": lambda old: mirror(old, _observed(0), SPEC, 1, T0),
    "transitions": lambda old: mirror(old, _observed(60), SPEC, 1, T0 + timedelta(seconds=60)),
    "resync": lambda old: mirror(old, _observed(31), SPEC, 1, T0 + timedelta(minutes=20)),
    "failed": lambda old: failed(old, PollFailed(True, "CloudAPIError", "down"), 1, T0 + timedelta(seconds=40)),
    "suspended": lambda old: suspended(old, 2, T0 + timedelta(seconds=40)),
}


@pytest.mark.parametrize("case", CASES)
async def test_a_write_dumps_each_status_once_and_patches_as_the_full_dumps_would(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = Walk("standard")
    if case != "first":
        walk.observe(31)
    body = {
        "metadata": {"name": "prod", "namespace": "ns", "uid": "uid-1", "generation": 1, "resourceVersion": "1"},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }
    if walk.stored is not None:  # with an entry in its journal, as after a start
        entry = {"name": "prod.0", "type": "Normal", "reason": "R", "message": "m", "eventTime": "2026-11-26T12:00:00Z"}
        body["status"] = {**walk.stored, "eventJournal": [entry]}
    api = _PatchingApi(body)
    tasks = Supervisor()
    io = _Capturing(api)
    writer = Writer(io, NoObserver(), tasks, max_concurrent=4)
    watched = Watched.from_body(body)
    writer.store(watched)
    derived: list[tuple[UpgradeStatus | None, Mirrored]] = []

    dumps = 0
    original = UpgradeStatus.model_dump

    def counting(self: UpgradeStatus, **kwargs: Any) -> dict[str, Any]:
        nonlocal dumps
        dumps += 1
        return original(self, **kwargs)

    def derive(current: Watched) -> Mirrored:
        result = CASES[case](current.status)
        derived.append((current.status, result))
        return result

    monkeypatch.setattr(UpgradeStatus, "model_dump", counting)
    await writer.write(watched.ref, Ticket.of(watched), derive, fresh=True)
    monkeypatch.undo()
    await asyncio.sleep(0.1)
    await tasks.close()

    assert len(api.patches) == 1
    assert dumps == 2  # the old status once, the new one once (there were 4: twice in the mirror, twice for the patch)
    old, _ = derived[0]
    written = api.patches[0]["status"]
    new = io.results[0].status  # with its eventJournal
    expected = _full(new) if old is None else merge_patch(_full(old), _full(new))
    assert written == expected
    assert api.body["status"] == _full(new)


class _PruningApi(_PatchingApi):
    """An API server that does not keep `progress` (as an older CRD's schema would prune it)."""

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        body = await super().merge_patch(path, patch)
        body["status"].pop("progress", None)
        return body


def _body() -> dict[str, Any]:
    return {
        "metadata": {"name": "prod", "namespace": "ns", "uid": "uid-1", "generation": 1, "resourceVersion": "1"},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }


def _writer_holding(api: _PatchingApi) -> tuple[Writer, Supervisor, Watched]:
    """A writer through KubeIO to `api`, holding the object `api` has."""
    tasks = Supervisor()
    writer = Writer(KubeIO(api), NoObserver(), tasks, max_concurrent=4)
    watched = Watched.from_body(api.body)
    writer.store(watched)
    return writer, tasks, watched


@pytest.mark.parametrize("pruned", [False, True], ids=["stored-as-sent", "stored-otherwise"])
async def test_the_answer_to_an_applied_write_is_not_parsed_and_the_record_is_the_status_as_sent(
    pruned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = (_PruningApi if pruned else _PatchingApi)(_body())
    writer, tasks, watched = _writer_holding(api)

    parsed = 0
    original = Watched.from_body.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Watched], body: dict[str, Any]) -> Watched:
        nonlocal parsed
        parsed += 1
        return original(cls, body)  # type: ignore[no-any-return]

    monkeypatch.setattr(Watched, "from_body", classmethod(counting))
    await writer.write(watched.ref, Ticket.of(watched), lambda current: CASES["first"](current.status), fresh=True)
    monkeypatch.undo()
    await asyncio.sleep(0.1)
    await tasks.close()

    record = writer.objects.get(watched.ref)
    assert record is not None
    assert record.resource_version == api.body["metadata"]["resourceVersion"]
    # The record is the status as sent (but for the journal, which leaves the record once its
    # Events are posted): what an older CRD pruned from it is still our write, not one to redo.
    assert record.status is not None
    sent = {k: v for k, v in api.patches[0]["status"].items() if k != "eventJournal"}
    assert record.status.document() == sent
    assert len(api.patches) == 1
    assert ("progress" in api.body["status"]) is not pruned
    assert record.spec == watched.spec
    assert parsed == 0  # the answer is not parsed again: the record is what was sent


async def test_echoes_of_our_own_writes_are_known_from_their_metadata() -> None:
    api = _PatchingApi(_body())
    tasks = Supervisor()
    writer = Writer(KubeIO(api), NoObserver(), tasks, max_concurrent=4)
    watched = Watched.from_body(api.body)
    ref = watched.ref
    assert not writer.knows(ref, "1", 1)  # nothing stored yet: the first version is new
    writer.store(watched)
    assert writer.knows(ref, "1", 1)  # the version held
    await writer.write(ref, Ticket.of(watched), lambda current: CASES["first"](current.status), fresh=True)
    first = api.body["metadata"]["resourceVersion"]
    current = writer.objects.get(ref)
    assert current is not None
    await writer.write(ref, Ticket.of(current), lambda current: CASES["transitions"](current.status), fresh=True)
    second = api.body["metadata"]["resourceVersion"]
    await tasks.close()

    assert first != second
    assert writer.knows(ref, second, 1)  # the echo of our last write
    assert writer.knows(ref, first, 1)  # a late echo of an earlier one
    assert not writer.knows(ref, first, 2)  # not if the generation moved: store() takes that one
    assert not writer.knows(ref, "1", 1)  # the version before our writes is not ours
    assert not writer.knows(ref, "99", 1)  # a version someone else wrote
    assert not writer.knows(ref, None, 1)


async def test_a_posted_journal_leaves_the_record_and_the_next_write_removes_it_from_the_server() -> None:
    api = _PatchingApi(_body())
    writer, tasks, watched = _writer_holding(api)
    ref = watched.ref
    await writer.write(ref, Ticket.of(watched), lambda current: CASES["first"](current.status), fresh=True)
    stored_journal = api.body["status"].get("eventJournal")
    assert stored_journal  # the first poll's Events are recorded in the status written first

    for _ in range(100):  # the posters post them after the write
        record = writer.objects.get(ref)
        if record is not None and record.status is not None and record.status.event_journal == []:
            break
        await asyncio.sleep(0.01)
    record = writer.objects.get(ref)
    assert record is not None
    assert record.status is not None
    assert record.status.event_journal == []  # posted: the entries are not held in memory any more
    assert api.body["status"]["eventJournal"] == stored_journal  # the server still has them

    def resynced(current: Watched) -> Mirrored:  # a change without Events
        assert current.status is not None
        status = current.status.model_copy(update={"last_sync_time": T0 + timedelta(minutes=5)})
        return Mirrored(status, [], changed=True)

    await writer.write(ref, Ticket.of(record), resynced, fresh=True)
    await tasks.close()
    assert api.patches[-1]["status"]["eventJournal"] is None
    assert "eventJournal" not in api.body["status"]
    final = writer.objects.get(ref)
    assert final is not None
    assert final.status is not None
    assert final.status.event_journal is None
    assert _full(final.status) == api.body["status"]
