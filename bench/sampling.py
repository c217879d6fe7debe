"""Measuring from outside the operator: watches that time each status and Event, the API server's
write counters, a process's CPU and RSS, and /metrics scrapes."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from prometheus_client.parser import text_string_to_metric_families

from ccupgrade.models import GROUP, PLURAL, VERSION


class _WatchThread:
    """A watch in a thread of its own that starts again when dropped; subclasses say what to
    stream and what to take from each event."""

    def __init__(self, stream: watch.Watch) -> None:
        self._lock = threading.Lock()
        self._watch = stream
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()

    def _events(self) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _take(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        # A watch the API server ends (its timeout, or a consumer it finds too slow, as this thread
        # can be in a burst) starts again at once; it ended the whole measurement before.
        while not self._stopped:
            try:
                for event in self._events():
                    with self._lock:
                        self._take(event)
            except Exception:  # a dropped watch: start again
                time.sleep(0.2)


class _RawWatch(watch.Watch):
    """A watch that hands out each event decoded once, as plain dicts. The client's own watch
    decodes, re-encodes and decodes again every object it has no model for (our custom objects),
    and deserializing thousands of V1Events would be slower still: in a burst that held the GIL
    and lagged this process's timestamps, and the API server closed the status watch of a lagging
    Tracker (a slow consumer) in one run."""

    def get_return_type(self, func: Any) -> Any:
        return None


class Tracker(_WatchThread):
    """Watches the objects from outside the operator: when did each one show a new workflow update?"""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        super().__init__(_RawWatch())
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.updated: dict[str, str | None] = {}
        self.seen_at: dict[str, float] = {}

    def _events(self) -> Iterator[dict[str, Any]]:
        return self._watch.stream(  # type: ignore[no-any-return]
            self.custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, timeout_seconds=600
        )

    def _take(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        name = obj["metadata"]["name"]
        updated = ((obj.get("status") or {}).get("workflow") or {}).get("updated")
        if self.updated.get(name) != updated:
            self.updated[name] = updated
            self.seen_at[name] = time.monotonic()

    def snapshot(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self.updated)


class EventTracker(_WatchThread):
    """When each object's latest Event arrived (watch ADDED), to measure the Event lag apart from the status lag."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        super().__init__(_RawWatch())
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.last_at: dict[str, float] = {}

    def _events(self) -> Iterator[dict[str, Any]]:
        return self._watch.stream(self.core.list_namespaced_event, self.namespace, timeout_seconds=600)  # type: ignore[no-any-return]

    def _take(self, event: dict[str, Any]) -> None:
        if event["type"] == "ADDED":
            self.last_at[event["object"]["involvedObject"]["name"]] = time.monotonic()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.last_at)


def apiserver_counts(kubectl: list[str]) -> tuple[int, int]:
    """(status PATCHes on our resource, Event POSTs) from kube-apiserver's own /metrics."""
    text = subprocess.run([*kubectl, "get", "--raw", "/metrics"], capture_output=True, text=True, check=True).stdout
    patches = posts = 0
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            labels = sample.labels
            if not sample.name.endswith("_total"):
                continue
            if (
                labels.get("resource") == PLURAL
                and labels.get("subresource") == "status"
                and labels.get("verb") == "PATCH"
            ):
                patches += int(sample.value)
            if labels.get("resource") == "events" and labels.get("verb") == "POST":
                posts += int(sample.value)
    return patches, posts


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (VmRSS) or at its peak so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape(url: str) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    except OSError:  # a busy operator may not answer in time: a gap in the timeline, not a failed run
        return {}
    picked: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in {
                "ccupgrade_polls_total",
                "ccupgrade_status_writes_total",
                "ccupgrade_events_total",
                "ccupgrade_cce_requests_total",
                "ccupgrade_watched_objects",
            }:
                picked[sample.name] += sample.value
            if sample.name == "ccupgrade_upgrade_phase" and sample.value:
                picked[f"phase_{sample.labels['phase']}"] += 1
            if sample.name == "ccupgrade_task_progress_percent":
                picked["progress_sum"] += sample.value
                picked["progress_objects"] += 1
            if sample.name == "ccupgrade_task_duration_seconds_count":
                picked[f"tasks_ended_{sample.labels['task']}"] += sample.value
    return dict(picked)
