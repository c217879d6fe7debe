"""`python -m ccupgrade.testbed build|up|run|down|env|kind|image`: the test beds by hand.

`up`/`run`/`down` drive the loopback control plane (etcd + kube-apiserver, no node); `kind
image|up|run|down` a kind cluster run by the test bed's own dockerd (root only); `image` builds the
operator's container image.
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


def _cmd_kind(args: argparse.Namespace) -> int:
    from ccupgrade.testbed import kind
    from ccupgrade.testbed.image import ImageError

    workdir = args.kind_workdir or kind.default_workdir()
    if args.kind_cmd == "down":
        owner = _stop_owner(processes.OwnerLock(workdir), "kind cluster")
        lock = processes.OwnerLock(workdir)
        if not lock.acquire():
            print(f"testbed: {workdir} is locked by a process that recorded no pid; see `fuser {lock.path}`")
            return 1
        try:
            undone = kind.teardown(workdir)
        finally:
            lock.release()
        print(f"stopped: {', '.join(([f'owner pid {owner}'] if owner else []) + undone) or 'nothing was running'}")
        return 0
    command = None
    if args.kind_cmd == "run":
        command = _command(args)
        if command is None:
            return 2
    try:
        only_docker = args.kind_cmd == "image" or getattr(args, "docker_only", False)
        with kind.KindCluster(workdir, create=not only_docker) as cluster:
            if args.kind_cmd == "image":
                print(cluster.node_image, *cluster.images)
                return 0
            if only_docker:
                print("dockerd ready for `kind create cluster` (docs/install/kind.md)", flush=True)
                for name in ("DOCKER_HOST", "KIND_NODE_IMAGE"):
                    print(f"export {name}={cluster.env[name]}", flush=True)
                print(f"export PATH={os.pathsep.join(cluster.env['PATH'].split(os.pathsep)[:3])}:$PATH", flush=True)
                print("Ctrl-C (or `kind down`) deletes every cluster of it and puts the machine back.", flush=True)
                return _serve_until_stopped(lambda: [])
            if args.install:
                for step in ("load", "simulator", "helm"):
                    kind.run_documented(step, cluster.env)
            env = cluster.env
            if command is not None:
                print(f"[kind] running: {' '.join(command)}", flush=True)
                try:
                    return subprocess.call(command, env=env)
                except KeyboardInterrupt:
                    return 130
            print(f"kind cluster {cluster.name} ready", flush=True)
            for name in ("DOCKER_HOST", "KUBECONFIG", "KIND_NODE_IMAGE"):
                print(f"export {name}={env[name]}", flush=True)
            print(f"export PATH={os.pathsep.join(env['PATH'].split(os.pathsep)[:3])}:$PATH", flush=True)
            print("Ctrl-C (or `kind down`) deletes it and puts the machine back as it was.", flush=True)
            return _serve_until_stopped(lambda: [] if kind.cluster_alive() else ["the kind node"])
    except (kind.KindError, BinariesError, ImageError) as exc:
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
    build.add_argument("--node", action="store_true", help="also the kind node's kubeadm, kubelet, kube-proxy, ...")
    commands.add_parser("up", help="start the control plane and keep it up until Ctrl-C")
    run = commands.add_parser("run", help="start it, run a command with KUBECONFIG set, stop it")
    run.add_argument("command", nargs=argparse.REMAINDER)
    commands.add_parser("down", help="stop a control plane left running in --workdir")
    commands.add_parser("env", help="print the KUBECONFIG export for --workdir")
    kind_parser = commands.add_parser("kind", help="a kind cluster (root): image | up | run [options] -- CMD | down")
    kind_commands = kind_parser.add_subparsers(dest="kind_cmd", required=True)
    for name, text in (
        ("image", "build (or find) kind, its node image and the operator's and simulator's images"),
        ("up", "create it and keep it up until Ctrl-C"),
        ("run", "create it, run CMD, delete it"),
        ("down", "delete one left running, put the machine back as it was"),
    ):
        sub = kind_commands.add_parser(name, help=text)
        sub.add_argument("--kind-workdir", type=Path, default=None, help="default: ~/.cache/ccupgrade/kind")
        if name in ("up", "run"):
            sub.add_argument(
                "--install", action="store_true", help="load the images, start the simulator, helm install"
            )
        if name == "up":
            sub.add_argument(
                "--docker-only", action="store_true", help="no cluster: our dockerd and images, for your `kind create`"
            )
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
        "kind": _cmd_kind,
        "image": _cmd_image,
    }
    try:
        return handlers[args.cmd](args)
    except (BinariesError, ControlPlaneError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
