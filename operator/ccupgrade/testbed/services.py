"""The simulator and the operator as child processes (demo, end-to-end tests, benchmark)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ccupgrade.testbed import processes
from ccupgrade.testbed.controlplane import free_port


@dataclass
class Service:
    """A started simulator or operator process: its log, pid file and URL."""

    process: subprocess.Popen[bytes]
    log: Path
    pid_file: Path
    url: str

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        processes.stop(self.process, self.pid_file, grace)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (crash tests)."""
        self.process.kill()
        self.process.wait()

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def log_text(self) -> str:
        """Everything the process logged so far (empty before it wrote anything)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_http(url: str, service: Service, timeout: float, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{url} exited early; log {service.log}:\n{service.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s; log {service.log}")


def start_simulator(
    workdir: Path,
    port: int | None = None,
    extra: list[str] | None = None,
    scheme: str = "http",
    ca_file: Path | None = None,
    host: str = "127.0.0.1",
) -> Service:
    """Starts the CCE simulator as a child process and waits until it answers its health check."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log, pid = workdir / f"simulator-{port}.log", workdir / f"simulator-{port}.pid"
    process = processes.spawn(
        [sys.executable, "-m", "ccupgrade.simulator", "serve", "--host", host, "--port", str(port), *(extra or [])],
        log,
        pid,
    )
    service = Service(process, log, pid, f"{scheme}://{host}:{port}")
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    _wait_http(f"{service.url}/_sim/healthz", service, 30, context)
    return service


def start_operator(
    workdir: Path,
    kubeconfig: Path,
    extra: list[str] | None = None,
    name: str = "operator",
    log_level: str = "INFO",
    module: str = "ccupgrade",
) -> Service:
    """Starts the operator against `kubeconfig` as a child process and waits until it is ready;
    `module` is the command line it runs (a test may run the operator wrapped, e.g.
    `ccupgrade.testbed.crash_after_status`)."""
    health_port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log, pid = workdir / f"{name}.log", workdir / f"{name}.pid"
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1")
    process = processes.spawn(
        [
            sys.executable,
            "-m",
            module,
            "run",
            "--health-host",
            "127.0.0.1",
            "--health-port",
            str(health_port),
            "--log-level",
            log_level,
            *(extra or []),
        ],
        log,
        pid,
        env,
    )
    service = Service(process, log, pid, f"http://127.0.0.1:{health_port}")
    _wait_http(f"{service.url}/readyz", service, 60)
    return service
