"""One check interface and one result type, used by every stage (the scikit-learn idea: small and uniform)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from certification.errors import NotApplicable
from certification.spec import TASKS

if TYPE_CHECKING:
    from certification.run.context import RunContext


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"


BLOCKING = {Status.FAIL, Status.ERROR}
STAGES = ("data_validation", "evaluation", "robustness", "fairness", "compliance")


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    stage: str
    status: Status
    measured: dict[str, Any] = field(default_factory=dict)
    threshold: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""
    message: str = ""
    evidence: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"])})


@dataclass(frozen=True)
class Outcome:
    """What a check body returns; the Check wrapper adds identity, policy and requirements."""

    status: Status
    measured: dict[str, Any] = field(default_factory=dict)
    threshold: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    evidence: list[str] = field(default_factory=list)


def blocks(result: CheckResult, not_applicable_blocks: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether a result stops certification; 'not applicable' does so only where the spec says it must."""
    if result.status is Status.NOT_APPLICABLE:
        return bool({result.check_id, result.stage} & set(not_applicable_blocks))
    return result.status in BLOCKING


def compare(measured: dict[str, Any], limits: dict[str, tuple[str, float]]) -> Outcome:
    """Pass when every measured value respects its limit: limits map a measure to ('min'|'max', bound)."""
    parts, breached = [], False
    for name, (kind, bound) in limits.items():
        value = measured[name]
        bad = (
            value is None or value != value or (value < bound if kind == "min" else value > bound)
        )  # NaN: no evidence
        breached |= bad
        shown = "missing" if value is None else f"{value:.4g}"
        parts.append(
            f"{name}={shown} ({'≥' if kind == 'min' else '≤'} {bound:g} {'breached' if bad else 'ok'})"
        )
    threshold = {f"{kind}_{name}": bound for name, (kind, bound) in limits.items()}
    return Outcome(Status.FAIL if breached else Status.PASS, measured, threshold, "; ".join(parts))


@dataclass(frozen=True)
class Check:
    """A named, staged test whose body maps a run context to an Outcome. Exceptions fail closed."""

    check_id: str
    stage: str
    requirements: tuple[str, ...]
    body: Callable[[RunContext], Outcome]
    tasks: tuple[str, ...] = TASKS  # the kinds of model (spec.task) it judges

    def run(self, ctx: RunContext) -> CheckResult:
        rationale = getattr(ctx.spec.checks, self.stage).rationale
        try:
            outcome = self.body(ctx)
        except NotApplicable as reason:
            outcome = Outcome(Status.NOT_APPLICABLE, message=str(reason))
        except Exception as exc:  # noqa: BLE001 - any failure inside a check blocks certification
            outcome = Outcome(
                Status.ERROR,
                message=f"{type(exc).__name__}: {exc}",
                measured={"traceback": traceback.format_exc(limit=5)},
            )
        return CheckResult(
            check_id=self.check_id,
            stage=self.stage,
            status=outcome.status,
            measured=outcome.measured,
            threshold=outcome.threshold,
            rationale=rationale,
            message=outcome.message,
            evidence=outcome.evidence,
            requirements=list(self.requirements),
        )


def check(
    check_id: str, stage: str, requirements: tuple[str, ...], tasks: tuple[str, ...] = TASKS
) -> Callable[[Callable], Check]:
    """Make a check body a Check of its stage; each stage's checks module lists its checks in order (CHECKS)."""

    def make(body: Callable[[RunContext], Outcome]) -> Check:
        return Check(check_id, stage, requirements, body, tasks)

    return make
