"""The simulated IAM API: project-scoped tokens for a user's name, password and domain."""

from __future__ import annotations

from aiohttp import web

from ccupgrade.simulator.answers import error_response, json_response
from ccupgrade.simulator.gatekeeper import Refused
from ccupgrade.simulator.state import SIMULATOR_KEY

routes = web.RouteTableDef()


@routes.post("/v3/auth/tokens")
async def issue_token(request: web.Request) -> web.StreamResponse:
    """POST /v3/auth/tokens: the token in X-Subject-Token, its expiry in the body, as IAM answers."""
    sim = request.app[SIMULATOR_KEY]
    try:
        document = await request.json()
        identity = document["auth"]["identity"]["password"]["user"]
        project = (document["auth"].get("scope") or {}).get("project", {}).get("id")
        token, expires_at = sim.gatekeeper.issue_token(
            identity["domain"]["name"], identity["name"], identity["password"], project
        )
    except Refused as refused:
        return error_response(refused.status, refused.code, refused.message)
    except (ValueError, KeyError, TypeError):
        return error_response(400, "IAM.0001", "The request body is invalid.")
    body = {"token": {"expires_at": expires_at.isoformat().replace("+00:00", "Z"), "methods": ["password"]}}
    return json_response(body, 201, {"X-Subject-Token": token})
