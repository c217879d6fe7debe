"""Kubernetes I/O: the API transport, status and Event writes, Secrets, merge patches, the Lease.

Other packages import these names from `ccupgrade.kube`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.kube.api import KubeApi, KubeApiError, KubeConflict, KubeForbidden, KubeNotFound, api_error
from ccupgrade.kube.io import KubeIO
from ccupgrade.kube.leadership import Leadership, LeaseConfig

__all__ = [
    "KubeApi",
    "KubeApiError",
    "KubeConflict",
    "KubeForbidden",
    "KubeIO",
    "KubeNotFound",
    "Leadership",
    "LeaseConfig",
    "api_error",
]
