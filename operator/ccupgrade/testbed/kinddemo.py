"""`make demo-kind`: the demo's upgrade with the operator and the CCE simulator as Pods on kind.

The cluster comes from the test bed (root: its own dockerd, the node image built here); then every
step is a block of docs/install/kind.md, run as written: the images loaded, the simulator started,
the operator installed with Helm, the example upgrade applied. The simulator's clock is driven
through a `kubectl port-forward` on loopback. Everything is deleted, and the machine put back, at
the end or on Ctrl-C.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed import kind

# The upgrade the install page's `upgrade` step creates (and hack/kind/simulator.yaml loads).
PROJECT, CLUSTER_ID = "0123456789abcdef0123456789abcdef", "6e0c7a36-1f2b-4c3d-9e8f-0a1b2c3d4e5f"


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(timeout: float = 300.0) -> int:
    """The whole demo; its exit code (0 once the upgrade succeeded)."""
    _say("Creating the kind cluster (docs/install/kind.md, step 1; images built here, cached)")
    with kind.KindCluster() as cluster:
        env = cluster.env

        def kubectl(*args: str) -> str:
            return cluster.kubectl(*args).stdout

        for step, text in (
            ("load", "kind load docker-image: the operator's and the simulator's images"),
            ("simulator", "The CCE simulator as a Deployment and a Service"),
            ("helm", "helm install cce-upgrade-operator"),
        ):
            _say(text)
            print(kind.documented(step).rstrip())
            kind.run_documented(step, env)
        print(kubectl("get", "pods", "-A", "-l", "app.kubernetes.io/name in (cce-upgrade-operator,cce-simulator)"))
        forward = subprocess.Popen(
            [
                "kubectl",
                "-n",
                "cce-simulator",
                "port-forward",
                "--address",
                "127.0.0.1",
                "service/cce-simulator",
                ":8443",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watch = None
        try:
            assert forward.stdout is not None
            port = re.search(r"127\.0\.0\.1:(\d+)", forward.stdout.readline())
            if port is None:
                raise kind.KindError("kubectl port-forward to the simulator failed")
            control = SimulatorControl(f"http://127.0.0.1:{port.group(1)}")
            control.load(PROJECT, CLUSTER_ID, "standard", paused=True)  # from its first second, when we say
            _say("The example upgrade (docs/install/kind.md, step 5)")
            print(kind.run_documented("upgrade", env).rstrip())
            _say("kubectl -n demo get cceclusterupgrades -w   (the simulated upgrade starts now)")
            watch = subprocess.Popen(["kubectl", "-n", "demo", "get", "cceclusterupgrades", "-w"], env=env)
            control.time(PROJECT, CLUSTER_ID, resume=True)
            deadline = time.monotonic() + timeout
            phase = None
            while time.monotonic() < deadline:
                status = (
                    json.loads(kubectl("-n", "demo", "get", "cceclusterupgrade", "prod", "-o", "json")).get("status")
                    or {}
                )
                phase = status.get("phase")
                if phase in {"Success", "Cancel"}:
                    break
                time.sleep(1)
            watch.terminate()
            watch.wait()
            _say("Its Events")
            print(
                kubectl(
                    "-n", "demo", "get", "events", "--field-selector", "involvedObject.name=prod",
                    "--sort-by=.firstTimestamp", "-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                ).rstrip()
            )  # fmt: skip
            _say("The operator's Pods: two replicas, one of them leading")
            print(kubectl("-n", "ccupgrade-system", "get", "pods", "-o", "wide").rstrip())
            ok = phase == "Success"
            _say(f"Demo {'finished: the upgrade succeeded' if ok else f'ended in phase {phase}'}; deleting the cluster")
            return 0 if ok else 1
        except KeyboardInterrupt:
            return 130
        finally:
            if watch is not None and watch.poll() is None:
                watch.terminate()
            forward.terminate()
