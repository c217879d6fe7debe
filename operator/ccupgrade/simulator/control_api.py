"""The simulator's control API under `/_sim/`: load clusters, move scenario time, set faults,
credentials and task details, read counters. No authentication: the simulator listens on loopback.
A caller's mistake is a 400 with a reason, never a 500."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ccupgrade.simulator.answers import json_response
from ccupgrade.simulator.faults import Fault, FaultList, FaultsDocument
from ccupgrade.simulator.gatekeeper import CredentialsDocument
from ccupgrade.simulator.scenario import ScenarioClock
from ccupgrade.simulator.state import SIMULATOR_KEY, ClusterCounters
from ccupgrade.simulator.task_endpoints import set_details
from ccupgrade.simulator.version_endpoints import set_paths

CONTROL = "/_sim"

routes = web.RouteTableDef()


def _cluster_key(request: web.Request) -> tuple[str, str]:
    return request.match_info["project"], request.match_info["cluster"]


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object, or a 400 answer (never a 500 for the caller's mistake)."""
    try:
        document = await request.json()
    except ValueError as exc:
        return json_response({"error": f"the body is not JSON: {exc}"}, 400)
    if not isinstance(document, dict):
        return json_response({"error": f"the body must be a JSON object, not {type(document).__name__}"}, 400)
    return document


def _clock_action(clock: ScenarioClock, document: dict[str, Any]) -> None:
    if "speed" in document:
        clock.set_speed(float(document["speed"]))
    if document.get("pause"):
        clock.pause()
    if "set" in document:
        clock.set(float(document["set"]))
    if "advance" in document:
        clock.advance(float(document["advance"]))
    if document.get("resume"):
        clock.resume()


async def _read_faults(request: web.Request) -> list[Fault] | web.Response:
    try:  # not JSON, a bare list, an unknown field or a bad fault: all the caller's mistake (400)
        return FaultsDocument.model_validate_json(await request.read()).faults
    except ValidationError as exc:
        return json_response({"error": f"invalid faults document: {exc}"}, 400)


@routes.get(CONTROL + "/healthz")
async def healthz(_: web.Request) -> web.StreamResponse:
    """Liveness, for whoever started the simulator."""
    return json_response({"ok": True})


@routes.put(CONTROL + "/clusters/{project}/{cluster}")
async def put_cluster(request: web.Request) -> web.StreamResponse:
    """Loads a scenario for a cluster: {"scenario", "speed", "paused"}; answers its workflow uids."""
    sim = request.app[SIMULATOR_KEY]
    document = await _json_object(request)
    if isinstance(document, web.Response):
        return document
    try:
        loaded = sim.load(
            *_cluster_key(request),
            document.get("scenario", "standard"),
            float(document.get("speed", 1.0)),
            bool(document.get("paused", False)),
        )
    except (ValueError, TypeError, ValidationError) as exc:
        return json_response({"error": str(exc)}, 400)
    uids = {w.uid: loaded.uid_of(w.uid) for w in loaded.scenario.workflows}
    return json_response({"scenario": loaded.scenario.name, "workflowUids": uids, "epoch": loaded.epoch.isoformat()})


@routes.delete(CONTROL + "/clusters/{project}/{cluster}")
async def delete_cluster(request: web.Request) -> web.StreamResponse:
    """Removes a cluster: CCE answers 404 for it from now on."""
    request.app[SIMULATOR_KEY].clusters.pop(_cluster_key(request), None)
    return json_response({"deleted": True})


@routes.post(CONTROL + "/clusters/{project}/{cluster}/time")
async def cluster_time(request: web.Request) -> web.StreamResponse:
    """Moves one cluster's scenario clock: speed, pause, set, advance, resume."""
    scenario = request.app[SIMULATOR_KEY].clusters.get(_cluster_key(request))
    if scenario is None:
        return json_response({"error": "no such cluster"}, 404)
    document = await _json_object(request)
    if isinstance(document, web.Response):
        return document
    try:
        _clock_action(scenario.clock, document)
    except (ValueError, TypeError) as exc:
        return json_response({"error": f"invalid time action: {exc}"}, 400)
    return json_response({"now": scenario.clock.now(), "paused": scenario.clock.paused})


@routes.post(CONTROL + "/time")
async def all_time(request: web.Request) -> web.StreamResponse:
    """The same clock action on every cluster."""
    sim = request.app[SIMULATOR_KEY]
    document = await _json_object(request)
    if isinstance(document, web.Response):
        return document
    try:
        for scenario in sim.clusters.values():
            _clock_action(scenario.clock, document)
    except (ValueError, TypeError) as exc:
        return json_response({"error": f"invalid time action: {exc}"}, 400)
    return json_response({"clusters": len(sim.clusters)})


@routes.put(CONTROL + "/clusters/{project}/{cluster}/faults")
async def put_faults(request: web.Request) -> web.StreamResponse:
    """Replaces one cluster's pending faults."""
    faults = await _read_faults(request)
    if isinstance(faults, web.Response):
        return faults
    request.app[SIMULATOR_KEY].faults.setdefault(_cluster_key(request), FaultList()).replace(faults)
    return json_response({"faults": len(faults)})


@routes.delete(CONTROL + "/clusters/{project}/{cluster}/faults")
async def clear_faults(request: web.Request) -> web.StreamResponse:
    """Drops one cluster's pending faults."""
    request.app[SIMULATOR_KEY].faults.pop(_cluster_key(request), None)
    return json_response({"faults": 0})


@routes.put(CONTROL + "/faults")
async def put_global_faults(request: web.Request) -> web.StreamResponse:
    """Replaces the faults that apply to any cluster (after a cluster's own)."""
    faults = await _read_faults(request)
    if isinstance(faults, web.Response):
        return faults
    request.app[SIMULATOR_KEY].global_faults.replace(faults)
    return json_response({"faults": len(faults)})


@routes.delete(CONTROL + "/faults")
async def clear_global_faults(request: web.Request) -> web.StreamResponse:
    """Drops the faults that apply to any cluster."""
    request.app[SIMULATOR_KEY].global_faults.clear()
    return json_response({"faults": 0})


@routes.put(CONTROL + "/credentials")
async def put_credentials(request: web.Request) -> web.StreamResponse:
    """Replaces the accepted access keys, IAM users and static tokens."""
    gatekeeper = request.app[SIMULATOR_KEY].gatekeeper
    try:
        gatekeeper.configure(CredentialsDocument.model_validate(await request.json()))
    except (ValueError, ValidationError) as exc:
        return json_response({"error": f"invalid credentials document: {exc}"}, 400)
    return json_response({"accessKeys": len(gatekeeper.access_keys), "users": len(gatekeeper.users)})


@routes.post(CONTROL + "/tokens/expire")
async def expire_tokens(request: web.Request) -> web.StreamResponse:
    """Expires every IAM-issued token: the next call with one gets 401 APIGW.0307."""
    return json_response({"expired": request.app[SIMULATOR_KEY].gatekeeper.expire_issued_tokens()})


@routes.get(CONTROL + "/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    """Request counters per cluster and in all."""
    sim = request.app[SIMULATOR_KEY]
    clusters = {f"{p}/{c}": counters.as_dict() for (p, c), counters in sim.counters.items()}
    return json_response({"clusters": clusters, "total": sum(c.total for c in sim.counters.values())})


@routes.delete(CONTROL + "/stats")
async def reset_stats(request: web.Request) -> web.StreamResponse:
    """Zeroes the counters and empties the request log."""
    sim = request.app[SIMULATOR_KEY]
    sim.counters.clear()
    sim.request_log.clear()
    return json_response({"reset": True})


@routes.get(CONTROL + "/clusters/{project}/{cluster}/requests")
async def cluster_requests(request: web.Request) -> web.StreamResponse:
    """One cluster's counters and its last `limit` requests."""
    sim = request.app[SIMULATOR_KEY]
    project, cluster = _cluster_key(request)
    counters = sim.counters.get((project, cluster), ClusterCounters())
    log = [e for e in sim.request_log if e["project"] == project and e["cluster"] == cluster]
    return json_response({**counters.as_dict(), "log": log[-int(request.query.get("limit", "200")) :]})


@routes.put(CONTROL + "/clusters/{project}/{cluster}/tasks")
async def put_details(request: web.Request) -> web.StreamResponse:
    """Replaces the scenario's shipped task details (pre-check findings, progress) for one cluster."""
    try:
        set_details(request.app[SIMULATOR_KEY], *_cluster_key(request), await request.json())
    except (ValueError, ValidationError) as exc:
        return json_response({"error": f"invalid task details: {exc}"}, 400)
    return json_response({"ok": True})


@routes.put(CONTROL + "/upgradepaths")
async def put_upgrade_paths(request: web.Request) -> web.StreamResponse:
    """Replaces the endpoint's upgrade paths: {"upgradePaths": [{version, platformVersion, targetVersions}]}."""
    try:
        set_paths(request.app[SIMULATOR_KEY], await request.json())
    except (ValueError, ValidationError) as exc:
        return json_response({"error": f"invalid upgrade paths: {exc}"}, 400)
    return json_response({"ok": True})
