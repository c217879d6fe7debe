"""Bad input and what users read, end to end (operator process, real API server, simulator, real
kubectl): a port out of range, a malformed history item, first sight of a failed upgrade, and the
order Events list in with every standard kubectl listing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from tests.e2e.conftest import Env
from tests.support.paths import CRD_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

CRD_NAME = f"{PLURAL}.{GROUP}"
ENDPOINT_PATTERN_PATH = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/endpoint/pattern"


def _body(env: Env, name: str, endpoint: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CceClusterUpgrade",
        "metadata": {"name": name},
        "spec": {
            "endpoint": endpoint,
            "projectId": env.project,
            "clusterId": env.cluster,
            "credentialsSecretRef": {"name": "cce-credentials"},
            "pollInterval": "5s",
        },
    }


def _create(env: Env, body: dict[str, Any], dry_run: bool = False) -> None:
    env.kube.custom.create_namespaced_custom_object(
        GROUP, VERSION, env.namespace, PLURAL, body, dry_run="All" if dry_run else None
    )


def _rejected(env: Env, body: dict[str, Any]) -> str | None:
    """The server's message when it rejects `body` (a dry run), None when it accepts it."""
    try:
        _create(env, body, dry_run=True)
    except ApiException as exc:
        if exc.status == 422:
            return str(exc.body)
        raise
    return None


def _until(predicate: Any, what: str, timeout: float = 60) -> None:
    """A bring-up step: waits for the API server to apply a CRD change."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_port_out_of_range_is_refused_by_the_server_and_invalid_spec_if_stored(env: Env) -> None:
    env.load()
    env.create_secret()
    bad = _body(env, "prod", "http://127.0.0.1:99999")
    message = _rejected(env, bad)
    assert message is not None, "the CRD's schema rejects port 99999"
    assert "spec.endpoint" in message
    assert _rejected(env, _body(env, "prod", "http://127.0.0.1:65535")) is None

    # An object stored under an older, looser CRD still exists after an upgrade of the CRD: the
    # operator must say InvalidSpec, not retry a ValueError forever.
    loosen = [{"op": "replace", "path": ENDPOINT_PATTERN_PATH, "value": "^https?://.+$"}]
    env.kube.kubectl("patch", "crd", CRD_NAME, "--type=json", "-p", json.dumps(loosen))
    try:
        _until(lambda: _rejected(env, bad) is None, "the loosened schema")
        _create(env, bad)
    finally:
        env.kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_PATH))
        _until(lambda: _rejected(env, _body(env, "other", "http://127.0.0.1:99999")) is not None, "the real schema")

    operator = env.start_operator()
    status = env.wait_condition("Stalled", "True", "InvalidSpec")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.endpoint" in ready["message"]
    assert status["observedGeneration"] == 1
    events = env.wait_events(lambda ev: any(e["type"] == "Warning" for e in ev), what="a Warning")
    assert [e["reason"] for e in events if e["type"] == "Warning"] == ["InvalidSpec"]
    assert "Traceback" not in operator.log_text()
    assert "ValueError" not in operator.log_text()


def test_one_malformed_history_item_still_mirrors_the_newest_workflow(env: Env) -> None:
    loaded = env.load("history")
    env.at(31)
    env.control.faults(env.project, env.cluster, {"kind": "malformedItem"})  # every poll, until cleared
    env.create_secret()
    operator = env.start_operator()
    env.create_upgrade()
    status = env.wait_condition("Reconciling", "True", "UpgradeInProgress")
    assert status["workflow"]["uid"] == loaded["workflowUids"]["upgrade-now"]
    assert status["currentTask"] == "Cluster (Running)"
    assert [h["uid"] for h in status["history"]] == [
        loaded["workflowUids"]["upgrade-abandoned"],
        loaded["workflowUids"]["upgrade-2024"],
    ]
    assert [h["phase"] for h in status["history"]] == ["Cancel", "Success"]
    # More polls of the same damage: still mirrored, never CloudAPIUnavailable, logged once.
    before = env.requests()
    env.at(46)
    env.wait_status(lambda s: s.get("currentTask") == "PostCheck (Queuing)", what="the next change")
    _until(lambda: env.requests() >= before + 2, "two more polls")
    assert not [e for e in env.events() if e["reason"] == "CloudAPIError"]
    log = operator.log_text()
    dropped = [line for line in log.splitlines() if " WARNING " in line and "point_statuses[0] left out" in line]
    assert len(dropped) == 2, dropped  # one line per damaged history item, not one per poll
    assert "Traceback" not in log


def test_first_sight_of_a_failed_upgrade_posts_warnings(env: Env) -> None:
    env.load("failing")
    env.at(41)  # the Cluster task failed before the object (or the operator) existed
    env.create_secret()
    env.start_operator()
    env.create_upgrade()
    env.wait_condition("Stalled", "True", "UpgradeTaskFailed")

    def reasons() -> list[tuple[str, str]]:
        return sorted((e["type"], e["reason"]) for e in env.events())

    _until(lambda: len(reasons()) >= 3, "the first-sight Events")
    assert reasons() == [("Normal", "WorkflowDetected"), ("Warning", "TaskFailed"), ("Warning", "UpgradeBlocked")]
    failed = next(e for e in env.events() if e["reason"] == "TaskFailed")
    assert "Task Cluster failed" in failed["message"]


# Seen at scenario seconds 0, 31 and 60: the last two polls each see several transitions at once.
CAUSAL = [
    ("WorkflowDetected", None),
    ("UpgradeStarted", None),
    ("TaskSucceeded", "PreCheck"),
    ("TaskSucceeded", "Snapshot"),
    ("TaskStarted", "Cluster"),
    ("TaskSucceeded", "Cluster"),
    ("TaskSucceeded", "PostCheck"),
    ("UpgradeSucceeded", None),
]


def _listed(lines: list[str], reason_column: int) -> list[tuple[str, str | None]]:
    listed: list[tuple[str, str | None]] = []
    for line in lines:
        words = line.split()
        if len(words) <= reason_column:
            continue
        reason = words[reason_column]
        rest = words[reason_column + 1 :]
        task = rest[rest.index("Task") + 1] if reason.startswith("Task") and "Task" in rest else None
        listed.append((reason, task))
    return listed


def test_events_of_one_poll_list_in_causal_order_in_every_kubectl_listing(env: Env) -> None:
    loaded = env.load("standard")
    env.epoch = loaded["epoch"]
    env.create_secret()
    env.start_operator()
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.at(31)
    env.wait_condition("Reconciling", "True", "UpgradeInProgress")
    env.at(60)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    _until(lambda: len(env.events()) >= len(CAUSAL), "every Event")
    ns = ("-n", env.namespace)
    selector = ("--field-selector", "involvedObject.name=prod")

    # LAST SEEN, TYPE, REASON, OBJECT, MESSAGE
    sorted_by_time = env.kube.kubectl("get", "events", *ns, *selector, "--sort-by=.lastTimestamp").stdout
    assert _listed(sorted_by_time.splitlines()[1:], 2) == CAUSAL, sorted_by_time
    plain = env.kube.kubectl("get", "events", *ns, *selector).stdout
    assert _listed(plain.splitlines()[1:], 2) == CAUSAL, plain
    # kubectl events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE
    events = env.kube.kubectl("events", *ns, "--for", "cceclusterupgrade/prod").stdout
    assert _listed(events.splitlines()[1:], 2) == CAUSAL, events
    # kubectl describe: "Type Reason Age From Message" under "Events:"
    described = env.kube.kubectl("describe", "cceclusterupgrade", "prod", *ns).stdout
    section = described.split("Events:", 1)[1].splitlines()
    rows = [line for line in section if line.strip() and not line.strip().startswith(("Type", "----"))]
    assert _listed(rows, 1) == CAUSAL, described

    # Every Event carries the microsecond eventTime and the reporting fields the API requires with it.
    listed = env.kube.core.list_namespaced_event(env.namespace, field_selector="involvedObject.name=prod").items
    for event in listed:
        assert event.event_time is not None
        assert event.reporting_component == "ccupgrade.dev/operator"
        assert event.reporting_instance
        assert event.action == "Mirror"
    ordered = sorted(listed, key=lambda e: str(e.event_time))
    assert [e.reason for e in ordered] == [reason for reason, _ in CAUSAL]


def test_a_restart_lists_its_events_once_and_posts_only_the_journal_entries_missing(env: Env) -> None:
    """The journal keeps the last change's Events after they are posted; a restarted operator
    lists its Events (by `source`) and posts only the entries not there: here the one deleted."""
    env.load()
    env.create_secret()
    env.start_operator()
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.at(31)
    env.wait_condition("Reconciling", "True", "UpgradeInProgress")
    journal = [e["name"] for e in env.get()["status"]["eventJournal"]]
    assert len(journal) >= 3
    _until(lambda: set(journal) <= {e["name"] for e in env.events()}, "the journal's Events")
    assert env.operator is not None
    env.operator.kill()
    env.kube.core.delete_namespaced_event(journal[1], env.namespace)  # as if a crash had cut it off

    left = len(env.events())
    restarted = env.start_operator()
    expected = f"{env.namespace}: {left} Events of ours listed; 1 journal entries of 1 objects to post"
    _until(lambda: expected in restarted.log_text(), f"{expected!r} in the log: {restarted.log_text()[-3000:]}")
    _until(lambda: journal[1] in {e["name"] for e in env.events()}, "the deleted Event posted again")
    assert sorted(e["name"] for e in env.events()) == sorted({e["name"] for e in env.events()})
