"""The simulator's state: clusters with their scenarios, faults, credentials, counters and a request log.

Shared by the three APIs through the aiohttp application (`request.app[SIMULATOR_KEY]`).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ccupgrade.simulator.faults import FaultList
from ccupgrade.simulator.gatekeeper import Gatekeeper
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario


@dataclass
class ClusterCounters:
    """What one cluster was asked: requests in all, by answer status and by auth mode."""

    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_auth: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The control API's JSON shape."""
        return {"total": self.total, "byStatus": dict(self.by_status), "byAuth": dict(self.by_auth)}


class Simulator:
    """All state: clusters with their scenarios, faults, credentials, counters and a request log."""

    def __init__(self, log_size: int = 20000) -> None:
        self.clusters: dict[tuple[str, str], ClusterScenario] = {}
        self.faults: dict[tuple[str, str], FaultList] = {}
        self.global_faults = FaultList()
        self.gatekeeper = Gatekeeper()
        self.counters: dict[tuple[str, str], ClusterCounters] = {}
        self.request_log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def load(
        self, project: str, cluster: str, scenario: str | dict[str, Any], speed: float = 1.0, paused: bool = False
    ) -> ClusterScenario:
        """Starts (or restarts) a cluster on a scenario, by shipped name or as data."""
        loaded = ClusterScenario(project, cluster, load_scenario(scenario), ScenarioClock(speed, paused))
        self.clusters[(project, cluster)] = loaded
        return loaded

    def arrive(self, project: str, cluster: str, method: str, path: str) -> dict[str, Any]:
        """Counts a request when it arrives (a client that times out was still a request)."""
        self.counters.setdefault((project, cluster), ClusterCounters()).total += 1
        entry = {
            "t": time.time(),
            "method": method,
            "path": path,
            "project": project,
            "cluster": cluster,
            "status": None,
            "auth": None,
        }
        self.request_log.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: int, auth: str) -> None:
        """Records how an arrived request was answered (status 0: dropped on purpose)."""
        counters = self.counters.setdefault((entry["project"], entry["cluster"]), ClusterCounters())
        counters.by_status[str(status)] += 1
        counters.by_auth[auth] += 1
        entry["status"] = status
        entry["auth"] = auth


SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)
