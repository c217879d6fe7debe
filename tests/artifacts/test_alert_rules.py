"""The alert rules, checked and unit-tested with the real promtool (Debian's prometheus package)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.alert_rules import RULES, RULES_TEST, alerts
from tests.support.tools import promtool

pytestmark = pytest.mark.tools


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool()), *args], capture_output=True, text=True, check=False, timeout=120)


def test_promtool_checks_the_rules() -> None:
    done = _run("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _run("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("mutation", ["never fires", "no for", "always fires"])
def test_the_unit_tests_catch_a_broken_rule(mutation: str, tmp_path: Path) -> None:
    """Each alert's tests fail when its rule is broken: they are not vacuous."""
    rules = yaml.safe_load(RULES.read_text())
    tests = yaml.safe_load(RULES_TEST.read_text())
    escaped = []
    for index, alert in enumerate(alerts()):
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
