"""The checks: one interface and one result type (base), and one folder per stage holding that stage's checks
(`checks.py`, in the order they run) beside the engines that compute them. `REGISTRY` (stage -> its checks) is
imported on first use, so the result types stay cheap to import."""

from typing import Any

from certification.checks.base import (
    BLOCKING,
    STAGES,
    Check,
    CheckResult,
    Outcome,
    Status,
    blocks,
    check,
    compare,
)

__all__ = [
    "BLOCKING",
    "REGISTRY",
    "STAGES",
    "Check",
    "CheckResult",
    "Outcome",
    "Status",
    "blocks",
    "check",
    "compare",
]


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        from certification.checks.registry import REGISTRY

        return REGISTRY
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
