"""mirror() between upgrades: upgrade info, paths and the pre-check list → status.available,
status.latestPreCheck and their Events; each version announced once (also after a JSON round trip,
as a restart reads it), a failing call degrades only its own part."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ccupgrade.cce.parser import parse
from ccupgrade.mirror import BetweenData, Observed, mirror
from ccupgrade.mirror.between import newest_reachable, version_key
from ccupgrade.mirror.insight import DetailFailed
from ccupgrade.models import MAX_ANNOUNCED, PreCheckTaskList, Reason, UpgradeInfo, UpgradePathList, UpgradeStatus
from ccupgrade.models.limits import CCE_TEXT_BYTES, ELLIPSIS
from ccupgrade.models.resource import UpgradeSpec

SPEC = UpgradeSpec.model_validate(
    {"region": "ap-southeast-1", "projectId": "p1", "clusterId": "c1", "credentialsSecretRef": {"name": "creds"}}
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PATHS = {
    "upgradePaths": [
        {"version": "v1.28", "targetVersions": ["v1.29", "v1.30"]},
        {"version": "v1.30", "targetVersions": ["v1.31"]},
        {"version": "v1.31", "targetVersions": []},
    ]
}


def info(release: str = "v1.28.15", patch: str = "r20", suggest: str = "r20", targets: list[str] | None = None) -> Any:
    version: dict[str, Any] = {"release": release, "patch": patch, "suggestPatch": suggest}
    version["targetVersions"] = ["v1.29.13-r0"] if targets is None else targets
    body = {"spec": {"versionInfo": version}}
    return parse(UpgradeInfo, json.dumps(body), "upgrade info")


def paths(document: dict[str, Any] | None = None) -> UpgradePathList:
    return parse(UpgradePathList, json.dumps(document or PATHS), "upgrade paths")


def prechecks(*items: dict[str, Any]) -> PreCheckTaskList:
    return parse(PreCheckTaskList, json.dumps({"items": list(items)}), "pre-check list")


def failed_check(uid: str, created: str, apis: list[dict[str, str]]) -> dict[str, Any]:
    item = {
        "name": "DeprecatedAPICheck",
        "kind": "Risk",
        "level": "Warning",
        "riskSource": {"deprecatedAPIRisks": apis},
    }
    return {
        "metadata": {"uid": uid, "creationTimestamp": created},
        "spec": {"targetVersion": "v1.29.13-r0"},
        "status": {"phase": "Failed", "clusterCheckStatus": {"itemsStatus": [item]}},
    }


def run(old: UpgradeStatus | None, data: BetweenData | None, now: datetime = NOW) -> tuple[UpgradeStatus, Any]:
    result = mirror(old, Observed([], between=data), SPEC, 1, now)
    stored = UpgradeStatus.model_validate(json.loads(json.dumps(result.status.model_dump(mode="json", by_alias=True))))
    return stored, result


def test_versions_compare_by_release_and_patch() -> None:
    assert version_key("v1.28.15-r20") == (1, 28, 15, 20)
    assert version_key("v1.29") == (1, 29, -1, -1)
    assert version_key("latest") is None


def test_newest_reachable_follows_the_paths_from_the_minor_version() -> None:
    assert newest_reachable("v1.28.15-r20", ["v1.29.13-r0"], paths()) == ("v1.31", 2)
    assert newest_reachable("v1.28.15-r20", ["v1.29.13-r0"], None) == ("v1.29.13-r0", 1)
    assert newest_reachable("v1.31.1-r0", [], paths()) is None
    looping = paths({"upgradePaths": [{"version": "v1.28", "targetVersions": ["v1.28"]}]})
    assert newest_reachable("v1.28.1-r0", [], looping) == ("v1.28", 1)


def test_no_workflow_shows_version_whats_next_and_announces_each_version_once() -> None:
    data = BetweenData(info(suggest="r30"), paths(), prechecks(), info_time=NOW)
    stored, first = run(None, data)
    # First sight stores the versions and announces them at the next poll, once the stored status
    # shows the API server keeps them.
    assert [e for e in first.events if e.reason == Reason.UPGRADE_AVAILABLE] == []
    assert stored.available is not None
    assert stored.available.announced == []
    status, result = run(stored, data, NOW + timedelta(seconds=30))
    available = status.available
    assert available is not None
    assert (available.current_version, available.suggested_patch) == ("v1.28.15-r20", "v1.28.15-r30")
    assert (available.target_versions, available.newest_version, available.steps_to_newest) == (
        ["v1.29.13-r0"],
        "v1.31",
        2,
    )
    assert available.minor_versions_behind == 3
    announced = [e for e in result.events if e.reason == Reason.UPGRADE_AVAILABLE]
    assert [e.message for e in announced] == [
        "Upgrade available for cluster c1: v1.28.15-r20 -> v1.28.15-r30 (suggested patch)",
        "Upgrade available for cluster c1: v1.28.15-r20 -> v1.29.13-r0",
    ]
    assert all(e.type == "Normal" for e in announced)
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.reason == Reason.NO_WORKFLOW
    assert "the cluster runs v1.28.15-r20; newest reachable v1.31 in 2 upgrades" in ready.message
    # The same answer again (the next poll, or a restart reading the stored status): nothing new.
    again, second = run(status, data, NOW + timedelta(minutes=10))
    # A CRD that prunes status.available: every poll looks like first sight, and announces nothing.
    pruned = status.model_copy(update={"available": None})
    assert [e for e in run(pruned, data)[1].events if e.reason == Reason.UPGRADE_AVAILABLE] == []
    assert [e for e in second.events if e.reason == Reason.UPGRADE_AVAILABLE] == []
    # A new target: announced alone.
    newer = BetweenData(info(suggest="r30", targets=["v1.29.13-r0", "v1.30.2-r0"]), paths(), prechecks(), NOW)
    _, third = run(again, newer, NOW + timedelta(minutes=20))
    assert [e.message for e in third.events if e.reason == Reason.UPGRADE_AVAILABLE] == [
        "Upgrade available for cluster c1: v1.28.15-r20 -> v1.30.2-r0"
    ]


def test_the_announced_versions_are_bounded_and_keep_what_is_offered() -> None:
    many = [f"v1.29.{n}-r0" for n in range(MAX_ANNOUNCED + 10)]
    status, _ = run(None, BetweenData(info(targets=many[:16]), None, None, NOW))
    status, _ = run(status, BetweenData(info(targets=many[:16]), None, None, NOW))
    for start in range(16, len(many), 8):
        status, _ = run(status, BetweenData(info(targets=many[start : start + 16]), None, None, NOW))
    assert status.available is not None
    assert status.available.announced is not None
    assert len(status.available.announced) <= MAX_ANNOUNCED
    assert set(status.available.target_versions or []) <= set(status.available.announced)


def test_a_failing_call_degrades_only_its_part() -> None:
    good, _ = run(None, BetweenData(info(), paths(), prechecks(failed_check("t1", "2026-03-01T10:00:00Z", [])), NOW))
    data = BetweenData(DetailFailed("503 from CCE"), paths(), DetailFailed("timed out"), NOW)
    status, result = run(good, data)
    assert status.available is not None
    assert status.latest_pre_check is not None
    assert status.available.current_version == "v1.28.15-r20"  # the last good values stay
    assert status.available.error == "upgrade info unavailable: 503 from CCE"
    assert status.latest_pre_check.task_id == "t1"
    assert status.latest_pre_check.error == "pre-check list unavailable: timed out"
    assert not [e for e in result.events if e.reason == Reason.UPGRADE_AVAILABLE]
    paths_down = BetweenData(info(), DetailFailed("throttled"), prechecks(), NOW)
    status, _ = run(good, paths_down)
    assert status.available is not None
    assert (status.available.newest_version, status.available.error) == (
        "v1.31",
        "upgrade paths unavailable: throttled",
    )


def test_the_newest_precheck_with_deprecated_apis_most_called_first_and_one_warning() -> None:
    helm = {"url": "/apis/policy/v1beta1/podsecuritypolicies", "userAgent": "helm/v3.8.0"}
    kubectl = {"url": "/apis/batch/v1beta1/cronjobs", "userAgent": "kubectl/v1.20.4"}
    older = failed_check("old", "2026-03-01T09:00:00Z", [])
    newest = failed_check(
        "new", "2026-03-01T11:00:00Z", [kubectl, helm, helm, {"url": "/x\x1b[31m", "userAgent": "a" * 999}]
    )
    status, result = run(None, BetweenData(info(), None, prechecks(newest, older), NOW))
    view = status.latest_pre_check
    assert view is not None
    assert view.findings is not None
    assert (view.task_id, view.phase, view.target_version) == ("new", "Failed", "v1.29.13-r0")
    apis = view.findings[0].deprecated_apis or []
    assert [(a.url, a.user_agent, a.calls) for a in apis[:2]] == [
        ("/apis/policy/v1beta1/podsecuritypolicies", "helm/v3.8.0", 2),
        ("/apis/batch/v1beta1/cronjobs", "kubectl/v1.20.4", 1),
    ]
    assert "\x1b" not in apis[2].url
    assert len((apis[2].user_agent or "").encode()) <= 256
    warnings = [e for e in result.events if e.reason == Reason.PRE_CHECK_FAILED]
    assert len(warnings) == 1
    assert warnings[0].type == "Warning"
    assert "/apis/policy/v1beta1/podsecuritypolicies called by helm/v3.8.0" in warnings[0].message
    _, again = run(status, BetweenData(info(), None, prechecks(newest, older), NOW))
    assert [e for e in again.events if e.reason == Reason.PRE_CHECK_FAILED] == []


def test_not_read_keeps_what_the_status_has() -> None:
    status, _ = run(None, BetweenData(info(), paths(), prechecks(), NOW))
    kept, result = run(status, None)
    assert kept.available == status.available
    assert not result.events


def test_a_hostile_error_is_kept_printable_and_within_its_byte_bound() -> None:
    """CCE's error text (escapes, 3-byte characters, any length) in `available.error` and in
    `latestPreCheck.error`: cleaned and cut to CCE_TEXT_BYTES, in the mirror's own result."""
    hostile = DetailFailed("\x1b]0;pwned\x07\x1b[2J" + "错" * 3000)
    stored, result = run(None, BetweenData(hostile, hostile, hostile, NOW))
    for status in (stored, result.status):
        assert status.available is not None
        assert status.available.error is not None
        assert status.latest_pre_check is not None
        assert status.latest_pre_check.error is not None
        for error in (status.available.error, status.latest_pre_check.error):
            assert len(error.encode()) <= CCE_TEXT_BYTES
            assert "\x1b" not in error
            assert "pwned" not in error
            assert error.endswith(ELLIPSIS)


def test_a_failed_precheck_listed_again_after_an_empty_or_failed_list_is_announced_once() -> None:
    check = failed_check("t1", "2026-03-01T10:00:00Z", [])
    for gap in (prechecks(), DetailFailed("pre-check list: 503")):
        status, result = run(None, BetweenData(info(), None, prechecks(check), NOW))
        names = [e.name_for("a", "u") for e in result.events if e.reason == Reason.PRE_CHECK_FAILED]
        for minutes, listed in ((10, gap), (20, prechecks(check)), (30, gap), (40, prechecks(check))):
            when = NOW + timedelta(minutes=minutes)
            status, result = run(status, BetweenData(info(), None, listed, when), when)
            names += [e.name_for("a", "u") for e in result.events if e.reason == Reason.PRE_CHECK_FAILED]
            assert status.latest_pre_check is not None
            assert status.latest_pre_check.task_id == "t1"
        assert len(names) == 1, gap


def test_another_cluster_starts_the_between_upgrades_status_afresh() -> None:
    check = failed_check("t1", "2026-03-01T10:00:00Z", [])
    data = BetweenData(info(targets=["v1.29.13-r0"]), paths(), prechecks(check), NOW)
    status, _ = run(None, data)
    status, _ = run(status, data, NOW + timedelta(minutes=1))
    assert status.available is not None
    assert status.available.cluster_id == "c1"
    assert status.available.announced
    other = SPEC.model_copy(update={"cluster_id": "c2"})
    for minutes, answer in ((2, BetweenData(DetailFailed("403"), paths(), DetailFailed("403"), NOW)), (3, None)):
        when = NOW + timedelta(minutes=minutes)
        result = mirror(status, Observed([], between=answer), other, 2, when)
        available = result.status.available
        assert available is None or (available.current_version, available.announced) == (None, None)
        assert result.status.latest_pre_check is None or result.status.latest_pre_check.task_id is None
    # The new cluster offers the same version: announced for it, one poll after first sight.
    moved = BetweenData(info(release="v1.28.15", targets=["v1.29.13-r0"]), paths(), prechecks(check), NOW)
    first = mirror(status, Observed([], between=moved), other, 2, NOW + timedelta(minutes=4))
    assert first.status.available is not None
    assert first.status.available.cluster_id == "c2"
    second = mirror(first.status, Observed([], between=moved), other, 2, NOW + timedelta(minutes=5))
    assert [e.message for e in second.events if e.reason == Reason.UPGRADE_AVAILABLE] == [
        "Upgrade available for cluster c2: v1.28.15-r20 -> v1.29.13-r0"
    ]
    assert [e.reason for e in first.events + second.events].count(Reason.PRE_CHECK_FAILED) == 1


def test_an_escape_sequence_in_a_version_or_task_id_leaves_no_visible_rest() -> None:
    """An OSC-8 hyperlink around a version or a task ID: removed whole, from the Event and status
    (a character-wise cleaning left ` ]8;;https://evil.example/x \\v1.30.1-r0 ]8;; \\`)."""
    link = "\x1b]8;;https://evil.example/x\x1b\\{}\x1b]8;;\x1b\\"
    check = failed_check(link.format("t9"), "2026-03-01T10:00:00Z", [])
    check["spec"]["targetVersion"] = link.format("v1.30.1-r0")
    data = BetweenData(info(targets=[link.format("v1.30.1-r0")]), paths(), prechecks(check), NOW)
    status, first = run(None, data)
    status, second = run(status, data, NOW + timedelta(minutes=1))
    assert status.available is not None
    assert status.available.target_versions == ["v1.30.1-r0"]
    assert status.latest_pre_check is not None
    assert (status.latest_pre_check.task_id, status.latest_pre_check.target_version) == ("t9", "v1.30.1-r0")
    messages = [e.message for e in first.events + second.events]
    assert "Upgrade available for cluster c1: v1.28.15-r20 -> v1.30.1-r0" in messages
    assert any(m.startswith("Pre-check t9 for an upgrade to v1.30.1-r0 failed") for m in messages)
    assert not any("evil" in m or "]8;;" in m for m in messages)
