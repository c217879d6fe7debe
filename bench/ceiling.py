"""The API server's own write rate with no operator at all: the floor under every staleness figure."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config
from settings import PROJECT

from ccupgrade.models import GROUP, PLURAL, VERSION


def write_ceiling(
    operator_kubeconfig: Path, admin: client.ApiClient, namespace: str, objects: int, concurrency: int
) -> dict[str, float]:
    """How many writes per second this API server takes with no operator at all: the floor under
    any staleness figure when every object changes at once. Half status patches, half Events, sent
    as ours sends them (aiohttp, merge patch, as its ServiceAccount: `operator_kubeconfig`), from
    `concurrency` requests in flight; the objects are created first with `admin`."""
    import asyncio

    from ccupgrade.kube.api import KubeApi, path_of

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(operator_kubeconfig), client_configuration=configuration)
    objects_path = path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)
    events_path = path_of("api", "v1", "namespaces", namespace, "events")
    custom = client.CustomObjectsApi(admin)

    def create(name: str) -> None:  # as admin: the operator's ServiceAccount may not create these
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CceClusterUpgrade",
            "metadata": {"name": name},
            "spec": {
                "region": "ap-southeast-1",
                "projectId": PROJECT,
                "clusterId": "c",
                "credentialsSecretRef": {"name": "cce"},
            },
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    names = [f"w{i:05d}" for i in range(objects)]
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))

    async def measure() -> dict[str, float]:
        api = KubeApi(configuration, connections=concurrency)
        try:
            gate = asyncio.Semaphore(concurrency)

            async def once(call: Any) -> None:
                async with gate:
                    await call

            started = time.monotonic()
            writes = []
            for n in names:
                status = {"status": {"phase": "Running", "progress": "1/4", "currentTask": f"Cluster {n}"}}
                writes.append(once(api.merge_patch(objects_path + path_of(n, "status"), status)))
                event = {
                    "metadata": {"name": f"{n}.ceiling"},
                    "reason": "TaskStarted",
                    "message": "x",
                    "type": "Normal",
                    "involvedObject": {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "CceClusterUpgrade",
                        "name": n,
                        "namespace": namespace,
                    },
                }
                writes.append(once(api.create(events_path, event)))
            await asyncio.gather(*writes)
            elapsed = time.monotonic() - started
            return {
                "concurrency": concurrency,
                "writes": len(writes),
                "seconds": round(elapsed, 2),
                "writes_per_s": round(len(writes) / elapsed),
            }
        finally:
            await api.close()

    return asyncio.run(measure())
