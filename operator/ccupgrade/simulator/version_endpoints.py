"""The simulator between upgrades: the cluster's version and targets, pre-checks run from the console
(no workflow), and the endpoint's upgrade paths.

Shapes follow the official SDKs' models (ShowClusterUpgradeInfoResponse, ListPreCheckTasksResponse,
ListClusterUpgradePathsResponse). What a scenario cannot say is set per cluster in its task details
(`versions`, `prechecks`: `PUT /_sim/clusters/{project}/{cluster}/tasks`) and per simulator for
the paths (`PUT /_sim/upgradepaths`); the endpoints are in cce_api.py, authenticated and counted
like the others (the paths, which name no cluster, are counted under project `-`, cluster `-` unless
the request names its project).
"""

from __future__ import annotations

import weakref
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ccupgrade.simulator.state import Simulator

PATHS_KEY = ("-", "-")  # where the per-endpoint path requests are counted


class VersionScript(BaseModel):
    """The cluster's versionInfo, verbatim (replaces the one derived from the workflows)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    release: str
    patch: str = ""
    suggest_patch: str | None = Field(default=None, alias="suggestPatch")
    target_versions: list[str] = Field(default_factory=list, alias="targetVersions")

    def render(self) -> dict[str, Any]:
        info: dict[str, Any] = {"release": self.release, "patch": self.patch, "targetVersions": self.target_versions}
        info["suggestPatch"] = self.suggest_patch if self.suggest_patch is not None else self.patch
        return info


class UpgradePathScript(BaseModel):
    """One upgrade path: from `version` (v1.28, or v1.19.16-r20 for old ones) to each target."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: str
    platform_version: str = Field(default="cce.1.0", alias="platformVersion")
    target_versions: list[str] = Field(default_factory=list, alias="targetVersions")

    def render(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "platformVersion": self.platform_version,
            "targetVersions": self.target_versions,
        }


class UpgradePathsDocument(BaseModel):
    """The control API's body for the paths."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    upgrade_paths: list[UpgradePathScript] = Field(alias="upgradePaths")


SHIPPED_PATHS = [
    UpgradePathScript(version=f"v1.{minor}", target_versions=[f"v1.{t}" for t in targets])
    for minor, targets in ((25, (27, 28)), (27, (28, 29)), (28, (29, 30)), (29, (30, 31)), (30, (31,)), (31, ()))
]

_PATHS: weakref.WeakKeyDictionary[Simulator, list[UpgradePathScript]] = weakref.WeakKeyDictionary()


def set_paths(sim: Simulator, document: UpgradePathsDocument | dict[str, Any]) -> None:
    """Replaces the endpoint's upgrade paths (tests, demos)."""
    _PATHS[sim] = UpgradePathsDocument.model_validate(document).upgrade_paths


def upgrade_paths(sim: Simulator) -> dict[str, Any]:
    """The body of ListClusterUpgradePaths."""
    paths = _PATHS.get(sim, SHIPPED_PATHS)
    return {"apiVersion": "v3", "kind": "UpgradePath", "metadata": {}, "upgradePaths": [p.render() for p in paths]}
