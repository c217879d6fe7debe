"""Leader election on a coordination.k8s.io Lease, with the official client's LeaderElection.

Chosen over kopf's peering: peering pauses kopf's handlers but knows nothing of our poll loop,
needs its own CRDs, and gives no fencing. With a Lease, a replica runs *nothing* (no watch, no
poll) until it leads, and stops everything the moment it cannot renew. Event names are
deterministic, so even a brief overlap during a handover cannot duplicate an Event.

The library's elector sends its requests without a timeout and checks its renew deadline only
between requests: a Lease request that hangs (a server or a proxy that accepts and never answers)
kept a replica leading forever while a standby took the Lease over. So every Lease request has a
timeout, and a watchdog in the event loop declares leadership lost once the last successful
renewal is `renew_deadline` old, whatever the elector thread is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger("ccupgrade.leadership")


class _ReleasableLease(LeaseLock):
    """The library's Lease lock, which takes or renews nothing once `released` is set (its elector
    thread has no stop, and would take a released Lease straight back: an empty holder is free),
    and which records when its last successful write was sent (`written_at`, on `clock`)."""

    def __init__(self, name: str, namespace: str, identity: str, clock: Callable[[], float]) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.released = False
        self.written_at: float | None = None
        self._clock = clock
        self._writing = threading.Lock()  # `stop` waits for a write already on its way

    def create(self, name: str, namespace: str, election_record: object) -> bool:
        return self._write(lambda: super(_ReleasableLease, self).create(name, namespace, election_record))  # type: ignore[no-untyped-call]

    def update(self, name: str, namespace: str, updated_record: object) -> bool:
        return self._write(lambda: super(_ReleasableLease, self).update(name, namespace, updated_record))  # type: ignore[no-untyped-call]

    def _write(self, call: Callable[[], Any]) -> bool:
        with self._writing:
            if self.released:
                return False
            sent = self._clock()  # the Lease's renewTime is the sending moment, not the answer's
            written = bool(call())
            if written:
                self.written_at = sent
            return written

    def stop(self) -> None:
        """No write from now on; returns once a write already under way has ended (each has a timeout)."""
        with self._writing:
            self.released = True


class _TimedLeaseApi(client.CoordinationV1Api):
    """The Lease calls the library's lock makes, each with a timeout (the library sets none)."""

    def __init__(self, api: client.ApiClient, timeout: float) -> None:
        super().__init__(api)
        self._timeout = timeout

    def read_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return super().read_namespaced_lease(*args, **{"_request_timeout": self._timeout, **kwargs})

    def create_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return super().create_namespaced_lease(*args, **{"_request_timeout": self._timeout, **kwargs})

    def replace_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return super().replace_namespaced_lease(*args, **{"_request_timeout": self._timeout, **kwargs})


@dataclass(frozen=True)
class LeaseConfig:
    """Which Lease, and its timing in seconds (the client-go defaults: 15/10/2)."""

    namespace: str
    name: str = "cce-upgrade-operator"
    lease_duration: int = 15
    renew_deadline: int = 10
    retry_period: int = 2

    @property
    def request_timeout(self) -> float:
        """Each Lease request's timeout: two tries fit in the renew deadline."""
        return self.renew_deadline / 2

    @property
    def release_timeout(self) -> float:
        """The longest a release may take, all its requests together: a third of the lease, so that
        it still saves the standby most of its wait (past the lease, it takes the Lease anyway)."""
        return self.lease_duration / 3


class Leadership:
    """`leading` is set once this replica holds the Lease; `lost` once it no longer can.

    `lease_api` and `clock` are the Lease API (a CoordinationV1Api on `api` with request timeouts)
    and the monotonic clock the watchdog reads (the event loop's); tests give fakes."""

    def __init__(
        self,
        api: client.ApiClient | None,
        settings: LeaseConfig,
        *,
        lease_api: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.settings = settings
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._clock = clock or self._loop.time
        lock = _ReleasableLease(settings.name, settings.namespace, self.identity, self._clock)
        # not the global default configuration, and never a request without a timeout
        if lease_api is None:
            if api is None:
                raise ValueError("Leadership needs an ApiClient or a Lease API")
            lease_api = _TimedLeaseApi(api, settings.request_timeout)
        lock.api_instance = lease_api
        self._lock = lock
        self._watchdog: asyncio.Task[None] | None = None
        self._releasing = False
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
        at its next retry (2 s) instead of waiting out the lease (15 s).

        The elector first stops writing (after a write already on its way: a standby stopped just
        as it took the Lease holds it too); then the Lease is cleared if this replica holds it, and
        only what it holds (the read's resourceVersion guards the write). A lost Lease is not
        touched. It takes at most `release_timeout`: a failure or a server that does not answer is
        logged, and the Lease then expires as it would have."""
        self._releasing = True  # the loop's side: a Lease taken from now on starts no work
        self._stop_watchdog()
        if self.lost.is_set():
            return
        try:
            async with asyncio.timeout(self.settings.release_timeout):
                await self._in_daemon_thread(self._stop_and_clear)
        except Exception as exc:  # TimeoutError included: the API server may be gone already
            log.warning(
                "could not release the Lease (%s: %s); it expires in %ss",
                type(exc).__name__,
                exc,
                self.settings.lease_duration,
            )

    async def _in_daemon_thread(self, call: Callable[[], None]) -> None:
        """`call` in a daemon thread: unlike `asyncio.to_thread`'s executor, whose threads the
        interpreter joins at exit, a request still hanging after the timeout does not hold the
        process up (a stopping Pod would wait for SIGKILL)."""
        done: asyncio.Future[None] = self._loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not done.done():
                done.set_result(None) if error is None else done.set_exception(error)

        def run() -> None:
            error: BaseException | None = None
            try:
                call()
            except BaseException as exc:  # handed to the waiting coroutine
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                self._loop.call_soon_threadsafe(settle, error)

        threading.Thread(target=run, name="lease release", daemon=True).start()
        await done

    def _stop_and_clear(self) -> None:
        self._lock.stop()
        if self._lock.written_at is not None:  # never written: nothing of ours to clear
            self._clear_holder()

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
        self._loop.call_soon_threadsafe(self._lead)  # the protected work runs in the event loop

    def _lead(self) -> None:
        if self.lost.is_set() or self._releasing:
            return
        self._watchdog = self._loop.create_task(self._watch_renewals(), name="lease watchdog")
        self.leading.set()

    async def _watch_renewals(self) -> None:
        """Declares leadership lost once the last successful write of the Lease is `renew_deadline`
        old: the standbys take it over `lease_duration` after it, and the elector thread's own check
        does not run while a request hangs."""
        deadline = self.settings.renew_deadline
        while not self.lost.is_set():
            written = self._lock.written_at
            left = deadline if written is None else written + deadline - self._clock()
            if left <= 0:
                log.error(
                    "the Lease %s/%s was last renewed %.1fs ago (renew deadline %ss): stopping",
                    self.settings.namespace,
                    self.settings.name,
                    self._clock() - (written or 0.0),
                    deadline,
                )
                self._lock.released = True  # a renewal still under way is not to be followed by more
                self.lost.set()
                return
            await asyncio.sleep(left)

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def _on_stopped(self) -> None:
        if self._lock.released:
            return  # our own release: the renewals stop as they should
        log.error("lost the Lease %s/%s: stopping", self.settings.namespace, self.settings.name)
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is left to tell
            self._loop.call_soon_threadsafe(self.lost.set)
