"""SpecEssenceStorage builds exactly kopf's essence, without copying the status and system metadata."""

from __future__ import annotations

import copy
from typing import Any, cast

import kopf
import pytest

from ccupgrade.app.handlers import SpecEssenceStorage

BODIES: dict[str, dict[str, Any]] = {
    "plain": {
        "apiVersion": "ccupgrade.dev/v1alpha1",
        "kind": "CceClusterUpgrade",
        "metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "7", "generation": 2},
        "spec": {"region": "ap-southeast-1", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
    },
    "labels-and-annotations": {
        "apiVersion": "ccupgrade.dev/v1alpha1",
        "kind": "CceClusterUpgrade",
        "metadata": {
            "name": "b",
            "namespace": "ns",
            "labels": {"team": "platform"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kopf.zalando.org/last-handled-configuration": "{}",
                "example.com/owner": "x",
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "ownerReferences": [{"kind": "Application", "name": "app", "uid": "o", "apiVersion": "v1"}],
        },
        "spec": {"endpoint": "https://cce.example", "clusterId": "c", "suspend": True},
        "status": {"eventJournal": [{"name": "b.0"}]},
    },
    "no-metadata-or-status": {"spec": {"clusterId": "c"}},
}


@pytest.mark.parametrize("name", BODIES)
def test_the_essence_is_the_one_kopf_builds(name: str) -> None:
    raw = BODIES[name]
    body = kopf.Body(cast(kopf.RawBody, copy.deepcopy(raw)))
    ours = SpecEssenceStorage().build(body=body)
    assert ours == kopf.AnnotationsDiffBaseStorage().build(body=body)
    assert "status" not in ours
    assert body == raw  # the body is not changed


def test_extra_fields_are_left_to_kopf() -> None:
    body = kopf.Body(cast(kopf.RawBody, copy.deepcopy(BODIES["plain"])))
    extra = ["status.phase"]
    ours = SpecEssenceStorage().build(body=body, extra_fields=extra)
    assert ours == kopf.AnnotationsDiffBaseStorage().build(body=body, extra_fields=extra)
    assert ours["status"] == {"phase": "Running"}


def test_kopf_lets_go_of_each_watch_body_within_a_second() -> None:
    # kopf's per-object worker keeps the last raw watch body (a whole object with its status) while
    # it idles; with status first, a burst brings every object's echo at once, so a 5 s idle kept
    # them all alive together (the peak RSS of a burst).
    from ccupgrade.app.main import _kopf_settings

    settings = _kopf_settings()
    assert settings.queueing.idle_timeout <= 1.0
    assert isinstance(settings.persistence.diffbase_storage, SpecEssenceStorage)
    assert settings.posting.enabled is False
