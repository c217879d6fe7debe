"""`ccupgrade run`: the operator's command line (every flag also reads an environment variable)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from datetime import timedelta
from types import TracebackType

import durationpy

from ccupgrade import __version__
from ccupgrade.app import OperatorConfig, run, tune_gc
from ccupgrade.cce import AllowList
from ccupgrade.kube import LeaseConfig
from ccupgrade.mirror import OutageWindows
from ccupgrade.models import DEFAULT_RESYNC, MIN_POLL_SECONDS, printable
from ccupgrade.scheduler import parse_duration


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CCUPGRADE_{name}", default)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccupgrade", description="CCE upgrade-workflow operator")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="cmd", required=True)
    run_cmd = commands.add_parser("run", help="run the operator")
    run_cmd.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="namespace to watch (repeatable; env CCUPGRADE_NAMESPACES, comma-separated); default: all",
    )
    run_cmd.add_argument(
        "--allowed-endpoints",
        default=_env("ALLOWED_ENDPOINTS", ""),
        help="comma-separated scheme://host:port patterns that spec.endpoint may name (e.g. https://*.corp:443)",
    )
    run_cmd.add_argument(
        "--resync",
        default=_env("RESYNC", durationpy.to_str(DEFAULT_RESYNC)),
        help="poll interval for finished upgrades",
    )
    run_cmd.add_argument(
        "--outage-announce-after",
        default=_env("OUTAGE_ANNOUNCE_AFTER", "1m"),
        help="how long CCE reads must fail before a CloudAPIError Event (Ready turns Unknown at once)",
    )
    run_cmd.add_argument(
        "--outage-recover-after",
        default=_env("OUTAGE_RECOVER_AFTER", "5m"),
        help="how long CCE must answer without a failure before an outage is over",
    )
    run_cmd.add_argument("--rate", type=float, default=float(_env("RATE", "10")), help="requests/s per CCE endpoint")
    run_cmd.add_argument("--burst", type=int, default=int(_env("BURST", "10")), help="request burst per endpoint")
    run_cmd.add_argument("--max-concurrent-polls", type=int, default=int(_env("MAX_CONCURRENT_POLLS", "20")))
    run_cmd.add_argument(
        "--max-concurrent-writes",
        type=int,
        default=int(_env("MAX_CONCURRENT_WRITES", "64")),
        help="objects whose Events and status are written at once",
    )
    run_cmd.add_argument("--health-host", default=_env("HEALTH_HOST", "0.0.0.0"))
    run_cmd.add_argument("--health-port", type=int, default=int(_env("HEALTH_PORT", "8080")), help="0 disables")
    run_cmd.add_argument(
        "--cce-timeout", type=float, default=float(_env("CCE_TIMEOUT", "30")), help="seconds one CCE request may take"
    )
    run_cmd.add_argument(
        "--secret-ttl",
        type=float,
        default=float(_env("SECRET_TTL", "30")),
        help="seconds a credentials Secret is cached; an auth failure re-reads it",
    )
    run_cmd.add_argument("--ca-bundle", default=_env("CA_BUNDLE", "") or None, help="PEM bundle to verify CCE TLS")
    run_cmd.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="for the watch and the writes alike; wins over the in-cluster service account (default $KUBECONFIG)",
    )
    run_cmd.add_argument(
        "--leader-elect",
        action="store_true",
        default=_env("LEADER_ELECT", "") == "true",
        help="hold a Lease before doing anything: several replicas, one active",
    )
    run_cmd.add_argument("--leader-election-namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    run_cmd.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    return parser


def config_from(args: argparse.Namespace) -> OperatorConfig:
    """The operator's settings from the parsed flags; ValueError (a bad or too short --resync) becomes exit code 2."""
    resync = parse_duration(args.resync)
    if resync < MIN_POLL_SECONDS:  # 0s would poll every finished upgrade without pause
        raise ValueError(f"--resync {args.resync} is shorter than the shortest poll interval, {MIN_POLL_SECONDS}s")
    namespaces = args.namespace or [n for n in _env("NAMESPACES", "").split(",") if n.strip()]
    return OperatorConfig(
        namespaces=tuple(n.strip() for n in namespaces),
        allowed_endpoints=AllowList.parse(args.allowed_endpoints),
        resync=timedelta(seconds=resync),
        outage=OutageWindows(
            timedelta(seconds=parse_duration(args.outage_announce_after)),
            timedelta(seconds=parse_duration(args.outage_recover_after)),
        ),
        requests_per_second=args.rate,
        burst=args.burst,
        max_concurrent_polls=args.max_concurrent_polls,
        max_concurrent_writes=args.max_concurrent_writes,
        health_host=args.health_host,
        health_port=args.health_port,
        ca_bundle=args.ca_bundle,
        cce_timeout=args.cce_timeout,
        secret_ttl=args.secret_ttl,
        leader_election=LeaseConfig(args.leader_election_namespace) if args.leader_elect else None,
        kubeconfig=args.kubeconfig,
    )


# Line breaks in a record's own line: shown escaped, so that quoted text cannot fake a log line.
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})


# Line breaks other than the line feed, anywhere in a traceback.
_OTHER_BREAKS = str.maketrans({"\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})

_ESCAPED_CHAIN = 32  # exceptions of a chain whose text is escaped (each a pass over the traceback)
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class PrintableFormatter(logging.Formatter):
    """Log lines without terminal escapes or control characters: they quote CCE's messages, and
    `kubectl logs` prints them to a terminal as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line with its line breaks escaped: a CCE message with a line feed and
        "... ERROR ..." after it would otherwise read as a log line of its own."""
        return super().formatMessage(record).translate(_LINE_BREAKS)

    def formatException(self, ei: _ExcInfo) -> str:
        """The traceback indented under its record, so no line of it can pass for a record of its
        own whatever an exception's text, notes or shape; the line breaks of each exception of the
        chain escaped where the traceback quotes its text, so that line reads as one."""
        text = super().formatException(ei) + "\n"
        seen: set[int] = set()
        pending = [ei[1]] if ei[1] is not None else []
        while pending and len(seen) < _ESCAPED_CHAIN:
            exc = pending.pop()
            if id(exc) in seen:
                continue
            seen.add(id(exc))
            pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]
            try:
                quoted = str(exc)
            except BaseException:  # as traceback does ("<exception str() failed>"): the record is kept
                continue
            if quoted != (escaped := quoted.translate(_LINE_BREAKS)):
                text = text.replace(f": {quoted}\n", f": {escaped}\n")
        return "\n".join(f"  {line}" for line in text[:-1].translate(_OTHER_BREAKS).split("\n"))

    def format(self, record: logging.LogRecord) -> str:
        """The line as logging formats it, then made printable (line feeds of a traceback stay).

        The traceback is formatted here even if another handler's formatter already cached its own
        (`record.exc_text`), which would carry the exception's text unindented."""
        cached, record.exc_text = record.exc_text, None
        try:
            return printable(super().format(record))
        finally:
            record.exc_text = cached


class PrintableHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose own failures stay one printable line: logging's default prints the
    failed record's traceback as it is, the exception's text (CCE's message) included."""

    def handleError(self, record: logging.LogRecord) -> None:
        """One line naming the failure and where the record came from; never the record's text."""
        failure = sys.exc_info()[0]
        with contextlib.suppress(Exception):
            self.stream.write(
                f"logging error: {failure.__name__ if failure else 'unknown'} while formatting a record "
                f"of {printable(record.name)[:128]} ({printable(record.pathname)[:256]}:{record.lineno})\n"
            )
            self.flush()


def main(argv: list[str] | None = None) -> int:
    """`ccupgrade run`: exit code 0 after a clean stop, 1 when the operator gives up, 2 for a bad flag."""
    args = _parser().parse_args(argv)
    handler = PrintableHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    try:
        settings = config_from(args)
    except ValueError as exc:
        print(f"ccupgrade: {exc}", file=sys.stderr)
        return 2

    tune_gc()  # the process is the operator's alone (tests running it in-process keep CPython's defaults)
    try:
        asyncio.run(run(settings, handle_signals=True))
    except SystemExit as exc:
        logging.getLogger("ccupgrade").error("%s", exc)
        return 1
    return 0
