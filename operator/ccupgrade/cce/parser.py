"""Bytes from CCE to models, or one ParseError with a short message (never the body itself).

A malformed workflow item or field is left out by the models (and logged here once); only a body
that is not JSON, not an object, or whose `items` is not a list at all is a ParseError.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ccupgrade.cce.errors import ParseError
from ccupgrade.models import UpgradeWorkflowList

_M = TypeVar("_M", bound=BaseModel)
log = logging.getLogger("ccupgrade.cce.parser")

# What was already logged at WARNING: the same malformed item comes back at every poll, and one
# line about it is enough (later sightings go to DEBUG). Bounded, so odd data cannot grow it.
_REPORTED: set[str] = set()
_REPORTED_MAX = 1000


def _describe(error: ValidationError) -> str:
    details = error.errors(include_input=False, include_url=False)
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "response"
    more = f" (and {len(details) - 1} more problems)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _load(body: bytes | str, what: str = "") -> dict[str, Any]:
    """The body's JSON object, or a ParseError naming `what` response it was."""
    response = f"{what} response" if what else "response"
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        position = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ParseError(f"{response} is not valid JSON{position}") from None
    if not isinstance(document, dict):
        raise ParseError(f"{response} is a JSON {type(document).__name__}, not an object")
    return document


def _report(dropped: list[str]) -> None:
    """Logs what the tolerant models left out: once at WARNING per distinct problem, then DEBUG."""
    for what in dropped:
        if what in _REPORTED:
            log.debug("CCE response: %s", what)
            continue
        if len(_REPORTED) >= _REPORTED_MAX:
            _REPORTED.clear()
        _REPORTED.add(what)
        log.warning("CCE response: %s (the rest of the response is used)", what)


def _validate(model: type[_M], document: dict[str, Any]) -> _M:
    dropped: list[str] = []
    try:
        parsed = model.model_validate(document, context={"dropped": dropped})
        _report(dropped)
        return parsed
    except ValidationError as exc:
        raise ParseError(f"unexpected upgrade-workflow response: {_describe(exc)}") from None
    except (TypeError, ValueError, RecursionError) as exc:  # pragma: no cover - defensive
        raise ParseError(f"unexpected upgrade-workflow response: {type(exc).__name__}") from None


def parse_workflow_list(body: bytes | str) -> UpgradeWorkflowList:
    """The upgrade-workflow list, with malformed items left out and reported once."""
    return _validate(UpgradeWorkflowList, _load(body))


def parse(model: type[_M], body: bytes | str, what: str) -> _M:
    """Bytes to a task-detail model, or one ParseError naming `what` was wrong (never echoing the body)."""
    document = _load(body, what)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "response"
        raise ParseError(f"unexpected {what} response: {where}: {first['msg']}") from None
