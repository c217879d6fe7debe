"""What every simulated CCE endpoint shares: JSON and error answers in CCE's shapes, faults, and
`cluster_endpoint`, the one preamble (count, fault, authenticate, render, 404) around each handler."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ccupgrade.simulator.faults import Fault, FaultList
from ccupgrade.simulator.gatekeeper import Refused
from ccupgrade.simulator.scenario import ClusterScenario
from ccupgrade.simulator.state import SIMULATOR_KEY

# Renders a cluster's answer at its scenario's current time; None: the named item does not exist.
Render = Callable[[web.Request, ClusterScenario], dict[str, Any] | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON answer with an X-Request-Id, as CCE sends."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers={"X-Request-Id": uuid.uuid4().hex, **(headers or {})},
    )


def error_response(
    status: int, code: str, message: str, shape: str = "snake", headers: dict[str, str] | None = None
) -> web.Response:
    """An error in CCE's camel (errorCode/errorMessage) or snake (error_code/error_msg) shape; the
    gateway's APIGW codes always come snake-shaped with a request_id."""
    body = (
        {"errorCode": code, "errorMessage": message} if shape == "camel" else {"error_code": code, "error_msg": message}
    )
    if code.startswith(("APIGW", "APIG")):
        body = {"error_code": code, "error_msg": message, "request_id": uuid.uuid4().hex}
    return json_response(body, status, headers)


async def apply_fault(request: web.Request, fault: Fault, payload: dict[str, Any] | None) -> web.StreamResponse | None:
    """The faulty answer, or None to answer normally (after a delay, or with a quirk applied)."""
    if fault.kind == "status":
        return error_response(fault.status, fault.code, fault.message, fault.shape)
    if fault.kind == "throttle":
        return error_response(
            429,
            "APIGW.0308",
            "The throttling threshold has been reached.",
            headers={"Retry-After": f"{fault.retry_after:g}"},
        )
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


def cluster_endpoint(*, quirks: frozenset[str], not_found: tuple[str, str]) -> Callable[[Render], Handler]:
    """Turns a Render into a CCE handler for `/projects/{project}/clusters/{cluster}/...`.

    The request is counted on arrival and its answer on the way out; a pending fault is taken; the
    gatekeeper checks the signature or token exactly as sent. A refusal answers at once unless the
    fault replaces the answer anyway (`quirks`: the fault kinds that only alter a normal answer let
    the refusal win). A missing cluster is CCE.01404001; a missing item `not_found` = (code,
    message), the message formatted with the path's parameters.
    """
    code, message = not_found

    def decorate(render: Render) -> Handler:
        @functools.wraps(render)
        async def handler(request: web.Request) -> web.StreamResponse:
            sim = request.app[SIMULATOR_KEY]
            project, cluster = request.match_info["project"], request.match_info["cluster"]
            entry = sim.arrive(project, cluster, request.method, request.path)
            body = await request.read()
            status, auth = 500, "none"
            try:
                fault = sim.faults.get((project, cluster), FaultList()).take() or sim.global_faults.take()
                try:
                    url = request.rel_url  # the path and query as sent, still percent-encoded: what was signed
                    auth = sim.gatekeeper.check(
                        request.method, url.raw_path, url.raw_query_string, request.headers, body, project
                    )
                except Refused as refused:
                    if fault is None or fault.kind in quirks:
                        response = error_response(refused.status, refused.code, refused.message)
                        status = response.status
                        return response
                scenario = sim.clusters.get((project, cluster))
                payload = render(request, scenario) if scenario is not None else None
                if fault is not None:
                    faulty = await apply_fault(request, fault, payload)
                    if faulty is not None:
                        status = faulty.status
                        return faulty
                if scenario is None:
                    response = error_response(
                        404, "CCE.01404001", f"Cluster {cluster} not found in project {project}.", "camel"
                    )
                elif payload is None:
                    response = error_response(404, code, message.format_map(request.match_info), "camel")
                else:
                    response = json_response(payload)
                status = response.status
                return response
            except asyncio.CancelledError:
                status = 0  # dropped on purpose
                raise
            finally:
                sim.finish(entry, status, auth)

        return handler

    return decorate
