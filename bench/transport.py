"""The Kubernetes write transport, ours (kube/api.py, aiohttp) against `kubernetes.aio`, on the hot path only.

Not a test: figures for the "Kubernetes transport" table of docs/design.md (`make bench-transport`). One local
control plane (own workdir and ports); each round runs both sides, interleaved, each in a fresh
process so that CPU and RSS are that side's alone. A side sends N status merge patches and N Event
POSTs (to N objects), `--inflight` at a time, as the operator does in a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "ccupgrade.dev", "v1alpha1", "cceclusterupgrades"
SIDES = ("ours", "kubernetes.aio", "kubernetes.aio-raw")  # raw: *_without_preload_content, no response models


def _bodies(namespace: str, n: int, tag: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(object name, status patch, Event) for each object: a real change every round."""
    out = []
    for i in range(n):
        name = f"t{i:05d}"
        status = {"status": {"phase": "Running", "progress": "1/4", "currentTask": f"{tag} {name}"}}
        event = {
            "metadata": {"name": f"{name}.{tag}"},
            "reason": "TaskStarted",
            "message": tag,
            "type": "Normal",
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "CceClusterUpgrade",
                "name": name,
                "namespace": namespace,
            },
        }
        out.append((name, status, event))
    return out


async def _fan_out(calls: list[Callable[[], Awaitable[object]]], inflight: int) -> None:
    gate = asyncio.Semaphore(inflight)

    async def once(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(once(c) for c in calls))


async def _ours(kubeconfig: str, namespace: str, work: list[Any], inflight: int) -> float:
    from kubernetes import client, config

    from ccupgrade.kube.api import KubeApi, path_of

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api = KubeApi(configuration, connections=inflight)
    objects = path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)
    events = path_of("api", "v1", "namespaces", namespace, "events")
    calls: list[Callable[[], Awaitable[object]]] = []
    for name, status, event in work:
        calls.append(functools.partial(api.merge_patch, objects + path_of(name, "status"), status))
        calls.append(functools.partial(api.create, events, event))
    try:
        started = time.monotonic()
        await _fan_out(calls, inflight)
        return time.monotonic() - started
    finally:
        await api.close()


async def _aio(kubeconfig: str, namespace: str, work: list[Any], inflight: int, raw: bool = False) -> float:
    from kubernetes.aio import client, config

    async def unread(response: Any) -> None:  # the raw variant: bytes only, status checked by hand
        await response.read()
        if response.status >= 400:
            raise RuntimeError(f"HTTP {response.status}")

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = inflight
    async with client.ApiClient(configuration) as api:
        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        calls: list[Callable[[], Awaitable[object]]] = []
        for name, status, event in work:
            if raw:
                patch = custom.patch_namespaced_custom_object_status_without_preload_content
                post = core.create_namespaced_event_without_preload_content
                calls.append(
                    functools.partial(
                        _then, functools.partial(patch, GROUP, VERSION, namespace, PLURAL, name, status), unread
                    )
                )
                calls.append(functools.partial(_then, functools.partial(post, namespace, event), unread))
            else:
                calls.append(
                    functools.partial(
                        custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL, name, status
                    )
                )
                calls.append(functools.partial(core.create_namespaced_event, namespace, event))
        started = time.monotonic()
        await _fan_out(calls, inflight)
        return time.monotonic() - started


async def _then(call: Callable[[], Awaitable[Any]], after: Callable[[Any], Awaitable[None]]) -> None:
    await after(await call())


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process, MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def worker(side: str, kubeconfig: str, namespace: str, n: int, inflight: int, tag: str) -> dict[str, Any]:
    """One side, one round, in this (fresh) process."""
    work = _bodies(namespace, n, tag)
    cpu = time.process_time()
    if side == "ours":
        seconds = asyncio.run(_ours(kubeconfig, namespace, work, inflight))
    else:
        seconds = asyncio.run(_aio(kubeconfig, namespace, work, inflight, raw=side.endswith("-raw")))
    cpu = time.process_time() - cpu
    rss, peak = _rss_mb()
    writes = 2 * n
    return {
        "side": side,
        "writes": writes,
        "seconds": round(seconds, 3),
        "writes_per_s": round(writes / seconds),
        "cpu_s_per_1000": round(1000 * cpu / writes, 3),
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
    }


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):g} ({min(values):g}-{max(values):g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="objects: N status patches and N Events per side and round")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=4, metavar=("SIDE", "KUBECONFIG", "NAMESPACE", "TAG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        side, kubeconfig, namespace, tag = args.worker
        print(json.dumps(worker(side, kubeconfig, namespace, args.n, args.inflight, tag)))
        return 0

    from kubernetes import client, config

    from ccupgrade.testbed import ControlPlane, ensure_binaries

    binaries = ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="ccupgrade-bench-transport-"))
    results: list[dict[str, Any]] = []
    with ControlPlane(workdir / "controlplane", binaries) as plane:
        kubectl = [str(binaries.kubectl), f"--kubeconfig={plane.kubeconfig}"]
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml")],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/cceclusterupgrades.ccupgrade.dev"],
            check=True,
            capture_output=True,
        )
        api = config.new_client_from_config(str(plane.kubeconfig))
        namespace = "bench-transport"
        client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        custom = client.CustomObjectsApi(api)

        def create(i: int) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "CceClusterUpgrade",
                "metadata": {"name": f"t{i:05d}"},
                "spec": {
                    "region": "ap-southeast-1",
                    "projectId": "p",
                    "clusterId": "c",
                    "credentialsSecretRef": {"name": "cce"},
                },
            }
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.n)))
        api.close()
        for round_ in range(args.rounds):
            order = SIDES if round_ % 2 == 0 else SIDES[::-1]  # interleaved: neither side always goes first
            for side in order:
                tag = f"r{round_}-{side.replace('.', '-')}"
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "-n",
                        str(args.n),
                        "--inflight",
                        str(args.inflight),
                        "--worker",
                        side,
                        str(plane.kubeconfig),
                        namespace,
                        tag,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results.append(json.loads(done.stdout.splitlines()[-1]))
                print(f"-- round {round_ + 1} {side}: {results[-1]}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{args.n} status merge patches + {args.n} Event POSTs per run, {args.inflight} in flight, "
        f"{args.rounds} rounds interleaved; median (min-max)\n"
    )
    print("| transport | writes/s | CPU s per 1000 writes | RSS MiB after | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for side in SIDES:
        mine = [r for r in results if r["side"] == side]
        cells = [_spread([r[k] for r in mine]) for k in ("writes_per_s", "cpu_s_per_1000", "rss_mb", "peak_rss_mb")]
        print(f"| {side} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
