"""A pre-check task's detail as the few findings a human must see, capped so status stays small."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ccupgrade.models import (
    DeprecatedApiUse,
    Finding,
    FindingCount,
    PreCheckItem,
    PreCheckTask,
    PreCheckView,
    clip_utf8,
    printable,
)

DEFAULT_CAP = 10
API_CAP = 5  # deprecated API uses listed per finding, most-called first
TEXT_BYTES = 256  # an API path or a user agent from CCE, at most (UTF-8 bytes)
KNOWN_KINDS = {"Exception", "Risk"}
KNOWN_LEVELS = {"Info", "Warning", "Fatal"}
PASSED = {"Success"}
_KIND_ORDER = {"Exception": 0, "Risk": 2}
_LEVEL_ORDER = {"Fatal": 0, "Warning": 1, "Info": 3}


def matters(item: PreCheckItem) -> bool:
    """Every Exception, Risk and Warning/Fatal item that did not pass; unknown kinds and levels too.

    An unknown kind or level is kept rather than hidden: CCE may add a severity this operator does
    not know, and a finding shown in excess is cheaper than one swallowed.
    """
    if item.phase in PASSED:
        return False
    if item.kind in KNOWN_KINDS or item.level in {"Warning", "Fatal"}:
        return True
    unknown_kind = item.kind is not None and item.kind not in KNOWN_KINDS
    unknown_level = item.level is not None and item.level not in KNOWN_LEVELS
    return unknown_kind or unknown_level


def _addon_name(item: PreCheckItem) -> str | None:
    for risk in item.risk_source.addon_risks:
        if risk.alias or risk.addon_template_name:
            return risk.alias or risk.addon_template_name
    return None


def _located(task: PreCheckTask) -> list[tuple[str, PreCheckItem]]:
    status = task.status
    found = [("cluster", item) for item in status.cluster.items]
    for item in status.addons.items:
        name = _addon_name(item)
        found.append((f"add-on {name}" if name else "add-on", item))
    for stage in status.nodes.stages:
        node = stage.node.name or stage.node.uid
        found.extend((f"node {node}" if node else "node", item) for item in stage.items)
    return found


def _severity(finding: Finding) -> tuple[int, int]:
    return _KIND_ORDER.get(finding.kind or "", 1), _LEVEL_ORDER.get(finding.level or "", 2)


def clip(text: str, limit: int = TEXT_BYTES) -> str:
    """One line of at most `limit` UTF-8 bytes (a version, an ID, an API path): terminal escapes
    removed whole (`printable`: an OSC-8 link leaves no visible rest), line breaks and tabs made
    spaces, then cut on a character boundary (`clip_utf8`)."""
    cleaned = printable(text)
    if not cleaned.isprintable():  # the tabs and line feeds `printable` keeps
        cleaned = "".join(c if c.isprintable() else " " for c in cleaned)
    return clip_utf8(cleaned, limit)


def deprecated_apis(item: PreCheckItem, cap: int = API_CAP) -> tuple[list[DeprecatedApiUse], int]:
    """The item's deprecated API calls by path and client, most-called first (then by path), at most
    `cap`; and how many distinct uses were left out."""
    calls = Counter(
        (clip(risk.url), clip(risk.user_agent) if risk.user_agent else None)
        for risk in item.risk_source.deprecated_api_risks
        if risk.url
    )
    ordered = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
    uses = [DeprecatedApiUse(url=url, user_agent=agent, calls=n) for (url, agent), n in ordered]
    return uses[:cap], max(0, len(uses) - cap)


def _finding(where: str, item: PreCheckItem) -> Finding:
    apis, more = deprecated_apis(item)
    return Finding(
        name=item.name,
        kind=item.kind,
        level=item.level,
        where=where,
        message=item.message,
        deprecated_apis=apis or None,
        more_deprecated_apis=more or None,
    )


def findings_of(task: PreCheckTask) -> list[Finding]:
    """All findings that matter, most severe first (Exception before Risk, Fatal before Warning)."""
    found = [_finding(where, item) for where, item in _located(task) if matters(item)]
    return sorted(found, key=_severity)  # stable: CCE's own order within a severity


def precheck_view(task: PreCheckTask, cap: int = DEFAULT_CAP) -> PreCheckView:
    """status.preCheck for a fetched pre-check: the findings that matter, most severe first, at most `cap`."""
    everything = findings_of(task)
    counts = Counter((f.kind or "-", f.level or "-") for f in everything)
    return PreCheckView(
        task_id=task.metadata.uid,
        phase=task.status.phase,
        expire_time=task.status.expire_time,
        message=task.status.message,
        findings=everything[:cap] or None,  # absent rather than empty: status stays small
        more_findings=len(everything) - cap if len(everything) > cap else None,
        counts=[FindingCount(kind=k, level=lv, count=n) for (k, lv), n in sorted(counts.items())] or None,
    )


def is_expired(view: PreCheckView, upgrade_started: bool, now: datetime) -> bool:
    """A passed check whose result expired before the upgrade itself began: the next run is on a stale check."""
    return view.phase in PASSED and not upgrade_started and view.expire_time is not None and view.expire_time <= now


def summary(view: PreCheckView, first: int = 3) -> str:
    """`2 Exceptions, 1 Risk: NodeDiskCheck (node n1), …`, for messages and Events."""
    total = sum(c.count for c in view.counts or [])
    if total == 0:
        return view.message or "no finding was reported"
    by_kind = Counter[str]()
    for c in view.counts or []:
        by_kind[c.kind] += c.count
    parts = ", ".join(f"{n} {_plural(kind, n)}" for kind, n in sorted(by_kind.items(), key=lambda kv: _rank(kv[0])))
    listed = view.findings or []
    named = "; ".join(f"{f.name} ({f.where}{', ' + f.level if f.level else ''}){_top_api(f)}" for f in listed[:first])
    rest = total - min(first, len(listed))
    more = f"; and {rest} more" if rest > 0 else ""
    return f"{parts}: {named}{more}"


def _top_api(finding: Finding) -> str:
    """The most-called deprecated API of a finding, for one-line messages."""
    if not finding.deprecated_apis:
        return ""
    top = finding.deprecated_apis[0]
    return f" {top.url} called by {top.user_agent or 'an unknown client'}"


def _rank(kind: str) -> int:
    return _KIND_ORDER.get(kind, 1)


def _plural(kind: str, n: int) -> str:
    if kind == "-":
        return "finding" if n == 1 else "findings"
    return kind if n == 1 else f"{kind}s"
