"""Scenarios as data: a cluster's workflows and the moments their phase and tasks change.

A scenario's time is seconds since it was loaded, scaled by `speed`, and can be paused, set or
advanced through the control API, so tests step through an upgrade deterministically while the
demo lets it run. The state at time t is every step with `at <= t` applied in order.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_UID_NAMESPACE = uuid.UUID("4d7a8f0e-51a5-4c8e-9a55-3e0c1c2d0f11")
MAX_REPEATED_CHARS = 1 << 20  # a `{repeat, times}` text of a scenario file, at most


def _repeated(part: Any) -> Any:
    if isinstance(part, dict) and set(part) == {"repeat", "times"}:
        text, times = part["repeat"], part["times"]
        if not isinstance(text, str) or not isinstance(times, int) or times < 1:
            raise ValueError("repeat must be a string and times a positive integer")
        if len(text) * times > MAX_REPEATED_CHARS:
            raise ValueError(f"a repeated text may take at most {MAX_REPEATED_CHARS} characters")
        return text * times
    return part


def _expand(value: Any) -> Any:
    """`{repeat: s, times: n}` as `s` n times, and a list of strings and such parts joined: a
    scenario file's way to write a 10,000-character string (a hostile CCE's) without carrying it;
    anything else is left to the field's own checks."""
    if isinstance(value, list):
        parts = [_repeated(part) for part in value]
        if not all(isinstance(part, str) for part in parts):
            raise ValueError("a text in parts is a list of strings and {repeat, times}")
        joined = "".join(parts)
        if len(joined) > MAX_REPEATED_CHARS:
            raise ValueError(f"a text in parts may take at most {MAX_REPEATED_CHARS} characters")
        return joined
    return _repeated(value)


Text = Annotated[str, BeforeValidator(_expand)]
"""A scenario string: written as is, as `{repeat: s, times: n}`, or as a list of both, joined."""


class Step(BaseModel):
    """One scripted change at scenario second `at`: the workflow phase, and/or one task's status."""

    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="Scenario seconds at which this step applies.")
    phase: Text | None = None
    task: Text | None = None
    status: Text | None = None


class WorkflowScript(BaseModel):
    """One upgrade workflow of a scenario: its versions, tasks, critical-path lines and timed steps."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uid: Text
    cluster_version: Text = Field(alias="clusterVersion")
    target_version: Text = Field(alias="targetVersion")
    created: float = 0.0
    tasks: list[Text]
    lines: list[tuple[str, str, Any]] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)


class Scenario(BaseModel):
    """A scenario file (scenarios/*.yaml): the workflows a cluster shows, and the timestamp format CCE uses."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    description: str = ""
    time_format: Literal["go", "rfc3339"] = Field(default="go", alias="timeFormat")
    workflows: list[WorkflowScript]


def shipped_scenarios() -> list[str]:
    """The names of the scenarios packaged with the simulator (what `load_scenario` accepts)."""
    folder = resources.files("ccupgrade.simulator") / "scenarios"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_data: str | dict[str, Any]) -> Scenario:
    """A shipped scenario by name, or one given as data (from the control API); ValueError if unknown."""
    if isinstance(name_or_data, dict):
        return Scenario.model_validate(name_or_data)
    if name_or_data not in shipped_scenarios():
        raise ValueError(f"unknown scenario {name_or_data!r}; shipped: {', '.join(shipped_scenarios())}")
    text = (resources.files("ccupgrade.simulator") / "scenarios" / f"{name_or_data}.yaml").read_text()
    return Scenario.model_validate(yaml.safe_load(text))


class ScenarioClock:
    """Scenario seconds: wall time since load times speed, unless paused; can be set or advanced."""

    def __init__(self, speed: float = 1.0, paused: bool = False, start: float = 0.0) -> None:
        self.speed = speed
        self._base = start
        self._since = time.monotonic()
        self.paused = paused

    def now(self) -> float:
        """The current scenario second."""
        if self.paused:
            return self._base
        return self._base + (time.monotonic() - self._since) * self.speed

    def _rebase(self) -> None:
        self._base = self.now()
        self._since = time.monotonic()

    def set(self, seconds: float) -> None:
        """Jumps to scenario second `seconds`; a paused clock stays paused there."""
        self._base = seconds
        self._since = time.monotonic()

    def advance(self, seconds: float) -> None:
        """Moves the scenario `seconds` forward (or back, if negative)."""
        self.set(self.now() + seconds)

    def pause(self) -> None:
        """Stops scenario time where it is now."""
        self._rebase()
        self.paused = True

    def resume(self) -> None:
        """Lets scenario time run again from where it was paused."""
        self._since = time.monotonic()
        self.paused = False

    def set_speed(self, speed: float) -> None:
        """Changes how many scenario seconds pass per wall second, from now on."""
        self._rebase()
        self.speed = speed


def _go_time(moment: datetime) -> str:
    """Go's time.Time.String() for a UTC time, as CCE sends it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClusterScenario:
    """One cluster running one scenario: renders the API's JSON for any scenario time."""

    def __init__(self, project_id: str, cluster_id: str, scenario: Scenario, clock: ScenarioClock) -> None:
        self.project_id = project_id
        self.cluster_id = cluster_id
        self.scenario = scenario
        self.clock = clock
        self.epoch = datetime.now(UTC).replace(microsecond=0)  # scenario second 0, in wall time
        self._uids = {w.uid: self._derive(w.uid) for w in scenario.workflows}

    def _derive(self, name: str) -> str:
        return str(uuid.uuid5(_UID_NAMESPACE, f"{self.project_id}/{self.cluster_id}/{name}"))

    def uid_of(self, scripted_uid: str) -> str:
        """The workflow UID CCE shows for a scripted uid (stable per project, cluster and script)."""
        return self._uids[scripted_uid]

    def stamp(self, seconds: float) -> str:
        """A scenario second as CCE writes timestamps (Go's format or RFC 3339, per scenario)."""
        return self._stamp(seconds)

    def _stamp(self, seconds: float) -> str:
        moment = self.epoch + timedelta(seconds=seconds)
        return _go_time(moment) if self.scenario.time_format == "go" else _rfc3339(moment)

    def render_workflow(self, script: WorkflowScript, now: float) -> dict[str, Any]:
        """The workflow as CCE answers it at scenario second `now`: every step up to `now` applied."""
        phase = "Init"
        updated = script.created
        tasks: dict[str, dict[str, Any]] = {
            name: {"taskType": name, "taskID": self._derive(f"{script.uid}/{name}"), "status": "Init"}
            for name in script.tasks
        }
        for step in script.steps:
            if step.at > now:
                break
            updated = max(updated, step.at)
            if step.phase is not None:
                phase = step.phase
            if step.task is not None and step.status is not None:
                task = tasks.setdefault(
                    step.task, {"taskType": step.task, "taskID": self._derive(f"{script.uid}/{step.task}")}
                )
                task["status"] = step.status
                if step.status == "Running":
                    task["startTimeStamp"] = self._stamp(step.at)
                elif step.status in {"Success", "Failed"}:
                    task.setdefault("startTimeStamp", self._stamp(step.at))
                    task["endTimeStamp"] = self._stamp(step.at)
                    if step.task == "PreCheck" and step.status == "Success":
                        task["expireTimeStamp"] = self._stamp(step.at + 3600)
        return {
            "kind": "WorkFlowTask",
            "apiVersion": "v3",
            "metadata": {
                "uid": self.uid_of(script.uid),
                "name": script.uid,
                "creationTimestamp": self._stamp(script.created),
                "updateTimestamp": self._stamp(updated),
            },
            "spec": {
                "clusterID": self.cluster_id,
                "clusterVersion": script.cluster_version,
                "targetVersion": script.target_version,
            },
            "status": {
                "phase": phase,
                "pointStatuses": list(tasks.values()),
                "lineStatuses": [
                    {"startPoint": {"taskType": a}, "endPoint": {"taskType": b}, "critical": critical}
                    for a, b, critical in script.lines
                ],
            },
        }

    def render_items(self) -> list[dict[str, Any]]:
        """Every workflow created by now, as CCE lists them."""
        now = self.clock.now()
        return [self.render_workflow(w, now) for w in self.scenario.workflows if w.created <= now]

    def render_list(self) -> dict[str, Any]:
        """The body of CCE's list-workflows answer, now."""
        return {"kind": "List", "apiVersion": "v3", "items": self.render_items()}

    def render_one(self, uid: str) -> dict[str, Any] | None:
        """One workflow by its UID, as CCE shows it now; None if it does not exist (yet)."""
        return next((item for item in self.render_items() if item["metadata"]["uid"] == uid), None)
