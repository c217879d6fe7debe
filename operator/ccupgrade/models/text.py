"""Text from outside (CCE, objects, Events) made safe for a terminal: one pure function.

A CCE message, an Event or a status field may carry terminal escapes (an OSC title, `ESC[2J`, an
OSC-8 hyperlink), raw C0/C1 control characters or bidirectional overrides. kubectl, `kubectl
describe`, log viewers and the plugin print these strings to terminals, so the operator writes none
of them into condition and Event messages, and the plugin removes them before it renders anything.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Whole escape sequences first, so that `ESC[31mError` becomes `Error`, not `[31mError`.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor moves, `ESC[2J`), 7- or 8-bit
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC/DCS/SOS/PM/APC to BEL or ST
    r"|\x1b[ -/]*[0-~]"  # any other escape (charset switches, RIS `ESC c`, ...)
)
# Then every control character left (C0 but tab and line feed, DEL, C1) and the bidirectional
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which reorder what follows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without terminal escape sequences and control characters; tab and line feed stay
    (they only move the cursor on), a carriage return before a line feed goes, any other becomes a
    space (it would overwrite the line on a terminal)."""
    if text.isprintable():  # the common case, in C: nothing to do
        return text
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\r\n", "\n").replace("\r", " ")
    return _CONTROL.sub("", text)


PrintableStr = Annotated[str, AfterValidator(printable)]
"""A model field whose value is stored without control characters, whatever the caller passed."""
