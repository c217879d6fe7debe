"""`kubectl ccupgrade`, run through the real kubectl (which finds the plugin on PATH) against the
real API server, with objects in every state the operator writes and their Events.

With CCUPGRADE_UPDATE_SCREENSHOTS=1 this also renders docs/plugin-status-*.png for the documentation
(the plugin's --export-svg, converted by cairosvg: `pip install -e '.[docs]'`).
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from ccupgrade.models.resource import GROUP, KIND, PLURAL, VERSION
from tests.support.kube import Kube, wait_for
from tests.support.paths import REPO
from tests.support.plugin import PLUGIN_DIR, plugin_env, plugin_ok, run_plugin
from tests.support.plugin_states import STATES, state

pytestmark = [pytest.mark.cluster]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[25];[0-9;]+)m")


def _run(kube: Kube, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    return plugin_ok(kube, *args, **env) if check else run_plugin(kube, *args, **env)


def _create(kube: Kube, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Creates the object, then writes its status through the status subresource, as the operator does."""
    body = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
    status = body.pop("status", None)
    created = kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    if status:
        created = kube.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, obj["metadata"]["name"], {"status": status}
        )
    return cast(dict[str, Any], created)


def _event(kube: Kube, obj: dict[str, Any], minutes_ago: float, type_: str, reason: str, message: str) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = obj["metadata"]
    kube.core.create_namespaced_event(
        meta["namespace"],
        {
            "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "cce-upgrade-operator"},
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
        },
    )


@pytest.fixture
def fleet(kube: Kube, crd: str, namespace: str) -> dict[str, dict[str, Any]]:
    """One object per state in `namespace`, with the Events the operator would have posted."""
    now = datetime.now(UTC)
    objects = {name: _create(kube, namespace, state(name, now)) for name in STATES}
    _event(kube, objects["running"], 25, "Normal", "UpgradeStarted", "Upgrade v1.28.15-r20 to v1.29.13-r0 started")
    _event(kube, objects["running"], 13, "Normal", "TaskStarted", "Task Cluster started")
    _event(kube, objects["pending"], 40, "Normal", "TaskStarted", "Task Cluster started")
    _event(
        kube, objects["pending"], 31, "Warning", "TaskFailed", "Task Cluster failed: draining node 10.0.1.17 timed out"
    )
    _event(
        kube,
        objects["pending"],
        31,
        "Warning",
        "UpgradeBlocked",
        "Upgrade is blocked (Pending): retry or cancel in CCE",
    )
    return objects


def test_kubectl_finds_the_plugin_and_its_help(kube: Kube) -> None:
    plugins = subprocess.run(
        [kube.kubectl_path, "plugin", "list"],
        env=plugin_env(kube),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "kubectl-ccupgrade" in plugins.stdout, plugins.stdout + plugins.stderr
    usage = _run(kube, "--help").stdout
    assert usage.startswith("usage: kubectl ccupgrade"), usage
    for command in ("list", "status"):
        assert command in usage
    assert "--context" in _run(kube, "status", "--help").stdout


def test_list_shows_each_state_in_plain_text(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str) -> None:
    out = _run(kube, "list", "-n", namespace).stdout
    assert not ANSI.search(out), "escape codes in a pipe"
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert set(rows) == set(STATES)
    header = out.splitlines()[0].split()
    assert header[:3] == ["NAME", "CLUSTER", "FROM"]
    expected = {  # name: (phase, progress, reason when not Ready)
        "running": ("Running", "2/4", "UpgradeInProgress"),
        "pending": ("Pending", "2/4", "UpgradeTaskFailed"),
        "success": ("Success", "4/4", None),
        "cancel": ("Cancel", "1/4", "UpgradeCancelled"),
        "init": ("Init", "0/4", "UpgradeInitializing"),
        "cloud-unreachable": ("Running", "2/4", "CloudAPIUnavailable"),
        "suspended": ("Init", "0/4", "Suspended"),
        "secret-missing": ("-", "-", "SecretNotFound"),
        "no-status": ("-", "-", "NoStatusYet"),
    }
    for name, (phase, progress, reason) in expected.items():
        cells = rows[name].split()
        assert phase in cells, rows[name]
        assert progress in cells, rows[name]
        if reason:
            assert reason in cells, rows[name]
        else:
            assert not any(c.startswith(("Upgrade", "Cloud")) for c in cells), rows[name]
    assert "v1.28.15-r20 → v1.29.13-r0" in rows["running"]
    assert "10m ago" in rows["cloud-unreachable"]  # the age of the last successful sync

    everywhere = _run(kube, "list", "-A").stdout
    assert everywhere.splitlines()[0].split()[0] == "NAMESPACE"
    assert sum(namespace in line for line in everywhere.splitlines()) == len(STATES)


def test_status_of_a_running_upgrade(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str) -> None:
    out = _run(kube, "status", "running", "-n", namespace).stdout
    assert not ANSI.search(out)
    assert f"CceClusterUpgrade {namespace}/running" in out
    assert "v1.28.15-r20 → v1.29.13-r0" in out
    names = ("PreCheck", "Snapshot", "Cluster", "PostCheck")
    tasks = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] and line.split()[0] in names}
    assert set(tasks) == {"PreCheck", "Snapshot", "Cluster", "PostCheck"}
    assert re.search(r"PreCheck\s+Success\s+\d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+3m\s", tasks["PreCheck"])
    assert re.search(r"Snapshot\s+Success\s+.*\s8m\s", tasks["Snapshot"])
    assert re.search(r"Cluster\s+Running\s+\d\d:\d\d:\d\d\s+running\s+13m…", tasks["Cluster"]), tasks["Cluster"]
    assert tasks["Cluster"].rstrip().endswith("▶")
    # a shared time axis: each bar starts where the previous task started, in order
    starts = [tasks[t].index("━") for t in ("PreCheck", "Snapshot", "Cluster")]
    assert starts[0] < starts[1] < starts[2], starts
    assert "━" not in tasks["PostCheck"]
    assert "Recent events" in out
    assert "TaskStarted" in out
    assert "UpgradeStarted" in out
    assert "Ready        False   UpgradeInProgress" in out


def test_status_of_a_failed_upgrade(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str) -> None:
    out = _run(kube, "status", "pending", "-n", namespace).stdout
    failed = next(line for line in out.splitlines() if re.match(r"Cluster\s+Failed", line))
    assert re.search(r"Cluster\s+Failed\s+\d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+9m\s", failed), failed
    assert failed.rstrip().endswith("✗")
    assert "Stalled      True    UpgradeTaskFailed" in out
    warnings = [line for line in out.splitlines() if " Warning " in line]
    assert [w.split()[3] for w in warnings] == ["TaskFailed", "UpgradeBlocked"], warnings
    assert "draining node 10.0.1.17 timed out" in out


def test_status_of_the_other_states(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str) -> None:
    success = _run(kube, "status", "success", "-n", namespace).stdout
    assert "History" in success
    assert "v1.27.16-r10 → v1.28.15-r20" in success
    assert "not started" in _run(kube, "status", "init", "-n", namespace).stdout
    assert "No status yet" in _run(kube, "status", "no-status", "-n", namespace).stdout
    missing = _run(kube, "status", "secret-missing", "-n", namespace).stdout
    assert "SecretNotFound" in missing
    assert "Tasks" not in missing
    unreachable = _run(kube, "status", "cloud-unreachable", "-n", namespace).stdout
    assert "CloudAPIUnavailable" in unreachable
    assert "Last sync  10m ago" in unreachable
    gone = _run(kube, "status", "nothing-here", "-n", namespace, check=False)
    assert gone.returncode == 1
    assert f'"nothing-here" not found in namespace {namespace}' in gone.stderr


def test_login_rules_are_kubectls(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    base = config["contexts"][0]
    config["contexts"].append({"name": "platform-team", "context": {**base["context"], "namespace": namespace}})
    config["contexts"].append({"name": "nowhere", "context": {**base["context"], "cluster": "missing"}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    # the context's namespace, without -n; KUBECONFIG is not used when --kubeconfig is given
    listed = _run(
        kube, "list", "--kubeconfig", str(kubeconfig), "--context", "platform-team", KUBECONFIG="/nonexistent"
    )
    assert "running" in listed.stdout
    # flags before the command, as with kubectl
    before = _run(kube, "--kubeconfig", str(kubeconfig), "--context", "platform-team", "list")
    assert "running" in before.stdout
    # -n wins over the context's namespace
    empty = _run(kube, "list", "--kubeconfig", str(kubeconfig), "--context", "platform-team", "-n", "default")
    assert "No CceClusterUpgrade found in namespace default" in empty.stdout
    # the context is really used: one pointing at a missing cluster fails
    broken = _run(kube, "list", "--kubeconfig", str(kubeconfig), "--context", "nowhere", check=False)
    assert broken.returncode == 1
    assert "error:" in broken.stderr
    # $KUBECONFIG when no flag is given (its current context has no namespace: `default`)
    assert "No CceClusterUpgrade found in namespace default" in _run(kube, "list").stdout


def _tty_output(kube: Kube, *args: str, **env: str) -> str:
    """Runs the plugin with a pseudo-terminal as stdout, as a user's shell does."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [kube.kubectl_path, "ccupgrade", *args],
        env=plugin_env(kube, TERM="xterm-256color", COLUMNS="160", **env),
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_colours_on_a_terminal_and_no_color_honoured(
    kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str
) -> None:
    coloured = _tty_output(kube, "status", "pending", "-n", namespace)
    assert COLOR.search(coloured), coloured[:500]
    plain = _tty_output(kube, "status", "pending", "-n", namespace, NO_COLOR="1")
    assert not COLOR.search(plain), plain[:500]
    assert "UpgradeTaskFailed" in ANSI.sub("", plain)


def test_watch_redraws_on_change(kube: Kube, fleet: dict[str, dict[str, Any]], namespace: str) -> None:
    proc = subprocess.Popen(
        [kube.kubectl_path, "ccupgrade", "status", "running", "-n", namespace, "--watch", "--interval", "0.2"],
        env=plugin_env(kube),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout = proc.stdout
    assert stdout is not None
    screens: list[str] = []
    reader = threading.Thread(target=lambda: screens.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()

    def read_until(text: str) -> bool:
        return any(text in line for line in list(screens))

    try:
        wait_for(lambda: read_until("Recent events"), timeout=30, message="the first screen")
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        status = fleet["running"]["status"]
        tasks = [dict(t) for t in status["tasks"]]
        tasks[2].update(status="Success", endTime=stamp)
        tasks[3].update(status="Running", startTime=stamp)
        kube.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            "running",
            {"status": {"progress": "3/4", "currentTask": "PostCheck (Running)", "tasks": tasks}},
        )
        wait_for(lambda: read_until("PostCheck (Running)"), timeout=30, message="a redraw after the change")
        text = "".join(screens)
        assert text.count("CceClusterUpgrade ") == 2, text
        assert re.search(r"PostCheck\s+Running", text)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def test_svg_export_and_readme_screenshots(kube: Kube, crd: str, namespace: str, tmp_path: Path) -> None:
    """The documentation's pictures: `status` of a running and of a failed upgrade, from the real plugin."""
    now = datetime.now(UTC)
    shots = {"running": "prod-eu", "pending": "prod-ap"}
    for source, name in shots.items():
        obj = state(source, now, name)
        obj["spec"]["region"] = "eu-west-101" if name == "prod-eu" else "ap-southeast-1"
        obj["spec"].pop("endpoint", None)
        obj["status"]["workflow"]["uid"] = "e1f2a3b4-c5d6-47e8-9f01-23456789abcd"
        obj["spec"]["clusterId"] = (
            "4b0b5f5e-8aa2-11ee-af09-0255ac10004f" if name == "prod-eu" else "7c1d2e3f-9ab0-41c2-8d3e-0f1a2b3c4d5e"
        )
        created = _create(kube, namespace, obj)
        _event(
            kube,
            created,
            25 if source == "running" else 52,
            "Normal",
            "UpgradeStarted",
            "Upgrade v1.28.15-r20 to v1.29.13-r0 started",
        )
        if source == "running":
            _event(kube, created, 13, "Normal", "TaskStarted", "Task Cluster started")
        else:
            _event(kube, created, 31, "Warning", "TaskFailed", "Task Cluster failed: draining node 10.0.1.17 timed out")
        svg = tmp_path / f"{name}.svg"
        _run(kube, "status", name, "-n", namespace, "--export-svg", str(svg))
        text = svg.read_text()
        assert text.startswith("<svg")
        assert "Cluster" in text
        assert "UpgradeStarted" in text
        if os.environ.get("CCUPGRADE_UPDATE_SCREENSHOTS") == "1":
            import cairosvg  # the docs extra: pip install -e '.[docs]'

            out = REPO / "docs" / f"plugin-status-{'running' if source == 'running' else 'failed'}.png"
            out.parent.mkdir(exist_ok=True)
            # a monospace font this machine has, in place of the web font the SVG names
            text = text.replace("font-family: Fira Code, monospace;", "font-family: DejaVu Sans Mono, monospace;")
            cairosvg.svg2png(bytestring=text.replace(namespace, "platform").encode(), write_to=str(out), scale=1.5)
    assert shutil.which("kubectl-ccupgrade", path=str(PLUGIN_DIR))
