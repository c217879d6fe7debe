"""End to end: the real API server, the simulator and the operator, each a separate process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed.services import Service, start_operator, start_simulator
from tests.support.kube import Kube

AK, SK = "E2EACCESSKEY00000001", "e2e-secret-key-canary-7f3a"


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_simulator(tmp_path_factory.mktemp("simulator"), extra=["--aksk", f"{AK}:{SK}"])
    yield service
    service.stop()


@dataclass
class Env:
    """One test's world: its namespace, its simulated cluster, its operator."""

    kube: Kube
    namespace: str
    control: SimulatorControl
    simulator_url: str
    workdir: Path
    project: str = field(default_factory=lambda: uuid.uuid4().hex)
    cluster: str = field(default_factory=lambda: str(uuid.uuid4()))
    operator: Service | None = None
    started: list[Service] = field(default_factory=list)
    epoch: str = ""  # the simulated cluster's scenario second 0, in wall time

    # -- processes ---------------------------------------------------------------------------------

    def start_operator(self, *extra: str, module: str = "ccupgrade") -> Service:
        self.operator = start_operator(
            self.workdir,
            self.kube.kubeconfig,
            ["--namespace", self.namespace, "--allowed-endpoints", "http://127.0.0.1:*", *extra],
            name=f"operator-{uuid.uuid4().hex[:6]}",
            log_level="DEBUG",
            module=module,
        )
        self.started.append(self.operator)
        return self.operator

    # -- objects -------------------------------------------------------------------------------------

    def create_secret(self, name: str = "cce-credentials", **data: str) -> None:
        body = {"metadata": {"name": name}, "stringData": data or {"accessKey": AK, "secretKey": SK}}
        self.kube.core.create_namespaced_secret(self.namespace, body)

    def create_upgrade(self, name: str = "prod", **spec: Any) -> None:
        body_spec = {
            "endpoint": self.simulator_url,
            "projectId": self.project,
            "clusterId": self.cluster,
            "credentialsSecretRef": {"name": "cce-credentials"},
            "pollInterval": "5s",
        }
        body_spec.update(spec)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CceClusterUpgrade",
            "metadata": {"name": name},
            "spec": body_spec,
        }
        self.kube.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def get(self, name: str = "prod") -> dict[str, Any]:
        return cast(
            dict[str, Any], self.kube.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        )

    def patch_spec(self, name: str = "prod", **spec: Any) -> None:
        self.kube.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, {"spec": spec})

    def condition(self, kind: str, name: str = "prod") -> dict[str, Any] | None:
        status = self.get(name).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == kind), None)

    def wait_status(
        self, check: Callable[[dict[str, Any]], bool], name: str = "prod", timeout: float = 30, what: str = ""
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.get(name).get("status") or {}
            except ApiException as exc:
                if exc.status != 404:
                    raise
            if check(status):
                return status
            time.sleep(0.3)
        log = self.operator.log_text()[-4000:] if self.operator else ""
        raise AssertionError(f"timed out waiting for {what or check}; status: {json.dumps(status)[:2000]}\n{log}")

    def wait_condition(
        self, kind: str, status: str, reason: str | None = None, name: str = "prod", timeout: float = 30
    ) -> dict[str, Any]:
        def matches(s: dict[str, Any]) -> bool:
            found = next((c for c in s.get("conditions", []) if c["type"] == kind), None)
            return found is not None and found["status"] == status and (reason is None or found["reason"] == reason)

        return self.wait_status(matches, name, timeout, f"{kind}={status} ({reason})")

    def settled_events(self, count: int, name: str = "prod", timeout: float = 30) -> list[dict[str, Any]]:
        """The object's Events once at least `count` are there: they follow its status (status goes
        first), so a status just seen may still have its Events on the way. Callers assert the exact set."""
        deadline = time.monotonic() + timeout
        events = self.events(name)
        while len(events) < count and time.monotonic() < deadline:
            time.sleep(0.3)
            events = self.events(name)
        return events

    def wait_events(
        self, check: Callable[[list[dict[str, Any]]], bool], name: str = "prod", timeout: float = 30, what: str = ""
    ) -> list[dict[str, Any]]:
        """The object's Events once `check` holds for them: they follow its status (status goes first,
        its Events once the status writes have settled), so a status just seen may have them on the way."""
        deadline = time.monotonic() + timeout
        events = self.events(name)
        while not check(events):
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out waiting for {what or check}; Events: {events}")
            time.sleep(0.3)
            events = self.events(name)
        return events

    def events(self, name: str = "prod") -> list[dict[str, Any]]:
        listed = self.kube.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}")
        return [
            {
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "name": e.metadata.name,
                "component": e.source.component if e.source else None,
                "kind": e.involved_object.kind,
            }
            for e in listed.items
        ]

    # -- the simulated cluster ------------------------------------------------------------------------

    def load(self, scenario: str = "standard") -> dict[str, Any]:
        return self.control.load(self.project, self.cluster, scenario, paused=True)

    def at(self, second: float) -> None:
        self.control.time(self.project, self.cluster, set=second)

    def requests(self) -> int:
        return int(self.control.requests(self.project, self.cluster, limit=1)["total"])


@pytest.fixture
def env(kube: Kube, crd: str, namespace: str, simulator: Service, tmp_path: Path) -> Iterator[Env]:
    world = Env(kube, namespace, SimulatorControl(simulator.url), simulator.url, tmp_path)
    yield world
    for service in world.started:
        if service.alive():
            service.stop()
