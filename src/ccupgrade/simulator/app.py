"""The simulator's HTTP server: CCE's upgrade-workflow API, IAM's token API, and a control API.

Control endpoints live under `/_sim/` (no authentication: the simulator listens on loopback).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ccupgrade.simulator.faults import Fault, FaultList, FaultsDocument
from ccupgrade.simulator.gatekeeper import CredentialsDocument, Gatekeeper, Refused
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario

CONTROL = "/_sim"
WORKFLOWS = "/api/v3/projects/{project}/clusters/{cluster}/operation/upgradeworkflows"


@dataclass
class ClusterCounters:
    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_auth: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
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
        loaded = ClusterScenario(project, cluster, load_scenario(scenario), ScenarioClock(speed, paused))
        self.clusters[(project, cluster)] = loaded
        return loaded

    def arrive(self, project: str, cluster: str, method: str, path: str) -> dict[str, Any]:
        """Counts a request when it arrives (a client that times out was still a request)."""
        self.counters.setdefault((project, cluster), ClusterCounters()).total += 1
        entry = {"t": time.time(), "method": method, "path": path, "project": project, "cluster": cluster,
                 "status": None, "auth": None}  # fmt: skip
        self.request_log.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: int, auth: str) -> None:
        counters = self.counters.setdefault((entry["project"], entry["cluster"]), ClusterCounters())
        counters.by_status[str(status)] += 1
        counters.by_auth[auth] += 1
        entry["status"] = status
        entry["auth"] = auth


SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers={"X-Request-Id": uuid.uuid4().hex, **(headers or {})},
    )


def _error(
    status: int, code: str, message: str, shape: str = "snake", headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        {"errorCode": code, "errorMessage": message} if shape == "camel" else {"error_code": code, "error_msg": message}
    )
    if code.startswith(("APIGW", "APIG")):
        body = {"error_code": code, "error_msg": message, "request_id": uuid.uuid4().hex}
    return _json(body, status, headers)


async def _apply_fault(request: web.Request, fault: Fault, payload: dict[str, Any] | None) -> web.StreamResponse | None:
    """The faulty answer, or None to answer normally (after a delay, or with a quirk applied)."""
    if fault.kind == "status":
        return _error(fault.status, fault.code, fault.message, fault.shape)
    if fault.kind == "throttle":
        return _error(429, "APIGW.0308", "The throttling threshold has been reached.",
                      headers={"Retry-After": f"{fault.retry_after:g}"})  # fmt: skip
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.kind == "malformed":
        return web.Response(body=b'{"kind": "List", "items": [{"metadata": ', content_type="application/json")
    if fault.kind == "contentType":
        return web.Response(
            body=b"<html><body>Gateway maintenance</body></html>", headers={"Content-Type": fault.value}
        )
    if fault.kind == "oversized":
        padding = b"x" * fault.size
        return web.Response(
            body=b'{"kind":"List","items":[],"padding":"' + padding + b'"}', content_type="application/json"
        )
    if fault.kind == "drop":
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # the handler ends without an answer; the client sees a dropped connection
    if fault.kind == "singleObject" and payload is not None:
        items = payload.get("items") or []
        if len(items) >= 1:
            payload["items"] = items[-1]
        return None
    if fault.kind == "malformedItem" and payload is not None:
        # Every workflow but the last listed (the newest in the shipped scenarios) gets a point
        # without taskType and an annotation that is an object: one bad history item.
        for item in (payload.get("items") or [])[:-1]:
            item["status"]["pointStatuses"].insert(0, {"taskID": "no-task-type", "status": "Success"})
            item["metadata"]["annotations"] = {"ok": "text", "bad": {"nested": True}}
        return None
    return None


def create_app(simulator: Simulator | None = None) -> web.Application:
    sim = simulator or Simulator()
    app = web.Application(client_max_size=1024 * 1024)
    app[SIMULATOR_KEY] = sim
    routes = web.RouteTableDef()

    async def serve_workflows(request: web.Request, workflow_id: str | None) -> web.StreamResponse:
        project, cluster = request.match_info["project"], request.match_info["cluster"]
        entry = sim.arrive(project, cluster, request.method, request.path)
        body = await request.read()
        status, auth = 500, "none"
        try:
            fault = sim.faults.get((project, cluster), FaultList()).take() or sim.global_faults.take()
            try:
                url = request.rel_url  # the path and query as sent, still percent-encoded: what was signed
                auth = sim.gatekeeper.check(request.method, url.raw_path, url.raw_query_string, request.headers,
                                            body, project)  # fmt: skip
            except Refused as refused:
                if fault is None or fault.kind in {"singleObject", "delay", "malformedItem"}:
                    response = _error(refused.status, refused.code, refused.message)
                    status = response.status
                    return response
            scenario = sim.clusters.get((project, cluster))
            payload: dict[str, Any] | None = None
            if scenario is not None:
                payload = scenario.render_list() if workflow_id is None else scenario.render_one(workflow_id)
            if fault is not None:
                faulty = await _apply_fault(request, fault, payload)
                if faulty is not None:
                    status = faulty.status
                    return faulty
            if scenario is None:
                response = _error(404, "CCE.01404001", f"Cluster {cluster} not found in project {project}.", "camel")
            elif payload is None:
                response = _error(404, "CCE.01404002", f"Upgrade workflow {workflow_id} not found.", "camel")
            else:
                response = _json(payload)
            status = response.status
            return response
        except asyncio.CancelledError:
            status = 0  # dropped on purpose
            raise
        finally:
            sim.finish(entry, status, auth)

    @routes.get(WORKFLOWS)
    async def list_workflows(request: web.Request) -> web.StreamResponse:
        return await serve_workflows(request, None)

    @routes.get(WORKFLOWS + "/{workflow}")
    async def get_workflow(request: web.Request) -> web.StreamResponse:
        return await serve_workflows(request, request.match_info["workflow"])

    @routes.post("/v3/auth/tokens")
    async def issue_token(request: web.Request) -> web.StreamResponse:
        try:
            document = await request.json()
            identity = document["auth"]["identity"]["password"]["user"]
            project = (document["auth"].get("scope") or {}).get("project", {}).get("id")
            token, expires_at = sim.gatekeeper.issue_token(
                identity["domain"]["name"], identity["name"], identity["password"], project
            )
        except Refused as refused:
            return _error(refused.status, refused.code, refused.message)
        except (ValueError, KeyError, TypeError):
            return _error(400, "IAM.0001", "The request body is invalid.")
        body = {"token": {"expires_at": expires_at.isoformat().replace("+00:00", "Z"), "methods": ["password"]}}
        return _json(body, 201, {"X-Subject-Token": token})

    # -- control API ------------------------------------------------------------------------------

    def cluster_key(request: web.Request) -> tuple[str, str]:
        return request.match_info["project"], request.match_info["cluster"]

    @routes.get(CONTROL + "/healthz")
    async def healthz(_: web.Request) -> web.StreamResponse:
        return _json({"ok": True})

    async def json_object(request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object, or a 400 answer (never a 500 for the caller's mistake)."""
        try:
            document = await request.json()
        except ValueError as exc:
            return _json({"error": f"the body is not JSON: {exc}"}, 400)
        if not isinstance(document, dict):
            return _json({"error": f"the body must be a JSON object, not {type(document).__name__}"}, 400)
        return document

    @routes.put(CONTROL + "/clusters/{project}/{cluster}")
    async def put_cluster(request: web.Request) -> web.StreamResponse:
        document = await json_object(request)
        if isinstance(document, web.Response):
            return document
        try:
            loaded = sim.load(*cluster_key(request), document.get("scenario", "standard"),
                              float(document.get("speed", 1.0)), bool(document.get("paused", False)))  # fmt: skip
        except (ValueError, TypeError, ValidationError) as exc:
            return _json({"error": str(exc)}, 400)
        uids = {w.uid: loaded.uid_of(w.uid) for w in loaded.scenario.workflows}
        return _json({"scenario": loaded.scenario.name, "workflowUids": uids, "epoch": loaded.epoch.isoformat()})

    @routes.delete(CONTROL + "/clusters/{project}/{cluster}")
    async def delete_cluster(request: web.Request) -> web.StreamResponse:
        sim.clusters.pop(cluster_key(request), None)
        return _json({"deleted": True})

    def clock_action(clock: ScenarioClock, document: dict[str, Any]) -> None:
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

    @routes.post(CONTROL + "/clusters/{project}/{cluster}/time")
    async def cluster_time(request: web.Request) -> web.StreamResponse:
        scenario = sim.clusters.get(cluster_key(request))
        if scenario is None:
            return _json({"error": "no such cluster"}, 404)
        document = await json_object(request)
        if isinstance(document, web.Response):
            return document
        try:
            clock_action(scenario.clock, document)
        except (ValueError, TypeError) as exc:
            return _json({"error": f"invalid time action: {exc}"}, 400)
        return _json({"now": scenario.clock.now(), "paused": scenario.clock.paused})

    @routes.post(CONTROL + "/time")
    async def all_time(request: web.Request) -> web.StreamResponse:
        document = await json_object(request)
        if isinstance(document, web.Response):
            return document
        try:
            for scenario in sim.clusters.values():
                clock_action(scenario.clock, document)
        except (ValueError, TypeError) as exc:
            return _json({"error": f"invalid time action: {exc}"}, 400)
        return _json({"clusters": len(sim.clusters)})

    async def read_faults(request: web.Request) -> list[Fault] | web.Response:
        try:  # not JSON, a bare list, an unknown field or a bad fault: all the caller's mistake (400)
            return FaultsDocument.model_validate_json(await request.read()).faults
        except ValidationError as exc:
            return _json({"error": f"invalid faults document: {exc}"}, 400)

    @routes.put(CONTROL + "/clusters/{project}/{cluster}/faults")
    async def put_faults(request: web.Request) -> web.StreamResponse:
        faults = await read_faults(request)
        if isinstance(faults, web.Response):
            return faults
        sim.faults.setdefault(cluster_key(request), FaultList()).replace(faults)
        return _json({"faults": len(faults)})

    @routes.delete(CONTROL + "/clusters/{project}/{cluster}/faults")
    async def clear_faults(request: web.Request) -> web.StreamResponse:
        sim.faults.pop(cluster_key(request), None)
        return _json({"faults": 0})

    @routes.put(CONTROL + "/faults")
    async def put_global_faults(request: web.Request) -> web.StreamResponse:
        faults = await read_faults(request)
        if isinstance(faults, web.Response):
            return faults
        sim.global_faults.replace(faults)
        return _json({"faults": len(faults)})

    @routes.delete(CONTROL + "/faults")
    async def clear_global_faults(_: web.Request) -> web.StreamResponse:
        sim.global_faults.clear()
        return _json({"faults": 0})

    @routes.put(CONTROL + "/credentials")
    async def put_credentials(request: web.Request) -> web.StreamResponse:
        try:
            sim.gatekeeper.configure(CredentialsDocument.model_validate(await request.json()))
        except (ValueError, ValidationError) as exc:
            return _json({"error": f"invalid credentials document: {exc}"}, 400)
        return _json({"accessKeys": len(sim.gatekeeper.access_keys), "users": len(sim.gatekeeper.users)})

    @routes.post(CONTROL + "/tokens/expire")
    async def expire_tokens(_: web.Request) -> web.StreamResponse:
        return _json({"expired": sim.gatekeeper.expire_issued_tokens()})

    @routes.get(CONTROL + "/stats")
    async def stats(_: web.Request) -> web.StreamResponse:
        clusters = {f"{p}/{c}": counters.as_dict() for (p, c), counters in sim.counters.items()}
        return _json({"clusters": clusters, "total": sum(c.total for c in sim.counters.values())})

    @routes.delete(CONTROL + "/stats")
    async def reset_stats(_: web.Request) -> web.StreamResponse:
        sim.counters.clear()
        sim.request_log.clear()
        return _json({"reset": True})

    @routes.get(CONTROL + "/clusters/{project}/{cluster}/requests")
    async def cluster_requests(request: web.Request) -> web.StreamResponse:
        project, cluster = cluster_key(request)
        counters = sim.counters.get((project, cluster), ClusterCounters())
        log = [e for e in sim.request_log if e["project"] == project and e["cluster"] == cluster]
        return _json({**counters.as_dict(), "log": log[-int(request.query.get("limit", "200")) :]})

    from ccupgrade.simulator.insight import add_task_routes  # here: insight imports this module

    add_task_routes(routes, sim)
    app.add_routes(routes)
    return app
