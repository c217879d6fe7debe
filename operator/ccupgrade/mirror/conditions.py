"""Ready / Reconciling / Stalled as kstatus, Argo CD and `kubectl wait` read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ccupgrade.models import CONDITION_MESSAGE_BYTES, Condition, ConditionStatus, Reason, clip_utf8

READY, RECONCILING, STALLED = "Ready", "Reconciling", "Stalled"
T, F, U = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


@dataclass(frozen=True)
class Verdict:
    """One state of the object, as the three conditions express it (never Reconciling and Stalled both True)."""

    ready: ConditionStatus
    reconciling: bool
    stalled: bool
    reason: Reason
    message: str

    def __post_init__(self) -> None:
        if self.reconciling and self.stalled:
            raise ValueError("Reconciling and Stalled must not both be True")


def apply_verdict(old: list[Condition], verdict: Verdict, generation: int | None, now: datetime) -> list[Condition]:
    """Ready, Reconciling and Stalled for one verdict, in that order; transition times kept where a status stays."""
    wanted = [
        (READY, verdict.ready),
        (RECONCILING, T if verdict.reconciling else F),
        (STALLED, T if verdict.stalled else F),
    ]
    return [
        set_condition(old, kind, status, verdict.reason, verdict.message, generation, now) for kind, status in wanted
    ]


def set_condition(
    old: list[Condition],
    kind: str,
    status: ConditionStatus,
    reason: Reason,
    message: str,
    generation: int | None,
    now: datetime,
) -> Condition:
    """lastTransitionTime moves only when the status does, as the API conventions require."""
    previous = find(old, kind)
    since = previous.last_transition_time if previous is not None and previous.status == status else now
    return Condition(
        type=kind,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=reason,
        message=clip_utf8(message, CONDITION_MESSAGE_BYTES),
    )


def find(conditions: list[Condition], kind: str) -> Condition | None:
    """The condition of this type, or None; the list stays as Kubernetes stored it."""
    return next((c for c in conditions if c.type == kind), None)
