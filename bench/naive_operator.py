"""The naive baseline (not shipped): one fixed-interval kopf timer per object that polls CCE and
writes status every tick. What most people write first; the benchmark measures ours against it.

Run: python bench/naive_operator.py --namespace NS --interval 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
from typing import Any

import kopf
from kubernetes import client, config

from ccupgrade.cce import CceClient, ClusterTarget, Endpoint, GateRegistry, from_secret_data
from ccupgrade.mirror.status import workflow_ref

INTERVAL = 5.0
cce = CceClient(gates=GateRegistry(1e6, 10**6))
core: client.CoreV1Api | None = None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    global core
    settings.posting.enabled = False
    config.load_kube_config()
    core = client.CoreV1Api()


def _poll_factory(interval: float) -> None:
    @kopf.timer("ccupgrade.dev", "v1alpha1", "cceclusterupgrades", interval=interval)
    async def poll(spec: kopf.Spec, namespace: str, patch: kopf.Patch, **_: Any) -> None:
        assert core is not None
        secret = await asyncio.to_thread(core.read_namespaced_secret, spec["credentialsSecretRef"]["name"], namespace)
        credentials = from_secret_data("s", {k: base64.b64decode(v) for k, v in (secret.data or {}).items()})
        url = spec["endpoint"]
        target = ClusterTarget(Endpoint(url, url), spec["projectId"], spec["clusterId"], credentials)
        listed = await cce.list_upgrade_workflows(target)
        newest = max(
            listed.items, key=lambda w: w.metadata.creation_timestamp or dt.datetime.min.replace(tzinfo=dt.UTC)
        )
        patch.status["phase"] = newest.status.phase
        patch.status["workflow"] = workflow_ref(newest).model_dump(mode="json", exclude_none=True)
        patch.status["lastSyncTime"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args()
    _poll_factory(args.interval)
    kopf.run(namespaces=[args.namespace], standalone=True, liveness_endpoint=None)


if __name__ == "__main__":
    main()
