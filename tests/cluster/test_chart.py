"""The Helm chart, with the real helm (built from its pinned Go module): lint, template, a
server-side dry run of the render, and the default render against manifests/ object for object."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccupgrade.crd import render as render_crd
from ccupgrade.testbed.tools import monitoring_crds
from tests.support.kube import Kube
from tests.support.paths import CRD_PATH, REPO
from tests.support.tools import helm

CHART = REPO / "charts" / "cce-upgrade-operator"
RELEASE = "cce-upgrade-operator"
RELEASE_NAMESPACE = "ccupgrade-system"
SCOPED = ["team-a", "team-b"]

# Labels and annotations only the chart sets (Helm's conventions and a restart-on-config-change hash).
HELM_ONLY_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
}
HELM_ONLY_POD_ANNOTATIONS = {"checksum/config"}
# manifests/kustomization.yaml adds these to every object; the chart's templates carry them, its CRD does not.
KUSTOMIZE_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/part-of"}
# Objects only one side has, each with the reason (docs/install/helm.md, says the same).
ONLY_IN_MANIFESTS = {("Namespace", "ccupgrade-system"): "helm install --create-namespace makes it"}
ONLY_IN_CHART: dict[tuple[str, str], str] = {}

pytestmark = pytest.mark.tools  # the real helm


def _helm(*args: str) -> str:
    done = subprocess.run([str(helm()), *args], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _template(*values: str, crds: bool = True) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, *values]
    if crds:
        args.append("--include-crds")
    return [d for d in yaml.safe_load_all(_helm(*args)) if d]


def _kustomize(kube_kubectl: str, directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run([kube_kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _without_helm_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for meta in (obj["metadata"], ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}):
        labels = meta.get("labels") or {}
        for label in HELM_ONLY_LABELS:
            labels.pop(label, None)
        annotations = meta.get("annotations") or {}
        for annotation in HELM_ONLY_POD_ANNOTATIONS:
            annotations.pop(annotation, None)
        for key in ("labels", "annotations"):
            if key in meta and not meta[key]:
                del meta[key]
    return obj


def _strip_comments_and_order(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=True)


def test_helm_is_the_pinned_version() -> None:
    version = _helm("version", "--short").strip()
    pinned = (REPO / "hack/helm/go.mod").read_text()
    assert version.split("+")[0] in pinned, version


def test_helm_lint_passes_for_default_and_scoped_values() -> None:
    everything = "serviceMonitor.enabled=true,prometheusRule.enabled=true,argocdHealth.enabled=true"
    for values in ([], ["--set", f"watchNamespaces={{{','.join(SCOPED)}}}"], ["--set", everything]):
        out = _helm("lint", "--strict", str(CHART), *values)
        assert "1 chart(s) linted, 0 chart(s) failed" in out, out


def test_the_chart_crd_is_the_generated_one() -> None:
    chart_crd = (CHART / "crds" / CRD_PATH.name).read_text()
    assert chart_crd == CRD_PATH.read_text()
    assert chart_crd == render_crd(), "regenerate both with `make crds`"


@pytest.mark.cluster
def test_default_render_equals_manifests_object_for_object(kube: Kube) -> None:
    chart = {_key(o): o for o in _template()}
    manifests = {_key(o): o for o in _kustomize(kube.kubectl_path, REPO / "manifests")}
    assert set(manifests) - set(chart) == set(ONLY_IN_MANIFESTS), "undocumented objects only in manifests/"
    assert set(chart) - set(manifests) == set(ONLY_IN_CHART), "undocumented objects only in the chart"
    for key in sorted(set(chart) & set(manifests)):
        ours = _without_helm_metadata(chart[key])
        theirs = copy.deepcopy(manifests[key])
        if key[0] == "CustomResourceDefinition":  # Helm installs crds/ verbatim: no labels added to it
            for label in KUSTOMIZE_LABELS:
                theirs["metadata"]["labels"].pop(label)
            if not theirs["metadata"]["labels"]:
                del theirs["metadata"]["labels"]
        assert _strip_comments_and_order(ours) == _strip_comments_and_order(theirs), key
    # the differences that are documented really exist (so the lists cannot go stale)
    deployment = next(o for o in chart.values() if o["kind"] == "Deployment")
    assert set(deployment["spec"]["template"]["metadata"]["annotations"]) >= HELM_ONLY_POD_ANNOTATIONS
    assert set(deployment["metadata"]["labels"]) >= HELM_ONLY_LABELS


def test_scoped_render_binds_per_namespace_and_keeps_discovery_cluster_wide() -> None:
    objects = _template("--set", f"watchNamespaces={{{','.join(SCOPED)}}}")
    kinds = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}
    for namespace in SCOPED:
        assert ("RoleBinding", RELEASE, namespace) in kinds
    assert ("ClusterRoleBinding", RELEASE, None) not in kinds
    assert ("ClusterRoleBinding", f"{RELEASE}-discovery", None) in kinds
    main = next(o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == RELEASE)
    resources = {r for rule in main["rules"] for r in rule["resources"]}
    assert "namespaces" not in resources
    assert "customresourcedefinitions" not in resources
    discovery = next(
        o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == f"{RELEASE}-discovery"
    )
    assert all(set(rule["verbs"]) == {"list", "watch"} for rule in discovery["rules"])
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"]["CCUPGRADE_NAMESPACES"] == ",".join(SCOPED)


def test_values_reach_the_objects() -> None:
    objects = _template(
        "--set",
        "image.repository=registry.example/ccupgrade,image.tag=1.2.3,replicas=3,metricsPort=9090",
        "--set",
        "allowedEndpoints={https://*.cce.corp:443},resync=5m,rate=4,burst=8,logLevel=DEBUG",
        "--set",
        "resources.limits.memory=1Gi,podDisruptionBudget.enabled=true",
    )
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/ccupgrade:1.2.3"
    assert deployment["spec"]["replicas"] == 3
    assert container["args"] == ["--health-port", "9090"]
    assert container["ports"][0]["containerPort"] == 9090
    assert container["resources"]["limits"]["memory"] == "1Gi"
    data = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert data["CCUPGRADE_ALLOWED_ENDPOINTS"] == "https://*.cce.corp:443"
    assert (data["CCUPGRADE_RESYNC"], data["CCUPGRADE_RATE"], data["CCUPGRADE_BURST"]) == ("5m", "4", "8")
    assert data["CCUPGRADE_LOG_LEVEL"] == "DEBUG"
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_several_replicas_without_leader_election_are_refused() -> None:
    done = subprocess.run(
        [str(helm()), "template", RELEASE, str(CHART), "--set", "leaderElection=false"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "replicas > 1 needs leaderElection: true" in done.stderr
    single = _template("--set", "leaderElection=false,replicas=1", crds=False)
    assert not any(o["kind"] == "Role" for o in single)
    assert next(o for o in single if o["kind"] == "ConfigMap")["data"]["CCUPGRADE_LEADER_ELECT"] == "false"


@pytest.mark.cluster
def test_monitoring_objects_equal_manifests_monitoring(kube: Kube) -> None:
    objects = _template("--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true", crds=False)
    chart = {
        _key(o): _without_helm_metadata(o)
        for o in objects
        if o["kind"] in ("ServiceMonitor", "PrometheusRule") or o["metadata"]["name"].endswith("-metrics")
    }
    shipped = {_key(o): o for o in _kustomize(kube.kubectl_path, REPO / "manifests" / "monitoring")}
    assert set(chart) == set(shipped)
    for key in shipped:
        assert chart[key]["spec"] == shipped[key]["spec"], key
    health = _template("--set", "argocdHealth.enabled=true", crds=False)
    snippet = next(o for o in health if o["metadata"]["name"].endswith("-argocd-health"))["data"]
    patch = yaml.safe_load((REPO / "manifests/argocd/argocd-cm-patch.yaml").read_text())["data"]
    assert snippet == patch


@pytest.mark.cluster
@pytest.mark.parametrize("scope", ["default", "scoped", "everything"])
def test_render_passes_server_side_dry_run(kube: Kube, namespace: str, scope: str, tmp_path: Path) -> None:
    watched = [namespace, f"{namespace}-b"]  # fresh ones: RoleBindings need their namespaces to exist
    values = {
        "default": [],
        "scoped": ["--set", f"watchNamespaces={{{','.join(watched)}}}"],
        "everything": [
            "--set",
            "serviceMonitor.enabled=true,prometheusRule.enabled=true,argocdHealth.enabled=true,"
            "podDisruptionBudget.enabled=true",
        ],
    }[scope]
    kube.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)  # shared with test_install; kept
    if scope == "everything":  # the Prometheus Operator's own CRDs, so ServiceMonitor and PrometheusRule are validated
        for crd in monitoring_crds():
            name = yaml.safe_load(crd.read_text())["metadata"]["name"]
            if kube.kubectl("get", f"crd/{name}", check=False).returncode != 0:  # an existing cluster may have them
                kube.kubectl("apply", "--server-side", "-f", str(crd))
        crds = ["crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"]
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds)
    rendered = tmp_path / "render.yaml"
    rendered.write_text(
        _helm("template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--include-crds", *values)
    )
    kube.kubectl("create", "namespace", watched[1])
    try:
        out = kube.kubectl(
            "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", str(rendered), "--output=name"
        ).stdout
    finally:
        kube.kubectl("delete", "namespace", watched[1], "--wait=false")
    applied = out.split()
    assert len(applied) == len([d for d in yaml.safe_load_all(rendered.read_text()) if d]), out  # all accepted
    for kind in (
        "serviceaccount/cce-upgrade-operator",
        "configmap/cce-upgrade-operator",
        "deployment.apps/cce-upgrade-operator",
        "customresourcedefinition.apiextensions.k8s.io/cceclusterupgrades.ccupgrade.dev",
    ):
        assert kind in applied, out
    if scope == "scoped":
        assert applied.count("rolebinding.rbac.authorization.k8s.io/cce-upgrade-operator") == 2, out
    if scope == "everything":
        assert "servicemonitor.monitoring.coreos.com/cce-upgrade-operator" in applied
        assert "prometheusrule.monitoring.coreos.com/cce-upgrade-operator" in applied
        assert "poddisruptionbudget.policy/cce-upgrade-operator" in applied


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("replicas=two", "/replicas"),
        ("logLevel=LOUD", "/logLevel"),
        ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
        ("resync=10 minutes", "/resync"),
    ],
)
def test_invalid_values_are_refused_by_the_schema(value: str, message: str) -> None:
    done = subprocess.run(
        [str(helm()), "template", RELEASE, str(CHART), "--set", value], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
