"""Leadership is lost within the renew deadline whatever the Lease API does, a standby stopped as
it takes the Lease gives it back, and a release never waits longer than its bound: with a fake
Lease API (answering, refusing or hanging) on the event loop's fake clock."""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ccupgrade.kube import Leadership, LeaseConfig

pytestmark = pytest.mark.looptime
SETTINGS = LeaseConfig("ns", lease_duration=15, renew_deadline=10, retry_period=2)


def _error(status: int) -> ApiException:
    error = ApiException(status=status, reason="fake")
    error.body = f'{{"code": {status}}}'
    return error


class FakeLeaseApi:
    """One Lease, with resourceVersion preconditions as the API server checks them. `hang` makes
    every later request wait (a server that accepts and never answers) until `answer` is set;
    `gate` holds the next create until the test opens it."""

    def __init__(self) -> None:
        self.lease: client.V1Lease | None = None
        self.versions = itertools.count(1)
        self.hang = threading.Event()
        self.answer = threading.Event()
        self.hanging = threading.Event()  # a request is hanging now
        self.gate: threading.Event | None = None
        self.creating = threading.Event()  # a create is waiting at the gate
        self.created = threading.Event()  # the Lease was created
        self.timeouts: list[object] = []
        self.hung: list[threading.Thread] = []  # the threads whose request hangs
        self._guard = threading.Lock()

    def _arrive(self, kwargs: dict[str, Any]) -> None:
        self.timeouts.append(kwargs.get("_request_timeout"))
        if self.hang.is_set():
            self.hung.append(threading.current_thread())
            self.hanging.set()
            self.answer.wait()
            raise _error(504)

    def holder(self) -> str | None:
        return None if self.lease is None or self.lease.spec is None else self.lease.spec.holder_identity

    def read_namespaced_lease(self, name: str, namespace: str, **kwargs: Any) -> client.V1Lease:
        self._arrive(kwargs)
        with self._guard:
            if self.lease is None:
                raise _error(404)
            return copy.deepcopy(self.lease)

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease, **kwargs: Any) -> client.V1Lease:
        self._arrive(kwargs)
        if self.gate is not None:
            self.creating.set()
            self.gate.wait()
        with self._guard:
            if self.lease is not None:
                raise _error(409)
            given: Any = body.metadata  # the library's lock sends a dict
            name = given["name"] if isinstance(given, dict) else given.name
            metadata = client.V1ObjectMeta(name=name, resource_version=str(next(self.versions)))
            self.lease = client.V1Lease(metadata=metadata, spec=copy.deepcopy(body.spec))
            self.created.set()
            return copy.deepcopy(self.lease)

    def replace_namespaced_lease(self, name: str, namespace: str, body: client.V1Lease, **kwargs: Any) -> Any:
        self._arrive(kwargs)
        with self._guard:
            if self.lease is None:
                raise _error(404)
            sent, stored = body.metadata, self.lease.metadata
            if sent is None or stored is None or sent.resource_version != stored.resource_version:
                raise _error(409)
            metadata = client.V1ObjectMeta(name=name, resource_version=str(next(self.versions)))
            self.lease = client.V1Lease(metadata=metadata, spec=copy.deepcopy(body.spec))
            return copy.deepcopy(self.lease)


async def _in_thread(event: threading.Event) -> None:
    """Waits for the elector thread (in real time: it does not run on the loop's clock)."""
    assert await asyncio.to_thread(event.wait, 30), "the elector never got there"


async def _leading(api: FakeLeaseApi, leadership: Leadership) -> None:
    """Until the replica leads. No fake-clock timeout around it: the fake clock would jump to it
    while the elector thread is still on its way (the thread's answer arrives in real time)."""
    await _in_thread(api.created)
    await leadership.leading.wait()  # its callback is queued on the loop already, or about to be


async def test_a_lease_request_that_hangs_loses_leadership_within_the_renew_deadline() -> None:
    loop = asyncio.get_running_loop()
    api = FakeLeaseApi()
    leadership = Leadership(None, SETTINGS, lease_api=api, clock=loop.time)
    leadership.start()
    try:
        await _leading(api, leadership)
        led_at = loop.time()
        api.hang.set()  # from now on the Lease API accepts and never answers
        async with asyncio.timeout(SETTINGS.lease_duration * 3):
            await leadership.lost.wait()
        # a standby takes over lease_duration after the last renewal: this replica stopped before
        assert loop.time() - led_at <= SETTINGS.renew_deadline
        await leadership.release()  # a lost Lease is not touched, and nothing waits on the hang
        assert api.holder() == leadership.identity
    finally:
        api.answer.set()


# On the real clock: the release's bound is loop time, and its requests run in a thread in real time,
# so a fake clock would jump to the bound while the thread is still on its way (seen on a busy machine).
@pytest.mark.looptime(False)
async def test_a_standby_stopped_while_it_takes_the_lease_gives_it_back() -> None:
    api = FakeLeaseApi()
    api.gate = threading.Event()
    leadership = Leadership(None, SETTINGS, lease_api=api, clock=asyncio.get_running_loop().time)
    leadership.start()
    await _in_thread(api.creating)  # SIGTERM arrives while the create is on its way
    releasing = asyncio.create_task(leadership.release())
    await asyncio.sleep(0)  # the release starts: from here a Lease taken starts no work
    api.gate.set()  # ... and the create lands: this replica holds the Lease
    await _in_thread(api.created)
    async with asyncio.timeout(SETTINGS.release_timeout):
        await releasing
    assert api.holder() is None, "a stopped replica must not keep the Lease for lease_duration"
    assert not leadership.leading.is_set(), "nor start working"


async def test_a_release_waits_no_longer_than_its_bound() -> None:
    loop = asyncio.get_running_loop()
    api = FakeLeaseApi()
    leadership = Leadership(None, SETTINGS, lease_api=api, clock=loop.time)
    leadership.start()
    try:
        await _leading(api, leadership)
        api.hang.set()  # the API server stops answering just as the operator stops
        started = loop.time()
        async with asyncio.timeout(SETTINGS.lease_duration):
            await leadership.release()
        assert loop.time() - started <= SETTINGS.release_timeout + 0.1
        # and the request still hanging does not hold the process's exit (the interpreter joins
        # every thread that is not a daemon, asyncio.to_thread's included)
        assert api.hung
        assert all(thread.daemon for thread in api.hung), [t.name for t in api.hung if not t.daemon]
    finally:
        api.answer.set()


async def test_every_lease_request_has_a_timeout() -> None:
    """The default Lease API: each request the library's lock makes carries `_request_timeout`."""
    sent: list[object] = []
    two = threading.Event()

    class Recording(client.ApiClient):
        def call_api(self, *args: Any, **kwargs: Any) -> Any:
            sent.append(kwargs.get("_request_timeout"))
            if len(sent) >= 2:
                two.set()
            raise _error(404) if len(sent) == 1 else _error(500)  # no Lease; then refused to create

    leadership = Leadership(Recording(), SETTINGS, clock=asyncio.get_running_loop().time)
    leadership.start()
    await _in_thread(two)
    await leadership.release()
    assert sent[:2] == [SETTINGS.request_timeout] * 2
