"""What `kubectl ccupgrade` shows, as rich renderables built from the objects alone (no I/O here).

Every string that comes from an object or an Event goes through `_text`: a `Text` (which rich never
parses as markup, so `[/x]` cannot crash a table and `[link=...]` cannot become a live link) without
terminal escapes or control characters (`printable`). A str handed to a table would be parsed.

`status` is a list of sections (`STATUS_SECTIONS`), each a function from an `UpgradeView` to a
renderable or None (nothing to show). A later section (pre-check findings, an ETA) is one more
function in that list, reading one more status field; the rest does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ccupgrade.models import Condition, Finding, HistoryEntry, PreCheckView, Reason, TaskView, UpgradeStatus, printable

BAR_WIDTH = 40
_STATUS_STYLE = {
    "Success": "green",
    "Running": "bold yellow",
    "Failed": "bold red",
    "Init": "dim",
    "Queuing": "cyan",
    "Cancel": "magenta",
    "Pending": "bold red",
}


@dataclass(frozen=True)
class EventLine:
    """One Kubernetes Event about the object, as far as the view needs it."""

    when: datetime | None
    type: str
    reason: str
    message: str
    count: int = 1

    @classmethod
    def from_api(cls, event: dict[str, Any]) -> EventLine:
        """One line from an Event body, whichever of its timestamps it has."""
        stamp = (
            event.get("lastTimestamp")
            or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp")
        )
        return cls(
            when=_parse_time(stamp),
            type=str(event.get("type") or ""),
            reason=str(event.get("reason") or ""),
            message=str(event.get("message") or ""),
            count=int(event.get("count") or 1),
        )


@dataclass(frozen=True)
class UpgradeView:
    """One CceClusterUpgrade as the plugin reads it: tolerant of a missing or partly invalid status."""

    namespace: str
    name: str
    cluster_id: str
    created: datetime | None
    status: UpgradeStatus
    status_error: str | None = None
    events: Sequence[EventLine] = field(default_factory=tuple)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_api(
        cls, obj: dict[str, Any], events: Sequence[dict[str, Any]] = (), now: datetime | None = None
    ) -> UpgradeView:
        """The view of one object body and its Events; a status that does not parse is shown as such."""
        metadata = obj.get("metadata") or {}
        raw_status = obj.get("status") or {}
        error = None
        try:
            status = UpgradeStatus.model_validate(raw_status)
        except ValidationError as exc:
            status, error = UpgradeStatus(), f"status does not parse: {exc.error_count()} error(s)"
        oldest = datetime.min.replace(tzinfo=UTC)
        lines = sorted((EventLine.from_api(e) for e in events), key=lambda e: e.when or oldest)
        return cls(
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            cluster_id=str((obj.get("spec") or {}).get("clusterId") or ""),
            created=_parse_time(metadata.get("creationTimestamp")),
            status=status,
            status_error=error,
            events=tuple(lines),
            now=now or datetime.now(UTC),
        )

    def condition(self, kind: str) -> Condition | None:
        """The condition of this type, or None."""
        return next((c for c in self.status.conditions if c.type == kind), None)

    @property
    def not_ready_reason(self) -> str:
        """Why the object is not Ready (what `list` shows): Suspended first, else Ready's reason."""
        reconciling = self.condition("Reconciling")
        if reconciling is not None and reconciling.reason == Reason.SUSPENDED:
            return Reason.SUSPENDED
        ready = self.condition("Ready")
        if ready is None:
            return "" if self.status.phase else "NoStatusYet"
        return "" if ready.status == "True" else ready.reason

    @property
    def stalled(self) -> bool:
        """Whether Stalled is True: a failed or cancelled upgrade, or a configuration problem."""
        stalled = self.condition("Stalled")
        return stalled is not None and stalled.status == "True"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(delta: timedelta | None) -> str:
    """kubectl's style: 45s, 12m, 3h10m, 2d4h."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s" if minutes < 10 and seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def _ago(now: datetime, when: datetime | None) -> str:
    return "never" if when is None else f"{human_duration(now - when)} ago"


def _clock(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%H:%M:%S") if when else "-"


def _text(value: object, style: str = "", *, empty: str = "-") -> Text:
    """An outside string as plain text: never markup, no escapes or control characters."""
    return Text(printable(str(value)) if value not in (None, "") else empty, style=style)


def _phase_text(phase: str | None) -> Text:
    return _text(phase, _STATUS_STYLE.get(phase or "", ""))


def _versions(status: UpgradeStatus | HistoryEntry) -> Text:
    """`from → to` of a status or a history entry, '?' where one is unknown."""
    return Text.assemble(_text(status.cluster_version, empty="?"), " → ", _text(status.target_version, empty="?"))


# -- list -------------------------------------------------------------------------------------------


def list_table(views: Sequence[UpgradeView], all_namespaces: bool) -> Table:
    """The fleet at a glance: one row per object."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    if all_namespaces:
        table.add_column("NAMESPACE", no_wrap=True)
    for column in (
        "NAME",
        "CLUSTER",
        "FROM → TO",
        "PHASE",
        "PROGRESS",
        "ETA",
        "TASK",
        "NEXT",
        "SYNCED",
        "REASON",
        "AGE",
    ):
        table.add_column(column, no_wrap=column != "REASON")
    for view in views:
        status = view.status
        reason = view.not_ready_reason
        row: list[RenderableType] = [
            _text(view.name),
            _text(view.cluster_id),
            _versions(status) if status.phase else "-",
            _phase_text(status.phase),
            _text(status.progress),
            _text(status.eta.text, "yellow" if status.slow else "") if status.eta else "-",
            _text(status.current_task),
            next_text(status),
            _ago(view.now, status.last_sync_time) if status.last_sync_time else "-",
            _text(reason, "bold red" if view.stalled else "yellow", empty=""),
            human_duration(view.now - view.created) if view.created else "-",
        ]
        table.add_row(*([_text(view.namespace), *row] if all_namespaces else row))
    return table


# -- status -----------------------------------------------------------------------------------------


def _header(view: UpgradeView) -> RenderableType:
    status = view.status
    title = Text.assemble(("CceClusterUpgrade ", "bold"), _text(f"{view.namespace}/{view.name}", "bold cyan"))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Cluster", _text(view.cluster_id))
    if status.workflow is None and not status.phase and status.available is not None:
        facts.add_row("Upgrade", Text("none yet: CCE lists no workflow (see Between upgrades)"))
    else:
        facts.add_row("Upgrade", _versions(status))
    facts.add_row("Phase", Text.assemble(_phase_text(status.phase), "   progress ", _text(status.progress)))
    if status.current_task:
        facts.add_row("Task", _text(status.current_task))
    if status.workflow and status.workflow.uid:
        created = f" (created {_ago(view.now, status.workflow.created)})"
        facts.add_row("Workflow", Text.assemble(_text(status.workflow.uid), created))
    facts.add_row("Last sync", _ago(view.now, status.last_sync_time))
    if view.status_error:
        facts.add_row("Warning", Text(view.status_error, style="red"))
    return Group(title, facts)


def _span(tasks: Sequence[TaskView], now: datetime) -> tuple[datetime, datetime] | None:
    starts = [t.start_time for t in tasks if t.start_time]
    if not starts:
        return None
    ends = [t.end_time or now for t in tasks if t.start_time]
    start, end = min(starts), max(ends)
    return start, max(end, start + timedelta(seconds=1))


def _bar(task: TaskView, span: tuple[datetime, datetime] | None, now: datetime, width: int) -> Text:
    style = _STATUS_STYLE.get(task.status or "", "")
    if span is None or task.start_time is None:
        return Text("·" * width, style="dim")
    origin, end = span
    total = (end - origin).total_seconds()
    first = int((task.start_time - origin).total_seconds() / total * width)
    stop = task.end_time or now
    last = max(first + 1, round((stop - origin).total_seconds() / total * width))
    first, last = min(first, width - 1), min(last, width)
    glyph = {"Failed": "✗", "Running": "▶"}.get(task.status or "", "")
    body = "━" * (last - first)
    if glyph == "✗" or (glyph and task.end_time is None):
        body = body[:-1] + glyph
    return Text.assemble(("·" * first, "dim"), (body, style), ("·" * (width - last), "dim"))


def _timeline(view: UpgradeView) -> RenderableType | None:
    tasks = view.status.tasks
    if not tasks:
        return None
    span = _span(tasks, view.now)
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.title = "Tasks"
    table.title_style = "bold"
    for column in ("TASK", "STATUS", "START", "END", "TOOK"):
        table.add_column(column, no_wrap=True)
    axis = f"{_clock(span[0])} … {_clock(span[1])} UTC" if span else "not started"
    table.add_column(axis, no_wrap=True)
    for task in tasks:
        took = None
        if task.start_time:
            took = (task.end_time or view.now) - task.start_time
        running = task.start_time is not None and task.end_time is None and task.status == "Running"
        table.add_row(
            _text(task.type),
            _phase_text(task.status),
            _clock(task.start_time),
            _clock(task.end_time) if task.end_time else ("running" if running else "-"),
            human_duration(took) + ("…" if running else "") if took else "-",
            _bar(task, span, view.now, BAR_WIDTH),
        )
    return table


def _conditions(view: UpgradeView) -> RenderableType | None:
    if not view.status.conditions:
        return Text("No status yet: the operator has not reconciled this object.", style="yellow")
    table = Table(box=None, header_style="bold", pad_edge=False, title="Conditions", title_justify="left")
    table.title_style = "bold"
    for column in ("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"):
        table.add_column(column, no_wrap=column != "MESSAGE")
    shown: set[str] = set()
    for c in view.status.conditions:
        style = ""
        if view.stalled and c.type in ("Ready", "Stalled"):
            style = "bold red"
        elif c.type == "Ready" and c.status != "True":
            style = "yellow"
        message = Text("(same as above)", style="dim") if c.message in shown else _text(c.message, empty="")
        shown.add(c.message)
        table.add_row(
            _text(c.type),
            c.status.value,
            _text(c.reason, style),
            _ago(view.now, c.last_transition_time),
            message,
        )
    return table


def _events(view: UpgradeView, limit: int = 10) -> RenderableType | None:
    if not view.events:
        return None
    table = Table(box=None, header_style="bold", pad_edge=False, title="Recent events", title_justify="left")
    table.title_style = "bold"
    for column in ("AGE", "TYPE", "REASON", "MESSAGE"):
        table.add_column(column, no_wrap=column != "MESSAGE")
    for event in list(view.events)[-limit:]:
        table.add_row(
            _ago(view.now, event.when),
            _text(event.type, "red" if event.type == "Warning" else ""),
            _text(event.reason),
            _text(event.message, empty=""),
        )
    return table


def _history(view: UpgradeView) -> RenderableType | None:
    if not view.status.history:
        return None
    table = Table(box=None, header_style="bold", pad_edge=False, title="History", title_justify="left")
    table.title_style = "bold"
    for column in ("WORKFLOW", "PHASE", "FROM → TO", "CREATED", "UPDATED"):
        table.add_column(column, no_wrap=True)
    for entry in view.status.history:
        table.add_row(
            _text((entry.uid or "")[:13]),
            _phase_text(entry.phase),
            _versions(entry),
            _ago(view.now, entry.created),
            _ago(view.now, entry.updated),
        )
    return table


def _eta(view: UpgradeView) -> RenderableType | None:
    """The running task's own progress, the estimated end and any slowness."""
    status = view.status
    if status.task_progress is None and status.eta is None and status.slow is None:
        return None
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    progress = status.task_progress
    if progress is not None:
        percent = f"{progress.percent:.0f}%" if progress.percent is not None else "-"
        moved = f" (unchanged since {_ago(view.now, progress.since)})" if progress.since else ""
        facts.add_row(Text.assemble(_text(progress.task), " task"), f"{percent}{moved}")
        if progress.error:
            facts.add_row("", _text(progress.error, "yellow"))
    eta = status.eta
    if eta is not None:
        basis = {"history": "this cluster's past upgrades", "peers": "other clusters between the same versions"}
        how = f"from {basis[eta.basis]}, {eta.samples} task runs" if eta.basis in basis else "no past upgrade to go by"
        if eta.task and eta.task_end:
            facts.add_row(Text.assemble(_text(eta.task), " ends"), f"{_clock(eta.task_end)} UTC")
        facts.add_row("ETA", Text.assemble(_text(eta.text, "bold"), f"   {how}"))
    if status.slow is not None:
        facts.add_row("Slow", _text(status.slow.message, "bold yellow"))
    return Group(Text("Progress", style="bold"), facts)


def _findings(view: UpgradeView) -> RenderableType | None:
    """The pre-check's findings that matter (Exceptions, Risks, Warning/Fatal), most severe first."""
    return _precheck_table(view.status.pre_check, "Pre-check")


def _precheck_table(pre: PreCheckView | None, name: str) -> RenderableType | None:
    if pre is None or (not pre.findings and not pre.error and not pre.expired):
        return None
    title = Text.assemble(printable(f"{name} "), _text(pre.phase))
    if pre.expire_time:
        title.append(f", result {'expired' if pre.expired else 'valid until'} {_clock(pre.expire_time)} UTC")
    table = Table(box=None, header_style="bold", pad_edge=False, title=title, title_justify="left")
    table.title_style = "bold red" if pre.phase == "Failed" or pre.expired else "bold"
    for column in ("KIND", "LEVEL", "CHECK", "WHERE", "MESSAGE"):
        table.add_column(column, no_wrap=column != "MESSAGE")
    for finding in pre.findings or []:
        style = "red" if finding.kind == "Exception" else "yellow"
        table.add_row(
            _text(finding.kind, style),
            _text(finding.level),
            _text(finding.name),
            _text(finding.where, empty=""),
            _text(finding.message, empty=""),
        )
        for row in deprecated_api_rows(finding):
            table.add_row("", "", "", "", row)
    if pre.more_findings:
        table.add_row("", "", Text(f"… and {pre.more_findings} more", style="dim"), "", "")
    if pre.error:
        table.add_row("", "", _text(pre.error, "yellow"), "", "")
    return table


# -- between upgrades -------------------------------------------------------------------------------


def next_text(status: UpgradeStatus) -> Text:
    """The `list` NEXT column: the newest version reachable and the steps to it, else a suggested patch."""
    available = status.available
    if available is None or not available.current_version:
        return Text("-")
    if available.newest_version and available.newest_version != available.current_version:
        steps = available.steps_to_newest or 1
        return Text(printable(f"{available.newest_version} ({steps} step{'s' if steps != 1 else ''})"), style="cyan")
    if available.suggested_patch:
        return Text(printable(f"{available.suggested_patch} (patch)"), style="cyan")
    return Text("up to date", style="green")


def deprecated_api_rows(finding: Finding) -> list[Text]:
    """One line per deprecated API use under its finding: path, client, calls (plain text, never markup)."""
    rows = []
    for use in finding.deprecated_apis or []:
        calls = f"{use.calls} call{'s' if use.calls != 1 else ''}"
        rows.append(Text(printable(f"↳ {use.url}  by {use.user_agent or 'an unknown client'}  {calls}"), style="dim"))
    if finding.more_deprecated_apis:
        rows.append(Text(f"↳ … and {finding.more_deprecated_apis} more", style="dim"))
    return rows


def between_upgrades(view: UpgradeView) -> RenderableType | None:
    """The cluster's version and what is next, as CCE offers it (read while no upgrade runs)."""
    available = view.status.available
    if available is None:
        return None
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Version", _text(available.current_version, empty="?"))
    if available.suggested_patch:
        facts.add_row("Suggested patch", _text(available.suggested_patch, "cyan"))
    facts.add_row("Targets", _text(", ".join(available.target_versions or []), empty="none offered"))
    if available.newest_version:
        steps = available.steps_to_newest or 1
        behind = available.minor_versions_behind
        facts.add_row(
            "Newest",
            Text.assemble(
                (printable(available.newest_version), "bold cyan"),
                f"   {steps} upgrade{'s' if steps != 1 else ''} away",
                f", {behind} minor version{'s' if behind != 1 else ''} behind" if behind else "",
            ),
        )
    if available.checked_time:
        facts.add_row("Checked", _ago(view.now, available.checked_time))
    if available.error:
        facts.add_row("Warning", _text(available.error, "yellow"))
    return Group(Text("Between upgrades", style="bold"), facts)


def latest_pre_check(view: UpgradeView) -> RenderableType | None:
    """The cluster's newest pre-check (also one run from the console), unless it is the workflow's own."""
    latest = view.status.latest_pre_check
    own = view.status.pre_check
    if latest is None or (own is not None and own.task_id == latest.task_id):
        return None
    target = printable(f" for {latest.target_version}") if latest.target_version else ""
    table = _precheck_table(latest, f"Latest pre-check{target}:")
    if table is not None:
        return table
    expiry = f", valid until {_clock(latest.expire_time)} UTC" if latest.expire_time else ""
    return Text(printable(f"Latest pre-check{target}: {latest.phase or '-'}{expiry}, nothing to fix"))


Section = Callable[[UpgradeView], RenderableType | None]
STATUS_SECTIONS: list[Section] = [
    _header,
    between_upgrades,
    _eta,
    _findings,
    latest_pre_check,
    _timeline,
    _conditions,
    _events,
    _history,
]


def status_view(view: UpgradeView, sections: Sequence[Section] = STATUS_SECTIONS) -> Group:
    """The `status` screen: each section that has something to show, a blank line apart."""
    parts: list[RenderableType] = []
    for section in sections:
        rendered = section(view)
        if rendered is not None:
            if parts:
                parts.append(Text(""))
            parts.append(rendered)
    return Group(*parts)
