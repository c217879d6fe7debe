"""The simulated CCE API: the upgrade-workflow list and one workflow, and the task detail endpoints
(pre-check, upgrade and snapshot tasks, upgrade info), each rendered from the cluster's scenario;
and the endpoint's upgrade paths, which name no cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccupgrade.simulator.answers import apply_fault, cluster_endpoint, error_response, json_response
from ccupgrade.simulator.faults import FaultList
from ccupgrade.simulator.gatekeeper import Refused
from ccupgrade.simulator.scenario import ClusterScenario, WorkflowScript
from ccupgrade.simulator.state import SIMULATOR_KEY
from ccupgrade.simulator.task_endpoints import Renderer, details_for
from ccupgrade.simulator.version_endpoints import PATHS_KEY, upgrade_paths

CLUSTER = "/api/v3/projects/{project}/clusters/{cluster}"
WORKFLOWS = CLUSTER + "/operation/upgradeworkflows"
PRECHECK_TASKS = CLUSTER + "/operation/precheck/tasks"
UPGRADE_TASKS = CLUSTER + "/operation/upgrade/tasks"
UPGRADE_INFO = CLUSTER + "/upgradeinfo"
SNAPSHOT_TASKS = "/api/v3.1/projects/{project}/clusters/{cluster}/operation/snapshot/tasks"
UPGRADE_PATHS = "/api/v3/clusterupgradepaths"

# Faults that only alter a normal answer: with them, a refused credential is still refused.
WORKFLOW_QUIRKS = frozenset({"singleObject", "delay", "malformedItem"})
TASK_QUIRKS = frozenset({"singleObject", "delay"})
workflow_endpoint = cluster_endpoint(
    quirks=WORKFLOW_QUIRKS, not_found=("CCE.01404002", "Upgrade workflow {workflow} not found.")
)
task_endpoint = cluster_endpoint(quirks=TASK_QUIRKS, not_found=("CCE.01404010", "Task {task} not found."))

# Builds one task's answer from its workflow script, workflow and point (a Renderer method).
Build = Callable[[Renderer, WorkflowScript, dict[str, Any], dict[str, Any]], dict[str, Any]]

routes = web.RouteTableDef()


@routes.get(WORKFLOWS)
@workflow_endpoint
def list_workflows(_: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """The cluster's workflows at the scenario's current time."""
    return scenario.render_list()


@routes.get(WORKFLOWS + "/{workflow}")
@workflow_endpoint
def get_workflow(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """One workflow by uid."""
    return scenario.render_one(request.match_info["workflow"])


def _renderer(request: web.Request, scenario: ClusterScenario) -> Renderer:
    project, cluster = request.match_info["project"], request.match_info["cluster"]
    details = details_for(request.app[SIMULATOR_KEY], project, cluster, scenario)
    return Renderer(scenario, details)


def _one(request: web.Request, scenario: ClusterScenario, task: str, build: Build) -> dict[str, Any] | None:
    """The task of type `task` named in the path, built by `build`; None if no started task has that ID."""
    renderer = _renderer(request, scenario)
    found = renderer.find(task, request.match_info["task"])
    return build(renderer, *found) if found else None


@routes.get(PRECHECK_TASKS)
@task_endpoint
def list_prechecks(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """The pre-check tasks of the workflows that reached their pre-check."""
    return _renderer(request, scenario).precheck_list()


@routes.get(PRECHECK_TASKS + "/{task}")
@task_endpoint
def get_precheck(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """One pre-check task, with its findings once it has finished."""
    found = _one(request, scenario, "PreCheck", Renderer.precheck)
    return found if found is not None else _renderer(request, scenario).find_standalone(request.match_info["task"])


@routes.get(UPGRADE_TASKS)
@task_endpoint
def list_upgrades(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """The upgrade tasks of the workflows whose cluster upgrade started."""
    return _renderer(request, scenario).upgrade_list()


@routes.get(UPGRADE_TASKS + "/{task}")
@task_endpoint
def get_upgrade(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """One upgrade task with its progress."""
    return _one(request, scenario, "Cluster", Renderer.upgrade_task)


@routes.get(UPGRADE_INFO)
@task_endpoint
def upgrade_info(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """The cluster's version, its target versions and the last upgrade's progress."""
    return _renderer(request, scenario).upgrade_info()


@routes.get(SNAPSHOT_TASKS)
@task_endpoint
def list_snapshots(request: web.Request, scenario: ClusterScenario) -> dict[str, Any] | None:
    """The snapshot (backup) tasks, and the latest backup time."""
    return _renderer(request, scenario).snapshot_list()


@routes.get(UPGRADE_PATHS)
async def list_upgrade_paths(request: web.Request) -> web.StreamResponse:
    """The endpoint's upgrade paths (per endpoint, not per cluster): authenticated like every call,
    counted under the project the request names (X-Project-Id) or `-`; the global faults apply."""
    sim = request.app[SIMULATOR_KEY]
    named = request.headers.get("X-Project-Id")
    project = named or PATHS_KEY[0]
    entry = sim.arrive(project, PATHS_KEY[1], request.method, request.path)
    body = await request.read()
    status, auth = 500, "none"
    try:
        fault = sim.faults.get((project, PATHS_KEY[1]), FaultList()).take() or sim.global_faults.take()
        try:
            url = request.rel_url
            auth = sim.gatekeeper.check(
                request.method, url.raw_path, url.raw_query_string, request.headers, body, named
            )
        except Refused as refused:
            if fault is None or fault.kind in TASK_QUIRKS:
                response = error_response(refused.status, refused.code, refused.message)
                status = response.status
                return response
        payload = upgrade_paths(sim)
        if fault is not None:
            faulty = await apply_fault(request, fault, payload)
            if faulty is not None:
                status = faulty.status
                return faulty
        response = json_response(payload)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = 0
        raise
    finally:
        sim.finish(entry, status, auth)
