"""The mirror, driven by the simulator's own scenarios rendered at each second: every transition
becomes exactly one Event, nothing is re-emitted, errors never erase the last good status."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.mirror import Observed, PollFailed, mirror
from ccupgrade.mirror.core import suspended
from ccupgrade.models.resource import UpgradeSpec
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from tests.support.examples import examples
from tests.support.mirror_walk import SPEC, T0, Walk


def test_standard_upgrade_gives_each_transition_exactly_once() -> None:
    walk = Walk("standard")
    for second in range(0, 61):
        walk.observe(second)
    task_events = [(r, m.split()[1]) for _, r, m in walk.events if r.startswith("Task")]
    assert walk.reasons()[0] == "WorkflowDetected"
    assert walk.reasons()[-1] == "UpgradeSucceeded"
    assert walk.reasons().count("UpgradeStarted") == 1
    for task in ("PreCheck", "Snapshot", "Cluster", "PostCheck"):
        assert [r for r, t in task_events if t == task] == ["TaskQueued", "TaskStarted", "TaskSucceeded"]
    assert len(walk.events) == 1 + 1 + 12 + 1
    status = walk.status
    assert status.phase == "Success"
    assert status.progress == "4/4"
    assert status.current_task is None
    assert (status.cluster_version, status.target_version) == ("v1.28.15-r20", "v1.29.13-r0")
    assert walk.condition("Ready").status == "True"
    assert walk.condition("Ready").reason == "UpgradeSucceeded"
    assert walk.condition("Reconciling").status == "False"
    assert walk.condition("Stalled").status == "False"
    assert all(t.start_time and t.end_time for t in status.tasks)
    assert [(line.from_, line.to, line.critical) for line in status.lines][1] == ("Snapshot", "Cluster", True)
    # One write per change, not per poll: 61 polls, one write per distinct moment in the scenario.
    moments = {step.at for step in load_scenario("standard").workflows[0].steps}
    assert walk.writes == len(moments) == 10


def test_running_state_names_the_current_task() -> None:
    walk = Walk("standard")
    walk.observe(0)
    walk.observe(31)
    ready = walk.condition("Ready")
    assert (ready.status, ready.reason) == ("False", "UpgradeInProgress")
    assert "task Cluster (Running), 2/4 done" in ready.message
    assert walk.condition("Reconciling").status == "True"
    assert walk.status.current_task == "Cluster (Running)"


def test_nothing_changed_means_no_event_and_no_write() -> None:
    walk = Walk("standard")
    walk.observe(31)
    before = (list(walk.events), walk.writes)
    for _ in range(5):
        result = walk.observe(31)
        assert not result.changed
        assert result.events == []
    assert (walk.events, walk.writes) == before


def test_restart_from_stored_status_re_emits_nothing() -> None:
    walk = Walk("standard")
    walk.observe(0)
    walk.observe(31)
    restarted = Walk("standard")
    restarted.stored = walk.stored  # a new process reads the status from the API server
    restarted.names = set(walk.names)
    assert restarted.observe(31).events == []
    # And the same difference computed twice names the same Event (a crash before the status write).
    old = walk.status
    walk.cluster.clock.set(46)
    workflows = parse_workflow_list(json.dumps(walk.cluster.render_list())).items
    first = mirror(old, Observed(workflows), SPEC, 1, T0 + timedelta(seconds=46))
    again = mirror(old, Observed(workflows), SPEC, 1, T0 + timedelta(seconds=47))
    assert [e.name_for("prod", "u") for e in first.events] == [e.name_for("prod", "u") for e in again.events]
    assert len(first.events) == 2  # Cluster succeeded, PostCheck queued


def test_failing_upgrade_ends_stalled_with_warnings() -> None:
    walk = Walk("failing")
    for second in range(0, 50, 5):
        walk.observe(second)
    warnings = [(r, m) for t, r, m in walk.events if t == "Warning"]
    assert [r for r, _ in warnings] == ["TaskFailed", "UpgradeBlocked"]
    assert "Task Cluster failed" in warnings[0][1]
    assert "task Cluster failed" in warnings[1][1]
    assert walk.status.phase == "Pending"
    assert walk.status.current_task == "Cluster (Failed)"
    assert walk.condition("Stalled").status == "True"
    assert walk.condition("Stalled").reason == "UpgradeTaskFailed"
    assert walk.condition("Reconciling").status == "False"
    assert walk.condition("Ready").status == "False"


def test_cancelled_upgrade() -> None:
    walk = Walk("cancelled")
    for second in range(0, 30, 5):
        walk.observe(second)
    assert walk.reasons()[-1] == "UpgradeCancelled"
    assert walk.events[-1][0] == "Warning"
    assert walk.condition("Stalled").status == "True"
    assert walk.condition("Ready").reason == "UpgradeCancelled"


def test_new_workflow_switches_and_moves_the_old_one_to_history() -> None:
    walk = Walk("retry")
    for second in range(0, 90, 5):
        walk.observe(second)
    detected = [m for _, r, m in walk.events if r == "WorkflowDetected"]
    assert len(detected) == 2
    first_uid = walk.cluster.uid_of("attempt-1")
    assert f"workflow {first_uid} moved to history" in detected[1]
    assert walk.status.workflow is not None
    assert walk.status.workflow.uid == walk.cluster.uid_of("attempt-2")
    assert [(h.uid, h.phase) for h in walk.status.history] == [(first_uid, "Cancel")]
    assert walk.status.phase == "Success"


def test_history_is_newest_first_and_limited() -> None:
    walk = Walk("history")
    walk.observe(0)
    assert [h.phase for h in walk.status.history] == ["Cancel", "Success"]
    limited = Walk("history", SPEC.model_copy(update={"history_limit": 1}))
    limited.observe(0)
    assert [h.phase for h in limited.status.history] == ["Cancel"]
    none = Walk("history", SPEC.model_copy(update={"history_limit": 0}))
    none.observe(0)
    assert none.status.history == []


def test_selectors_pin_a_workflow() -> None:
    cluster = ClusterScenario("p1", "c1", load_scenario("history"), ScenarioClock(paused=True))
    old_uid = cluster.uid_of("upgrade-2024")
    by_uid = Walk("history", SPEC.model_copy(update={"workflow": {"uid": old_uid}}))
    by_uid.spec = UpgradeSpec.model_validate({**SPEC.model_dump(by_alias=True), "workflow": {"uid": old_uid}})
    by_uid.observe(0)
    assert by_uid.status.workflow is not None
    assert by_uid.status.workflow.uid == old_uid
    assert by_uid.status.phase == "Success"
    by_version = Walk(
        "history",
        UpgradeSpec.model_validate({**SPEC.model_dump(by_alias=True), "workflow": {"targetVersion": "v1.28.15-r20"}}),
    )
    by_version.observe(0)
    assert by_version.status.target_version == "v1.28.15-r20"
    missing = Walk(
        "history", UpgradeSpec.model_validate({**SPEC.model_dump(by_alias=True), "workflow": {"uid": "nope"}})
    )
    missing.observe(0)
    assert missing.condition("Ready").reason == "NoWorkflow"
    assert "with uid nope" in missing.condition("Ready").message
    assert missing.condition("Reconciling").status == "True"


def test_transient_error_keeps_the_last_good_status_and_warns_once_per_outage() -> None:
    walk = Walk("standard")
    walk.observe(31)
    good = walk.status
    for second in (40, 70, 100):  # a minute of failures: announced
        walk.apply(PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503"), second)
    after = walk.status
    assert (after.phase, after.tasks, after.progress, after.last_sync_time) == (
        good.phase,
        good.tasks,
        good.progress,
        good.last_sync_time,
    )
    assert walk.condition("Ready").status == "Unknown"
    assert walk.condition("Ready").reason == "CloudAPIUnavailable"
    assert walk.condition("Reconciling").status == "True"  # kept from before the outage
    assert walk.reasons().count("CloudAPIError") == 1
    walk.observe(51, now=101)
    # Polls missed during the outage: PostCheck went Init → Queuing → Running unseen; one Event per seen change.
    assert walk.reasons()[-3:] == ["CloudAPIRecovered", "TaskSucceeded", "TaskStarted"]
    assert walk.condition("Ready").reason == "UpgradeInProgress"
    assert walk.status.cloud_outage is None
    # A second outage is a new Event, not a duplicate name of the first.
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "timeout"), 102)
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "timeout"), 170)
    assert walk.reasons().count("CloudAPIError") == 2


def test_an_outage_lasts_until_cce_has_answered_steadily_and_costs_no_write_per_answer() -> None:
    walk = Walk("standard")
    walk.observe(31)
    failure = PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503")
    walk.apply(failure, 40)
    assert walk.condition("Ready").status == "Unknown"  # at once
    assert "CloudAPIError" not in walk.reasons()  # not yet: it has not lasted
    writes = walk.writes
    flapping = Observed(walk.observed(31), last_failure=T0 + timedelta(seconds=40))
    for second in (70, 130, 190, 250, 310):  # CCE answers, but failed lately
        assert not walk.apply(flapping, second).changed
        assert walk.condition("Ready").reason == "CloudAPIUnavailable"
    assert walk.writes == writes
    walk.apply(failure, 320)  # still failing now and then, 280 s on: announced
    assert walk.reasons().count("CloudAPIError") == 1
    steady = Observed(walk.observed(31), last_failure=T0 + timedelta(seconds=320))
    walk.apply(steady, 500)
    assert walk.condition("Ready").reason == "CloudAPIUnavailable"  # answered for 3 minutes only
    walk.apply(steady, 620)
    assert walk.condition("Ready").reason == "UpgradeInProgress"  # 5 minutes: the outage is over
    assert walk.reasons()[-1] == "CloudAPIRecovered"
    assert walk.status.cloud_outage is None


def test_an_outage_start_stored_by_a_clock_ahead_counts_as_now() -> None:
    walk = Walk("standard")
    walk.observe(31)
    failure = PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503")
    walk.apply(failure, 40 + 3600)  # a replica whose clock is an hour ahead sees the first failure
    walk.apply(failure, 40)  # this replica, with the right clock, takes over
    assert walk.status.cloud_outage is not None
    assert walk.status.cloud_outage.since == T0 + timedelta(seconds=40)  # not in the future
    walk.apply(failure, 70)
    assert "CloudAPIError" not in walk.reasons()  # 30 s: not news yet
    walk.apply(failure, 100)  # a minute of failures on this clock: announced, not an hour later
    assert walk.reasons().count("CloudAPIError") == 1
    since = (T0 + timedelta(seconds=40)).isoformat()
    assert walk.events[-1][2].startswith(f"CCE API unavailable since {since},")


def test_a_status_from_before_outages_were_recorded_is_not_announced_twice() -> None:
    walk = Walk("standard")
    walk.observe(31)
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "down"), 40)
    assert walk.stored is not None
    legacy = {k: v for k, v in walk.stored.items() if k != "cloudOutage"}  # Ready said it, at once
    walk.stored = legacy
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "down"), 200)
    assert "CloudAPIError" not in walk.reasons()
    walk.observe(31, now=300)
    assert walk.reasons()[-1] == "CloudAPIRecovered"


def test_transient_error_before_any_success() -> None:
    walk = Walk("standard")
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "cannot connect"), 0)
    assert walk.condition("Ready").status == "Unknown"
    assert walk.condition("Reconciling").status == "True"
    assert walk.condition("Stalled").status == "False"
    assert walk.status.phase is None


def test_configuration_error_stalls_with_a_specific_reason_and_heals() -> None:
    walk = Walk("standard")
    walk.observe(31)
    for second in (35, 40):
        walk.apply(PollFailed(False, "SecretNotFound", "Secret 'creds' not found in namespace 'ns'"), second)
    assert walk.reasons().count("SecretNotFound") == 1
    assert walk.status.phase == "Running"  # the last good observation stays
    assert walk.condition("Stalled").status == "True"
    assert walk.condition("Stalled").reason == "SecretNotFound"
    assert walk.condition("Reconciling").status == "False"
    assert walk.condition("Ready").status == "False"
    walk.observe(41)
    assert walk.condition("Stalled").status == "False"
    assert walk.condition("Ready").reason == "UpgradeInProgress"


def test_unknown_values_are_mirrored_verbatim() -> None:
    scenario = {
        "name": "odd",
        "workflows": [
            {
                "uid": "w",
                "clusterVersion": "v1",
                "targetVersion": "v2",
                "tasks": ["NodePools"],
                "steps": [
                    {"at": 0, "phase": "Init"},
                    {"at": 1, "phase": "Paused", "task": "NodePools", "status": "Waiting"},
                ],
            }
        ],
    }
    walk = Walk(scenario)
    walk.observe(0)
    walk.observe(1)
    assert walk.status.phase == "Paused"
    assert walk.status.tasks[0].status == "Waiting"
    assert walk.condition("Ready").status == "Unknown"
    assert walk.condition("Ready").reason == "UnrecognizedPhase"
    assert walk.reasons()[-2:] == ["TaskStatusChanged", "PhaseChanged"]


def test_last_sync_time_moves_once_per_resync_period() -> None:
    walk = Walk("standard")
    walk.observe(60)
    first = walk.status.last_sync_time
    assert first == T0 + timedelta(seconds=60)
    assert not walk.observe(60 + 599).changed
    result = walk.observe(60 + 600)
    assert result.changed
    assert walk.status.last_sync_time == T0 + timedelta(seconds=660)
    assert result.events == []


def test_last_transition_time_moves_only_when_status_changes() -> None:
    walk = Walk("standard")
    walk.observe(0)
    since = walk.condition("Ready").last_transition_time
    walk.observe(31)  # Ready stays False (reason and message change)
    assert walk.condition("Ready").last_transition_time == since
    walk.observe(56)
    assert walk.condition("Ready").last_transition_time == T0 + timedelta(seconds=56)


def test_generation_is_observed() -> None:
    walk = Walk("standard")
    walk.observe(0, generation=1)
    assert walk.observe(0, generation=2).changed
    assert walk.status.observed_generation == 2
    assert all(c.observed_generation == 2 for c in walk.status.conditions)


def test_suspend_keeps_the_status_and_says_so() -> None:
    walk = Walk("standard")
    walk.observe(31)
    result = suspended(walk.status, 2, T0 + timedelta(seconds=40))
    assert result.changed
    assert result.status.phase == "Running"
    assert result.status.observed_generation == 2
    reconciling = next(c for c in result.status.conditions if c.type == "Reconciling")
    assert (reconciling.status, reconciling.reason) == ("False", "Suspended")


_outcomes = st.one_of(
    st.integers(0, 60).map(lambda s: ("observe", s)),
    st.sampled_from([("fail", True), ("fail", False)]),
)


@settings(max_examples=examples(300), deadline=None)
@given(
    scenario=st.sampled_from(["standard", "failing", "cancelled", "retry", "history"]),
    steps=st.lists(_outcomes, max_size=25),
)
def test_any_sequence_keeps_the_invariants(scenario: str, steps: list[tuple[str, Any]]) -> None:
    walk = Walk(scenario)
    for index, (kind, arg) in enumerate(steps):
        if kind == "observe":
            walk.observe(arg, now=100 + index)  # scenario time may jump about; the clock does not
        else:
            walk.apply(PollFailed(arg, "CloudAPIUnavailable" if arg else "AuthenticationFailed", "x"), 100 + index)
        if walk.stored is None:
            continue
        by_type = {c.type: c.status for c in walk.status.conditions}
        assert set(by_type) == {"Ready", "Reconciling", "Stalled"}
        assert not (by_type["Reconciling"] == "True" and by_type["Stalled"] == "True")
        assert all(re.match(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", c.reason) for c in walk.status.conditions)
        assert all(e[0] in {"Normal", "Warning"} for e in walk.events)


def test_an_answer_during_an_outage_after_a_configuration_failure_does_not_borrow_its_message() -> None:
    walk = Walk("standard")
    walk.observe(31)
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503"), 40)
    walk.apply(PollFailed(False, "AuthenticationFailed", "authentication refused: check the Secret"), 50)
    walk.apply(Observed(walk.observed(31), last_failure=T0 + timedelta(seconds=40)), 60)
    ready = walk.condition("Ready")
    assert (ready.status, ready.reason) == ("Unknown", "CloudAPIUnavailable")
    assert "authentication" not in ready.message
