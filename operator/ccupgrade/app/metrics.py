"""Prometheus metrics, named in the style of controller-runtime so dashboards feel familiar."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric

from ccupgrade.mirror import Mirrored
from ccupgrade.models import ObjectRef, PollKey, TaskView, UpgradeStatus, Watched

# The `*_created` series (a start timestamp per counter and histogram) are a third of all series and
# nobody reads them; prometheus_client's switch is process-wide.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Upgrade tasks run for seconds (a pre-check) to hours (a large cluster's nodes).
_TASK_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 14400, 28800)


_FAILED_PRECHECK = frozenset({"Failed", "Error"})


class PerObjectSeries:
    """The per-object series, rendered from two dicts when scraped (prometheus_client's custom
    collector API). Labelled Gauge children cost 1.45 KB per object for these two series
    (tracemalloc: 7.2 MB at 5,000 objects), the dict entries under 0.2 KB. Only the event loop
    touches the dicts, and the scrape runs on it too."""

    def __init__(self) -> None:
        self.phases: dict[ObjectRef, str] = {}
        self.last_success: dict[ObjectRef, float] = {}
        self.progress: dict[ObjectRef, tuple[str, float]] = {}  # (task type, percent) while one runs
        self.findings: dict[ObjectRef, list[tuple[str, str, int]]] = {}  # (kind, level, count)
        self.precheck_failed: set[ObjectRef] = set()  # the workflow's pre-check ended Failed/Error
        self.slow: dict[ObjectRef, str] = {}  # the slow task's type, while status.slow is set
        self.available: dict[ObjectRef, tuple[int, int]] = {}  # (versions offered, minor versions behind)

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector hook: the per-object series as they are at scrape time."""
        phase = GaugeMetricFamily(
            "ccupgrade_upgrade_phase",
            "1 for the CCE phase each object currently mirrors.",
            labels=["namespace", "name", "phase"],
        )
        for ref, value in self.phases.items():
            phase.add_metric([ref.namespace, ref.name, value], 1.0)
        yield phase
        success = GaugeMetricFamily(
            "ccupgrade_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful CCE read per object; `time() - this` is its staleness.",
            labels=["namespace", "name"],
        )
        for ref, when in self.last_success.items():
            success.add_metric([ref.namespace, ref.name], when)
        yield success
        progress = GaugeMetricFamily(
            "ccupgrade_task_progress_percent",
            "The running Cluster or Snapshot task's own progress, per object.",
            labels=["namespace", "name", "task"],
        )
        for ref, (task, percent) in self.progress.items():
            progress.add_metric([ref.namespace, ref.name, task], percent)
        yield progress
        findings = GaugeMetricFamily(
            "ccupgrade_precheck_findings",
            "Pre-check findings that matter, per object, by kind and level.",
            labels=["namespace", "name", "kind", "level"],
        )
        for ref, counts in self.findings.items():
            for kind, level, count in counts:
                findings.add_metric([ref.namespace, ref.name, kind, level], count)
        yield findings
        # Alerts need one series per condition they page on: the findings alone cannot tell a failed
        # check from a passed one with Risks, and UpgradeSlow Events carry no per-object label.
        precheck = GaugeMetricFamily(
            "ccupgrade_precheck_failed",
            "1 while an object's pre-check has ended Failed (or Error).",
            labels=["namespace", "name"],
        )
        for ref in self.precheck_failed:
            precheck.add_metric([ref.namespace, ref.name], 1.0)
        yield precheck
        slow = GaugeMetricFamily(
            "ccupgrade_upgrade_slow",
            "1 while an object's running task is slower than its ETA or stalled.",
            labels=["namespace", "name", "task"],
        )
        for ref, task in self.slow.items():
            slow.add_metric([ref.namespace, ref.name, task], 1.0)
        yield slow
        offered = GaugeMetricFamily(
            "ccupgrade_versions_available",
            "Versions CCE offers the object's cluster now (target versions and a suggested patch).",
            labels=["namespace", "name"],
        )
        behind = GaugeMetricFamily(
            "ccupgrade_minor_versions_behind",
            "Minor versions between the cluster's version and the newest reachable along the upgrade paths.",
            labels=["namespace", "name"],
        )
        for ref, (count, minors) in self.available.items():
            offered.add_metric([ref.namespace, ref.name], count)
            behind.add_metric([ref.namespace, ref.name], minors)
        yield offered
        yield behind

    def update(self, ref: ObjectRef, status: UpgradeStatus) -> None:
        """The insight series of one object from its new status (absent parts remove their series)."""
        running = status.task_progress
        if running is not None and running.percent is not None and status.phase == "Running":
            self.progress[ref] = (running.task, running.percent)
        else:
            self.progress.pop(ref, None)
        if status.pre_check is not None and status.pre_check.counts:
            self.findings[ref] = [(c.kind, c.level, c.count) for c in status.pre_check.counts]
        else:
            self.findings.pop(ref, None)
        if status.pre_check is not None and status.pre_check.phase in _FAILED_PRECHECK:
            self.precheck_failed.add(ref)
        else:
            self.precheck_failed.discard(ref)
        if status.slow is not None:
            self.slow[ref] = status.slow.task
        else:
            self.slow.pop(ref, None)
        available = status.available
        if available is not None and available.current_version:
            offered = len(available.target_versions or []) + (1 if available.suggested_patch else 0)
            self.available[ref] = (offered, available.minor_versions_behind or 0)
        else:
            self.available.pop(ref, None)

    def remove(self, ref: ObjectRef) -> None:
        """A deleted object's series go with it (no stale phase for an object that no longer exists)."""
        for series in (self.phases, self.last_success, self.progress, self.findings, self.slow, self.available):
            series.pop(ref, None)
        self.precheck_failed.discard(ref)


class Metrics:
    """Every series the operator exports, on one registry; also the observer the CCE client, the
    scheduler and the Kubernetes writes report to, so none of them imports prometheus_client."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.polls = Counter("ccupgrade_polls_total", "CCE polls by result.", ["result"], registry=r)
        self.poll_seconds = Histogram(
            "ccupgrade_poll_duration_seconds",
            "Time to read one cluster's workflows.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cce_requests = Counter(
            "ccupgrade_cce_requests_total",
            "HTTP requests to CCE and IAM by host and status code.",
            ["host", "code"],
            registry=r,
        )
        self.cce_latency = Histogram(
            "ccupgrade_cce_request_duration_seconds",
            "CCE/IAM request latency.",
            ["host"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.status_writes = Counter(
            "ccupgrade_status_writes_total", "Status patches by result (success or HTTP code).", ["result"], registry=r
        )
        self.events = Counter(
            "ccupgrade_events_total", "Events posted by reason and type.", ["reason", "type"], registry=r
        )
        self.write_failures = Counter(
            "ccupgrade_kubernetes_write_failures_total",
            "Writes to the Kubernetes API (Events, status) that failed and are retried, by cause.",
            ["cause"],
            registry=r,
        )
        self.task_seconds = Histogram(
            "ccupgrade_task_duration_seconds",
            "How long upgrade tasks ran (start to end, as CCE reports), by type "
            "and result; each task counted once however many objects follow its cluster.",
            ["task", "result"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )
        self._timed: OrderedDict[str, None] = OrderedDict()  # task IDs already observed (bounded)
        self.per_object = PerObjectSeries()
        r.register(self.per_object)
        self.objects = Gauge(
            "ccupgrade_watched_objects",
            "CceClusterUpgrade objects known to the operator, suspended and invalid ones included.",
            registry=r,
        )
        self.objects.set_function(lambda: len(self.per_object.phases))

    def count_objects(self, count: Callable[[], int]) -> None:
        """Where `ccupgrade_watched_objects` comes from: the scheduler knows every object, polled or not."""
        self.objects.set_function(count)

    # -- CCE client observer ----------------------------------------------------------------------

    def cce_response(self, host: str, code: str, seconds: float) -> None:
        """One HTTP exchange with CCE or IAM: counted by host and code, and timed."""
        self.cce_requests.labels(host, code).inc()
        self.cce_latency.labels(host).observe(seconds)

    # -- scheduler observer -----------------------------------------------------------------------

    def poll_finished(self, key: PollKey, outcome: str, seconds: float) -> None:
        """One cluster's workflows read (or not): counted by outcome, and timed."""
        self.polls.labels(outcome).inc()
        self.poll_seconds.observe(seconds)

    def object_mirrored(self, watched: Watched, result: Mirrored, fresh: bool) -> None:
        """Only a successful CCE read moves the last-success time: a revoked credential or a deleted
        cluster is a failure too, and staleness alerts must see it."""
        ref = watched.ref
        self.per_object.phases[ref] = result.status.phase or "None"
        self.per_object.update(ref, result.status)
        for task in result.ended:
            self._task_ended(task)
        if fresh:
            self.per_object.last_success[ref] = time.time()

    def write_failed(self, ref: ObjectRef, code: str) -> None:
        """A Kubernetes write that failed and will be retried, by cause."""
        self.write_failures.labels(code).inc()

    def _task_ended(self, task: TaskView) -> None:
        if task.start_time is None or task.end_time is None or task.end_time < task.start_time:
            return
        key = task.id or f"{task.type}/{task.start_time.isoformat()}"
        if key in self._timed:
            return
        self._timed[key] = None
        while len(self._timed) > 10000:
            self._timed.popitem(last=False)
        seconds = (task.end_time - task.start_time).total_seconds()
        self.task_seconds.labels(task.type, task.status or "unknown").observe(seconds)

    def object_removed(self, ref: ObjectRef) -> None:
        """The object is gone from the watch: its per-object series go too."""
        self.per_object.remove(ref)

    # -- Kubernetes writes ------------------------------------------------------------------------

    def status_written(self, result: str) -> None:
        """One status patch, by result ("success" or the HTTP code)."""
        self.status_writes.labels(result).inc()

    def event_posted(self, reason: str, kind: str) -> None:
        """One Event posted, by reason and type."""
        self.events.labels(reason, kind).inc()
