"""Control characters from CCE never reach condition or Event messages: kubectl, `kubectl describe`,
event exporters and log viewers print those to terminals (the plugin has its own test)."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ccupgrade.cce import ServerError
from ccupgrade.cli import PrintableFormatter, PrintableHandler
from ccupgrade.mirror import OutageWindows
from ccupgrade.models import Condition, RecordedEvent, printable
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, fails, scheduler_for

# An OSC title, a screen clear, an OSC-8 link, colours, 8-bit CSI/OSC, a bell, NUL, DEL, a
# carriage return that would overwrite the line, a right-to-left override: in Chinese, as CCE answers.
HOSTILE = (
    "集群升级失败\x1b]0;pwned\x07 \x1b[2J\x1b[31m红色\x1b[0m "
    "\x1b]8;;https://evil.example\x1b\\点击\x1b]8;;\x1b\\ \x9b31m8位\x9d0;t\x9c \x07\x00\x7f回车\roverwrite \u202eevil"
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

AT_ONCE = OutageWindows(timedelta(0), timedelta(0))


def test_printable_removes_escape_sequences_whole_and_every_control_character() -> None:
    assert printable(HOSTILE) == "集群升级失败 红色 点击 8位 回车 overwrite evil"
    assert printable("\x1b[1mbold\x1b[0m, tab\tand\nnew line, cr\r\nlf") == "bold, tab\tand\nnew line, cr\nlf"
    assert printable("unterminated \x1b]0;title") == "unterminated 0;title"
    text = "中文 [error] [/x] plain"
    assert printable(text) is text  # printable text is returned as it is


def test_condition_and_event_messages_are_stored_without_control_characters() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    condition = Condition(type="Ready", status="Unknown", last_transition_time=now, reason="X", message=HOSTILE)
    event = RecordedEvent(name="n", type="Warning", reason="X", message=HOSTILE, event_time=now)
    for message in (condition.message, event.message):
        assert not CONTROL.search(message)
        assert "集群升级失败" in message


async def _until(condition: Callable[[], object], seconds: float) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition was not met in time")


@pytest.mark.looptime
async def test_a_cce_error_with_terminal_escapes_reaches_no_condition_or_event_raw() -> None:
    cce = FakeCce({"c1": fails(ServerError(HOSTILE, status=503, code="CCE.01500500"))})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, outage=AT_ONCE)  # the outage's Event at its first failure
    scheduler.upsert(server.apply("o"))
    task = asyncio.create_task(scheduler.run())
    try:
        await _until(lambda: any(e.reason == "CloudAPIError" for _, e in server.events), seconds=1800)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    status = server.objects["o"].status
    assert status is not None
    messages = [c.message for c in status.conditions] + [e.message for _, e in server.events]
    assert any("集群升级失败" in m for m in messages), messages
    for message in messages:
        assert not CONTROL.search(message), repr(message)


def test_log_lines_carry_no_control_characters() -> None:
    """`kubectl logs` prints the operator's log to a terminal; its lines quote CCE's messages."""
    formatter = PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ServerError(HOSTILE, status=503)
    except ServerError as exc:
        record = logging.LogRecord("ccupgrade", logging.WARNING, __file__, 1, "poll failed: %s", (exc,), sys.exc_info())
    line = formatter.format(record)
    assert "集群升级失败" in line
    assert "\n  Traceback" in line, "a traceback keeps its lines, indented under the record"
    assert not CONTROL.search(line), repr(line)


def test_a_line_feed_in_a_logged_message_cannot_fake_a_log_line() -> None:
    """A CCE error_msg with a line feed and "... ERROR ..." after it would read as a line of its own."""
    formatter = PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    forged = "quota exceeded\nERROR ccupgrade: credentials leaked\r\nINFO x: y\u2028z"
    try:
        raise ServerError(forged, status=503)
    except ServerError as exc:
        record = logging.LogRecord("ccupgrade", logging.WARNING, __file__, 1, "poll failed: %s", (exc,), sys.exc_info())
    first, *traceback = formatter.format(record).split("\n")
    assert first.startswith("WARNING ccupgrade: poll failed: ")
    assert "quota exceeded\\nERROR ccupgrade: credentials leaked\\r\\nINFO x: y\\u2028z" in first
    assert traceback[0] == "  Traceback (most recent call last):"  # a traceback keeps its lines, indented
    record = logging.LogRecord("ccupgrade", logging.INFO, __file__, 1, "%s", ("a\nb",), None)
    assert formatter.format(record) == "INFO ccupgrade: a\\nb"


def test_a_line_feed_in_an_exception_cannot_fake_a_log_line_in_its_traceback() -> None:
    """The traceback's last line quotes the exception (CCE's message): its line breaks are escaped
    there too, for the exception and the ones it was raised from, while the traceback keeps its own."""
    formatter = PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    forged = "quota exceeded\nERROR ccupgrade: credentials leaked"
    try:
        try:
            raise ServerError(forged, status=503)
        except ServerError as cause:
            raise RuntimeError(f"poll gave up: {cause}\rINFO x: y") from cause
    except RuntimeError:
        record = logging.LogRecord("ccupgrade", logging.ERROR, __file__, 1, "poll failed", (), sys.exc_info())
    first, *traceback = formatter.format(record).split("\n")
    assert first == "ERROR ccupgrade: poll failed"
    assert [line.strip() for line in traceback].count("Traceback (most recent call last):") == 2, traceback
    assert all(line.startswith("  ") for line in traceback), traceback
    assert any("ServerError: quota exceeded\\nERROR ccupgrade: credentials leaked" in line for line in traceback)
    assert not any("\r" in line for line in traceback), traceback


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _raised(make: Callable[[], BaseException]) -> logging.LogRecord:
    try:
        raise make()
    except BaseException:
        return logging.LogRecord("ccupgrade", logging.ERROR, __file__, 1, "poll failed", (), sys.exc_info())


def _noted() -> BaseException:
    exc = ValueError("bad answer")
    exc.add_note("ERROR ccupgrade: a note from CCE's text")
    return exc


def _chained_on_a_prefix() -> BaseException:
    """The context's text is the start of the cause's: escaping one must not leave the other's lines."""
    try:
        raise ValueError("quota\nexceeded")
    except ValueError:
        try:
            raise RuntimeError("gave up") from ValueError("quota\nexceeded\nERROR ccupgrade: forged")
        except RuntimeError as exc:
            return exc


@pytest.mark.parametrize(
    "make",
    [
        _noted,
        lambda: SyntaxError("bad\nERROR ccupgrade: forged", ("cce.json", 1, 1, "ERROR ccupgrade: x\n", 1, 2)),
        lambda: _Unprintable(),
        lambda: ValueError("\n"),
        _chained_on_a_prefix,
        lambda: ExceptionGroup("polls", [ValueError("a\nERROR ccupgrade: forged"), KeyError("b")]),
    ],
    ids=["notes", "syntax-error", "str-raises", "just-a-line-feed", "context-prefix", "group"],
)
def test_no_exception_shape_forges_a_log_line_or_loses_the_record(make: Callable[[], BaseException]) -> None:
    """Notes, a SyntaxError (its traceback text is not its str()), an exception whose str() raises,
    one whose whole text is a line feed, groups: the record is logged and every traceback line is
    indented under it, the frames still one line each."""
    formatter = PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    record = _raised(make)
    first, *traceback = formatter.format(record).split("\n")
    assert first == "ERROR ccupgrade: poll failed"
    assert all(line.startswith("  ") for line in traceback), traceback
    frames = [line for line in traceback if line.lstrip(" |").startswith('File "')]
    assert frames, "a traceback keeps its frame lines"


def test_text_is_cleaned_before_it_is_cut() -> None:
    """A cut inside an escape sequence left its visible rest (`]8;;https://…`), and the escapes used
    up the byte budget: the text is cleaned first, then cut."""
    link = "\x1b]8;;https://example.com/" + "x" * 2000 + "\x07"
    record = RecordedEvent(
        name="n", type="Normal", reason="R", message="中" * 300 + link + "done", event_time=datetime.now(UTC)
    )
    assert record.message == "中" * 300 + "done"
    condition = Condition.model_validate(
        {
            "type": "Ready",
            "status": "True",
            "lastTransitionTime": datetime.now(UTC),
            "reason": "R",
            "message": link * 20,
        }
    )
    assert condition.message == ""


def test_a_traceback_another_formatter_cached_is_formatted_again() -> None:
    """logging caches the first handler's traceback in `record.exc_text`: a plain formatter's copy
    would carry the exception's text unindented into this handler's output."""
    record = _raised(lambda: ValueError("quota\n2026-01-01 00:00:00,000 ERROR ccupgrade: forged"))
    logging.Formatter("%(message)s").format(record)  # another handler, first
    first, *traceback = PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(record).split("\n")
    assert first == "ERROR ccupgrade: poll failed"
    assert all(line.startswith("  ") for line in traceback), traceback


def test_a_failed_log_call_reports_one_printable_line_not_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    """A log call that cannot be formatted (a wrong placeholder) inside an `except`: logging's
    default prints the exception being handled as it is, a CCE message's forged line included."""
    stream = io.StringIO()
    handler = PrintableHandler(stream)
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("ccupgrade.test_failed_log_call")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ServerError("quota\n2026-01-01 00:00:00,000 ERROR ccupgrade: forged\x1b[2J", status=503)
        except ServerError:
            log.exception("poll of %d failed", "a-cluster")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue() + capsys.readouterr().err
    assert written.startswith("logging error: TypeError while formatting a record of ccupgrade.test_failed_log_call")
    assert written.count("\n") == 1, written
    assert "forged" not in written


def test_a_long_chain_costs_a_bounded_number_of_passes() -> None:
    """Each escaped exception is a pass over the whole traceback: of a chain of a thousand, 32 are
    escaped, and every line is still indented."""
    exc: BaseException | None = None
    for i in range(1000):
        nxt = ValueError(f"step {i}\nERROR ccupgrade: forged {'x' * 200}")
        nxt.__context__ = exc
        exc = nxt
    assert exc is not None
    record = logging.LogRecord("ccupgrade", logging.ERROR, __file__, 1, "poll failed", (), (ValueError, exc, None))
    first, *traceback = PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(record).split("\n")
    assert first == "ERROR ccupgrade: poll failed"
    assert all(line.startswith("  ") for line in traceback)
    escaped = sum("\\nERROR ccupgrade: forged" in line for line in traceback)
    assert 1 <= escaped <= 32, escaped


class _Interrupting(Exception):
    def __str__(self) -> str:
        raise SystemExit(3)


def test_an_exception_whose_str_raises_a_base_exception_keeps_the_record() -> None:
    first, *traceback = (
        PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(_raised(_Interrupting)).split("\n")
    )
    assert first == "ERROR ccupgrade: poll failed"
    assert traceback
