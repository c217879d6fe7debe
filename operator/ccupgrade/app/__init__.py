"""Wiring: the kopf handlers, metrics and health endpoints, and `run()`, which builds the operator and serves it.

Other packages import these names from `ccupgrade.app`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.app.main import OperatorConfig, run
from ccupgrade.app.memory import tune_gc
from ccupgrade.app.metrics import Metrics

__all__ = ["Metrics", "OperatorConfig", "run", "tune_gc"]
