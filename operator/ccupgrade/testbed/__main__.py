"""`python -m ccupgrade.testbed build|up|run|down|env|node|image`: the test beds by hand.

`up`/`run`/`down` drive the loopback control plane (etcd + kube-apiserver, no node); `node up|run|down`
a real single-node cluster (root only); `image` builds the operator's container image.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ccupgrade.testbed import processes
from ccupgrade.testbed.binaries import BinariesError, cache_dir, ensure_binaries, ensure_node_binaries
from ccupgrade.testbed.controlplane import ControlPlane, ControlPlaneError, stop_recorded


def default_workdir() -> Path:
    """Where the loopback control plane keeps its state unless --workdir says otherwise."""
    return cache_dir() / "controlplane"


def _cmd_build(args: argparse.Namespace) -> int:
    binaries = ensure_binaries()
    print(binaries.kube_apiserver.parent)
    if args.node:
        print(ensure_node_binaries().kubelet.parent)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    print(f"export KUBECONFIG={args.workdir / 'kubeconfig'}")
    return 0


def _stop_owner(lock: processes.OwnerLock, what: str) -> int | None:
    """Asks the process that owns a work directory to stop, and waits until it has; its pid, if any."""
    owner = lock.owner()
    if owner is None:
        return None
    os.kill(owner, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while not lock.acquire():  # the owner releases the lock only once its cleanup is done
        if time.monotonic() > deadline:
            print(f"pid {owner} did not stop within 60 s of SIGTERM; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner, signal.SIGKILL)
            lock.acquire(wait=True)
            break
        time.sleep(0.2)
    lock.release()
    print(f"stopped the {what} owned by pid {owner}", flush=True)
    return owner


def _cmd_down(args: argparse.Namespace) -> int:
    owner = _stop_owner(processes.OwnerLock(args.workdir), "`up`")
    stopped = stop_recorded(args.workdir)
    if owner is not None:
        stopped.insert(0, f"up (pid {owner})")
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _own(workdir: Path) -> processes.OwnerLock | None:
    """This run's claim on `workdir`; None (after saying why) when another run holds it."""
    lock = processes.OwnerLock(workdir)
    if not lock.acquire():
        print(
            f"testbed: a control plane from {workdir} is already up (pid {lock.owner()}); stop it with "
            f"`python -m ccupgrade.testbed --workdir {workdir} down`, or give this one its own --workdir",
            file=sys.stderr,
        )
        return None
    lock.claim()
    stop_recorded(workdir)  # what a killed earlier owner left (its children die with it; this is for safety)
    return lock


def _serve_until_stopped(dead: Callable[[], list[str]]) -> int:
    """Blocks until Ctrl-C/SIGTERM (0), or until the cluster is stopped underneath us (1)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while not (gone := dead()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    print(f"testbed: {', '.join(gone)} stopped; exiting", file=sys.stderr, flush=True)
    return 1


def _cmd_up(args: argparse.Namespace) -> int:
    lock = _own(args.workdir)
    if lock is None:
        return 1
    try:
        with ControlPlane(args.workdir) as plane:
            print(f"control plane ready at {plane.url}", flush=True)
            print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
            print("Ctrl-C stops it.", flush=True)
            return _serve_until_stopped(plane.dead)
    finally:
        lock.release()


def _command(args: argparse.Namespace) -> list[str] | None:
    command: list[str] = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return None
    return command


def _cmd_run(args: argparse.Namespace) -> int:
    command = _command(args)
    if command is None:
        return 2
    lock = _own(args.workdir)
    if lock is None:
        return 1
    try:
        with ControlPlane(args.workdir) as plane:
            env = dict(os.environ, KUBECONFIG=str(plane.kubeconfig))
            print(f"[testbed] control plane ready at {plane.url}; running: {' '.join(command)}", flush=True)
            try:
                return subprocess.call(command, env=env)
            except KeyboardInterrupt:
                return 130
    finally:
        lock.release()


def _cmd_node(args: argparse.Namespace) -> int:
    from ccupgrade.testbed import node

    workdir = args.node_workdir or node.default_workdir()
    if args.node_cmd == "down":
        owner = _stop_owner(processes.OwnerLock(workdir), "node")
        lock = processes.OwnerLock(workdir)
        if not lock.acquire():
            print(f"testbed: {workdir} is locked by a process that recorded no pid; see `fuser {lock.path}`")
            return 1
        try:
            undone = node.teardown(workdir)
        finally:
            lock.release()
        print(f"stopped: {', '.join(([f'owner pid {owner}'] if owner else []) + undone) or 'nothing was running'}")
        return 0
    command = None
    if args.node_cmd == "run":
        command = _command(args)
        if command is None:
            return 2
    images = [Path(p) for p in args.image]
    if args.build_image:
        from ccupgrade.testbed import image

        images.append(image.ensure_image().archive)
    try:
        with node.NodeCluster(workdir, images) as cluster:
            env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
            if command is not None:
                print(f"[node] running: {' '.join(command)}", flush=True)
                try:
                    return subprocess.call(command, env=env)
                except KeyboardInterrupt:
                    return 130
            print(f"node cluster ready: export KUBECONFIG={cluster.kubeconfig}", flush=True)
            print(f"kubectl: {cluster.kubectl}; Ctrl-C (or `node down`) stops it and removes everything.", flush=True)
            return _serve_until_stopped(cluster.dead_components)
    except node.NodeError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


def _cmd_image(args: argparse.Namespace) -> int:
    from ccupgrade.testbed import image

    built = image.ensure_image(rebuild=args.rebuild)
    print(f"{built.tag} {built.archive}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `ccupgrade-testbed` command line; answers the exit code."""
    parser = argparse.ArgumentParser(prog="ccupgrade-testbed", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="state, logs and kubeconfig")
    commands = parser.add_subparsers(dest="cmd", required=True)
    build = commands.add_parser("build", help="build (or find) etcd, kube-apiserver and kubectl; print their directory")
    build.add_argument("--node", action="store_true", help="also the node's kubelet, kube-proxy, controllers, pause")
    commands.add_parser("up", help="start the control plane and keep it up until Ctrl-C")
    run = commands.add_parser("run", help="start it, run a command with KUBECONFIG set, stop it")
    run.add_argument("command", nargs=argparse.REMAINDER)
    commands.add_parser("down", help="stop a control plane left running in --workdir")
    commands.add_parser("env", help="print the KUBECONFIG export for --workdir")
    node = commands.add_parser("node", help="a real single-node cluster (root): up | run [options] -- CMD | down")
    node_commands = node.add_subparsers(dest="node_cmd", required=True)
    for name, text in (
        ("up", "start it and keep it up until Ctrl-C"),
        ("run", "start it, run CMD, stop it"),
        ("down", "stop one left running, remove everything it left"),
    ):
        sub = node_commands.add_parser(name, help=text)
        sub.add_argument("--node-workdir", type=Path, default=None, help="default: ~/.cache/ccupgrade/node")
        if name != "down":
            sub.add_argument("--image", action="append", default=[], help="a `docker save` archive to load")
            sub.add_argument("--build-image", action="store_true", help="build the operator's image and load it")
        if name == "run":
            sub.add_argument("command", nargs=argparse.REMAINDER)
    image = commands.add_parser("image", help="build the operator's image (debootstrap base, no registry needed)")
    image.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    handlers = {
        "build": _cmd_build,
        "up": _cmd_up,
        "run": _cmd_run,
        "down": _cmd_down,
        "env": _cmd_env,
        "node": _cmd_node,
        "image": _cmd_image,
    }
    try:
        return handlers[args.cmd](args)
    except (BinariesError, ControlPlaneError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
