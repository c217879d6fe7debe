"""Kubernetes I/O: the API transport, status and Event writes, Secrets, merge patches, the Lease.

Other packages import these names from `ccupgrade.kube`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.kube.api import KubeApi, KubeApiError
from ccupgrade.kube.io import KubeIO
from ccupgrade.kube.leadership import Leadership, LeaseSettings

__all__ = ["KubeApi", "KubeApiError", "KubeIO", "Leadership", "LeaseSettings"]
