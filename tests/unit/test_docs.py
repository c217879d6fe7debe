"""The documentation says what the code does: the pages generated from the code are current, and the
hand-written lists that name the code's parts (flags, variables, metrics) name all of them.
tests/artifacts/test_docs_build.py builds the site with `mkdocs build --strict`."""

from __future__ import annotations

import re

import pytest
from prometheus_client import generate_latest

from ccupgrade import cli, reference
from ccupgrade.app.metrics import Metrics
from ccupgrade.models import Reason
from tests.support.paths import DOCS, REPO

CONFIGURATION = DOCS / "configuration.md"
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]+)")


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What `ccupgrade ARGS --help` prints, in this process."""
    with pytest.raises(SystemExit):
        cli.main([*args, "--help"])
    return capsys.readouterr().out


def _documented_rows() -> dict[str, str]:
    """The configuration table: each row's flag (its first cell) -> the whole row."""
    rows = {}
    for line in CONFIGURATION.read_text().splitlines():
        first = line.split("|")[1] if line.startswith("| `--") else ""
        if match := _FLAG.search(first):
            rows[match.group(1)] = line
    return rows


def test_the_reference_page_is_what_the_models_generate() -> None:
    page = DOCS / "reference" / "resource.md"
    assert page.read_text() == reference.render(), "docs/reference/resource.md is stale: run `make reference`"


def test_the_reference_lists_every_reason_with_its_meaning() -> None:
    listed = [reason for _, members in reference.reason_groups() for reason, _ in members]
    assert sorted(listed) == sorted(Reason)
    assert all(comment for _, members in reference.reason_groups() for _, comment in members)


def test_every_flag_of_ccupgrade_run_is_on_the_configuration_page(capsys: pytest.CaptureFixture[str]) -> None:
    flags = set(_FLAG.findall(_help(capsys, "run") + _help(capsys))) - {"--help"}
    assert "--resync" in flags, "the help output did not parse"
    documented = set(_documented_rows())
    assert flags - documented == set(), "flags missing from docs/configuration.md"
    assert documented - flags == set(), "docs/configuration.md lists flags that do not exist"


def test_every_variable_the_operator_reads_is_on_the_configuration_page() -> None:
    source = (REPO / "operator" / "ccupgrade" / "cli.py").read_text()
    variables = {f"CCUPGRADE_{name}" for name in re.findall(r'_env\(\s*"(\w+)"', source)}
    variables |= set(re.findall(r'os\.environ\.get\(\s*"(\w+)"', source))
    assert {"CCUPGRADE_RESYNC", "KUBECONFIG"} <= variables, "the source did not parse"
    page = CONFIGURATION.read_text()
    assert {v for v in variables if f"`{v}`" not in page} == set()


def test_every_setting_in_the_manifests_configmap_is_documented() -> None:
    config = (REPO / "manifests" / "config.yaml").read_text()
    page = CONFIGURATION.read_text()
    assert {v for v in re.findall(r"^\s+(CCUPGRADE_\w+):", config, re.MULTILINE) if f"`{v}`" not in page} == set()


def test_every_metric_is_on_the_observability_page() -> None:
    exported = set(re.findall(r"^# TYPE (\S+)", generate_latest(Metrics().registry).decode(), re.MULTILINE))
    assert exported, "no metric exported"
    rows = set(re.findall(r"^\| `(ccupgrade_\w+)` \|", (DOCS / "observability.md").read_text(), re.MULTILINE))
    assert exported - rows == set(), "metrics missing from the table in docs/observability.md"
    assert rows - exported == set(), "docs/observability.md lists metrics that do not exist"


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md"])
def test_relative_links_outside_the_site_resolve(document: str) -> None:
    """mkdocs checks the site's links; the README and CONTRIBUTING are read on their own."""
    text = (REPO / document).read_text()
    targets = re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", text)
    assert targets, f"{document} links nowhere"
    assert [t for t in targets if not (REPO / t).exists()] == []
