"""Child processes that cannot outlive their parent.

Every child gets PR_SET_PDEATHSIG, so even a SIGKILLed test run leaves nothing behind; the pid
files let `testbed down` clean up after a detached `up` as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Self

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(
    args: list[str], log_path: Path, pid_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Starts a child that dies with this process, its output appended to `log_path`, its pid recorded."""
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()
    pid_path.write_text(str(process.pid))
    return process


def stop(process: subprocess.Popen[bytes], pid_path: Path | None = None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; removes the pid file."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if pid_path is not None:
        with contextlib.suppress(FileNotFoundError):
            pid_path.unlink()


def kill_from_pid_file(pid_path: Path, grace: float = 10.0) -> bool:
    """Stops a process recorded by an earlier run; True if one was running."""
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    pid_path.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


class OwnerLock:
    """Who owns a work directory: an flock held for the owner's whole life.

    The kernel drops it when the owner dies, however it dies, so a stale lock cannot exist; the
    owner's pid is written beside it for messages and for `down`.
    """

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.path = workdir / "lock"
        self.owner_path = workdir / "owner.pid"
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> bool:
        """Takes the lock (waiting for it if `wait`); False if another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def claim(self) -> None:
        """Records this process as the owner (after acquire)."""
        self.owner_path.write_text(str(os.getpid()))

    def owner(self) -> int | None:
        """The recorded owner's pid, if one holds the lock right now."""
        try:
            pid = int(self.owner_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if self.acquire():  # nobody holds it: the record is stale
            self.release()
            return None
        return pid

    def release(self) -> None:
        """Lets the lock go and removes the owner record if it is ours; safe to call twice."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.owner_path.read_text().strip() == str(os.getpid()):
                    self.owner_path.unlink()
            os.close(self._fd)
            self._fd = None


class Started:
    """A context manager for what starts processes: `start()` on enter, `stop()` on exit.

    A `start()` that fails halfway is followed by `stop()` too, so a failed bring-up leaves nothing running.
    """

    def start(self) -> None:
        """Starts the processes; may leave some running if it fails (`stop()` follows)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stops whatever `start()` started, however far it got; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
