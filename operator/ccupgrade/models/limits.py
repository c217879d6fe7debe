"""Byte limits where our strings meet the API server, and the one way to cut a string to one.

The API server counts bytes (Go's `len`), not characters: CCE answers in Chinese in its Chinese
regions, 3 bytes a character, so a cut at 1,024 characters made Events of up to 3 KB that were
refused (422) and lost. A cut falls on a UTF-8 character boundary and ends in "…", so a reader
sees that text is missing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

EVENT_MESSAGE_BYTES = 1024  # core/v1 Event .message (ValidateEvent: NoteLengthLimit)
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


def _bounded(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: clip_utf8(text, limit))


EventMessage = Annotated[str, _bounded(EVENT_MESSAGE_BYTES)]
ConditionMessage = Annotated[str, _bounded(CONDITION_MESSAGE_BYTES)]
