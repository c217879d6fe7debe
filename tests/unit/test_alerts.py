"""The alert rules against what they rely on: the metrics the operator exports, the runbooks on the
observability page, the PrometheusRule that ships them, and a promtool test for each alert.
promtool itself runs them in tests/artifacts/test_alert_rules.py."""

from __future__ import annotations

import re

import yaml
from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from tests.support.alert_rules import PROMETHEUS_RULE, RULES, RULES_TEST, alerts
from tests.support.paths import DOCS


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names == firing, names ^ firing
    assert names == quiet, names ^ quiet


def test_rules_use_only_metrics_the_operator_exports() -> None:
    exported = set(re.findall(r"^# TYPE (\S+)", generate_latest(Metrics().registry).decode(), re.MULTILINE))
    used = {name for alert in alerts() for name in re.findall(r"\bccupgrade_\w+", alert["expr"])}
    assert used, "the rules use no operator metric"
    assert used <= exported, used - exported


def test_runbooks_match_the_observability_page() -> None:
    page = (DOCS / "observability.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| \w+ \| [^|]+ \| (.+) \|$", page, re.MULTILINE))
    for alert in alerts():
        assert rows.get(alert["alert"]) == alert["annotations"]["runbook"], alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}


def test_manifests_prometheusrule_holds_the_same_rules() -> None:
    shipped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert shipped["kind"] == "PrometheusRule"
    assert shipped["spec"] == yaml.safe_load(RULES.read_text())
