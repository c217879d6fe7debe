"""Bytes from CCE to models, or one ParseError with a short message (never the body itself)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ccupgrade.cce.errors import ParseError
from ccupgrade.models.cce import UpgradeWorkflow, UpgradeWorkflowList

_M = TypeVar("_M", bound=BaseModel)


def _describe(error: ValidationError) -> str:
    details = error.errors(include_input=False, include_url=False)
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "response"
    more = f" (and {len(details) - 1} more problems)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _load(body: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        position = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ParseError(f"response is not valid JSON{position}") from None
    if not isinstance(document, dict):
        raise ParseError(f"response is a JSON {type(document).__name__}, not an object")
    return document


def _validate(model: type[_M], document: dict[str, Any]) -> _M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ParseError(f"unexpected upgrade-workflow response: {_describe(exc)}") from None
    except (TypeError, ValueError, RecursionError) as exc:  # pragma: no cover - defensive
        raise ParseError(f"unexpected upgrade-workflow response: {type(exc).__name__}") from None


def parse_workflow_list(body: bytes | str) -> UpgradeWorkflowList:
    return _validate(UpgradeWorkflowList, _load(body))


def parse_workflow(body: bytes | str) -> UpgradeWorkflow:
    return _validate(UpgradeWorkflow, _load(body))
