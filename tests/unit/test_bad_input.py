"""Ten thousand generated and mangled API responses through the parser and the mirror: nothing
but valid models or the typed ParseError, and never a status the CRD's schema would reject."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccupgrade import crd
from ccupgrade.cce.errors import ParseError
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.mirror import Observed, PollFailed, mirror
from ccupgrade.models.resource import UpgradeSpec, UpgradeStatus
from tests.support.cce_documents import json_values, mangle, responses
from tests.support.examples import examples

STATUS_SCHEMA = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
VALIDATOR = jsonschema.Draft7Validator(STATUS_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
SPEC = UpgradeSpec.model_validate(
    {
        "region": "ap-southeast-1",
        "projectId": "p",
        "clusterId": "c",
        "credentialsSecretRef": {"name": "s"},
        "historyLimit": 3,
    }
)
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _stored(status: UpgradeStatus) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(json.dumps(status.model_dump(mode="json", by_alias=True, exclude_none=True)))
    return stored


def test_the_schema_check_can_fail() -> None:
    bad = {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "x y", "lastTransitionTime": "soon"}]}
    assert len(list(VALIDATOR.iter_errors(bad))) >= 3


@settings(
    max_examples=examples(10_000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    first=st.one_of(responses, json_values),
    second=st.one_of(responses, json_values),
    cut=st.one_of(st.none(), st.none(), st.integers(0, 5_000)),
    failure=st.sampled_from([None, (True, "CloudAPIUnavailable"), (False, "AuthenticationFailed")]),
)
def test_anything_cce_sends_gives_a_valid_status_or_a_parse_error(
    first: Any, second: Any, cut: int | None, failure: tuple[bool, str] | None
) -> None:
    old: UpgradeStatus | None = None
    for index, document in enumerate((first, second)):
        try:
            listed = parse_workflow_list(mangle(document, cut if index else None))
            outcome: Observed | PollFailed = Observed(listed.items)
        except ParseError as error:
            outcome = PollFailed(True, "CloudAPIUnavailable", str(error))
        if failure is not None and index == 1:
            outcome = PollFailed(failure[0], failure[1], "injected")
        result = mirror(old, outcome, SPEC, 1, NOW + timedelta(seconds=index))
        stored = _stored(result.status)
        errors = [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(stored)]
        assert errors == [], errors
        for event in result.events:
            assert event.type in {"Normal", "Warning"}
            assert len(event.name_for("x" * 253, "uid")) <= 253
        old = UpgradeStatus.model_validate(stored)
