"""Per-credential failure counts: a refused AK/SK is tried once per round, however many clusters use it.

CCE (IAM) locks an access key after a few bad attempts, so N clusters sharing one bad Secret must
not make N attempts per interval. Until a credential has worked once, its polls go one at a time
(the first answer decides for the others); after a refusal, every poll with it waits out a
backoff and gets the refusal without a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ccupgrade.mirror import Outcome, PollFailed
from ccupgrade.models import Reason
from ccupgrade.scheduler.intervals import IntervalPolicy

REFUSED = frozenset({Reason.AUTHENTICATION_FAILED})


@dataclass(frozen=True)
class CredentialKey:
    """One credential on one endpoint: the Secret, where it is used, and a digest of its keys
    (a rotated Secret is a new credential and is tried at once)."""

    namespace: str
    secret_name: str
    endpoint: str
    fingerprint: str


@dataclass
class _State:
    trusted: bool = False  # answered once without a refusal
    failures: int = 0
    blocked_until: float = 0.0
    refusal: PollFailed | None = None
    probe: asyncio.Future[None] | None = None


class CredentialHealth:
    """Decides whether a poll may use a credential now, and counts its refusals."""

    def __init__(self, policy: IntervalPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._states: dict[CredentialKey, _State] = {}

    def forget(self, key: CredentialKey) -> None:
        """No poll uses the credential any more (its objects are gone, its Secret rotated)."""
        self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)

    def blocked_until(self, key: CredentialKey) -> float:
        """When a refused credential may be tried again (clock time), or 0.0 if it is not blocked."""
        state = self._states.get(key)
        return state.blocked_until if state is not None and state.refusal is not None else 0.0

    def failures(self, key: CredentialKey) -> int:
        """How many refusals in a row the credential has had."""
        state = self._states.get(key)
        return state.failures if state is not None else 0

    async def call(self, key: CredentialKey, request: Callable[[], Awaitable[Outcome]]) -> tuple[Outcome, bool]:
        """(outcome, whether a request was made). A blocked credential answers its last refusal."""
        state = self._states.setdefault(key, _State())
        while True:
            if state.refusal is not None and self._clock() < state.blocked_until:
                return state.refusal, False
            if state.trusted:
                break
            if state.probe is None:
                return await self._probe(key, state, request), True
            await asyncio.shield(state.probe)  # another poll is finding out whether it works
        outcome = await request()
        self._record(key, state, outcome)
        return outcome, True

    async def _probe(self, key: CredentialKey, state: _State, request: Callable[[], Awaitable[Outcome]]) -> Outcome:
        state.probe = asyncio.get_running_loop().create_future()
        try:
            outcome = await request()
            self._record(key, state, outcome)
            return outcome
        finally:
            state.probe.set_result(None)
            state.probe = None

    def _record(self, key: CredentialKey, state: _State, outcome: Outcome) -> None:
        if isinstance(outcome, PollFailed) and outcome.reason in REFUSED:
            now = self._clock()
            if state.refusal is not None and now < state.blocked_until:
                return  # a request that was already under way when the first refusal came
            state.trusted = False
            state.failures += 1
            state.refusal = outcome
            state.blocked_until = now + self._policy.credential_backoff(state.failures)
        else:
            state.trusted = True
            state.failures = 0
            state.refusal = None
