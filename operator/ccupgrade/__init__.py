"""cce-upgrade-operator: CCE cluster-upgrade workflows mirrored into Kubernetes."""

__version__ = "0.1.0"
