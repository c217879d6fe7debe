"""The operator's aiohttp transport against the real API server: both login kinds the official
client resolves (client certificate, ServiceAccount token with a refresh hook), error statuses,
and the merge patch on the status subresource."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from ccupgrade.kube.api import KubeApi, KubeApiError, KubeConflict, KubeForbidden, KubeNotFound, path_of
from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.testbed.accounts import mint_service_account_kubeconfig
from tests.support.kube import Kube, configuration_of, upgrade_body

pytestmark = pytest.mark.cluster


def _rotate(configuration: client.Configuration, token: str) -> None:
    """What the official client's hook does when a projected token file changes."""

    def refresh(target: client.Configuration) -> None:
        target.api_key["BearerToken"] = token

    setattr(configuration, "refresh_api_key_hook", refresh)  # noqa: B010 - the attribute is typed as None


def _objects(namespace: str) -> str:
    return path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)


async def test_create_read_patch_status_and_errors(kube: Kube, crd: str, namespace: str) -> None:
    api = KubeApi(configuration_of(kube.kubeconfig))
    try:
        body = upgrade_body()
        await api.create(_objects(namespace), body)
        stored = await api.get(_objects(namespace) + path_of("prod"))
        assert stored["spec"]["pollInterval"] == "30s"  # a server default: this really is the API server

        version = {"resourceVersion": stored["metadata"]["resourceVersion"]}
        patched = await api.merge_patch(
            _objects(namespace) + path_of("prod", "status"), {"status": {"phase": "Running"}, "metadata": version}
        )
        assert patched["status"]["phase"] == "Running"

        with pytest.raises(KubeConflict) as stale:  # the same precondition again: the object has moved on
            await api.merge_patch(
                _objects(namespace) + path_of("prod", "status"), {"status": {"phase": "Pending"}, "metadata": version}
            )
        assert stale.value.status == 409
        with pytest.raises(KubeApiError) as rejected:  # the CRD's schema is enforced
            await api.merge_patch(_objects(namespace) + path_of("prod", "status"), {"status": {"phase": 7}})
        assert rejected.value.status == 422
        assert type(rejected.value) is KubeApiError
        with pytest.raises(KubeNotFound) as missing:
            await api.get(_objects(namespace) + path_of("absent"))
        assert missing.value.status == 404
        listed = await api.get(_objects(namespace), params={"limit": "1"})
        assert [item["metadata"]["name"] for item in listed["items"]] == ["prod"]
    finally:
        await api.close()


async def test_service_account_token_and_its_rotation(kube: Kube, crd: str, namespace: str, tmp_path: Path) -> None:
    if kube.control_plane is None:
        pytest.skip("minting kubeconfigs needs the local control plane's CA")
    valid = mint_service_account_kubeconfig(kube.api, kube.control_plane, namespace, "default", tmp_path / "kc")
    configuration = configuration_of(valid)
    good_token = configuration.api_key["BearerToken"]
    now = [0.0]
    api = KubeApi(configuration, credentials_ttl=10, clock=lambda: now[0])
    try:
        with pytest.raises(KubeForbidden) as forbidden:  # authenticated as the ServiceAccount, which has no RBAC
            await api.get(_objects(namespace))
        assert forbidden.value.status == 403

        _rotate(configuration, "Bearer not-a-token")  # what the hook hands out from now on
        now[0] = 5.0
        with pytest.raises(KubeApiError) as cached:  # within the TTL the hook is not asked
            await api.get(_objects(namespace))
        assert cached.value.status == 403
        now[0] = 11.0
        with pytest.raises(KubeApiError) as unauthorized:  # past it, the hook's token is used
            await api.get(_objects(namespace))
        assert unauthorized.value.status == 401
        _rotate(configuration, good_token)
        now[0] = 12.0
        with pytest.raises(KubeApiError) as recovered:  # a 401 drops the cached token at once
            await api.get(_objects(namespace))
        assert recovered.value.status == 403
    finally:
        await api.close()
