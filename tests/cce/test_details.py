"""The poll's detail calls against the simulator: made only while the task they describe runs, an
ended pre-check fetched once, a failing call degrading only its own detail; peers' samples."""

from __future__ import annotations

import json

from ccupgrade.cce.client import CceClient
from ccupgrade.cce.credentials import TokenCredentials
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.cce.task_reader import TaskReader
from ccupgrade.mirror import insight
from ccupgrade.models.task_details import PreCheckTask, SnapshotTask, UpgradeTask
from ccupgrade.scheduler.details import DetailFetcher, PeerBook
from ccupgrade.simulator.faults import Fault, FaultList
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from tests.cce.conftest import CLUSTER, PROJECT, STATIC_TOKEN, Sim

TOKEN = TokenCredentials(STATIC_TOKEN)


class Poll:
    def __init__(self, sim: Sim, client: CceClient, scenario: str) -> None:
        self.sim = sim
        self.client = client
        self.fetcher = DetailFetcher(TaskReader(client))
        self.scenario = sim.state.load(PROJECT, CLUSTER, scenario, paused=True)

    async def at(self, second: float) -> tuple[insight.Details, int]:
        """The details at this scenario second, and how many detail requests they cost."""
        self.scenario.clock.set(second)
        workflows = (await self.client.list_upgrade_workflows(self.sim.target(TOKEN))).items
        before = self.sim.requests_to()
        details = await self.fetcher.fetch(self.sim.target(TOKEN), workflows)
        return details, self.sim.requests_to() - before


async def test_cost_follows_the_running_task(sim: Sim, client: CceClient) -> None:
    poll = Poll(sim, client, "standard")
    costs = {}
    for second in (0, 7, 12, 17, 22, 27, 35, 47, 52, 60, 600):
        details, cost = await poll.at(second)
        costs[second] = cost
        if second == 22:
            assert [type(v) for v in details.snapshot.values()] == [SnapshotTask]
        if second == 35:
            (task,) = details.upgrade.values()
            assert isinstance(task, UpgradeTask)
            assert task.status.percent == 33.0
    # Init, Queuing: nothing; pre-check running: 1; its final result: once; Snapshot, Cluster running: 1.
    assert costs == {0: 0, 7: 0, 12: 1, 17: 1, 22: 1, 27: 0, 35: 1, 47: 0, 52: 0, 60: 0, 600: 0}


async def test_an_ended_precheck_is_fetched_once_and_then_handed_in_from_memory(sim: Sim, client: CceClient) -> None:
    poll = Poll(sim, client, "precheck-failed")
    first, cost = await poll.at(20)
    assert cost == 1
    again, cost = await poll.at(300)
    assert cost == 0
    assert first.precheck == again.precheck
    (task,) = again.precheck.values()
    assert isinstance(task, PreCheckTask)
    assert task.status.phase == "Failed"


async def test_a_failing_detail_call_is_a_detail_failed(sim: Sim, client: CceClient) -> None:
    poll = Poll(sim, client, "slow")
    poll.scenario.clock.set(400)
    workflows = (await client.list_upgrade_workflows(sim.target(TOKEN))).items
    sim.state.faults.setdefault((PROJECT, CLUSTER), FaultList()).replace(
        [Fault.model_validate({"kind": "status", "status": 403, "code": "CCE.01403000", "message": "no upgrade view"})]
    )
    details = await poll.fetcher.fetch(sim.target(TOKEN), workflows)
    (failed,) = details.upgrade.values()
    assert isinstance(failed, insight.DetailFailed)
    assert "access denied: no upgrade view (HTTP 403, code CCE.01403000" in failed.message


def test_peers_are_every_other_cluster() -> None:
    cluster = ClusterScenario("p", "c", load_scenario("history"), ScenarioClock(paused=True))
    cluster.clock.set(100)
    workflows = parse_workflow_list(json.dumps(cluster.render_list())).items
    book = PeerBook()
    book.record("a", workflows)
    book.record("b", workflows[:1])
    assert len(book.peers_of("b")) == 8  # a's two finished upgrades, four tasks each
    assert len(book.peers_of("a")) == 4
    book.forget("a")
    assert book.peers_of("b") == []


def test_peers_follow_every_change_of_the_recorded_runs() -> None:
    cluster = ClusterScenario("p", "c", load_scenario("history"), ScenarioClock(paused=True))
    cluster.clock.set(100)
    workflows = parse_workflow_list(json.dumps(cluster.render_list())).items
    book = PeerBook()
    book.record("a", workflows[:1])
    book.record("b", workflows)
    book.record("c", workflows[:1])
    everyone = book.peers_of("unknown")  # a's four, b's eight, c's four, in that order
    assert book.peers_of("b") == everyone[:4] + everyone[12:]
    assert len(book.peers_of("b")) == 8  # a's and c's four tasks
    assert len(book.peers_of("a")) == 12  # b's eight, then c's four
    assert len(book.peers_of("unknown")) == 16
    book.record("a", workflows)  # a's runs changed: seen at once
    assert len(book.peers_of("b")) == 12
    book.record("a", workflows)  # unchanged: the same answer
    assert len(book.peers_of("c")) == 16
    book.forget("b")
    assert len(book.peers_of("c")) == 8
    assert book.peers_of("a") == book.peers_of("unknown")[8:]
