"""The alert rules, checked and unit-tested with the real promtool (Debian's prometheus package)."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from tests.support.paths import REPO
from tests.support.tools import promtool

RULES = REPO / "charts/cce-upgrade-operator/files/alerts.rules.yaml"
RULES_TEST = REPO / "tests/promtool/alerts_test.yaml"
PROMETHEUS_RULE = REPO / "manifests/monitoring/prometheusrule.yaml"


def _alerts() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES.read_text())["groups"][0]["rules"]  # type: ignore[no-any-return]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool()), *args], capture_output=True, text=True, check=False, timeout=120)


def test_promtool_checks_the_rules() -> None:
    done = _run("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _run("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names == firing, names ^ firing
    assert names == quiet, names ^ quiet


@pytest.mark.parametrize("mutation", ["never fires", "no for", "always fires"])
def test_the_unit_tests_catch_a_broken_rule(mutation: str, tmp_path: Path) -> None:
    """Each alert's tests fail when its rule is broken: they are not vacuous."""
    rules = yaml.safe_load(RULES.read_text())
    tests = yaml.safe_load(RULES_TEST.read_text())
    escaped = []
    for index, alert in enumerate(_alerts()):
        if mutation == "no for" and alert.get("for") in (None, "0s"):
            continue
        broken = copy.deepcopy(rules)
        rule = broken["groups"][0]["rules"][index]
        if mutation == "never fires":
            rule["expr"] = "vector(1) == 2"
        elif mutation == "always fires":
            rule["expr"] = f"({rule['expr']}) or vector(1)"
        else:
            rule.pop("for")
        (tmp_path / "rules.yaml").write_text(yaml.safe_dump(broken))
        own = [c for c in tests["tests"] if any(t["alertname"] == alert["alert"] for t in c["alert_rule_test"])]
        (tmp_path / "test.yaml").write_text(yaml.safe_dump({**tests, "rule_files": ["rules.yaml"], "tests": own}))
        if _run("test", "rules", str(tmp_path / "test.yaml")).returncode == 0:
            escaped.append(alert["alert"])
    assert escaped == [], f"broken ({mutation}) but the tests pass: {escaped}"


def test_rules_use_only_metrics_the_operator_exports() -> None:
    exported = set(re.findall(r"^# TYPE (\S+)", generate_latest(Metrics().registry).decode(), re.MULTILINE))
    used = {name for alert in _alerts() for name in re.findall(r"\bccupgrade_\w+", alert["expr"])}
    assert used, "the rules use no operator metric"
    assert used <= exported, used - exported


def test_runbooks_match_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| \w+ \| [^|]+ \| (.+) \|$", readme, re.MULTILINE))
    for alert in _alerts():
        assert rows.get(alert["alert"]) == alert["annotations"]["runbook"], alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}


def test_manifests_prometheusrule_holds_the_same_rules() -> None:
    shipped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert shipped["kind"] == "PrometheusRule"
    assert shipped["spec"] == yaml.safe_load(RULES.read_text())
