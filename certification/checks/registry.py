"""Which checks each stage runs, in order: each stage's own list, nothing registered by importing a module."""

from __future__ import annotations

from certification.checks.base import STAGES, Check
from certification.checks.compliance.checks import CHECKS as COMPLIANCE
from certification.checks.data_validation.checks import CHECKS as DATA_VALIDATION
from certification.checks.evaluation.checks import CHECKS as EVALUATION
from certification.checks.fairness.checks import CHECKS as FAIRNESS
from certification.checks.robustness.checks import CHECKS as ROBUSTNESS

REGISTRY: dict[str, tuple[Check, ...]] = {
    "data_validation": DATA_VALIDATION,
    "evaluation": EVALUATION,
    "robustness": ROBUSTNESS,
    "fairness": FAIRNESS,
    "compliance": COMPLIANCE,
}
assert tuple(REGISTRY) == STAGES and all(c.stage == s for s, checks in REGISTRY.items() for c in checks)
