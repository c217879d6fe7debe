"""`python -m ccupgrade.testbed build|up|run|down|env`: the local control plane by hand."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ccupgrade.testbed.binaries import BinariesError, cache_dir, ensure_binaries
from ccupgrade.testbed.controlplane import ControlPlane, ControlPlaneError, stop_recorded


def default_workdir() -> Path:
    return cache_dir() / "controlplane"


def _cmd_build(_: argparse.Namespace) -> int:
    binaries = ensure_binaries()
    print(binaries.kube_apiserver.parent)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    print(f"export KUBECONFIG={args.workdir / 'kubeconfig'}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = stop_recorded(args.workdir)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    stop_recorded(args.workdir)
    with ControlPlane(args.workdir) as plane:
        print(f"control plane ready at {plane.url}", flush=True)
        print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return 2
    stop_recorded(args.workdir)
    with ControlPlane(args.workdir) as plane:
        env = dict(os.environ, KUBECONFIG=str(plane.kubeconfig))
        print(f"[testbed] control plane ready at {plane.url}; running: {' '.join(command)}", flush=True)
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccupgrade-testbed", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="state, logs and kubeconfig")
    commands = parser.add_subparsers(dest="cmd", required=True)
    commands.add_parser("build", help="build (or find) etcd, kube-apiserver and kubectl; print their directory")
    commands.add_parser("up", help="start the control plane and keep it up until Ctrl-C")
    run = commands.add_parser("run", help="start it, run a command with KUBECONFIG set, stop it")
    run.add_argument("command", nargs=argparse.REMAINDER)
    commands.add_parser("down", help="stop a control plane left running in --workdir")
    commands.add_parser("env", help="print the KUBECONFIG export for --workdir")
    args = parser.parse_args(argv)
    handlers = {"build": _cmd_build, "up": _cmd_up, "run": _cmd_run, "down": _cmd_down, "env": _cmd_env}
    try:
        return handlers[args.cmd](args)
    except (BinariesError, ControlPlaneError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
