"""Drives the pure mirror through a simulator scenario, second by second, as the operator would."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.mirror import Mirrored, Observed, PollFailed, mirror
from ccupgrade.models.cce import UpgradeWorkflow
from ccupgrade.models.resource import Condition, UpgradeSpec, UpgradeStatus
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SPEC = UpgradeSpec.model_validate(
    {"region": "ap-southeast-1", "projectId": "p1", "clusterId": "c1", "credentialsSecretRef": {"name": "creds"}}
)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class Walk:
    """Feeds a scenario through the mirror as the operator would: status stored as JSON between polls."""

    def __init__(self, scenario: str | dict[str, Any], spec: UpgradeSpec = SPEC) -> None:
        self.cluster = ClusterScenario("p1", "c1", load_scenario(scenario), ScenarioClock(paused=True))
        self.spec = spec
        self.stored: dict[str, Any] | None = None
        self.events: list[tuple[str, str, str]] = []
        self.names: set[str] = set()
        self.writes = 0

    @property
    def status(self) -> UpgradeStatus:
        assert self.stored is not None
        return UpgradeStatus.model_validate(self.stored)

    def observe(self, second: float, generation: int = 1, now: float | None = None) -> Mirrored:
        return self.apply(Observed(self.observed(second)), second if now is None else now, generation)

    def observed(self, second: float) -> list[UpgradeWorkflow]:
        """The scenario's workflows at scenario `second`."""
        self.cluster.clock.set(second)
        return parse_workflow_list(json.dumps(self.cluster.render_list())).items

    def apply(self, outcome: Observed | PollFailed, second: float, generation: int = 1) -> Mirrored:
        old = None if self.stored is None else UpgradeStatus.model_validate(self.stored)
        result = mirror(old, outcome, self.spec, generation, T0 + timedelta(seconds=second))
        for event in result.events:
            name = event.name_for("prod", "uid-1")
            assert name not in self.names, f"duplicate event {event}"
            assert DNS_SUBDOMAIN.match(name)
            self.names.add(name)
            self.events.append((event.type, event.reason, event.message))
        if result.changed:
            self.writes += 1
            self.stored = json.loads(
                json.dumps(result.status.model_dump(mode="json", by_alias=True, exclude_none=True))
            )
        return result

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def condition(self, kind: str) -> Condition:
        return next(c for c in self.status.conditions if c.type == kind)
