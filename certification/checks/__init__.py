"""Importing this package registers every check with its stage."""

from certification.checks import compliance, data, evaluation, fairness, privacy, robustness, stress
from certification.checks.base import BLOCKING, REGISTRY, STAGES, Check, CheckResult, Outcome, Status

__all__ = [
    "BLOCKING",
    "REGISTRY",
    "STAGES",
    "Check",
    "CheckResult",
    "Outcome",
    "Status",
    "compliance",
    "data",
    "evaluation",
    "fairness",
    "privacy",
    "robustness",
    "stress",
]
