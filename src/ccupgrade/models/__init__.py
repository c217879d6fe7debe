"""Data shapes: the CCE API's (tolerant) and the CceClusterUpgrade resource's (strict)."""

from ccupgrade.models.reasons import Reason

__all__ = ["Reason"]
