"""The hostile scenario and the flapping fault, as the operator's client meets them: the pre-check
answer comes near the client's size cap and still parses, the hostile strings arrive as written,
and a fault with a cycle fails the reads it should and no others."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ccupgrade.cce.client import CceClient, ClientConfig
from ccupgrade.cce.credentials import TokenCredentials
from ccupgrade.cce.errors import CceError
from ccupgrade.cce.task_reader import TaskReader, precheck_tasks_path, task_segment
from ccupgrade.simulator.faults import Fault, FaultList
from ccupgrade.simulator.scenario import MAX_REPEATED_CHARS, WorkflowScript, load_scenario
from tests.cce.conftest import CLUSTER, PROJECT, STATIC_TOKEN, Sim

TOKEN = TokenCredentials(STATIC_TOKEN)


async def test_the_hostile_precheck_answer_comes_near_the_cap_and_parses(sim: Sim, client: CceClient) -> None:
    scenario = sim.state.load(PROJECT, CLUSTER, "hostile", paused=True)
    scenario.clock.set(15)
    target = sim.target(TOKEN)
    (workflow,) = (await client.list_upgrade_workflows(target)).items
    (precheck,) = [p for p in workflow.status.point_statuses if p.task_type == "PreCheck"]
    assert precheck.status == "Success"
    task_id = precheck.task_id or ""
    raw = await client.get(target, f"{precheck_tasks_path(target)}/{task_segment(task_id)}")
    cap = ClientConfig().max_body_bytes
    assert 0.9 * cap < len(raw) < cap, f"{len(raw):,} bytes against a cap of {cap:,}"
    task = await TaskReader(client).get_precheck_task(target, task_id)
    stages = task.status.nodes.stages
    assert len(stages) == 9250
    assert "\x1b]0;pwned\x07" in (stages[0].node.name or "")  # the text arrives as CCE sent it


def test_the_hostile_strings_are_in_the_scenario_as_written() -> None:
    (workflow,) = load_scenario("hostile").workflows
    assert min(len(workflow.tasks[4]), len(workflow.cluster_version), len(workflow.target_version)) >= 10_000
    statuses = [s.status or "" for s in workflow.steps]
    assert max(len(s) for s in statuses) >= 10_000
    text = "".join([workflow.uid, workflow.cluster_version, workflow.target_version, *workflow.tasks, *statuses])
    for hostile in ("\x1b]0;", "\x1b[2J", "\x1b]8;;", "\x9b", "\x00", "\u202e", "[/x]", "[error]", "[link=", "升级"):
        assert hostile in text, hostile


def test_a_repeated_text_is_bounded_and_checked() -> None:
    base = {"uid": "w", "clusterVersion": "v1", "targetVersion": "v2"}
    ok = WorkflowScript.model_validate({**base, "tasks": [{"repeat": "ab", "times": 3}]})
    assert ok.tasks == ["ababab"]
    parts = WorkflowScript.model_validate({**base, "tasks": [["<", {"repeat": "ab", "times": 2}, ">"]]})
    assert parts.tasks == ["<abab>"]
    too_long = {"repeat": "x", "times": MAX_REPEATED_CHARS + 1}
    for bad in ({"repeat": "ab", "times": 0}, {"repeat": 7, "times": 2}, too_long, ["a", 1], [too_long]):
        with pytest.raises(ValidationError):
            WorkflowScript.model_validate({**base, "tasks": [bad]})


def test_a_flapping_fault_takes_the_burst_of_each_cycle() -> None:
    faults = FaultList()
    faults.replace([Fault(kind="status", cycle=5, burst=4), Fault(kind="drop", times=1)])
    kinds = [fault.kind if (fault := faults.take()) else None for _ in range(11)]
    # the fifth request of each cycle passes on: to the next fault while it lasts, then to a normal answer
    assert kinds == ["status"] * 4 + ["drop"] + ["status"] * 4 + [None] + ["status"]
    with pytest.raises(ValidationError):
        Fault(kind="status", cycle=2, burst=3)


async def test_a_client_retrying_three_times_sees_every_other_read_fail(sim: Sim, client: CceClient) -> None:
    sim.state.faults[(PROJECT, CLUSTER)] = FaultList()
    sim.state.faults[(PROJECT, CLUSTER)].replace([Fault(kind="status", status=503, cycle=5, burst=4)])
    outcomes = []
    for _ in range(6):
        try:
            await client.list_upgrade_workflows(sim.target(TOKEN))
            outcomes.append("ok")
        except CceError:
            outcomes.append("failed")
    assert outcomes == ["failed", "ok"] * 3
