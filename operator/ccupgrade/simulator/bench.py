"""Throughput of the simulator's list call on this machine (a benchmark, not a test).

The simulator runs as its own process, the load comes from this one through the real CCE client,
so the figure is what the operator and the benchmark can expect to get out of it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccupgrade.cce import (
    AccessKeyCredentials,
    CceClient,
    ClientConfig,
    ClusterTarget,
    Credentials,
    Endpoint,
    GateRegistry,
    TokenCredentials,
)
from ccupgrade.simulator.control import SimulatorControl

PROJECT = "bench0000000000000000000000000000"


def start_simulator(extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    """Starts the simulator as its own process on a free port; answers the process and its URL.

    The port comes through a file in a temporary directory, removed once read (it was left behind)."""
    workdir = Path(tempfile.mkdtemp(prefix="ccupgrade-simulator-"))
    port_file = workdir / "port"
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ccupgrade.simulator",
                "serve",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        return process, f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _load(url: str, credentials: Credentials, seconds: float, concurrency: int) -> list[float]:
    settings = ClientConfig(max_retries=0)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with CceClient(settings=settings, gates=GateRegistry(1e9, 10**9)) as client:

        async def worker(index: int) -> None:
            target = ClusterTarget(Endpoint(url, url), PROJECT, f"cluster-{index % 100}", credentials)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await client.list_upgrade_workflows(target)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies


def run_bench(seconds: float, concurrency: int, auth: str) -> int:
    """Measures list calls against 100 clusters for `seconds` and prints throughput and latency."""
    process, url = start_simulator(["--aksk", "BENCHAK:bench-secret", "--token", "bench-token"])
    try:
        control = SimulatorControl(url)
        for index in range(100):
            control.load(PROJECT, f"cluster-{index}", "history")
        credentials: Credentials = (
            TokenCredentials("bench-token") if auth == "token" else AccessKeyCredentials("BENCHAK", "bench-secret")
        )
        started = time.monotonic()
        latencies = asyncio.run(_load(url, credentials, seconds, concurrency))
        elapsed = time.monotonic() - started
        served = control.stats()["total"]
    finally:
        process.terminate()
        process.wait()
    latencies.sort()
    print(f"simulator list-call throughput ({auth} auth, {concurrency} concurrent, {os.cpu_count()} cores)")
    print(f"  requests:   {len(latencies)} in {elapsed:.1f}s (simulator counted {served})")
    print(f"  throughput: {len(latencies) / elapsed:,.0f} requests/s")
    print(
        f"  latency:    p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    return 0
