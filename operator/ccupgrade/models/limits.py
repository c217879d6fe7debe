"""Byte limits where our strings meet the API server, and the one way to cut a string to one.

The API server counts bytes (Go's `len`), not characters: CCE answers in Chinese in its Chinese
regions, 3 bytes a character, so a cut at 1,024 characters made Events of up to 3 KB that were
refused (422) and lost. A cut falls on a UTF-8 character boundary and ends in "…", so a reader
sees that text is missing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from ccupgrade.models.text import printable

EVENT_MESSAGE_BYTES = 1024  # core/v1 Event .message (ValidateEvent: NoteLengthLimit)
CCE_NAME_BYTES = 256  # a CCE identifier, type, status, phase or version as status keeps it
CCE_TEXT_BYTES = 1024  # a CCE explanation (a pre-check's, a finding's) or a detail call's error
MAX_TASKS = 64  # tasks of one workflow in status (CCE's have 4 to 6)
MAX_LINES = 128  # edges of its graph
MAX_FINDING_COUNTS = 32  # (kind, level) pairs counted
# The whole status, as JSON. etcd refuses an object over 1.5 MiB (spec, metadata and status); with
# every string and list above at its bound (and spec.historyLimit at 50, `available` and
# `latestPreCheck` included) a status measures 433,796 bytes, ~0.41 MiB
# (tests/unit/test_status_bound.py builds it), and a write over this bound is not sent: the last
# good status stays, with its Events and a condition saying why.
MAX_STATUS_BYTES = 512 * 1024
EVENT_FIELD_BYTES = 128  # core/v1 Event .reason, .action, .reportingInstance
CONDITION_MESSAGE_BYTES = 32768  # metav1.Condition .message
ELLIPSIS = "…"


def clip_utf8(text: str, limit: int) -> str:
    """`text` in at most `limit` bytes of UTF-8, cut on a character boundary, with "…" at a cut.

    Lone surrogates (JSON allows `\\ud800`; UTF-8 cannot carry them) become "?" first."""
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
        text = raw.decode()
    if len(raw) <= limit:
        return text
    mark = ELLIPSIS.encode()
    if limit < len(mark):
        return raw[:limit].decode("utf-8", "ignore")
    return raw[: limit - len(mark)].decode("utf-8", "ignore") + ELLIPSIS


def _bounded(limit: int) -> BeforeValidator:
    """Text without terminal escapes and control characters (`printable`: kubectl, log viewers and
    notification tools print these strings to terminals), then cut to `limit` bytes, before the
    field's own checks (a CRD maxLength counts characters, not bytes). Cleaning first: a cut inside
    an escape sequence would leave its visible rest, and escapes would use up the byte budget."""
    return BeforeValidator(lambda value: clip_utf8(printable(value), limit) if isinstance(value, str) else value)


def _capped(count: int) -> AfterValidator:
    return AfterValidator(lambda items: items[:count])


EventMessage = Annotated[str, _bounded(EVENT_MESSAGE_BYTES)]
ConditionMessage = Annotated[str, _bounded(CONDITION_MESSAGE_BYTES)]
CceName = Annotated[str, _bounded(CCE_NAME_BYTES)]
CceText = Annotated[str, _bounded(CCE_TEXT_BYTES)]
TASKS_CAP = _capped(MAX_TASKS)
LINES_CAP = _capped(MAX_LINES)
COUNTS_CAP = _capped(MAX_FINDING_COUNTS)
