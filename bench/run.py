"""`make bench`: this operator against the naive baseline on the real local control plane and the
simulator. A benchmark, not a test: it prints figures, writes JSON and plots, and asserts nothing.

    python bench/run.py --quick                 # 100 objects on 10 clusters, both designs
    python bench/run.py --sizes 100,1000,5000   # the full run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from prometheus_client.parser import text_string_to_metric_families

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed import ControlPlane, ensure_binaries, processes
from ccupgrade.testbed.accounts import mint_service_account_kubeconfig
from ccupgrade.testbed.binaries import repo_root
from ccupgrade.testbed.services import Service, start_operator, start_simulator

ROOT = repo_root()
RESULTS = ROOT / "bench" / "results"
PROJECT = "be0c000000000000000000000000beef"
AK, SK = "BENCHACCESSKEY000001", "bench-secret-key"
INTERVAL = 5.0
OBJECTS_PER_CLUSTER = 10


@dataclass
class Figures:
    design: str
    objects: int
    clusters: int
    cold_start_s: float | None = None
    cold_start_peak_rps: int = 0  # the busiest single second: may reach the gate's rate plus its burst
    cold_start_peak_5s_rps: float = 0.0  # the busiest 5 s, per second: the sustained rate, bounded by the cap
    active_requests_per_cluster_per_interval: float = 0.0
    # while every cluster's Cluster task runs (the workflow list plus the task's own progress); goal <= 2.0
    cluster_task_requests_per_cluster_per_interval: float = 0.0
    quiet_status_writes: int = 0
    quiet_event_writes: int = 0
    status_writes_per_min_active: float = 0.0
    event_writes_total: int = 0
    staleness_s: list[float] = field(default_factory=list)
    event_lag_s: list[float] = field(default_factory=list)  # change -> the object's last Event of it
    unseen_changes: int = 0
    terminal_requests_per_cluster_per_min: float = 0.0
    rss_mb: float = 0.0
    cpu_percent_active: float = 0.0
    cpu_percent_quiet: float = 0.0
    metrics_answer_max_s: float = 0.0  # the slowest /metrics answer during the bursts (liveness probes wait as long)
    metrics_timeline: list[dict[str, float]] = field(default_factory=list)

    def percentile(self, q: float, values: list[float] | None = None) -> float | None:
        values = self.staleness_s if values is None else values
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Tracker:
    """Watches the objects from outside the operator: when did each one show a new workflow update?"""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.updated: dict[str, str | None] = {}
        self.seen_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        while True:
            try:
                for event in self._watch.stream(self.custom.list_namespaced_custom_object, GROUP, VERSION,
                                                self.namespace, PLURAL, timeout_seconds=600):  # fmt: skip
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    updated = ((obj.get("status") or {}).get("workflow") or {}).get("updated")
                    with self._lock:
                        if self.updated.get(name) != updated:
                            self.updated[name] = updated
                            self.seen_at[name] = time.monotonic()
                return
            except Exception:  # a dropped watch: start again
                time.sleep(0.2)

    def snapshot(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self.updated)


class _RawWatch(watch.Watch):
    """A watch that hands out the JSON as is: deserializing thousands of V1Events would hold the GIL
    and delay the status Tracker's own timestamps in this process."""

    def get_return_type(self, func: Any) -> Any:
        return None


class EventTracker:
    """When each object's latest Event arrived (watch ADDED), to measure the Event lag apart from the status lag."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.last_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._watch = _RawWatch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        while True:
            try:
                for event in self._watch.stream(self.core.list_namespaced_event, self.namespace, timeout_seconds=600):
                    if event["type"] != "ADDED":
                        continue
                    name = event["object"]["involvedObject"]["name"]
                    with self._lock:
                        self.last_at[name] = time.monotonic()
                return
            except Exception:  # a dropped watch: start again
                time.sleep(0.2)

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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
            if sample.name in {"ccupgrade_polls_total", "ccupgrade_status_writes_total", "ccupgrade_events_total",
                               "ccupgrade_cce_requests_total", "ccupgrade_watched_objects"}:  # fmt: skip
                picked[sample.name] += sample.value
            if sample.name == "ccupgrade_upgrade_phase" and sample.value:
                picked[f"phase_{sample.labels['phase']}"] += 1
            if sample.name == "ccupgrade_task_progress_percent":
                picked["progress_sum"] += sample.value
                picked["progress_objects"] += 1
            if sample.name == "ccupgrade_task_duration_seconds_count":
                picked[f"tasks_ended_{sample.labels['task']}"] += sample.value
    return dict(picked)


class Bench:
    def __init__(self, plane: ControlPlane, simulator: Service, kubectl: str, workdir: Path, rate: float) -> None:
        self.plane = plane
        self.simulator = simulator
        self.control = SimulatorControl(simulator.url, timeout=60)
        self.kubectl = [kubectl, f"--kubeconfig={plane.kubeconfig}"]
        self.api = config.new_client_from_config(str(plane.kubeconfig))
        self.api.configuration.connection_pool_maxsize = 16
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.workdir = workdir
        self.rate = rate
        self.kubeconfigs = self._service_accounts()

    def _service_accounts(self) -> dict[str, Path]:
        """Each design runs as a ServiceAccount with a bound token, as it would in a cluster.

        Ours gets exactly the shipped RBAC; the naive one (kopf timers patch finalizers onto the
        objects) is bound to cluster-admin. Client certificates would cost the API server an x509
        chain check on every request (13 % of its CPU in a profile), which no in-cluster operator pays.
        """
        # The shipped install (its Deployment stays Pending here: no nodes), for its ServiceAccount and RBAC.
        subprocess.run([*self.kubectl, "apply", "-k", str(ROOT / "manifests"), "--server-side", "--force-conflicts"],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run([*self.kubectl, "create", "clusterrolebinding", "bench-naive", "--clusterrole=cluster-admin",
                        "--serviceaccount=ccupgrade-system:bench-naive"], check=True, capture_output=True)  # fmt: skip
        lifetime = 6 * 3600
        return {
            "ours": mint_service_account_kubeconfig(self.api, self.plane, "ccupgrade-system", "cce-upgrade-operator",
                                                    self.workdir / "ours.kubeconfig", lifetime),
            "naive": mint_service_account_kubeconfig(self.api, self.plane, "ccupgrade-system", "bench-naive",
                                                     self.workdir / "naive.kubeconfig", lifetime),
        }  # fmt: skip

    def cluster_ids(self, design: str, n: int) -> list[str]:
        return [f"{design}-{n}-{i:05d}" for i in range(max(1, n // OBJECTS_PER_CLUSTER))]

    def requests(self, clusters: list[str]) -> int:
        stats = self.control.stats()["clusters"]
        return sum(stats.get(f"{PROJECT}/{c}", {}).get("total", 0) for c in clusters)

    def peak_rates(self, clusters: set[str], since: float) -> tuple[int, float]:
        """(the busiest second, the busiest 5 s per second) of CCE requests since `since`."""
        entries = self._request_log()
        per_second = Counter(int(e["t"]) for e in entries if e["cluster"] in clusters and e["t"] >= since)
        if not per_second:
            return 0, 0.0
        windows = [sum(per_second.get(t + i, 0) for i in range(5)) for t in range(min(per_second), max(per_second) + 1)]
        return max(per_second.values()), round(max(windows) / 5, 1)

    def _request_log(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for key in self.control.stats()["clusters"]:
            project, cluster = key.split("/", 1)
            if project == PROJECT:
                entries += self.control.requests(project, cluster, limit=100000)["log"]
        return entries

    def start(self, design: str, namespace: str) -> Service:
        if design == "ours":
            return start_operator(self.workdir, self.kubeconfigs["ours"],
                                  ["--namespace", namespace, "--allowed-endpoints", "http://127.0.0.1:*",
                                   "--rate", str(self.rate), "--burst", str(int(self.rate)),
                                   "--max-concurrent-polls", "50"], name=f"ours-{namespace}", log_level="WARNING")  # fmt: skip
        log, pid = self.workdir / f"naive-{namespace}.log", self.workdir / f"naive-{namespace}.pid"
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfigs["naive"]))
        process = processes.spawn([sys.executable, str(ROOT / "bench" / "naive_operator.py"), "--namespace", namespace,
                                   "--interval", str(INTERVAL)], log, pid, env)  # fmt: skip
        return Service(process, log, pid, "")

    def run(self, design: str, n: int, quiet_window: float, terminal_window: float) -> Figures:
        clusters = self.cluster_ids(design, n)
        figures = Figures(design, n, len(clusters))
        namespace = f"bench-{design}-{n}"
        print(f"-- {design}: {n} objects on {len(clusters)} clusters", flush=True)
        self.core.create_namespace({"metadata": {"name": namespace}})
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": "cce"}, "stringData": {"accessKey": AK, "secretKey": SK}}
        )
        for cluster in clusters:
            self.control.load(PROJECT, cluster, "standard", paused=True)

        def create(index: int) -> None:
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CceClusterUpgrade", "metadata": {"name": f"u{index:05d}"},
                    "spec": {"endpoint": self.simulator.url, "projectId": PROJECT, "clusterId": clusters[index % len(clusters)],
                             "credentialsSecretRef": {"name": "cce"}, "pollInterval": f"{INTERVAL:g}s"}}  # fmt: skip
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(n)))
        tracker = Tracker(config.new_client_from_config(str(self.plane.kubeconfig)), namespace)
        tracker.start()
        event_tracker = EventTracker(config.new_client_from_config(str(self.plane.kubeconfig)), namespace)
        event_tracker.start()
        started_wall, started = time.time(), time.monotonic()
        operator = self.start(design, namespace)
        pid = operator.process.pid
        try:
            deadline = started + 180
            while time.monotonic() < deadline:
                if sum(1 for v in tracker.snapshot().values() if v) >= n:
                    figures.cold_start_s = round(time.monotonic() - started, 2)
                    break
                time.sleep(0.2)
            figures.cold_start_peak_rps, figures.cold_start_peak_5s_rps = self.peak_rates(set(clusters), started_wall)
            print(f"   cold start: {figures.cold_start_s}s (CCE requests: busiest second {figures.cold_start_peak_rps}, "
                  f"busiest 5 s {figures.cold_start_peak_5s_rps}/s; cap {self.rate:g}/s)", flush=True)  # fmt: skip

            # Nothing changes in CCE: what does each design cost?
            time.sleep(INTERVAL)
            req0, (patch0, post0), cpu0 = self.requests(clusters), apiserver_counts(self.kubectl), cpu_seconds(pid)
            time.sleep(quiet_window)
            req1, (patch1, post1), cpu1 = self.requests(clusters), apiserver_counts(self.kubectl), cpu_seconds(pid)
            figures.active_requests_per_cluster_per_interval = round(
                (req1 - req0) / len(clusters) / (quiet_window / INTERVAL), 2
            )
            figures.quiet_status_writes, figures.quiet_event_writes = patch1 - patch0, post1 - post0
            figures.cpu_percent_quiet = round(100 * (cpu1 - cpu0) / quiet_window, 1)

            # The upgrade moves: how stale is each object, and what does it cost?
            active_start, cpu_a0 = time.monotonic(), cpu_seconds(pid)
            patch_a0, _ = apiserver_counts(self.kubectl)
            held, held_patches, held_cpu = 0.0, 0, 0.0  # the Cluster-task window below is not in the active figures
            last_scrape = 0.0
            for moment in (31, 46, 56):
                before = tracker.snapshot()
                changed_at = time.monotonic()
                self.control.time_all(set=moment)
                limit = changed_at + 6 * INTERVAL + n / 50
                while time.monotonic() < limit:
                    now_seen = tracker.snapshot()
                    if all(now_seen.get(k) != v for k, v in before.items()):
                        break
                    if design == "ours" and operator.url and time.monotonic() - last_scrape >= 1.0:
                        last_scrape = time.monotonic()
                        sample = scrape(operator.url)
                        figures.metrics_answer_max_s = max(figures.metrics_answer_max_s,
                                                           round(time.monotonic() - last_scrape, 3))  # fmt: skip
                        figures.metrics_timeline.append({"t": last_scrape - started, **sample})
                    time.sleep(0.25)
                after = tracker.snapshot()
                seen_at = dict(tracker.seen_at)
                for name, value in before.items():
                    if after.get(name) != value:
                        figures.staleness_s.append(round(seen_at[name] - changed_at, 3))
                    else:
                        figures.unseen_changes += 1
                # The Events of the change may trail the status: wait until every changed object has one
                # after the change and none has come for 3 s (bounded), then take each object's last.
                changed = [name for name, value in before.items() if after.get(name) != value]
                if design == "naive":
                    changed = []  # it posts no Events
                quiet_since, count = time.monotonic(), -1
                while time.monotonic() < limit + 60:
                    seen = event_tracker.snapshot()
                    arrived = [seen[k] for k in changed if seen.get(k, 0) >= changed_at]
                    if len(arrived) != count:
                        quiet_since, count = time.monotonic(), len(arrived)
                    latest = max(arrived, default=0.0)
                    if not changed:
                        break
                    if len(arrived) == len(changed) and time.monotonic() - max(latest, quiet_since) >= 3:
                        break
                    time.sleep(0.25)
                seen = event_tracker.snapshot()
                figures.event_lag_s.extend(
                    round(seen[k] - changed_at, 3) for k in changed if seen.get(k, 0) >= changed_at
                )
                print(
                    f"   moment {moment}: p95 staleness {figures.percentile(0.95)}s, "
                    f"p95 Event lag {figures.percentile(0.95, figures.event_lag_s)}s",
                    flush=True,
                )
                if moment == 31:  # every Cluster task runs (and stays at its percentage: the clocks are paused)
                    hold_start, cpu_h0 = time.monotonic(), cpu_seconds(pid)
                    patch_h0, _ = apiserver_counts(self.kubectl)
                    time.sleep(INTERVAL)
                    r0 = self.requests(clusters)
                    time.sleep(quiet_window)
                    figures.cluster_task_requests_per_cluster_per_interval = round(
                        (self.requests(clusters) - r0) / len(clusters) / (quiet_window / INTERVAL), 2
                    )
                    print(f"   while the Cluster task runs: {figures.cluster_task_requests_per_cluster_per_interval} "
                          f"CCE requests per cluster per interval", flush=True)  # fmt: skip
                    held += time.monotonic() - hold_start
                    held_patches += apiserver_counts(self.kubectl)[0] - patch_h0
                    held_cpu += cpu_seconds(pid) - cpu_h0
            active = time.monotonic() - active_start - held
            if design == "ours":
                print(f"   slowest /metrics answer during the bursts: {figures.metrics_answer_max_s}s", flush=True)
            patch_a1, post_a1 = apiserver_counts(self.kubectl)
            figures.status_writes_per_min_active = round((patch_a1 - patch_a0 - held_patches) / active * 60, 1)
            figures.event_writes_total = post_a1 - post0
            figures.cpu_percent_active = round(100 * (cpu_seconds(pid) - cpu_a0 - held_cpu) / active, 1)

            # Every upgrade is over: requests spent on terminal workflows.
            time.sleep(INTERVAL)
            t0, r0 = time.monotonic(), self.requests(clusters)
            while time.monotonic() - t0 < terminal_window:
                if design == "ours" and operator.url:
                    figures.metrics_timeline.append({"t": time.monotonic() - started, **scrape(operator.url)})
                time.sleep(2)
            figures.terminal_requests_per_cluster_per_min = round(
                (self.requests(clusters) - r0) / len(clusters) / (terminal_window / 60), 3
            )
            figures.rss_mb = round(rss_mb(pid), 1)
        finally:
            tracker.stop()
            event_tracker.stop()
            operator.stop()
            for cluster in clusters:
                self.control.remove(PROJECT, cluster)
        return figures


def write_ceiling(bench: Bench, namespace: str, objects: int, concurrency: int) -> dict[str, float]:
    """How many writes per second this API server takes with no operator at all: the floor under
    any staleness figure when every object changes at once. Half status patches, half Events, sent
    as ours sends them (aiohttp, merge patch, as its ServiceAccount), from `concurrency` requests in flight."""
    import asyncio

    from ccupgrade.kube.api import KubeApi, path_of

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(bench.kubeconfigs["ours"]), client_configuration=configuration)
    objects_path = path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)
    events_path = path_of("api", "v1", "namespaces", namespace, "events")

    def create(name: str) -> None:  # as admin: the operator's ServiceAccount may not create these
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CceClusterUpgrade", "metadata": {"name": name},
                "spec": {"region": "ap-southeast-1", "projectId": PROJECT, "clusterId": "c",
                         "credentialsSecretRef": {"name": "cce"}}}  # fmt: skip
        bench.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    names = [f"w{i:05d}" for i in range(objects)]
    bench.core.create_namespace({"metadata": {"name": namespace}})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))

    async def measure() -> dict[str, float]:
        api = KubeApi(configuration, connections=concurrency)
        try:
            gate = asyncio.Semaphore(concurrency)

            async def once(call: Any) -> None:
                async with gate:
                    await call

            started = time.monotonic()
            writes = []
            for n in names:
                status = {"status": {"phase": "Running", "progress": "1/4", "currentTask": f"Cluster {n}"}}
                writes.append(once(api.merge_patch(objects_path + path_of(n, "status"), status)))
                event = {"metadata": {"name": f"{n}.ceiling"}, "reason": "TaskStarted", "message": "x", "type": "Normal",
                         "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CceClusterUpgrade",
                                            "name": n, "namespace": namespace}}  # fmt: skip
                writes.append(once(api.create(events_path, event)))
            await asyncio.gather(*writes)
            elapsed = time.monotonic() - started
            return {"concurrency": concurrency, "writes": len(writes), "seconds": round(elapsed, 2),
                    "writes_per_s": round(len(writes) / elapsed)}  # fmt: skip
        finally:
            await api.close()

    return asyncio.run(measure())


def table(results: list[Figures]) -> str:
    rows = [("design", "objects", "clusters", "cold start s", "req/cluster/interval", "req … Cluster task", "quiet writes",
             "staleness p50/p95/p99/max s", "Event lag p50/p95 s", "unseen", "writes/min active", "terminal req/cluster/min", "RSS MB",
             "CPU % active/quiet")]  # fmt: skip
    for f in results:
        stale = "/".join(f"{f.percentile(q):.2f}" if f.staleness_s else "-" for q in (0.5, 0.95, 0.99, 1.0))
        lag = "/".join(f"{f.percentile(q, f.event_lag_s):.2f}" if f.event_lag_s else "-" for q in (0.5, 0.95))
        rows.append((f.design, str(f.objects), str(f.clusters), str(f.cold_start_s), f"{f.active_requests_per_cluster_per_interval:.2f}",
                     f"{f.cluster_task_requests_per_cluster_per_interval:.2f}",
                     f"{f.quiet_status_writes}+{f.quiet_event_writes}ev", stale, lag, str(f.unseen_changes),
                     f"{f.status_writes_per_min_active:.0f}", f"{f.terminal_requests_per_cluster_per_min:.3f}",
                     f"{f.rss_mb:.0f}", f"{f.cpu_percent_active}/{f.cpu_percent_quiet}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def ratios(results: list[Figures]) -> list[str]:
    lines = []
    by = {(f.design, f.objects): f for f in results}
    for (design, n), ours in by.items():
        naive = by.get(("naive", n))
        if design != "ours" or naive is None:
            continue

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.1f}x" if b else "inf"

        lines.append(
            f"{n} objects: CCE requests naive/ours {ratio(naive.active_requests_per_cluster_per_interval, ours.active_requests_per_cluster_per_interval)}, "
            f"terminal requests naive(5s)/ours {ratio(naive.terminal_requests_per_cluster_per_min, ours.terminal_requests_per_cluster_per_min)} "
            f"(a 30 s naive timer: {ratio(naive.terminal_requests_per_cluster_per_min / 6, ours.terminal_requests_per_cluster_per_min)}), "
            f"quiet status writes {naive.quiet_status_writes} vs {ours.quiet_status_writes}"
        )  # fmt: skip
    return lines


def plots(results: list[Figures], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for f in results:
        if f.staleness_s:
            ordered = sorted(f.staleness_s)
            axis.plot(ordered, [i / len(ordered) for i in range(1, len(ordered) + 1)], label=f"{f.design} {f.objects}")
    axis.axvline(1.1 * INTERVAL + 0.5, color="grey", linestyle="--", label="target p95")
    axis.set_xlabel("seconds from CCE change to visible status")
    axis.set_ylabel("fraction of objects")
    axis.set_title("Staleness CDF")
    axis.legend()
    figure.tight_layout()
    figure.savefig(directory / "staleness_cdf.png", dpi=100)

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = [f"{f.design}\n{f.objects}" for f in results]
    axes[0].bar(labels, [f.active_requests_per_cluster_per_interval for f in results], color="tab:blue")
    axes[0].set_title("CCE requests per cluster per 5 s interval")
    axes[1].bar(labels, [f.status_writes_per_min_active for f in results], color="tab:orange")
    axes[1].set_title("status writes per minute (active upgrade)")
    figure.tight_layout()
    figure.savefig(directory / "requests_and_writes.png", dpi=100)
    plt.close("all")


def dashboard(results: list[Figures], directory: Path) -> None:
    """The Grafana dashboard's panels, drawn from the operator's own /metrics during the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = next((f for f in reversed(results) if f.design == "ours" and f.metrics_timeline), None)
    if run is None:
        return
    series = run.metrics_timeline
    t = [s["t"] for s in series]

    def rate(name: str) -> list[float]:
        values = [s.get(name, 0.0) for s in series]
        return [0.0] + [
            max(0.0, (values[i] - values[i - 1]) / max(1e-6, t[i] - t[i - 1])) for i in range(1, len(values))
        ]

    figure, axes = plt.subplots(2, 3, figsize=(16, 6))
    axes[0][0].plot(t, rate("ccupgrade_polls_total"))
    axes[0][0].set_title("rate(ccupgrade_polls_total)")
    axes[0][1].plot(t, rate("ccupgrade_cce_requests_total"), color="tab:green")
    axes[0][1].set_title("rate(ccupgrade_cce_requests_total)")
    axes[1][0].plot(t, rate("ccupgrade_status_writes_total"), color="tab:orange", label="status writes/s")
    axes[1][0].plot(t, rate("ccupgrade_events_total"), color="tab:red", label="events/s")
    axes[1][0].legend()
    axes[1][0].set_title("status writes and events")
    for phase in ("Init", "Running", "Success"):
        axes[1][1].plot(t, [s.get(f"phase_{phase}", 0.0) for s in series], label=phase)
    axes[1][1].legend()
    axes[1][1].set_title("sum by (phase) (ccupgrade_upgrade_phase)")
    axes[0][2].plot(t, [s["progress_sum"] / s["progress_objects"] if s.get("progress_objects") else 0.0 for s in series],
                    color="tab:purple")  # fmt: skip
    axes[0][2].set_title("avg(ccupgrade_task_progress_percent)")
    for task in ("PreCheck", "Snapshot", "Cluster", "PostCheck"):
        axes[1][2].plot(t, [s.get(f"tasks_ended_{task}", 0.0) for s in series], label=task)
    axes[1][2].legend()
    axes[1][2].set_title("sum by (task) (ccupgrade_task_duration_seconds_count)")
    for axis in axes.flat:
        axis.set_xlabel("seconds since operator start")
    figure.suptitle(
        f"cce-upgrade-operator dashboard panels ({run.objects} objects; rendered with matplotlib from a bench run)"
    )
    figure.tight_layout()
    figure.savefig(directory / "dashboard.png", dpi=100)
    plt.close("all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--designs", default="ours,naive")
    parser.add_argument("--quick", action="store_true", help="100 objects, shorter windows")
    parser.add_argument("--rate", type=float, default=200.0, help="our operator's request cap per endpoint")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--windows", type=float, nargs=2, metavar=("QUIET", "TERMINAL"), help="seconds of each window")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--ceiling-objects", type=int, default=1000,
                        help="objects for the API server's own write ceiling (0 skips it)")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [100] if args.quick else [int(s) for s in args.sizes.split(",")]
    quiet, terminal = args.windows or ((10.0, 30.0) if args.quick else (15.0, 60.0))
    args.out.mkdir(parents=True, exist_ok=True)
    binaries = ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="ccupgrade-bench-"))
    results: list[Figures] = []
    ceiling: list[dict[str, float]] = []
    with ControlPlane(workdir / "controlplane", binaries) as plane:
        subprocess.run([str(binaries.kubectl), f"--kubeconfig={plane.kubeconfig}", "apply", "--server-side",
                        "-f", str(ROOT / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml")], check=True, capture_output=True)  # fmt: skip
        subprocess.run([str(binaries.kubectl), f"--kubeconfig={plane.kubeconfig}", "wait", "--for=condition=Established",
                        "crd/cceclusterupgrades.ccupgrade.dev"], check=True, capture_output=True)  # fmt: skip
        simulator = start_simulator(workdir, extra=["--aksk", f"{AK}:{SK}"])
        try:
            bench = Bench(plane, simulator, str(binaries.kubectl), workdir, args.rate)
            if args.ceiling_objects:
                for concurrency in (16, 64):
                    namespace = f"bench-ceiling-{concurrency}"
                    ceiling.append(write_ceiling(bench, namespace, args.ceiling_objects, concurrency))
                    print(f"-- API server write ceiling: {ceiling[-1]}", flush=True)
            for n in sizes:
                for design in args.designs.split(","):
                    results.append(bench.run(design, n, quiet, terminal))
        finally:
            simulator.stop()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    )
    summary = {"machine": machine, "interval_s": INTERVAL, "objects_per_cluster": OBJECTS_PER_CLUSTER,
               "api_server_write_ceiling": ceiling,
               "results": [{**asdict(f), "staleness_p50": f.percentile(0.5), "staleness_p95": f.percentile(0.95),
                            "staleness_p99": f.percentile(0.99), "staleness_max": f.percentile(1.0),
                            "event_lag_p50": f.percentile(0.5, f.event_lag_s),
                            "event_lag_p95": f.percentile(0.95, f.event_lag_s)} for f in results]}  # fmt: skip
    (args.out / "latest.json").write_text(json.dumps(summary, indent=1))
    if not args.no_plots:
        plots(results, args.out)
        dashboard(results, args.out)
    print(f"\nmachine: {machine}; active poll interval {INTERVAL:g}s; {OBJECTS_PER_CLUSTER} objects per cluster\n")
    print(table(results))
    print()
    for line in ratios(results):
        print(line)
    for measured in ceiling:
        print(f"API server alone, {measured['concurrency']:g} writes in flight: {measured['writes_per_s']:g} writes/s "
              f"(half status patches, half Events)")  # fmt: skip
    print(f"\nraw figures and plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
