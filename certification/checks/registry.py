"""Which checks each stage runs, in order: each stage's own list, nothing registered by importing a module."""

from __future__ import annotations

from certification.checks.base import STAGES, Check
from certification.checks.compliance.checks import CHECKS as COMPLIANCE
from certification.checks.data_validation.checks import CHECKS as DATA_VALIDATION
from certification.checks.evaluation.checks import CHECKS as EVALUATION
from certification.checks.fairness.checks import CHECKS as FAIRNESS
from certification.checks.robustness.checks import CHECKS as ROBUSTNESS
from certification.spec import TASKS

REGISTRY: dict[str, tuple[Check, ...]] = {
    "data_validation": DATA_VALIDATION,
    "evaluation": EVALUATION,
    "robustness": ROBUSTNESS,
    "fairness": FAIRNESS,
    "compliance": COMPLIANCE,
}


def checks_for(stage: str, task: str) -> tuple[Check, ...]:
    """The checks a stage runs for a kind of model (spec.task), in order."""
    return tuple(c for c in REGISTRY[stage] if task in c.tasks)


assert tuple(REGISTRY) == STAGES and all(c.stage == s for s, checks in REGISTRY.items() for c in checks)
assert all(
    len({c.check_id for c in checks_for(s, t)}) == len(checks_for(s, t)) for s in STAGES for t in TASKS
)
