"""The simulator's HTTP server: CCE's API (cce_api.py), IAM's token API (iam_api.py) and the
control API (control_api.py) on one aiohttp application sharing one Simulator."""

from __future__ import annotations

from aiohttp import web

from ccupgrade.simulator import cce_api, control_api, iam_api
from ccupgrade.simulator.state import SIMULATOR_KEY, Simulator

__all__ = ["Simulator", "create_app"]


def create_app(simulator: Simulator | None = None) -> web.Application:
    """The application serving all three APIs over `simulator` (a fresh one if none is given)."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SIMULATOR_KEY] = simulator or Simulator()
    app.add_routes(cce_api.routes)
    app.add_routes(iam_api.routes)
    app.add_routes(control_api.routes)
    return app
