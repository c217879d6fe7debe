"""One version of a watched CceClusterUpgrade: a value the handlers, scheduler, Kubernetes I/O and metrics share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ccupgrade.models.resource import UpgradeSpec, UpgradeStatus


@dataclass(frozen=True)
class ObjectRef:
    """Which object: namespace, name and uid (a re-created object with the same name is another one)."""

    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> ObjectRef:
        """The reference in an object's metadata (the watch's bodies and the API's answers)."""
        return cls(metadata.get("namespace", ""), metadata.get("name", ""), metadata.get("uid", ""))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PollKey:
    """Objects with equal keys share one CCE request per interval."""

    endpoint: str  # "region:<name>" or the custom endpoint URL
    project_id: str
    cluster_id: str
    namespace: str
    secret_name: str


@dataclass(frozen=True)
class Watched:
    """One version of an object as the watch (or one of our writes) delivered it.

    Frozen: a pending write keeps the exact version it derived its status from, and its
    resourceVersion precondition can only be that version; newer versions replace the record.
    """

    ref: ObjectRef
    generation: int | None
    resource_version: str | None
    spec: UpgradeSpec | None
    spec_error: str | None
    status: UpgradeStatus | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Watched:
        """The record of a watched body; an invalid spec is kept as `spec_error` (for its condition), not raised."""
        metadata = body.get("metadata") or {}
        ref = ObjectRef.of(metadata)
        spec: UpgradeSpec | None = None
        spec_error: str | None = None
        try:
            spec = UpgradeSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            spec_error = f"spec.{where}: {first['msg']}"
        return cls(
            ref=ref,
            generation=metadata.get("generation"),
            resource_version=metadata.get("resourceVersion"),
            spec=spec,
            spec_error=spec_error,
            status=parse_status(body.get("status")),
        )

    @property
    def active_key(self) -> PollKey | None:
        """The poll key if this version is polled at all (valid spec, not suspended)."""
        if self.spec is None or self.spec.suspend:
            return None
        return self.poll_key

    @property
    def poll_key(self) -> PollKey | None:
        """The key of the CCE read this version needs, whether or not it is suspended; None for an invalid spec."""
        spec = self.spec
        if spec is None:
            return None
        endpoint = f"region:{spec.region}" if spec.region else (spec.endpoint or "").rstrip("/")
        return PollKey(endpoint, spec.project_id, spec.cluster_id, self.ref.namespace, spec.credentials_secret_ref.name)


def parse_status(raw: Any) -> UpgradeStatus | None:
    """The stored status, or None if absent or not ours (hand-edited): it is then rebuilt from CCE."""
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        return UpgradeStatus.model_validate(raw)
    except ValidationError:
        return None
