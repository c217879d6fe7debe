"""The CRD in crds/ is what the models generate: edit the models, then run `make crds`."""

from __future__ import annotations

from ccupgrade import crd
from ccupgrade.models import resource
from tests.support.paths import CRD_PATH


def test_crd_file_matches_the_models() -> None:
    assert CRD_PATH.read_text() == crd.render(), "crds/ is stale: run `make crds`"


def test_every_spec_and_status_field_is_in_the_schema() -> None:
    version = crd.build_crd()["spec"]["versions"][0]
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    for model, schema in (
        (resource.UpgradeSpec, properties["spec"]),
        (resource.UpgradeStatus, properties["status"]),
    ):
        aliases = {field.alias or name for name, field in model.model_fields.items()}
        assert aliases == set(schema["properties"]), model.__name__
        for sub in schema["properties"].values():
            assert "description" in sub, "kubectl explain needs a description on every field"


def test_schema_is_structural() -> None:
    def walk(node: dict, path: str) -> None:  # type: ignore[type-arg]
        assert "anyOf" not in node, path
        assert "$ref" not in node, path
        assert "type" in node, path
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "")
