"""A real, node-less Kubernetes control plane on loopback, the way envtest provides one.

Not part of the operator: the tests, the demo and the benchmark stand on it.
"""

from ccupgrade.testbed.binaries import Binaries, ensure_binaries
from ccupgrade.testbed.controlplane import ControlPlane

__all__ = ["Binaries", "ControlPlane", "ensure_binaries"]
