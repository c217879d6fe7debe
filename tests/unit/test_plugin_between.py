"""The plugin between upgrades: `list` gains NEXT, `status` a Between upgrades section and the latest
pre-check (with deprecated-API uses), also for an object with no workflow yet."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from ccupgrade.plugin.view import UpgradeView, list_table, status_view

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _no_workflow() -> dict[str, Any]:
    return {
        "metadata": {"name": "idle", "namespace": "platform", "creationTimestamp": "2026-11-27T07:00:00Z"},
        "spec": {"clusterId": "c1"},
        "status": {
            "available": {
                "currentVersion": "v1.28.15-r20",
                "suggestedPatch": "v1.28.15-r30",
                "targetVersions": ["v1.29.13-r0"],
                "newestVersion": "v1.31",
                "stepsToNewest": 2,
                "minorVersionsBehind": 3,
                "checkedTime": (NOW - timedelta(minutes=3)).isoformat(),
            },
            "latestPreCheck": {
                "taskId": "console-1",
                "phase": "Failed",
                "targetVersion": "v1.29.13-r0",
                "findings": [
                    {
                        "name": "DeprecatedAPICheck",
                        "kind": "Risk",
                        "level": "Warning",
                        "where": "cluster",
                        "deprecatedApis": [
                            {
                                "url": "/apis/policy/v1beta1/podsecuritypolicies",
                                "userAgent": "[red]helm[/red]",
                                "calls": 3,
                            }
                        ],
                    }
                ],
                "counts": [{"kind": "Risk", "level": "Warning", "count": 1}],
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "NoWorkflow",
                    "lastTransitionTime": "2026-11-27T07:00:00Z",
                    "message": "CCE lists no upgrade workflow for cluster c1 yet",
                }
            ],
        },
    }


def _print(renderable: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(renderable)
    return buffer.getvalue()


def test_list_shows_the_newest_reachable_version_and_the_steps() -> None:
    out = _print(list_table([UpgradeView.from_api(_no_workflow(), now=NOW)], all_namespaces=False))
    assert "NEXT" in out.splitlines()[0]
    assert "v1.31 (2 steps)" in out


def test_status_of_an_object_with_no_workflow_shows_version_whats_next_and_the_console_precheck() -> None:
    out = _print(status_view(UpgradeView.from_api(_no_workflow(), now=NOW)))
    assert "Between upgrades" in out
    assert "Upgrade    none yet: CCE lists no workflow (see Between upgrades)" in out
    assert "Version          v1.28.15-r20" in out
    assert "Suggested patch  v1.28.15-r30" in out
    assert "Newest           v1.31   2 upgrades away, 3 minor versions behind" in out
    assert "Latest pre-check for v1.29.13-r0: Failed" in out
    assert "↳ /apis/policy/v1beta1/podsecuritypolicies  by [red]helm[/red]  3 calls" in out  # never markup
