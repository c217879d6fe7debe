"""What a kind run may change on this machine: recorded before it starts, put back after it stops.

A privileged kind node shares the host's kernel, so its kubelet and systemd write host sysctls
(`kernel.panic=10` would reboot the machine on the next oops); dockerd and kind add a bridge,
mounts, cgroups and `/lib/modules`; our network rule adds an nftables table. `record()` writes what
it will need to undo all of it to a file first, and `restore()` undoes it from that file alone, so a
normal stop, the watchdog of a SIGKILLed owner and the next start all restore the same way.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Host-wide (not per network namespace) values a privileged node writes: the kubelet's kernel
# tunables, systemd's file limits, and what Debian's sysctl files would set (the node image ships
# none, these are checked anyway); forwarding, which Docker turns on for a bridge network.
SYSCTLS = (
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "fs/file-max",
    "fs/nr_open",
    "kernel/pid_max",
    "kernel/sysrq",
    "fs/protected_regular",
    "fs/protected_fifos",
    "fs/protected_hardlinks",
    "fs/protected_symlinks",
    "fs/inotify/max_user_instances",
    "fs/inotify/max_user_watches",
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/netfilter/nf_conntrack_max",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
)
# Paths Docker or kind create when missing: kind bind-mounts /lib/modules into its node.
CREATED_PATHS = ("/lib/modules", "/etc/docker")


def _read(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def _run(*args: str) -> str:
    if shutil.which(args[0]) is None:
        return ""
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60).stdout


def ruleset() -> str:
    """The whole nftables ruleset (iptables here is nft underneath), as `nft list ruleset` prints it."""
    return _run("nft", "list", "ruleset")


@dataclass
class HostRecord:
    """The machine as it was before a run; enough to put it back."""

    sysctls: dict[str, str]
    ruleset: str
    missing_paths: list[str]
    links: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Written atomically before anything changes."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> HostRecord | None:
        """The record a run left; None if there is none (nothing to undo)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None


def links() -> list[str]:
    """The names of the host's network interfaces."""
    return sorted(line.split()[0].split("@")[0] for line in _run("ip", "-br", "link").splitlines() if line.strip())


def record() -> HostRecord:
    """The values and paths a run may change, as they are now."""
    values = {key: value for key in SYSCTLS if (value := _read(key)) is not None}
    return HostRecord(values, ruleset(), [p for p in CREATED_PATHS if not Path(p).exists()], links())


def restore(before: HostRecord, own_links: tuple[str, ...], own_table: tuple[str, str]) -> list[str]:
    """Puts back what differs from `before`; what it undid, for the log. Run once nothing of ours runs."""
    undone = []
    for link in own_links:
        if link in links() and link not in before.links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
            undone.append(f"link {link}")
    if ruleset() != before.ruleset:
        subprocess.run(["nft", "delete", "table", *own_table], capture_output=True, check=False)
        if ruleset() != before.ruleset:  # something else changed too (a dockerd with iptables on): all back
            subprocess.run(["nft", "-f", "-"], input=f"flush ruleset\n{before.ruleset}", text=True, check=False)
        undone.append("nftables ruleset")
    for key, value in before.sysctls.items():
        if _read(key) != value:
            with contextlib.suppress(OSError):
                Path("/proc/sys", key).write_text(value)
                undone.append(f"{key.replace('/', '.')}={value}")
    for path in map(Path, before.missing_paths):
        if path.is_dir():
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.name == "docker" else path.rmdir()
                undone.append(f"removed {path}")
    return undone


def snapshot(cgroup_name: str) -> dict[str, object]:
    """What a test compares before and after a run: every value and object a run may leave."""
    mounts = sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    cgroups = sorted(str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{cgroup_name}"))
    cgroups += sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/docker"))
    return {
        "sysctls": {key: _read(key) for key in SYSCTLS},
        "ruleset": ruleset(),
        "links": links(),
        "routes": sorted(_run("ip", "route").splitlines()),
        "mounts": mounts,
        "cgroups": cgroups,
        "paths": {p: Path(p).exists() for p in CREATED_PATHS},
        "netns": sorted(_run("ip", "netns", "list").splitlines()),
    }
