"""Status parts that say why an upgrade is blocked, how far it got and when it should end.

Kept apart from resource.py so the insight computations (ccupgrade.mirror.findings/timing) own
their shapes; UpgradeStatus embeds them. Every part may carry `error`: when the one CCE call that
feeds it failed, only that part says so and keeps its last good values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ccupgrade.models.limits import COUNTS_CAP, CceName, CceText


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class DeprecatedApiUse(_Model):
    """Calls to one deprecated API by one client, as a pre-check saw them."""

    url: CceText = Field(description="The API path called, for example /apis/policy/v1beta1/podsecuritypolicies.")
    user_agent: CceText | None = Field(default=None, description="The client that called it (its User-Agent).")
    calls: int = Field(default=1, ge=1, description="How many times the pre-check listed this path and client.")


class Finding(_Model):
    """One pre-check item that matters, as CCE said it (kind and level verbatim)."""

    name: CceName = Field(description="The check's name in CCE.")
    kind: CceName | None = Field(
        default=None, description="Exception (must be fixed), Risk (may be skipped), or as CCE says."
    )
    level: CceName | None = Field(default=None, description="Info, Warning, Fatal, or as CCE says.")
    where: CceName = Field(description="What it concerns: cluster, add-on <name> or node <name>.")
    message: CceText | None = Field(default=None, description="CCE's explanation.")
    deprecated_apis: list[DeprecatedApiUse] | None = Field(
        default=None,
        description="For a deprecated-API risk: which API paths are called and by which client, most-called first, "
        "capped.",
    )
    more_deprecated_apis: int | None = Field(
        default=None, ge=0, description="Deprecated API uses not listed because of the cap."
    )


class FindingCount(_Model):
    """How many pre-check findings there are of one kind and level (all of them, not only those shown)."""

    kind: CceName = Field(description="Exception, Risk, or as CCE says (`-` when absent).")
    level: CceName = Field(description="Info, Warning, Fatal, or as CCE says (`-` when absent).")
    count: int = Field(ge=0, description="How many findings have this kind and level.")


class PreCheckView(_Model):
    """The workflow's PreCheck task in detail."""

    task_id: CceName | None = Field(default=None, description="The pre-check task's ID in CCE.")
    target_version: CceName | None = Field(
        default=None, description="The version the check was run for (shown for the latest pre-check)."
    )
    created: datetime | None = Field(default=None, description="When the check was started (latest pre-check).")
    phase: CceName | None = Field(default=None, description="Init, Running, Success, Failed, Error, or as CCE says.")
    expire_time: datetime | None = Field(default=None, description="When the check's result expires.")
    expired: bool | None = Field(default=None, description="True when the result expired before the upgrade ran.")
    message: CceText | None = Field(default=None, description="CCE's message for the whole check.")
    findings: list[Finding] | None = Field(
        default=None, description="Exceptions, Risks and Warning/Fatal items, most severe first, capped."
    )
    more_findings: int | None = Field(default=None, ge=0, description="Findings not listed because of the cap.")
    counts: Annotated[list[FindingCount], COUNTS_CAP] | None = Field(
        default=None, description="All findings by kind and level."
    )
    error: CceText | None = Field(default=None, description="Why the pre-check detail could not be read this time.")


class TaskProgress(_Model):
    """A running task's own progress, from its task endpoint."""

    task: CceName = Field(description="The task type (Cluster, Snapshot).")
    task_id: CceName | None = Field(default=None, description="The task's ID in CCE.")
    percent: float | None = Field(default=None, ge=0, le=100, description="Progress in percent, as CCE reports it.")
    since: datetime | None = Field(default=None, description="When the percentage last changed.")
    error: CceText | None = Field(default=None, description="Why the task detail could not be read this time.")


class Eta(_Model):
    """Estimated end of the running task and of the whole workflow; absent estimates mean no basis."""

    task: CceName | None = Field(default=None, description="The task the task estimate is for.")
    task_end: datetime | None = Field(default=None, description="When the running task should end.")
    workflow_end: datetime | None = Field(default=None, description="When the whole workflow should end.")
    basis: str = Field(
        default="none",
        description="history (this cluster's past workflows), peers (other objects, same versions) or none.",
    )
    samples: int = Field(default=0, ge=0, description="How many past task runs the estimate rests on.")
    text: CceName = Field(default="unknown", description="For humans and the ETA column: a UTC time or `unknown`.")


class Slowness(_Model):
    """Set while a task is slower than it should be (Ready stays False; it is not a failure)."""

    task: CceName = Field(description="The slow task's type.")
    task_id: CceName | None = Field(default=None, description="Its ID in CCE.")
    since: datetime = Field(description="When it was found slow.")
    message: CceText = Field(description="Why it is considered slow.")
