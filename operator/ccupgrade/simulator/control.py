"""A small synchronous client for the simulator's control API (tests, demo, benchmark)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from ccupgrade.simulator.control_api import CONTROL


class SimulatorControl:
    """Drives a running simulator from outside: scenarios, time, faults, credentials, counters."""

    def __init__(self, base_url: str, timeout: float = 10.0, ca_file: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{CONTROL}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"simulator control {method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def healthy(self) -> bool:
        """Whether the simulator answers its health check (False while it is not up)."""
        try:
            return bool(self._call("GET", "/healthz").get("ok"))
        except (OSError, RuntimeError):
            return False

    def load(
        self,
        project: str,
        cluster: str,
        scenario: str | dict[str, Any] = "standard",
        *,
        speed: float = 1.0,
        paused: bool = False,
    ) -> dict[str, Any]:
        """Loads a scenario for a cluster (replacing its current one); the answer names its workflow UIDs."""
        return self._call(
            "PUT", f"/clusters/{project}/{cluster}", {"scenario": scenario, "speed": speed, "paused": paused}
        )

    def remove(self, project: str, cluster: str) -> None:
        """Removes a cluster: CCE answers 404 for it from now on."""
        self._call("DELETE", f"/clusters/{project}/{cluster}")

    def time(self, project: str, cluster: str, **action: Any) -> dict[str, Any]:
        """advance=s, set=s, pause=True, resume=True, speed=x."""
        return self._call("POST", f"/clusters/{project}/{cluster}/time", action)

    def time_all(self, **action: Any) -> dict[str, Any]:
        """The same clock action as `time`, on every cluster."""
        return self._call("POST", "/time", action)

    def faults(self, project: str, cluster: str, *faults: dict[str, Any]) -> None:
        """Replaces one cluster's faults with these (see faults.Fault for their fields)."""
        self._call("PUT", f"/clusters/{project}/{cluster}/faults", {"faults": list(faults)})

    def clear_faults(self, project: str, cluster: str) -> None:
        """Removes one cluster's faults."""
        self._call("DELETE", f"/clusters/{project}/{cluster}/faults")

    def global_faults(self, *faults: dict[str, Any]) -> None:
        """Replaces the faults of every cluster's requests (a cluster's own active fault comes first)."""
        self._call("PUT", "/faults", {"faults": list(faults)})

    def credentials(self, **document: Any) -> dict[str, Any]:
        """accessKeys=[{accessKey, secretKey, securityToken?}], users=[{username, password, domainName}], tokens=[…]."""
        return self._call("PUT", "/credentials", document)

    def expire_tokens(self) -> int:
        """Expires every token IAM issued, as a password change does; answers how many."""
        return int(self._call("POST", "/tokens/expire")["expired"])

    def stats(self) -> dict[str, Any]:
        """The request counters: total, by HTTP status and by auth mode."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        """Sets the request counters back to zero."""
        self._call("DELETE", "/stats")

    def requests(self, project: str, cluster: str, limit: int = 200) -> dict[str, Any]:
        """The cluster's latest requests as the simulator logged them (at most `limit`)."""
        return self._call("GET", f"/clusters/{project}/{cluster}/requests?limit={limit}")

    def task_details(self, project: str, cluster: str, details: dict[str, Any]) -> None:
        """Replaces one cluster's task details: pre-check findings, progress, versionInfo, console pre-checks."""
        self._call("PUT", f"/clusters/{project}/{cluster}/tasks", details)

    def upgrade_paths(self, paths: list[dict[str, Any]]) -> None:
        """Replaces the endpoint's upgrade paths ([{version, platformVersion, targetVersions}])."""
        self._call("PUT", "/upgradepaths", {"upgradePaths": paths})
