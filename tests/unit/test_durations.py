"""Durations (spec.pollInterval, --resync): the CRD's Go syntax, parsed by durationpy.

parse_duration keeps the syntax it had before durationpy did the arithmetic: exactly what the
CRD's pattern admits, so a flag takes what a spec field takes, with the same message when not.
"""

from __future__ import annotations

import re

import durationpy
import pytest

from ccupgrade.cli import _parser, config_from, main
from ccupgrade.models import DURATION_PATTERN
from ccupgrade.scheduler import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1h0m0.5s", 3600.5),
        ("2h2h", 14400.0),  # Go sums repeated units too
        ("0s", 0.0),
    ],
)
def test_go_durations_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "30", "s", "5x", "1h 30m", " 5s", "5s ", "5S", "1.s", "1h30"],
)
def test_not_a_duration_says_what_one_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{text!r} is not a duration like 30s, 5m or 1h30m")):
        parse_duration(text)


# durationpy alone takes these; the CRD's pattern does not, so neither does parse_duration
# (before durationpy it did not either: nothing changed for users).
BEYOND_THE_CRD = ["1d", "2w", "1y", "-5s", "+5s", "0", "500us", "10ns", ".5s"]


@pytest.mark.parametrize("text", BEYOND_THE_CRD)
def test_what_durationpy_would_take_beyond_the_crd_is_refused(text: str) -> None:
    durationpy.from_str(text)  # accepted by the library
    assert not re.fullmatch(DURATION_PATTERN, text)
    with pytest.raises(ValueError, match="is not a duration like"):
        parse_duration(text)


def test_a_duration_beyond_timedelta_is_refused_with_the_same_message() -> None:
    """Before durationpy this returned ~3.6e16 s (and --resync then crashed in timedelta)."""
    with pytest.raises(ValueError, match="is not a duration like"):
        parse_duration("9999999999999h")


def test_the_cli_reports_a_bad_resync_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resync", "1d"]) == 2
    assert capsys.readouterr().err.strip() == "ccupgrade: '1d' is not a duration like 30s, 5m or 1h30m"


@pytest.mark.parametrize("text", ["0s", "4s", "4999ms"])
def test_the_cli_refuses_a_resync_shorter_than_the_shortest_poll_interval(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--resync 0s` was taken: every finished upgrade was then polled again as soon as its poll ended."""
    assert main(["run", "--resync", text]) == 2
    message = f"ccupgrade: --resync {text} is shorter than the shortest poll interval, 5s"
    assert capsys.readouterr().err.strip() == message


def test_the_cli_takes_a_resync_of_the_shortest_poll_interval() -> None:
    assert config_from(_parser().parse_args(["run", "--resync", "5s"])).resync.total_seconds() == 5.0


def test_the_cli_takes_the_outage_windows() -> None:
    default = config_from(_parser().parse_args(["run"])).outage
    assert (default.announce_after.total_seconds(), default.recover_after.total_seconds()) == (60, 300)
    args = ["run", "--outage-announce-after", "0s", "--outage-recover-after", "90s"]
    chosen = config_from(_parser().parse_args(args)).outage
    assert (chosen.announce_after.total_seconds(), chosen.recover_after.total_seconds()) == (0, 90)
