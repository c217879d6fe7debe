"""The CCE upgrade-workflow API's shapes, tolerant of what real responses do.

Real responses differ from the reference page: `items` may be one object instead of a list,
every field but `taskType` may be missing, timestamps come in Go's `time.String()` form,
`critical` is a string or a boolean, and new enum values appear. All of that is accepted here;
enum-like values stay plain strings so a value CCE adds tomorrow is mirrored, not rejected.

Tolerance is per item: a field that holds the wrong kind of value (an annotation that is an
object, a phase that is a list) is dropped, and an item that cannot stand without it (a point with
no `taskType`, a workflow that is not an object) is dropped from its list; the rest is kept. What
was dropped is collected in the validation context's `dropped` list (when the caller gives one),
so the parser can log it without the models doing I/O. Only a document whose `items` is not a
list (or one object) at all fails.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

# Go's time.Time.String(): "2023-11-24 08:39:15.894417 +0000 UTC", maybe with " m=+0.000123".
_GO_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?:\s*(?P<offset>Z|[+-]\d{2}:?\d{2}))?(?:\s+[A-Za-z]{1,5})?(?:\s+m=[+-][0-9.]+)?$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """Any timestamp CCE sends, as an aware UTC datetime; None when absent or unreadable.

    Unreadable becomes None rather than an error: one garbled time must not hide a whole workflow.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    match = _GO_TIME.match(value.strip())
    if not match:
        return None
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    offset = match["offset"] or "+0000"
    if offset == "Z":
        offset = "+0000"
    offset = offset.replace(":", "")
    try:
        parsed = datetime.strptime(f"{match['date']} {match['time']}.{frac} {offset}", "%Y-%m-%d %H:%M:%S.%f %z")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def _text(value: Any) -> Any:
    """Scalars become strings (a numeric ID is still an ID); structures stay and fail validation."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _drop(info: ValidationInfo, what: str) -> None:
    """Notes a dropped field or item in the caller's context (the parser logs it)."""
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("dropped"), list):
        where = context.get("item")
        context["dropped"].append(f"{where}: {what}" if where else what)


def _optional_text(value: Any, info: ValidationInfo) -> Any:
    """Like _text, but a structure where text belongs is dropped (None) instead of failing the item."""
    value = _text(value)
    if value is None or isinstance(value, str):
        return value
    _drop(info, f"{info.field_name}: a JSON {type(value).__name__} where text belongs")
    return None


def _object_or_empty(value: Any, info: ValidationInfo) -> Any:
    """null is an empty object; anything else that is not an object is dropped as one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        _drop(info, f"{info.field_name}: a JSON {type(value).__name__}, not an object")
        return {}
    return value


def _workflow_label(index: int, item: Any) -> str:
    """`items[2] (uid …)`: names a workflow in what the parser logs."""
    metadata = item.get("metadata") if isinstance(item, dict) else None
    uid = metadata.get("uid") if isinstance(metadata, dict) else None
    return f"items[{index}]" + (f" (uid {uid[:64]})" if isinstance(uid, str) and uid else "")


def _each_item(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo, *, workflows: bool = False
) -> list[Any]:
    """Validates a list item by item and leaves out the items that fail, noting each one."""
    if value is None:
        return []
    if not isinstance(value, list):
        _drop(info, f"{info.field_name}: a JSON {type(value).__name__}, not a list")
        return []
    context = info.context if isinstance(info.context, dict) else {}
    kept: list[Any] = []
    for index, item in enumerate(value):
        if workflows:
            context["item"] = _workflow_label(index, item)
        try:
            kept.extend(handler([item]))
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"][1:])
            what = "left out" if workflows else f"{info.field_name}[{index}] left out"
            _drop(info, f"{what}: {where + ': ' if where else ''}{first['msg']}")
    if workflows:
        context.pop("item", None)
    return kept


def _optional_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
    return None


Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]
Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
LooseBool = Annotated[bool | None, BeforeValidator(_optional_bool)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class PointStatus(_Model):
    """One task (point) of a workflow as CCE lists it; only `taskType` is required."""

    task_type: Text = Field(alias="taskType", min_length=1)
    task_id: OptionalText = Field(default=None, alias="taskID")
    status: OptionalText = None
    start_time: Timestamp = Field(default=None, alias="startTimeStamp")
    end_time: Timestamp = Field(default=None, alias="endTimeStamp")
    expire_time: Timestamp = Field(default=None, alias="expireTimeStamp")


class LineStatus(_Model):
    """One edge of the workflow graph; CCE sends its ends as task types or as objects holding one."""

    start_point: OptionalText = Field(default=None, alias="startPoint")
    end_point: OptionalText = Field(default=None, alias="endPoint")
    critical: LooseBool = None

    @field_validator("start_point", "end_point", mode="before")
    @classmethod
    def _task_type_of(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value.get("taskType")
        return value


class WorkflowMetadata(_Model):
    """A workflow's identity and timestamps; annotations that are not text are dropped, not fatal."""

    uid: OptionalText = None
    name: OptionalText = None
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: Timestamp = Field(default=None, alias="creationTimestamp")
    update_timestamp: Timestamp = Field(default=None, alias="updateTimestamp")

    @field_validator("annotations", mode="before")
    @classmethod
    def _annotations(cls, value: Any, info: ValidationInfo) -> Any:
        """Text values are kept (scalars as text); an object or list as a value drops that one key."""
        if not isinstance(value, dict):
            if value is not None:
                _drop(info, f"annotations: a JSON {type(value).__name__}, not an object")
            return {}
        kept: dict[str, str] = {}
        for key, raw in value.items():
            text = _text(raw)
            if isinstance(text, str):
                kept[str(key)] = text
            else:
                _drop(info, f"annotations[{str(key)[:63]!r}]: a JSON {type(raw).__name__} where text belongs")
        return kept


class WorkflowSpec(_Model):
    """Which cluster a workflow upgrades, from which version to which."""

    cluster_id: OptionalText = Field(default=None, alias="clusterID")
    cluster_version: OptionalText = Field(default=None, alias="clusterVersion")
    target_version: OptionalText = Field(default=None, alias="targetVersion")


class WorkflowStatus(_Model):
    """A workflow's phase and graph; one malformed point or line is left out, the rest kept."""

    phase: OptionalText = None
    point_statuses: list[PointStatus] = Field(default_factory=list, alias="pointStatuses")
    line_statuses: list[LineStatus] = Field(default_factory=list, alias="lineStatuses")

    @field_validator("point_statuses", "line_statuses", mode="wrap")
    @classmethod
    def _tolerant_lists(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[Any]:
        return _each_item(value, handler, info)


class UpgradeWorkflow(_Model):
    """One CCE upgrade workflow, parsed tolerantly: missing parts become empty, never an error."""

    kind: OptionalText = None
    api_version: OptionalText = Field(default=None, alias="apiVersion")
    metadata: Annotated[WorkflowMetadata, BeforeValidator(_object_or_empty)] = Field(default_factory=WorkflowMetadata)
    spec: Annotated[WorkflowSpec, BeforeValidator(_object_or_empty)] = Field(default_factory=WorkflowSpec)
    status: Annotated[WorkflowStatus, BeforeValidator(_object_or_empty)] = Field(default_factory=WorkflowStatus)


class UpgradeWorkflowList(_Model):
    """CCE's answer to listing a cluster's upgrade workflows; one bad item does not fail the list."""

    kind: OptionalText = None
    api_version: OptionalText = Field(default=None, alias="apiVersion")
    items: list[UpgradeWorkflow] = Field(default_factory=list)

    @field_validator("items", mode="wrap")
    @classmethod
    def _items_as_list(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[Any]:
        """One bad workflow is left out; `items` that is neither a list nor one object fails the list."""
        if value is None or value == {}:
            return []
        if isinstance(value, dict):
            value = [value]  # the reference page's own example sends a single object
        if not isinstance(value, list):
            return list(handler(value))  # raises: this is not the list shape at all
        return _each_item(value, handler, info, workflows=True)
