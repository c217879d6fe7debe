"""Faults injected per cluster (or everywhere): what a flaky cloud API does to its clients."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

FaultKind = Literal[
    "status", "throttle", "delay", "malformed", "contentType", "oversized", "drop", "singleObject", "malformedItem"
]


class Fault(BaseModel):
    """One fault. `times` counts the requests it still affects; None means until cleared.

    `cycle` and `burst` make it flap: of every `cycle` requests that reach it, the first `burst` get
    it and the others pass on (to the next fault, or a normal answer). A client that retries a 5xx
    three times within one read sees every other read fail with cycle 5, burst 4."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: FaultKind
    times: int | None = Field(default=None, ge=1)
    status: int = Field(default=503, ge=400, le=599, description="for kind=status")
    shape: Literal["camel", "snake"] = Field(default="camel", description="errorCode/errorMessage or error_code/…")
    code: str = "CCE.01500001"
    message: str = "Internal server error, please try again later."
    retry_after: float = Field(default=1.0, alias="retryAfter", ge=0)
    seconds: float = Field(default=60.0, ge=0, description="for kind=delay")
    value: str = Field(default="text/html; charset=utf-8", description="for kind=contentType")
    size: int = Field(default=8 * 1024 * 1024, ge=0, description="for kind=oversized, in bytes")
    cycle: int = Field(default=1, ge=1, description="requests per flap cycle (1: no flapping)")
    burst: int = Field(default=1, ge=1, description="requests of each cycle that get the fault, from its start")
    _reached: int = PrivateAttr(default=0)  # requests that reached this fault, for the flap cycle

    @model_validator(mode="after")
    def _burst_within_cycle(self) -> Fault:
        if self.burst > self.cycle:
            raise ValueError(f"burst ({self.burst}) must not exceed cycle ({self.cycle})")
        return self

    def flaps_off(self) -> bool:
        """Counts one request reaching this fault; True if it falls outside the cycle's burst."""
        position = self._reached % self.cycle
        self._reached += 1
        return position >= self.burst


class FaultsDocument(BaseModel):
    """What `PUT /_sim/faults` (and a cluster's `…/faults`) accepts: `{"faults": [...]}`, replacing the list."""

    model_config = ConfigDict(extra="forbid")

    faults: list[Fault] = []


class FaultList:
    """Faults in order; the first that is still active decides what a request gets."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def replace(self, faults: list[Fault]) -> None:
        """Replaces the whole list (a PUT of the faults document)."""
        self.faults = list(faults)

    def clear(self) -> None:
        """Removes every fault: requests are answered normally again."""
        self.faults = []

    def take(self) -> Fault | None:
        """The fault the next request gets, counting it against its `times`; None if none is active."""
        for fault in self.faults:
            if fault.cycle > 1 and fault.flaps_off():
                continue
            if fault.times is None:
                return fault
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None
