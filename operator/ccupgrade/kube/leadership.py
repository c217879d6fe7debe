"""Leader election on a coordination.k8s.io Lease, with the official client's LeaderElection.

Chosen over kopf's peering: peering pauses kopf's handlers but knows nothing of our poll loop,
needs its own CRDs, and gives no fencing. With a Lease, a replica runs *nothing* (no watch, no
poll) until it leads, and stops everything the moment it cannot renew. Event names are
deterministic, so even a brief overlap during a handover cannot duplicate an Event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger("ccupgrade.leadership")


class _ReleasableLease(LeaseLock):
    """The library's Lease lock, which takes or renews nothing once `released` is set: its elector
    thread has no stop, and would take a released Lease straight back (an empty holder is free)."""

    released = False

    def create(self, name: str, namespace: str, election_record: object) -> bool:
        return False if self.released else bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]

    def update(self, name: str, namespace: str, updated_record: object) -> bool:
        return False if self.released else bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class LeaseSettings:
    """Which Lease, and its timing in seconds (the client-go defaults: 15/10/2)."""

    namespace: str
    name: str = "cce-upgrade-operator"
    lease_duration: int = 15
    renew_deadline: int = 10
    retry_period: int = 2


class Leadership:
    """`leading` is set once this replica holds the Lease; `lost` once it no longer can."""

    def __init__(self, api: client.ApiClient, settings: LeaseSettings) -> None:
        self.identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.settings = settings
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        lock = _ReleasableLease(settings.name, settings.namespace, self.identity)  # type: ignore[no-untyped-call]
        lock.api_instance = client.CoordinationV1Api(api)  # not the global default configuration
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            lock=lock,
            lease_duration=settings.lease_duration,
            renew_deadline=settings.renew_deadline,
            retry_period=settings.retry_period,
            onstarted_leading=self._on_started,
            onstopped_leading=self._on_stopped,
        )
        self._election = leaderelection.LeaderElection(config)  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._elect, name="leader-election", daemon=True)
        self._started_leading = threading.Event()

    def start(self) -> None:
        """Starts campaigning, in a daemon thread (the library's elector is synchronous)."""
        log.info("waiting to lead (Lease %s/%s) as %s", self.settings.namespace, self.settings.name, self.identity)
        self._thread.start()

    def _elect(self) -> None:
        """The library's election loop, kept alive through errors it does not handle.

        Its lock catches only API errors: a refused connection (a Pod starting before its node's
        Service rules exist) killed the thread, leaving a replica that looked ready but could never
        lead; raised while leading, it stopped the renewals without saying so. So: retry while
        following, and give up leadership (and exit) once it was leading.
        """
        while True:
            try:
                self._election.run()  # type: ignore[no-untyped-call]
                return  # run() returns only after leading ended; _on_stopped has been called
            except Exception as exc:  # any transport error: urllib3, OSError, ...
                if self._started_leading.is_set():
                    log.error("leader election failed while leading (%s: %s)", type(exc).__name__, exc)
                    self._on_stopped()
                    return
                log.warning("leader election: cannot reach the API server (%s); retrying", type(exc).__name__)
                time.sleep(self.settings.retry_period)

    async def release(self) -> None:
        """Hands the Lease back after a clean stop (client-go's ReleaseOnCancel): a standby takes it
        at its next retry (2 s) instead of waiting out the lease (15 s). Only a leader that still
        holds it releases it, and only what it holds (the read's resourceVersion guards the write);
        once released, this replica's elector takes nothing again. A failure is logged: the Lease
        then expires as it would have."""
        if not self._started_leading.is_set() or self.lost.is_set():
            return
        self._lock.released = True
        try:
            await asyncio.to_thread(self._clear_holder)
        except Exception as exc:  # the API server may be gone already: the Lease expires instead
            log.warning(
                "could not release the Lease (%s: %s); it expires in %ss",
                type(exc).__name__,
                exc,
                self.settings.lease_duration,
            )

    def _clear_holder(self) -> None:
        api: client.CoordinationV1Api = self._lock.api_instance
        for _ in range(3):  # a renewal already on its way when `released` was set wins once (409)
            lease = api.read_namespaced_lease(self.settings.name, self.settings.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            try:
                api.replace_namespaced_lease(self.settings.name, self.settings.namespace, lease)
            except ApiException as exc:
                if exc.status == 409:
                    continue
                raise
            log.info("released the Lease %s/%s", self.settings.namespace, self.settings.name)
            return

    def _on_started(self) -> None:
        self._started_leading.set()
        log.info("leading as %s", self.identity)
        self._loop.call_soon_threadsafe(self.leading.set)  # the protected work runs in the event loop

    def _on_stopped(self) -> None:
        if self._lock.released:
            return  # our own release: the renewals stop as they should
        log.error("lost the Lease %s/%s: stopping", self.settings.namespace, self.settings.name)
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is left to tell
            self._loop.call_soon_threadsafe(self.lost.set)
