"""/healthz, /readyz and /metrics on one small aiohttp server."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ccupgrade.app.metrics import Metrics


async def start_health_server(host: str, port: int, ready: asyncio.Event, metrics: Metrics) -> web.AppRunner:
    """Serves the probes and /metrics on the operator's own event loop; /readyz follows `ready`.
    The caller closes the returned runner."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")  # answering at all proves the event loop is not stuck

    async def readyz(_: web.Request) -> web.Response:
        if ready.is_set():
            return web.Response(text="ready")
        return web.Response(status=503, text="watches not established yet")

    async def metrics_endpoint(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_endpoint)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
