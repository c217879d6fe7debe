"""The plugin's rendering, without a cluster: durations, the shared time axis, tolerance of bad status."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from rich.text import Text

from ccupgrade.plugin.view import (
    BAR_WIDTH,
    STATUS_SECTIONS,
    UpgradeView,
    human_duration,
    list_table,
    status_view,
)
from tests.support.plugin_states import STATES, state

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _render(renderable: object, width: int = 160) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (61, "1m1s"), (600, "10m"), (3600, "1h"), (3660, "1h1m"), (90000, "1d1h"), (-5, "0s")],
)
def test_durations_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def test_bars_share_one_time_axis() -> None:
    view = UpgradeView.from_api(state("success", NOW), now=NOW)
    out = _render(status_view(view))
    bars = {line.split()[0]: line[-BAR_WIDTH:] for line in out.splitlines() if "━" in line}
    assert list(bars) == ["PreCheck", "Snapshot", "Cluster", "PostCheck"]
    spans = {name: (bar.index("━"), bar.rindex("━")) for name, bar in bars.items()}
    assert spans["PreCheck"][0] == 0  # the first task starts the axis
    assert spans["PostCheck"][1] == BAR_WIDTH - 1  # the last one ends it
    order = [spans[n][0] for n in ("PreCheck", "Snapshot", "Cluster", "PostCheck")]
    assert order == sorted(order)
    # the Cluster task took 26 of 40 minutes: about 65 % of the axis
    assert 22 <= spans["Cluster"][1] - spans["Cluster"][0] + 1 <= 28


def test_an_invalid_status_is_shown_not_fatal() -> None:
    obj = state("running", NOW)
    obj["status"]["tasks"] = "not a list"
    view = UpgradeView.from_api(obj, now=NOW)
    out = _render(status_view(view))
    assert "status does not parse" in out
    assert "running" in out


def test_every_state_renders_in_list_and_status() -> None:
    views = [
        UpgradeView.from_api({**state(s, NOW), "metadata": {"name": s, "namespace": "ns"}}, now=NOW) for s in STATES
    ]
    table = _render(list_table(views, all_namespaces=True))
    assert len([line for line in table.splitlines() if line.startswith("ns ")]) == len(STATES)
    for view in views:
        assert view.name in _render(status_view(view))


def test_a_new_section_is_one_function_more() -> None:
    """How the pre-check findings or an ETA will be added: a function of the view."""
    view = UpgradeView.from_api(state("running", NOW), now=NOW)

    def eta(v: UpgradeView) -> Text:
        return Text(f"ETA for {v.name}: soon")

    out = _render(status_view(view, [*STATUS_SECTIONS, eta]))
    assert out.rstrip().endswith("ETA for running: soon")
