"""What the scheduler needs from the outside, as protocols: CCE, Secrets, Kubernetes writes, metrics.

The operator layer implements them; tests put in-memory stand-ins in their place, so the
scheduler itself only decides *when* to read and *what* to write.
"""

from __future__ import annotations

from typing import Protocol

from ccupgrade.cce import ClusterTarget, Credentials, TokenKey
from ccupgrade.mirror import Mirrored
from ccupgrade.models import (
    ObjectRef,
    PollKey,
    PreCheckTask,
    PreCheckTaskList,
    RecordedEvent,
    SnapshotTaskList,
    UpgradeInfo,
    UpgradePathList,
    UpgradeTask,
    UpgradeWorkflowList,
    Watched,
)


class WorkflowSource(Protocol):
    """The CCE side: one cluster's upgrade workflows (`CceClient` in production)."""

    async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
        """Every workflow the cluster has had, or a typed `CceError`."""
        ...


class TaskSource(Protocol):
    """The CCE side of task details, read while a task runs, and of what CCE says between upgrades
    (`cce.TaskReader` in production)."""

    async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
        """One pre-check task with its findings, or a typed `CceError`."""
        ...

    async def get_upgrade_task(self, target: ClusterTarget, task_id: str) -> UpgradeTask:
        """One upgrade task with its progress, or a typed `CceError`."""
        ...

    async def list_snapshot_tasks(self, target: ClusterTarget) -> SnapshotTaskList:
        """The cluster's snapshot tasks (CCE has no call for one), or a typed `CceError`."""
        ...

    async def show_upgrade_info(self, target: ClusterTarget) -> UpgradeInfo:
        """The cluster's version and the versions CCE offers (read between upgrades)."""
        ...

    async def list_precheck_tasks(self, target: ClusterTarget) -> PreCheckTaskList:
        """The cluster's pre-checks, also those run from the console (read between upgrades)."""
        ...

    async def list_upgrade_paths(self, target: ClusterTarget) -> UpgradePathList:
        """The endpoint's upgrade paths (read between upgrades)."""
        ...


class ClientCaches(Protocol):
    """What the CCE client keeps per endpoint and per credential (`CceClient` in production): the
    scheduler says when no poll group uses one any more, so it does not outlive its last user."""

    def forget_endpoint(self, host: str) -> None:
        """No request goes through `host` any more: its gate (and Retry-After hold) can go."""
        ...

    def forget_token(self, key: TokenKey) -> None:
        """No group signs with this IAM token any more: it can go."""
        ...


class KeepsNothing:
    """For sources that keep nothing per endpoint or credential (test fakes)."""

    def forget_endpoint(self, host: str) -> None:
        """Nothing kept."""

    def forget_token(self, key: TokenKey) -> None:
        """Nothing kept."""


class CredentialSource(Protocol):
    """Reads the Secret an object names (cached); `forget` drops the cache after a refusal."""

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        """The credentials in that Secret, or `SecretNotFound`/`CredentialsError`."""
        ...

    def forget(self, namespace: str, secret_name: str) -> None:
        """Drops the cached copy, so the next read sees a rotated Secret."""
        ...


class WriteFailed(Exception):
    """A Kubernetes write that may work later (API server unreachable, throttling, 5xx).

    `code` names the cause for metrics ("503", "unreachable"); the writer retries the object."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


class StatusRefused(Exception):
    """The API server refuses this status for good (400, 413, 422, etcd's size limit), or it is
    over MAX_STATUS_BYTES and was not sent: retrying the same status cannot help. The writer keeps
    the last good status and writes a condition saying why instead, and posts the Events."""


class ObjectGone(Exception):
    """The object no longer exists: its status write answered 404 and a read of it confirmed that.

    The watch normally says so (DELETED); a missed one (kopf re-lists after a 410 without
    synthesising deletions) must not leave the object polled and written for ever."""


class StatusSink(Protocol):
    """The Kubernetes side of a write."""

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        """Writes the status derived from `watched` (if `result.changed`); its Events come later.

        Returns the object as now stored: after an applied write with the status as sent (also if
        an older CRD schema pruned fields from it: what was sent is our write, not a change to
        write again), after a 409 as re-read; or None if the write went nowhere (a 404 for an
        object that still exists: logged). Raises `ObjectGone` when the
        object no longer exists, `WriteFailed` when trying again later can help, `StatusRefused`
        when nothing can."""
        ...

    async def post_event(self, ref: ObjectRef, event: RecordedEvent) -> None:
        """Posts one Event recorded in the stored status; one already there (409) is done.

        Raises `WriteFailed` when trying again later can help."""
        ...

    async def event_names(self, namespace: str) -> set[str]:
        """The names of the Events this operator posted in `namespace` that still exist (read once
        after a start, so that only journal entries missing there are posted again)."""
        ...


class PollObserver(Protocol):
    """Metrics hooks; the default does nothing."""

    def poll_finished(self, key: PollKey, outcome: str, seconds: float) -> None:
        """One cluster poll ended with `outcome` after `seconds`."""
        ...

    def object_mirrored(self, watched: Watched, result: Mirrored, fresh: bool) -> None:
        """`fresh`: the result comes from a successful CCE read (not a failure, nor a suspended object)."""
        ...

    def object_removed(self, ref: ObjectRef) -> None:
        """The object is gone: drop its series."""
        ...

    def write_failed(self, ref: ObjectRef, code: str) -> None:
        """A Kubernetes write for the object failed with `code` and will be retried."""
        ...


class NoObserver:
    """The observer that observes nothing."""

    def poll_finished(self, key: PollKey, outcome: str, seconds: float) -> None:
        """Nothing to count."""

    def object_mirrored(self, watched: Watched, result: Mirrored, fresh: bool) -> None:
        """Nothing to record."""

    def object_removed(self, ref: ObjectRef) -> None:
        """Nothing to drop."""

    def write_failed(self, ref: ObjectRef, code: str) -> None:
        """Nothing to count."""
