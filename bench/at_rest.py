"""A fleet at rest: CCE requests per cluster per resync when every upgrade is over, split by call.

The workflow list alone is what the operator asked before it read anything between upgrades; the
upgrade info and the pre-check list come on top, at most once per resync per cluster, and the
upgrade paths once an hour per endpoint (counted by the simulator under the project, cluster `-`).
The operator runs with a short --resync so a few resyncs fit into a minute or two.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

from settings import AK, PROJECT, SK

from ccupgrade.models import GROUP, PLURAL, VERSION
from ccupgrade.testbed.services import start_operator

if TYPE_CHECKING:
    from run import Bench

CALLS = {
    "/operation/upgradeworkflows": "workflow list",
    "/upgradeinfo": "upgrade info",
    "/operation/precheck/tasks": "pre-check list",
}


def _by_call(log: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in log:
        name = next((label for ending, label in CALLS.items() if entry["path"].endswith(ending)), "other")
        counts[name] += 1
    return counts


def at_rest(bench: Bench, clusters: int, resync: float, resyncs: int) -> dict[str, Any]:
    """Per cluster and resync, for `clusters` clusters whose upgrade succeeded, over `resyncs` resyncs."""
    namespace = f"bench-at-rest-{clusters}"
    names = [f"at-rest-{clusters}-{i:05d}" for i in range(clusters)]
    print(f"-- at rest: {clusters} clusters, one object each, --resync {resync:g}s", flush=True)
    bench.core.create_namespace({"metadata": {"name": namespace}})
    bench.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "cce"}, "stringData": {"accessKey": AK, "secretKey": SK}}
    )
    for cluster in names:
        bench.control.load(PROJECT, cluster, "standard", paused=True)
        bench.control.time(PROJECT, cluster, set=60)  # the upgrade succeeded: nothing active
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CceClusterUpgrade",
            "metadata": {"name": cluster},
            "spec": {
                "endpoint": bench.simulator.url,
                "projectId": PROJECT,
                "clusterId": cluster,
                "credentialsSecretRef": {"name": "cce"},
            },
        }
        bench.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    operator = start_operator(
        bench.workdir,
        bench.kubeconfigs["ours"],
        ["--namespace", namespace, "--allowed-endpoints", "http://127.0.0.1:*", "--resync", f"{resync:g}s"],
        name=f"ours-{namespace}",
        log_level="WARNING",
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every object has read what is available once
            listed = cast(dict[str, Any], bench.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
            if sum(1 for o in listed["items"] if (o.get("status") or {}).get("available")) >= clusters:
                break
            time.sleep(0.5)
        time.sleep(resync / 2)  # measure from between two rounds of polls
        before = [len(bench.control.requests(PROJECT, c, limit=100000)["log"]) for c in names]
        paths0 = bench.control.requests(PROJECT, "-", limit=1)["total"]
        started = time.monotonic()
        time.sleep(resync * resyncs)
        elapsed = time.monotonic() - started
        counts: Counter[str] = Counter()
        for cluster, skip in zip(names, before, strict=True):
            counts += _by_call(bench.control.requests(PROJECT, cluster, limit=100000)["log"][skip:])
        windows = elapsed / resync
        per = {label: round(counts[label] / clusters / windows, 2) for label in (*CALLS.values(), "other")}
        paths = bench.control.requests(PROJECT, "-", limit=1)["total"] - paths0
        total = round(sum(counts.values()) / clusters / windows, 2)
        figures = {
            "clusters": clusters,
            "resync_s": resync,
            "resyncs": round(windows, 2),
            "requests_per_cluster_per_resync": total,
            "workflow_list_per_cluster_per_resync": per["workflow list"],
            "by_call": per,
            "upgrade_paths_in_window": paths,
        }
        print(
            f"   at rest: {total} CCE requests per cluster per resync (before reading between upgrades: "
            f"{per['workflow list']}, the workflow list alone); upgrade info {per['upgrade info']}, "
            f"pre-check list {per['pre-check list']}, other {per['other']}; upgrade paths {paths} "
            f"in {elapsed:.0f}s for the endpoint",
            flush=True,
        )
        return figures
    finally:
        operator.stop()
        for cluster in names:
            bench.control.remove(PROJECT, cluster)
