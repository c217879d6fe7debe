"""What a user checks after installing with docs/install/kind.md: the operator, as two Pods on kind.

Each test drives one simulated upgrade (the simulator is a Pod too) through the in-cluster operator
and disrupts it the way a cluster does (a leader Pod deleted with and without grace, a rollout
restart), then checks that the status and the Events came out exactly as without the disruption.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ccupgrade.simulator.control import SimulatorControl
from tests.kind.conftest import (
    DEPLOYMENT,
    SELECTOR,
    SK,
    SYSTEM_NS,
    Cluster,
    Upgrade,
    leader,
    metric,
    pods,
    ready_pods,
    wait_for,
    wait_rollout,
)
from tests.support.standard_path import PATH_EVENTS, STEP_MOMENTS

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]


@pytest.fixture
def upgrade(cluster: Cluster, installed: object, simulator: SimulatorControl) -> Iterator[Upgrade]:
    wait_rollout(cluster)  # each test starts from two Ready replicas, whatever the last one did
    made = Upgrade(cluster, simulator)
    made.create()
    seen(made, 0)  # every test starts from the workflow's first moment, as PATH_EVENTS does
    yield made
    made.delete()


def seen(upgrade: Upgrade, second: float, timeout: float = 60) -> None:
    """Moves the simulated upgrade to `second` and waits until status shows that moment."""
    upgrade.control.time(upgrade.project, upgrade.cluster_id, set=second)
    moment = max(m for m in STEP_MOMENTS if m <= second)
    updated = (datetime.fromisoformat(upgrade.epoch) + timedelta(seconds=moment)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def shows() -> bool:
        status = upgrade.status()
        ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        return (status.get("workflow") or {}).get("updated") == updated and ready.get("reason") != "CloudAPIUnavailable"

    wait_for(shows, timeout, f"status at second {second}")


def finish(upgrade: Upgrade) -> None:
    """The rest of the upgrade; then the Events must be exactly those of an undisturbed run."""
    for second in (46, 56):
        seen(upgrade, second)
    wait_for(lambda: _ready(upgrade) == ("True", "UpgradeSucceeded"), 60, "Ready=True UpgradeSucceeded")
    # The Events follow the status (status goes first): wait for as many as the path has, then
    # assert exactly those.
    wait_for(lambda: len(upgrade.events()) >= PATH_EVENTS.total(), 60, "the path's Events")
    reasons = Counter(e["reason"] for e in upgrade.events())
    assert reasons == PATH_EVENTS, upgrade.events()
    assert all(e["count"] in (None, 1) for e in upgrade.events()), "an Event was posted twice"


def _ready(upgrade: Upgrade) -> tuple[str, str] | None:
    ready = next((c for c in upgrade.status().get("conditions", []) if c["type"] == "Ready"), None)
    return (ready["status"], ready["reason"]) if ready else None


def exec_in(cluster: Cluster, pod: str, *command: str, check: bool = False) -> tuple[int, str]:
    done = cluster.kubectl("-n", SYSTEM_NS, "exec", pod, "-c", "operator", "--", *command, check=check)
    return done.returncode, done.stdout + done.stderr


def test_both_replicas_ready_and_exactly_one_polls(cluster: Cluster, upgrade: Upgrade) -> None:
    assert len(ready_pods(cluster)) == 2  # through their own readiness probes (kubelet → /readyz)
    seen(upgrade, 31)
    lead = wait_for(lambda: leader(cluster), 60, "a leader")
    (standby,) = [p for p in ready_pods(cluster) if p != lead]
    before = upgrade.requests()
    polls = {pod: metric(cluster, pod, "ccupgrade_cce_requests_total") for pod in (lead, standby)}
    after = upgrade.requests()
    assert polls[standby] == 0, polls
    # Every request the simulator saw came from the leader (the counters are read between two looks).
    assert 0 < before <= polls[lead] <= after, (polls, before, after)
    finish(upgrade)


def test_upgrade_mirrored_with_the_service_account_token_through_the_kubernetes_service(
    cluster: Cluster, upgrade: Upgrade
) -> None:
    seen(upgrade, 31)
    finish(upgrade)
    lead = wait_for(lambda: leader(cluster), 60, "a leader")
    # How the operator itself authenticates: the in-cluster config (projected token, the kubernetes
    # Service's ClusterIP from the environment); no kubeconfig exists in the image.
    probe = (
        "from kubernetes import client, config; config.load_incluster_config(); "
        "c = client.Configuration.get_default_copy(); api = client.ApiClient(c); "
        "r = client.AuthenticationV1Api(api).create_self_subject_review({'apiVersion': 'authentication.k8s.io/v1', "
        "'kind': 'SelfSubjectReview'}); print(c.host, r.status.user_info.username)"
    )
    code, out = exec_in(cluster, lead, "python3", "-c", probe)
    assert code == 0, out
    host, user = out.split()
    service_ip = cluster.json("-n", "default", "get", "service", "kubernetes")["spec"]["clusterIP"]
    assert host == f"https://{service_ip}:443"
    assert user == f"system:serviceaccount:{SYSTEM_NS}:cce-upgrade-operator"


def _takeover(cluster: Cluster, upgrade: Upgrade, disrupt: Callable[[str], None], what: str) -> None:
    seen(upgrade, 31)
    lead = wait_for(lambda: leader(cluster), 60, "a leader")
    started = time.monotonic()
    disrupt(lead)
    seen(upgrade, 46, timeout=120)  # only a (new) leader can show this moment
    took = time.monotonic() - started
    new = wait_for(lambda: leader(cluster), 60, "a new leader")
    assert new != lead
    print(f"\n[kind] {what}: status moved on {took:.1f}s after the leader was deleted (new leader {new})")
    finish(upgrade)


def test_leader_pod_force_deleted_the_standby_takes_over(cluster: Cluster, upgrade: Upgrade) -> None:
    force = ("--grace-period=0", "--force", "--wait=false")
    _takeover(
        cluster,
        upgrade,
        lambda pod: cluster.kubectl("-n", SYSTEM_NS, "delete", "pod", pod, *force),
        "force delete (Lease not released, it expires)",
    )


def test_leader_pod_deleted_the_standby_takes_over(cluster: Cluster, upgrade: Upgrade) -> None:
    _takeover(
        cluster,
        upgrade,
        lambda pod: cluster.kubectl("-n", SYSTEM_NS, "delete", "pod", pod, "--wait=false"),
        "normal delete (SIGTERM)",
    )


def test_rollout_restart_mid_upgrade_loses_and_duplicates_no_event(cluster: Cluster, upgrade: Upgrade) -> None:
    seen(upgrade, 31)
    before = {p["metadata"]["name"] for p in pods(cluster)}
    cluster.kubectl("-n", SYSTEM_NS, "rollout", "restart", f"deployment/{DEPLOYMENT}")
    wait_rollout(cluster)
    assert not before & set(ready_pods(cluster)), "the rollout replaced both Pods"
    finish(upgrade)


def test_sigterm_stops_a_standby_pod_promptly(cluster: Cluster, upgrade: Upgrade) -> None:
    lead = wait_for(lambda: leader(cluster), 60, "a leader")
    (standby,) = [p for p in ready_pods(cluster) if p != lead]
    grace = cluster.json("-n", SYSTEM_NS, "get", "pod", standby)["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    cluster.kubectl("-n", SYSTEM_NS, "delete", "pod", standby, "--wait=true", timeout=grace + 60)
    took = time.monotonic() - started
    print(f"\n[kind] standby Pod gone {took:.1f}s after a normal delete (grace period {grace}s)")
    # As PID 1 an unhandled SIGTERM is ignored and the kubelet would wait out the grace period.
    assert took < grace / 2, f"the standby ignored SIGTERM ({took:.1f}s of {grace}s)"


def test_runs_as_non_root_on_a_read_only_root_filesystem_under_restricted_pod_security(
    cluster: Cluster, installed: object
) -> None:
    namespace = cluster.json("get", "namespace", SYSTEM_NS)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = ready_pods(cluster)[0]
    code, out = exec_in(cluster, pod, "id")
    assert code == 0, out
    assert out.startswith("uid=65532(ccupgrade) gid=65532(ccupgrade)"), out
    code, out = exec_in(cluster, pod, "touch", "/opt/ccupgrade/written")
    assert code != 0
    assert "Read-only file system" in out, out
    code, out = exec_in(cluster, pod, "sh", "-c", "command -v gcc cc make; ls /opt/ccupgrade/bin")
    assert "gcc" not in out, out
    assert "/cc" not in out, out
    assert "pip" not in out.split(), out
    code, out = exec_in(cluster, pod, "python3", "-c", "import ccupgrade.simulator")
    assert code != 0, "the simulator ships in the image"
    assert "No module named 'ccupgrade.simulator'" in out, out
    # The enforcement is live: the same namespace refuses a Pod that breaks the restricted level.
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhardened", "namespace": SYSTEM_NS},
        "spec": {"containers": [{"name": "c", "image": "cce-upgrade-operator:0.1.0"}]},
    }
    refused = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(bad))
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr, refused.stderr


def test_disruption_budget_and_spread_ship_with_the_manifests(cluster: Cluster, installed: object) -> None:
    wait_rollout(cluster)
    pdb = cluster.json("-n", SYSTEM_NS, "get", "pdb", DEPLOYMENT)
    assert pdb["spec"]["minAvailable"] == 1
    # With both replicas Ready (the disruption controller catches up), exactly one may be evicted.
    allowed = lambda: cluster.json("-n", SYSTEM_NS, "get", "pdb", DEPLOYMENT)["status"]  # noqa: E731
    status = wait_for(lambda: (s := allowed()).get("currentHealthy") == 2 and s, 60, "the PDB to see both replicas")
    assert status["expectedPods"] == 2
    assert status["disruptionsAllowed"] == 1
    spec = cluster.json("-n", SYSTEM_NS, "get", "deployment", DEPLOYMENT)["spec"]["template"]["spec"]
    term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_logs_hold_no_secret_and_no_traceback(cluster: Cluster, upgrade: Upgrade) -> None:
    seen(upgrade, 31)
    finish(upgrade)
    logs = cluster.kubectl("-n", SYSTEM_NS, "logs", "-l", SELECTOR, "--tail=-1", "--prefix").stdout
    assert "leading as" in logs  # the logs are really there
    assert SK not in logs
    assert "Traceback" not in logs
