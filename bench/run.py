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
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from at_rest import at_rest
from ceiling import write_ceiling
from figures import Figures, ratios, table
from kubernetes import client, config
from plots import dashboard, plots
from sampling import EventTracker, Tracker, apiserver_counts, cpu_seconds, rss_mb, scrape
from settings import AK, INTERVAL, OBJECTS_PER_CLUSTER, PROJECT, RESULTS, ROOT, SK

from ccupgrade.models import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed import ControlPlane, ensure_binaries, processes
from ccupgrade.testbed.accounts import mint_service_account_kubeconfig
from ccupgrade.testbed.services import Service, start_operator, start_simulator

# How often the bursts scrape /metrics (for its answer time and the counters' timeline). Every
# second cost a fifth of the operator's CPU at 5,000 objects (10,000 per-object series a scrape),
# taken from the API server the figures measure; a Prometheus scrapes every 15-60 s, and so does this.
SCRAPE_EVERY = 15.0


def cluster_of(clusters: list[str], index: int) -> str:
    """The cluster object `u{index:05d}` names: the objects go round the clusters in turn."""
    return clusters[index % len(clusters)]


@dataclass
class Held:
    """Windows left out of the active figures (the Cluster-task window, the waits before the changes):
    their time, status patches and operator CPU, subtracted from the active run's."""

    kubectl: list[str]
    pid: int
    seconds: float = 0.0
    patches: int = 0
    cpu: float = 0.0

    @contextmanager
    def window(self) -> Iterator[None]:
        """Counts what the `with` block spends as held."""
        start, cpu0 = time.monotonic(), cpu_seconds(self.pid)
        patches0, _ = apiserver_counts(self.kubectl)
        yield
        self.seconds += time.monotonic() - start
        self.patches += apiserver_counts(self.kubectl)[0] - patches0
        self.cpu += cpu_seconds(self.pid) - cpu0


@dataclass
class _Run:
    """One design at one size while it runs: what its steps share."""

    design: str
    n: int
    clusters: list[str]
    figures: Figures
    tracker: Tracker
    event_tracker: EventTracker
    operator: Service
    started: float  # monotonic, when the operator was started
    last_scrape: float = 0.0  # monotonic, the last /metrics scrape during the bursts

    @property
    def pid(self) -> int:
        """The operator's process ID (CPU and memory are read from it)."""
        return self.operator.process.pid


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
        self.rng = random.Random()  # when each change falls: unrelated to either design's polls
        self.kubeconfigs = self._service_accounts()

    def _service_accounts(self) -> dict[str, Path]:
        """Each design runs as a ServiceAccount with a bound token, as it would in a cluster.

        Ours gets exactly the shipped RBAC; the naive one (kopf timers patch finalizers onto the
        objects) is bound to cluster-admin. Client certificates would cost the API server an x509
        chain check on every request (13 % of its CPU in a profile), which no in-cluster operator pays.
        """
        # The shipped install (its Deployment stays Pending here: no nodes), for its ServiceAccount and RBAC.
        subprocess.run(
            [*self.kubectl, "apply", "-k", str(ROOT / "manifests"), "--server-side", "--force-conflicts"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *self.kubectl,
                "create",
                "clusterrolebinding",
                "bench-naive",
                "--clusterrole=cluster-admin",
                "--serviceaccount=ccupgrade-system:bench-naive",
            ],
            check=True,
            capture_output=True,
        )
        lifetime = 6 * 3600
        return {
            "ours": mint_service_account_kubeconfig(
                self.api,
                self.plane,
                "ccupgrade-system",
                "cce-upgrade-operator",
                self.workdir / "ours.kubeconfig",
                lifetime,
            ),
            "naive": mint_service_account_kubeconfig(
                self.api, self.plane, "ccupgrade-system", "bench-naive", self.workdir / "naive.kubeconfig", lifetime
            ),
        }

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

    def first_reads(self, clusters: set[str], since: float) -> dict[str, float]:
        """Each cluster's first CCE request at or after `since` (wall clock, as the simulator logs)."""
        first: dict[str, float] = {}
        for entry in self._request_log():
            cluster, t = entry["cluster"], entry["t"]
            if cluster in clusters and t >= since and t < first.get(cluster, float("inf")):
                first[cluster] = t
        return first

    def _request_log(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for key in self.control.stats()["clusters"]:
            project, cluster = key.split("/", 1)
            if project == PROJECT:
                entries += self.control.requests(project, cluster, limit=100000)["log"]
        return entries

    def start(self, design: str, namespace: str) -> Service:
        if design == "ours":
            return start_operator(
                self.workdir,
                self.kubeconfigs["ours"],
                [
                    "--namespace",
                    namespace,
                    "--allowed-endpoints",
                    "http://127.0.0.1:*",
                    "--rate",
                    str(self.rate),
                    "--burst",
                    str(int(self.rate)),
                    "--max-concurrent-polls",
                    "50",
                ],
                name=f"ours-{namespace}",
                log_level="WARNING",
            )
        log, pid = self.workdir / f"naive-{namespace}.log", self.workdir / f"naive-{namespace}.pid"
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfigs["naive"]))
        process = processes.spawn(
            [
                sys.executable,
                str(ROOT / "bench" / "naive_operator.py"),
                "--namespace",
                namespace,
                "--interval",
                str(INTERVAL),
            ],
            log,
            pid,
            env,
        )
        return Service(process, log, pid, "")

    def run(self, design: str, n: int, quiet_window: float, terminal_window: float) -> Figures:
        """One design at one size: the objects made, the operator started, then each measurement in turn."""
        clusters = self.cluster_ids(design, n)
        namespace = f"bench-{design}-{n}"
        print(f"-- {design}: {n} objects on {len(clusters)} clusters", flush=True)
        self._create_objects(namespace, clusters, n)
        tracker = Tracker(config.new_client_from_config(str(self.plane.kubeconfig)), namespace)
        tracker.start()
        event_tracker = EventTracker(config.new_client_from_config(str(self.plane.kubeconfig)), namespace)
        event_tracker.start()
        started_wall, started = time.time(), time.monotonic()
        operator = self.start(design, namespace)
        one = _Run(design, n, clusters, Figures(design, n, len(clusters)), tracker, event_tracker, operator, started)
        try:
            self._cold_start(one, started_wall)
            post0 = self._quiet(one, quiet_window)
            self._active(one, quiet_window, post0)
            self._terminal(one, terminal_window)
        finally:
            tracker.stop()
            event_tracker.stop()
            operator.stop()
            for cluster in clusters:
                self.control.remove(PROJECT, cluster)
        return one.figures

    def _create_objects(self, namespace: str, clusters: list[str], n: int) -> None:
        """The namespace, its Secret, one paused scenario per cluster and `n` objects spread over them."""
        self.core.create_namespace({"metadata": {"name": namespace}})
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": "cce"}, "stringData": {"accessKey": AK, "secretKey": SK}}
        )
        for cluster in clusters:
            self.control.load(PROJECT, cluster, "standard", paused=True)

        def create(index: int) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "CceClusterUpgrade",
                "metadata": {"name": f"u{index:05d}"},
                "spec": {
                    "endpoint": self.simulator.url,
                    "projectId": PROJECT,
                    "clusterId": cluster_of(clusters, index),
                    "credentialsSecretRef": {"name": "cce"},
                    "pollInterval": f"{INTERVAL:g}s",
                },
            }
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(n)))

    def _cold_start(self, one: _Run, started_wall: float) -> None:
        """Until every object has a status, and the CCE request rate meanwhile."""
        figures = one.figures
        deadline = one.started + 180
        while time.monotonic() < deadline:
            if sum(1 for v in one.tracker.snapshot().values() if v) >= one.n:
                figures.cold_start_s = round(time.monotonic() - one.started, 2)
                break
            time.sleep(0.2)
        figures.cold_start_peak_rps, figures.cold_start_peak_5s_rps = self.peak_rates(set(one.clusters), started_wall)
        print(
            f"   cold start: {figures.cold_start_s}s (CCE requests: busiest second {figures.cold_start_peak_rps}, "
            f"busiest 5 s {figures.cold_start_peak_5s_rps}/s; cap {self.rate:g}/s)",
            flush=True,
        )

    def _quiet(self, one: _Run, quiet_window: float) -> int:
        """Nothing changes in CCE: what does each design cost? Returns the Event POSTs counted at its start."""
        figures, clusters, pid = one.figures, one.clusters, one.pid
        time.sleep(INTERVAL)
        # Requests per interval over the time between the two reads of the counters: the window
        # and the kubectl call after the first read (0.3-0.5 s; dividing by the window alone
        # counted up to 3 % too many for a design that polls exactly once per interval).
        req0, at0 = self.requests(clusters), time.monotonic()
        (patch0, post0), cpu0 = apiserver_counts(self.kubectl), cpu_seconds(pid)
        time.sleep(quiet_window)
        req1, at1 = self.requests(clusters), time.monotonic()
        (patch1, post1), cpu1 = apiserver_counts(self.kubectl), cpu_seconds(pid)
        figures.active_requests_per_cluster_per_interval = round(
            (req1 - req0) / len(clusters) / ((at1 - at0) / INTERVAL), 2
        )
        figures.quiet_status_writes, figures.quiet_event_writes = patch1 - patch0, post1 - post0
        figures.cpu_percent_quiet = round(100 * (cpu1 - cpu0) / quiet_window, 1)
        return post0

    def _active(self, one: _Run, quiet_window: float, post0: int) -> None:
        """The upgrade moves: how stale is each object, and what does it cost?"""
        figures, pid = one.figures, one.pid
        active_start, cpu_a0 = time.monotonic(), cpu_seconds(pid)
        patch_a0, _ = apiserver_counts(self.kubectl)
        held = Held(self.kubectl, pid)
        for moment in (31, 46, 56):
            # The change must fall at a random point of each design's polling cycle. Without this
            # wait it came right after the previous moment's last object was seen (the naive
            # design posts no Events to wait for), so each of its objects was polled again at
            # almost the same point after the change as before: its mean staleness was 2.26 s in a
            # run, below the 2.5 s that any 5 s poller averages over changes at random times.
            # The wait is not part of the active window (like the Cluster-task window below).
            with held.window():
                time.sleep(self.rng.uniform(0.0, INTERVAL))
            self._moment(one, moment)
            if moment == 31:  # every Cluster task runs (and stays at its percentage: the clocks are paused)
                with held.window():
                    self._cluster_task_window(one, quiet_window)
        active = time.monotonic() - active_start - held.seconds
        if one.design == "ours":
            print(f"   slowest /metrics answer during the bursts: {figures.metrics_answer_max_s}s", flush=True)
        patch_a1, post_a1 = apiserver_counts(self.kubectl)
        figures.status_writes_per_min_active = round((patch_a1 - patch_a0 - held.patches) / active * 60, 1)
        figures.event_writes_total = post_a1 - post0
        figures.cpu_percent_active = round(100 * (cpu_seconds(pid) - cpu_a0 - held.cpu) / active, 1)

    def _moment(self, one: _Run, moment: int) -> None:
        """Every cluster's scenario moves to `moment`: how long until each object shows it, and its Events."""
        figures, tracker, clusters, operator = one.figures, one.tracker, one.clusters, one.operator
        before = tracker.snapshot()
        changed_at, changed_wall = time.monotonic(), time.time()
        self.control.time_all(set=moment)
        limit = changed_at + 6 * INTERVAL + one.n / 50
        while time.monotonic() < limit:
            now_seen = tracker.snapshot()
            if all(now_seen.get(k) != v for k, v in before.items()):
                break
            if one.design == "ours" and operator.url and time.monotonic() - one.last_scrape >= SCRAPE_EVERY:
                one.last_scrape = time.monotonic()
                sample = scrape(operator.url)
                figures.metrics_answer_max_s = max(
                    figures.metrics_answer_max_s, round(time.monotonic() - one.last_scrape, 3)
                )
                figures.metrics_timeline.append({"t": one.last_scrape - one.started, **sample})
            time.sleep(0.25)
        after = tracker.snapshot()
        seen_at = dict(tracker.seen_at)
        first_of_moment = len(figures.staleness_s)
        first_read = self.first_reads(set(clusters), changed_wall) if one.design == "ours" else {}
        for name, value in before.items():
            if after.get(name) != value:
                staleness = seen_at[name] - changed_at
                figures.staleness_s.append(round(staleness, 3))
                read = first_read.get(cluster_of(clusters, int(name[1:])))
                if read is not None:  # ours polls a cluster once for all its objects
                    figures.detection_s.append(round(read - changed_wall, 3))
                    figures.delivery_s.append(round(staleness - (read - changed_wall), 3))
            else:
                figures.unseen_changes += 1
        # The Events of the change may trail the status: wait until every changed object has one
        # after the change and none has come for 3 s (bounded), then take each object's last.
        changed = [name for name, value in before.items() if after.get(name) != value]
        if one.design == "naive":
            changed = []  # it posts no Events
        quiet_since, count = time.monotonic(), -1
        while time.monotonic() < limit + 60:
            seen = one.event_tracker.snapshot()
            arrived = [seen[k] for k in changed if seen.get(k, 0) >= changed_at]
            if len(arrived) != count:
                quiet_since, count = time.monotonic(), len(arrived)
            latest = max(arrived, default=0.0)
            if not changed:
                break
            if len(arrived) == len(changed) and time.monotonic() - max(latest, quiet_since) >= 3:
                break
            time.sleep(0.25)
        seen = one.event_tracker.snapshot()
        figures.event_lag_s.extend(round(seen[k] - changed_at, 3) for k in changed if seen.get(k, 0) >= changed_at)
        this = figures.staleness_s[first_of_moment:]
        mean = round(sum(this) / len(this), 3) if this else None
        print(
            f"   moment {moment}: p95 staleness {figures.percentile(0.95)}s (mean of this moment {mean}s), "
            f"p95 Event lag {figures.percentile(0.95, figures.event_lag_s)}s",
            flush=True,
        )
        if figures.detection_s:
            print(
                f"   first read after the change p95 {figures.percentile(0.95, figures.detection_s)}s; "
                f"read -> status seen p50/p95/max "
                + "/".join(str(figures.percentile(q, figures.delivery_s)) for q in (0.5, 0.95, 1.0))
                + "s",
                flush=True,
            )

    def _cluster_task_window(self, one: _Run, quiet_window: float) -> None:
        """CCE requests per cluster per interval while every Cluster task runs (progress reads included)."""
        clusters = one.clusters
        time.sleep(INTERVAL)
        r0, at0 = self.requests(clusters), time.monotonic()
        time.sleep(quiet_window)
        r1, at1 = self.requests(clusters), time.monotonic()
        one.figures.cluster_task_requests_per_cluster_per_interval = round(
            (r1 - r0) / len(clusters) / ((at1 - at0) / INTERVAL), 2
        )
        print(
            f"   while the Cluster task runs: {one.figures.cluster_task_requests_per_cluster_per_interval} "
            f"CCE requests per cluster per interval",
            flush=True,
        )

    def _terminal(self, one: _Run, terminal_window: float) -> None:
        """Every upgrade is over: requests spent on terminal workflows, and the memory held at the end."""
        figures, clusters, pid, operator = one.figures, one.clusters, one.pid, one.operator
        time.sleep(INTERVAL)
        t0, r0 = time.monotonic(), self.requests(clusters)
        while time.monotonic() - t0 < terminal_window:
            if one.design == "ours" and operator.url:
                figures.metrics_timeline.append({"t": time.monotonic() - one.started, **scrape(operator.url)})
            time.sleep(2)
        figures.terminal_requests_per_cluster_per_min = round(
            (self.requests(clusters) - r0) / len(clusters) / (terminal_window / 60), 3
        )
        figures.rss_mb = round(rss_mb(pid), 1)
        figures.peak_rss_mb = round(rss_mb(pid, "VmHWM"), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--designs", default="ours,naive")
    parser.add_argument("--quick", action="store_true", help="100 objects, shorter windows")
    parser.add_argument("--rate", type=float, default=200.0, help="our operator's request cap per endpoint")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--windows", type=float, nargs=2, metavar=("QUIET", "TERMINAL"), help="seconds of each window")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--at-rest",
        type=int,
        nargs=3,
        default=(50, 20, 3),
        metavar=("CLUSTERS", "RESYNC", "RESYNCS"),
        help="a fleet at rest: clusters, --resync seconds, resyncs measured (0 clusters skips it)",
    )
    parser.add_argument("--at-rest-only", action="store_true", help="only the fleet-at-rest figure")
    parser.add_argument(
        "--ceiling-objects", type=int, default=1000, help="objects for the API server's own write ceiling (0 skips it)"
    )
    args = parser.parse_args(argv)
    sizes = [100] if args.quick else [int(s) for s in args.sizes.split(",")]
    quiet, terminal = args.windows or ((10.0, 30.0) if args.quick else (15.0, 60.0))
    args.out.mkdir(parents=True, exist_ok=True)
    binaries = ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="ccupgrade-bench-"))
    results: list[Figures] = []
    ceiling: list[dict[str, float]] = []
    rest: dict[str, Any] = {}
    with ControlPlane(workdir / "controlplane", binaries) as plane:
        subprocess.run(
            [
                str(binaries.kubectl),
                f"--kubeconfig={plane.kubeconfig}",
                "apply",
                "--server-side",
                "-f",
                str(ROOT / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml"),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                str(binaries.kubectl),
                f"--kubeconfig={plane.kubeconfig}",
                "wait",
                "--for=condition=Established",
                "crd/cceclusterupgrades.ccupgrade.dev",
            ],
            check=True,
            capture_output=True,
        )
        simulator = start_simulator(workdir, extra=["--aksk", f"{AK}:{SK}"])
        try:
            bench = Bench(plane, simulator, str(binaries.kubectl), workdir, args.rate)
            if args.at_rest[0] > 0:
                rest = at_rest(bench, args.at_rest[0], float(args.at_rest[1]), args.at_rest[2])
            if args.at_rest_only:
                args.ceiling_objects, sizes = 0, []
            if args.ceiling_objects:
                for concurrency in (16, 64):
                    namespace = f"bench-ceiling-{concurrency}"
                    ceiling.append(
                        write_ceiling(
                            bench.kubeconfigs["ours"], bench.api, namespace, args.ceiling_objects, concurrency
                        )
                    )
                    print(f"-- API server write ceiling: {ceiling[-1]}", flush=True)
            for n in sizes:
                for design in args.designs.split(","):
                    results.append(bench.run(design, n, quiet, terminal))
        finally:
            simulator.stop()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    )
    summary = {
        "machine": machine,
        "interval_s": INTERVAL,
        "objects_per_cluster": OBJECTS_PER_CLUSTER,
        "api_server_write_ceiling": ceiling,
        "at_rest": rest,
        "results": [
            {
                **asdict(f),
                "staleness_p50": f.percentile(0.5),
                "staleness_p95": f.percentile(0.95),
                "staleness_p99": f.percentile(0.99),
                "staleness_max": f.percentile(1.0),
                "event_lag_p50": f.percentile(0.5, f.event_lag_s),
                "event_lag_p95": f.percentile(0.95, f.event_lag_s),
            }
            for f in results
        ],
    }
    if args.at_rest_only:  # the full run's figures stay as they are
        (args.out / "at_rest.json").write_text(json.dumps({"machine": machine, "at_rest": rest}, indent=1))
    else:
        (args.out / "latest.json").write_text(json.dumps(summary, indent=1))
    if not args.no_plots and results:
        plots(results, args.out)
        dashboard(results, args.out)
    print(f"\nmachine: {machine}; active poll interval {INTERVAL:g}s; {OBJECTS_PER_CLUSTER} objects per cluster\n")
    if results:
        print(table(results))
        print()
    for line in ratios(results):
        print(line)
    for measured in ceiling:
        print(
            f"API server alone, {measured['concurrency']:g} writes in flight: {measured['writes_per_s']:g} writes/s "
            f"(half status patches, half Events)"
        )
    if rest:
        print(
            f"A fleet at rest ({rest['clusters']} clusters, resync {rest['resync_s']:g}s): "
            f"{rest['requests_per_cluster_per_resync']} CCE requests per cluster per resync; "
            f"the workflow list alone (before reading between upgrades): {rest['workflow_list_per_cluster_per_resync']}"
        )
    print(f"\nraw figures and plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
