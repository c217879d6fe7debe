"""The simulator's task detail endpoints: pre-check, upgrade and snapshot tasks, and upgrade info.

Everything is derived from the cluster's scenario at its current time, so these answers always
agree with the workflow list: a task's ID is the workflow point's `taskID`, its phase the point's
status, its completion time the point's end. What a workflow cannot say (pre-check findings, a
progress curve) comes from `scenarios/tasks/<scenario>.yaml` or the control API
(`PUT /_sim/clusters/{project}/{cluster}/tasks`). Shapes follow the official SDKs' models.
The endpoints themselves are in cce_api.py, with the same authentication, faults and counting
as the workflow endpoints.
"""

from __future__ import annotations

import itertools
import weakref
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ccupgrade.simulator.scenario import ClusterScenario, Text, WorkflowScript
from ccupgrade.simulator.state import Simulator
from ccupgrade.simulator.version_endpoints import VersionScript


class ItemScript(BaseModel):
    """One pre-check item; `phase` Failed unless it passed; `addon` fills riskSource.addonRisks."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Text
    kind: Text | None = None
    group: Text | None = None
    level: Text | None = None
    phase: Text = "Failed"
    message: Text | None = None
    addon: Text | None = None
    error_codes: list[Text] = Field(default_factory=list, alias="errorCodes")
    deprecated_apis: list[dict[str, str]] = Field(default_factory=list, alias="deprecatedApis")

    def render(self) -> dict[str, Any]:
        item: dict[str, Any] = {"name": self.name, "phase": self.phase}
        optional = {"kind": self.kind, "group": self.group, "level": self.level, "message": self.message}
        item.update({key: value for key, value in optional.items() if value is not None})
        if self.addon:
            item["riskSource"] = {"addonRisks": [{"addonTemplateName": self.addon, "alias": self.addon}]}
        if self.deprecated_apis:  # {url, userAgent}: one entry per call seen, as CCE lists them
            item.setdefault("riskSource", {})["deprecatedAPIRisks"] = [dict(api) for api in self.deprecated_apis]
        if self.error_codes:
            item["errorCodes"] = list(self.error_codes)
        return item


class NodeScript(BaseModel):
    """One node's pre-check items; `copies` > 1 stands for that many nodes alike (a big cluster's
    pre-check), their `name` and `uid` numbered."""

    model_config = ConfigDict(extra="forbid")

    node: dict[str, Text]
    items: list[ItemScript] = Field(default_factory=list)
    copies: int = Field(default=1, ge=1, le=100_000)

    def infos(self) -> list[dict[str, str]]:
        """The nodeInfo of each node this script stands for."""
        if self.copies == 1:
            return [dict(self.node)]
        numbered = ("name", "uid")
        return [
            {key: f"{value}-{i:05d}" if key in numbered else value for key, value in self.node.items()}
            for i in range(self.copies)
        ]


class PreCheckScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Text | None = None
    cluster: list[ItemScript] = Field(default_factory=list)
    addons: list[ItemScript] = Field(default_factory=list)
    nodes: list[NodeScript] = Field(default_factory=list)


class StandalonePreCheck(BaseModel):
    """A pre-check run from the console or the API, with no workflow: Running from `at` for `runFor`
    scenario seconds, then `phase`; its result expires `expireAfter` seconds after it ended."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uid: str
    at: float = 0.0
    run_for: float = Field(default=0.0, alias="runFor")
    phase: str = "Success"
    expire_after: float = Field(default=3600.0, alias="expireAfter")
    cluster_version: str | None = Field(default=None, alias="clusterVersion")
    target_version: str | None = Field(default=None, alias="targetVersion")
    check: PreCheckScript = Field(default_factory=PreCheckScript)


class TaskDetails(BaseModel):
    """Per scripted workflow uid: its pre-check findings and task progress curves ([second, percent]);
    per cluster: its versionInfo and the pre-checks run without a workflow."""

    model_config = ConfigDict(extra="forbid")

    precheck: dict[str, PreCheckScript] = Field(default_factory=dict)
    progress: dict[str, dict[str, list[tuple[float, float]]]] = Field(default_factory=dict)
    versions: VersionScript | None = None
    prechecks: list[StandalonePreCheck] = Field(default_factory=list)


DEFAULT_VERSION = "v1.28.15-r20"  # a cluster whose scenario has no workflow runs this


def shipped_details(scenario_name: str) -> TaskDetails:
    path = resources.files("ccupgrade.simulator") / "scenarios" / "tasks" / f"{scenario_name}.yaml"
    if not path.is_file():
        return TaskDetails()
    return TaskDetails.model_validate(yaml.safe_load(path.read_text()) or {})


_OVERRIDES: weakref.WeakKeyDictionary[Simulator, dict[tuple[str, str], TaskDetails]] = weakref.WeakKeyDictionary()


def set_details(sim: Simulator, project: str, cluster: str, details: TaskDetails | dict[str, Any]) -> None:
    """Replaces the scenario's shipped details for one cluster (tests, demos)."""
    _OVERRIDES.setdefault(sim, {})[(project, cluster)] = TaskDetails.model_validate(details)


def details_for(sim: Simulator, project: str, cluster: str, scenario: ClusterScenario) -> TaskDetails:
    override = _OVERRIDES.get(sim, {}).get((project, cluster))
    return override if override is not None else shipped_details(scenario.scenario.name)


def _interpolate(points: list[tuple[float, float]], now: float) -> float:
    ordered = sorted(points)
    if not ordered or now < ordered[0][0]:
        return 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(ordered):
        if t0 <= now < t1:
            return p0 + (p1 - p0) * (now - t0) / (t1 - t0) if t1 > t0 else p1
    return ordered[-1][1]


class Renderer:
    """One cluster's task endpoints at the scenario's current time."""

    def __init__(self, scenario: ClusterScenario, details: TaskDetails) -> None:
        self.scenario = scenario
        self.details = details
        self.now = scenario.clock.now()
        self.workflows = [
            (script, scenario.render_workflow(script, self.now))
            for script in scenario.scenario.workflows
            if script.created <= self.now
        ]

    @staticmethod
    def _point(workflow: dict[str, Any], task: str) -> dict[str, Any] | None:
        return next((p for p in workflow["status"]["pointStatuses"] if p.get("taskType") == task), None)

    def _started(self, task: str) -> list[tuple[WorkflowScript, dict[str, Any], dict[str, Any]]]:
        found = []
        for script, workflow in self.workflows:
            point = self._point(workflow, task)
            if point is not None and point.get("status") not in {None, "Init", "Queuing"}:
                found.append((script, workflow, point))
        return found

    def find(self, task: str, task_id: str) -> tuple[WorkflowScript, dict[str, Any], dict[str, Any]] | None:
        """The started point of type `task` whose taskID is `task_id`, with its script and workflow."""
        return next((found for found in self._started(task) if found[2].get("taskID") == task_id), None)

    def _meta(self, workflow: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        return {
            "uid": point["taskID"],
            "creationTimestamp": point.get("startTimeStamp") or workflow["metadata"]["creationTimestamp"],
            "updateTimestamp": point.get("endTimeStamp") or point.get("startTimeStamp"),
        }

    def _step_time(self, script: WorkflowScript, task: str, statuses: set[str]) -> float | None:
        return next((s.at for s in script.steps if s.task == task and s.status in statuses and s.at <= self.now), None)

    def percent(self, script: WorkflowScript, task: str, status: str | None) -> int:
        if status == "Success":
            return 100
        curve = self.details.progress.get(script.uid, {}).get(task)
        end = self._step_time(script, task, {"Failed"})
        at = min(self.now, end) if end is not None else self.now
        if curve:
            return int(_interpolate(curve, at))
        start = self._step_time(script, task, {"Running"})
        finish = next((s.at for s in script.steps if s.task == task and s.status == "Success"), None)
        if start is None or finish is None or finish <= start:
            return 0
        return int(100 * max(0.0, min(1.0, (at - start) / (finish - start))))

    # -- pre-check ---------------------------------------------------------------------------------

    def precheck(self, script: WorkflowScript, workflow: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        phase = point.get("status")
        found = self.details.precheck.get(script.uid) if phase in {"Success", "Failed"} else None
        return self._precheck_body(
            phase,
            found or PreCheckScript(),
            point.get("expireTimeStamp"),
            self._meta(workflow, point),
            (script.cluster_version, script.target_version),
        )

    def _precheck_body(
        self,
        phase: str | None,
        found: PreCheckScript,
        expires: str | None,
        meta: dict[str, Any],
        versions: tuple[str | None, str | None],
    ) -> dict[str, Any]:
        group_phase = phase if phase in {"Running", "Success", "Failed"} else "Init"

        def group(items: list[ItemScript]) -> dict[str, Any]:
            failed = any(i.phase == "Failed" and i.kind == "Exception" for i in items)
            return {"phase": "Failed" if failed else group_phase, "itemsStatus": [i.render() for i in items]}

        status: dict[str, Any] = {
            "phase": phase,
            "clusterCheckStatus": group(found.cluster),
            "addonCheckStatus": group(found.addons),
            "nodeCheckStatus": {
                "phase": group_phase,
                "nodeStageStatus": [
                    {"nodeInfo": info, "itemsStatus": [i.render() for i in node.items]}
                    for node in found.nodes
                    for info in node.infos()
                ],
            },
        }
        if expires:
            status["expireTimeStamp"] = expires
        if found.message or phase == "Failed":
            status["message"] = found.message or "pre-check failed"
        return {
            "apiVersion": "v3",
            "kind": "PreCheckTask",
            "metadata": meta,
            "spec": {
                "clusterID": self.scenario.cluster_id,
                "clusterVersion": versions[0],
                "targetVersion": versions[1],
            },
            "status": status,
        }

    def _standalone(self) -> list[dict[str, Any]]:
        """The pre-checks run without a workflow that have started by now."""
        found = []
        current = self.current_version()
        for script in self.details.prechecks:
            if script.at > self.now:
                continue
            end = script.at + script.run_for
            ended = self.now >= end
            phase = script.phase if ended else "Running"
            meta = {
                "uid": script.uid,
                "creationTimestamp": self.scenario.stamp(script.at),
                "updateTimestamp": self.scenario.stamp(end if ended else script.at),
            }
            expires = self.scenario.stamp(end + script.expire_after) if ended and phase == "Success" else None
            versions = (script.cluster_version or current, script.target_version)
            found.append(
                self._precheck_body(phase, script.check if ended else PreCheckScript(), expires, meta, versions)
            )
        return found

    def precheck_list(self) -> dict[str, Any]:
        items = [self.precheck(s, w, p) for s, w, p in self._started("PreCheck")] + self._standalone()
        return {"apiVersion": "v3", "kind": "List", "metadata": {}, "items": items}

    def find_standalone(self, task_id: str) -> dict[str, Any] | None:
        """A pre-check run without a workflow, by ID (ShowPreCheck answers those too)."""
        return next((t for t in self._standalone() if t["metadata"]["uid"] == task_id), None)

    # -- upgrade tasks -------------------------------------------------------------------------------

    def _progress_status(self, script: WorkflowScript, point: dict[str, Any], task: str) -> dict[str, Any]:
        status = {"phase": point.get("status"), "progress": str(self.percent(script, task, point.get("status")))}
        if point.get("endTimeStamp"):
            status["completionTime"] = point["endTimeStamp"]
        return status

    def upgrade_task(self, script: WorkflowScript, workflow: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v3",
            "kind": "UpgradeTask",
            "metadata": self._meta(workflow, point),
            "spec": {
                "version": script.cluster_version,
                "targetVersion": script.target_version,
                "items": {"strategy": "inPlaceRollingUpdate", "masters": 3},
            },
            "status": self._progress_status(script, point, "Cluster"),
        }

    def upgrade_list(self) -> dict[str, Any]:
        items = [self.upgrade_task(s, w, p) for s, w, p in self._started("Cluster")]
        return {"apiVersion": "v3", "kind": "List", "metadata": {}, "items": items}

    def current_version(self) -> str:
        """The version the cluster runs: the scripted one, else where its workflows left it."""
        if self.details.versions is not None:
            return "-".join(p for p in (self.details.versions.release, self.details.versions.patch) if p)
        current = self.workflows[0][0].cluster_version if self.workflows else DEFAULT_VERSION
        for script, workflow, _ in self._started("Cluster"):
            if workflow["status"]["phase"] == "Success":
                current = script.target_version
        return current

    def upgrade_info(self) -> dict[str, Any]:
        started = self._started("Cluster")
        current = self.current_version()
        if self.details.versions is not None:
            version_info = self.details.versions.render()
        else:
            targets = sorted({s.target_version for s, _ in self.workflows if s.target_version != current})
            release, _, patch = current.partition("-")
            version_info = {"release": release, "patch": patch, "suggestPatch": patch, "targetVersions": targets}
        spec: dict[str, Any] = {
            "versionInfo": version_info,
            "upgradeFeatureGates": {"supportUpgradePageV4": True},
        }
        status: dict[str, Any] = {}
        if started:
            script, _, point = started[-1]
            status = self._progress_status(script, point, "Cluster")
            spec["lastUpgradeInfo"] = dict(status)
        return {"kind": "UpgradeInfo", "apiVersion": "v3", "metadata": {}, "spec": spec, "status": status}

    # -- snapshots -----------------------------------------------------------------------------------

    def snapshot_list(self) -> dict[str, Any]:
        items = []
        latest: str | None = None
        for script, workflow, point in self._started("Snapshot"):
            meta = self._meta(workflow, point)
            status = self._progress_status(script, point, "Snapshot")
            sub = {
                "id": f"{point['taskID']}-backup",
                "type": "master-backup",
                "status": point.get("status"),
                "creationTimestamp": meta["creationTimestamp"],
                "updateTimestamp": meta["updateTimestamp"],
                "message": "",
            }
            items.append(
                {
                    "kind": "SnapshotTask",
                    "apiVersion": "v3.1",
                    "metadata": meta,
                    "spec": {"items": [sub]},
                    "status": status,
                }
            )
            if point.get("status") == "Success":
                latest = point.get("endTimeStamp")
        body: dict[str, Any] = {"apiVersion": "v3.1", "kind": "List", "metadata": {}, "items": items, "status": {}}
        if latest:
            body["status"]["latestBackupTime"] = latest
        return body


def stamp_after(scenario: ClusterScenario, seconds: float) -> datetime:
    """Wall time of a scenario second (tests compare it with parsed timestamps)."""
    return scenario.epoch + timedelta(seconds=seconds)
