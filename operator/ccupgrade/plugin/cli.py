"""`kubectl ccupgrade`: the kubectl plugin (installed as the `kubectl-ccupgrade` command; kubectl
finds it on PATH). Logs in as kubectl does: $KUBECONFIG or ~/.kube/config, --kubeconfig,
--context, and the context's namespace unless -n/--namespace or -A is given."""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from rich.console import Console
from rich.live import Live

from ccupgrade import __version__
from ccupgrade.models import GROUP, KIND, PLURAL, VERSION, printable
from ccupgrade.plugin.view import UpgradeView, list_table, status_view

USAGE_EXAMPLES = """examples:
  kubectl ccupgrade list -A                 every upgrade in the cluster
  kubectl ccupgrade status prod -n platform the timeline of one upgrade
  kubectl ccupgrade status prod --watch     redraw it as it changes (Ctrl-C stops)
"""


class PluginError(RuntimeError):
    """A failure the user can act on; printed as one line, exit code 1."""


class Cluster:
    """The API server as the kubeconfig (and flags) describe it, kubectl's rules."""

    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except (ConfigException, FileNotFoundError, OSError) as exc:
            raise PluginError(f"cannot load kubeconfig: {exc}") from None
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        self.namespace = namespace or ((chosen or {}).get("context") or {}).get("namespace") or "default"
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def upgrades(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every object in one namespace, or in all of them (None)."""
        try:
            if namespace is None:
                result = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
            else:
                result = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        except ApiException as exc:
            if exc.status == 404:
                raise PluginError(f"the API server does not serve {PLURAL}.{GROUP}: is the CRD installed?") from None
            raise
        items: list[dict[str, Any]] = cast(dict[str, Any], result).get("items") or []
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def upgrade(self, name: str) -> dict[str, Any]:
        """One object by name in the plugin's namespace; PluginError when it does not exist."""
        try:
            found = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                where = f"namespace {self.namespace}"
                raise PluginError(f'{PLURAL}.{GROUP} "{name}" not found in {where}') from None
            raise
        return cast(dict[str, Any], found)

    def events(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The Events about this object (by uid, so a re-created object's old Events are not shown)."""
        metadata = obj["metadata"]
        selector = f"involvedObject.uid={metadata['uid']},involvedObject.kind={KIND}"
        events = self.core.list_namespaced_event(metadata["namespace"], field_selector=selector)
        return [self.core.api_client.sanitize_for_serialization(e) for e in events.items]


def _login_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--kubeconfig", default=default, help="the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="the namespace (default: the context's, else default)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl ccupgrade",
        description="Shows CCE cluster upgrades (CceClusterUpgrade objects) mirrored by cce-upgrade-operator.",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kubectl-ccupgrade {__version__}")
    _login_flags(parser, default=None)
    login = argparse.ArgumentParser(add_help=False)
    _login_flags(login, default=argparse.SUPPRESS)  # after the command too, as kubectl allows
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", parents=[login], help="the fleet at a glance", aliases=["ls"])
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    status = commands.add_parser("status", parents=[login], help="the timeline of one upgrade")
    status.add_argument("name", help="the CceClusterUpgrade's name")
    status.add_argument("-w", "--watch", action="store_true", help="redraw when it changes, until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between reads with --watch")
    status.add_argument("--export-svg", metavar="FILE", help="also save the screen as SVG (for docs)")
    return parser


def _console() -> Console:
    """rich decides: colours on a terminal, plain text into a pipe; it honours NO_COLOR itself. A
    pipe has no width: as kubectl does there, rows are not cut (unless $COLUMNS says otherwise).
    No markup and no highlighting: what is printed is what the objects say (the view renders every
    outside string as `Text` already; a plain str that slips through stays text too)."""
    if Console().is_terminal:
        return Console(highlight=False, markup=False)
    return Console(highlight=False, markup=False, width=int(os.environ.get("COLUMNS") or 400))


def _cmd_list(cluster: Cluster, args: argparse.Namespace, console: Console) -> int:
    namespace = None if args.all_namespaces else cluster.namespace
    views = [UpgradeView.from_api(obj) for obj in cluster.upgrades(namespace)]
    if not views:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        console.print(f"No CceClusterUpgrade found in {where}.")
        return 0
    console.print(list_table(views, all_namespaces=args.all_namespaces))
    return 0


def _read(cluster: Cluster, name: str) -> UpgradeView:
    obj = cluster.upgrade(name)
    return UpgradeView.from_api(obj, cluster.events(obj))


def _fingerprint(view: UpgradeView) -> tuple[object, ...]:
    """What a redraw depends on, minus the clock."""
    return (view.status.model_dump_json(), tuple(view.events), view.status_error)


def _cmd_status(cluster: Cluster, args: argparse.Namespace, console: Console) -> int:
    view = _read(cluster, args.name)
    if args.export_svg:
        recorder = Console(
            record=True, width=120, force_terminal=True, color_system="truecolor", file=io.StringIO(), markup=False
        )
        recorder.print(status_view(view))
        recorder.save_svg(args.export_svg, title=f"kubectl ccupgrade status {args.name}")
    if not args.watch:
        console.print(status_view(view))
        return 0
    if not console.is_terminal:
        # A pipe gets one full screen per change, so a log or a test can read it.
        seen = _fingerprint(view)
        console.print(status_view(view))
        console.file.flush()
        while True:
            time.sleep(args.interval)
            view = _read(cluster, args.name)
            if _fingerprint(view) != seen:
                seen = _fingerprint(view)
                console.print("")
                console.print(status_view(view))
                console.file.flush()
    with Live(status_view(view), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(args.interval)
            live.update(status_view(_read(cluster, args.name)), refresh=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`kubectl ccupgrade`: 0 on success, 1 with one line on stderr when the cluster says no, 130 on Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    console = _console()
    try:
        cluster = Cluster(args.kubeconfig, args.context, args.namespace)
        if args.command in ("list", "ls"):
            return _cmd_list(cluster, args, console)
        return _cmd_status(cluster, args, console)
    except PluginError as exc:  # may quote a kubeconfig or a name: no escapes reach the terminal
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except ApiException as exc:
        print(f"error: the API server answered {exc.status} {printable(str(exc.reason))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
