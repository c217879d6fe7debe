"""KubeIO.event_names: one paginated LIST of the operator's own Events (by `source`), names only."""

from __future__ import annotations

from typing import Any

from ccupgrade.kube.io import COMPONENT, KubeIO


class _PagedApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.calls.append((path, dict(params or {})))
        token = (params or {}).get("continue")
        if token is None:
            return {
                "items": [{"metadata": {"name": "a.1"}}, {"metadata": {"name": "a.2"}}],
                "metadata": {"continue": "page-2"},
            }
        return {"items": [{"metadata": {"name": "b.1"}}], "metadata": {}}


async def test_event_names_follow_the_continue_token_and_select_by_source() -> None:
    api = _PagedApi()
    names = await KubeIO(api).event_names("ns")
    assert names == {"a.1", "a.2", "b.1"}
    assert [path for path, _ in api.calls] == ["/api/v1/namespaces/ns/events"] * 2
    assert all(params["fieldSelector"] == f"source={COMPONENT}" for _, params in api.calls)
    assert [params.get("continue") for _, params in api.calls] == [None, "page-2"]
