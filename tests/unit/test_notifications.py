"""The shipped kubernetes-event-exporter and Botkube configs, read the way those tools read them
(tests/support/integrations.py follows the exporter's v1.7 and Botkube's v1.14 sources)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.support.integrations import (
    BOTKUBE_VERSION,
    EXPORTER_VERSION,
    botkube_dead_settings,
    botkube_notifies,
    botkube_notifies_event_created,
    botkube_source,
    exporter_config,
    exporter_delivered,
    exporter_max_event_age,
    exporter_receivers,
)

# The configs as they were before: a fixed list of reasons, the default age limit, a dead updateSetting.
OLD_EXPORTER = yaml.safe_load("""
route:
  routes:
    - drop:
        - type: "Normal"
      match:
        - apiVersion: "ccupgrade.dev/v1alpha1"
          kind: "CceClusterUpgrade"
          component: "cce-upgrade-operator"
          reason: "^(TaskFailed|UpgradeBlocked|UpgradeCancelled|CloudAPIError|SecretNotFound)$"
          receiver: "cce-upgrade-alerts"
""")
OLD_BOTKUBE = yaml.safe_load("""
config:
  namespaces: {include: [".*"]}
  event:
    types: ["error"]
    reason: {include: ["^TaskFailed$", "^UpgradeBlocked$", "^CloudAPIError$"]}
  resources:
    - type: ccupgrade.dev/v1alpha1/cceclusterupgrades
      event: {types: ["error", "update"]}
      updateSetting: {includeDiff: true, fields: ["status.phase", "status.conditions"]}
""")


def _event(reason: str, type_: str = "Warning", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ccupgrade.dev/v1alpha1",
        "kind": "CceClusterUpgrade",
        "namespace": "platform",
        "name": "prod",
        "reason": reason,
        "type": type_,
        "message": "m",
        "component": "cce-upgrade-operator",
        **extra,
    }


def test_the_versions_followed_are_named_in_the_configs() -> None:
    from tests.support.integrations import BOTKUBE_SOURCE, EXPORTER_CONFIG

    assert f"kubernetes-event-exporter {EXPORTER_VERSION}" in EXPORTER_CONFIG.read_text()
    assert f"Botkube {BOTKUBE_VERSION}" in BOTKUBE_SOURCE.read_text()


# -- 1. age limit and client rate ---------------------------------------------------------------------


def _burst(objects: int) -> list[dict[str, Any]]:
    """A CCE region fails: every object posts its CloudAPIError Warning within the same second."""
    return [_event("CloudAPIError", uid=f"uid-{i}", posted=1000.4 + i / (10 * objects)) for i in range(objects)]


@pytest.mark.parametrize("objects", [17, 1000, 5000])
def test_the_shipped_exporter_config_keeps_every_warning_of_a_burst(objects: int) -> None:
    burst = _burst(objects)
    assert len(exporter_delivered(burst)) == objects
    config = exporter_config()
    assert exporter_max_event_age(config) >= 60
    assert config["kubeQPS"] >= 50
    assert config["kubeBurst"] >= config["kubeQPS"]


def test_the_exporter_defaults_lose_warnings_of_a_burst() -> None:
    """The mechanism of the loss that was seen (4 of 17 with the real exporter): with a 5 s age limit
    and client-go's 5 QPS, the lookups of a burst about distinct objects outrun the age limit."""
    defaults = {**exporter_config(), "maxEventAgeSeconds": None, "kubeQPS": None, "kubeBurst": None}
    assert exporter_max_event_age(defaults) == 5
    delivered = exporter_delivered(_burst(100), defaults)
    assert 0 < len(delivered) < 100
    assert len(exporter_delivered(_burst(5000), exporter_config())) == 5000


def test_an_old_event_listed_at_exporter_start_is_still_skipped() -> None:
    stale = _event("TaskFailed", uid="u", posted=0.0, seen=10_000.0)
    fresh = _event("TaskFailed", uid="u", posted=10_000.0)
    assert exporter_delivered([stale, fresh]) == [fresh]


# -- 2. routed by kind and type -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason", ["TaskFailed", "CloudAPIError", "SecretNotFound", "PreCheckFailed", "SomeReasonAddedNextYear"]
)
def test_every_warning_of_the_kind_is_routed_whatever_its_reason(reason: str) -> None:
    assert exporter_receivers(_event(reason)) == ["cce-upgrade-alerts"]
    assert botkube_notifies(_event(reason))


def test_a_new_warning_reason_was_dropped_by_the_old_reason_list() -> None:
    assert exporter_receivers(_event("SomeReasonAddedNextYear"), OLD_EXPORTER) == []
    assert not botkube_notifies(_event("SomeReasonAddedNextYear"), source=OLD_BOTKUBE)
    assert exporter_receivers(_event("TaskFailed"), OLD_EXPORTER) == ["cce-upgrade-alerts"]


@pytest.mark.parametrize(
    "event",
    [
        _event("UpgradeStarted", "Normal"),
        _event("TaskSucceeded", "Normal"),
        {**_event("BackOff"), "apiVersion": "v1", "kind": "Pod"},
        {**_event("TaskFailed"), "kind": "CceClusterUpgradeTemplate"},
    ],
)
def test_normal_events_and_other_kinds_are_not_routed(event: dict[str, Any]) -> None:
    assert exporter_receivers(event) == []
    assert not botkube_notifies(event)


def test_upgrade_available_is_news_for_its_own_receiver_and_botkube() -> None:
    news = _event("UpgradeAvailable", "Normal")
    assert exporter_receivers(news) == ["cce-upgrade-news"]
    assert not botkube_notifies(news)  # not an `error`: Botkube maps only Warnings onto the object
    assert botkube_notifies_event_created(news)
    assert not botkube_notifies_event_created(_event("UpgradeStarted", "Normal"))
    assert not botkube_notifies_event_created(_event("TaskFailed"))


def test_warnings_from_another_component_about_the_kind_are_routed_too() -> None:
    assert exporter_receivers(_event("Degraded", component="argocd-application-controller")) == ["cce-upgrade-alerts"]


def test_narrowing_with_a_drop_rule_works_as_the_comment_says() -> None:
    config = copy.deepcopy(exporter_config())
    route = config["route"]["routes"][0]
    route["drop"] = [{"reason": "^CloudAPIError$"}]
    assert exporter_receivers(_event("CloudAPIError"), config) == []
    assert exporter_receivers(_event("TaskFailed"), config) == ["cce-upgrade-alerts"]


# -- 3. Botkube: no dead settings, and the RBAC it needs ----------------------------------------------


def test_the_old_update_setting_was_dead() -> None:
    assert botkube_dead_settings(OLD_BOTKUBE) == [
        "ccupgrade.dev/v1alpha1/cceclusterupgrades: updateSetting never applies (no update notification can pass)"
    ]
    # ... because the resource-level event sets only types, so the global reason list applies to updates:
    assert not botkube_notifies(_event(""), "update", OLD_BOTKUBE)
    fixed = copy.deepcopy(OLD_BOTKUBE)
    fixed["config"]["resources"][0]["event"]["reason"] = {"include": [".*"]}
    assert botkube_dead_settings(fixed) == []


def test_the_shipped_botkube_source_has_no_dead_settings() -> None:
    assert botkube_dead_settings() == []
    resource = botkube_source()["config"]["resources"][0]
    assert "updateSetting" not in resource
    assert not botkube_notifies(_event(""), "update")  # no update notifications at all (see the config's comment)


def test_the_botkube_source_uses_the_rbac_group_of_botkube_rbac_yaml() -> None:
    from tests.support.paths import REPO

    group = botkube_source()["context"]["rbac"]["group"]
    assert group["type"] == "Static"
    objects = list(yaml.safe_load_all((REPO / "manifests/notifications/botkube-rbac.yaml").read_text()))
    binding = next(o for o in objects if o["kind"] == "ClusterRoleBinding")
    assert [s["name"] for s in binding["subjects"] if s["kind"] == "Group"] == group["static"]["values"]
    role = next(o for o in objects if o["kind"] == "ClusterRole")
    granted = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    needed = {
        (g, r, v)
        for g, r in (("", "events"), ("ccupgrade.dev", "cceclusterupgrades"))
        for v in ("get", "list", "watch")
    }
    assert granted == needed
