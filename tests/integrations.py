"""What the tools around the operator do with its output, as test oracles: Argo CD's health.lua
(run in a real Lua runtime), kstatus' rules, and kubernetes-event-exporter / Botkube matching."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lupa
import yaml

REPO = Path(__file__).resolve().parents[1]
HEALTH_DIR = REPO / "manifests/argocd/resource_customizations/ccupgrade.dev/CceClusterUpgrade"
HEALTH_LUA = HEALTH_DIR / "health.lua"
EXPORTER_CONFIG = REPO / "manifests/notifications/event-exporter-config.yaml"
BOTKUBE_SOURCE = REPO / "manifests/notifications/botkube-source.yaml"


def argocd_health(obj: dict[str, Any]) -> dict[str, str]:
    """Runs health.lua as Argo CD does: the object as global `obj`, no optional libraries."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    globals_ = runtime.globals()
    for unsafe in ("os", "io", "debug", "package", "require", "dofile", "loadfile", "load", "loadstring"):
        globals_[unsafe] = None
    globals_.obj = _to_lua(runtime, obj)
    result = runtime.execute(HEALTH_LUA.read_text())
    return {"status": str(result["status"]), "message": str(result["message"] or "")}


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def kstatus(obj: dict[str, Any]) -> str:
    """sigs.k8s.io/cli-utils kstatus for a custom resource, in the order shared/conventions.md gives."""
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is not None and observed != metadata.get("generation"):
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    if ready is None or ready["status"] == "True":
        return "Current"
    return "InProgress"


def exporter_receivers(event: dict[str, Any]) -> list[str]:
    """kubernetes-event-exporter's routing for one Event: drop rules first, then match rules (regex search)."""
    config = yaml.safe_load(EXPORTER_CONFIG.read_text())
    fields = {
        "apiVersion": event["apiVersion"], "kind": event["kind"], "namespace": event["namespace"],
        "reason": event["reason"], "type": event["type"], "message": event["message"], "component": event["component"],
    }  # fmt: skip

    def matches(rule: dict[str, Any]) -> bool:
        return all(re.search(pattern, fields.get(name) or "") for name, pattern in rule.items() if name != "receiver")

    receivers = []
    for route in config["route"]["routes"]:
        if any(matches(rule) for rule in route.get("drop", [])):
            continue
        receivers += [rule["receiver"] for rule in route.get("match", []) if matches(rule)]
    return receivers


def botkube_notifies(event: dict[str, Any]) -> bool:
    """Botkube's kubernetes source: Warning Events are `error`; reason include-regexes must match."""
    config = yaml.safe_load(BOTKUBE_SOURCE.read_text())["sources"]["cce-upgrades"]["botkube/kubernetes"]["config"]
    if event["type"] != "Warning" or "error" not in config["event"]["types"]:
        return False
    return any(re.search(pattern, event["reason"]) for pattern in config["event"]["reason"]["include"])


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
_LOCAL_URL = re.compile(r"http://127\.0\.0\.1:\d+")


def normalize(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """An object as a fixture: what varies between runs (times, IDs, namespace, port) made constant."""
    metadata = obj.get("metadata") or {}
    kept: dict[str, Any] = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": metadata["name"], "namespace": "default", "generation": metadata.get("generation", 1)},
        "spec": obj.get("spec"),
    }
    if obj.get("status"):
        kept["status"] = obj["status"]
    ids: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            if _RFC3339.match(value):
                return "2026-01-01T00:00:00Z"
            value = _UUID.sub(
                lambda m: ids.setdefault(m.group(0), f"00000000-0000-4000-8000-{len(ids) + 1:012d}"), value
            )
            value = _HEX32.sub("0123456789abcdef0123456789abcdef", value).replace(f"'{namespace}'", "'default'")
            return _LOCAL_URL.sub("http://127.0.0.1:18443", value)
        return value

    return walk(kept)  # type: ignore[no-any-return]
