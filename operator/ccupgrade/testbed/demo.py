"""`make demo` (`python -m ccupgrade.testbed.demo`): a whole upgrade, watched live, on this machine alone.

Local control plane + CCE simulator (standard scenario) + the operator, then the example Secret
and CceClusterUpgrade from examples/, `kubectl get ccupgrades -w` until it succeeds, its Events,
and a clean shutdown of everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed import ControlPlane, ensure_binaries
from ccupgrade.testbed.binaries import repo_root
from ccupgrade.testbed.services import start_operator, start_simulator

DEMO_PORT = 18443


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def main(argv: list[str] | None = None) -> int:
    """The `ccupgrade-demo` command line (`make demo`); answers the exit code."""
    parser = argparse.ArgumentParser(prog="ccupgrade-demo", description=__doc__)
    parser.add_argument("--speed", type=float, default=1.0, help="scenario speed (1 = the 55 s standard upgrade)")
    parser.add_argument("--scenario", default="standard")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--kind", action="store_true", help="the operator and the simulator as Pods on kind (root)")
    args = parser.parse_args(argv)
    if args.kind:
        from ccupgrade.testbed import kinddemo

        return kinddemo.run(args.timeout)

    root = repo_root()
    examples = root / "examples"
    upgrade = yaml.safe_load((examples / "cceclusterupgrade.yaml").read_text())
    secret = yaml.safe_load((examples / "secret-aksk.yaml").read_text())
    project, cluster = upgrade["spec"]["projectId"], upgrade["spec"]["clusterId"]
    binaries = ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="ccupgrade-demo-"))

    _say("Starting a local Kubernetes control plane (etcd + kube-apiserver)")
    with ControlPlane(workdir / "controlplane", binaries) as plane:
        env = dict(os.environ, KUBECONFIG=str(plane.kubeconfig))

        def kubectl(*kubectl_args: str) -> str:
            done = subprocess.run([str(binaries.kubectl), *kubectl_args], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"kubectl {' '.join(kubectl_args)} failed: {done.stderr.strip()}")
            return done.stdout

        print(f"   {plane.url}  (KUBECONFIG={plane.kubeconfig})")
        _say(f"Starting the CCE simulator on 127.0.0.1:{DEMO_PORT} ({args.scenario} scenario)")
        simulator = start_simulator(
            workdir, DEMO_PORT, ["--aksk", f"{secret['stringData']['accessKey']}:{secret['stringData']['secretKey']}"]
        )
        operator = None
        watch = None
        try:
            control = SimulatorControl(simulator.url)
            control.load(project, cluster, args.scenario, speed=args.speed, paused=True)

            _say("Installing the CRD")
            kubectl("apply", "--server-side", "-f", str(root / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml"))
            kubectl("wait", "--for=condition=Established", "crd/cceclusterupgrades.ccupgrade.dev", "--timeout=60s")

            _say("Starting the operator (python -m ccupgrade run)")
            operator = start_operator(workdir, plane.kubeconfig, ["--allowed-endpoints", "http://127.0.0.1:*"])

            _say("Applying examples/secret-aksk.yaml and examples/cceclusterupgrade.yaml")
            print(
                kubectl(
                    "apply",
                    "-n",
                    "default",
                    "-f",
                    str(examples / "secret-aksk.yaml"),
                    "-f",
                    str(examples / "cceclusterupgrade.yaml"),
                ).rstrip()
            )

            _say("kubectl get ccupgrades -w   (the upgrade starts now; Ctrl-C ends the demo)")
            watch = subprocess.Popen([str(binaries.kubectl), "get", "ccupgrades", "-n", "default", "-w"], env=env)
            control.time(project, cluster, resume=True)
            deadline = time.monotonic() + args.timeout
            phase = None
            while time.monotonic() < deadline:
                body = json.loads(kubectl("get", "ccupgrade", "demo", "-n", "default", "-o", "json"))
                phase = (body.get("status") or {}).get("phase")
                if phase in {"Success", "Cancel", "Pending"} and (body.get("status") or {}).get("observedGeneration"):
                    break
                time.sleep(1)
            time.sleep(1.5)
            watch.terminate()
            watch.wait()

            _say("kubectl get ccupgrades -o wide")
            print(kubectl("get", "ccupgrades", "-n", "default", "-o", "wide").rstrip())
            _say("Its Events (kubectl get events --field-selector involvedObject.name=demo)")
            print(
                kubectl(
                    "get",
                    "events",
                    "-n",
                    "default",
                    "--field-selector",
                    "involvedObject.name=demo",
                    "--sort-by=.firstTimestamp",
                    "-o",
                    "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                ).rstrip()
            )
            _say("Conditions")
            conditions = json.loads(kubectl("get", "ccupgrade", "demo", "-n", "default", "-o", "json"))["status"]
            for condition in conditions.get("conditions", []):
                print(
                    f"   {condition['type']:12} {condition['status']:8} {condition['reason']}: {condition['message']}"
                )
            ok = phase == "Success"
            _say(f"Demo {'finished: the upgrade succeeded' if ok else f'ended in phase {phase}'}; cleaning up")
            return 0 if ok else 1
        except KeyboardInterrupt:
            return 130
        finally:
            if watch is not None and watch.poll() is None:
                watch.terminate()
            if operator is not None:
                operator.stop()
            simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
