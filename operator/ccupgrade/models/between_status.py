"""Status parts for the time between upgrades: which versions the cluster can move to, and the
latest pre-check (also one run from the console, with no workflow).

Filled from ShowClusterUpgradeInfo, ListClusterUpgradePaths and ListPreCheckTasks, which are read
only while no upgrade runs; like the insight parts, each carries `error` when its call failed and
keeps its last good values.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ccupgrade.models.limits import CceName, CceText

MAX_ANNOUNCED = 32  # versions remembered as announced (UpgradeAvailable), newest offer first
MAX_TARGETS = 16  # target versions kept in status


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class AvailableUpgrades(_Model):
    """The cluster's version and what it can be upgraded to, as CCE offers it now."""

    cluster_id: CceName | None = Field(
        default=None, description="The CCE cluster these values describe (a new spec.clusterId starts afresh)."
    )
    current_version: CceName | None = Field(
        default=None, description="The version the cluster runs: release and patch (v1.28.15-r20)."
    )
    suggested_patch: CceName | None = Field(
        default=None,
        description="The patch CCE suggests for the current release, as a full version (v1.28.15-r30); "
        "absent when the cluster runs it already.",
    )
    target_versions: list[CceName] | None = Field(
        default=None, max_length=MAX_TARGETS, description="The versions CCE offers as upgrade targets now."
    )
    newest_version: CceName | None = Field(
        default=None, description="The newest version reachable along the endpoint's upgrade paths."
    )
    steps_to_newest: int | None = Field(
        default=None, ge=0, description="How many upgrades it takes to reach newestVersion (1: a direct target)."
    )
    minor_versions_behind: int | None = Field(
        default=None, ge=0, description="Minor versions between the current version and newestVersion."
    )
    checked_time: datetime | None = Field(default=None, description="When CCE's upgrade info was last read.")
    announced: list[CceName] | None = Field(
        default=None,
        max_length=MAX_ANNOUNCED,
        description="Versions already announced by an UpgradeAvailable Event (each is announced once).",
    )
    error: CceText | None = Field(
        default=None, description="Why the upgrade info or paths could not be read this time."
    )
