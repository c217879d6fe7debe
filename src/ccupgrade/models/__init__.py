"""Data shapes: the CCE API's (tolerant) and the CceClusterUpgrade resource's (strict)."""
