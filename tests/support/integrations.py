"""What the tools around the operator do with its output, as test oracles: Argo CD's health.lua
(run in a real Lua runtime), kstatus (the real cli-utils library, through hack/kstatus), and
kubernetes-event-exporter / Botkube matching."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Sequence
from typing import Any, NamedTuple

import lupa
import yaml

from ccupgrade.testbed.tools import ensure_kstatus
from tests.support.paths import REPO

HEALTH_DIR = REPO / "manifests/argocd/resource_customizations/ccupgrade.dev/CceClusterUpgrade"
HEALTH_LUA = HEALTH_DIR / "health.lua"
EXPORTER_CONFIG = REPO / "manifests/notifications/event-exporter-config.yaml"
BOTKUBE_SOURCE = REPO / "manifests/notifications/botkube-source.yaml"


# Each fixture in testdata/ (written from live objects by tests/e2e/test_integrations.py): what
# Argo CD (health.lua) and kstatus (Flux) must make of it.
EXPECTED: dict[str, tuple[str, str]] = {
    "no-status": ("Progressing", "Current"),  # kstatus has nothing to go on before the first reconcile
    "init": ("Progressing", "InProgress"),
    "running": ("Progressing", "InProgress"),
    "pending": ("Degraded", "Failed"),
    "success": ("Healthy", "Current"),
    "cancel": ("Degraded", "Failed"),
    "cloud-unreachable": ("Progressing", "InProgress"),
    "stale-generation": ("Progressing", "InProgress"),
    "secret-missing": ("Degraded", "Failed"),
    "suspended": ("Suspended", "Current"),  # at rest on purpose: Flux does not wait for its timeout
    "precheck-failed": ("Degraded", "Failed"),
    "slow": ("Progressing", "InProgress"),
}


class KStatus(NamedTuple):
    """One kstatus result: its status and the message Flux shows with it."""

    status: str
    message: str


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


def kstatuses(objects: Sequence[dict[str, Any]]) -> list[KStatus]:
    """What sigs.k8s.io/cli-utils' kstatus (the library Flux and kpt use) computes for each object,
    by the real library: hack/kstatus, built once at its pinned version (ccupgrade.testbed.tools)."""
    done = subprocess.run(
        [str(ensure_kstatus())],
        input=json.dumps(list(objects), default=str),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"kstatus exited {done.returncode}: {done.stderr.strip()}"
    results = json.loads(done.stdout)
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, f"kstatus refused an object: {errors}"
    return [KStatus(r["status"], r.get("message", "")) for r in results]


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus' verdict (Current, InProgress, Failed, Terminating, ...) for one object."""
    return kstatuses([obj])[0].status


# -- kubernetes-event-exporter ---------------------------------------------------------------------
# Follows resmoio/kubernetes-event-exporter v1.7: pkg/exporter/route.go (Route.ProcessEvent),
# pkg/exporter/rule.go (Rule.MatchesEvent), pkg/exporter/config.go (the maxEventAgeSeconds default)
# and pkg/kube/watcher.go (the age check, then routing, one handler at a time).
EXPORTER_VERSION = "v1.7"
_EXPORTER_FIELDS = {  # rule field -> event field (apiVersion and kind are the involved object's)
    "message": "message",
    "apiVersion": "apiVersion",
    "kind": "kind",
    "namespace": "namespace",
    "reason": "reason",
    "type": "type",
    "component": "component",
    "host": "host",
}


def exporter_config() -> dict[str, Any]:
    return yaml.safe_load(EXPORTER_CONFIG.read_text())  # type: ignore[no-any-return]


def _go_regex_search(pattern: str, value: str) -> bool:
    """Go's regexp.MatchString: unanchored search (the patterns used here mean the same in RE2 and re)."""
    return re.search(pattern, value) is not None


def _exporter_basic_match(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    wanted = [(rule[name], event.get(field) or "") for name, field in _EXPORTER_FIELDS.items() if rule.get(name)]
    return all(_go_regex_search(pattern, value) for pattern, value in wanted)


def _exporter_rule_matches(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    if not _exporter_basic_match(rule, event):
        return False
    for key in ("labels", "annotations"):
        for name, pattern in (rule.get(key) or {}).items():
            value = (event.get(key) or {}).get(name)
            if value is None or not _go_regex_search(pattern, value):
                return False
    return int(event.get("count") or 1) >= int(rule.get("minCount") or 0)


def _exporter_route(route: dict[str, Any], event: dict[str, Any], out: list[str]) -> None:
    if any(_exporter_rule_matches(rule, event) for rule in route.get("drop") or []):
        return
    matches_all = True
    for rule in route.get("match") or []:
        if _exporter_rule_matches(rule, event):
            if rule.get("receiver"):
                out.append(rule["receiver"])
        else:
            matches_all = False
    if matches_all:
        for sub in route.get("routes") or []:
            _exporter_route(sub, event, out)


def exporter_receivers(event: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
    """The receivers one Event is sent to: the top route, its drop rules, match rules and sub-routes."""
    out: list[str] = []
    _exporter_route((config or exporter_config())["route"], event, out)
    return out


def exporter_max_event_age(config: dict[str, Any]) -> float:
    """maxEventAgeSeconds, or the deprecated throttlePeriod; 5 s when neither is set."""
    return float(config.get("maxEventAgeSeconds") or config.get("throttlePeriod") or 5)


def _exporter_needs_lookup(route: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether routing reaches ev.Complete(): any drop or match rule whose plain fields match GETs the object."""
    rules = [*(route.get("drop") or []), *(route.get("match") or [])]
    return any(_exporter_basic_match(rule, event) for rule in rules) or any(
        _exporter_needs_lookup(sub, event) for sub in route.get("routes") or []
    )


def exporter_delivered(events: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The Events of a burst that reach a receiver, in time. Each event has `posted` (seconds), `uid`
    (its object) and optionally `seen` (when the watch delivers it; an exporter that starts lists
    old ones). The watcher handles one Event at a time: it drops one older than the age
    limit (lastTimestamp has whole seconds), else routes it, and routing GETs the involved object
    once (cached by uid) through client-go's token bucket of kubeQPS/kubeBurst (defaults 5/10)."""
    config = config or exporter_config()
    max_age = exporter_max_event_age(config)
    qps = float(config.get("kubeQPS") or 5)
    burst = float(config.get("kubeBurst") or 10)
    tokens, refilled, now = burst, 0.0, 0.0
    cached: set[str] = set()
    delivered = []
    for event in sorted(events, key=lambda e: e.get("seen", e["posted"])):
        now = max(now, event.get("seen", event["posted"]))
        if now - math.floor(event["posted"]) > max_age:
            continue
        if event["uid"] not in cached and _exporter_needs_lookup(config["route"], event):
            tokens = min(burst, tokens + (now - refilled) * qps)
            refilled = now
            if tokens < 1:
                now += (1 - tokens) / qps
                tokens, refilled = 1.0, now
            tokens -= 1
            cached.add(event["uid"])
        if exporter_receivers(event, config):
            delivered.append(event)
    return delivered


# -- Botkube -----------------------------------------------------------------------------------------
# Follows Botkube v1.14's kubernetes source: internal/source/kubernetes/router.go (routes per
# resource and event type: resource-level types replace the global ones; the resource-level `event`
# replaces the global one only when it sets a reason or message constraint), registration.go
# (matchEvent; Warning Events are mapped to the "error" type) and config/config.go
# (RegexConstraints.IsAllowed: exclude first, then include; exact or regex search).
BOTKUBE_VERSION = "v1.14"
_PLURALS = {("ccupgrade.dev", "CceClusterUpgrade"): "cceclusterupgrades"}


def botkube_source() -> dict[str, Any]:
    return yaml.safe_load(BOTKUBE_SOURCE.read_text())["sources"]["cce-upgrades"]["botkube/kubernetes"]  # type: ignore[no-any-return]


def _defined(constraints: dict[str, Any] | None) -> bool:
    return bool(constraints and (constraints.get("include") or constraints.get("exclude")))


def _allowed(constraints: dict[str, Any], value: str) -> bool:
    for pattern in constraints.get("exclude") or []:
        if pattern.strip() and (pattern == value or _go_regex_search(pattern, value)):
            return False
    return any(pattern == value or _go_regex_search(pattern, value) for pattern in constraints.get("include") or [])


def _botkube_types(global_types: list[str], resource_types: list[str] | None) -> list[str]:
    types = resource_types or global_types
    return [t for kind in types for t in (["create", "update", "delete", "error"] if kind == "all" else [kind])]


def _botkube_routes(config: dict[str, Any], resource: str, event_type: str) -> list[dict[str, Any]]:
    global_event = config.get("event") or {}
    routes = []
    for res in config.get("resources") or []:
        if res["type"] != resource:
            continue
        own_event = res.get("event") or {}
        for kind in _botkube_types(global_event.get("types") or [], own_event.get("types")):
            if kind != event_type:
                continue
            own_constraints = _defined(own_event.get("reason")) or _defined(own_event.get("message"))
            event = own_event if own_constraints else global_event
            routes.append(
                {
                    "namespaces": res.get("namespaces")
                    if _defined(res.get("namespaces"))
                    else config.get("namespaces"),
                    "event": event,
                    "name": res.get("name"),
                    "labels": res.get("labels") or config.get("labels"),
                    "annotations": res.get("annotations") or config.get("annotations"),
                }
            )
    return routes


def botkube_notifies(event: dict[str, Any], event_type: str = "error", source: dict[str, Any] | None = None) -> bool:
    """Whether Botkube notifies: `error` for a core Event (only type Warning maps to it), `update`
    for a change of the object itself (no reason, no message)."""
    config = (source or botkube_source())["config"]
    if event_type == "error" and event["type"] != "Warning":
        return False
    group = event["apiVersion"].split("/")[0]
    resource = f"{event['apiVersion']}/{_PLURALS.get((group, event['kind']), event['kind'].lower() + 's')}"
    reason = (event.get("reason") or "") if event_type == "error" else ""
    message = (event.get("message") or "") if event_type == "error" else ""
    for route in _botkube_routes(config, resource, event_type):
        constraints = route["event"]
        if _defined(constraints.get("reason")) and not _allowed(constraints["reason"], reason):
            return False
        if _defined(constraints.get("message")) and not _allowed(constraints["message"], message):
            return False
        if _defined(route["name"]) and not _allowed(route["name"], event.get("name") or ""):
            return False
        if _defined(route["namespaces"]) and not _allowed(route["namespaces"], event["namespace"]):
            return False
        wanted = {**(route["labels"] or {}), **(route["annotations"] or {})}
        have = {**(event.get("labels") or {}), **(event.get("annotations") or {})}
        if any(have.get(k) != v for k, v in wanted.items()):
            continue
        return True
    return False


def botkube_notifies_event_created(event: dict[str, Any], source: dict[str, Any] | None = None) -> bool:
    """Whether Botkube notifies for the creation of a core Event itself (resource `v1/events`, type
    `create`): how a Normal Event gets to Botkube at all (only Warning Events are mapped onto the
    object's `error`). event/event.go reads the reason and the namespace from the core Event."""
    config = (source or botkube_source())["config"]
    for route in _botkube_routes(config, "v1/events", "create"):
        constraints = route["event"]
        if _defined(constraints.get("reason")) and not _allowed(constraints["reason"], event.get("reason") or ""):
            continue
        if _defined(constraints.get("message")) and not _allowed(constraints["message"], event.get("message") or ""):
            continue
        if _defined(route["namespaces"]) and not _allowed(route["namespaces"], event["namespace"]):
            continue
        return True
    return False


def botkube_dead_settings(source: dict[str, Any] | None = None) -> list[str]:
    """Settings Botkube can never act on: an updateSetting whose resource never yields an update
    notification (update not among its types, or filtered out by a reason/message constraint)."""
    config = (source or botkube_source())["config"]
    dead = []
    for res in config.get("resources") or []:
        if not res.get("updateSetting"):
            continue
        parts = res["type"].split("/")
        group, version, plural = parts if len(parts) == 3 else ("", *parts)
        kind = next((k for (g, k), p in _PLURALS.items() if g == group and p == plural), plural)
        update = {
            "apiVersion": f"{group}/{version}" if group else version,
            "kind": kind,
            "namespace": "default",
            "type": "Normal",
        }
        if not botkube_notifies(update, "update", {"config": config}):
            dead.append(f"{res['type']}: updateSetting never applies (no update notification can pass)")
    return dead


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
_LOCAL_URL = re.compile(r"http://127\.0\.0\.1:\d+")
# Times inside messages and the ETA text: "2026-11-27 07:44:00 UTC", "08:32 UTC".
_TEXT_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}(:\d{2})? UTC")


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
            value = _TEXT_TIME.sub(lambda m: "2026-01-01 00:00:00 UTC" if m.group(1) else "00:00 UTC", value)
            return _LOCAL_URL.sub("http://127.0.0.1:18443", value)
        return value

    if "status" in kept:
        # The Event journal holds the last change's Events, which depends on how the polls fell in this
        # run (one change or two for the same end state); the health checks never read it.
        kept["status"] = {k: v for k, v in kept["status"].items() if k != "eventJournal"}
    return walk(kept)  # type: ignore[no-any-return]
