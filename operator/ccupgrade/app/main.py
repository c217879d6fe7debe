"""Wires the layers together and runs kopf's watch loop next to the poll scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import kopf
from aiohttp import web
from kubernetes import client, config

from ccupgrade.app.handlers import SpecEssenceStorage, build_registry
from ccupgrade.app.health import start_health_server
from ccupgrade.app.memory import trim_heap_forever
from ccupgrade.app.metrics import Metrics
from ccupgrade.cce import AllowList, CceClient, ClientConfig, GateRegistry, TaskReader
from ccupgrade.kube import KubeApi, KubeIO, Leadership, LeaseConfig
from ccupgrade.mirror import OutageWindows
from ccupgrade.models import DEFAULT_RESYNC
from ccupgrade.scheduler import IntervalPolicy, Scheduler, SchedulerConfig

log = logging.getLogger("ccupgrade")
KOPF_STOP_SECONDS = 10.0  # kopf's own stop (its watches end, its cleanup runs) takes well under a second
KUBE_CONNECTIONS = 64  # requests in flight to the API server; measured best on the bench (16: p95 10 s, 64: 6.6 s)


@dataclass(frozen=True)
class OperatorConfig:
    """Everything `ccupgrade run` can set (each flag also a CCUPGRADE_* variable); defaults fit one replica."""

    namespaces: tuple[str, ...] = ()  # empty: every namespace
    allowed_endpoints: AllowList = field(default_factory=AllowList)
    resync: timedelta = DEFAULT_RESYNC
    outage: OutageWindows = field(default_factory=OutageWindows)
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
    leader_election: LeaseConfig | None = None


@dataclass(frozen=True)
class Operator:
    """The operator's parts, built and not yet started; `serve` runs them in order and closes them."""

    config: OperatorConfig
    api: client.ApiClient  # the official client: kopf's login, the Lease and KubeApi's credentials
    kube: KubeIO
    cce: CceClient
    scheduler: Scheduler
    metrics: Metrics
    registry: kopf.OperatorRegistry
    leadership: Leadership | None
    first_event: asyncio.Event  # the watch delivered an object
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # what /readyz answers


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
    settings.persistence.diffbase_storage = SpecEssenceStorage()
    # kopf's worker for an object keeps its last watch body (the whole object) while it idles; with
    # status first a burst brings every object's echo at once, and 5 s of idling kept them all alive
    # together (at 5,000 objects the peak RSS fell from 281-297 to 255-258 MB with 1 s).
    settings.queueing.idle_timeout = 1.0
    return settings


async def _become_ready(
    kube: KubeIO,
    namespaces: tuple[str, ...],
    kopf_ready: asyncio.Event,
    first_event: asyncio.Event,
    ready: asyncio.Event,
) -> None:
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


def build(settings: OperatorConfig) -> Operator:
    """Every part constructed, nothing connected or started yet (called in the running loop: the
    Lease elector hands its news to it)."""
    metrics = Metrics()
    api = _kubernetes_client(settings.kubeconfig)
    kube = KubeIO(
        KubeApi(api.configuration, connections=KUBE_CONNECTIONS),
        secret_ttl=settings.secret_ttl,
        on_status_write=metrics.status_written,
        on_event=metrics.event_posted,
    )
    client_settings = ClientConfig(
        ca_bundle=settings.ca_bundle,
        total_timeout=settings.cce_timeout,
        connect_timeout=min(5.0, settings.cce_timeout),
    )
    gates = GateRegistry(settings.requests_per_second, settings.burst, settings.max_concurrent_polls)
    cce = CceClient(settings=client_settings, observer=metrics.cce_response, gates=gates)
    scheduler = Scheduler(
        client=cce,
        credentials=kube,
        sink=kube,
        tasks=TaskReader(cce),  # task details through the same client: its gates, auth and retries
        caches=cce,  # its gates and IAM tokens go with their last poll group
        config=SchedulerConfig(
            allow_list=settings.allowed_endpoints,
            policy=IntervalPolicy(resync=settings.resync),
            max_concurrent_writes=settings.max_concurrent_writes,
            outage=settings.outage,
        ),
        observer=metrics,
    )
    metrics.count_objects(lambda: scheduler.watched)
    first_event = asyncio.Event()
    leadership = Leadership(api, settings.leader_election) if settings.leader_election is not None else None
    return Operator(
        config=settings,
        api=api,
        kube=kube,
        cce=cce,
        scheduler=scheduler,
        metrics=metrics,
        registry=build_registry(scheduler, first_event, api.configuration),
        leadership=leadership,
        first_event=first_event,
    )


async def serve(op: Operator, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
    """Runs what `build` made until `stop` is set, a part ends or the Lease is lost; then closes it all.

    Raises SystemExit on a lost Lease, so that a fresh replica can stand by.
    """
    health = None
    try:
        if op.config.health_port:
            health = await start_health_server(op.config.health_host, op.config.health_port, op.ready, op.metrics)
        if op.leadership is not None and not await _stand_by(op.leadership, op.ready, stop):
            return
        await _work(op, stop, handle_signals=handle_signals)
    finally:
        await _close(op, health)


async def run(settings: OperatorConfig, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
    """Runs until `stop` is set (or, with handle_signals, SIGINT/SIGTERM arrive)."""
    if handle_signals and stop is None:
        stop = asyncio.Event()
    if handle_signals and stop is not None:
        # At once, not only once kopf runs: as a container's PID 1 an unhandled SIGTERM is ignored,
        # so a standby replica (or one still starting) would wait out the whole grace period.
        _stop_on_signals(stop)
    await serve(build(settings), stop, handle_signals=handle_signals)


async def _stand_by(leadership: Leadership, ready: asyncio.Event, stop: asyncio.Event | None) -> bool:
    """Waits for the Lease, healthy and ready but doing nothing: True once leading, False if stopped first."""
    leadership.start()
    ready.set()  # a standby replica is healthy and ready; it just does nothing yet
    if not await _wait_to_lead(leadership, stop):
        return False
    ready.clear()
    return True


async def _work(op: Operator, stop: asyncio.Event | None, *, handle_signals: bool) -> None:
    """The poll scheduler and kopf's watch, until one of them ends, `stop` is set or the Lease is lost."""
    # Our tasks start before kopf's: kopf treats tasks born after it as its own "hung" tasks
    # and waits 5 s for them at exit. On stop, the scheduler goes first, then kopf.
    kopf_ready = asyncio.Event()
    kopf_stop = asyncio.Event()
    polling = asyncio.create_task(op.scheduler.run(), name="scheduler")
    trimming = asyncio.create_task(trim_heap_forever(), name="heap trim")
    readiness = asyncio.create_task(_become_ready(op.kube, op.config.namespaces, kopf_ready, op.first_event, op.ready))
    stopper = asyncio.create_task(
        _stop_in_order(stop, kopf_ready, kopf_stop, (polling, readiness), handle_signals=handle_signals), name="stopper"
    )
    await asyncio.sleep(0)
    watching = asyncio.create_task(
        kopf.operator(
            registry=op.registry,
            settings=_kopf_settings(),
            standalone=True,
            clusterwide=not op.config.namespaces,
            namespaces=op.config.namespaces,
            stop_flag=kopf_stop,
            ready_flag=kopf_ready,
        ),
        name="kopf",
    )
    log.info(
        "operator started: namespaces=%s, allowed endpoints=%s, %s req/s per endpoint",
        ",".join(op.config.namespaces) or "all",
        ",".join(op.config.allowed_endpoints.patterns) or "none",
        op.config.requests_per_second,
    )
    lost = asyncio.create_task(op.leadership.lost.wait() if op.leadership else asyncio.Event().wait())
    tasks = (polling, trimming, readiness, stopper, watching, lost)
    try:
        done, _ = await asyncio.wait({watching, polling, lost}, return_when=asyncio.FIRST_COMPLETED)
        if stop is not None and stop.is_set() and lost not in done:
            # A stop asked for: the scheduler has ended and kopf was asked to stop. Cancelled now,
            # kopf would skip its cleanup ("Cleanup activity is not executed") and leave its
            # sessions unclosed (an asyncio ERROR per rollout): it ends by itself, within a bound.
            done |= await _wait_for_kopf(watching, lost)
        if lost in done:
            raise SystemExit("lost leadership; exiting so that a fresh replica can stand by")
        for task in done:
            if not task.cancelled():
                task.result()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _wait_for_kopf(watching: asyncio.Task[Any], lost: asyncio.Task[Any]) -> set[asyncio.Task[Any]]:
    """kopf's own stop, up to KOPF_STOP_SECONDS (then it is cancelled as before); the tasks that ended."""
    done, _ = await asyncio.wait({watching, lost}, timeout=KOPF_STOP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    if watching not in done:
        log.warning("kopf did not stop within %ss; cancelling it", KOPF_STOP_SECONDS)
    return done


async def _stop_in_order(
    stop: asyncio.Event | None,
    kopf_ready: asyncio.Event,
    kopf_stop: asyncio.Event,
    ours: tuple[asyncio.Task[None], ...],
    *,
    handle_signals: bool,
) -> None:
    """On `stop`, our tasks are cancelled first, then kopf is asked to stop."""
    if stop is None:
        return
    await kopf_ready.wait()
    if handle_signals:  # kopf installs its own handlers at start-up; ours must come last
        _stop_on_signals(stop)
    await stop.wait()
    for task in ours:
        task.cancel()
    kopf_stop.set()


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


async def _close(op: Operator, health: web.AppRunner | None) -> None:
    """Closes what `serve` opened, the health server first (no more answers from a stopping operator)."""
    if health is not None:
        await health.cleanup()
    if op.leadership is not None:
        await op.leadership.release()  # the scheduler and the watch have stopped: nothing more is written
    await op.kube.api.close()
    op.api.close()  # type: ignore[no-untyped-call]
    await op.cce.close()
