"""Hostile text in an object or an Event cannot crash the plugin, inject terminal escapes or be
read as rich markup: anyone who may create Events in the namespace controls some of it, and CCE
(or whoever answers in its place) controls the rest."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from ccupgrade.plugin import cli
from ccupgrade.plugin.view import UpgradeView, list_table, status_view
from tests.support.plugin_states import state

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
# Markup that raises (a closing tag with nothing open), markup that would vanish or style, a live
# markup link, an OSC title, a screen clear, an OSC-8 link, 8-bit CSI, a bell, NUL, a right-to-left
# override; and some Chinese, as CCE answers in its Chinese regions.
HOSTILE = (
    "see [/tmp/upgrade.log] [/x] [error] disk full [link=https://evil.example]click[/link] [bold red]x "
    "\x1b]0;pwned\x07 \x1b[2J \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\ \x9b31m \x07\x00 \u202eevil 磁盘已满"
)
SHOWN = "see [/tmp/upgrade.log] [/x] [error] disk full [link=https://evil.example]click[/link] [bold red]x"
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hostile_object() -> dict[str, Any]:
    """Every string the plugin shows from the object, hostile."""
    obj = state("running", NOW)
    obj["metadata"].update(name="prod", namespace="ns")
    obj["spec"]["clusterId"] = HOSTILE
    status = obj["status"]
    status.update(
        phase=HOSTILE,
        currentTask=HOSTILE,
        clusterVersion=HOSTILE,
        targetVersion=HOSTILE,
        progress=HOSTILE,
        taskProgress={"task": HOSTILE, "percent": 63, "error": HOSTILE, "since": _stamp(NOW - timedelta(minutes=3))},
        eta={"task": HOSTILE, "basis": "history", "samples": 2, "text": HOSTILE, "taskEnd": _stamp(NOW)},
        slow={"task": HOSTILE, "since": _stamp(NOW), "message": HOSTILE},
        preCheck={
            "taskId": "p1",
            "phase": HOSTILE,
            "findings": [
                {"name": HOSTILE, "kind": HOSTILE, "level": HOSTILE, "where": HOSTILE, "message": HOSTILE},
                {"name": "NodeDiskCheck", "kind": "Exception", "where": "node a", "message": "[/var/lib/docker]"},
            ],
            "error": HOSTILE,
        },
    )
    status["workflow"]["uid"] = HOSTILE
    for task in status["tasks"]:
        task["type"] = HOSTILE
        task["status"] = HOSTILE
    for condition in status["conditions"]:
        condition["message"] = HOSTILE
    status["history"] = [{"uid": HOSTILE, "phase": HOSTILE, "clusterVersion": HOSTILE, "targetVersion": HOSTILE}]
    return obj


EVENTS = [
    {"type": HOSTILE, "reason": HOSTILE, "message": HOSTILE, "lastTimestamp": _stamp(NOW)},
    {"type": "Warning", "reason": "Odd", "message": "see [/tmp/upgrade.log]", "lastTimestamp": _stamp(NOW)},
]


def _print(renderable: object, **options: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=4000, **options).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "options",
    [
        {"color_system": None},  # a pipe
        {"force_terminal": True, "color_system": "truecolor"},  # a terminal
        {"force_terminal": True, "color_system": "truecolor", "markup": False, "highlight": False},  # as the plugin
    ],
    ids=["pipe", "terminal", "plugin-console"],
)
def test_hostile_text_is_shown_as_text_in_status_and_list(options: dict[str, Any]) -> None:
    view = UpgradeView.from_api(_hostile_object(), EVENTS, now=NOW)
    assert view.status_error is None, "every field of the hostile status is valid: all of it is shown"
    for out in (_print(status_view(view), **options), _print(list_table([view], all_namespaces=True), **options)):
        assert SHOWN in out, "markup in text is shown as it is, not parsed"
        assert "磁盘已满" in out
        assert "\x1b]" not in out, "no OSC (title, hyperlink) reaches the terminal"
        assert "\x1b[2J" not in out
        # what is left once rich's own styling (SGR only) is taken out: no control character at all
        plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
        assert not RAW_CONTROL.search(plain), repr(RAW_CONTROL.findall(plain))
    assert "[/var/lib/docker]" in _print(status_view(view), **options)
    assert "see [/tmp/upgrade.log]" in _print(status_view(view), **options)


class _Cluster:
    """The plugin's view of the API server, with the hostile object and Events in it."""

    namespace = "ns"

    def upgrades(self, namespace: str | None) -> list[dict[str, Any]]:
        return [_hostile_object()]

    def upgrade(self, name: str) -> dict[str, Any]:
        return _hostile_object()

    def events(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return EVENTS


@pytest.mark.parametrize("argv", [["list", "-A"], ["status", "prod"]])
def test_the_commands_exit_0_with_no_raw_control_character(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "Cluster", lambda *_: _Cluster())
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert SHOWN in out
    assert not RAW_CONTROL.search(out), repr(RAW_CONTROL.findall(out))
