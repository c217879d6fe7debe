"""The real helm and promtool for the tests (built or fetched once, cached; see ccupgrade.testbed.tools)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ccupgrade.testbed.binaries import BinariesError
from ccupgrade.testbed.tools import ensure_helm, ensure_promtool


def helm() -> Path:
    return ensure_helm()


def promtool() -> Path:
    """promtool, or a skip saying why only where it cannot be had (no promtool, no apt)."""
    try:
        return ensure_promtool()
    except BinariesError as exc:
        if shutil.which("apt-get") is None:
            pytest.skip(f"promtool unavailable and no apt-get to fetch Debian's prometheus package: {exc}")
        raise
