"""Wires the layers together and runs kopf's watch loop next to the poll scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta

import kopf
from aiohttp import web
from kubernetes import client, config

from ccupgrade.app.handlers import build_registry
from ccupgrade.app.health import start_health_server
from ccupgrade.app.metrics import Metrics
from ccupgrade.cce.client import CceClient, ClientSettings
from ccupgrade.cce.endpoints import AllowList
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.kube.api import KubeApi
from ccupgrade.kube.io import KubeIO
from ccupgrade.kube.leadership import Leadership, LeaseSettings
from ccupgrade.scheduler.intervals import IntervalPolicy
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig

log = logging.getLogger("ccupgrade")
KUBE_CONNECTIONS = 64  # requests in flight to the API server; measured best on the bench (16: p95 10 s, 64: 6.6 s)


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    allowed_endpoints: AllowList = field(default_factory=AllowList)
    resync: timedelta = timedelta(minutes=10)
    requests_per_second: float = 10.0
    burst: int = 10
    max_concurrent_polls: int = 20
    max_concurrent_writes: int = 64
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    ca_bundle: str | None = None
    kubeconfig: str | None = None
    cce_timeout: float = 30.0
    secret_ttl: float = 30.0
    leader_election: LeaseSettings | None = None


def _kubernetes_client(kubeconfig: str | None) -> client.ApiClient:
    """The official client: the one login (kubeconfig or in-cluster) for kopf's watch and our writes.

    A kubeconfig that is named (`--kubeconfig`, or $KUBECONFIG behind it) wins over the in-cluster
    service account, as with kubectl; without one, in-cluster first, then ~/.kube/config.
    """
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def _kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # kopf would post type=Error events; ours are Normal/Warning only
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    return settings


async def _become_ready(
    kube: KubeIO, namespaces: tuple[str, ...], kopf_ready: asyncio.Event, first_event: asyncio.Event,
    ready: asyncio.Event,
) -> None:  # fmt: skip
    """Ready once kopf runs and the watch has delivered the existing objects (if there are any)."""
    await kopf_ready.wait()
    while True:
        try:
            if await kube.any_upgrades(namespaces):
                await first_event.wait()
            break
        except Exception as exc:  # the API server may not be reachable yet: stay unready, retry
            log.info("not ready yet: %s", exc)
            await asyncio.sleep(2)
    ready.set()
    log.info("ready: watches established")


async def run(settings: OperatorConfig, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
    """Runs until `stop` is set (or, with handle_signals, SIGINT/SIGTERM arrive)."""
    if handle_signals and stop is None:
        stop = asyncio.Event()
    if handle_signals and stop is not None:
        # At once, not only once kopf runs: as a container's PID 1 an unhandled SIGTERM is ignored,
        # so a standby replica (or one still starting) would wait out the whole grace period.
        _stop_on_signals(stop)
    metrics = Metrics()
    api = _kubernetes_client(settings.kubeconfig)
    kube = KubeIO(
        KubeApi(api.configuration, connections=KUBE_CONNECTIONS),
        secret_ttl=settings.secret_ttl,
        on_status_write=metrics.status_written,
        on_event=metrics.event_posted,
    )
    client_settings = ClientSettings(
        rate_per_endpoint=settings.requests_per_second,
        burst_per_endpoint=settings.burst,
        ca_bundle=settings.ca_bundle,
        total_timeout=settings.cce_timeout,
        connect_timeout=min(5.0, settings.cce_timeout),
    )
    gates = GateRegistry(settings.requests_per_second, settings.burst, settings.max_concurrent_polls)
    ready = asyncio.Event()
    health = None
    leadership: Leadership | None = None
    if settings.leader_election is not None:
        leadership = Leadership(api, settings.leader_election)
    async with CceClient(settings=client_settings, observer=metrics.cce_response, gates=gates) as cce:
        scheduler = Scheduler(
            cce,
            kube,
            kube,
            SchedulerConfig(
                allow_list=settings.allowed_endpoints,
                policy=IntervalPolicy(resync=settings.resync),
                max_concurrent_writes=settings.max_concurrent_writes,
            ),
            observer=metrics,
        )
        metrics.count_objects(lambda: scheduler.watched)
        first_event = asyncio.Event()
        kopf_ready = asyncio.Event()
        registry = build_registry(scheduler, first_event, api.configuration)
        if settings.health_port:
            health = await start_health_server(settings.health_host, settings.health_port, ready, metrics)
        if leadership is not None:
            leadership.start()
            ready.set()  # a standby replica is healthy and ready; it just does nothing yet
            if not await _wait_to_lead(leadership, stop):
                await _shutdown(health, kube, api)
                return
            ready.clear()
        # Our tasks start before kopf's: kopf treats tasks born after it as its own "hung" tasks
        # and waits 5 s for them at exit. On stop, the scheduler goes first, then kopf.
        polling = asyncio.create_task(scheduler.run(), name="scheduler")
        readiness = asyncio.create_task(_become_ready(kube, settings.namespaces, kopf_ready, first_event, ready))
        kopf_stop = asyncio.Event()

        async def stop_in_order() -> None:
            if stop is None:
                return
            await kopf_ready.wait()
            if handle_signals:  # kopf installs its own handlers at start-up; ours must come last
                _stop_on_signals(stop)
            await stop.wait()
            polling.cancel()
            readiness.cancel()
            kopf_stop.set()

        stopper = asyncio.create_task(stop_in_order(), name="stopper")
        await asyncio.sleep(0)
        operator = asyncio.create_task(
            kopf.operator(
                registry=registry,
                settings=_kopf_settings(),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                stop_flag=kopf_stop,
                ready_flag=kopf_ready,
            ),
            name="kopf",
        )
        log.info(
            "operator started: namespaces=%s, allowed endpoints=%s, %s req/s per endpoint",
            ",".join(settings.namespaces) or "all", ",".join(settings.allowed_endpoints.patterns) or "none",
            settings.requests_per_second,
        )  # fmt: skip
        lost = asyncio.create_task(leadership.lost.wait() if leadership else asyncio.Event().wait())
        try:
            done, _ = await asyncio.wait({operator, polling, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost in done:
                raise SystemExit("lost leadership; exiting so that a fresh replica can stand by")
            for task in done:
                if not task.cancelled():
                    task.result()
        finally:
            for task in (polling, readiness, stopper, operator, lost):
                task.cancel()
            for task in (polling, readiness, stopper, operator, lost):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await _shutdown(health, kube, api)


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` (replacing any handler installed before)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _wait_to_lead(leadership: Leadership, stop: asyncio.Event | None) -> bool:
    """True once leading; False if asked to stop first."""
    waiters = {asyncio.create_task(leadership.leading.wait())}
    if stop is not None:
        waiters.add(asyncio.create_task(stop.wait()))
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return leadership.leading.is_set()


async def _shutdown(health: web.AppRunner | None, kube: KubeIO, api: client.ApiClient) -> None:
    if health is not None:
        await health.cleanup()
    await kube.api.close()
    api.close()  # type: ignore[no-untyped-call]
